//! Cycles of every shape are found and destroyed; what is reachable is not.

use objimpl_core::{Py, PyAny, gc};

use crate::support::{OnDrop, link, scaled, start};

#[test]
fn a_self_reference_is_collected() {
    let t = start();
    let a = t.log.obj(1);
    link(&a, &a);
    drop(a);
    assert!(t.log.dropped().is_empty(), "a cycle outlives its handles");
    assert_eq!(gc::collect(), 1);
    t.log.assert_dropped_once([1]);
    t.assert_nothing_leaked();
}

#[test]
fn cycles_of_two_three_and_many_are_collected() {
    let t = start();
    let mut next_id = 0;
    for n in [2, 3, scaled(1000, 20)] {
        let nodes: Vec<_> = (0..n).map(|i| t.log.obj(next_id + i)).collect();
        for i in 0..n {
            link(&nodes[i], &nodes[(i + 1) % n]);
        }
        drop(nodes);
        assert_eq!(gc::collect(), n);
        t.log.assert_dropped_once(0..next_id + n);
        next_id += n;
    }
    t.assert_nothing_leaked();
}

#[test]
fn a_complete_graph_is_collected() {
    let t = start();
    let n = scaled(40, 6);
    let nodes: Vec<_> = (0..n).map(|i| t.log.obj(i)).collect();
    for a in &nodes {
        for b in &nodes {
            link(a, b);
        }
    }
    drop(nodes);
    assert_eq!(gc::collect(), n);
    t.log.assert_dropped_once(0..n);
    t.assert_nothing_leaked();
}

#[test]
fn a_cycle_through_a_var_objects_items_is_collected() {
    let t = start();
    let a = t.log.obj(1);
    let tuple = t
        .log
        .tup(2, vec![PyAny::from(a.clone()), PyAny::from(a.clone())]);
    link(&a, &tuple);
    assert_eq!(a.refcnt(), 3);
    drop((a, tuple));
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}

#[test]
fn a_cycle_reachable_from_a_live_object_survives_until_it_is_not() {
    let t = start();
    let root = t.log.obj(0);
    let a = t.log.obj(1);
    let b = t.log.obj(2);
    link(&a, &b);
    link(&b, &a);
    link(&root, &a);
    drop((a, b));
    for generation in 0..3 {
        assert_eq!(gc::collect_generation(generation), Some(0));
    }
    assert!(t.log.dropped().is_empty());
    // The survivors are whole: their payloads read as before.
    let a = root.edges.borrow()[0]
        .downcast_ref::<crate::support::Obj>()
        .unwrap()
        .clone();
    assert_eq!(a.id, 1);
    drop(a);
    drop(root); // the root was acyclic: freed at once, the cycle stays
    t.log.assert_dropped_once([0]);
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([0, 1, 2]);
    t.assert_nothing_leaked();
}

#[test]
fn basic_objects_held_by_garbage_are_dropped_with_it() {
    let t = start();
    let shared_leaf = t.log.leaf(100);
    let a = t.log.obj_with(1, OnDrop::Nothing, Some(t.log.leaf(101)));
    let b = t
        .log
        .obj_with(2, OnDrop::Nothing, Some(shared_leaf.clone()));
    link(&a, &b);
    link(&b, &a);
    link(&a, &shared_leaf);
    drop((a, b));
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([1, 2, 101]);
    assert_eq!(
        shared_leaf.refcnt(),
        1,
        "the leaf outlives the cycle that held it"
    );
    drop(shared_leaf);
    t.assert_nothing_leaked();
}

#[test]
fn a_long_chain_neither_overflows_the_stack_in_drop_nor_in_collect() {
    let t = start();
    let n = scaled(100_000, 300);
    // A chain, dropped from its head: each node's drop drops the next.
    let head = t.log.obj(0);
    let mut tail = head.clone();
    for i in 1..n {
        let node = t.log.obj(i);
        link(&tail, &node);
        tail = node;
    }
    drop(tail);
    drop(head);
    t.log.assert_dropped_once(0..n);

    // The same chain closed into a ring: only the collector can free it.
    let head = t.log.obj(n);
    let mut tail = head.clone();
    for i in n + 1..2 * n {
        let node = t.log.obj(i);
        link(&tail, &node);
        tail = node;
    }
    link(&tail, &head);
    drop((head, tail));
    assert_eq!(gc::collect(), n);
    t.log.assert_dropped_once(0..2 * n);
    t.assert_nothing_leaked();
}

