//! Statistics: [`stats`] and [`debug_malloc_stats`], the counterpart of
//! CPython's `sys._debugmallocstats()`.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use std::io;
use std::time::Duration;

use super::arena::{self, Held, PoolState};
use super::pool::{blocks_in_pool, pool_overhead};
use super::size_class::{
    ARENA_SIZE, CPYTHON_CLASSES, NUM_CLASSES, POOL_SIZE, POOLS_PER_ARENA, SMALL_REQUEST_THRESHOLD,
    class_size, pool_bytes,
};
use super::{heap, purge};

/// The figures of one size class, summed over every thread's heap.
///
/// ```
/// let stats = objimpl::alloc::stats();
/// let class = &stats.classes[1];
/// assert_eq!(class.size, 32);
/// assert!(class.blocks_in_use + class.blocks_available <= class.pools * 16384 / 32);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// The block size of the class, in bytes (16, 32, ..., 512; 8 for class
    /// 32; 576, 640, ..., 65536 for the medium classes from 33).
    pub size: usize,
    /// Pools serving the class (`num pools`); a medium class's span 1 to 32
    /// slots of 16 KiB.
    pub pools: usize,
    /// Blocks handed out and not yet given back to their owning heap
    /// (`blocks in use`). A block freed by another thread counts until its
    /// owner collects it.
    pub blocks_in_use: usize,
    /// Blocks of those pools ready to be handed out, carved or not
    /// (`avail blocks`).
    pub blocks_available: usize,
}

/// A snapshot of the pool allocator, the figures `sys._debugmallocstats()`
/// prints for pymalloc. It covers every thread's heap; while other threads
/// allocate, the figures are each current but not necessarily from one
/// instant. A thread that exits meanwhile (or calls
/// [`release_free_memory`](super::release_free_memory)) does not disturb
/// them: the blocks, pools and arenas it gives back count once, before or
/// after. (Unless such work goes on without a pause: after about a quarter
/// of a second of tries, [`stats`] reads anyway, and may then count what
/// it moves twice or not at all.)
///
/// When no other thread is allocating, the byte figures add up to the
/// arenas' size, [`arena_bytes`](Stats::arena_bytes): allocated blocks,
/// available blocks, unused pools, pool headers, quantization and arena
/// alignment.
///
/// ```
/// use objimpl::alloc;
/// let p = alloc::object_malloc(40);
/// let stats = alloc::stats();
/// // 40 bytes take a 48-byte block (class 2); under the debug hooks (on by
/// // default in debug builds) head and tail make it 64, a 64-byte block (class 3).
/// let class = if alloc::block_info(p).is_some() { 3 } else { 2 };
/// assert!(stats.classes[class].blocks_in_use >= 1);
/// assert!(stats.arenas_current >= 1);
/// // SAFETY: `p` came from `object_malloc` and is freed once.
/// unsafe { alloc::object_free(p) };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Per size class: class `i < 32` holds blocks of `16 * (i + 1)` bytes,
    /// as CPython's; class 32, 8-byte blocks, which only [`PyMalloc`](super::PyMalloc)
    /// hands out (for requests of at most 8 bytes, aligned to at most 8);
    /// classes 33 to 88, the medium classes of 576 bytes to 64 KiB, eight to
    /// each doubling, which only `PyMalloc` hands out too.
    pub classes: [ClassStats; NUM_CLASSES],
    /// Arenas ever taken from the OS (`# arenas allocated total`).
    pub arenas_allocated_total: usize,
    /// Arenas given back to the OS (`# arenas reclaimed`).
    pub arenas_reclaimed: usize,
    /// Times a wholly free arena that a thread kept for reuse had its pages
    /// given back to the OS while it stayed mapped, after
    /// [`PURGE_DELAY`](super::PURGE_DELAY), its thread idle or not
    /// (`# arenas purged`, objimpl's own line).
    pub arenas_purged: usize,
    /// Times a free pool of an arena in use had its pages given back to the
    /// OS, once no pool of its arena had been given back for
    /// [`PURGE_DELAY`](super::PURGE_DELAY) (`# pools purged`, objimpl's own line).
    pub pools_purged: usize,
    /// The most arenas held at once (`# arenas highwater mark`).
    pub arenas_highwater: usize,
    /// Arenas held now (`# arenas allocated current`).
    pub arenas_current: usize,
    /// Bytes in blocks in use, at their class size.
    pub bytes_in_allocated_blocks: usize,
    /// Bytes in available blocks of pools in use.
    pub bytes_in_available_blocks: usize,
    /// Pool slots (16 KiB each) of the arenas serving no class.
    pub unused_pools: usize,
    /// `unused_pools * 16384`.
    pub bytes_in_unused_pools: usize,
    /// Bytes taken by the headers of pools in use (and by the slot table
    /// in an arena's first pool, when that pool is in use).
    pub bytes_lost_to_pool_headers: usize,
    /// Bytes at the end of pools in use too small for a block.
    pub bytes_lost_to_quantization: usize,
    /// Bytes of arenas lost to aligning their pools. Always 0 here: arenas are
    /// mapped at an aligned address (CPython loses a pool per arena).
    pub bytes_lost_to_arena_alignment: usize,
    /// Blocks freed by the program that the debug hooks hold in their
    /// quarantine (of every domain) before giving them back: counted in
    /// [`blocks_in_use`](ClassStats::blocks_in_use) if they are the pool's.
    /// 0 without the hooks, which are on by default in builds with
    /// `debug_assertions` (see [`alloc`](super), "Debug builds").
    pub quarantined_blocks: usize,
    /// The bytes of those blocks, the hooks' heads and tails included.
    pub quarantined_bytes: usize,
}

