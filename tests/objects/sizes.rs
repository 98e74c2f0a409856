//! `tp_basicsize`, `tp_itemsize` and `_PyObject_VAR_SIZE` of generated types.

use objimpl::prelude::*;
use objimpl::{object_size, var_size};

use crate::types::{Bytes, Long, Point, Tuple};

#[test]
fn fixed_size_types_count_header_and_payload() {
    assert_eq!(Point::TYPE.basicsize(), 16 + 16);
    assert_eq!(Point::TYPE.itemsize(), 0);
    assert_eq!(object_size(Point::TYPE), 32);
    assert_eq!(var_size(Point::TYPE, 0), Some(32));
}

#[test]
fn var_size_types_match_cpythons_figures() {
    // CPython 3.11: int.__basicsize__ == 24, int.__itemsize__ == 4.
    assert_eq!((Long::TYPE.basicsize(), Long::TYPE.itemsize()), (24, 4));
    // tuple.__basicsize__ == 24, tuple.__itemsize__ == 8.
    assert_eq!((Tuple::TYPE.basicsize(), Tuple::TYPE.itemsize()), (24, 8));
    // CPython's bytes counts its first byte in the basicsize (33); ours does not.
    assert_eq!((Bytes::TYPE.basicsize(), Bytes::TYPE.itemsize()), (32, 1));
}

#[test]
fn var_size_rounds_up_to_the_pointer_size() {
    assert_eq!(var_size(Long::TYPE, 1), Some(32)); // 24 + 4, rounded up
    assert_eq!(var_size(Long::TYPE, 2), Some(32));
    assert_eq!(var_size(Long::TYPE, 3), Some(40)); // 24 + 12 = 36, rounded up
    assert_eq!(var_size(Bytes::TYPE, 5), Some(40)); // b"spam" and its NUL
    assert_eq!(var_size(Tuple::TYPE, 3), Some(48));
    assert_eq!(var_size(Tuple::TYPE, usize::MAX), None);
}

#[test]
fn the_payload_is_laid_out_as_repr_c() {
    /// In declaration order, as C would: 1 + 7 (padding) + 8 + 1 + 7 (padding).
    #[pyobject(basic)]
    struct Mixed {
        a: u8,
        b: u64,
        c: u8,
    }
    assert_eq!(Mixed::TYPE.basicsize(), 16 + 24);
    let m = Mixed::new(Mixed { a: 1, b: 2, c: 3 }).unwrap();
    assert_eq!((m.a, m.b, m.c), (1, 2, 3));
}

#[test]
fn basicsize_is_rounded_up_to_the_items_alignment() {
    /// 24 (header) + 1, padded to the header's alignment: 32.
    #[pyobject(basic, item = u128)]
    struct Wide {
        tag: u8,
    }
    assert_eq!(Wide::TYPE.basicsize(), 32);
    assert_eq!(Wide::TYPE.basicsize() % align_of::<u128>(), 0);
    let wide = Wide::new_var(Wide { tag: 1 }, [u128::MAX, 7]).unwrap();
    assert_eq!((wide.tag, wide.items()), (1, &[u128::MAX, 7][..]));

    /// The payload's own alignment counts too: 16 + 16.
    #[pyobject(basic)]
    #[repr(align(16))]
    struct Aligned {
        byte: u8,
    }
    assert_eq!(Aligned::TYPE.basicsize(), 32);
    assert_eq!(Aligned::new(Aligned { byte: 9 }).unwrap().byte, 9);
}

#[test]
fn a_type_object_is_one_static_per_type() {
    assert!(std::ptr::eq(Point::TYPE, Point::TYPE));
    assert!(!std::ptr::eq(Point::TYPE, Long::TYPE));
    assert_eq!(Point::TYPE.name(), "Point");
    assert_eq!(Long::TYPE.name(), "int");
}
