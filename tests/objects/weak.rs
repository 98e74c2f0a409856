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

// --- As rich as `std::rc::Weak` and Python's `weakref` (issue #21, item 4).

/// A weak-referenceable `gc` object that may hold itself.
#[pyobject(gc)]
struct Cyclic {
    me: RefCell<Option<Py<Cyclic>>>,
    #[pyobject(weaklist)]
    weak: WeakList,
}

/// A type that cannot be weakly referenced.
#[pyobject(basic)]
struct Plain(u8);

fn log() -> std::rc::Rc<RefCell<Vec<&'static str>>> {
    std::rc::Rc::default()
}

#[test]
fn new_ptr_eq_and_counts_are_those_of_std_weak() {
    let drops = DropCounter::default();
    let none = WeakPy::<Node>::new();
    assert!(none.upgrade().is_none());
    assert_eq!((none.strong_count(), none.weak_count()), (0, 0));
    assert!(none.ptr_eq(&WeakPy::default()));
    let n = node(&drops);
    let a = Py::downgrade(&n);
    let b = Py::downgrade(&n);
    let other = node(&drops);
    assert!(a.ptr_eq(&b) && a.ptr_eq(&a.clone()));
    assert!(!a.ptr_eq(&Py::downgrade(&other)) && !a.ptr_eq(&none));
    let _strong = n.clone();
    assert_eq!((a.strong_count(), a.weak_count()), (2, 2));
    drop(b);
    assert_eq!(a.weak_count(), 1);
    drop((n, _strong));
    assert_eq!((a.strong_count(), a.weak_count()), (0, 0));
}