#[test]
fn a_chain_hanging_off_a_cycle_is_freed_with_it() {
    let t = start();
    let a = t.log.obj(0);
    link(&a, &a);
    let mut tail = a.clone();
    for i in 1..scaled(10_000, 50) {
        let node = t.log.obj(i);
        link(&tail, &node);
        tail = node;
    }
    let n = scaled(10_000, 50);
    drop((a, tail));
    assert_eq!(gc::collect(), n);
    t.log.assert_dropped_once(0..n);
    t.assert_nothing_leaked();
}

#[test]
fn a_young_cycle_held_by_an_old_object_survives_a_young_collection() {
    let t = start();
    let old = t.log.obj(0);
    gc::collect(); // `old` moves to the oldest generation
    let a = t.log.obj(1);
    link(&a, &a);
    link(&old, &a);
    drop(a);
    assert_eq!(gc::collect_generation(0), Some(0));
    old.edges.borrow_mut().clear();
    assert_eq!(
        gc::collect_generation(0),
        Some(0),
        "`a` was promoted to generation 1"
    );
    assert_eq!(gc::collect_generation(1), Some(1));
    drop(old);
    t.log.assert_dropped_once([0, 1]);
    t.assert_nothing_leaked();
}

#[test]
fn handles_in_a_mutably_borrowed_refcell_keep_their_objects_for_one_collection() {
    let t = start();
    let a = t.log.obj(1);
    let b = t.log.obj(2);
    link(&a, &b);
    link(&b, &a);
    let a_any = PyAny::from(a.clone());
    drop((a, b));
    let obj = a_any.downcast_ref::<crate::support::Obj>().unwrap().clone();
    drop(a_any);
    {
        let _borrowed = obj.edges.borrow_mut();
        // `obj` is referenced from here, so nothing is garbage, and the
        // unseen edge keeps `b` alive: the collector is conservative.
        assert_eq!(gc::collect(), 0);
    }
    drop(obj);
    assert_eq!(gc::collect(), 2);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}

#[test]
fn an_object_made_in_a_collection_is_tracked_and_later_collected() {
    let t = start();
    let a = t.log.obj(1);
    link(&a, &a);
    drop(a);
    assert_eq!(gc::collect(), 1);
    let b: Py<crate::support::Obj> = t.log.obj(2);
    assert!(gc::is_tracked(b.as_any()));
    drop(b);
    t.log.assert_dropped_once([1, 2]);
    t.assert_nothing_leaked();
}

/// A `Traverse` that breaks its promise (visits a handle twice) is a bug
/// of its own, but not undefined behaviour: the object it over-counts is
/// taken for garbage while a handle still holds it, and that handle finds
/// it empty; the memory goes with the last handle.
#[test]
fn a_traverse_that_visits_a_handle_twice_leaves_an_empty_object_not_a_dangling_one() {
    use std::cell::RefCell;

    use objimpl_core::gc::{Traverse, Visit};
    use objimpl_core::{PyObject, PyObjectType, TypeObject};

    struct Liar {
        edges: RefCell<Vec<PyAny>>,
        lies: bool,
        /// Owned memory that a use after the drop would read freed.
        data: Vec<u64>,
    }
    static LIAR: TypeObject = TypeObject::new_gc::<Liar>(c"Liar");
    // SAFETY: a plain payload behind a `gc` header, as the type object says.
    unsafe impl PyObjectType for Liar {
        type Header = PyObject;
        type Item = ();
        const TYPE: &'static TypeObject = &LIAR;
    }
    // SAFETY: none when `lies`: it visits its first edge twice, on purpose.
    unsafe impl Traverse for Liar {
        fn traverse(&self, visit: &mut Visit<'_>) {
            self.edges.traverse(visit);
            if self.lies {
                self.edges.borrow()[..1].traverse(visit);
            }
        }
    }
    let liar = |lies| {
        Py::new(Liar {
            edges: RefCell::default(),
            lies,
            data: vec![7; 4],
        })
        .unwrap()
    };
    let t = start();
    let a = liar(false);
    let b = liar(true);
    b.edges.borrow_mut().push(PyAny::from(a.clone()));
    b.edges.borrow_mut().push(PyAny::from(b.clone()));
    drop(b);
    assert_eq!(a.data, [7; 4]);
    // `a` has two references (the handle, b's edge) and b visits it twice.
    assert_eq!(gc::collect(), 2, "b, and a with it");
    assert!(a.try_get().is_none(), "a's payload went, its handle stays");
    assert_eq!(a.refcnt(), 1);
    drop(a);
    t.assert_nothing_leaked();
}
