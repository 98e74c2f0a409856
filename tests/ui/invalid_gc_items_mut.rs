use std::cell::Cell;

use objimpl::prelude::*;

#[pyobject(gc, item = Cell<u32>)]
pub struct Row {
    next: Cell<Option<Py<Row>>>,
}

fn main() -> Result<(), MemoryError> {
    let mut row = Row::new_var(Row { next: Cell::new(None) }, [Cell::new(1)])?;
    // A gc object's items are mutated through their cells: the collector
    // may read them at any allocation.
    row.items_mut().unwrap()[0] = Cell::new(2);
    Ok(())
}
