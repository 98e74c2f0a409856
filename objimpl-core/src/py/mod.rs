//! Rust values in objects: the handles [`Py<T>`], [`PyAny`], [`WeakPy`] and
//! [`SendPy`], and what ties a Rust type to its objects ([`PyObjectType`],
//! the layout, the type object's slots, and the end of an object's life).
//!
//! This floor stands on the collector (`gc`) and the raw object (`object`),
//! and neither of them knows it: the handles reach the `gc` kind of object
//! only through `kind`, and give the collector their references through
//! [`Traverse`](crate::gc::Traverse) impls of their own.

mod any;
mod dealloc;
mod handle;
mod kind;
pub(crate) mod layout;
mod object_type;
mod send;
mod slots;
#[cfg(target_pointer_width = "64")]
mod tagged;
mod traverse;
pub mod value;
mod var;
mod weak;
mod weak_list;
mod weak_map;

pub use any::PyAny;
pub use handle::Py;
pub use object_type::{BasicObject, PyObjectType};
pub use send::SendPy;
#[cfg(target_pointer_width = "64")]
pub use tagged::Tagged;
pub use weak::{WeakAny, WeakPy, WeakRefable};
pub use weak_list::WeakList;
pub use weak_map::WeakValueMap;
