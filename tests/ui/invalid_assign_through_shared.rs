use objimpl::prelude::*;

#[pyobject(basic)]
pub struct Counter {
    pub n: u64,
}

fn main() -> Result<(), MemoryError> {
    let counter = Counter::new(Counter { n: 0 })?;
    counter.n = 1;
    Ok(())
}
