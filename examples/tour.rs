//! A tour of objimpl: define object types with `#[pyobject]`, make and drop
//! objects, and compare their sizes with CPython 3.11's for the same types.
//!
//! Run with `cargo run --release --example tour`.

use objimpl::prelude::*;
use objimpl::{object_size, var_size};

/// A user type: `PyObject_HEAD` and two doubles.
#[pyobject(basic)]
#[derive(Debug)]
pub struct Point {
    x: f64,
    y: f64,
}

/// CPython's `float` (see `examples/float.rs`).
#[pyobject(basic, name = "float")]
pub struct Float {
    ob_fval: f64,
}

/// CPython's `int`: 30-bit digits as items (see `examples/long.rs`, which
/// also keeps the sign in `ob_size`).
#[pyobject(basic, item = u32, name = "int")]
pub struct Long;

/// CPython's `bytes`: the bytes and a trailing NUL as items (see
/// `examples/bytes.rs`).
#[pyobject(basic, item = u8, name = "bytes")]
pub struct Bytes {
    ob_shash: isize,
}

/// CPython's `tuple`: references to objects of any type (see
/// `examples/tuple.rs`).
#[pyobject(basic, item = PyAny, name = "tuple")]
pub struct Tuple;

/// How many items an object of `len` elements has: `bytes` keeps a NUL after
/// its bytes.
fn items_for(name: &str, len: usize) -> usize {
    if name == "bytes" { len + 1 } else { len }
}

/// CPython 3.11's figures for a type, read off `python3` on x86_64:
/// `T.__basicsize__`, `T.__itemsize__`, and the `__sizeof__()` of objects
/// with `LENGTHS` elements (digits of an int: `0`, `1`, `2**30`, `2**210`;
/// `b"x" * n`; `(None,) * n`).
struct CPython {
    basicsize: usize,
    itemsize: usize,
    sizes: [usize; 4],
    note: &'static str,
}

/// Element counts for the size table (bytes, digits, references).
const LENGTHS: [usize; 4] = [0, 1, 2, 8];

