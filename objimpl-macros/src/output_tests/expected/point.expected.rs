/// A point in the plane.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}
const _: () = {
    /// The layout of a `Point` object: `PyObject_HEAD`, then the payload.
    #[repr(C)]
    #[allow(dead_code, reason = "only its layout is used, by the checks below")]
    struct PointObject {
        ob_base: ::objimpl::PyObject,
        payload: Point,
    }
    /// The layout's requirements, each failing with what to change.
    const LAYOUT_IS_VALID: () = {
        ::objimpl::__private::require(
            ::objimpl::__private::align_of::<PointObject>()
                <= ::objimpl::alloc::ALIGNMENT,
            "`Point` needs an alignment above 16 bytes, the allocator's: no field of it may be `#[repr(align(N))]` with N > 16",
        );
    };
    /// The type object of `Point`: its sizes, `tp_dealloc` and `tp_free`, computed from its layout.
    static POINT_TYPE: ::objimpl::TypeObject = {
        let () = LAYOUT_IS_VALID;
        ::objimpl::TypeObject::new::<Point>(c"Point")
    };
    /// SAFETY: `TYPE` is `POINT_TYPE`, built by `TypeObject::new::<Point>`, and no other type's `TYPE` points at it.
    unsafe impl ::objimpl::PyObjectType for Point {
        type Header = ::objimpl::PyObject;
        type Item = ();
        const TYPE: &'static ::objimpl::TypeObject = &POINT_TYPE;
    }
    impl ::objimpl::BasicObject for Point {}
    impl Point {
        /// Makes an object holding `value`, with a reference count of 1 (`PyObject_New`).
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
    }
    const _: () = {
        const BASICSIZE: usize = POINT_TYPE.basicsize();
        const ITEMSIZE: usize = POINT_TYPE.itemsize();
        const VAR_SIZE_0: usize = match ::objimpl::var_size(&POINT_TYPE, 0) {
            ::objimpl::__private::Some(size) => size,
            _ => 0,
        };
        const LAYOUT_SIZE: usize = ::objimpl::__private::size_of::<PointObject>();
        const ITEM_ALIGN: usize = ::objimpl::__private::align_of::<()>();
        const POINTER_SIZE: usize = ::objimpl::__private::size_of::<usize>();
        ::objimpl::__private::static_assertions::const_assert_eq!(
            ::objimpl::__private::offset_of!(PointObject, ob_base), 0
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(
            BASICSIZE, LAYOUT_SIZE.next_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert!(
            BASICSIZE.is_multiple_of(ITEM_ALIGN)
        );
        ::objimpl::__private::static_assertions::const_assert_eq!(ITEMSIZE, 0);
        ::objimpl::__private::static_assertions::const_assert_eq!(
            VAR_SIZE_0, BASICSIZE.next_multiple_of(POINTER_SIZE)
        );
    };
};
