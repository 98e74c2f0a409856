//! Var-size objects: `Py<T>` with items after the payload (`PyObject_NewVar`,
//! `Py_SIZE`, `_PyObject_Resize`).

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use super::handle::collected;
use super::kind;
use super::layout::{items_ptr, payload_ptr, var_len};
use super::{BasicObject, Py, PyObjectType};
use crate::MemoryError;
use crate::object::{PyObject, PyVarObject};

impl<T: PyObjectType<Header = PyVarObject>> Py<T> {
    /// `PyObject_NewVar`: allocates an object of type `T::TYPE` with room for
    /// the items, moves `value` and the items into it, and sets `ob_size`.
    ///
    /// An iterator that knows its length (its `size_hint` is exact, as for
    /// an array, a `Vec`, a range of `usize` or a `map` over one) is read
    /// straight into the object; any other (a `filter`, a range of `u64`) is
    /// collected first.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the object's size overflows or exceeds `isize::MAX`,
    /// or the memory could not be had (for the object, or for the items of
    /// an iterator that does not know its length, which are collected
    /// fallibly, never aborting). No item is taken from an iterator that
    /// knows its length; `value` (and items collected) are dropped.
    ///
    /// # Panics
    ///
    /// If the iterator yields fewer or more items than its exact `size_hint`
    /// promised. The items already made and `value` are dropped and the
    /// memory freed.
    ///
    /// ```
    /// # use objimpl::PyVarObject;
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `int`: 30-bit digits are the items.
    /// #[pyobject(basic, item = u32, name = "int")]
    /// #[derive(Debug)]
    /// pub struct Long { pub sign: i8 }
    ///
    /// let n = Py::new_var(Long { sign: 1 }, [7, 9, 11])?;
    /// assert_eq!(n.items(), &[7, 9, 11]);
    /// let odd = Py::new_var(Long { sign: 1 }, (0..10u32).filter(|d| d % 2 == 1))?;
    /// assert_eq!(odd.items(), &[1, 3, 5, 7, 9]);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    #[track_caller]
    pub fn new_var<I>(value: T, items: I) -> Result<Py<T>, MemoryError>
    where
        I: IntoIterator<Item = T::Item>,
    {
        let items = items.into_iter();
        match items.size_hint() {
            (lower, Some(upper)) if lower == upper => Self::new_var_exact(value, items, lower),
            _ => {
                let items = collect_fallibly(items)?;
                let len = items.len();
                Self::new_var_exact(value, items.into_iter(), len)
            }
        }
    }

    /// `new_var` from a slice, cloning each item.
    ///
    /// # Errors
    ///
    /// As [`new_var`](Self::new_var); nothing is cloned then.
    ///
    /// # Panics
    ///
    /// As [`new_var`](Self::new_var).
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `bytes`: the bytes are the items.
    /// #[pyobject(basic, item = u8, name = "bytes")]
    /// #[derive(Debug)]
    /// pub struct Bytes { pub hash: isize }
    ///
    /// let b = Py::new_var_from_slice(Bytes { hash: -1 }, b"hello")?;
    /// assert_eq!(b.items(), b"hello");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[track_caller]
    pub fn new_var_from_slice(value: T, items: &[T::Item]) -> Result<Py<T>, MemoryError>
    where
        T::Item: Clone,
    {
        Self::new_var_exact(value, items.iter().cloned(), items.len())
    }

    /// `new_var` with `len` items, item `i` made by `f(i)`.
    ///
    /// # Errors
    ///
    /// As [`new_var`](Self::new_var); `f` is not called then.
    ///
    /// # Panics
    ///
    /// If `f` panics (the items made so far and `value` are dropped, the
    /// memory freed), or as [`new_var`](Self::new_var).
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `int`: 30-bit digits are the items.
    /// #[pyobject(basic, item = u32, name = "int")]
    /// #[derive(Debug)]
    /// pub struct Long { pub sign: i8 }
    ///
    /// let squares = Py::new_var_with(Long { sign: 1 }, 5, |i| (i * i) as u32)?;
    /// assert_eq!(squares.items(), &[0, 1, 4, 9, 16]);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[track_caller]
    pub fn new_var_with(
        value: T,
        len: usize,
        f: impl FnMut(usize) -> T::Item,
    ) -> Result<Py<T>, MemoryError> {
        Self::new_var_exact(value, (0..len).map(f), len)
    }

