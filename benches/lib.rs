//! Benchmarks of objimpl against its peers; the code is in the bench targets
//! (`alloc/`, `objects.rs`), the shared harness in `common/`. Run them with
//! `cargo bench -p objimpl-benches --features cpython`.
