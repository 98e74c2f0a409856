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

#[test]
fn new_var_takes_iterators_that_do_not_know_their_length() {
    let evens = Long::new_var(Long, (0..20u32).filter(|d| d % 2 == 0)).unwrap();
    assert_eq!(evens.items(), &[0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    let wide = Long::new_var(Long, (0..3u64).map(|d| d as u32 + 1)).unwrap();
    assert_eq!(wide.items(), &[1, 2, 3]);
}

#[test]
fn new_var_from_a_slice_and_with_a_function() {
    let digits = [3u32, 1, 4, 1, 5];
    let copied = Py::new_var_from_slice(Long, &digits).unwrap();
    assert_eq!(copied.items(), &digits);
    let made = Py::new_var_with(Long, 4, |i| 10 * i as u32).unwrap();
    assert_eq!(made.items(), &[0, 10, 20, 30]);
    let none = Py::new_var_with(Long, 0, |_| unreachable!()).unwrap();
    assert!(none.items().is_empty());
}

#[test]
fn the_sign_of_ob_size_is_the_types_own() {
    let mut n = Long::new_var(Long, [1, 2, 3]).unwrap();
    n.set_signed_size(-3);
    assert_eq!(
        (n.signed_size(), n.len(), n.items()),
        (-3, 3, &[1, 2, 3][..])
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| n.set_signed_size(2)));
    assert!(result.is_err(), "only the sign may change");
    assert_eq!(n.signed_size(), -3);
}
