//! End to end through the constructors `#[pyobject]` generates: sizes,
//! reference counts, drops, items and alignment. One binary, one module per
//! concern; the object types they share are in `types`.

mod alignment;
mod design;
mod drops;
mod gc;
mod identity;
mod items;
mod refcounts;
mod sizes;
mod types;
mod weak;
