use std::cell::RefCell;
use std::rc::Rc;

use objimpl::prelude::*;

/// A container of the user's own, which holds handles but has no `Traverse`.
pub struct Edges(Vec<Py<Graph>>);

#[pyobject(gc)]
pub struct Graph {
    name: String,
    edges: RefCell<Edges>,
    shared: Rc<Py<Graph>>,
}

fn main() {}
