//! [`Traverse`]: how the collector finds the references an object holds
//! (CPython's `tp_traverse` and `Py_VISIT`).

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::marker::PhantomData;

use crate::object::{PyObject, VisitProc};

/// What a [`Traverse`] implementation reports the handles it holds to:
/// CPython's `visitproc` and its `arg`, as one value.
///
/// Nothing but the `Traverse` impls of [`Py`](crate::Py) and [`PyAny`](crate::PyAny) calls it; a
/// container's impl passes it on to its elements.
pub struct Visit<'a> {
    proc: VisitProc,
    arg: *mut c_void,
    _arg: PhantomData<&'a mut c_void>,
}

impl Visit<'_> {
    /// # Safety
    ///
    /// - `proc` may be called with `arg` and any live object.
    pub(crate) unsafe fn new(proc: VisitProc, arg: *mut c_void) -> Self {
        Visit {
            proc,
            arg,
            _arg: PhantomData,
        }
    }

    /// `Py_VISIT`: reports one reference. Its return value (non-zero to
    /// stop, in C) is ignored: objimpl's visitors never stop a traversal.
    #[inline]
    pub(crate) fn object(&mut self, op: *mut PyObject) {
        // SAFETY: `op` is a live object (the caller holds a handle to it),
        // and `new`'s caller promised `proc` may be called with it.
        unsafe { (self.proc)(op, self.arg) };
    }
}

impl core::fmt::Debug for Visit<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Visit")
    }
}

/// A value that can hold handles ([`Py`](crate::Py), [`PyAny`](crate::PyAny)) the cycle collector
/// must see: `traverse` reports each of them to `visit` (CPython's `tp_traverse`).
///
/// `#[pyobject(gc)]` implements it for the payload, field by field, so a
/// `gc` type's traversal is never written by hand, and `#[derive(Traverse)]`
/// (from the facade, `objimpl::gc::Traverse`) does the same for a struct or
/// enum of your own, with no `unsafe`. Every field's type must implement it:
/// objimpl does so for the standard library's containers (`Option`, `Box`,
/// `Vec`, `VecDeque`, arrays, slices, tuples, the maps and sets), for
/// `RefCell<T>`, `OnceCell<T>`, `OnceLock<T>`, `Mutex<T>` and `RwLock<T>`
/// (a locked one is skipped, as a mutably borrowed `RefCell`), for
/// `Cell<Option<Py<T>>>` and `Cell<Option<PyAny>>`, and (as doing nothing)
/// for the types that hold no handles: numbers, `bool`, `char`, strings,
/// `Cell`s of those, weak references. `Rc` and `Arc` have no impl on
/// purpose: one may be shared by several objects, and a handle seen through
/// each of them would be counted twice.
///
/// ```
/// use std::cell::RefCell;
/// use objimpl::gc::Traverse;
/// use objimpl::prelude::*;
///
/// /// A container of our own: an edge list.
/// #[derive(Traverse)]
/// pub struct Edges { to: Vec<Py<Node>>, weight: Vec<f64> }
///
/// #[pyobject(gc)]
/// pub struct Node { edges: RefCell<Edges> }
///
/// let n = Node::new(Node { edges: RefCell::new(Edges { to: vec![], weight: vec![] }) })?;
/// n.edges.borrow_mut().to.push(n.clone());
/// drop(n);
/// assert_eq!(gc::collect(), 1);
/// # Ok::<(), MemoryError>(())
/// ```
///
/// Visiting fewer handles than a value holds is safe: an unseen reference
/// counts as one from outside, and keeps its object (and all it reaches)
/// alive. That is what the default `traverse` (which visits nothing) and
/// `#[pyobject(skip)]` do, and what `RefCell` does while it is mutably
/// borrowed.
///
/// # Safety
///
/// `traverse` visits, through the `Traverse` impls of what `self` contains,
/// only handles that `self` owns (keeps a strong reference through, which
/// it will give up when dropped), each at most once per call. It does not
/// create, clone, drop or move handles, and does not panic. A handle
/// visited that `self` does not own (or one visited twice) makes the
/// collector count a reference that is not there, and take an object still
/// in use for garbage: its payload is dropped while handles to it remain,
/// which find it empty from then on ([`Py::try_get`](crate::Py::try_get)
/// gives `None`); its memory stays until the last handle goes.
///
/// By hand, for a type the derive cannot see into:
///
/// ```
/// use objimpl::gc::{Traverse, Visit};
/// # use objimpl::prelude::*;
/// # #[pyobject(gc)] pub struct Node;
///
/// /// Handles kept in a ring buffer's live part only.
/// struct Ring { slots: Vec<Option<Py<Node>>>, live: std::ops::Range<usize> }
///
/// // SAFETY: visits the handles the live slots own, each once.
/// unsafe impl Traverse for Ring {
///     fn traverse(&self, visit: &mut Visit<'_>) {
///         if let Some(live) = self.slots.get(self.live.clone()) {
///             live.traverse(visit); // (`get`: an index would panic, which is not allowed)
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be traversed by the cycle collector",
    label = "`{Self}` does not implement `Traverse`",
    note = "derive it (`#[derive(objimpl::gc::Traverse)]` visits every field, and needs no `unsafe`), implement it by hand to report the handles the type holds, or mark the field `#[pyobject(skip)]` (`#[traverse(skip)]` in a derive) if the collector need not see them (a skipped handle keeps its object alive, and a cycle through it is never collected)",
    note = "`Rc` and `Arc` have no impl on purpose: a value they share may be reached through several objects, and its handles would be counted once for each; hold a `Py` (an object is the shared value) or skip the field"
)]
pub unsafe trait Traverse {
    /// Reports every handle `self` owns to `visit`. The default reports
    /// none, which is right for a type that holds no handles.
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        let _ = visit;
    }
}

