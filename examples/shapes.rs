//! Using objimpl as a Rust program would: types with their own
//! constructors, state that changes through shared references, identity
//! sets, weak references, a var object built from a slice and resized, and
//! an object handed to another thread.
//!
//! Run with `cargo run --example shapes`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use objimpl::prelude::*;
use objimpl::{SendPy, WeakList, WeakPy};

/// A canvas: shapes point back at it weakly, so the canvas and its shapes
/// form no cycle that would keep them alive.
#[pyobject(basic, new = alloc)]
pub struct Canvas {
    name: String,
    shapes: RefCell<Vec<Py<Circle>>>,
    #[pyobject(weaklist)]
    weak: WeakList,
}

impl Canvas {
    /// An empty canvas.
    pub fn new(name: &str) -> Result<Py<Canvas>, MemoryError> {
        Canvas::alloc(Canvas {
            name: name.to_owned(),
            shapes: RefCell::new(Vec::new()),
            weak: WeakList::new(),
        })
    }
}

/// A circle with private fields, so a constructor of its own (`new`); the
/// generated one is renamed `alloc`. Its hit count changes through shared
/// references, so it is a `Cell`: a `Py` gives `&Circle`, never `&mut`.
#[pyobject(basic, new = alloc)]
pub struct Circle {
    radius: f64,
    hits: Cell<u64>,
    canvas: WeakPy<Canvas>,
}

impl Circle {
    /// A circle on `canvas`, which keeps it.
    pub fn new(canvas: &Py<Canvas>, radius: f64) -> Result<Py<Circle>, MemoryError> {
        let circle = Circle::alloc(Circle {
            radius,
            hits: Cell::new(0),
            canvas: Py::downgrade(canvas),
        })?;
        canvas.shapes.borrow_mut().push(circle.clone());
        Ok(circle)
    }

    /// Counts a hit: a change through a shared reference.
    pub fn hit(&self) {
        self.hits.set(self.hits.get() + 1);
    }

    /// Its area.
    pub fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius * self.radius
    }
}

/// A polyline: its points are the items of a var object.
#[pyobject(basic, item = (f64, f64))]
pub struct Path {
    closed: bool,
}

impl Path {
    fn length(&self, points: &[(f64, f64)]) -> f64 {
        let open: f64 = points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum();
        match (self.closed, points.first(), points.last()) {
            (true, Some(a), Some(b)) => open + (a.0 - b.0).hypot(a.1 - b.1),
            _ => open,
        }
    }
}

fn main() -> Result<(), MemoryError> {
    // Own constructors, shared state through `Cell`.
    let canvas = Canvas::new("sketch")?;
    let big = Circle::new(&canvas, 2.0)?;
    let small = Circle::new(&canvas, 0.5)?;
    big.hit();
    big.clone().hit(); // another reference, the same object
    println!(
        "{}: {} circles, the big one hit {} times, area {:.2}",
        canvas.name,
        canvas.shapes.borrow().len(),
        big.hits.get(),
        big.area()
    );

    // Identity: a set of objects holds each object once, whatever its value.
    let mut seen: HashSet<PyAny> = HashSet::new();
    for c in [&big, &small, &big, &canvas.shapes.borrow()[0]] {
        seen.insert(PyAny::from(c.clone()));
    }
    println!("distinct objects among 4 references: {}", seen.len());
    drop(seen);

    // Weak references: a circle finds its canvas while the canvas lives.
    let home = small.canvas.upgrade().map(|c| c.name.clone());
    println!("the small circle's canvas: {home:?}");
    canvas.shapes.borrow_mut().clear();
    drop(canvas);
    println!(
        "after the canvas is dropped: {:?}",
        small.canvas.upgrade().map(|c| c.name.clone())
    );

    // A var object from a slice, then resized.
    let mut path = Py::new_var_from_slice(Path { closed: true }, &[(0.0, 0.0), (3.0, 0.0)])?;
    path.resize(3, (3.0, 4.0))?;
    println!(
        "a closed path of {} points, length {}",
        path.len(),
        path.length(path.items())
    );

    // Objects are bound to their thread; a unique one can be handed over.
    let parcel: SendPy<Path> = Py::into_sendable(path).map_err(|_| MemoryError)?;
    let length = std::thread::spawn(move || {
        let path = parcel.into_py();
        path.length(path.items())
    })
    .join()
    .expect("the worker does not panic");
    println!("measured on another thread: {length}");

    let stats = objimpl::alloc::stats();
    println!(
        "{} blocks in use in {} arena(s)",
        stats.blocks_in_use(),
        stats.arenas_current
    );
    Ok(())
}
