//! The test types, a drop log, and a count of this thread's live blocks.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::Once;

use objimpl_core::alloc::{self, Allocator, Domain};
use objimpl_core::gc::{self, Traverse, Visit};
use objimpl_core::{Py, PyAny, PyObject, PyObjectType, PyVarObject, TypeObject};

thread_local! {
    /// Object blocks allocated minus freed on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Handles kept by resurrecting `Drop`s.
    pub static SAVED: RefCell<Vec<PyAny>> = const { RefCell::new(Vec::new()) };
}

static UNDER: std::sync::OnceLock<Allocator> = std::sync::OnceLock::new();

fn under() -> &'static Allocator {
    UNDER.get().expect("installed before use")
}

fn count(p: *mut c_void, delta: isize) -> *mut c_void {
    if !p.is_null() {
        // Not after the thread's thread-locals are gone (a freelist's
        // memory goes back then).
        let _ = LIVE.try_with(|live| live.set(live.get() + delta));
    }
    p
}

unsafe extern "C" fn malloc(_: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded to the allocator this one wraps, as it was called.
    count(unsafe { (under().malloc)(under().ctx, size) }, 1)
}
unsafe extern "C" fn calloc(_: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: as in `malloc`.
    count(unsafe { (under().calloc)(under().ctx, n, size) }, 1)
}
unsafe extern "C" fn realloc(_: *mut c_void, p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as in `malloc`.
    let moved = unsafe { (under().realloc)(under().ctx, p, size) };
    if p.is_null() { count(moved, 1) } else { moved }
}
unsafe extern "C" fn free(_: *mut c_void, p: *mut c_void) {
    count(p, -1);
    // SAFETY: as in `malloc`.
    unsafe { (under().free)(under().ctx, p) }
}

/// Counts this thread's object blocks from here on; call first in every test.
pub fn start() -> Baseline {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        UNDER.get_or_init(|| alloc::get_allocator(Domain::Object));
        let counting = Allocator {
            ctx: std::ptr::null_mut(),
            malloc,
            calloc,
            realloc,
            free,
        };
        // SAFETY: the functions forward to the allocator they replace, so
        // a block of either is freed by the one that made it.
        unsafe { alloc::set_allocator(Domain::Object, counting) };
        // The panics of the Drops the collector runs, kept per thread (the
        // tests run in parallel) for `unraised` to give.
        // All of them go to `UNRAISED_ANYWHERE` too: at a thread's exit,
        // its thread-local may be gone.
        objimpl_core::gc::set_unraisable_hook(Some(std::sync::Arc::new(|u| {
            let text = format!("{}: {}", u.type_name(), u.message().unwrap_or("?"));
            UNRAISED_ANYWHERE.lock().unwrap().push(text.clone());
            let _ = UNRAISED.try_with(|list| list.borrow_mut().push(text));
        })));
    });
    objimpl_core::gc::collect();
    Baseline {
        live: live_blocks(),
        log: Log::default(),
    }
}

thread_local! {
    static UNRAISED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Every panic the hook was given, on any thread, thread exits included.
pub static UNRAISED_ANYWHERE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The panics of `Drop`s the collector ran on this thread since the last
/// call, as the unraisable hook got them: `"<type>: <message>"`.
pub fn unraised() -> Vec<String> {
    UNRAISED.with(|list| std::mem::take(&mut *list.borrow_mut()))
}

/// This thread's live object blocks.
pub fn live_blocks() -> isize {
    LIVE.with(Cell::get)
}

/// Where a test started: its live blocks, and the log of its drops.
pub struct Baseline {
    live: isize,
    pub log: Log,
}

impl Baseline {
    /// Asserts that every block made since `start` was freed.
    pub fn assert_nothing_leaked(&self) {
        self.assert_kept(0);
    }

    /// Asserts that every block made since `start` was freed but `kept`
    /// (which a freelist holds).
    pub fn assert_kept(&self, kept: isize) {
        SAVED.with(|saved| saved.borrow_mut().clear());
        assert_eq!(live_blocks() - self.live, kept, "object blocks leaked");
    }
}

/// Which payloads were dropped, in order.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<usize>>>);

impl Log {
    pub fn dropped(&self) -> Vec<usize> {
        self.0.borrow().clone()
    }
    /// Asserts that exactly `ids` were dropped, each once (in any order).
    pub fn assert_dropped_once(&self, ids: impl IntoIterator<Item = usize>) {
        let mut dropped = self.dropped();
        dropped.sort_unstable();
        let mut expected: Vec<usize> = ids.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(dropped, expected);
    }
}

/// What an `Obj`'s `Drop` does besides logging.
#[derive(Clone, Copy, Default, PartialEq)]
pub enum OnDrop {
    #[default]
    Nothing,
    /// Clones its last edge into `SAVED`: resurrects it.
    Resurrect,
    /// Reads its edges' payloads (which the collector refuses).
    ReadEdges,
    /// Panics.
    Panic,
}

/// A graph node of the `gc` kind, with edges to any objects.
pub struct Obj {
    pub id: usize,
    pub edges: RefCell<Vec<PyAny>>,
    pub leaf: Option<Py<Leaf>>,
    pub on_drop: OnDrop,
    log: Log,
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.log.0.borrow_mut().push(self.id);
        match self.on_drop {
            OnDrop::Nothing => {}
            OnDrop::Resurrect => {
                let last = self.edges.borrow().last().cloned();
                SAVED.with(|saved| saved.borrow_mut().extend(last));
            }
            OnDrop::ReadEdges => {
                for edge in self.edges.borrow().iter() {
                    if let Some(obj) = edge.downcast_ref::<Obj>() {
                        let _ = obj.id; // Deref: panics if `obj` is garbage
                    }
                }
            }
            OnDrop::Panic => panic!("Obj {} panics in drop", self.id),
        }
    }
}

