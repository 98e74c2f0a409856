//! Identity (`is`, the default `__hash__`), type tests, borrowing
//! downcasts, taking the value back out, and `Debug` of var objects.

use std::collections::HashSet;

use objimpl::alloc;
use objimpl::prelude::*;

use crate::types::{DropCounter, Long, Owner, Point, Tracked, Tuple};

#[test]
fn identity_is_the_object_not_its_value() {
    let a = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    let b = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    assert!(Py::ptr_eq(&a, &a.clone()));
    assert!(!Py::ptr_eq(&a, &b), "equal values, distinct objects");
    assert_eq!(PyAny::from(a.clone()), PyAny::from(a.clone()));
    assert_ne!(PyAny::from(a.clone()), PyAny::from(b.clone()));
}

#[test]
fn a_hash_set_of_objects_holds_each_object_once() {
    let points: Vec<Py<Point>> = (0..1000)
        .map(|i| {
            Point::new(Point {
                x: f64::from(i % 10),
                y: 0.0,
            })
            .unwrap()
        })
        .collect();
    let mut set: HashSet<PyAny> = HashSet::new();
    for p in points.iter().chain(&points) {
        set.insert(PyAny::from(p.clone()));
    }
    assert_eq!(set.len(), 1000, "equal values are still distinct objects");
    assert!(points.iter().all(|p| set.contains(p.as_any())));
    assert_eq!(points[0].refcnt(), 2, "the set holds one reference each");
    drop(set);
    assert_eq!(points[0].refcnt(), 1);
}

#[test]
fn type_tests_and_borrowed_downcasts_keep_the_reference() {
    let any = PyAny::from(Long::new_var(Long, [1, 2]).unwrap());
    assert!(any.is_instance::<Long>() && !any.is_instance::<Point>());
    assert_eq!(
        any.downcast_ref::<Long>().map(|n| n.items()),
        Some(&[1, 2][..])
    );
    assert!(any.downcast_ref::<Point>().is_none());
    assert_eq!(any.refcnt(), 1);
    let n: &Py<Long> = any.downcast_ref().unwrap();
    let owned = n.clone();
    assert_eq!((any.refcnt(), owned.refcnt()), (2, 2));
}

#[test]
fn try_unwrap_takes_the_value_drops_the_items_and_frees_the_memory() {
    let (payload, items) = (DropCounter::default(), DropCounter::default());
    let make = || {
        Owner::new_var(
            Owner {
                name: "x".repeat(100),
                tracked: Tracked(payload.clone()),
            },
            (0..5).map(|_| Tracked(items.clone())),
        )
        .unwrap()
    };
    let obj = make();
    let shared = obj.clone();
    let Err(obj) = Py::try_unwrap(obj) else {
        panic!("unwrapped a shared object")
    };
    assert_eq!(obj.refcnt(), 2, "a failed unwrap gives the reference back");
    drop(shared);
    let address = obj.as_ptr().cast::<u8>();
    let value = Py::try_unwrap(obj).ok().unwrap();
    assert_eq!(
        (payload.count(), items.count()),
        (0, 5),
        "the items go, not the value"
    );
    // Under the debug hooks (debug builds), the memory is seen freed.
    if let Some(info) = alloc::block_info(address) {
        assert!(info.freed);
    }
    assert_eq!(value.name.len(), 100);
    drop(value);
    assert_eq!(payload.count(), 1);
    assert!(Py::into_inner(make()).is_some());
    assert!(Py::into_inner(make().clone()).is_none());
    assert_eq!((payload.count(), items.count()), (3, 15));
}

#[test]
fn debug_shows_a_var_objects_items_up_to_a_bound() {
    let n = Long::new_var(Long, 0..3).unwrap();
    assert_eq!(format!("{n:?}"), "Long [0, 1, 2]");
    let long = Long::new_var(Long, 0..100).unwrap();
    let text = format!("{long:?}");
    assert!(text.ends_with("30, 31, ... 68 more]"), "{text}");
    let t = Tuple::new_var(Tuple, [PyAny::from(n.clone())]).unwrap();
    assert!(
        format!("{t:?}").starts_with("Tuple [<int object at 0x"),
        "{t:?}"
    );
    let p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    assert_eq!(format!("{p:?}"), "Point { x: 1.0, y: 2.0 }");
}
