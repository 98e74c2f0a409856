use objimpl::prelude::*;

pub struct Marker;

#[pyobject(basic, item = Marker)]
pub struct Markers;

fn main() {}
