//! A dynamic language's value model on objimpl, with no `unsafe`: integers
//! of 30-bit digits with the sign in `ob_size` (as CPython's `int`), interned
//! strings in a weak table, lists and dicts that may hold each other (and
//! themselves), a worker thread, and a destructor that panics.
//!
//! `cargo run --example runtime`

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use objimpl::gc::Traverse;
use objimpl::prelude::*;
use objimpl::value::{PyDisplay, PyEq, PyHash, PyPartialEq};
use objimpl::{WeakList, WeakValueMap};

// ---- Integers: digits of 30 bits, least significant first; the sign of
// `ob_size` is the number's.

const SHIFT: u32 = 30;
const MASK: u64 = (1 << SHIFT) - 1;

#[pyobject(basic, item = u32, name = "int")]
#[derive(Debug)]
struct Int;

#[pymethods]
impl Int {
    /// A new integer object.
    fn from_i128(n: i128) -> Result<Py<Self>, MemoryError> {
        let mut magnitude = n.unsigned_abs();
        let mut digits = Vec::new();
        while magnitude != 0 {
            digits.push((magnitude as u64 & MASK) as u32);
            magnitude >>= SHIFT;
        }
        let mut int = Int::new_var(Int, digits)?;
        if n < 0 {
            let size = -(int.len() as isize);
            int.set_signed_size(size); // unique: just made
        }
        Ok(int)
    }

    /// The value, if it fits.
    fn to_i128(self: &Py<Self>) -> Option<i128> {
        let mut magnitude: i128 = 0;
        for &digit in self.items().iter().rev() {
            magnitude = magnitude
                .checked_mul(1 << SHIFT)?
                .checked_add(i128::from(digit))?;
        }
        Some(if self.signed_size() < 0 {
            -magnitude
        } else {
            magnitude
        })
    }

    /// The sum, as a new object.
    fn add(self: &Py<Self>, other: &Py<Self>) -> Result<Py<Self>, MemoryError> {
        let sum = self
            .to_i128()
            .zip(other.to_i128())
            .and_then(|(a, b)| a.checked_add(b));
        Int::from_i128(sum.unwrap_or(i128::MAX))
    }
}

impl PyDisplay for Int {
    fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match this.to_i128() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "<int of {} digits>", this.len()),
        }
    }
}
impl PyPartialEq for Int {
    fn eq(this: &Py<Self>, other: &Py<Self>) -> bool {
        this.signed_size() == other.signed_size() && this.items() == other.items()
    }
}
impl PyEq for Int {}
impl PyHash for Int {
    fn hash<H: Hasher>(this: &Py<Self>, state: &mut H) {
        this.signed_size().hash(state);
        this.items().hash(state);
    }
}

// ---- Strings: UTF-8 bytes as items, the hash cached, interned weakly.

#[pyobject(basic, item = u8, name = "str")]
struct Str {
    hash: Cell<Option<u64>>,
    #[pyobject(weaklist)]
    weak: WeakList,
}

thread_local! {
    /// Every live string of the thread, once: entries go with their strings.
    static INTERNED: WeakValueMap<Vec<u8>, Str> = WeakValueMap::new();
}

#[pymethods]
impl Str {
    /// The one string object of this text.
    fn intern(text: &str) -> Result<Py<Self>, MemoryError> {
        INTERNED.with(|table| {
            table.get_or_try_insert_with(text.as_bytes(), || {
                let str = Str {
                    hash: Cell::new(None),
                    weak: WeakList::new(),
                };
                Str::new_var_from_slice(str, text.as_bytes())
            })
        })
    }

    fn as_str(self: &Py<Self>) -> &str {
        std::str::from_utf8(self.items()).unwrap_or("<not UTF-8>")
    }

    /// FNV-1a over the bytes, computed once.
    fn hash_value(self: &Py<Self>) -> u64 {
        if let Some(hash) = self.hash.get() {
            return hash;
        }
        let hash = self
            .items()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        self.hash.set(Some(hash));
        hash
    }
}

impl PyDisplay for Str {
    fn fmt(this: &Py<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", this.as_str())
    }
}
impl PyPartialEq for Str {
    fn eq(this: &Py<Self>, other: &Py<Self>) -> bool {
        // Interned: one object per text.
        Py::ptr_eq(this, other) || this.items() == other.items()
    }
}
impl PyEq for Str {}
impl PyHash for Str {
    fn hash<H: Hasher>(this: &Py<Self>, state: &mut H) {
        state.write_u64(this.hash_value());
    }
}

// ---- Values, and the containers that hold them (and may form cycles).

/// A value of the language. `#[derive(Traverse)]`: the collector sees the
/// lists and dicts it holds, with no `unsafe`.
#[derive(Clone, Traverse)]
enum Value {
    Nil,
    Bool(bool),
    Int(Py<Int>),
    Str(Py<Str>),
    List(Py<List>),
    Dict(Py<Dict>),
}

