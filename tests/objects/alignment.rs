//! Every object is aligned to 16 bytes, and its items to their type.

use objimpl::prelude::*;

use crate::types::{Bytes, Long, Point, Tuple};

#[pyobject(basic, item = u128)]
struct Wide {
    tag: u8,
}

fn assert_aligned<T: PyObjectType>(obj: &Py<T>) {
    assert_eq!(
        obj.as_ptr() as usize % 16,
        0,
        "{}",
        obj.type_object().name()
    );
}

#[test]
fn every_object_is_16_byte_aligned() {
    let counts = [0, 1, 2, 3, 7, 8, 15, 16, 31, 100];
    let mut keep = Vec::new();
    for n in counts {
        let long = Long::new_var(Long, 0..n as u32).unwrap();
        let bytes = Bytes::new_var(Bytes { hash: 0 }, (0..n).map(|i| i as u8)).unwrap();
        let wide = Wide::new_var(Wide { tag: 0 }, (0..n).map(|i| i as u128)).unwrap();
        let point = Point::new(Point { x: 0.0, y: 0.0 }).unwrap();
        assert_aligned(&long);
        assert_aligned(&bytes);
        assert_aligned(&wide);
        assert_aligned(&point);
        let tuple = Tuple::new_var(Tuple, [PyAny::from(point)]).unwrap();
        assert_aligned(&tuple);
        assert_eq!(wide.items().as_ptr() as usize % align_of::<u128>(), 0);
        assert_eq!(wide.tag, 0);
        keep.push(PyAny::from(tuple));
        keep.push(PyAny::from(long));
        keep.push(PyAny::from(bytes));
    }
    assert_eq!(keep.len(), 3 * counts.len());
}
