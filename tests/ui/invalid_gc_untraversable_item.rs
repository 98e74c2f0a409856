use std::rc::Rc;

use objimpl::prelude::*;

#[pyobject(gc, item = Rc<PyAny>)]
pub struct Bag;

fn main() {}
