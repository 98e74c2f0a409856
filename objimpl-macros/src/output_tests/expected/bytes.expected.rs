/// CPython's `bytes`: the bytes are the items, with a trailing NUL.
#[repr(C)]
pub(crate) struct Bytes {
    /// The cached hash, `-1` until computed.
    ob_shash: isize,
}
const _: () = {
    /// The layout of a `Bytes` object: `PyObject_VAR_HEAD`, then the payload; the items follow it.
    #[repr(C)]
    #[allow(dead_code, reason = "only its layout is used, by the checks below")]
    struct BytesObject {
        ob_base: ::objimpl::PyVarObject,
        payload: Bytes,
    }
    /// The layout's requirements, each failing with what to change.
    const LAYOUT_IS_VALID: () = {
        ::objimpl::__private::require(
            ::objimpl::__private::align_of::<BytesObject>()
                <= ::objimpl::alloc::ALIGNMENT,
            "`Bytes` needs an alignment above 16 bytes, the allocator's: no field of it may be `#[repr(align(N))]` with N > 16",
        );
        ::objimpl::__private::require(
            ::objimpl::__private::size_of::<u8>() > 0,
            "items of type `u8` take no space: an object with items needs an item type of at least one byte; for an object without items, remove `item = u8`",
        );
        ::objimpl::__private::require(
            ::objimpl::__private::align_of::<u8>() <= ::objimpl::alloc::ALIGNMENT,
            "items of type `u8` need an alignment above 16 bytes, the allocator's: use an item type aligned to 16 bytes or less",
        );
    };
    /// The type object of `Bytes`: its sizes, `tp_dealloc` and `tp_free`, computed from its layout.
    static BYTES_TYPE: ::objimpl::TypeObject = {
        let () = LAYOUT_IS_VALID;
        ::objimpl::TypeObject::new::<Bytes>(c"bytes")
    };
    /// SAFETY: `TYPE` is `BYTES_TYPE`, built by `TypeObject::new::<Bytes>`, and no other type's `TYPE` points at it.
    unsafe impl ::objimpl::PyObjectType for Bytes {
        type Header = ::objimpl::PyVarObject;
        type Item = u8;
        const TYPE: &'static ::objimpl::TypeObject = &BYTES_TYPE;
    }
    impl ::objimpl::BasicObject for Bytes {}
    impl Bytes {
        /// Makes an object holding `value` and no items, with a reference count of 1 (`PyObject_New`).
        ///
        /// # Errors
        ///
        /// `MemoryError` if the memory could not be had; `value` is dropped.
        #[inline]
        pub(crate) fn new(
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
        pub(crate) fn new_var<I>(
            value: Self,
            items: I,
        ) -> ::objimpl::__private::Result<::objimpl::Py<Self>, ::objimpl::MemoryError>
        where
            I: ::objimpl::__private::IntoIterator<Item = u8>,
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
        pub(crate) fn new_var_with(
            value: Self,
            len: usize,
            f: impl ::objimpl::__private::FnMut(usize) -> u8,
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
        pub(crate) fn new_var_from_slice<Item>(
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
        const BASICSIZE: usize = BYTES_TYPE.basicsize();
        const ITEMSIZE: usize = BYTES_TYPE.itemsize();
        const VAR_SIZE_0: usize = match ::objimpl::var_size(&BYTES_TYPE, 0) {
            ::objimpl::__private::Some(size) => size,
            _ => 0,
        };
        const LAYOUT_SIZE: usize = ::objimpl::__private::size_of::<BytesObject>();
        const ITEM_ALIGN: usize = ::objimpl::__private::align_of::<u8>();
        const POINTER_SIZE: usize = ::objimpl::__private::size_of::<usize>();
        ::objimpl::__private::static_assertions::const_assert_eq!(
            ::objimpl::__private::offset_of!(BytesObject, ob_base), 0
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            BASICSIZE, LAYOUT_SIZE.next_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert!(
            BASICSIZE.is_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            ITEMSIZE, ::objimpl::__private::size_of:: < u8 > ()
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            VAR_SIZE_0, BASICSIZE.next_multiple_of(POINTER_SIZE)
        );
    };
};
