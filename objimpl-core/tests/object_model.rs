//! The object layer end to end: headers, reference counting, drops, items,
//! downcasts, and every kind of bad input to `Py::new_var`.
//!
//! The types are made by hand, exactly as `#[pyobject]` makes them.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use objimpl_core::{
    BasicObject, MemoryError, Py, PyAny, PyObject, PyObjectType, PyVarObject, TypeObject,
    object_size, var_size,
};

/// Counts how often values holding it are dropped.
#[derive(Clone, Default)]
struct DropCounter(Rc<Cell<usize>>);

impl DropCounter {
    fn count(&self) -> usize {
        self.0.get()
    }
}

/// Something that owns heap memory and counts its drops.
struct Tracked {
    _heap: String,
    drops: DropCounter,
}

impl Tracked {
    fn new(drops: &DropCounter, text: &str) -> Tracked {
        Tracked {
            _heap: text.repeat(3),
            drops: drops.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.0.set(self.drops.0.get() + 1);
    }
}

/// A fixed-size object whose payload owns heap memory.
struct Boxed {
    payload: Tracked,
}
static BOXED_TYPE: TypeObject = TypeObject::new::<Boxed>(c"Boxed");
// SAFETY: TYPE is a static built by `TypeObject::new::<Boxed>`, for Boxed alone.
unsafe impl PyObjectType for Boxed {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &BOXED_TYPE;
}
impl BasicObject for Boxed {}

/// A var-size object whose payload and items own heap memory.
struct List {
    _payload: Tracked,
}
static LIST_TYPE: TypeObject = TypeObject::new::<List>(c"List");
// SAFETY: TYPE is a static built by `TypeObject::new::<List>`, for List alone.
unsafe impl PyObjectType for List {
    type Header = PyVarObject;
    type Item = Tracked;
    const TYPE: &'static TypeObject = &LIST_TYPE;
}
impl BasicObject for List {}

/// A var-size object with one-byte items and a one-byte payload.
struct Bytes {
    tag: u8,
}
static BYTES_TYPE: TypeObject = TypeObject::new::<Bytes>(c"bytes");
// SAFETY: TYPE is a static built by `TypeObject::new::<Bytes>`, for Bytes alone.
unsafe impl PyObjectType for Bytes {
    type Header = PyVarObject;
    type Item = u8;
    const TYPE: &'static TypeObject = &BYTES_TYPE;
}
impl BasicObject for Bytes {}

/// A var-size object with 16-byte-aligned items, to exercise padding.
struct Wide;
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(align(16))]
struct Lane(u64);
static WIDE_TYPE: TypeObject = TypeObject::new::<Wide>(c"Wide");
// SAFETY: TYPE is a static built by `TypeObject::new::<Wide>`, for Wide alone.
unsafe impl PyObjectType for Wide {
    type Header = PyVarObject;
    type Item = Lane;
    const TYPE: &'static TypeObject = &WIDE_TYPE;
}
impl BasicObject for Wide {}

/// A fixed-size object whose drop panics.
struct PanicsOnDrop {
    _heap: Vec<u8>,
}
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("PanicsOnDrop dropped");
    }
}
static PANICS_TYPE: TypeObject = TypeObject::new::<PanicsOnDrop>(c"PanicsOnDrop");
// SAFETY: TYPE is a static built by `TypeObject::new::<PanicsOnDrop>`, for it alone.
unsafe impl PyObjectType for PanicsOnDrop {
    type Header = PyVarObject;
    type Item = Tracked;
    const TYPE: &'static TypeObject = &PANICS_TYPE;
}
impl BasicObject for PanicsOnDrop {}

#[test]
fn headers_are_laid_out_as_cpython() {
    let word = size_of::<usize>();
    assert_eq!(size_of::<PyObject>(), 2 * word);
    assert_eq!(size_of::<PyVarObject>(), 3 * word);
    assert_eq!(std::mem::offset_of!(PyObject, ob_refcnt), 0);
    assert_eq!(std::mem::offset_of!(PyObject, ob_type), word);
    assert_eq!(std::mem::offset_of!(PyVarObject, ob_size), 2 * word);
}

