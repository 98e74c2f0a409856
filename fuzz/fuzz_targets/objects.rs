//! Objects of generated types under random operations: made with `new`,
//! `new_var`, from the freelist; cloned, dropped, linked into cycles,
//! resized, collected. At the end every payload and item was dropped
//! exactly once and the pool's blocks in use are back where they started.
#![no_main]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Once;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use objimpl::alloc::{self, Allocator, Domain};
use objimpl::prelude::*;

/// Drops of payloads and items, by id: each must end at exactly 1.
#[derive(Clone, Default)]
struct Drops(Rc<RefCell<Vec<u32>>>);

impl Drops {
    fn token(&self) -> Token {
        let mut drops = self.0.borrow_mut();
        drops.push(0);
        Token {
            id: drops.len() - 1,
            drops: self.clone(),
        }
    }
}

/// Counts its drop in its `Drops`.
struct Token {
    id: usize,
    drops: Drops,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops.0.borrow_mut()[self.id] += 1;
    }
}

/// A graph node: edges to any objects.
#[pyobject(gc)]
struct Node {
    #[pyobject(skip)]
    token: Token,
    edges: RefCell<Vec<PyAny>>,
    next: Cell<Option<Py<Node>>>,
}

/// A tuple of any objects.
#[pyobject(gc, item = PyAny)]
struct Tuple {
    #[pyobject(skip)]
    token: Token,
}

/// Bytes, whose items are plain data.
#[pyobject(basic, item = u8)]
struct Bytes {
    token: Token,
}

/// A small object with a freelist.
#[pyobject(basic, freelist = 4)]
struct Small {
    token: Token,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Node,
    Tuple { items: Vec<u8> },
    Bytes { len: u8 },
    Small,
    Clone { handle: u8 },
    Drop { handle: u8 },
    Link { from: u8, to: u8 },
    SetNext { from: u8, to: u8 },
    Unlink { from: u8 },
    Resize { handle: u8, len: u8 },
    Collect,
    CollectYoung,
    Referents { handle: u8 },
}

fn pick(handles: &[PyAny], n: u8) -> Option<&PyAny> {
    (!handles.is_empty()).then(|| &handles[n as usize % handles.len()])
}

fuzz_target!(|ops: Vec<Op>| {
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        // SAFETY: no object block is live yet.
        unsafe { alloc::set_allocator(Domain::Object, Allocator::pymalloc()) };
        gc::set_threshold([50, 5, 5]); // collections happen inside short runs
    });
    let drops = Drops::default();
    let kept = || -> usize { objimpl::freelist::stats().iter().map(|s| s.free).sum() };
    let (before, kept_before) = (alloc::stats().blocks_in_use(), kept());
    let mut handles: Vec<PyAny> = Vec::new();
    for op in ops.into_iter().take(256) {
        match op {
            Op::Node => handles.push(
                Node::new(Node {
                    token: drops.token(),
                    edges: RefCell::default(),
                    next: Cell::new(None),
                })
                .unwrap()
                .into(),
            ),
            Op::Tuple { items } => {
                let items: Vec<PyAny> = items
                    .iter()
                    .filter_map(|&i| pick(&handles, i).cloned())
                    .take(16)
                    .collect();
                handles.push(
                    Tuple::new_var(
                        Tuple {
                            token: drops.token(),
                        },
                        items,
                    )
                    .unwrap()
                    .into(),
                );
            }
            Op::Bytes { len } => handles.push(
                Py::new_var_with(
                    Bytes {
                        token: drops.token(),
                    },
                    len as usize,
                    |i| i as u8,
                )
                .unwrap()
                .into(),
            ),
            Op::Small => handles.push(
                Small::new(Small {
                    token: drops.token(),
                })
                .unwrap()
                .into(),
            ),
            Op::Clone { handle } => {
                if let Some(h) = pick(&handles, handle).cloned() {
                    handles.push(h);
                }
            }
            Op::Drop { handle } => {
                if !handles.is_empty() {
                    let i = handle as usize % handles.len();
                    handles.swap_remove(i);
                }
            }
            Op::Link { from, to } => {
                if let (Some(from), Some(to)) = (pick(&handles, from), pick(&handles, to)) {
                    if let Some(node) = from.downcast_ref::<Node>() {
                        node.edges.borrow_mut().push(to.clone());
                    }
                }
            }
            Op::SetNext { from, to } => {
                if let (Some(from), Some(to)) = (pick(&handles, from), pick(&handles, to)) {
                    if let (Some(from), Some(to)) =
                        (from.downcast_ref::<Node>(), to.downcast_ref::<Node>())
                    {
                        from.next.set(Some(to.clone()));
                    }
                }
            }
            Op::Unlink { from } => {
                if let Some(node) = pick(&handles, from).and_then(|h| h.downcast_ref::<Node>()) {
                    node.edges.borrow_mut().clear();
                    node.next.set(None);
                }
            }
            Op::Resize { handle, len } => {
                if handles.is_empty() {
                    continue;
                }
                let i = handle as usize % handles.len();
                if handles[i].refcnt() != 1 || !handles[i].is_instance::<Bytes>() {
                    continue;
                }
                let any = handles.swap_remove(i);
                let mut bytes = any.downcast::<Bytes>().ok().unwrap();
                bytes.resize(len as usize, 0xAB).unwrap();
                assert_eq!(bytes.len(), len as usize);
                handles.push(bytes.into());
            }
            Op::Collect => {
                gc::collect();
            }
            Op::CollectYoung => {
                gc::collect_generation(0);
            }
            Op::Referents { handle } => {
                if let Some(h) = pick(&handles, handle) {
                    drop(gc::get_referents(h));
                }
            }
        }
    }
    // Everything reachable from the kept handles is alive and readable.
    for h in &handles {
        if let Some(node) = h.downcast_ref::<Node>() {
            assert_eq!(
                drops.0.borrow()[node.token.id],
                0,
                "a reachable node was dropped"
            );
        }
    }
    drop(handles);
    gc::collect();
    let counts = drops.0.borrow();
    if let Some(id) = counts.iter().position(|&n| n != 1) {
        panic!("payload {id} dropped {} times", counts[id]);
    }
    drop(counts);
    // In use: what there was, and what the freelist (up to 4 `Small`
    // blocks) keeps now beyond what it kept then.
    let after = alloc::stats().blocks_in_use() + kept_before;
    assert_eq!(after, before + kept(), "blocks leaked");
});