/// All zero (no array of 89 is `Default`).
impl Default for Stats {
    fn default() -> Stats {
        Stats {
            classes: [ClassStats::default(); NUM_CLASSES],
            arenas_allocated_total: 0,
            arenas_reclaimed: 0,
            arenas_purged: 0,
            pools_purged: 0,
            arenas_highwater: 0,
            arenas_current: 0,
            bytes_in_allocated_blocks: 0,
            bytes_in_available_blocks: 0,
            unused_pools: 0,
            bytes_in_unused_pools: 0,
            bytes_lost_to_pool_headers: 0,
            bytes_lost_to_quantization: 0,
            bytes_lost_to_arena_alignment: 0,
            quarantined_blocks: 0,
            quarantined_bytes: 0,
        }
    }
}

impl Stats {
    /// Bytes of address space in arenas: `arenas_current * 1 MiB`.
    ///
    /// ```
    /// let stats = objimpl::alloc::stats();
    /// assert_eq!(stats.arena_bytes(), stats.arenas_current << 20);
    /// ```
    pub fn arena_bytes(&self) -> usize {
        self.arenas_current * ARENA_SIZE
    }

    /// Blocks in use over every class.
    ///
    /// ```
    /// let before = objimpl::alloc::stats().blocks_in_use();
    /// let p = objimpl::alloc::mem_malloc(8);
    /// assert!(objimpl::alloc::stats().blocks_in_use() >= 1);
    /// # let _ = before;
    /// // SAFETY: `p` came from `mem_malloc` and is freed once.
    /// unsafe { objimpl::alloc::mem_free(p) };
    /// ```
    pub fn blocks_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.blocks_in_use).sum()
    }
}

/// Takes a snapshot of the pool allocator's figures, over every thread's heap.
///
/// First it does the calling thread's deferred work, as an allocation's slow
/// path would: it takes back the blocks other threads freed into its heap,
/// and the pending frees of exited threads' heaps (giving back what they
/// leave empty). Blocks freed into another running thread's heap count as in
/// use until that thread collects them.
///
/// ```
/// use objimpl::alloc;
/// let stats = alloc::stats();
/// let total = stats.bytes_in_allocated_blocks
///     + stats.bytes_in_available_blocks
///     + stats.bytes_in_unused_pools
///     + stats.bytes_lost_to_pool_headers
///     + stats.bytes_lost_to_quantization
///     + stats.bytes_lost_to_arena_alignment;
/// assert_eq!(total, stats.arena_bytes()); // this doctest allocates on one thread
/// ```
pub fn stats() -> Stats {
    heap::collect_current();
    // A thread that exits meanwhile, or calls `release_free_memory`, gives
    // its cached blocks, pools and arenas back; a snapshot across that
    // housekeeping would miscount what it moves, so it is taken again. A
    // bounded number of times: housekeeping that never pauses makes the
    // figures approximate, never the call endless.
    let mut tries = QuietReads::new();
    loop {
        if let Some(mut stats) = tries.read(snapshot) {
            (stats.quarantined_blocks, stats.quarantined_bytes) = super::debug::quarantine_totals();
            return stats;
        }
    }
}