#[test]
#[cfg(target_pointer_width = "64")]
fn basicsize_is_header_plus_payload_rounded_to_item_alignment() {
    assert_eq!(object_size(Boxed::TYPE), 16 + size_of::<Tracked>());
    // 24 + one u8, padded to the struct's alignment of 8 (`size_of` of the
    // #[repr(C)] header-plus-payload struct).
    assert_eq!(Bytes::TYPE.basicsize(), 32);
    assert_eq!(Bytes::TYPE.itemsize(), 1);
    assert_eq!(var_size(Bytes::TYPE, 0), Some(32));
    assert_eq!(var_size(Bytes::TYPE, 1), Some(40));
    assert_eq!(var_size(Bytes::TYPE, 8), Some(40));
    assert_eq!(var_size(Bytes::TYPE, 9), Some(48));
    assert_eq!(Wide::TYPE.basicsize(), 32); // 24 rounded up to Lane's 16
    assert_eq!(Wide::TYPE.itemsize(), 16);
    assert_eq!(Boxed::TYPE.itemsize(), 0);
}

#[test]
fn header_is_initialised_by_new() {
    let b = Py::new(Bytes { tag: 7 }).unwrap();
    // SAFETY: `b` keeps the object alive; its header is a PyVarObject.
    let header = unsafe { &*b.as_ptr().cast::<PyVarObject>() };
    assert_eq!(header.ob_base.ob_refcnt, 1);
    assert!(std::ptr::eq(header.ob_base.ob_type, Bytes::TYPE));
    assert_eq!(header.ob_size, 0);
    assert_eq!(b.tag, 7);
    assert_eq!(b.len(), 0);
    assert!(b.items().is_empty());
}

#[test]
fn refcount_follows_clone_and_drop() {
    let drops = DropCounter::default();
    let a = Py::new(Boxed {
        payload: Tracked::new(&drops, "a"),
    })
    .unwrap();
    assert_eq!(a.refcnt(), 1);
    let b = a.clone();
    let c = b.clone();
    assert_eq!(a.refcnt(), 3);
    assert_eq!(a.as_ptr(), c.as_ptr());
    drop(b);
    assert_eq!(a.refcnt(), 2);
    let any = PyAny::from(c);
    assert_eq!(any.refcnt(), 2);
    let any2 = any.clone();
    assert_eq!(a.refcnt(), 3);
    drop((any, any2));
    assert_eq!(a.refcnt(), 1);
    assert_eq!(drops.count(), 0);
    drop(a);
    assert_eq!(drops.count(), 1);
}

#[test]
fn payload_and_items_are_dropped_exactly_once() {
    let drops = DropCounter::default();
    let items = (0..5).map(|i| Tracked::new(&drops, &i.to_string()));
    let list = Py::new_var(list_payload(&drops), items).unwrap();
    assert_eq!(list.len(), 5);
    let again = list.clone();
    drop(list);
    assert_eq!(drops.count(), 0);
    drop(again);
    assert_eq!(drops.count(), 6);
}

#[test]
fn items_keep_their_values_and_alignment() {
    let wide = Py::new_var(Wide, (0..9u32).map(|i| Lane(i.into()))).unwrap();
    assert_eq!(wide.items(), (0..9).map(Lane).collect::<Vec<_>>());
    assert_eq!(wide.items().as_ptr() as usize % 16, 0);
    assert_eq!(wide.as_ptr() as usize % 16, 0);

    let mut bytes = Py::new_var(Bytes { tag: 1 }, *b"hello").unwrap();
    bytes.items_mut().unwrap()[0] = b'j';
    assert_eq!(bytes.items(), b"jello");
    let shared = bytes.clone();
    assert!(bytes.items_mut().is_none());
    drop(shared);
    assert!(bytes.items_mut().is_some());
}

#[test]
fn get_mut_only_while_unique() {
    let drops = DropCounter::default();
    let mut a = Py::new(Boxed {
        payload: Tracked::new(&drops, "x"),
    })
    .unwrap();
    assert!(a.get_mut().is_some());
    let any = PyAny::from(a.clone());
    assert!(a.get_mut().is_none());
    drop(any);
    let payload = &mut a.get_mut().unwrap().payload;
    payload._heap.push('!');
    assert_eq!(a.payload._heap, "xxx!");
}

