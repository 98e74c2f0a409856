//! Freelists: a type keeps the memory of its last freed objects, per
//! thread, and its next objects reuse it (CPython's `float` freelist;
//! PyO3's `#[pyclass(freelist = N)]`). `#[pyobject(basic, freelist = N)]`
//! gives a fixed-size type one of up to `N` objects.
//!
//! Reusing a block skips the pool's size-class lookup, its free-list pop
//! and, for `gc` types, nothing else changes: an object from the freelist
//! is made and tracked as a fresh one. When the thread ends, what the
//! freelists hold goes back to the pool. [`stats`] lists the calling
//! thread's freelists, and `alloc::debug_malloc_stats` prints them as
//! CPython's `sys._debugmallocstats()` prints its own.
//!
//! ```
//! use objimpl::prelude::*;
//! use objimpl::freelist;
//!
//! #[pyobject(basic, freelist = 4)]
//! #[derive(Debug)]
//! pub struct Pooled { pub value: f64 }
//!
//! let first = Py::new(Pooled { value: 1.0 })?;
//! let address = first.as_ptr();
//! drop(first); // kept by the freelist...
//! let second = Py::new(Pooled { value: 2.0 })?;
//! assert_eq!(second.as_ptr(), address); // ...and reused
//! let stats = freelist::stats();
//! assert!(stats.iter().any(|s| s.type_name == "Pooled" && s.capacity == 4));
//! # Ok::<(), objimpl::MemoryError>(())
//! ```

use core::cell::{Cell, RefCell};
use core::ptr;

use crate::{PyObject, TypeObject, alloc};

/// One type's freelist on one thread: freed objects' memory, linked
/// through its first word. Made by `#[pyobject(freelist = N)]` in a
/// `thread_local!`, and reached through [`PyObjectType::freelist`](crate::PyObjectType::freelist).
pub struct FreeList {
    top: Cell<*mut Link>,
    len: Cell<usize>,
    capacity: usize,
    tp: &'static TypeObject,
    registered: Cell<bool>,
}

/// What a block on the list holds: the next one.
struct Link {
    next: *mut Link,
}

/// The figures of one freelist ([`stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FreeListStats {
    /// The type's name (`tp_name`).
    pub type_name: &'static str,
    /// The bytes of one object (`tp_basicsize`).
    pub object_size: usize,
    /// The objects' memory it holds now.
    pub free: usize,
    /// The most it holds (`N`).
    pub capacity: usize,
}

thread_local! {
    /// This thread's freelists that have held something: for `stats`, and
    /// to give their memory back when the thread ends. The lists themselves
    /// have no destructor, so that reaching one is a plain thread-local
    /// access, without the lazy registration a destructor costs each time.
    static REGISTRY: Registry = const { Registry(RefCell::new(Vec::new())) };
}

/// The freelists of one thread that have held something.
struct Registry(RefCell<Vec<*const FreeList>>);

impl Drop for Registry {
    /// At thread exit: every list's memory goes back to the pool, and the
    /// lists take nothing more (a push after this finds no registry).
    fn drop(&mut self) {
        for &list in self.0.get_mut().iter() {
            // SAFETY: a registered list is a thread-local of this thread
            // without a destructor, so it lives as long as the thread.
            let list = unsafe { &*list };
            list.registered.set(false);
            list.drain();
        }
    }
}

impl FreeList {
    /// An empty freelist for objects of `tp` (fixed-size), of at most
    /// `capacity` objects.
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::freelist::FreeList;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// thread_local!(static UNITS: FreeList = const { FreeList::new(Unit::TYPE, 8) });
    /// assert_eq!(UNITS.with(FreeList::len), 0);
    /// ```
    pub const fn new(tp: &'static TypeObject, capacity: usize) -> FreeList {
        FreeList {
            top: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
            capacity,
            tp,
            registered: Cell::new(false),
        }
    }

    /// The objects' memory held now.
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::freelist::FreeList;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// assert_eq!(FreeList::new(Unit::TYPE, 8).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether this is a freelist of objects of `tp`.
    #[inline]
    pub(crate) fn is_for(&self, tp: &TypeObject) -> bool {
        ptr::eq(self.tp, tp)
    }

