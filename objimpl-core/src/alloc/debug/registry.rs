//! What the debug hooks hold of their blocks, beyond their heads and
//! tails: the blocks outside the pool allocator's arenas (the table), with
//! tracing on the stacks that made and freed each block (both in shards by
//! address), and the freed blocks waiting before reuse (the quarantine, in
//! shards that each thread takes in turn). Pool blocks need no entry: their
//! marks (`marks.rs`) and their heads say what the hooks know.
//!
//! Locking: a free runs under a quarantine shard. There a pool block's
//! mark turns quarantined, it is checked, filled and queued, and the blocks
//! it pushes out are checked (their marks stay quarantined: `marks.rs`); a
//! table block's entry is looked at under its table shard, taken after. A
//! block's memory is read only while the hooks hold it (live by its mark
//! or entry, or in quarantine) and no free can fill it meanwhile: under its
//! entry's table shard, or for a pool block under the quarantine shard of
//! its free, the one it waits in, or all of them. A block leaves the hooks,
//! out of its shard and, for one of the table, its entry gone, before it
//! goes back to the allocator below.
//! A quarantine shard's lock is a spin lock (`spin.rs`): a free takes
//! one, and a `std` mutex would cost it another atomic swap to let go.
//! `check_memory` and the fork handlers take every quarantine shard, then
//! every table shard, in index order. A stack is captured before any of
//! these, under a lock of its own (`report::capture_lock`), and rendered for
//! a report under them: the fork handlers, which take them all, leave no
//! thread in `std`'s backtrace code (`fork.rs`).

use core::cell::Cell;
use core::hash::{BuildHasherDefault, Hasher};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::super::domain::Domain;
use super::super::fork;
// The one name this room takes from `debug/mod.rs` above it: an entry
// names the hooks (domain, allocator below) that made its block; the
// registry stores the reference and never calls the hooks.
use super::DebugCtx;
use super::block::{HEAD, OVERHEAD, Serial};
use super::spin::{SpinGuard, SpinLock};

/// Freed blocks the quarantine keeps before they are reused: at most this
/// many (256, the last sixteen frees of each of its shards)…
///
/// Few, because a quarantine costs more time than its checks: it keeps the
/// pools from handing out again the block just freed, which is still in
/// the cache. On `benches/python` under the hooks (objects, JSON, threads),
/// 4096 blocks took about 1.7x the time of CPython's hooks, 256 took 1.34x
/// and none 1.30x. It catches a write in the next 256 frees after a block's
/// own, which is where a dangling pointer is most often written through.
pub const QUARANTINE_BLOCKS: usize = 256;
/// …and at most this many bytes (heads and tails included): 1 MiB, which a
/// program under the hooks holds beyond what it would under CPython's, which
/// keep no freed block. The quarantine is kept in 16 shards, which each
/// thread takes in turn, free by free, and which each hold a sixteenth of
/// both bounds; a freed block larger than that (64 KiB) passes through at
/// once, after its check.
pub const QUARANTINE_BYTES: usize = 1 << 20;

const SHARDS: usize = 16;

/// A block outside the pools that the hooks handed out and still hold
/// (live or in quarantine), or one whose allocator below is not the pool
/// allocator.
pub(crate) struct Entry {
    /// What the allocator below handed out: the head's first byte, with
    /// provenance over the whole block (the caller's pointer may have less).
    pub(crate) base: Base,
    /// The bytes the caller asked for.
    pub(crate) size: usize,
    /// Its allocation's serial number.
    pub(crate) serial: Serial,
    /// The hooks (domain and allocator below) that made it.
    pub(crate) ctx: &'static DebugCtx,
    /// Whether it was freed (it is then in the quarantine).
    pub(crate) freed: bool,
}

/// A block in quarantine: 24 bytes, copied in and out of its shard's ring.
#[derive(Clone, Copy)]
pub(crate) struct Freed {
    /// As [`Entry::base`].
    pub(crate) base: Base,
    pub(crate) size: usize,
    pub(crate) serial: Serial,
    /// The family that allocated it.
    pub(crate) domain: Domain,
    /// Whether it is a pool block, known by its mark; else a block of the
    /// table.
    pub(crate) marked: bool,
}

impl Freed {
    /// What an empty slot of a ring holds.
    const VACANT: Freed = Freed {
        base: Base(core::ptr::null_mut()),
        size: 0,
        serial: 0,
        domain: Domain::Raw,
        marked: false,
    };

    /// The caller's address: its data, after the head.
    pub(crate) fn address(&self) -> usize {
        self.base.0 as usize + HEAD
    }
}

/// The stacks that allocated and freed a block, with tracing on.
#[derive(Default)]
pub(crate) struct Traces {
    pub(crate) allocated_at: Option<Box<Backtrace>>,
    pub(crate) freed_at: Option<Box<Backtrace>>,
}

