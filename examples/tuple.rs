//! CPython's `tuple`: a var-size object whose items are references to other
//! objects, of any type. The tuple owns one reference to each item and gives
//! them up when it is dropped.
//!
//! Run with `cargo run --release --example tuple`.

use objimpl::prelude::*;

/// `PyTupleObject`: `PyObject_VAR_HEAD`, then `ob_item[]`, the references.
#[pyobject(basic, item = PyAny, name = "tuple")]
pub struct Tuple;

/// An object that says when it is dropped.
#[pyobject(basic)]
pub struct Noisy {
    name: &'static str,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        println!("  dropped {}", self.name);
    }
}

fn main() -> Result<(), MemoryError> {
    let a = Noisy::new(Noisy { name: "a" })?;
    let b = Noisy::new(Noisy { name: "b" })?;

    // `(a, b, a)`: three references, two of them to `a`.
    let items = [a.clone().into(), b.clone().into(), a.clone().into()];
    let tuple = Tuple::new_var(Tuple, items)?;
    println!(
        "tuple of {} items; a's refcnt {}, b's {}",
        tuple.len(),
        a.refcnt(),
        b.refcnt()
    );

    // A tuple inside a tuple, as `((a, b, a),)`.
    let outer = Tuple::new_var(Tuple, [PyAny::from(tuple.clone())])?;
    for item in outer.items() {
        let inner: Py<Tuple> = item.clone().downcast().map_err(|_| MemoryError)?;
        let names: Vec<_> = inner
            .items()
            .iter()
            .map(|i| i.type_object().name())
            .collect();
        println!("outer[0] is a {} of {names:?}", inner.type_object().name());
    }

    println!("dropping a and b: the tuple still holds them");
    drop((a, b));
    println!("dropping the tuple: the outer tuple still holds it");
    drop(tuple);
    println!("dropping the outer tuple:");
    drop(outer);
    println!(
        "type {:?}: basicsize {}, itemsize {} (CPython 3.11: 24 and 8; sys.getsizeof \
         adds 16 for the GC header, which a basic object has not)",
        Tuple::TYPE.name(),
        Tuple::TYPE.basicsize(),
        Tuple::TYPE.itemsize()
    );
    Ok(())
}