/// A dict key: the values that hash by value.
#[derive(Clone, PartialEq, Eq, Hash, Traverse)]
enum Key {
    Int(Py<Int>),
    Str(Py<Str>),
}

#[pyobject(gc)]
struct List {
    items: RefCell<Vec<Value>>,
}

#[pymethods]
impl List {
    fn empty() -> Result<Py<Self>, MemoryError> {
        List::new(List {
            items: RefCell::default(),
        })
    }

    fn push(self: &Py<Self>, value: Value) {
        self.items.borrow_mut().push(value);
    }

    fn len(self: &Py<Self>) -> usize {
        self.items.borrow().len()
    }
}

#[pyobject(gc)]
struct Dict {
    entries: RefCell<HashMap<Key, Value>>,
}

#[pymethods]
impl Dict {
    fn empty() -> Result<Py<Self>, MemoryError> {
        Dict::new(Dict {
            entries: RefCell::default(),
        })
    }

    fn set(self: &Py<Self>, key: Key, value: Value) {
        self.entries.borrow_mut().insert(key, value);
    }

    fn get(self: &Py<Self>, key: &Key) -> Option<Value> {
        self.entries.borrow().get(key).cloned()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s}"),
            Value::List(l) => write!(f, "<list of {}>", l.len()),
            Value::Dict(d) => write!(f, "<dict of {}>", d.entries.borrow().len()),
        }
    }
}

// ---- A destructor that panics, run by the collector.

#[pyobject(gc)]
struct Grumpy {
    me: RefCell<Option<Py<Grumpy>>>,
}

impl Drop for Grumpy {
    fn drop(&mut self) {
        panic!("Grumpy will not go quietly");
    }
}

fn main() -> Result<(), MemoryError> {
    // Integers, by value.
    let big = Int::from_i128(-(1 << 70))?;
    let one = Int::from_i128(1)?;
    let sum = big.add(&one)?;
    println!(
        "{big} + {one} = {sum} ({} digits, ob_size {})",
        sum.len(),
        sum.signed_size()
    );
    assert_eq!(sum, Int::from_i128(-(1 << 70) + 1)?);

    // Strings, interned: one object per text while it lives.
    let a = Str::intern("spam")?;
    let b = Str::intern("spam")?;
    assert!(Py::ptr_eq(&a, &b));
    println!(
        "interned {a}: {} live strings",
        INTERNED.with(WeakValueMap::len)
    );
    drop((a, b));
    assert_eq!(
        INTERNED.with(WeakValueMap::len),
        0,
        "the entry went with its string"
    );

    // A dict keyed by value, holding a list that holds the dict: a cycle.
    let dict = Dict::empty()?;
    let list = List::empty()?;
    list.push(Value::Dict(dict.clone()));
    list.push(Value::Int(Int::from_i128(42)?));
    list.push(Value::Str(Str::intern("eggs")?));
    list.push(Value::Nil);
    dict.set(Key::Str(Str::intern("items")?), Value::List(list.clone()));
    dict.set(Key::Int(Int::from_i128(7)?), Value::Bool(true));
    let found = dict.get(&Key::Str(Str::intern("items")?));
    println!(
        "dict[\"items\"] = {}",
        found.as_ref().map_or("?".into(), Value::to_string)
    );
    let shown: Vec<String> = list.items.borrow().iter().map(Value::to_string).collect();
    println!("list = [{}]", shown.join(", "));
    assert!(matches!(
        dict.get(&Key::Int(Int::from_i128(7)?)),
        Some(Value::Bool(true))
    ));
    drop((dict, list, found));
    let freed = gc::collect();
    println!("the dict-list cycle: {freed} objects collected");
    assert_eq!(freed, 2);

    // A worker thread computes with an integer sent to it.
    let parcel = Py::into_sendable(Int::from_i128(20)?).expect("unique");
    let answer = std::thread::spawn(move || {
        let n = parcel.into_py();
        let doubled = n.add(&n).and_then(|d| d.add(&Int::from_i128(2)?))?;
        Py::into_sendable(doubled).map_err(|_| MemoryError)
    })
    .join()
    .expect("the worker ends")?
    .into_py();
    println!("the worker answered {answer}");
    assert_eq!(answer.to_i128(), Some(42));

    // A destructor's panic during a collection goes to the hook, and the
    // program carries on.
    gc::set_unraisable_hook(Some(std::sync::Arc::new(|u| {
        println!(
            "ignored in {} of '{}': {}",
            u.what(),
            u.type_name(),
            u.message().unwrap_or("?")
        );
    })));
    std::panic::set_hook(Box::new(|_| {})); // (std's hook would print it too)
    let g = Grumpy::new(Grumpy {
        me: RefCell::default(),
    })?;
    *g.me.borrow_mut() = Some(g.clone());
    drop(g);
    assert_eq!(gc::collect(), 1);
    let _ = std::panic::take_hook();
    gc::set_unraisable_hook(None);
    println!("done");
    Ok(())
}
