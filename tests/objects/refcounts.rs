//! Reference counts through the generated constructors.

use objimpl::prelude::*;

use crate::types::{Point, Tuple};

#[test]
fn new_objects_have_one_reference() {
    let p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    assert_eq!(p.refcnt(), 1);
    assert_eq!(Tuple::new_var(Tuple, []).unwrap().refcnt(), 1);
}

#[test]
fn clones_and_drops_count_up_and_down() {
    let p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    let q = p.clone();
    let any = PyAny::from(q.clone());
    assert_eq!(p.refcnt(), 3);
    drop(q);
    assert_eq!(p.refcnt(), 2);
    let back: Py<Point> = any.downcast().unwrap();
    assert_eq!(back.refcnt(), 2);
    drop(back);
    assert_eq!(p.refcnt(), 1);
}

#[test]
fn a_tuple_holds_a_reference_to_each_item_until_it_is_dropped() {
    let p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    let tuple = Tuple::new_var(Tuple, [PyAny::from(p.clone()), PyAny::from(p.clone())]).unwrap();
    assert_eq!(p.refcnt(), 3);
    let inner = Tuple::new_var(Tuple, [PyAny::from(tuple.clone())]).unwrap();
    assert_eq!(tuple.refcnt(), 2);
    drop(tuple);
    assert_eq!(p.refcnt(), 3, "the inner tuple still holds the outer one");
    drop(inner);
    assert_eq!(p.refcnt(), 1);
}

#[test]
fn get_mut_only_while_unique() {
    let mut p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();
    p.get_mut().unwrap().x = 5.0;
    let shared = p.clone();
    assert!(p.get_mut().is_none());
    drop(shared);
    assert_eq!(p.get_mut().map(|p| p.x), Some(5.0));
}
