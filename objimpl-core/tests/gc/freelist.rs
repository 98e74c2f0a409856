//! Freelists: freed objects' memory is kept per thread and reused, for
//! `basic` and `gc` types, and goes back to the pool when the thread ends.

use std::cell::RefCell;

use objimpl_core::alloc;
use objimpl_core::freelist::{self, FreeList};
use objimpl_core::gc::{self, Traverse, Visit};
use objimpl_core::{Py, PyObject, PyObjectType, TypeObject};

use crate::support::{start, through_a_panicking_collection};

/// A `basic` type with a freelist of 3.
struct Float(f64);
static FLOAT_TYPE: TypeObject = TypeObject::new::<Float>(c"Float");
thread_local!(static FLOATS: FreeList = const { FreeList::new(&FLOAT_TYPE, 3) });
// SAFETY: TYPE is built by `TypeObject::new::<Float>`; the freelist is Float's.
unsafe impl PyObjectType for Float {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &FLOAT_TYPE;
    fn freelist() -> Option<&'static std::thread::LocalKey<FreeList>> {
        Some(&FLOATS)
    }
}

/// A `gc` type with a freelist of 2.
struct Cyclic(RefCell<Option<Py<Cyclic>>>);
static CYCLIC_TYPE: TypeObject = TypeObject::new_gc::<Cyclic>(c"Cyclic");
thread_local!(static CYCLICS: FreeList = const { FreeList::new(&CYCLIC_TYPE, 2) });
// SAFETY: TYPE is built by `TypeObject::new_gc::<Cyclic>`; the freelist is Cyclic's.
unsafe impl PyObjectType for Cyclic {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &CYCLIC_TYPE;
    fn freelist() -> Option<&'static std::thread::LocalKey<FreeList>> {
        Some(&CYCLICS)
    }
}
// SAFETY: visits the one handle the field owns.
unsafe impl Traverse for Cyclic {
    fn traverse(&self, visit: &mut Visit<'_>) {
        self.0.traverse(visit);
    }
}

fn free_in(name: &str) -> usize {
    freelist::stats()
        .iter()
        .find(|s| s.type_name == name)
        .map_or(0, |s| s.free)
}

#[test]
fn freed_objects_are_kept_up_to_the_capacity_and_reused_last_in_first_out() {
    let t = start();
    let floats: Vec<Py<Float>> = (0..5).map(|i| Py::new(Float(i as f64)).unwrap()).collect();
    let addresses: Vec<_> = floats.iter().map(|f| f.as_ptr()).collect();
    drop(floats);
    assert_eq!(free_in("Float"), 3, "the first three kept, the rest freed");
    let again: Vec<Py<Float>> = (0..4).map(|i| Py::new(Float(i as f64)).unwrap()).collect();
    // The last kept (the third freed) comes back first.
    assert_eq!(again[0].as_ptr(), addresses[2]);
    assert_eq!(again[1].as_ptr(), addresses[1]);
    assert_eq!(again[2].as_ptr(), addresses[0]);
    assert_eq!(free_in("Float"), 0);
    assert_eq!(
        again.iter().map(|f| f.0).sum::<f64>(),
        6.0,
        "reused memory holds the new value"
    );
    assert_eq!(again[0].refcnt(), 1);
    drop(again);
    // The kept memory is still allocated: the baseline counts it.
    let mut out = Vec::new();
    alloc::debug_malloc_stats(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("3 free Float objects * 24 bytes each"),
        "{text}"
    );
    t.assert_kept(3);
}

#[test]
fn a_gc_object_from_the_freelist_is_tracked_and_collected_again() {
    let t = start();
    for round in 0..3 {
        let a = Py::new(Cyclic(RefCell::new(None))).unwrap();
        assert!(gc::is_tracked(a.as_any()), "round {round}");
        *a.0.borrow_mut() = Some(a.clone());
        drop(a);
        assert_eq!(gc::collect(), 1, "round {round}");
        assert_eq!(
            free_in("Cyclic"),
            1,
            "the collected object's memory is kept"
        );
    }
    assert_eq!(
        gc::get_count()[0],
        0,
        "kept memory is not counted as a live object"
    );
    t.assert_kept(1);
}

#[test]
fn a_panic_in_the_collection_that_reusing_memory_starts_gives_it_back() {
    let t = start();
    drop(Py::new(Cyclic(RefCell::new(None))).unwrap());
    assert_eq!(free_in("Cyclic"), 1);
    let panicked = through_a_panicking_collection(&t.log, 1, || {
        drop(Py::new(Cyclic(RefCell::new(None))));
    });
    assert!(!panicked, "the Drop's panic came out of Py::new");
    assert_eq!(
        free_in("Cyclic"),
        1,
        "the object made of kept memory went back to the freelist"
    );
    t.log.assert_dropped_once([1]);
    t.assert_kept(1);
}

#[test]
fn what_a_freelist_keeps_goes_back_to_the_pool_when_its_thread_ends() {
    let _t = start();
    let (address, kept) = std::thread::spawn(|| {
        let f = Py::new(Float(1.0)).unwrap();
        let address = f.as_ptr() as usize;
        drop(f);
        let kept = alloc::block_info(std::ptr::without_provenance(address)).map(|b| b.freed);
        (address, kept)
    })
    .join()
    .unwrap();
    let Some(kept) = kept else {
        return; // no debug hooks (a release build): nothing tells
    };
    assert!(!kept, "kept by the freelist: still allocated");
    // After the thread's end, the hooks saw it freed (in quarantine) or
    // forgot it (out of quarantine): either way, back in the pool.
    let after = alloc::block_info(std::ptr::without_provenance(address));
    assert!(after.is_none_or(|b| b.freed), "{after:?}");
}