    /// `new_var` from an iterator that promises `len` items.
    #[inline(always)]
    #[track_caller]
    fn new_var_exact(
        value: T,
        mut items: impl Iterator<Item = T::Item>,
        len: usize,
    ) -> Result<Py<T>, MemoryError> {
        let () = Self::CHECKED;
        let op = kind::alloc::<T>(len)?;

        // Until the object is complete, this frees it (and the items written
        // so far) if the iterator lies or panics.
        let mut partial = PartialObject::<T> {
            op,
            written: 0,
            _items: PhantomData,
        };
        let first = items_ptr::<T>(op);
        if core::mem::needs_drop::<T::Item>() {
            while partial.written < len {
                let Some(item) = items.next() else {
                    items_missing(partial.written, len)
                };
                // SAFETY: `written < len`, and the object has room for `len`
                // items from `first`; the slot is uninitialised.
                unsafe { first.add(partial.written).write(item) };
                partial.written += 1;
            }
        } else {
            // Items without drop glue: if the iterator panics, the guard has
            // only the memory to free, so `written` stays 0 and the count
            // lives in a register (the loop can be unrolled).
            for written in 0..len {
                let Some(item) = items.next() else {
                    items_missing(written, len)
                };
                // SAFETY: `written < len`, as above.
                unsafe { first.add(written).write(item) };
            }
        }
        if items.next().is_some() {
            panic!("Py::new_var: the iterator yielded more items than the {len} it promised");
        }
        core::mem::forget(partial);
        // SAFETY: the object's basicsize covers the payload, which is
        // uninitialised and written once here.
        unsafe { payload_ptr::<T>(op).write(value) };
        // SAFETY: the object is complete.
        Ok(unsafe { Py::complete(op) })
    }

    /// The number of items: the magnitude of `Py_SIZE`, whose sign a type may
    /// use for something else (CPython's `int` keeps the number's sign there).
    ///
    /// ```
    /// # use objimpl::PyVarObject;
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `bytes`: the bytes are the items.
    /// #[pyobject(basic, item = u8, name = "bytes")]
    /// #[derive(Debug)]
    /// pub struct Bytes { pub hash: isize }
    ///
    /// assert_eq!(Py::new_var(Bytes { hash: -1 }, *b"spam")?.len(), 4);
    /// assert_eq!(Py::new(Bytes { hash: -1 })?.len(), 0);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    #[allow(clippy::len_without_is_empty)] // `items().is_empty()` says it
    pub fn len(&self) -> usize {
        // SAFETY: `self` keeps the object, of type `T::TYPE`, alive.
        unsafe { var_len::<T>(self.ptr) }
    }

