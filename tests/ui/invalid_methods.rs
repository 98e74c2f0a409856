use objimpl::prelude::*;

#[pyobject(basic, item = u8)]
pub struct Str;

#[pymethods]
impl Str {
    pub fn len_of(self: &Py<Self>) -> usize {
        self.len()
    }
    fn first(self: &Py<Self>) -> Option<u8> {
        self.items().first().copied()
    }
}

#[pymethods]
impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("str")
    }
}

#[pymethods(trait = A, typo = B)]
impl Str {}

fn main() {}
