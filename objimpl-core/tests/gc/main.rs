//! The cycle collector end to end, on types made by hand exactly as
//! `#[pyobject(gc)]` makes them: cycles of every shape, resurrection,
//! panics, automatic collection, threads, and random graphs.
//!
//! Every test counts the drops of its payloads (each exactly once) and the
//! object blocks its thread holds (back to the start: nothing leaked).

mod api;
mod automatic;
mod cycles;
mod freelist;
mod property;
mod resurrection;
mod support;
