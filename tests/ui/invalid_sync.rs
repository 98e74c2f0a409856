use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Counter {
    n: u64,
}

fn main() -> Result<(), MemoryError> {
    let counter = Counter::new(Counter { n: 0 })?;
    std::thread::scope(|s| {
        s.spawn(|| counter.n);
    });
    Ok(())
}
