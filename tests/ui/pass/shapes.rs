//! The shapes of struct users write, each an object type.
#![deny(missing_docs)]

use objimpl::prelude::*;

/// Named fields, other derives, doc comments, `pub` and `pub(crate)` fields.
#[pyobject(basic)]
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Across.
    pub x: f64,
    /// Up.
    pub(crate) y: f64,
}

/// Fields that own heap memory.
#[pyobject(basic, item = String)]
pub struct Record {
    /// The record's title.
    pub title: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A tuple struct.
#[pyobject(basic, name = "float")]
pub struct Float(pub f64);

/// A unit struct with items.
#[pyobject(basic, item = u32, name = "int")]
pub struct Long;

/// Items that are objects of one type.
#[pyobject(basic, item = Py<Point>)]
pub(crate) struct Polygon {
    closed: bool,
}

/// Items that are objects of any type.
#[pyobject(basic, item = PyAny, name = "tuple")]
pub struct Tuple;

mod private {
    use objimpl::prelude::*;

    /// A private type in a module, with a raw identifier.
    #[pyobject]
    pub(super) struct r#type {
        pub(super) value: u8,
    }
}

fn main() -> Result<(), MemoryError> {
    let p = Point::new(Point { x: 1.0, y: 2.0 })?;
    assert_eq!(*p, Point { x: 1.0, y: 2.0 });
    assert_eq!(p.clone().y, 2.0);

    let r = Record::new_var(
        Record { title: "t".to_owned(), tags: vec!["a".to_owned()] },
        ["item".to_owned()],
    )?;
    assert_eq!((r.title.as_str(), r.tags.len(), r.items()[0].as_str()), ("t", 1, "item"));

    assert_eq!(Float::new(Float(1.5))?.0, 1.5);
    assert_eq!(Float::TYPE.name(), "float");
    assert_eq!(Long::new_var(Long, [1, 2])?.items(), &[1, 2]);
    assert_eq!(Long::new(Long)?.len(), 0);

    let polygon = Polygon::new_var(Polygon { closed: true }, [p.clone(), p.clone()])?;
    assert!(polygon.closed);
    assert_eq!(p.refcnt(), 3);

    let tuple = Tuple::new_var(Tuple, [PyAny::from(p), PyAny::from(polygon)])?;
    assert_eq!(tuple.items()[1].type_object().name(), "Polygon");

    let t = private::r#type::new(private::r#type { value: 7 })?;
    assert_eq!((t.value, t.type_object().name()), (7, "type"));
    Ok(())
}
