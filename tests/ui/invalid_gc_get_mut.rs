use std::cell::RefCell;

use objimpl::prelude::*;

#[pyobject(gc)]
pub struct Node {
    value: u32,
    next: RefCell<Option<Py<Node>>>,
}

fn main() -> Result<(), MemoryError> {
    let mut node = Node::new(Node { value: 1, next: RefCell::new(None) })?;
    // A gc object is mutated through its cells: the collector may read the
    // payload at any allocation.
    node.get_mut().unwrap().value = 2;
    Ok(())
}