/// Types that hold no handles: their traversal does nothing.
macro_rules! leaf {
    ($($ty:ty),* $(,)?) => {
        $(
            // SAFETY: visits nothing.
            #[diagnostic::do_not_recommend]
            unsafe impl Traverse for $ty {}
        )*
    };
}

/// `Copy` types that hold no handles: they, and `Cell`s of them.
macro_rules! copy_leaf {
    ($($ty:ty),* $(,)?) => {
        leaf!($($ty, Cell<$ty>),*);
    };
}

copy_leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    &'static str,
    core::time::Duration,
    std::time::Instant,
);

leaf!(
    str,
    String,
    core::ffi::CStr,
    std::ffi::CString,
    std::ffi::OsStr,
    std::ffi::OsString,
    std::path::Path,
    std::path::PathBuf,
    std::time::SystemTime,
    core::sync::atomic::AtomicBool,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicIsize,
    core::sync::atomic::AtomicU32,
    core::sync::atomic::AtomicI32,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicI64,
);

// SAFETY: visits nothing.
#[diagnostic::do_not_recommend]
unsafe impl<T: ?Sized> Traverse for PhantomData<T> {}
/// A `RefCell` is traversed through a shared borrow. While it is mutably
/// borrowed (a collection started by an allocation inside a `borrow_mut()`
/// scope), its contents are not visited: they are kept alive for this
/// collection, and seen by the next.
// SAFETY: visits what the contents own, through a checked borrow.
unsafe impl<T: ?Sized + Traverse> Traverse for RefCell<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        if let Ok(contents) = self.try_borrow() {
            contents.traverse(visit);
        }
    }
}

// SAFETY: visits what the contents own.
unsafe impl<T: Traverse> Traverse for Option<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        if let Some(value) = self {
            value.traverse(visit);
        }
    }
}

// SAFETY: visits what the contents own.
#[diagnostic::do_not_recommend]
unsafe impl<T: Traverse, E: Traverse> Traverse for Result<T, E> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        match self {
            Ok(value) => value.traverse(visit),
            Err(error) => error.traverse(visit),
        }
    }
}

// SAFETY: a `Box` owns its contents: visits what they own.
unsafe impl<T: ?Sized + Traverse> Traverse for Box<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        (**self).traverse(visit);
    }
}

/// A `OnceCell` is traversed once set; before, it holds nothing.
// SAFETY: visits what the contents own, if any.
unsafe impl<T: Traverse> Traverse for core::cell::OnceCell<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        if let Some(value) = self.get() {
            value.traverse(visit);
        }
    }
}

