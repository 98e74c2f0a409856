//! Weak references: cleared when the object goes, never keeping it (or its
//! memory) alive, following it when `resize` moves it.

use std::cell::RefCell;

use objimpl::alloc;
use objimpl::prelude::*;
use objimpl::{WeakList, WeakPy};

use crate::types::{DropCounter, Tracked};

#[pyobject(basic)]
struct Node {
    tracked: Tracked,
    #[pyobject(weaklist)]
    weak: WeakList,
    parent: RefCell<Option<WeakPy<Node>>>,
}

#[pyobject(basic, item = u64)]
struct Buffer(#[pyobject(weaklist)] WeakList);

fn node(drops: &DropCounter) -> Py<Node> {
    Node::new(Node {
        tracked: Tracked(drops.clone()),
        weak: WeakList::new(),
        parent: RefCell::new(None),
    })
    .unwrap()
}

#[test]
fn a_weak_reference_sees_the_object_until_its_last_strong_reference_goes() {
    let drops = DropCounter::default();
    let n = node(&drops);
    let weak = Py::downgrade(&n);
    let weak2 = weak.clone();
    let strong = weak.upgrade().unwrap();
    assert!(Py::ptr_eq(&strong, &n));
    assert_eq!(n.refcnt(), 2, "upgrade made a strong reference");
    drop((strong, n));
    assert_eq!(drops.count(), 1, "weak references do not keep the object");
    assert!(weak.upgrade().is_none() && weak2.upgrade().is_none());
    assert!(format!("{weak:?}").contains("dead"));
}

#[test]
fn the_memory_goes_back_at_once_not_when_the_weak_references_go() {
    let drops = DropCounter::default();
    let n = node(&drops);
    let address = n.as_ptr().cast::<u8>();
    let weak = Py::downgrade(&n);
    drop(n);
    // Under the debug hooks (debug builds), the block is seen freed while
    // the weak reference still exists.
    if let Some(info) = alloc::block_info(address) {
        assert!(info.freed);
    }
    assert!(weak.upgrade().is_none());
}

#[test]
fn children_point_at_their_parent_weakly_so_no_cycle_leaks() {
    let drops = DropCounter::default();
    let parent = node(&drops);
    let children: Vec<Py<Node>> = (0..10)
        .map(|_| {
            let child = node(&drops);
            *child.parent.borrow_mut() = Some(Py::downgrade(&parent));
            child
        })
        .collect();
    let up = children[3]
        .parent
        .borrow()
        .as_ref()
        .unwrap()
        .upgrade()
        .unwrap();
    assert!(Py::ptr_eq(&up, &parent));
    drop((up, parent));
    assert_eq!(drops.count(), 1);
    assert!(
        children[3]
            .parent
            .borrow()
            .as_ref()
            .unwrap()
            .upgrade()
            .is_none()
    );
    drop(children);
    assert_eq!(drops.count(), 11);
}

#[test]
fn a_weak_reference_follows_an_object_that_resize_moves() {
    let mut b = Buffer::new_var(Buffer(WeakList::new()), [1, 2, 3]).unwrap();
    let weak = Py::downgrade(&b);
    for len in [1000, 4, 5000, 0] {
        b.resize(len, 9).unwrap();
        let seen = weak.upgrade().unwrap();
        assert!(Py::ptr_eq(&seen, &b));
        assert_eq!(seen.len(), len);
    }
}

#[test]
fn taking_the_value_out_clears_the_weak_references() {
    let drops = DropCounter::default();
    let n = node(&drops);
    let weak = Py::downgrade(&n);
    let value = Py::try_unwrap(n).ok().unwrap();
    assert!(
        weak.upgrade().is_none(),
        "the object is gone though its value lives"
    );
    drop(value);
    assert_eq!(drops.count(), 1);
}
