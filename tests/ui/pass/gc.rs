//! `gc` types of every shape compile, and their cycles are collected.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use objimpl::prelude::*;
use objimpl::WeakList;

#[pyobject(gc)]
pub struct Node {
    pub name: String,
    pub next: Cell<Option<Py<Node>>>,
    pub children: RefCell<Vec<Py<Node>>>,
    pub by_name: RefCell<HashMap<String, PyAny>>,
    pub pair: (u32, Option<Box<Py<Node>>>),
    #[pyobject(skip)]
    pub cache: std::rc::Rc<Vec<u8>>,
    #[pyobject(weaklist)]
    pub weak: WeakList,
}

/// A var `gc` type: a tuple of any objects.
#[pyobject(gc, item = PyAny, name = "tuple", new = make)]
pub struct Tuple;

/// A tuple struct, and a unit struct.
#[pyobject(gc)]
pub struct Wrapper(RefCell<Option<PyAny>>);

#[pyobject(gc)]
pub struct Empty;

fn node(name: &str) -> Result<Py<Node>, MemoryError> {
    Node::new(Node {
        name: name.into(),
        next: Cell::new(None),
        children: RefCell::default(),
        by_name: RefCell::default(),
        pair: (0, None),
        cache: Default::default(),
        weak: WeakList::new(),
    })
}

fn main() -> Result<(), MemoryError> {
    let a = node("a")?;
    let b = node("b")?;
    a.next.set(Some(b.clone()));
    b.children.borrow_mut().push(a.clone());
    let t = Tuple::make_var(Tuple, [PyAny::from(a.clone())])?;
    a.by_name.borrow_mut().insert("t".into(), PyAny::from(t));
    let w = Wrapper::new(Wrapper(RefCell::new(None)))?;
    *w.0.borrow_mut() = Some(PyAny::from(w.clone()));
    let _empty = Empty::new(Empty)?;
    let weak = Py::downgrade(&a);
    drop((a, b, w));
    assert_eq!(gc::collect(), 4);
    assert!(weak.upgrade().is_none());
    freelists::run()
}

/// Freelists, on a `basic` and on a `gc` type, under the crate's own names.
mod freelists {
    use objimpl::prelude::*;
    use std::cell::RefCell;

    #[pyobject(basic, freelist = 16)]
    pub struct Float(pub f64);

    #[pyobject(gc, freelist = 8, new = make)]
    pub struct Cell(pub RefCell<Option<Py<Cell>>>);

    pub fn run() -> Result<(), MemoryError> {
        let a = Float::new(Float(1.5))?;
        let address = a.as_ptr();
        drop(a);
        assert_eq!(Float::new(Float(2.5))?.as_ptr(), address);
        let c = Cell::make(Cell(RefCell::new(None)))?;
        *c.0.borrow_mut() = Some(c.clone());
        drop(c);
        assert_eq!(gc::collect(), 1);
        Ok(())
    }
}
