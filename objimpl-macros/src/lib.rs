//! The `#[pyobject]` attribute of [objimpl](https://docs.rs/objimpl).
//!
//! The macro runs in three steps, one module each: `parse` (tokens to
//! syntax), `check` (syntax to a valid object type, or an error for each
//! misuse) and `expand` (the generated code); `driver` runs them on
//! `proc_macro2` tokens. Errors are collected in a context, `ctxt::Ctxt`,
//! so that a user sees all of them at once. Nothing but `lib.rs` touches
//! `proc_macro`, so the fuzzer (`fuzz/`) compiles the other modules as its
//! own and runs `driver` on arbitrary tokens.

mod check;
mod ctxt;
mod derive_traverse;
mod driver;
mod expand;
mod methods;
#[cfg(test)]
mod output_tests;
mod parse;

use proc_macro::TokenStream;

/// Makes a struct an object type: an object layout (`PyObject_HEAD` or
/// `PyObject_VAR_HEAD`, then the struct, then the items), a static type
/// object reachable as `T::TYPE`, compile-time size checks, and the
/// constructors `T::new` (`PyObject_New`) and, with `item`, `T::new_var`,
/// `T::new_var_with` and `T::new_var_from_slice` (`PyObject_NewVar`, as
/// `Py::new_var` and its two siblings).
///
/// | option | meaning |
/// | --- | --- |
/// | `basic` | a plain object, not tracked by a cycle collector; the default kind |
/// | `gc` | an object that may be part of a reference cycle: a GC header in front, tracked by the thread's cycle collector (`objimpl::gc`), with a `Traverse` impl derived from the fields |
/// | `item = T` | a var-size object: `len()` items of `T` follow the fields |
/// | `name = "..."` | `tp_name`; default: the struct's name |
/// | `crate = path` | where the runtime lives; by default `::objimpl` under the name your `Cargo.toml` gives it (so a renamed dependency, `oi = { package = "objimpl", .. }`, needs nothing), or `objimpl-core` if you depend on that instead |
/// | `new = name` | name the constructors `T::name`, `T::name_var`, `T::name_var_with` and `T::name_var_from_slice`, so the type can have its own `new` |
/// | `new = false` | no constructors (`Py::new` and `Py::new_var` remain) |
/// | `freelist = N` | keep the memory of up to `N` freed objects per thread for the next ones (CPython's `float` freelist); fixed-size types only |
///
/// On fields:
///
/// | option | meaning |
/// | --- | --- |
/// | `#[pyobject(weaklist)]` | on a `WeakList` field: objects of the type can be weakly referenced (`Py::downgrade`) |
/// | `#[pyobject(skip)]` | in a `gc` type: the collector does not look into this field (its handles keep their objects alive, and a cycle through them is never collected) |
///
/// A `gc` type's traversal is derived: every field not skipped is visited
/// through its type's `objimpl::gc::Traverse` impl, which the standard
/// containers, `RefCell`, `Cell<Option<Py<T>>>` and the handle-free types
/// have. A field whose type has none is a compile error at that field, so a
/// reference can never be forgotten. Mutate a `gc` object through `Cell` or
/// `RefCell` fields (`Py::get_mut` is refused at compile time: the
/// collector may read the payload at any allocation).
///
/// ```
/// use std::cell::RefCell;
/// use objimpl::prelude::*;
///
/// #[pyobject(gc)]
/// pub struct Person {
///     name: String,
///     friends: RefCell<Vec<Py<Person>>>,
/// }
///
/// let ann = Person::new(Person { name: "Ann".into(), friends: RefCell::default() })?;
/// let bob = Person::new(Person { name: "Bob".into(), friends: RefCell::default() })?;
/// ann.friends.borrow_mut().push(bob.clone());
/// bob.friends.borrow_mut().push(ann.clone());
/// drop((ann, bob));
/// assert_eq!(gc::collect(), 2); // the cycle is found and freed
/// # Ok::<(), MemoryError>(())
/// ```
///
/// A type whose fields are private needs a constructor of its own; the
/// generated `new` would collide with it (error E0592, "duplicate
/// definitions with name `new`", pointing at this attribute). Rename the
/// generated one and build on it:
///
/// ```
/// use objimpl::prelude::*;
///
/// #[pyobject(basic, new = alloc)]
/// pub struct Point { x: f64, y: f64 }
///
/// impl Point {
///     pub fn new(x: f64, y: f64) -> Result<Py<Point>, MemoryError> {
///         Point::alloc(Point { x, y })
///     }
/// }
/// assert_eq!(Point::new(3.0, 4.0)?.x, 3.0);
/// # Ok::<(), MemoryError>(())
/// ```
///
/// ```
/// use objimpl::prelude::*;
///
/// /// A point, as a C extension would define it.
/// #[pyobject(basic)]
/// #[derive(Debug, Clone)]
/// pub struct Point {
///     pub x: f64,
///     pub y: f64,
/// }
///
/// /// CPython's `int`: 30-bit digits, stored as items.
/// #[pyobject(basic, item = u32, name = "int")]
/// pub struct Long;
///
/// let p = Point::new(Point { x: 1.0, y: 2.0 })?;
/// assert_eq!((p.x, p.y, p.refcnt()), (1.0, 2.0, 1));
/// assert_eq!(Point::TYPE.basicsize(), 32); // PyObject_HEAD + two doubles
///
/// let n = Long::new_var(Long, [7, 9, 11])?;
/// assert_eq!(n.items(), &[7, 9, 11]);
/// assert_eq!(Long::new_var_with(Long, 3, |i| 7 + 2 * i as u32)?.items(), n.items());
/// assert_eq!(Long::new_var_from_slice(Long, n.items())?.items(), n.items());
/// assert_eq!((Long::TYPE.name(), Long::TYPE.basicsize(), Long::TYPE.itemsize()), ("int", 24, 4));
/// # Ok::<(), MemoryError>(())
/// ```
///
/// The struct is kept as written, with `#[repr(C)]` added; the rest is
/// generated inside a `const _: () = { ... };`. For `Point` above:
///
/// ```text
#[doc = include_str!("output_tests/expected/point.expected.rs")]
/// ```
///
/// Misuses are compile errors at the offending token, saying what to write
/// instead: an enum or a union, generics or lifetimes, an unknown, repeated or
/// malformed option, items that are zero-sized, unsized or aligned to more than
/// 16 bytes, a `packed` struct or one aligned to more than 16 bytes, both
/// `basic` and `gc`, `skip` outside a `gc` type, and (in a `gc` type) a field
/// or item type the collector cannot traverse.
#[proc_macro_attribute]
pub fn pyobject(args: TokenStream, input: TokenStream) -> TokenStream {
    pyobject_impl(args.into(), input.into()).into()
}