fn main() -> Result<(), MemoryError> {
    println!("objimpl tour: CPython's object memory interface, in Rust\n");

    println!("Objects");
    let p = Point::new(Point { x: 1.0, y: 2.0 })?;
    let q = p.clone();
    println!(
        "  {:?} at {:p}: refcnt {} (p and q are one object)",
        *q,
        p.as_ptr(),
        p.refcnt()
    );
    drop(q);

    let f = Float::new(Float { ob_fval: 3.75 })?;
    let n = Long::new_var(Long, [0, 0, 1])?; // 2**60, least significant digit first
    let b = Bytes::new_var(Bytes { ob_shash: -1 }, *b"spam\0")?;
    println!(
        "  float {}, int with digits {:?} (2**60), bytes {:?} + NUL",
        f.ob_fval,
        n.items(),
        String::from_utf8_lossy(&b.items()[..b.len() - 1]),
    );

    let items = [p.clone().into(), f.into(), n.into(), b.into()];
    let t = Tuple::new_var(Tuple, items)?;
    let names: Vec<_> = t.items().iter().map(|i| i.type_object().name()).collect();
    println!(
        "  tuple of {names:?}: holds a reference to each; the Point's refcnt is {}",
        p.refcnt()
    );
    drop(t);
    println!(
        "  dropped the tuple, and with it the float, the int and the bytes; the Point's refcnt is {}",
        p.refcnt()
    );

    let count = 100_000;
    let total = (0..count).try_fold(0.0, |sum, i| {
        Float::new(Float {
            ob_fval: f64::from(i),
        })
        .map(|f| sum + f.ob_fval)
    })?;
    println!("  made and dropped {count} floats (sum {total})\n");

    let rows = [
        (Point::TYPE, None),
        (
            Float::TYPE,
            Some(CPython {
                basicsize: 24,
                itemsize: 0,
                sizes: [24; 4],
                note: "",
            }),
        ),
        (
            Long::TYPE,
            Some(CPython {
                basicsize: 24,
                itemsize: 4,
                sizes: [28, 28, 32, 56],
                note: "CPython gives 0 one digit, and does not round to 8",
            }),
        ),
        (
            Bytes::TYPE,
            Some(CPython {
                basicsize: 33,
                itemsize: 1,
                sizes: [33, 34, 35, 41],
                note: "CPython counts the NUL in basicsize, and does not round to 8",
            }),
        ),
        (
            Tuple::TYPE,
            Some(CPython {
                basicsize: 24,
                itemsize: 8,
                sizes: [24, 32, 40, 88],
                note: "sys.getsizeof adds 16 for CPython's GC header",
            }),
        ),
    ];

    println!("Sizes in bytes, objimpl next to CPython 3.11 (64-bit)");
    let lengths = LENGTHS.map(|n| format!("{n:>5}")).join("");
    println!(
        "  {:<16} {:>9} {:>8}  n ={lengths}",
        "type", "basicsize", "itemsize"
    );
    for (tp, cpython) in rows {
        let sizes = LENGTHS.map(|n| {
            let size = if tp.itemsize() == 0 {
                Some(object_size(tp))
            } else {
                var_size(tp, items_for(tp.name(), n))
            };
            format!("{:>5}", size.unwrap_or(0))
        });
        println!(
            "  {:<16} {:>9} {:>8}     {}",
            format!("{} (objimpl)", tp.name()),
            tp.basicsize(),
            tp.itemsize(),
            sizes.join("")
        );
        match cpython {
            Some(row) => {
                let line = format!(
                    "  {:<16} {:>9} {:>8}     {}  {}",
                    format!("{} (CPython)", tp.name()),
                    row.basicsize,
                    row.itemsize,
                    row.sizes.map(|size| format!("{size:>5}")).join(""),
                    row.note
                );
                println!("{}", line.trim_end());
            }
            None => println!(
                "  {:<16} {:>9}   (no such type)",
                format!("{} (CPython)", tp.name()),
                "-"
            ),
        }
    }
    println!(
        "  objimpl's sizes are var_size(tp, items) (_PyObject_VAR_SIZE); CPython's are\n  \
         __sizeof__. Both pools serve small requests in 16-byte size classes, so where\n  \
         the figures differ by rounding, the blocks they take are the same.\n"
    );

    // Keep some objects alive, so the allocator has something to show.
    let live: Vec<PyAny> = (0..10_000)
        .map(|i| -> Result<PyAny, MemoryError> {
            Ok(match i % 3 {
                0 => Float::new(Float { ob_fval: 0.5 })?.into(),
                1 => Long::new_var(Long, [i])?.into(),
                _ => Bytes::new_var(
                    Bytes { ob_shash: -1 },
                    b"0123456789abcdef\0".repeat(i as usize % 8),
                )?
                .into(),
            })
        })
        .collect::<Result<_, _>>()?;
    println!(
        "The allocator with {} objects alive (sys._debugmallocstats()'s table)\n",
        live.len()
    );
    let mut stdout = std::io::stdout().lock();
    objimpl::alloc::debug_malloc_stats(&mut stdout).map_err(|_| MemoryError)?;
    match write_heap_map() {
        Ok(path) => println!(
            "\nThe same heap as a picture, every arena a row and every pool a cell:\n  {}",
            path.display()
        ),
        Err(err) => println!("\nThe heap map could not be written: {err}"),
    }
    drop(live);
    Ok(())
}

/// Writes `alloc::heap_map_svg` beside the build (`target/release/heap-map.svg`
/// when run with cargo), or in the temporary directory, and says where.
fn write_heap_map() -> std::io::Result<std::path::PathBuf> {
    // The example runs from target/<profile>/examples/; its parent is the
    // profile's directory, where cargo keeps what it built.
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join("heap-map.svg");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    objimpl::alloc::heap_map_svg(&mut file)?;
    std::io::Write::flush(&mut file)?;
    Ok(path)
}