/// A `Mutex` is traversed if it can be locked at once; a locked one is
/// skipped, as a mutably borrowed `RefCell` is (its contents stay alive for
/// this collection). A poisoned one is traversed: its contents are still
/// there, and still owned.
// SAFETY: visits what the contents own, under the lock; never blocks.
unsafe impl<T: ?Sized + Traverse> Traverse for std::sync::Mutex<T> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        use std::sync::TryLockError;
        match self.try_lock() {
            Ok(contents) => contents.traverse(visit),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.get_ref().traverse(visit),
            Err(TryLockError::WouldBlock) => {}
        }
    }
}

/// An `RwLock` is traversed if it can be read at once; one being written is
/// skipped, as a locked `Mutex` is.
// SAFETY: visits what the contents own, under a read lock; never blocks.
unsafe impl<T: ?Sized + Traverse> Traverse for std::sync::RwLock<T> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        use std::sync::TryLockError;
        match self.try_read() {
            Ok(contents) => contents.traverse(visit),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.get_ref().traverse(visit),
            Err(TryLockError::WouldBlock) => {}
        }
    }
}

/// A `OnceLock`, as a `OnceCell`.
// SAFETY: visits what the contents own, if any.
#[diagnostic::do_not_recommend]
unsafe impl<T: Traverse> Traverse for std::sync::OnceLock<T> {
    #[inline]
    fn traverse(&self, visit: &mut Visit<'_>) {
        if let Some(value) = self.get() {
            value.traverse(visit);
        }
    }
}

// SAFETY: visits what each element owns.
#[diagnostic::do_not_recommend]
unsafe impl<T: Traverse> Traverse for [T] {
    fn traverse(&self, visit: &mut Visit<'_>) {
        for value in self {
            value.traverse(visit);
        }
    }
}

// SAFETY: visits what each element owns.
#[diagnostic::do_not_recommend]
unsafe impl<T: Traverse, const N: usize> Traverse for [T; N] {
    fn traverse(&self, visit: &mut Visit<'_>) {
        self.as_slice().traverse(visit);
    }
}

// SAFETY: visits what each element owns.
unsafe impl<T: Traverse> Traverse for Vec<T> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        self.as_slice().traverse(visit);
    }
}

/// Collections traversed element by element.
macro_rules! collection {
    ($($ty:ident<$($param:ident),*>),* $(,)?) => {
        $(
            // SAFETY: visits what each element owns, once.
            #[diagnostic::do_not_recommend]
            unsafe impl<$($param: Traverse),*> Traverse for $ty<$($param),*> {
                fn traverse(&self, visit: &mut Visit<'_>) {
                    for value in self {
                        value.traverse(visit);
                    }
                }
            }
        )*
    };
}

use std::collections::{BTreeSet, BinaryHeap, LinkedList, VecDeque};
collection!(VecDeque<T>, LinkedList<T>, BinaryHeap<T>, BTreeSet<T>);

// SAFETY: visits what each key and value owns, once.
#[diagnostic::do_not_recommend]
unsafe impl<K: Traverse, V: Traverse> Traverse for std::collections::BTreeMap<K, V> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        for (key, value) in self {
            key.traverse(visit);
            value.traverse(visit);
        }
    }
}

// SAFETY: visits what each key and value owns, once.
unsafe impl<K: Traverse, V: Traverse, S> Traverse for std::collections::HashMap<K, V, S> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        for (key, value) in self {
            key.traverse(visit);
            value.traverse(visit);
        }
    }
}

// SAFETY: visits what each element owns, once.
#[diagnostic::do_not_recommend]
unsafe impl<T: Traverse, S> Traverse for std::collections::HashSet<T, S> {
    fn traverse(&self, visit: &mut Visit<'_>) {
        for value in self {
            value.traverse(visit);
        }
    }
}

/// Tuples, traversed field by field.
macro_rules! tuple {
    ($($name:ident)+) => {
        // SAFETY: visits what each field owns.
        #[diagnostic::do_not_recommend]
        unsafe impl<$($name: Traverse),+> Traverse for ($($name,)+) {
            #[allow(non_snake_case)]
            fn traverse(&self, visit: &mut Visit<'_>) {
                let ($($name,)+) = self;
                $($name.traverse(visit);)+
            }
        }
    };
}

tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);
tuple!(A B C D E F G);
tuple!(A B C D E F G H);
