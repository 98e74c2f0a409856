//! `#[pymethods]`: every receiver shape, a lifetime, a generic method,
//! `Self` in bodies and signatures, a chosen trait name, items left alone.
use std::cell::Cell;

use objimpl::prelude::*;

#[pyobject(basic, item = u8)]
pub struct Str {
    hash: Cell<u64>,
}

#[pymethods]
impl Str {
    /// Stays inherent: no object receiver.
    pub fn from_bytes(bytes: &[u8]) -> Result<Py<Self>, MemoryError> {
        Self::new_var_from_slice(Str { hash: Cell::new(0) }, bytes)
    }

    /// Stays inherent: a payload receiver.
    pub fn cached(&self) -> u64 {
        self.hash.get()
    }

    pub const EMPTY: &'static [u8] = b"";

    pub fn bytes<'a>(self: &'a Py<Self>) -> &'a [u8] {
        self.items()
    }

    pub fn hash(self: &Py<Str>) -> u64 {
        if self.cached() == 0 {
            let h = self.items().iter().fold(5381u64, |h, &b| h.wrapping_mul(33) ^ u64::from(b));
            self.hash.set(h);
        }
        self.cached()
    }

    pub fn push(self: &mut Py<Self>, byte: u8) -> Result<(), MemoryError> {
        let len = self.len();
        self.resize(len + 1, byte)?;
        self.hash.set(0);
        Ok(())
    }

    pub fn into_other(self: Py<Self>) -> Result<Py<Self>, MemoryError> {
        let copy: Py<Self> = Self::from_bytes(self.bytes())?;
        Ok(copy)
    }

    pub fn appended(mut self: Py<Self>, byte: u8) -> Result<Py<Self>, MemoryError> {
        self.push(byte)?;
        Ok(self)
    }

    pub fn starts_with<P: AsRef<[u8]>>(self: &Py<Self>, prefix: P) -> bool
    where
        P: Copy,
    {
        self.items().starts_with(prefix.as_ref())
    }
}

#[pyobject(basic)]
pub struct Counter {
    n: Cell<u32>,
}

#[pymethods(trait = CounterExt)]
impl Counter {
    fn bump(self: &Py<Self>) -> Py<Self> {
        self.n.set(self.n.get() + 1);
        self.clone()
    }
}

mod shapes {
    use objimpl::prelude::*;
    #[pyobject(basic)]
    pub struct Circle {
        pub r: f64,
    }
}

// An impl naming its type by a path: `Self` in the moved methods is that path.
#[pymethods(trait = CircleMethods)]
impl shapes::Circle {
    fn doubled(self: &Py<Self>) -> Result<Py<Self>, MemoryError> {
        Self::new(Self { r: self.r * 2.0 })
    }
}

mod elsewhere {
    use super::StrMethods;
    pub fn len_of(s: &objimpl::Py<super::Str>) -> usize {
        s.bytes().len()
    }
}

fn main() -> Result<(), MemoryError> {
    let mut s = Str::from_bytes(b"spa")?;
    s.push(b'm')?;
    assert_eq!(s.bytes(), b"spam");
    assert!(s.starts_with(b"sp"));
    assert_ne!(s.hash(), 0);
    assert_eq!(elsewhere::len_of(&s), 4);
    assert_eq!(s.into_other()?.appended(b'!')?.bytes(), b"spam!");
    assert_eq!(Str::EMPTY, b"");
    assert_eq!(shapes::Circle::new(shapes::Circle { r: 1.0 })?.doubled()?.r, 2.0);
    let c = Counter::new(Counter { n: Cell::new(0) })?;
    assert_eq!(c.bump().refcnt(), 2);
    assert_eq!(c.n.get(), 1);
    Ok(())
}
