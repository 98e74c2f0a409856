//! CPython's `bytes`: a var-size object whose items are the bytes, followed
//! by a NUL so that C code can read them as a string.
//!
//! CPython 3.11 declares `PyObject_VAR_HEAD; Py_hash_t ob_shash; char
//! ob_sval[1];` and allocates `PyBytesObject_SIZE + n` bytes for `n` bytes,
//! where `PyBytesObject_SIZE == offsetof(PyBytesObject, ob_sval) + 1 == 33`
//! counts the NUL. Here the NUL is the last item: `n + 1` items after a
//! 32-byte basicsize, so `var_size(n + 1)` is CPython's `33 + n` rounded up
//! to 8 bytes.
//!
//! Run with `cargo run --release --example bytes`.

use std::cell::Cell;
use std::ffi::CStr;

use objimpl::prelude::*;
use objimpl::var_size;

/// `PyBytesObject`: `PyObject_VAR_HEAD`, the cached hash, then the bytes.
#[pyobject(basic, item = u8, name = "bytes")]
pub struct Bytes {
    /// `ob_shash`: -1 until the hash is first asked for.
    ob_shash: Cell<isize>,
}

#[pymethods]
impl Bytes {
    /// `PyBytes_FromStringAndSize`: the bytes and a trailing NUL.
    fn from_slice(data: &[u8]) -> Result<Py<Bytes>, MemoryError> {
        let with_nul = (0..data.len() + 1).map(|i| data.get(i).copied().unwrap_or(0));
        Bytes::new_var(
            Bytes {
                ob_shash: Cell::new(-1),
            },
            with_nul,
        )
    }

    /// The bytes, without the NUL (`PyBytes_GET_SIZE` of them).
    fn as_bytes(self: &Py<Self>) -> &[u8] {
        let items = self.items();
        &items[..items.len() - 1]
    }

    /// `PyBytes_AS_STRING`: up to the first NUL, as C code reads it.
    fn as_c_str(self: &Py<Self>) -> &CStr {
        CStr::from_bytes_until_nul(self.items()).unwrap_or_default()
    }

    /// `bytes_hash`: computed once, then cached in `ob_shash`. (FNV-1a here;
    /// CPython uses SipHash.)
    fn hash(self: &Py<Self>) -> isize {
        if self.ob_shash.get() == -1 {
            let hash = self
                .as_bytes()
                .iter()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
            // -1 means "not computed": CPython's hashes never take it.
            let hash = hash as isize;
            self.ob_shash.set(if hash == -1 { -2 } else { hash });
        }
        self.ob_shash.get()
    }
}

fn main() -> Result<(), MemoryError> {
    let spam = Bytes::from_slice(b"spam")?;
    println!(
        "{:?}: {} bytes + NUL, as C sees it {:?}, hash {} (cached: {})",
        String::from_utf8_lossy(spam.as_bytes()),
        spam.as_bytes().len(),
        spam.as_c_str(),
        spam.hash(),
        spam.ob_shash.get()
    );

    println!(
        "{:>6} {:>18} {:>22}",
        "len", "var_size(len + 1)", "CPython 33 + len"
    );
    for n in [0, 1, 4, 7, 8, 100] {
        let bytes = Bytes::from_slice(&vec![b'x'; n])?;
        let size = var_size(Bytes::TYPE, bytes.len()).ok_or(MemoryError)?;
        println!("{n:>6} {size:>18} {:>22}", 33 + n);
    }
    println!(
        "type {:?}: basicsize {} (CPython: 33, counting the NUL), itemsize {}",
        Bytes::TYPE.name(),
        Bytes::TYPE.basicsize(),
        Bytes::TYPE.itemsize()
    );
    Ok(())
}