#[test]
fn downcast_to_the_right_type_only() {
    let drops = DropCounter::default();
    let any = PyAny::from(
        Py::new(Boxed {
            payload: Tracked::new(&drops, "b"),
        })
        .unwrap(),
    );
    assert_eq!(any.type_object().name(), "Boxed");
    let Err(any) = any.downcast::<Bytes>() else {
        panic!("a Boxed object downcast to Bytes")
    };
    let Err(any) = any.downcast::<List>() else {
        panic!("a Boxed object downcast to List")
    };
    assert_eq!(any.refcnt(), 1);
    let boxed = any
        .downcast::<Boxed>()
        .unwrap_or_else(|_| panic!("wrong type"));
    assert_eq!(boxed.refcnt(), 1);
    drop(boxed);
    assert_eq!(drops.count(), 1);
}

#[test]
fn into_raw_and_from_raw_keep_the_reference() {
    let b = Py::new_var(Bytes { tag: 3 }, [1, 2, 3]).unwrap();
    let raw = Py::into_raw(b);
    // SAFETY: `raw` is a Bytes object and owns the reference `into_raw` gave up.
    let back: Py<Bytes> = unsafe { Py::from_raw(raw) };
    assert_eq!(back.refcnt(), 1);
    assert_eq!(back.items(), &[1, 2, 3]);
}

/// An iterator that claims `claimed` items, yields `actual`, and counts `next` calls.
struct Liar<'a> {
    claimed: usize,
    actual: usize,
    calls: &'a Cell<usize>,
    drops: &'a DropCounter,
}

impl Iterator for Liar<'_> {
    type Item = Tracked;
    fn next(&mut self) -> Option<Tracked> {
        self.calls.set(self.calls.get() + 1);
        if self.actual == 0 {
            return None;
        }
        self.actual -= 1;
        Some(Tracked::new(self.drops, "item"))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}
impl ExactSizeIterator for Liar<'_> {}

fn list_payload(drops: &DropCounter) -> List {
    List {
        _payload: Tracked::new(drops, "payload"),
    }
}

#[test]
fn an_overflowing_count_is_a_memory_error_before_any_item_is_taken() {
    let drops = DropCounter::default();
    let calls = Cell::new(0);
    for claimed in [
        usize::MAX,
        usize::MAX / size_of::<Tracked>() + 1,
        isize::MAX as usize,
    ] {
        let liar = Liar {
            claimed,
            actual: 3,
            calls: &calls,
            drops: &drops,
        };
        let result = Py::new_var(list_payload(&drops), liar);
        assert_eq!(result.err(), Some(MemoryError));
    }
    assert_eq!(calls.get(), 0, "no item may be taken");
    assert_eq!(drops.count(), 3, "each payload is dropped");
}

#[test]
#[cfg_attr(miri, ignore = "Miri reports exhaustion instead of returning null")]
fn a_failed_allocation_is_a_memory_error() {
    let drops = DropCounter::default();
    let calls = Cell::new(0);
    // A size that passes `var_size` but that no allocator can give.
    let claimed = (isize::MAX as usize - 64) / size_of::<Tracked>();
    assert!(var_size(List::TYPE, claimed).is_some());
    let liar = Liar {
        claimed,
        actual: 0,
        calls: &calls,
        drops: &drops,
    };
    assert_eq!(
        Py::new_var(list_payload(&drops), liar).err(),
        Some(MemoryError)
    );
    assert_eq!(calls.get(), 0);
    assert_eq!(drops.count(), 1);
}