/// The macro on `proc_macro2` tokens: see [`driver`].
fn pyobject_impl(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    driver::pyobject(args, input)
}

/// Methods that take the whole object: write the receiver `self: &Py<Self>`
/// (or `&mut Py<Self>`, or `Py<Self>`) in an `impl` of a `#[pyobject]` type,
/// and call them on a `Py<T>` as `s.method()`. Such a method reaches what the
/// payload alone cannot: the items, `ob_size`, the reference count, and new
/// strong references (`self.clone()`). CPython hands every slot the object;
/// PyO3 hands methods a `Bound<Self>`; this is objimpl's way.
///
/// Stable Rust takes `Py<Self>` receivers only in traits, so those methods
/// move to a trait named `TypeMethods` (`trait = Name` to choose), with the
/// visibility the methods share, implemented for `Py<Type>`: `use` it where
/// the methods are called outside the module. In their bodies, `Self` is the
/// type, as written. Every other item stays in the `impl` as it is.
///
/// ```
/// use objimpl::prelude::*;
///
/// /// A string: its UTF-8 bytes are the items.
/// #[pyobject(basic, item = u8)]
/// pub struct Str { chars: usize }
///
/// #[pymethods]
/// impl Str {
///     /// A new string object.
///     pub fn from_str(s: &str) -> Result<Py<Self>, MemoryError> {
///         Self::new_var_from_slice(Str { chars: s.chars().count() }, s.as_bytes())
///     }
///
///     /// The text: the items, which the payload alone cannot reach.
///     pub fn as_str(self: &Py<Self>) -> &str {
///         std::str::from_utf8(self.items()).expect("built from a str")
///     }
///
///     /// The two strings, one after the other.
///     pub fn concat(self: &Py<Self>, other: &Py<Self>) -> Result<Py<Self>, MemoryError> {
///         let bytes = self.items().iter().chain(other.items()).copied();
///         Self::new_var(Str { chars: self.chars + other.chars }, bytes)
///     }
/// }
///
/// let s = Str::from_str("spam, ")?.concat(&Str::from_str("eggs")?)?;
/// assert_eq!((s.as_str(), s.chars), ("spam, eggs", 10));
/// # Ok::<(), MemoryError>(())
/// ```
#[proc_macro_attribute]
pub fn pymethods(args: TokenStream, input: TokenStream) -> TokenStream {
    methods::pymethods(args.into(), input.into()).into()
}

/// Derives `objimpl::gc::Traverse` (CPython's `tp_traverse`) for a struct or
/// an enum of your own, field by field: each field is visited through its
/// type's `Traverse` impl, so the derive needs no `unsafe`, and a field
/// whose type has none is a compile error at that field. A type parameter
/// must be `Traverse` itself. Mark a field `#[traverse(skip)]` to leave it
/// unvisited (its handles then keep their objects alive, and a cycle through
/// it is never collected).
///
/// A `#[pyobject(gc)]` type's own traversal is already derived; this is for
/// the types its fields hold.
///
/// ```
/// use std::cell::RefCell;
/// use std::collections::HashMap;
/// use objimpl::gc::Traverse;
/// use objimpl::prelude::*;
///
/// /// A dictionary key: numbers and byte strings, no handles.
/// #[derive(Traverse, PartialEq, Eq, Hash)]
/// pub enum Key {
///     Int(i64),
///     Bytes(Vec<u8>),
/// }
///
/// /// A dictionary value: a number, or any object.
/// #[derive(Traverse)]
/// pub enum Value {
///     Int(i64),
///     Object(PyAny),
/// }
///
/// #[pyobject(gc)]
/// pub struct Dict {
///     entries: RefCell<HashMap<Key, Value>>,
/// }
///
/// let d = Dict::new(Dict { entries: RefCell::default() })?;
/// d.entries.borrow_mut().insert(Key::Int(1), Value::Object(d.clone().into()));
/// drop(d);
/// assert_eq!(gc::collect(), 1); // the dict that holds itself, found through the enums
/// # Ok::<(), MemoryError>(())
/// ```
#[proc_macro_derive(Traverse, attributes(traverse))]
pub fn derive_traverse(input: TokenStream) -> TokenStream {
    derive_traverse::derive(input.into()).into()
}
