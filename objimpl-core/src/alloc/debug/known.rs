//! What the hooks know of a block they hold, however they know it: from
//! its entry in the table, from its place in quarantine, or, for a pool
//! block, from its head and tail (`Known`).

use super::super::domain::Domain;
use super::block::{self, Guards, OVERHEAD, Serial};
use super::marks::Place;
use super::registry::{Entry, Freed};

/// A block the hooks hold, as they know it: from its entry, or from its
/// mark and its head (a pool block).
pub(super) struct Known {
    /// The head's first byte, with provenance over the whole block.
    pub(super) base: *mut u8,
    /// The bytes the caller asked for: `None` for a pool block whose size
    /// field was overwritten with a size its block cannot hold.
    pub(super) size: Option<usize>,
    /// The bytes the block may be read over from `base`.
    pub(super) span: usize,
    /// The API id of the family that made it (read from the head of a pool
    /// block).
    pub(super) api: u8,
    /// Its serial number (read from the tail of a live pool block).
    pub(super) serial: Option<Serial>,
    /// Whether its head and tail read as the hooks wrote them (for a block
    /// in quarantine: not looked at, true).
    pub(super) intact: bool,
}

/// A pool block the hooks hold live, as its head describes it.
///
/// # Safety
///
/// - `place` is marked live, or claimed by the caller (quarantined by its
///   free, or its realloc), and no free fills the block meanwhile: the
///   caller holds the quarantine shard of its claim, or all the shards.
#[inline]
pub(super) unsafe fn known_live(place: Place) -> Known {
    let base = place.base();
    // The pool is in use while the block is: its class is there.
    let span = place.capacity().unwrap_or(OVERHEAD);
    // SAFETY: the block is live, at least `OVERHEAD` bytes.
    let (size_field, api) = unsafe { block::head(base) };
    if size_field <= span - OVERHEAD {
        // SAFETY: as above; the tail lies within the block.
        let guards = unsafe { Guards::read(base, size_field) };
        return Known {
            base,
            size: Some(size_field),
            span,
            api,
            serial: Some(guards.serial),
            intact: guards.tail_intact() && guards.head_intact(size_field, api) && is_api_id(api),
        };
    }
    // SAFETY: the block is live, `span` bytes.
    let size = unsafe { block::find_tail(base, span) };
    // SAFETY: as above.
    let serial = size.map(|size| unsafe { Guards::read(base, size) }.serial);
    Known {
        base,
        size,
        span,
        api,
        serial,
        intact: false,
    }
}

/// A block of the table, live.
///
/// # Safety
///
/// - `entry` is a live block's, under its table shard (or out of the table
///   and the caller's, as `resize` takes it).
pub(super) unsafe fn known_entry(entry: &Entry) -> Known {
    let api = entry.ctx.domain.api_id() as u8;
    // SAFETY: as the caller guarantees: `size + OVERHEAD` bytes at `base`.
    let guards = unsafe { Guards::read(entry.base.0, entry.size) };
    Known {
        base: entry.base.0,
        size: Some(entry.size),
        span: entry.size + OVERHEAD,
        api,
        serial: Some(entry.serial),
        intact: guards.tail_intact() && guards.head_intact(entry.size, api),
    }
}

/// A block of the table in quarantine: its guards are not looked at.
pub(super) fn known_entry_freed(entry: &Entry) -> Known {
    Known {
        base: entry.base.0,
        size: Some(entry.size),
        span: entry.size + OVERHEAD,
        api: entry.ctx.domain.api_id() as u8,
        serial: Some(entry.serial),
        intact: true,
    }
}

/// A block in quarantine: its guards are not looked at.
pub(super) fn known_freed(freed: &Freed) -> Known {
    Known {
        base: freed.base.0,
        size: Some(freed.size),
        span: freed.size + OVERHEAD,
        api: freed.domain.api_id() as u8,
        serial: Some(freed.serial),
        intact: true,
    }
}

/// Whether `byte` is a family's API id.
pub(super) fn is_api_id(byte: u8) -> bool {
    domain_of(byte).is_some()
}

/// The family of an API id.
pub(super) fn domain_of(api: u8) -> Option<Domain> {
    match api {
        b'r' => Some(Domain::Raw),
        b'm' => Some(Domain::Mem),
        b'o' => Some(Domain::Object),
        _ => None,
    }
}

/// Whether a live block's head and tail are as the hooks wrote them.
///
/// # Safety
///
/// - `known` is a live block's, as [`known_live`] asks.
pub(super) unsafe fn guards_intact(known: &Known) -> bool {
    let Some(size) = known.size else {
        return false;
    };
    // SAFETY: as the caller guarantees.
    let guards = unsafe { Guards::read(known.base, size) };
    guards.head_intact(size, known.api) && is_api_id(known.api) && guards.tail_intact()
}
