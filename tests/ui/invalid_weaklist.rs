use objimpl::prelude::*;
use objimpl::WeakList;

#[pyobject(basic)]
pub struct WrongType {
    #[pyobject(weaklist)]
    weak: u64,
}

#[pyobject(basic)]
pub struct Twice {
    #[pyobject(weaklist)]
    a: WeakList,
    #[pyobject(weaklist)]
    b: WeakList,
}

#[pyobject(basic)]
pub struct UnknownFieldOption {
    #[pyobject(weakref)]
    weak: WeakList,
}

#[pyobject(basic)]
pub struct Plain {
    x: u32,
}

fn main() -> Result<(), MemoryError> {
    let p = Plain::new(Plain { x: 1 })?;
    let _weak = Py::downgrade(&p);
    Ok(())
}