    /// `Py_SIZE`: `ob_size` with its sign, for a type that keeps one there
    /// (CPython's `int` keeps the number's sign, `len()` is its magnitude).
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `int`: 30-bit digits are the items.
    /// #[pyobject(basic, item = u32, name = "int")]
    /// #[derive(Debug)]
    /// pub struct Long { pub sign: i8 }
    ///
    /// let mut n = Py::new_var(Long { sign: 0 }, [5, 1])?;
    /// assert_eq!(n.signed_size(), 2);
    /// n.set_signed_size(-2);
    /// assert_eq!((n.signed_size(), n.len()), (-2, 2));
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn signed_size(&self) -> isize {
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject.
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size }
    }

    /// `Py_SET_SIZE`, for the sign only: sets `ob_size` to `size`, whose
    /// magnitude is the number of items, which stay as they are.
    ///
    /// # Panics
    ///
    /// If `size.unsigned_abs() != self.len()`: changing the number of items
    /// is [`resize`](Self::resize)'s job.
    #[inline]
    #[track_caller]
    pub fn set_signed_size(&mut self, size: isize) {
        assert_eq!(
            size.unsigned_abs(),
            self.len(),
            "set_signed_size changes the sign of ob_size only; use resize for the number of items"
        );
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject,
        // and nothing borrows `ob_size` (readers copy it).
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size = size };
    }

    /// The items, in order.
    ///
    /// ```
    /// # use objimpl::PyVarObject;
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `bytes`: the bytes are the items.
    /// #[pyobject(basic, item = u8, name = "bytes")]
    /// #[derive(Debug)]
    /// pub struct Bytes { pub hash: isize }
    ///
    /// let b = Py::new_var(Bytes { hash: -1 }, *b"spam")?;
    /// assert_eq!(b.items(), b"spam");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn items(&self) -> &[T::Item] {
        self.all_items()
    }

    /// The items, mutably, while this is the only reference. For `basic`
    /// types only, as [`get_mut`](Self::get_mut).
    ///
    /// ```
    /// # use objimpl::PyVarObject;
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `bytes`: the bytes are the items.
    /// #[pyobject(basic, item = u8, name = "bytes")]
    /// #[derive(Debug)]
    /// pub struct Bytes { pub hash: isize }
    ///
    /// let mut b = Py::new_var(Bytes { hash: -1 }, *b"spam")?;
    /// b.items_mut().unwrap()[0] = b'S';
    /// assert_eq!(b.items(), b"Spam");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[inline]
    pub fn items_mut(&mut self) -> Option<&mut [T::Item]>
    where
        T: BasicObject,
    {
        const {
            assert!(
                !kind::is_gc::<T>(),
                "Py::items_mut is not available for gc types: the cycle collector may read \
                 the items at any allocation; make the item type a Cell or RefCell"
            )
        };
        if !self.is_unique() {
            return None;
        }
        // SAFETY: as in `items`, and this is the only reference to the
        // object, kept so by `&mut self` for the borrow's lifetime.
        Some(unsafe { core::slice::from_raw_parts_mut(items_ptr::<T>(self.ptr), self.len()) })
    }

    /// Changes the number of items to `new_len`, as `Vec::resize`: drops
    /// the items past it, or appends clones of `value`. See
    /// [`resize_with`](Self::resize_with).
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the new size overflows or the memory could not be
    /// had; the object is unchanged.
    ///
    /// # Panics
    ///
    /// If the object is shared.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `bytes`: the bytes are the items.
    /// #[pyobject(basic, item = u8, name = "bytes")]
    /// #[derive(Debug)]
    /// pub struct Bytes { pub hash: isize }
    ///
    /// let mut b = Py::new_var_from_slice(Bytes { hash: -1 }, b"spam")?;
    /// b.resize(6, b'!')?;
    /// assert_eq!(b.items(), b"spam!!");
    /// b.resize(2, 0)?;
    /// assert_eq!(b.items(), b"sp");
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[track_caller]
    pub fn resize(&mut self, new_len: usize, value: T::Item) -> Result<(), MemoryError>
    where
        T::Item: Clone,
    {
        self.resize_with(new_len, || value.clone())
    }

    /// Changes the number of items to `new_len` (CPython's
    /// `_PyBytes_Resize`, `_PyObject_GC_Resize`): drops the items past it,
    /// or appends `f()` for each new one. The memory is reallocated, in
    /// place when the block's size class allows it, so the object may move;
    /// the sign of `ob_size` is kept (0 items have none to keep).
    ///
    /// # Errors
    ///
    /// [`MemoryError`] if the new size overflows or the memory could not be
    /// had; the object is unchanged.
    ///
    /// # Panics
    ///
    /// If the object is shared: other references may be reading the items
    /// it would move (CPython refuses the same). A panic in `f` leaves the
    /// items made so far in the object.
    ///
    /// ```
    /// use objimpl::prelude::*;
    ///
    /// /// CPython's `int`: 30-bit digits are the items.
    /// #[pyobject(basic, item = u32, name = "int")]
    /// #[derive(Debug)]
    /// pub struct Long { pub sign: i8 }
    ///
    /// let mut n = Py::new_var(Long { sign: 1 }, [1, 2])?;
    /// let mut next = 2;
    /// n.resize_with(5, || { next += 1; next })?;
    /// assert_eq!(n.items(), &[1, 2, 3, 4, 5]);
    /// # Ok::<(), objimpl::MemoryError>(())
    /// ```
    #[track_caller]
    pub fn resize_with(
        &mut self,
        new_len: usize,
        f: impl FnMut() -> T::Item,
    ) -> Result<(), MemoryError> {
        assert_eq!(
            self.refcnt(),
            1,
            "Py::resize of a shared object: other references may be reading its items"
        );
        if self.is_unreadable() {
            collected(T::TYPE);
        }
        if !kind::is_gc::<T>() {
            return self.resize_untracked(new_len, f);
        }
        // The object may move, and `f` may allocate (and so collect): the
        // collector must not see it until it is whole again.
        // SAFETY: `self` keeps a live object of this thread.
        unsafe { kind::untrack::<T>(self.ptr) };
        let outcome = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            self.resize_untracked(new_len, f)
        }));
        // SAFETY: the object is complete again (its `ob_size` counts the
        // items written), untracked, of this thread.
        unsafe { kind::track::<T>(self.ptr) };
        outcome.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    }

    /// `resize_with` on an object the collector does not see.
    fn resize_untracked(
        &mut self,
        new_len: usize,
        mut f: impl FnMut() -> T::Item,
    ) -> Result<(), MemoryError> {
        let len = self.len();
        let size = crate::var_size(T::TYPE, new_len).ok_or(MemoryError)?;
        if new_len < len {
            // Shorter first, so that a panicking drop cannot drop twice.
            self.set_len_keeping_sign(new_len);
            let tail = ptr::slice_from_raw_parts_mut(
                items_ptr::<T>(self.ptr).wrapping_add(new_len),
                len - new_len,
            );
            // SAFETY: items `new_len..len` were initialised and are no
            // longer counted; nobody else can see them (the object is unique).
            unsafe { ptr::drop_in_place(tail) };
        }
        if new_len != len {
            // The object's memory came from the object family: its type's
            // `tp_free` is `object_free`, or `PyObject_GC_Del` for an
            // untracked `gc` object.
            // SAFETY: so it may be resized there; it is unique, and holds
            // `min(len, new_len)` initialised items, all within `size`.
            let moved = unsafe { kind::realloc::<T>(self.ptr, size) };
            match NonNull::new(moved.cast::<PyObject>()) {
                Some(moved) => {
                    self.ptr = moved;
                    if let Some(list) = PyObjectType::weak_list(&**self) {
                        list.retarget(moved.as_ptr());
                    }
                }
                // A shrink that could not move keeps its larger block.
                None if new_len < len => {}
                None => return Err(MemoryError),
            }
        }
        for i in len..new_len {
            let item = f();
            // SAFETY: the block has room for `new_len` items; slot `i` is
            // uninitialised, and counted right after it is written.
            unsafe { items_ptr::<T>(self.ptr).add(i).write(item) };
            self.set_len_keeping_sign(i + 1);
        }
        Ok(())
    }

    /// Sets the magnitude of `ob_size` to `len`, keeping its sign.
    fn set_len_keeping_sign(&mut self, len: usize) {
        let len = len as isize;
        let size = if self.signed_size() < 0 { -len } else { len };
        // SAFETY: `self` keeps the object alive; its header is a PyVarObject.
        unsafe { (*self.ptr.as_ptr().cast::<PyVarObject>()).ob_size = size };
    }
}

