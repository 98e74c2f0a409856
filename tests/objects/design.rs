//! The example at the top of DESIGN.md, as written there.

use objimpl::prelude::*;

#[pyobject(basic)] // fixed size: PyObject_HEAD + fields
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[pyobject(basic, item = u32)] // var size: PyObject_VAR_HEAD + fields + [u32; ob_size]
pub struct Long {
    pub sign: i8,
}

#[test]
fn the_design_example_runs() -> Result<(), MemoryError> {
    let p: Py<Point> = Point::new(Point { x: 1.0, y: 2.0 })?; // PyObject_New
    let n: Py<Long> = Long::new_var(Long { sign: 1 }, [7, 9, 11])?; // PyObject_NewVar
    assert_eq!(p.refcnt(), 1);
    assert_eq!(n.len(), 3);
    assert_eq!(n.items(), &[7, 9, 11]);
    assert_eq!(Point::TYPE.basicsize(), 32); // _PyObject_SIZE
    assert_eq!((p.x, p.y, n.sign), (1.0, 2.0, 1));
    Ok(())
}

/// A type whose objects refer to objects of the same type.
#[pyobject(basic)]
struct Node {
    value: u32,
    next: Option<Py<Node>>,
}

#[test]
fn a_linked_list_of_objects_drops_every_node() -> Result<(), MemoryError> {
    let mut head: Option<Py<Node>> = None;
    for value in 0..10 {
        head = Some(Node::new(Node { value, next: head })?);
    }
    let head = head.ok_or(MemoryError)?;
    let second = head.next.clone().ok_or(MemoryError)?;
    assert_eq!((head.value, second.value, second.refcnt()), (9, 8, 2));
    drop(head);
    assert_eq!(second.refcnt(), 1);
    Ok(())
}