    /// Whether it holds nothing.
    ///
    /// ```
    /// use objimpl::prelude::*;
    /// use objimpl::freelist::FreeList;
    ///
    /// #[pyobject(basic)]
    /// #[derive(Debug)]
    /// pub struct Unit {}
    ///
    /// assert!(FreeList::new(Unit::TYPE, 8).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// The memory of a freed object, for a new one of the same type; its
    /// contents are garbage. `None` if the list is empty.
    #[inline]
    pub(crate) fn pop(&self) -> Option<*mut PyObject> {
        let top = self.top.get();
        if top.is_null() {
            return None;
        }
        // SAFETY: blocks on the list are this thread's, each holding a `Link`.
        self.top.set(unsafe { (*top).next });
        self.len.set(self.len.get() - 1);
        Some(top.cast())
    }

    /// Keeps the memory of object `op`, whose contents are dropped; false
    /// (and nothing done) if the list is full.
    ///
    /// # Safety
    ///
    /// - `op` is an object of this list's type, made by `Py::new` on this
    ///   thread, untracked, with nothing left to drop and no reference left.
    #[inline]
    pub(crate) unsafe fn push(&self, op: *mut PyObject) -> bool {
        let len = self.len.get();
        if len >= self.capacity {
            return false;
        }
        if !self.registered.get() && !self.register() {
            // The thread is ending: nothing would give the memory back.
            return false;
        }
        let link = op.cast::<Link>();
        // SAFETY: the object's memory is ours now, and holds at least a
        // header, which has room for a `Link`.
        unsafe {
            link.write(Link {
                next: self.top.get(),
            })
        };
        self.top.set(link);
        self.len.set(len + 1);
        true
    }

    /// Puts the list on this thread's registry; false if the thread is
    /// ending and the registry is gone.
    #[cold]
    fn register(&self) -> bool {
        alloc::report_free_objects_with(&FREE_OBJECTS);
        let this: *const FreeList = self;
        let registered = REGISTRY.try_with(|r| r.0.borrow_mut().push(this)).is_ok();
        self.registered.set(registered);
        registered
    }

    /// Gives the memory the list holds back through the type's `tp_free`.
    fn drain(&self) {
        let free = self.tp.free();
        while let Some(op) = self.pop() {
            if let Some(free) = free {
                // SAFETY: memory of an object of `tp`, with nothing in it,
                // which `tp_free` returns to where it came from.
                unsafe { free(op.cast()) };
            }
        }
    }

    fn stats(&self) -> FreeListStats {
        FreeListStats {
            type_name: self.tp.name(),
            object_size: self.tp.basicsize(),
            free: self.len(),
            capacity: self.capacity,
        }
    }
}

impl core::fmt::Debug for FreeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.stats(), f)
    }
}

/// The calling thread's freelists that have held something, with what
/// they hold now.
///
/// ```
/// use objimpl::prelude::*;
/// use objimpl::freelist;
///
/// #[pyobject(basic, freelist = 4)]
/// #[derive(Debug)]
/// pub struct Pooled { pub value: f64 }
///
/// drop(Py::new(Pooled { value: 0.5 })?);
/// let pooled = freelist::stats().into_iter().find(|s| s.type_name == "Pooled").unwrap();
/// assert_eq!((pooled.free, pooled.object_size), (1, 24));
/// # Ok::<(), objimpl::MemoryError>(())
/// ```
pub fn stats() -> Vec<FreeListStats> {
    REGISTRY
        .try_with(|r| {
            r.0.borrow()
                .iter()
                // SAFETY: a registered freelist is a thread-local of this
                // thread without a destructor: it lives as long as the thread.
                .map(|&list| unsafe { (*list).stats() })
                .collect()
        })
        .unwrap_or_default()
}

/// [`stats`] as `alloc::debug_malloc_stats` prints it: handed down to the
/// allocator, which knows no freelist, when the first list keeps an object.
static FREE_OBJECTS: alloc::FreeObjectsReporter = alloc::FreeObjectsReporter {
    report: free_objects,
};

fn free_objects() -> Vec<alloc::FreeObjects> {
    stats()
        .into_iter()
        .map(|list| alloc::FreeObjects {
            type_name: list.type_name,
            object_size: list.object_size,
            count: list.free,
        })
        .collect()
}