fn panic_message(result: std::thread::Result<impl Sized>) -> String {
    let payload = result.err().expect("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn an_iterator_yielding_too_few_items_panics_and_drops_what_was_made() {
    let drops = DropCounter::default();
    let calls = Cell::new(0);
    let liar = Liar {
        claimed: 5,
        actual: 3,
        calls: &calls,
        drops: &drops,
    };
    let result = catch_unwind(AssertUnwindSafe(|| Py::new_var(list_payload(&drops), liar)));
    let message = panic_message(result);
    assert!(message.contains("yielded 3 items"), "{message}");
    assert_eq!(drops.count(), 4, "3 items and the payload");
}

#[test]
fn an_iterator_yielding_too_many_items_panics_and_drops_everything() {
    let drops = DropCounter::default();
    let calls = Cell::new(0);
    let liar = Liar {
        claimed: 2,
        actual: 4,
        calls: &calls,
        drops: &drops,
    };
    let result = catch_unwind(AssertUnwindSafe(|| Py::new_var(list_payload(&drops), liar)));
    let message = panic_message(result);
    assert!(message.contains("more items"), "{message}");
    // 2 items written, the extra one taken, and the payload.
    assert_eq!(drops.count(), 4);
    assert_eq!(calls.get(), 3, "only one item past the promise is taken");
}

#[test]
fn an_iterator_that_panics_leaves_nothing_behind() {
    let drops = DropCounter::default();
    let items = (0..4).map(|i| {
        if i == 2 {
            panic!("iterator failed");
        }
        Tracked::new(&drops, "item")
    });
    let result = catch_unwind(AssertUnwindSafe(|| {
        Py::new_var(list_payload(&drops), items)
    }));
    assert_eq!(panic_message(result), "iterator failed");
    assert_eq!(drops.count(), 3, "2 items and the payload");
}

#[test]
fn a_panicking_payload_drop_still_drops_the_items_and_frees_the_memory() {
    let drops = DropCounter::default();
    let obj = Py::new_var(
        PanicsOnDrop {
            _heap: vec![1; 100],
        },
        (0..3).map(|_| Tracked::new(&drops, "item")),
    )
    .unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| drop(obj)));
    assert_eq!(panic_message(result), "PanicsOnDrop dropped");
    assert_eq!(drops.count(), 3);
    // Under Miri, a leaked object or item would fail this test at exit.
}

#[test]
fn objects_are_sixteen_byte_aligned() {
    let drops = DropCounter::default();
    let objects: Vec<PyAny> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                Py::new_var(Bytes { tag: 0 }, (0..i as u8).collect::<Vec<_>>())
                    .unwrap()
                    .into()
            } else {
                Py::new(Boxed {
                    payload: Tracked::new(&drops, "x"),
                })
                .unwrap()
                .into()
            }
        })
        .collect();
    for obj in &objects {
        assert_eq!(obj.as_ptr() as usize % 16, 0);
    }
}

#[test]
fn resize_drops_the_removed_items_once_and_moves_the_rest() {
    let drops = DropCounter::default();
    let mut list = Py::new_var(
        list_payload(&drops),
        (0..6).map(|_| Tracked::new(&drops, "item")),
    )
    .unwrap();
    list.resize_with(2, || unreachable!()).unwrap();
    assert_eq!((list.len(), drops.count()), (2, 4));
    // Past 512 bytes: from a pool block to a C library one, and back.
    list.resize_with(40, || Tracked::new(&drops, "grown"))
        .unwrap();
    assert_eq!((list.len(), drops.count()), (40, 4));
    list.resize_with(3, || unreachable!()).unwrap();
    assert_eq!(drops.count(), 41);
    drop(list);
    assert_eq!(drops.count(), 45, "the payload and the last 3 items");
}