/// How often [`stats`] and the heap map try for a snapshot that no heap's
/// housekeeping overlapped: with [`Backoff`], about a quarter of a second
/// in all.
const SNAPSHOT_TRIES: usize = 40;

/// The tries of one snapshot ([`stats`], the heap map's) for a reading
/// that no heap's housekeeping overlapped: at most [`SNAPSHOT_TRIES`],
/// [`Backoff`] between them; then one more reading, whatever runs.
pub(crate) struct QuietReads {
    backoff: Backoff,
    left: usize,
}

impl QuietReads {
    /// All the tries left, the backoff at its shortest.
    pub(crate) fn new() -> QuietReads {
        QuietReads {
            backoff: Backoff::new(),
            left: SNAPSHOT_TRIES,
        }
    }

    /// Calls `read` with the arenas held. Returns what it read if no
    /// housekeeping overlapped it, or once the tries are used up (then the
    /// reading may miscount what housekeeping moved meanwhile); else
    /// `None`, after its turn of the backoff: call again.
    pub(crate) fn read<R>(&mut self, read: impl FnOnce(&Held) -> R) -> Option<R> {
        if self.left == 0 {
            return Some(read(&Held::new()));
        }
        self.left -= 1;
        read_quiet(&mut self.backoff, read)
    }
}

/// Calls `read` with the arenas held, at a moment when no heap's
/// housekeeping runs, and returns what it read if none began meanwhile.
/// Else it lets the lock go, waits its turn of `backoff` for the work to
/// finish (which may need the lock, to give an arena back) and returns
/// `None`, for the caller to try again.
fn read_quiet<R>(backoff: &mut Backoff, read: impl FnOnce(&Held) -> R) -> Option<R> {
    let held = Held::new();
    let read = heap::quiet_mark().map(|mark| (mark, read(&held)));
    drop(held);
    match read {
        Some((mark, read)) if heap::no_housekeeping_since(mark) => Some(read),
        _ => {
            backoff.wait();
            None
        }
    }
}

/// The wait between tries of [`read_quiet`]: from a microsecond, doubling,
/// up to 10 ms. Housekeeping that unmaps arenas takes tens of
/// microseconds, and its thread may be preempted.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_micros(1))
    }

    fn wait(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(10));
    }
}