#[test]
fn a_callback_runs_once_when_the_object_dies_if_its_weak_reference_lives() {
    let drops = DropCounter::default();
    let seen = log();
    let n = node(&drops);
    let s = seen.clone();
    let kept = Py::downgrade_with(&n, move || s.borrow_mut().push("kept"));
    let _clone = kept.clone(); // clones share one callback: it runs once
    let s = seen.clone();
    drop(Py::downgrade_with(&n, move || {
        s.borrow_mut().push("dropped")
    }));
    let s = seen.clone();
    let weak = kept.clone();
    let _checker = Py::downgrade_with(&n, move || {
        // The object is gone for its weak references when callbacks run.
        assert!(weak.upgrade().is_none());
        s.borrow_mut().push("checked");
    });
    assert!(seen.borrow().is_empty());
    drop(n);
    assert_eq!(*seen.borrow(), ["kept", "checked"]);
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_callback_runs_when_the_collector_frees_the_cycle() {
    gc::collect();
    let seen = log();
    let c = Cyclic::new(Cyclic {
        me: RefCell::default(),
        weak: WeakList::new(),
    })
    .unwrap();
    *c.me.borrow_mut() = Some(c.clone());
    let s = seen.clone();
    let weak = Py::downgrade_with(&c, move || s.borrow_mut().push("collected"));
    let any = PyAny::from(c)
        .downgrade()
        .expect("a gc type with a WeakList");
    assert_eq!(gc::collect(), 1);
    assert_eq!(*seen.borrow(), ["collected"]);
    assert!(weak.upgrade().is_none() && any.upgrade().is_none());
}

#[test]
fn a_panicking_callback_goes_to_the_unraisable_hook_and_the_others_run() {
    let _hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let drops = DropCounter::default();
    let n = node(&drops);
    let seen = log();
    let _bad = Py::downgrade_with(&n, || panic!("callback failed"));
    let s = seen.clone();
    let _good = Py::downgrade_with(&n, move || s.borrow_mut().push("ran"));
    let previous = gc::set_unraisable_hook(Some(std::sync::Arc::new(|u| {
        if u.message() == Some("callback failed") {
            SEEN.lock()
                .unwrap()
                .push(format!("{} of '{}'", u.what(), u.type_name()));
        }
    })));
    drop(n);
    gc::set_unraisable_hook(previous);
    assert_eq!(*seen.borrow(), ["ran"]);
    assert_eq!(drops.count(), 1, "the object was destroyed all the same");
    assert!(
        SEEN.lock()
            .unwrap()
            .iter()
            .any(|m| m == "a weak reference callback of 'Node'"),
        "{:?}",
        SEEN.lock().unwrap()
    );
}

#[test]
fn py_any_downgrades_objects_whose_type_can_be() {
    let drops = DropCounter::default();
    assert!(
        PyAny::from(Plain::new(Plain(1)).unwrap())
            .downgrade()
            .is_none()
    );
    let any = PyAny::from(node(&drops));
    let weak = any.downgrade().unwrap();
    let typed = WeakPy::<Node>::new();
    assert_eq!((weak.strong_count(), weak.weak_count()), (1, 1));
    assert!(weak.upgrade().unwrap().downcast::<Node>().is_ok());
    assert!(format!("{weak:?}").contains("'Node'"));
    let from_typed = objimpl::WeakAny::from(typed);
    assert!(from_typed.upgrade().is_none());
    drop(any);
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_weak_value_map_loses_entries_with_their_objects_without_a_sweep() {
    let drops = DropCounter::default();
    let map: objimpl::WeakValueMap<String, Node> = objimpl::WeakValueMap::new();
    let a = node(&drops);
    let b = node(&drops);
    assert!(map.insert("a".into(), &a).is_none());
    map.insert("b".into(), &b);
    assert_eq!(map.len(), 2);
    assert!(Py::ptr_eq(&map.get("a").unwrap(), &a));
    drop(a);
    assert_eq!(map.len(), 1, "a's entry went with it");
    assert!(map.get("a").is_none() && !map.contains_key("a"));
    // A key given a new object keeps it when the old one dies.
    let c = node(&drops);
    let old_b = map.insert("b".into(), &c).unwrap();
    assert!(Py::ptr_eq(&old_b, &b));
    drop((b, old_b));
    assert!(Py::ptr_eq(&map.get("b").unwrap(), &c));
    assert_eq!(map.entries().len(), 1);
    // Removed, and made again.
    assert!(map.remove("b").is_some());
    let made = map
        .get_or_try_insert_with("d", || Ok::<_, ()>(node(&drops)))
        .unwrap();
    let found = map
        .get_or_try_insert_with("d", || Err(()))
        .expect("found, not made");
    assert!(Py::ptr_eq(&made, &found));
    assert!(
        map.get_or_try_insert_with("e", || Err::<Py<Node>, _>("no"))
            .is_err()
    );
    assert!(!map.contains_key("e"));
    // The map may die before its objects.
    let survivor = node(&drops);
    map.insert("s".into(), &survivor);
    drop(map);
    drop(survivor);
}

#[test]
fn get_mut_refuses_while_weak_references_exist_as_rc_get_mut_does() {
    let drops = DropCounter::default();
    let mut n = node(&drops);
    let weak = Py::downgrade(&n);
    assert!(n.get_mut().is_none());
    drop(weak);
    assert!(n.get_mut().is_some());
}

#[test]
fn a_weak_list_moved_into_another_object_points_at_it() {
    let drops = DropCounter::default();
    let mut a = node(&drops);
    let mut b = node(&drops);
    drop(Py::downgrade(&a)); // a's list has a cell, shared by nobody now
    let list_of_a = std::mem::take(&mut a.get_mut().unwrap().weak);
    b.get_mut().unwrap().weak = list_of_a;
    let weak = Py::downgrade(&b);
    assert!(Py::ptr_eq(&weak.upgrade().unwrap(), &b), "not a");
}

#[test]
fn a_weak_referenceable_object_without_weak_references_can_be_sent() {
    #[pyobject(basic)]
    struct Message {
        text: String,
        #[pyobject(weaklist)]
        weak: WeakList,
    }
    let m = Message::new(Message {
        text: "hi".into(),
        weak: WeakList::new(),
    })
    .unwrap();
    let weak = Py::downgrade(&m);
    let m = Py::into_sendable(m).expect_err("a weak reference is bound to this thread");
    drop(weak);
    let parcel = Py::into_sendable(m).ok().expect("no weak reference left");
    let text = std::thread::spawn(move || {
        let m = parcel.into_py();
        let weak = Py::downgrade(&m); // weak references work on the new thread
        weak.upgrade().unwrap().text.clone()
    })
    .join()
    .unwrap();
    assert_eq!(text, "hi");
}

#[test]
fn callbacks_of_dropped_weak_references_do_not_pile_up() {
    let drops = DropCounter::default();
    let n = node(&drops);
    for _ in 0..10_000 {
        drop(Py::downgrade_with(&n, || {
            unreachable!("its weak reference is gone")
        }));
    }
    let seen = log();
    let s = seen.clone();
    let _kept = Py::downgrade_with(&n, move || s.borrow_mut().push("kept"));
    drop(n);
    assert_eq!(*seen.borrow(), ["kept"]);
}

/// The tests that set the process's unraisable hook, one at a time.
static HOOKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_hook_may_set_the_hook_without_waiting_for_itself() {
    let _hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let previous = gc::set_unraisable_hook(Some(std::sync::Arc::new(|_| {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Puts the default back from inside (a lock held across the call
        // would wait for ever here).
        gc::set_unraisable_hook(None);
    })));
    let drops = DropCounter::default();
    let n = node(&drops);
    let _bad = Py::downgrade_with(&n, || panic!("once"));
    drop(n);
    assert_eq!(CALLS.load(std::sync::atomic::Ordering::Relaxed), 1);
    gc::set_unraisable_hook(previous);
}
