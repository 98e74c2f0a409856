use std::rc::Rc;

use objimpl::gc::Traverse;
use objimpl::prelude::*;

#[pyobject(gc)]
pub struct Node;

#[derive(Traverse)]
pub union Bits {
    int: u64,
    float: f64,
}

#[derive(Traverse)]
pub struct Shared {
    handle: Rc<Py<Node>>,
}

#[derive(Traverse)]
pub enum Value {
    Int(#[traverse(skipp)] i64),
}

fn main() {}