/// [`stats`] without the deferred work first, with the arenas `held`:
/// reads counters and nothing else, and allocates nothing (the heap map
/// calls it while it holds the arenas for its own reading).
///
/// Blocks in use are counted as CPython counts them: each pool in use says
/// how many blocks it has handed out, so `malloc` and `free` keep one
/// counter per block, the pool's, and no other. The heaps' caches hold
/// blocks that their pools count as handed out, and that are not in use.
pub(crate) fn snapshot(held: &Held) -> Stats {
    let mut stats = Stats::default();
    for (class, c) in stats.classes.iter_mut().enumerate() {
        c.size = class_size(class);
    }
    let mut cached = [0; NUM_CLASSES];
    heap::for_each_heap(|h| {
        for (class, n) in cached.iter_mut().enumerate() {
            *n += h.cached(class);
        }
        stats.unused_pools += h.unused_pools();
    });
    // Blocks per pool in use: an arena's first pool holds fewer, as it
    // keeps the arena's slot table after its header.
    let mut capacity = [0; NUM_CLASSES];
    held.for_each(|arena| {
        for index in 0..POOLS_PER_ARENA {
            if let PoolState::InUse { class, used } = arena.pool(index) {
                let class = class as usize;
                let c = &mut stats.classes[class];
                let blocks = blocks_in_pool(index, class);
                c.pools += 1;
                c.blocks_in_use += used as usize;
                capacity[class] += blocks;
                stats.bytes_lost_to_pool_headers += pool_overhead(index);
                stats.bytes_lost_to_quantization +=
                    pool_bytes(class) - pool_overhead(index) - blocks * c.size;
            }
        }
    });
    for (class, c) in stats.classes.iter_mut().enumerate() {
        // Read racily from other threads, the two may disagree for a moment.
        c.blocks_in_use = c.blocks_in_use.saturating_sub(cached[class]);
        c.blocks_available = capacity[class].saturating_sub(c.blocks_in_use);
        stats.bytes_in_allocated_blocks += c.blocks_in_use * c.size;
        stats.bytes_in_available_blocks += c.blocks_available * c.size;
    }
    let total = arena::ALLOCATED_TOTAL.load(core::sync::atomic::Ordering::Relaxed);
    stats.arenas_current = arena::current_arenas();
    stats.arenas_allocated_total = total.max(stats.arenas_current);
    stats.arenas_reclaimed = stats.arenas_allocated_total - stats.arenas_current;
    stats.arenas_purged = purge::PURGED_TOTAL.load(core::sync::atomic::Ordering::Relaxed);
    stats.pools_purged = purge::POOLS_PURGED.load(core::sync::atomic::Ordering::Relaxed);
    stats.arenas_highwater = arena::HIGHWATER
        .load(core::sync::atomic::Ordering::Relaxed)
        .max(stats.arenas_current);
    stats.bytes_in_unused_pools = stats.unused_pools * POOL_SIZE;
    stats
}

/// Prints the pool allocator's figures as CPython 3.11's
/// `sys._debugmallocstats()` prints pymalloc's: the size classes in use, the
/// arena counts and the byte accounting, whose lines add up to the arenas'
/// size. Takes a [`stats`] snapshot first.
///
/// ```
/// let mut out = Vec::new();
/// objimpl::alloc::debug_malloc_stats(&mut out)?;
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with("Small block threshold = 512, in 32 size classes.\n"));
/// assert!(text.contains("# arenas allocated current"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn debug_malloc_stats(out: &mut impl io::Write) -> io::Result<()> {
    // CPython's classes; the 8-byte class, PyMalloc's own, shows as class
    // 32 when it is in use.
    let s = stats();
    writeln!(
        out,
        "Small block threshold = {SMALL_REQUEST_THRESHOLD}, in {CPYTHON_CLASSES} size classes."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "class   size   num pools   blocks in use  avail blocks"
    )?;
    writeln!(
        out,
        "-----   ----   ---------   -------------  ------------"
    )?;
    for (class, c) in s.classes.iter().enumerate() {
        if c.pools == 0 {
            continue;
        }
        writeln!(
            out,
            "{class:5} {:6} {:11} {:15} {:13}",
            c.size, c.pools, c.blocks_in_use, c.blocks_available
        )?;
    }
    writeln!(out)?;
    line(out, "# arenas allocated total", s.arenas_allocated_total)?;
    line(out, "# arenas reclaimed", s.arenas_reclaimed)?;
    line(out, "# arenas purged", s.arenas_purged)?;
    line(out, "# pools purged", s.pools_purged)?;
    line(out, "# arenas highwater mark", s.arenas_highwater)?;
    line(out, "# arenas allocated current", s.arenas_current)?;
    line(
        out,
        &format!("{} arenas * {ARENA_SIZE} bytes/arena", s.arenas_current),
        s.arena_bytes(),
    )?;
    writeln!(out)?;
    let parts = [
        (
            "# bytes in allocated blocks".to_owned(),
            s.bytes_in_allocated_blocks,
        ),
        (
            "# bytes in available blocks".to_owned(),
            s.bytes_in_available_blocks,
        ),
        (
            format!("{} unused pools * {POOL_SIZE} bytes", s.unused_pools),
            s.bytes_in_unused_pools,
        ),
        (
            "# bytes lost to pool headers".to_owned(),
            s.bytes_lost_to_pool_headers,
        ),
        (
            "# bytes lost to quantization".to_owned(),
            s.bytes_lost_to_quantization,
        ),
        (
            "# bytes lost to arena alignment".to_owned(),
            s.bytes_lost_to_arena_alignment,
        ),
    ];
    let mut total = 0;
    for (label, value) in &parts {
        line(out, label, *value)?;
        total += value;
    }
    line(out, "Total", total)?;
    if s.quarantined_blocks > 0 {
        // Not CPython's: the debug hooks hold these freed blocks, which
        // count as allocated above.
        writeln!(out)?;
        line(
            out,
            &format!(
                "{} blocks in the debug hooks' quarantine",
                s.quarantined_blocks
            ),
            s.quarantined_bytes,
        )?;
    }
    // The calling thread's freelists, as CPython prints its own.
    let reporter = FREE_OBJECTS.load(Ordering::Acquire);
    let freelists = if reporter.is_null() {
        Vec::new()
    } else {
        // SAFETY: only `&'static` reporters are set (`report_free_objects_with`).
        (unsafe { &*reporter }.report)()
    };
    if !freelists.is_empty() {
        writeln!(out)?;
        for list in freelists {
            let label = format!(
                "{} free {} objects * {} bytes each",
                list.count, list.type_name, list.object_size
            );
            line(out, &label, list.count * list.object_size)?;
        }
    }
    Ok(())
}