/// A payload that may cross threads, counting its drops.
struct Parcel {
    id: usize,
    drops: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Parcel {
    fn drop(&mut self) {
        self.drops
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

static PARCEL_TYPE: TypeObject = TypeObject::new::<Parcel>(c"Parcel");
// SAFETY: TYPE is a static built by `TypeObject::new::<Parcel>`, for Parcel alone.
unsafe impl PyObjectType for Parcel {
    type Header = objimpl_core::PyVarObject;
    type Item = u64;
    const TYPE: &'static TypeObject = &PARCEL_TYPE;
}
impl BasicObject for Parcel {}

#[test]
fn unique_objects_move_between_threads_and_die_on_the_far_side() {
    use std::sync::{Arc, atomic::AtomicUsize, atomic::Ordering, mpsc};
    let count = if cfg!(miri) { 40 } else { 5000 };
    let drops = Arc::new(AtomicUsize::new(0));
    let (to_worker, at_worker) = mpsc::channel::<objimpl_core::SendPy<Parcel>>();
    let (to_main, at_main) = mpsc::channel::<objimpl_core::SendPy<Parcel>>();
    let worker = std::thread::spawn(move || {
        for (i, parcel) in at_worker.into_iter().enumerate() {
            let mut obj = parcel.into_py();
            assert_eq!((obj.id, obj.items()[0]), (i, i as u64));
            obj.items_mut().unwrap()[1] += 1;
            if i % 2 == 0 {
                to_main.send(Py::into_sendable(obj).ok().unwrap()).unwrap();
            } // else: dropped here, its memory freed from this thread
        }
    });
    for id in 0..count {
        let obj = Py::new_var(
            Parcel {
                id,
                drops: drops.clone(),
            },
            [id as u64, 0, 7],
        )
        .unwrap();
        let shared = obj.clone();
        let obj = Py::into_sendable(obj).err().unwrap(); // two references: stays
        drop(shared);
        to_worker
            .send(Py::into_sendable(obj).ok().unwrap())
            .unwrap();
    }
    drop(to_worker);
    let back: Vec<Py<Parcel>> = at_main.iter().map(|p| p.into_py()).collect();
    worker.join().unwrap();
    assert_eq!(back.len(), count / 2);
    assert!(back.iter().all(|o| o.items() == [o.id as u64, 1, 7]));
    assert_eq!(drops.load(Ordering::Relaxed), count / 2);
    drop(back);
    assert_eq!(drops.load(Ordering::Relaxed), count);
}

#[test]
fn weak_references_are_cleared_by_drop_unwrap_and_follow_resize() {
    use objimpl_core::{__doc::Node, WeakList};
    let node = Py::new(Node {
        value: 7,
        weak: WeakList::new(),
    })
    .unwrap();
    let weak = Py::downgrade(&node);
    assert_eq!(weak.upgrade().map(|n| n.value), Some(7));
    drop(node);
    assert!(weak.upgrade().is_none());

    let node = Py::new(Node {
        value: 8,
        weak: WeakList::new(),
    })
    .unwrap();
    let weak = Py::downgrade(&node);
    let value = Py::try_unwrap(node).ok().unwrap();
    assert!(weak.upgrade().is_none());
    assert_eq!(value.value, 8);
}

/// A misuse that panics names the caller's line, not objimpl's
/// (`#[track_caller]`): a resize of a shared object, an iterator that lies
/// about its length, a `set_signed_size` that changes the length.
#[test]
#[cfg_attr(miri, ignore = "panic hooks and locations: not what Miri checks")]
fn a_panicking_misuse_names_the_callers_line() {
    use std::cell::RefCell;
    use std::panic::{self, AssertUnwindSafe};

    thread_local!(static WHERE: RefCell<Option<(String, u32)>> = const { RefCell::new(None) });
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| (l.file().to_owned(), l.line()));
        WHERE.with(|w| *w.borrow_mut() = location);
    }));
    let location_of = |f: &mut dyn FnMut()| {
        WHERE.with(|w| w.borrow_mut().take());
        assert!(panic::catch_unwind(AssertUnwindSafe(f)).is_err());
        WHERE
            .with(|w| w.borrow_mut().take())
            .expect("a panic with a location")
    };

    let mut bytes = Py::new_var(Bytes { tag: 0 }, *b"ab").unwrap();
    let shared = bytes.clone();
    let line = line!() + 2;
    let resize = location_of(&mut || {
        let _ = bytes.resize(4, 0);
    });
    let line_lie = line!() + 1;
    let lie = location_of(&mut || drop(Py::new_var(Bytes { tag: 0 }, Lying(3))));
    drop(shared);
    let line_sign = line!() + 1;
    let sign = location_of(&mut || bytes.set_signed_size(5));
    panic::set_hook(previous);

    assert_eq!(resize, (file!().to_owned(), line));
    assert_eq!(lie, (file!().to_owned(), line_lie));
    assert_eq!(sign, (file!().to_owned(), line_sign));

    /// Promises `n` items and yields none.
    struct Lying(usize);
    impl Iterator for Lying {
        type Item = u8;
        fn next(&mut self) -> Option<u8> {
            None
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.0, Some(self.0))
        }
    }
    impl ExactSizeIterator for Lying {}
}
