/// A list whose items are any objects, and which may hold itself.
#[repr(C)]
pub struct List {
    /// Where it was made, for debugging; holds no handles.
    origin: std::rc::Rc<str>,
    /// The list it was copied from.
    parent: std::cell::RefCell<Option<Py<List>>>,
}
const _: () = {
    /// The layout of a `List` object: `PyObject_VAR_HEAD`, then the payload; the items follow it; a GC header (`PyGC_Head`) precedes it in memory.
    #[repr(C)]
    #[allow(dead_code, reason = "only its layout is used, by the checks below")]
    struct ListObject {
        ob_base: ::objimpl::PyVarObject,
        payload: List,
    }
    /// The layout's requirements, each failing with what to change.
    const LAYOUT_IS_VALID: () = {
        ::objimpl::__private::require(
            ::objimpl::__private::align_of::<ListObject>()
                <= ::objimpl::alloc::ALIGNMENT,
            "`List` needs an alignment above 16 bytes, the allocator's: no field of it may be `#[repr(align(N))]` with N > 16",
        );
        ::objimpl::__private::require(
            ::objimpl::__private::size_of::<PyAny>() > 0,
            "items of type `PyAny` take no space: an object with items needs an item type of at least one byte; for an object without items, remove `item = PyAny`",
        );
        ::objimpl::__private::require(
            ::objimpl::__private::align_of::<PyAny>() <= ::objimpl::alloc::ALIGNMENT,
            "items of type `PyAny` need an alignment above 16 bytes, the allocator's: use an item type aligned to 16 bytes or less",
        );
    };
    /// The type object of `List`: its sizes, `tp_dealloc`, `tp_traverse`, `tp_clear` and `tp_free`, computed from its layout.
    static LIST_TYPE: ::objimpl::TypeObject = {
        let () = LAYOUT_IS_VALID;
        ::objimpl::TypeObject::new_gc::<List>(c"list")
    };
    /// SAFETY: `TYPE` is `LIST_TYPE`, built by `TypeObject::new_gc::<List>`, and no other type's `TYPE` points at it.
    unsafe impl ::objimpl::PyObjectType for List {
        type Header = ::objimpl::PyVarObject;
        type Item = PyAny;
        const TYPE: &'static ::objimpl::TypeObject = &LIST_TYPE;
    }
    /// SAFETY: visits what each field of `List` owns, through the fields' own `Traverse` impls, once; skipped fields are not visited, which is always sound.
    #[diagnostic::do_not_recommend]
    unsafe impl ::objimpl::gc::Traverse for List {
        #[inline]
        fn traverse(&self, visit: &mut ::objimpl::gc::Visit<'_>) {
            ::objimpl::gc::Traverse::traverse(&self.parent, visit);
            let _ = visit;
        }
    }
    const _: fn() = || {
        fn items_are_traversed<T: ?Sized + ::objimpl::gc::Traverse>() {}
        items_are_traversed::<PyAny>();
    };
    impl List {
        /// Makes an object holding `value` and no items, with a reference count of 1 (`PyObject_New`).
        ///
        /// # Errors
        ///
        /// `MemoryError` if the memory could not be had; `value` is dropped.
        #[inline]
        pub fn new(
            value: Self,
        ) -> ::objimpl::__private::Result<::objimpl::Py<Self>, ::objimpl::MemoryError> {
            ::objimpl::Py::new(value)
        }
        /// Makes an object holding `value` and `items`, with a reference count of 1
        /// (`PyObject_NewVar`).
        ///
        /// # Errors
        ///
        /// `MemoryError` if the object's size overflows or the memory could not be
        /// had; no item is taken and `value` is dropped.
        ///
        /// # Panics
        ///
        /// If the iterator yields more or fewer items than its exact `size_hint`
        /// promised; the items made so far are dropped and the memory is freed.
        #[inline]
        pub fn new_var<I>(
            value: Self,
            items: I,
        ) -> ::objimpl::__private::Result<::objimpl::Py<Self>, ::objimpl::MemoryError>
        where
            I: ::objimpl::__private::IntoIterator<Item = PyAny>,
        {
            ::objimpl::Py::new_var(value, items)
        }
        /// Makes an object holding `value` and `len` items, item `i` made by
        /// `f(i)`, with a reference count of 1 (`PyObject_NewVar`).
        ///
        /// # Errors
        ///
        /// `MemoryError` if the object's size overflows or the memory could not be
        /// had; `f` is not called and `value` is dropped.
        ///
        /// # Panics
        ///
        /// If `f` panics; the items made so far are dropped and the memory is freed.
        #[inline]
        pub fn new_var_with(
            value: Self,
            len: usize,
            f: impl ::objimpl::__private::FnMut(usize) -> PyAny,
        ) -> ::objimpl::__private::Result<::objimpl::Py<Self>, ::objimpl::MemoryError> {
            ::objimpl::Py::new_var_with(value, len, f)
        }
        /// Makes an object holding `value` and clones of `items`, with a reference
        /// count of 1 (`PyObject_NewVar`).
        ///
        /// # Errors
        ///
        /// `MemoryError` if the object's size overflows or the memory could not be
        /// had; nothing is cloned and `value` is dropped.
        #[inline]
        pub fn new_var_from_slice<Item>(
            value: Self,
            items: &[Item],
        ) -> ::objimpl::__private::Result<::objimpl::Py<Self>, ::objimpl::MemoryError>
        where
            Item: ::objimpl::__private::Clone,
            Self: ::objimpl::PyObjectType<Item = Item>,
        {
            ::objimpl::Py::new_var_from_slice(value, items)
        }
    }
    const _: () = {
        const BASICSIZE: usize = LIST_TYPE.basicsize();
        const ITEMSIZE: usize = LIST_TYPE.itemsize();
        const VAR_SIZE_0: usize = match ::objimpl::var_size(&LIST_TYPE, 0) {
            ::objimpl::__private::Some(size) => size,
            _ => 0,
        };
        const LAYOUT_SIZE: usize = ::objimpl::__private::size_of::<ListObject>();
        const ITEM_ALIGN: usize = ::objimpl::__private::align_of::<PyAny>();
        const POINTER_SIZE: usize = ::objimpl::__private::size_of::<usize>();
        ::objimpl::__private::static_assertions::const_assert_eq!(
            ::objimpl::__private::offset_of!(ListObject, ob_base), 0
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            BASICSIZE, LAYOUT_SIZE.next_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert!(
            BASICSIZE.is_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            ITEMSIZE, ::objimpl::__private::size_of:: < PyAny > ()
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            VAR_SIZE_0, BASICSIZE.next_multiple_of(POINTER_SIZE)
        );
    };
};