static OBJ_TYPE: TypeObject = TypeObject::new_gc::<Obj>(c"Obj");
// SAFETY: TYPE is a static built by `TypeObject::new_gc::<Obj>`, for Obj alone.
unsafe impl PyObjectType for Obj {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &OBJ_TYPE;
}
// SAFETY: visits the handles `edges` and `leaf` own, each once.
unsafe impl Traverse for Obj {
    fn traverse(&self, visit: &mut Visit<'_>) {
        self.edges.traverse(visit);
        self.leaf.traverse(visit);
    }
}

/// A `gc` var object whose items are references: a tuple.
pub struct Tup {
    pub id: usize,
    log: Log,
}

impl Drop for Tup {
    fn drop(&mut self) {
        self.log.0.borrow_mut().push(self.id);
    }
}

static TUP_TYPE: TypeObject = TypeObject::new_gc::<Tup>(c"Tup");
// SAFETY: TYPE is a static built by `TypeObject::new_gc::<Tup>`, for Tup alone.
unsafe impl PyObjectType for Tup {
    type Header = PyVarObject;
    type Item = PyAny;
    const TYPE: &'static TypeObject = &TUP_TYPE;
}
// SAFETY: the payload holds no handles; the items are visited by the type.
unsafe impl Traverse for Tup {}

/// A `basic` object, which the collector does not track.
pub struct Leaf {
    pub id: usize,
    log: Log,
}

impl Drop for Leaf {
    fn drop(&mut self) {
        self.log.0.borrow_mut().push(self.id);
    }
}

static LEAF_TYPE: TypeObject = TypeObject::new::<Leaf>(c"Leaf");
// SAFETY: TYPE is a static built by `TypeObject::new::<Leaf>`, for Leaf alone.
unsafe impl PyObjectType for Leaf {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &LEAF_TYPE;
}

impl Log {
    pub fn obj(&self, id: usize) -> Py<Obj> {
        self.obj_with(id, OnDrop::Nothing, None)
    }
    pub fn obj_with(&self, id: usize, on_drop: OnDrop, leaf: Option<Py<Leaf>>) -> Py<Obj> {
        Py::new(Obj {
            id,
            edges: RefCell::default(),
            leaf,
            on_drop,
            log: self.clone(),
        })
        .expect("memory")
    }
    pub fn tup(&self, id: usize, items: Vec<PyAny>) -> Py<Tup> {
        Py::new_var(
            Tup {
                id,
                log: self.clone(),
            },
            items,
        )
        .expect("memory")
    }
    pub fn leaf(&self, id: usize) -> Py<Leaf> {
        Py::new(Leaf {
            id,
            log: self.clone(),
        })
        .expect("memory")
    }
}

/// A `Tup` payload, for building one by hand.
pub fn tup_payload(log: &Log, id: usize) -> Tup {
    Tup {
        id,
        log: log.clone(),
    }
}

/// Adds an edge `from -> to`.
pub fn link<T: PyObjectType>(from: &Py<Obj>, to: &Py<T>) {
    from.edges.borrow_mut().push(PyAny::from(to.clone()));
}

/// Runs `make`, which allocates one `gc` object, past the threshold of
/// generation 0 while a garbage cycle (`garbage_id`, made here) has a
/// `Drop` that panics: the collection that allocation starts meets the
/// panic. Returns whether `make` panicked (it must not: the panic goes to
/// the unraisable hook, which this checks); the thresholds are put back.
pub fn through_a_panicking_collection(log: &Log, garbage_id: usize, make: impl FnOnce()) -> bool {
    let _ = unraised();
    let garbage = log.obj_with(garbage_id, OnDrop::Panic, None);
    link(&garbage, &garbage);
    drop(garbage);
    let thresholds = gc::get_threshold();
    // The garbage was counted: one allocation more passes the threshold.
    let [_, older, oldest] = thresholds;
    gc::set_threshold([gc::get_count()[0].max(1), older, oldest]);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(make));
    gc::set_threshold(thresholds);
    assert!(
        log.dropped().contains(&garbage_id),
        "no collection ran: the garbage is still there"
    );
    assert_eq!(
        unraised(),
        [format!("Obj: Obj {garbage_id} panics in drop")],
        "the Drop's panic went to the unraisable hook"
    );
    outcome.is_err()
}

/// Fewer objects under Miri, which runs a thousand times slower.
pub const fn scaled(n: usize, under_miri: usize) -> usize {
    if cfg!(miri) { under_miri } else { n }
}
