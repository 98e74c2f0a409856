//! `#[derive(Traverse)]`: structs of each shape, enums, generics, skipped
//! fields, the new std impls; each cycle through them is found.
use std::cell::{OnceCell, RefCell};
use std::sync::{Mutex, RwLock};

use objimpl::gc::Traverse;
use objimpl::prelude::*;

#[derive(Traverse)]
pub struct Named {
    pub count: u32,
    pub link: Option<Py<Node>>,
}

#[derive(Traverse)]
pub struct Tuple(pub u8, pub Vec<Py<Node>>);

#[derive(Traverse)]
pub struct Unit;

#[derive(Traverse)]
pub enum Never {}

#[derive(Traverse)]
pub enum Value {
    Nil,
    Number(f64),
    Text(String),
    Pair { left: Py<Node>, right: Box<Value> },
}

#[derive(Traverse)]
pub struct Wrapper<T> {
    pub inner: T,
    #[traverse(skip)]
    pub kept: Option<Py<Node>>,
}

#[pyobject(gc)]
pub struct Node {
    named: RefCell<Named>,
    tuple: RefCell<Tuple>,
    value: RefCell<Value>,
    wrapped: RefCell<Wrapper<Option<Py<Node>>>>,
    once: OnceCell<Py<Node>>,
    mutex: Mutex<Option<Py<Node>>>,
    rwlock: RwLock<Option<Py<Node>>>,
    _unit: Unit,
}

fn node() -> Py<Node> {
    Node::new(Node {
        named: RefCell::new(Named { count: 0, link: None }),
        tuple: RefCell::new(Tuple(0, Vec::new())),
        value: RefCell::new(Value::Nil),
        wrapped: RefCell::new(Wrapper { inner: None, kept: None }),
        once: OnceCell::new(),
        mutex: Mutex::new(None),
        rwlock: RwLock::new(None),
        _unit: Unit,
    })
    .unwrap()
}

/// A node that refers to itself through one field, made by `link`.
fn self_cycle(link: impl Fn(&Py<Node>)) -> usize {
    let n = node();
    link(&n);
    drop(n);
    gc::collect()
}

fn main() {
    gc::collect();
    assert_eq!(self_cycle(|n| n.named.borrow_mut().link = Some(n.clone())), 1);
    assert_eq!(self_cycle(|n| n.tuple.borrow_mut().1.push(n.clone())), 1);
    assert_eq!(
        self_cycle(|n| {
            let right = Box::new(Value::Number(1.0));
            *n.value.borrow_mut() = Value::Pair { left: n.clone(), right };
        }),
        1
    );
    assert_eq!(self_cycle(|n| n.wrapped.borrow_mut().inner = Some(n.clone())), 1);
    assert_eq!(self_cycle(|n| assert!(n.once.set(n.clone()).is_ok())), 1);
    assert_eq!(self_cycle(|n| *n.mutex.lock().unwrap() = Some(n.clone())), 1);
    assert_eq!(self_cycle(|n| *n.rwlock.write().unwrap() = Some(n.clone())), 1);
    // A skipped field's handle is an outside reference: never collected.
    let n = node();
    n.wrapped.borrow_mut().kept = Some(n.clone());
    drop(n);
    assert_eq!(gc::collect(), 0);
}
