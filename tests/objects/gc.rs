//! `#[pyobject(gc)]` end to end: the derived traversal sees a handle in
//! every kind of field, `skip` hides one, and weak references to garbage
//! are cleared.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

use objimpl::WeakList;
use objimpl::prelude::*;

use crate::types::{DropCounter, Tracked};

/// A handle in every kind of field the collector can traverse.
#[pyobject(gc)]
pub struct Everything {
    #[pyobject(skip)]
    drops: Tracked,
    cell: Cell<Option<Py<Everything>>>,
    any_cell: Cell<Option<PyAny>>,
    vec: RefCell<Vec<Py<Everything>>>,
    deque: RefCell<VecDeque<PyAny>>,
    map: RefCell<HashMap<String, Py<Everything>>>,
    tree: RefCell<BTreeMap<u32, Vec<PyAny>>>,
    boxed: RefCell<Option<Box<Py<Everything>>>>,
    pair: RefCell<(u8, Option<PyAny>)>,
    array: RefCell<[Option<PyAny>; 2]>,
    #[pyobject(skip)]
    hidden: RefCell<Option<PyAny>>,
    #[pyobject(weaklist)]
    weak: WeakList,
}

/// A var `gc` object whose items are references.
#[pyobject(gc, item = PyAny)]
pub struct List {
    #[pyobject(skip)]
    drops: Tracked,
}

fn everything(drops: &DropCounter) -> Py<Everything> {
    Everything::new(Everything {
        drops: Tracked(drops.clone()),
        cell: Cell::new(None),
        any_cell: Cell::new(None),
        vec: RefCell::default(),
        deque: RefCell::default(),
        map: RefCell::default(),
        tree: RefCell::default(),
        boxed: RefCell::default(),
        pair: RefCell::default(),
        array: RefCell::default(),
        hidden: RefCell::default(),
        weak: WeakList::new(),
    })
    .unwrap()
}

/// Each way an object can hold itself: only the collector frees it.
#[test]
fn a_self_reference_through_each_kind_of_field_is_collected() {
    let ways: [fn(&Py<Everything>); 9] = [
        |o| o.cell.set(Some(o.clone())),
        |o| o.any_cell.set(Some(PyAny::from(o.clone()))),
        |o| o.vec.borrow_mut().push(o.clone()),
        |o| o.deque.borrow_mut().push_back(PyAny::from(o.clone())),
        |o| drop(o.map.borrow_mut().insert("self".into(), o.clone())),
        |o| drop(o.tree.borrow_mut().insert(1, vec![PyAny::from(o.clone())])),
        |o| *o.boxed.borrow_mut() = Some(Box::new(o.clone())),
        |o| o.pair.borrow_mut().1 = Some(PyAny::from(o.clone())),
        |o| o.array.borrow_mut()[1] = Some(PyAny::from(o.clone())),
    ];
    for (i, make_cycle) in ways.iter().enumerate() {
        let drops = DropCounter::default();
        let o = everything(&drops);
        make_cycle(&o);
        drop(o);
        assert_eq!(drops.count(), 0, "way {i}: the cycle outlives its handle");
        assert_eq!(gc::collect(), 1, "way {i}: the collector sees the field");
        assert_eq!(drops.count(), 1, "way {i}");
    }
}

#[test]
fn a_cycle_through_items_is_collected() {
    let drops = DropCounter::default();
    let o = everything(&drops);
    let list = List::new_var(
        List {
            drops: Tracked(drops.clone()),
        },
        [PyAny::from(o.clone())],
    )
    .unwrap();
    o.vec.borrow_mut().clear();
    o.deque.borrow_mut().push_back(PyAny::from(list));
    drop(o);
    assert_eq!(gc::collect(), 2);
    assert_eq!(drops.count(), 2);
}

#[test]
fn a_skipped_field_is_invisible_to_the_collector() {
    let drops = DropCounter::default();
    let o = everything(&drops);
    *o.hidden.borrow_mut() = Some(PyAny::from(o.clone()));
    let weak = Py::downgrade(&o);
    drop(o);
    // The reference in `hidden` counts as one from outside: kept.
    assert_eq!(gc::collect(), 0);
    let o = weak.upgrade().expect("kept alive by the skipped field");
    assert!(o.hidden.borrow_mut().take().is_some()); // break the cycle by hand
    drop(o);
    assert_eq!(drops.count(), 1);
}

#[test]
fn weak_references_to_collected_garbage_are_cleared() {
    let drops = DropCounter::default();
    let a = everything(&drops);
    let b = everything(&drops);
    a.cell.set(Some(b.clone()));
    b.cell.set(Some(a.clone()));
    let (weak_a, weak_b) = (Py::downgrade(&a), Py::downgrade(&b));
    drop((a, b));
    assert!(weak_a.upgrade().is_some(), "alive until collected");
    assert_eq!(gc::collect(), 2);
    assert!(weak_a.upgrade().is_none() && weak_b.upgrade().is_none());
    assert_eq!(drops.count(), 2);
}

#[test]
fn a_gc_object_made_by_the_generated_constructor_is_tracked() {
    let drops = DropCounter::default();
    let o = everything(&drops);
    assert!(gc::is_tracked(o.as_any()));
    assert!(Everything::TYPE.is_gc());
    assert_eq!(gc::get_referents(o.as_any()).len(), 0);
    o.vec.borrow_mut().push(o.clone());
    assert_eq!(gc::get_referents(o.as_any()), [PyAny::from(o.clone())]);
    o.vec.borrow_mut().clear();
}