/// Frees a var object under construction: its first `written` items are
/// dropped; the payload has not been written.
struct PartialObject<T: PyObjectType> {
    op: NonNull<PyObject>,
    written: usize,
    _items: PhantomData<T::Item>,
}

impl<T: PyObjectType> Drop for PartialObject<T> {
    fn drop(&mut self) {
        let items = ptr::slice_from_raw_parts_mut(items_ptr::<T>(self.op), self.written);
        // SAFETY: exactly the first `written` items were initialised, and
        // nobody else can see the object yet.
        unsafe { ptr::drop_in_place(items) };
        // SAFETY: the object came from `kind::alloc`, was never tracked,
        // and is freed once, here.
        unsafe { kind::free_unfinished::<T>(self.op) };
    }
}

/// `new_var`'s iterator ran dry before the `len` items it promised.
#[cold]
#[inline(never)]
#[track_caller]
fn items_missing(written: usize, len: usize) -> ! {
    panic!("Py::new_var: the iterator yielded {written} items but promised {len}");
}

/// The items of an iterator that does not know its length, in a `Vec` grown
/// with `try_reserve`: a size that cannot be had is a [`MemoryError`], not
/// the abort (or capacity panic) of `collect`.
fn collect_fallibly<I: Iterator>(items: I) -> Result<Vec<I::Item>, MemoryError> {
    let mut vec = Vec::new();
    vec.try_reserve(items.size_hint().0)
        .map_err(|_| MemoryError)?;
    for item in items {
        if vec.len() == vec.capacity() {
            // Amortised doubling, as `push` would, but fallible.
            vec.try_reserve(1).map_err(|_| MemoryError)?;
        }
        vec.push(item);
    }
    Ok(vec)
}