/// A block's base pointer, kept in the map.
#[derive(Clone, Copy)]
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

pub(crate) type Map<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

/// One table shard: the blocks at its addresses.
pub(crate) struct Table {
    /// The blocks outside the pools (and those of other allocators below),
    /// by the caller's address.
    pub(crate) entries: Map<Entry>,
    /// With tracing on, the stacks of each block, by the caller's address.
    pub(crate) traces: Map<Traces>,
}

/// The blocks a quarantine shard holds at most, by count: the slots of its
/// ring.
const RING: usize = QUARANTINE_BLOCKS / SHARDS;
static_assertions::const_assert!(RING.is_power_of_two());

/// One quarantine shard: blocks its threads freed, oldest first, in a ring
/// of fixed size (no allocation; once the ring is full, a free's block takes
/// the slot of the oldest, which it pushes out).
pub(crate) struct Quarantine {
    /// The blocks in slots `first..first + len` (modulo `RING`).
    ring: [Freed; RING],
    /// The slot of the oldest block.
    first: usize,
    /// How many blocks it holds.
    len: usize,
    /// Their bytes, heads and tails included.
    bytes: usize,
}

static TABLES: [Mutex<Table>; SHARDS] = [const {
    Mutex::new(Table {
        entries: HashMap::with_hasher(BuildHasherDefault::new()),
        traces: HashMap::with_hasher(BuildHasherDefault::new()),
    })
}; SHARDS];

static QUARANTINES: [SpinLock<Quarantine>; SHARDS] =
    [const { SpinLock::new(Quarantine::new()) }; SHARDS];

/// The table shard that holds `address`, locked.
pub(crate) fn table(address: usize) -> MutexGuard<'static, Table> {
    lock(&TABLES[table_index(address)])
}

/// The index of the table shard that holds `address`.
pub(crate) fn table_index(address: usize) -> usize {
    ((address >> 4).wrapping_mul(0x9E37_79B9) >> 8) % SHARDS
}

/// Threads that have freed through the hooks: each starts its round of the
/// quarantine shards at a different one.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The quarantine shard of this thread's last free, `usize::MAX` before
    /// its first. A const-initialised `Cell` without destructor, as
    /// `own_code.rs`'s.
    static QUARANTINE_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The quarantine shard for this thread's next free, locked.
///
/// Each thread takes the shards in turn, free by free: every shard has a
/// share of every thread's frees, so a block waits about as many frees as
/// the whole quarantine holds, whichever thread freed it and whether or not
/// that thread frees again, and two threads seldom want the same shard at
/// once. (A shard per thread would keep an exited thread's last blocks, and
/// the arenas they lie in, until another thread came to that shard.)
///
/// Only the hooks' functions call it, and the hooks registered the shards'
/// fork steps as they were made ([`register_fork_steps`]).
#[inline]
pub(crate) fn quarantine() -> SpinGuard<'static, Quarantine> {
    let index = QUARANTINE_INDEX.with(|last| {
        let index = match last.get() {
            usize::MAX => THREADS.fetch_add(1, Ordering::Relaxed) % SHARDS,
            last => (last + 1) % SHARDS,
        };
        last.set(index);
        index
    });
    QUARANTINES[index].lock()
}

/// Every quarantine shard, locked in index order.
pub(crate) fn all_quarantines() -> [SpinGuard<'static, Quarantine>; SHARDS] {
    // `from_fn` calls in index order.
    core::array::from_fn(|index| lock_quarantine(&QUARANTINES[index]))
}

/// Every table shard, locked in index order.
pub(crate) fn all_tables() -> [MutexGuard<'static, Table>; SHARDS] {
    core::array::from_fn(|index| lock(&TABLES[index]))
}

/// Calls `f` on each quarantine shard in turn, locked, until it returns
/// `Some`.
pub(crate) fn find_in_quarantines<R>(mut f: impl FnMut(&Quarantine) -> Option<R>) -> Option<R> {
    QUARANTINES
        .iter()
        .find_map(|shard| f(&lock_quarantine(shard)))
}

/// Tells the fork handlers of the shards, before one is first locked.
/// Every lock of a shard calls it but a free's ([`quarantine`]), which
/// only the hooks' functions take, after [`hooks`](super::hooks) called it.
pub(crate) fn register_fork_steps() {
    fork::register(&QUARANTINES_FORK_STEP);
    fork::register(&TABLES_FORK_STEP);
}

/// A quarantine shard, locked.
fn lock_quarantine(shard: &SpinLock<Quarantine>) -> SpinGuard<'_, Quarantine> {
    register_fork_steps();
    shard.lock()
}

/// A table shard, locked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    register_fork_steps();
    // Nothing panics while a shard is locked; a poisoned lock is still sound.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The quarantine shards across `fork()`, in index order, after the
