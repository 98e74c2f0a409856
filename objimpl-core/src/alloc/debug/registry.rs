//! What the debug hooks know of their blocks: every block they handed out
//! and have not given back to the allocator below (the live map), and the
//! freed ones waiting before reuse (the quarantine).
//!
//! Knowing every block is what lets the hooks tell a double free or a
//! pointer they never handed out without reading memory that may not be
//! there, which CPython's hooks cannot.
//!
//! Locking: the live map is sharded by address, each shard under its own
//! lock; the quarantine has one lock. A block's memory is read only while
//! its shard is locked and its entry is there (or while it is in the
//! quarantine, under that lock): a block leaves the map before it goes back
//! to the allocator below. No code path holds a shard lock while it takes
//! the quarantine's; `check_memory` holds the quarantine's, then shards'.
//! A stack is captured before either is taken, under a lock of its own
//! (`report::capture_lock`), and rendered for a report under a shard's:
//! the fork handlers, which take them all, leave no thread in `std`'s
//! backtrace code (`fork.rs`).

use core::hash::{BuildHasherDefault, Hasher};
use std::backtrace::Backtrace;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::super::fork;
// The one name this room takes from `debug/mod.rs` above it: an entry
// names the hooks (domain, allocator below) that made its block; the
// registry stores the reference and never calls the hooks.
use super::DebugCtx;
use super::block::OVERHEAD;

/// Freed blocks the quarantine keeps before they are reused: at most this many
/// (4096; 256 under Miri, whose runs it would otherwise lengthen by minutes)…
pub const QUARANTINE_BLOCKS: usize = if cfg!(miri) { 256 } else { 4096 };
/// …and at most this many bytes (heads and tails included). A larger freed
/// block passes through at once, after its check.
pub const QUARANTINE_BYTES: usize = 8 << 20;

/// A block the hooks handed out and still hold (live or in quarantine).
pub(crate) struct Entry {
    /// What the allocator below handed out: the head's first byte, with
    /// provenance over the whole block (the caller's pointer may have less).
    pub(crate) base: Base,
    /// The bytes the caller asked for.
    pub(crate) size: usize,
    /// Its allocation's serial number.
    pub(crate) serial: usize,
    /// The hooks (domain and allocator below) that made it.
    pub(crate) ctx: &'static DebugCtx,
    /// Whether it was freed (it is then in the quarantine).
    pub(crate) freed: bool,
    pub(crate) allocated_at: Option<Box<Backtrace>>,
    pub(crate) freed_at: Option<Box<Backtrace>>,
}

/// A block's base pointer, kept in the map.
pub(crate) struct Base(pub(crate) *mut u8);

// SAFETY: the map only hands the pointer to the thread that frees or checks
// the block, under the map's lock.
unsafe impl Send for Base {}

/// Addresses are multiples of 16: a multiplicative hash spreads them.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type Map = HashMap<usize, Entry, BuildHasherDefault<AddressHasher>>;

const SHARDS: usize = 16;

static MAP: [Mutex<Map>; SHARDS] =
    [const { Mutex::new(HashMap::with_hasher(BuildHasherDefault::new())) }; SHARDS];

/// The locked shard that holds `address`.
pub(crate) fn shard(address: usize) -> MutexGuard<'static, Map> {
    let index = ((address >> 4).wrapping_mul(0x9E37_79B9) >> 8) % SHARDS;
    lock(&MAP[index])
}

/// Every shard, locked.
type AllShards = [MutexGuard<'static, Map>; SHARDS];

/// Every shard, locked, in index order (for `fork`). Allocates nothing: the
/// fork handlers call it holding the capture lock, which an allocation
/// through the hooks (as a global allocator built on them) could want.
fn all_shards() -> AllShards {
    // `from_fn` calls in index order.
    core::array::from_fn(|index| lock(&MAP[index]))
}

/// Calls `f` on each shard in turn, locked.
pub(crate) fn for_each_shard(mut f: impl FnMut(&mut Map)) {
    for shard in &MAP {
        f(&mut lock(shard));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    fork::register(&QUARANTINE_FORK_STEP);
    fork::register(&SHARDS_FORK_STEP);
    // Nothing panics while a shard is locked; a poisoned lock is still sound.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Freed blocks, oldest first: (address, size) of each.
pub(crate) struct Quarantine {
    pub(crate) blocks: VecDeque<(usize, usize)>,
    bytes: usize,
}

static QUARANTINE: Mutex<Quarantine> = Mutex::new(Quarantine {
    blocks: VecDeque::new(),
    bytes: 0,
});

/// The quarantine, locked.
pub(crate) fn quarantine() -> MutexGuard<'static, Quarantine> {
    lock(&QUARANTINE)
}

/// The quarantine across `fork()`: after the capture lock, before the shards.
static QUARANTINE_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Quarantine,
    prepare: || fork::hold(&QUARANTINE_HELD, quarantine()),
    release: || fork::let_go(&QUARANTINE_HELD),
    child: None,
};

/// Every shard across `fork()`, in index order.
static SHARDS_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Shards,
    prepare: || fork::hold(&SHARDS_HELD, all_shards()),
    release: || fork::let_go(&SHARDS_HELD),
    child: None,
};

thread_local! {
    static QUARANTINE_HELD: fork::Held<MutexGuard<'static, Quarantine>> =
        const { fork::Held::new() };
    static SHARDS_HELD: fork::Held<AllShards> = const { fork::Held::new() };
}

impl Quarantine {
    /// Adds a freed block of `size` caller's bytes.
    pub(crate) fn push(&mut self, address: usize, size: usize) {
        self.blocks.push_back((address, size));
        self.bytes += size + OVERHEAD;
    }

    /// The blocks it holds, and their bytes (the hooks' heads and tails
    /// included).
    pub(crate) fn totals(&self) -> (usize, usize) {
        (self.blocks.len(), self.bytes)
    }

    /// Adds a freed block, as [`push`](Self::push), and takes out the
    /// oldest if that put the quarantine over its bounds: one lock for both.
    pub(crate) fn push_and_pop(&mut self, address: usize, size: usize) -> Option<(usize, usize)> {
        self.push(address, size);
        self.pop_excess()
    }

    /// Takes out the oldest block, if the quarantine is over its bounds.
    pub(crate) fn pop_excess(&mut self) -> Option<(usize, usize)> {
        if self.blocks.len() <= QUARANTINE_BLOCKS && self.bytes <= QUARANTINE_BYTES {
            return None;
        }
        let (address, size) = self.blocks.pop_front()?;
        self.bytes -= size + OVERHEAD;
        Some((address, size))
    }
}
