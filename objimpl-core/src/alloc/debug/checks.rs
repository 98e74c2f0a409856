//! The checks of a block's guards and the reports on what they find: the
//! report's fields, and the text that shows the block.

use core::fmt::Write;

use super::block::{self, DEAD_BYTE, Guards, HEAD, OVERHEAD, WORD};
use super::known::{Known, is_api_id, known_freed};
use super::registry::{Freed, Traces};
use super::report::{self, ErrorKind, Report};

pub(super) fn new_report(
    kind: ErrorKind,
    function: &'static str,
    api_expected: u8,
    address: usize,
    known: Option<&Known>,
    traces: Option<&Traces>,
) -> Report {
    let render =
        |stack: &Option<Box<std::backtrace::Backtrace>>| stack.as_deref().map(report::render);
    Report {
        kind,
        function,
        address,
        size: known.and_then(|k| k.size),
        api_expected: char::from(api_expected),
        api_found: known.map(|k| char::from(k.api)),
        serial: known.and_then(|k| k.serial).map(|s| s as usize),
        block: String::new(),
        allocated_at: traces.and_then(|t| render(&t.allocated_at)),
        freed_at: traces.and_then(|t| render(&t.freed_at)),
    }
}

/// Reports on the guards of a live block, if they were overwritten.
///
/// # Safety
///
/// - `known` is a live block's that the caller holds, as
///   [`known_live`](super::known::known_live) asks (or under its table shard).
pub(super) unsafe fn check_guards(
    known: &Known,
    function: &'static str,
    api_expected: u8,
    address: usize,
    traces: Option<&Traces>,
) -> Vec<Report> {
    let mut reports = Vec::new();
    let (head, tail) = match known.size {
        Some(size) => {
            // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
            let guards = unsafe { Guards::read(known.base, size) };
            (guards.head_intact(size, known.api), guards.tail_intact())
        }
        // Its size field is past its block, and no tail was found.
        None => (false, true),
    };
    for (intact, kind) in [
        (head && is_api_id(known.api), ErrorKind::BufferUnderflow),
        (tail, ErrorKind::BufferOverflow),
    ] {
        if !intact {
            let mut r = new_report(kind, function, api_expected, address, Some(known), traces);
            // SAFETY: as above.
            r.block = unsafe { describe_live(known) };
            reports.push(r);
        }
    }
    reports
}

/// The guard lines and the dump of a live block.
///
/// # Safety
///
/// - `known` is a live block's that the caller holds, as
///   [`known_live`](super::known::known_live) asks (or under its table shard).
pub(super) unsafe fn describe_live(known: &Known) -> String {
    let mut text = String::new();
    let Some(size) = known.size else {
        // SAFETY: the block is live: `span` bytes at `base`.
        let (size_field, _) = unsafe { block::head(known.base) };
        let _ = writeln!(
            text,
            "    The size field before the block says {size_field} bytes, more than its \
             block holds ({} bytes): overwritten.",
            known.span
        );
        let _ = writeln!(text, "    The block, head included:");
        // SAFETY: as above.
        text.push_str(&unsafe { block::dump(known.base, known.span - OVERHEAD) });
        return text;
    };
    // SAFETY: the block is live: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(known.base, size) };
    report::guard_lines(&mut text, guards.size, size, &guards.before, &guards.after);
    if !is_api_id(guards.api) {
        let _ = writeln!(
            text,
            "    The API id byte at p-{} was overwritten: {:#04x}.",
            WORD, guards.api
        );
    }
    // SAFETY: as above.
    let data = unsafe { core::slice::from_raw_parts(known.base.add(HEAD), size.min(8)) };
    let _ = write!(text, "    Data at p:");
    for b in data {
        let _ = write!(text, " {b:02x}");
    }
    let _ = writeln!(text, "{}", if size > 8 { " ..." } else { "" });
    let _ = writeln!(text, "    The block, head and tail included:");
    // SAFETY: as above.
    text.push_str(&unsafe { block::dump(known.base, size) });
    text
}

/// The bytes of a freed block that are no longer 0xDD, and its dump.
///
/// # Safety
///
/// - `known` is a quarantined block's, under the lock (its quarantine
///   shard's, or its table shard's) that keeps it from leaving.
pub(super) unsafe fn describe_freed(known: &Known) -> String {
    let total = known.span;
    // SAFETY: the block is the hooks': `total` bytes at `base`.
    let bytes = unsafe { core::slice::from_raw_parts(known.base, total) };
    let mut text = String::new();
    let changed: Vec<usize> = (0..total).filter(|&i| bytes[i] != DEAD_BYTE).collect();
    if changed.is_empty() {
        let _ = writeln!(
            text,
            "    The block still reads {DEAD_BYTE:#04x} throughout, as freed."
        );
    } else {
        let _ = writeln!(
            text,
            "    {} bytes are no longer DEADBYTE ({DEAD_BYTE:#04x}):",
            changed.len()
        );
        for &i in changed.iter().take(8) {
            let at = i as isize - HEAD as isize;
            let _ = writeln!(text, "        at p{at:+}: {:#04x} *** OUCH", bytes[i]);
        }
        if changed.len() > 8 {
            let _ = writeln!(text, "        ...");
        }
    }
    let _ = writeln!(text, "    The block, head and tail included:");
    // SAFETY: as above.
    text.push_str(&unsafe { block::dump(known.base, total - OVERHEAD) });
    text
}

/// The report on a block written to in quarantine.
#[cold]
pub(super) fn written_after_free(
    freed: &Freed,
    function: &'static str,
    traces: Option<&Traces>,
) -> Report {
    let known = known_freed(freed);
    let mut r = new_report(
        ErrorKind::WriteAfterFree,
        function,
        known.api,
        freed.address(),
        Some(&known),
        traces,
    );
    // SAFETY: the block is in quarantine: its memory is still the hooks'.
    r.block = unsafe { describe_freed(&known) };
    r
}