/// capture lock. Taking them allocates nothing: the fork handlers hold the
/// capture lock, which an allocation through the hooks (as a global
/// allocator built on them) could want.
static QUARANTINES_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Quarantine,
    prepare: || fork::hold(&QUARANTINES_HELD, all_quarantines()),
    release: || fork::let_go(&QUARANTINES_HELD),
    child: None,
};

/// The table shards across `fork()`, in index order, after the quarantine's.
static TABLES_FORK_STEP: fork::Step = fork::Step {
    rank: fork::Rank::Shards,
    prepare: || fork::hold(&TABLES_HELD, all_tables()),
    release: || fork::let_go(&TABLES_HELD),
    child: None,
};

thread_local! {
    static QUARANTINES_HELD: fork::Held<[SpinGuard<'static, Quarantine>; SHARDS]> =
        const { fork::Held::new() };
    static TABLES_HELD: fork::Held<[MutexGuard<'static, Table>; SHARDS]> =
        const { fork::Held::new() };
}

/// The blocks in quarantine, and their bytes (the hooks' heads and tails
/// included), over every shard.
pub(crate) fn quarantine_totals() -> (usize, usize) {
    let mut totals = (0, 0);
    for shard in &QUARANTINES {
        let shard = lock_quarantine(shard);
        totals.0 += shard.len;
        totals.1 += shard.bytes;
    }
    totals
}

impl Quarantine {
    const fn new() -> Quarantine {
        Quarantine {
            ring: [Freed::VACANT; RING],
            first: 0,
            len: 0,
            bytes: 0,
        }
    }

    /// Adds a freed block, and returns the oldest if the shard was full
    /// by count: it takes that one's slot. The caller then calls
    /// [`pop_excess`](Self::pop_excess) until it returns `None`.
    #[inline]
    pub(crate) fn push(&mut self, freed: Freed) -> Option<Freed> {
        self.bytes += freed.size + OVERHEAD;
        if self.len < RING {
            self.ring[(self.first + self.len) % RING] = freed;
            self.len += 1;
            return None;
        }
        let oldest = core::mem::replace(&mut self.ring[self.first], freed);
        self.first = (self.first + 1) % RING;
        self.bytes -= oldest.size + OVERHEAD;
        Some(oldest)
    }

    /// Takes out the oldest block, if the shard is over its share of the
    /// bytes: call again while it returns one (a large block in may push
    /// several out, itself included).
    #[inline]
    pub(crate) fn pop_excess(&mut self) -> Option<Freed> {
        if self.bytes <= QUARANTINE_BYTES / SHARDS || self.len == 0 {
            return None;
        }
        let freed = self.ring[self.first];
        self.first = (self.first + 1) % RING;
        self.len -= 1;
        self.bytes -= freed.size + OVERHEAD;
        Some(freed)
    }

    /// The blocks in quarantine, oldest first.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = &Freed> {
        (0..self.len).map(|i| &self.ring[(self.first + i) % RING])
    }

    /// The block in quarantine at `address`.
    pub(crate) fn find(&self, address: usize) -> Option<&Freed> {
        self.blocks().find(|f| f.address() == address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freed(address: usize, size: usize) -> Freed {
        Freed {
            base: Base(core::ptr::without_provenance_mut(address - HEAD)),
            size,
            ..Freed::VACANT
        }
    }

    fn addresses(shard: &Quarantine) -> Vec<usize> {
        shard.blocks().map(Freed::address).collect()
    }

    #[test]
    fn a_shard_keeps_its_last_frees_oldest_first_and_a_large_one_passes_through() {
        let mut shard = Quarantine::new();
        let small = 16;
        for i in 1..=RING {
            assert!(shard.push(freed(i * 64, small)).is_none());
            assert!(shard.pop_excess().is_none());
        }
        // Full by count: each block in pushes the oldest out, one for one.
        for i in RING + 1..=RING + 3 {
            let out = shard.push(freed(i * 64, small)).expect("the oldest out");
            assert_eq!(out.address(), (i - RING) * 64);
            assert!(shard.pop_excess().is_none());
        }
        let expected: Vec<usize> = (4..=RING + 3).map(|i| i * 64).collect();
        assert_eq!(addresses(&shard), expected);
        assert_eq!(shard.find(5 * 64).map(Freed::address), Some(5 * 64));
        assert!(shard.find(64).is_none());
        assert_eq!(shard.bytes, RING * (small + OVERHEAD));
        // Over the shard's share of the bytes: everything goes, oldest
        // first, the large block last.
        let large = QUARANTINE_BYTES / SHARDS;
        let mut out: Vec<usize> = shard
            .push(freed(1 << 20, large))
            .into_iter()
            .map(|f| f.address())
            .collect();
        out.extend(core::iter::from_fn(|| shard.pop_excess()).map(|f| f.address()));
        let mut all = expected;
        all.push(1 << 20);
        assert_eq!(out, all);
        assert_eq!((shard.len, shard.bytes), (0, 0));
    }
}
