//! The layout of a block under the debug hooks, as CPython's
//! (`Objects/obmalloc.c`, "debug hooks"), `S` being the size of a word:
//!
//! ```text
//!  base                   p = base + 2S            tail = p + n
//!  ┌──────────┬───┬────────┬────────────────────────┬──────────┬──────────┐
//!  │ n (big-  │api│ 0xFD x │ the caller's n bytes:  │ 0xFD x 4 │ serial   │
//!  │ endian S)│id │  S - 1 │ 0xCD when fresh        │          │ (big-    │
//!  │          │   │        │ 0xDD once freed        │          │ endian 4)│
//!  └──────────┴───┴────────┴────────────────────────┴──────────┴──────────┘
//! ```
//!
//! 24 bytes on 64-bit, as a release build of CPython 3.11 adds (which
//! keeps no serial number: its tail is `S` forbidden bytes). Here the tail
//! holds four forbidden bytes and a 32-bit serial: an overflow runs into the
//! forbidden bytes first, however far it goes, so it is found as surely as
//! with eight; a float's block is then 48 bytes, not 64. Serial numbers
//! count allocations modulo 2^32 (0 is skipped).
//!
//! The caller's bytes stay 16-byte aligned: the head is 16 bytes on 64-bit.
//! A freed block is filled with 0xDD from `base` to its end, head and tail
//! included.

use core::cell::Cell;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

/// A word: the size field.
pub(crate) const WORD: usize = size_of::<usize>();
/// Bytes before the caller's: size, API id, forbidden bytes.
pub(crate) const HEAD: usize = 2 * WORD;
/// The forbidden bytes after the caller's.
pub(crate) const AFTER: usize = 4;
/// Bytes after the caller's: forbidden bytes, serial.
pub(crate) const TAIL: usize = AFTER + size_of::<Serial>();
/// What the hooks add to each block.
pub(crate) const OVERHEAD: usize = HEAD + TAIL;

/// A block's serial number, as its tail holds it.
pub(crate) type Serial = u32;

/// How many serial numbers the threads have reserved.
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// How many serial numbers a thread reserves at once: a serial is then a
/// thread-local increment, and the shared counter's atomic add (7 ns on
/// this machine's CPUs, a tenth of a `malloc` and `free` under the hooks)
/// is paid once a batch.
const SERIAL_BATCH: u64 = 256;

