//! Items through `new_var`, `len`, `items` and `items_mut`.

use objimpl::prelude::*;

use crate::types::{Bytes, Long, Point, Tuple};

#[test]
fn items_come_back_in_order() {
    let n = Long::new_var(Long, [7, 9, 11]).unwrap();
    assert_eq!((n.len(), n.items()), (3, &[7, 9, 11][..]));
    let b = Bytes::new_var(Bytes { hash: -1 }, *b"spam\0").unwrap();
    assert_eq!((b.hash, b.items()), (-1, &b"spam\0"[..]));
}

#[test]
fn new_on_a_var_type_makes_no_items() {
    let n = Long::new(Long).unwrap();
    assert_eq!((n.len(), n.items()), (0, &[][..]));
}

#[test]
fn items_mut_only_while_unique() {
    let mut b = Bytes::new_var(Bytes { hash: -1 }, *b"spam").unwrap();
    b.items_mut().unwrap()[0] = b'S';
    assert_eq!(b.items(), b"Spam");
    let shared = b.clone();
    assert!(b.items_mut().is_none());
    assert_eq!(shared.items(), b"Spam");
}

#[test]
fn items_that_are_objects_can_be_downcast() {
    let p = Point::new(Point { x: 3.0, y: 4.0 }).unwrap();
    let n = Long::new_var(Long, [42]).unwrap();
    let tuple = Tuple::new_var(Tuple, [PyAny::from(p), PyAny::from(n)]).unwrap();
    let names: Vec<_> = tuple
        .items()
        .iter()
        .map(|i| i.type_object().name())
        .collect();
    assert_eq!(names, ["Point", "int"]);
    let point: Py<Point> = tuple.items()[0].clone().downcast().unwrap();
    assert_eq!(*point, Point { x: 3.0, y: 4.0 });
}

#[test]
fn many_items() {
    let count = if cfg!(miri) { 100 } else { 10_000 };
    let n = Long::new_var(Long, 0..count).unwrap();
    assert_eq!(n.len(), count as usize);
    assert!(n.items().iter().copied().eq(0..count));
}
