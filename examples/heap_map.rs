//! The heap map of a busier program: three threads with heaps of their own,
//! objects of many sizes, arenas partly drained, and the heap of a thread
//! that exited while its blocks lived on.
//!
//! Run with `cargo run --release --example heap_map`; it prints where the
//! picture is (beside the build, or in the temporary directory).

use std::sync::{Arc, Barrier, mpsc};
use std::thread;

use objimpl::alloc;
use objimpl::prelude::*;

/// CPython's `float`: a 32-byte block.
#[pyobject(basic, name = "float")]
pub struct Float {
    ob_fval: f64,
}

/// CPython's `tuple`: 24 bytes and a reference per item.
#[pyobject(basic, item = PyAny, name = "tuple")]
pub struct Tuple;

/// CPython's `bytes`: 33 bytes and one per byte.
#[pyobject(basic, item = u8, name = "bytes")]
pub struct Bytes {
    ob_shash: isize,
}

/// Floats, most of which are dropped again in a run, then one in three of
/// the rest: whole pools go back to their arenas (grey cells), the others
/// are left two-thirds full. Tuples of 0 to 15 items spread over classes.
fn numbers() -> Result<Vec<PyAny>, MemoryError> {
    let mut floats: Vec<Option<Py<Float>>> = (0..120_000)
        .map(|i| {
            Float::new(Float {
                ob_fval: f64::from(i),
            })
            .map(Some)
        })
        .collect::<Result<_, _>>()?;
    let mut kept: Vec<PyAny> = Vec::new();
    for i in 0..12_000 {
        let items = (0..i % 16).map(|_| PyAny::from(Float::new(Float { ob_fval: 0.0 }).unwrap()));
        kept.push(Tuple::new_var(Tuple, items.collect::<Vec<_>>())?.into());
    }
    let len = floats.len();
    for f in &mut floats[len / 4..len * 3 / 5] {
        *f = None;
    }
    for (i, f) in floats.iter_mut().enumerate() {
        if i % 3 == 0 {
            *f = None;
        }
    }
    kept.extend(floats.into_iter().flatten().map(PyAny::from));
    Ok(kept)
}

/// Byte strings of 100 to 480 bytes, every other one dropped: half-full
/// pools in the larger classes.
fn texts() -> Result<Vec<Py<Bytes>>, MemoryError> {
    let mut all: Vec<Option<Py<Bytes>>> = (0..16_000)
        .map(|i| {
            let len = 100 + i * 37 % 380;
            Bytes::new_var(Bytes { ob_shash: -1 }, vec![b'x'; len]).map(Some)
        })
        .collect::<Result<_, _>>()?;
    for b in all.iter_mut().step_by(2) {
        *b = None;
    }
    Ok(all.into_iter().flatten().collect())
}

fn main() {
    // Two threads build their heaps and hold them while the picture is drawn.
    let built = Arc::new(Barrier::new(3));
    let drawn = Arc::new(Barrier::new(3));
    let workers = [hold(numbers, &built, &drawn), hold(texts, &built, &drawn)];
    // A third thread allocates blocks of 48 to 64 bytes, hands them over and
    // exits: its heap becomes an orphan, which this thread adopts.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let blocks: Vec<usize> = (0..20_000)
            .map(|i| alloc::object_malloc(48 + i % 17).expose_provenance())
            .collect();
        tx.send(blocks).unwrap();
    })
    .join()
    .unwrap();
    let handed_over = rx.recv().unwrap();
    built.wait();

    let mut stdout = std::io::stdout().lock();
    alloc::debug_malloc_stats(&mut stdout).unwrap();
    match write_heap_map() {
        Ok(path) => println!("\nThe heap map: {}", path.display()),
        Err(err) => println!("\nThe heap map could not be written: {err}"),
    }

    drawn.wait();
    for worker in workers {
        worker.join().unwrap();
    }
    for p in handed_over {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(p);
        // SAFETY: each came from `object_malloc` (its provenance exposed
        // above) and is freed once.
        unsafe { alloc::object_free(p) };
    }
}

/// Runs `work` on a thread of its own, which keeps what it made alive until
/// the picture is drawn.
fn hold<T: 'static>(
    work: fn() -> Result<T, MemoryError>,
    built: &Arc<Barrier>,
    drawn: &Arc<Barrier>,
) -> thread::JoinHandle<()> {
    let (built, drawn) = (built.clone(), drawn.clone());
    thread::spawn(move || {
        let held = work().expect("out of memory");
        built.wait();
        drawn.wait();
        drop(held);
    })
}

/// Writes the heap map beside the build (`target/release/heap-map-threads.svg`
/// with cargo), or in the temporary directory.
fn write_heap_map() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join("heap-map-threads.svg");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    alloc::heap_map_svg(&mut file)?;
    std::io::Write::flush(&mut file)?;
    Ok(path)
}