std::thread_local! {
    /// The calling thread's next serial number and the end of its batch.
    static RESERVED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The serial number of a new allocation (or reallocation) through the
/// hooks: unique, and on each thread increasing (a program's first is 1).
/// Threads take them in batches, so two threads' serials interleave by
/// batch. The tail keeps 32 bits: past 2^32 - 1 they start again at 1.
pub(crate) fn next_serial() -> Serial {
    RESERVED.with(|reserved| {
        loop {
            let (mut next, mut end) = reserved.get();
            if next == end {
                next = SERIAL.fetch_add(SERIAL_BATCH, Ordering::Relaxed) + 1;
                end = next + SERIAL_BATCH;
            }
            reserved.set((next + 1, end));
            let serial = next as Serial;
            if serial != 0 {
                return serial;
            }
        }
    })
}

/// Whether `serial` may be a serial number handed out so far: not 0, and
/// at most the last one reserved until they wrapped.
pub(crate) fn handed_out(serial: Serial) -> bool {
    let count = SERIAL.load(Ordering::Relaxed);
    serial != 0 && (count > u64::from(Serial::MAX) || u64::from(serial) <= count)
}

/// Fresh memory (CPython's `PYMEM_CLEANBYTE`).
pub const CLEAN_BYTE: u8 = 0xCD;
/// Freed memory (`PYMEM_DEADBYTE`).
pub const DEAD_BYTE: u8 = 0xDD;
/// The guards before and after each block (`PYMEM_FORBIDDENBYTE`).
pub const FORBIDDEN_BYTE: u8 = 0xFD;

static_assertions::const_assert_eq!(HEAD % super::super::size_class::ALIGNMENT, 0);

/// Writes the head and the tail of a block of `size` bytes at `base`, and
/// fills the caller's bytes with `fill`.
///
/// # Safety
///
/// - `base` is valid for writes of `size + OVERHEAD` bytes.
pub(crate) unsafe fn format(base: *mut u8, size: usize, api: u8, serial: Serial, fill: u8) {
    // SAFETY: every write is within the `size + OVERHEAD` bytes the caller gives.
    unsafe {
        base.add(HEAD).write_bytes(fill, size);
        write_guards(base, size, api, serial);
    }
}

/// Writes the head and the tail of a block of `size` bytes at `base`.
///
/// # Safety
///
/// - `base` is valid for writes of `size + OVERHEAD` bytes.
unsafe fn write_guards(base: *mut u8, size: usize, api: u8, serial: Serial) {
    // SAFETY: every write is within the `size + OVERHEAD` bytes the caller gives.
    unsafe {
        base.cast::<[u8; WORD]>().write(size.to_be_bytes());
        base.add(WORD).write(api);
        base.add(WORD + 1).write_bytes(FORBIDDEN_BYTE, WORD - 1);
        let tail = base.add(HEAD + size);
        tail.write_bytes(FORBIDDEN_BYTE, AFTER);
        tail.add(AFTER)
            .cast::<[u8; size_of::<Serial>()]>()
            .write(serial.to_be_bytes());
    }
}

/// Writes the head and tail of a block at `base` reallocated in place from
/// `old` caller's bytes to `size`: the bytes it gains read `CLEAN_BYTE`,
/// the first `old.min(size)` are kept.
///
/// # Safety
///
/// - `base` is valid for writes of `size + OVERHEAD` bytes.
pub(crate) unsafe fn reformat(base: *mut u8, old: usize, size: usize, api: u8, serial: Serial) {
    // SAFETY: every write is within the `size + OVERHEAD` bytes the caller gives.
    unsafe {
        if size > old {
            base.add(HEAD + old).write_bytes(CLEAN_BYTE, size - old);
        }
        write_guards(base, size, api, serial);
    }
}

/// What the head and tail of a live block say.
pub(crate) struct Guards {
    /// The size field as read.
    pub(crate) size: usize,
    /// The API id byte as read.
    pub(crate) api: u8,
    /// The `WORD - 1` forbidden bytes before the caller's, as read.
    pub(crate) before: [u8; WORD - 1],
    /// The `AFTER` forbidden bytes after the caller's, as read.
    pub(crate) after: [u8; AFTER],
    /// The serial as read.
    pub(crate) serial: Serial,
}

impl Guards {
    /// Reads the guards of a block that was handed out with `size` bytes
    /// (the size the hooks recorded, not the one in the head, which an
    /// underflow may have overwritten).
    ///
    /// # Safety
    ///
    /// - `base` is valid for reads of `size + OVERHEAD` bytes.
    pub(crate) unsafe fn read(base: *const u8, size: usize) -> Guards {
        // SAFETY: every read is within the `size + OVERHEAD` bytes the caller gives.
        unsafe {
            let size_field = base.cast::<[u8; WORD]>().read();
            let tail = base.add(HEAD + size);
            Guards {
                size: usize::from_be_bytes(size_field),
                api: base.add(WORD).read(),
                before: base.add(WORD + 1).cast::<[u8; WORD - 1]>().read(),
                after: tail.cast::<[u8; AFTER]>().read(),
                serial: Serial::from_be_bytes(
                    tail.add(AFTER).cast::<[u8; size_of::<Serial>()]>().read(),
                ),
            }
        }
    }

    /// Whether the bytes before the caller's are as written: size, API id
    /// and forbidden bytes.
    pub(crate) fn head_intact(&self, size: usize, api: u8) -> bool {
        self.size == size && self.api == api && self.before == [FORBIDDEN_BYTE; WORD - 1]
    }

    /// Whether the forbidden bytes after the caller's are intact.
    pub(crate) fn tail_intact(&self) -> bool {
        self.after == [FORBIDDEN_BYTE; AFTER]
    }
}

/// The size field and the API id byte of the block at `base`, as read.
///
/// # Safety
///
/// - `base` is valid for reads of `HEAD` bytes.
pub(crate) unsafe fn head(base: *const u8) -> (usize, u8) {
    // SAFETY: both reads are within the head.
    unsafe {
        (
            usize::from_be_bytes(base.cast::<[u8; WORD]>().read()),
            base.add(WORD).read(),
        )
    }
}

/// The caller's size of the block at `base`, found from its tail when its
/// size field was overwritten: the largest size whose tail has its
/// forbidden bytes and a serial number handed out so far, in a block of
/// `span` bytes. The tail's serial is big-endian, so its first bytes are
/// (most often) 0 and no size past the true one reads as a tail.
///
/// # Safety
///
/// - `base` is valid for reads of `span` bytes.
pub(crate) unsafe fn find_tail(base: *const u8, span: usize) -> Option<usize> {
    // SAFETY: as the caller guarantees.
    let bytes = unsafe { core::slice::from_raw_parts(base, span) };
    (0..=span.checked_sub(OVERHEAD)?).rev().find(|&size| {
        let tail = &bytes[HEAD + size..HEAD + size + TAIL];
        let serial = Serial::from_be_bytes(tail[AFTER..].try_into().unwrap_or_default());
        tail[..AFTER] == [FORBIDDEN_BYTE; AFTER] && handed_out(serial)
    })
}

/// The offset of the first byte in `len` bytes at `base` that is not
/// `byte`, if any.
///
/// # Safety
///
/// - `base` is valid for reads of `len` bytes.
pub(crate) unsafe fn first_not(base: *const u8, len: usize, byte: u8) -> Option<usize> {
    // Every quarantined block is checked whole as it leaves, so the common
    // answer, none, is found without a branch a word: the words' differences
    // from the pattern are or-ed together (which the compiler does two words
    // an instruction), the last bytes, fewer than a word, in the last word
    // read again. A byte-wise search took a tenth of a debug run's time;
    // only a block found changed is searched byte by byte.
    let pattern = u64::from_ne_bytes([byte; 8]);
    // SAFETY: every read is of 8 bytes within the `len` the caller gives.
    let word = |at: usize| unsafe { base.add(at).cast::<u64>().read_unaligned() } ^ pattern;
    if len >= 8 {
        let differs = (0..len / 8).fold(word(len - 8), |acc, i| acc | word(8 * i));
        if differs == 0 {
            return None;
        }
    }
    // SAFETY: as the caller guarantees.
    let bytes = unsafe { core::slice::from_raw_parts(base, len) };
    bytes.iter().position(|&b| b != byte)
}

/// A hex dump of the block at `base` holding `size` caller's bytes: the
/// head, the caller's bytes (the first 64 and the last 32 of a larger
/// block) and the tail, 16 bytes a row, each row with its address and a
/// note saying which part it shows.
///
/// # Safety
///
/// - `base` is valid for reads of `size + OVERHEAD` bytes.
pub(crate) unsafe fn dump(base: *const u8, size: usize) -> String {
    let total = size + OVERHEAD;
    // SAFETY: as the caller guarantees.
    let bytes = unsafe { core::slice::from_raw_parts(base, total) };
    let rows = total.div_ceil(16);
    let shown = |row: usize| {
        // The head row, the first four data rows, and the last four rows.
        row < 5 || row + 4 >= rows
    };
    let mut text = String::new();
    let mut elided = false;
    for row in 0..rows {
        if !shown(row) {
            if !elided {
                let _ = writeln!(text, "        ...");
                elided = true;
            }
            continue;
        }
        let start = row * 16;
        let chunk = &bytes[start..(start + 16).min(total)];
        let _ = write!(text, "        {:#014x} ", base as usize + start);
        for (i, b) in chunk.iter().enumerate() {
            let sep = if i == 8 { "  " } else { " " };
            let _ = write!(text, "{sep}{b:02x}");
        }
        let pad = 16 - chunk.len();
        let _ = write!(
            text,
            "{:width$}",
            "",
            width = pad * 3 + usize::from(pad > 8)
        );
        let _ = writeln!(text, "   {}", note(start, chunk.len(), size));
    }
    text
}

/// Which parts of the block the row of `len` bytes at `start` shows.
fn note(start: usize, len: usize, size: usize) -> String {
    let end = start + len;
    let parts = [
        (0, WORD, "size"),
        (WORD, WORD + 1, "api id"),
        (WORD + 1, HEAD, "pad before"),
        (HEAD, HEAD + size, "data"),
        (HEAD + size, HEAD + size + AFTER, "pad after"),
        (HEAD + size + AFTER, HEAD + size + TAIL, "serial"),
    ];
    let names: Vec<&str> = parts
        .iter()
        .filter(|&&(from, to, _)| from < end && start < to)
        .map(|&(_, _, name)| name)
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_not_finds_the_first_other_byte_wherever_it_lies() {
        for len in [0, 1, 7, 31, 32, 33, 64, 100] {
            let clean = vec![0xDD; len];
            // SAFETY: `clean` holds `len` bytes.
            assert_eq!(unsafe { first_not(clean.as_ptr(), len, 0xDD) }, None);
            for at in 0..len {
                let mut bytes = clean.clone();
                bytes[at] = 0x41;
                // A later difference too: the first is the one reported.
                bytes[len - 1] ^= 0x10 * u8::from(at + 1 < len);
                // SAFETY: as above.
                let found = unsafe { first_not(bytes.as_ptr(), len, 0xDD) };
                assert_eq!(found, Some(at), "{len} {at}");
            }
        }
    }

    #[test]
    fn format_then_read_gives_back_size_api_and_serial() {
        let mut buf = [0u8; 5 + OVERHEAD];
        // SAFETY: `buf` holds 5 + OVERHEAD bytes.
        unsafe { format(buf.as_mut_ptr(), 5, b'o', 0x0102_0304, CLEAN_BYTE) };
        // SAFETY: as above.
        let guards = unsafe { Guards::read(buf.as_ptr(), 5) };
        assert_eq!(guards.size, 5);
        assert!(guards.head_intact(5, b'o'));
        assert!(!guards.head_intact(5, b'm'));
        assert!(guards.tail_intact());
        assert_eq!(guards.serial, 0x0102_0304);
        assert_eq!(&buf[HEAD..HEAD + 5], &[CLEAN_BYTE; 5]);
        // Big-endian, as CPython writes it.
        assert_eq!(buf[WORD - 1], 5);
        assert_eq!(buf[HEAD + 5 + TAIL - 1], 0x04);
    }

    #[test]
    fn find_tail_recovers_the_size_a_broken_size_field_lost() {
        let mut block = [0x55u8; 64];
        let serial = next_serial();
        // SAFETY: `block` holds 20 + OVERHEAD bytes and more.
        unsafe { format(block.as_mut_ptr(), 20, b'o', serial, CLEAN_BYTE) };
        block[WORD - 1] = 99;
        // SAFETY: `block` holds 64 bytes.
        let found = unsafe { find_tail(block.as_ptr(), 64) };
        assert_eq!(found, Some(20));
        // A serial past the last one handed out is no tail.
        block[HEAD + 20 + AFTER..HEAD + 20 + TAIL].copy_from_slice(&Serial::MAX.to_be_bytes());
        // SAFETY: as above.
        assert_eq!(unsafe { find_tail(block.as_ptr(), 64) }, None);
        // SAFETY: as above; too short a span for a head and a tail.
        assert_eq!(unsafe { find_tail(block.as_ptr(), OVERHEAD - 1) }, None);
    }

    #[test]
    fn a_dump_names_each_part_and_elides_the_middle_of_large_blocks() {
        let mut small = [0u8; 16 + OVERHEAD];
        // SAFETY: `small` holds 16 + OVERHEAD bytes.
        unsafe { format(small.as_mut_ptr(), 16, b'm', 1, CLEAN_BYTE) };
        // SAFETY: as above.
        let text = unsafe { dump(small.as_ptr(), 16) };
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.lines()
                .next()
                .unwrap()
                .ends_with("size, api id, pad before")
        );
        assert!(text.lines().nth(2).unwrap().ends_with("pad after, serial"));
        let mut large = vec![0u8; 1000 + OVERHEAD];
        // SAFETY: `large` holds 1000 + OVERHEAD bytes.
        unsafe { format(large.as_mut_ptr(), 1000, b'm', 1, CLEAN_BYTE) };
        // SAFETY: as above.
        let text = unsafe { dump(large.as_ptr(), 1000) };
        assert!(text.contains("..."));
        assert_eq!(text.lines().count(), 10, "{text}");
    }
}