/// The memory of freed objects of one type that the layer above keeps for
/// reuse on the calling thread (a freelist), as [`debug_malloc_stats`]
/// prints it.
pub(crate) struct FreeObjects {
    /// The type's name.
    pub(crate) type_name: &'static str,
    /// The bytes of one object.
    pub(crate) object_size: usize,
    /// The objects' memory kept now.
    pub(crate) count: usize,
}

/// The function that tells the calling thread's [`FreeObjects`], one per
/// type, in a static of the layer above.
pub(crate) struct FreeObjectsReporter {
    pub(crate) report: fn() -> Vec<FreeObjects>,
}

/// What the layer above keeps, if it keeps anything: its reporter, set the
/// first time it keeps a freed object. The allocator knows no freelist; the
/// freelists hand their figures down through this. A pointer, not a
/// `OnceLock`: setting it takes no lock that a `fork()` could leave taken.
static FREE_OBJECTS: AtomicPtr<FreeObjectsReporter> = AtomicPtr::new(ptr::null_mut());

/// Sets the reporter [`debug_malloc_stats`] asks for the calling thread's
/// [`FreeObjects`]. Allocates nothing; setting it again changes nothing.
#[inline]
pub(crate) fn report_free_objects_with(reporter: &'static FreeObjectsReporter) {
    let reporter = ptr::from_ref(reporter).cast_mut();
    if FREE_OBJECTS.load(Ordering::Relaxed) != reporter {
        FREE_OBJECTS.store(reporter, Ordering::Release);
    }
}

/// One `label = value` line as CPython's `printone`: the label padded to 35
/// columns, `=`, the value with thousands separators right-aligned in 21.
fn line(out: &mut impl io::Write, label: &str, value: usize) -> io::Result<()> {
    writeln!(out, "{label:<35}={:>21}", with_commas(value))
}

/// `value` with thousands separators: `1,234,567`.
pub(crate) fn with_commas(value: usize) -> String {
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_laid_out_as_cpython_prints_them() {
        let mut out = Vec::new();
        line(&mut out, "# arenas allocated total", 4).unwrap();
        line(&mut out, "4 arenas * 1048576 bytes/arena", 4_194_304).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# arenas allocated total           =                    4\n\
             4 arenas * 1048576 bytes/arena     =            4,194,304\n"
        );
        assert_eq!(with_commas(0), "0");
        assert_eq!(with_commas(999), "999");
        assert_eq!(with_commas(1000), "1,000");
        assert_eq!(with_commas(123_456_789), "123,456,789");
    }
}
