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

#[test]
fn resize_keeps_items_and_sign_across_pool_and_system_sizes() {
    let mut n = Long::new_var(Long, [1, 2, 3]).unwrap();
    n.set_signed_size(-3);
    for new_len in [10, 2000, 5, 700, 1] {
        let old = n.items().to_vec();
        let mut next = 0;
        n.resize_with(new_len, || {
            next += 1;
            1000 + next
        })
        .unwrap();
        let kept = old.len().min(new_len);
        assert_eq!(&n.items()[..kept], &old[..kept]);
        assert!(
            n.items()[kept..]
                .iter()
                .zip(1001..)
                .all(|(&d, want)| d == want)
        );
        assert_eq!((n.len(), n.signed_size()), (new_len, -(new_len as isize)));
    }
    assert!(n.resize(usize::MAX / 2, 0).is_err(), "an impossible size");
    assert_eq!(n.len(), 1, "a failed resize leaves the object as it was");
}

#[test]
fn resizing_a_shared_object_panics() {
    let mut n = Long::new_var(Long, [1, 2, 3]).unwrap();
    let shared = n.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| n.resize(10, 0)));
    assert!(result.is_err());
    assert_eq!(shared.items(), &[1, 2, 3]);
}

#[test]
fn resizing_to_nothing_and_back() {
    let mut b = Bytes::new_var(Bytes { hash: 7 }, *b"abc").unwrap();
    b.resize(0, 0).unwrap();
    assert!(b.items().is_empty());
    b.resize(3, b'z').unwrap();
    assert_eq!((b.hash, b.items()), (7, &b"zzz"[..]));
}
