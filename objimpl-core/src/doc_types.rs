//! Object types that the documentation's examples share. Not public API.

use crate::{Py, PyObject, PyObjectType, PyVarObject, TypeObject};

macro_rules! doc_type {
    ($(#[$m:meta])* $name:ident $body:tt, $tp:ident, $tpname:literal, $header:ty, $item:ty) => {
        $(#[$m])*
        #[derive(Debug)]
        pub struct $name $body
        static $tp: TypeObject = TypeObject::new::<$name>($tpname);
        // SAFETY: TYPE is a static built by `TypeObject::new::<Self>`, for this type alone.
        unsafe impl PyObjectType for $name {
            type Header = $header;
            type Item = $item;
            const TYPE: &'static TypeObject = &$tp;
        }
        impl crate::BasicObject for $name {}
    };
}

doc_type!(/** A fixed-size object with no fields. */ Unit {}, UNIT_TYPE, c"Unit", PyObject, ());
doc_type!(/** Another, to show a wrong downcast. */ Other {}, OTHER_TYPE, c"Other", PyObject, ());
doc_type!(
    /** A fixed-size object with one field. */
    Counter { /** The count. */ pub n: u32 }, COUNTER_TYPE, c"Counter", PyObject, ()
);
doc_type!(
    /** A fixed-size object with two fields. */
    Point { /** x */ pub x: f64, /** y */ pub y: f64 }, POINT_TYPE, c"Point", PyObject, ()
);
doc_type!(
    /** A var-size object of bytes, like CPython's bytes. */
    Bytes { /** The cached hash. */ pub hash: isize }, BYTES_TYPE, c"bytes", PyVarObject, u8
);
doc_type!(
    /** A var-size object of 30-bit digits, like CPython's int. */
    Long { /** The sign. */ pub sign: i8 }, LONG_TYPE, c"int", PyVarObject, u32
);
doc_type!(
    /** A var-size object of references, like CPython's tuple. */
    Tuple {}, TUPLE_TYPE, c"tuple", PyVarObject, Py<Unit>
);

/// A weak-referenceable object: its payload holds a `WeakList`.
#[derive(Debug, Default)]
pub struct Node {
    /// A value.
    pub value: u32,
    /// The weak-reference slot.
    pub weak: crate::WeakList,
}
static NODE_TYPE: TypeObject = TypeObject::new::<Node>(c"Node");
// SAFETY: TYPE is a static built by `TypeObject::new::<Node>`, and
// `weak_list` returns a field of the payload.
unsafe impl PyObjectType for Node {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &NODE_TYPE;
    fn weak_list(&self) -> Option<&crate::WeakList> {
        Some(&self.weak)
    }
}
// SAFETY: `weak_list` returns `Some` of a payload field.
unsafe impl crate::WeakRefable for Node {}

/// A `gc` object: a named node of a graph, whose edges may form cycles.
#[derive(Debug)]
pub struct GcNode {
    /// The node's name.
    pub name: &'static str,
    /// The edges to other nodes.
    pub edges: core::cell::RefCell<Vec<Py<GcNode>>>,
}
impl GcNode {
    /// A node without edges.
    pub fn new(name: &'static str) -> GcNode {
        GcNode {
            name,
            edges: Default::default(),
        }
    }
}
static GC_NODE_TYPE: TypeObject = TypeObject::new_gc::<GcNode>(c"GcNode");
// SAFETY: TYPE is a static built by `TypeObject::new_gc::<GcNode>`.
unsafe impl PyObjectType for GcNode {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &GC_NODE_TYPE;
}
// SAFETY: visits the handles `edges` owns, each once.
unsafe impl crate::gc::Traverse for GcNode {
    fn traverse(&self, visit: &mut crate::gc::Visit<'_>) {
        self.edges.traverse(visit);
    }
}

/// A fixed-size object with a freelist of 4.
#[derive(Debug)]
pub struct Pooled {
    /// A value.
    pub value: f64,
}
static POOLED_TYPE: TypeObject = TypeObject::new::<Pooled>(c"Pooled");
thread_local! {
    static POOLED_FREELIST: crate::freelist::FreeList =
        const { crate::freelist::FreeList::new(&POOLED_TYPE, 4) };
}
// SAFETY: TYPE is a static built by `TypeObject::new::<Pooled>`; the
// freelist is one of `Pooled` objects.
unsafe impl PyObjectType for Pooled {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &POOLED_TYPE;
    fn freelist() -> Option<&'static std::thread::LocalKey<crate::freelist::FreeList>> {
        Some(&POOLED_FREELIST)
    }
}
