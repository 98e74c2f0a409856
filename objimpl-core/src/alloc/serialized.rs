//! A heap for callers that serialize themselves on a lock of their own, as
//! CPython's mem and object domains are serialized by the GIL: one heap for
//! every thread that holds the lock, instead of a heap a thread.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::free::free_with;
use super::heap::{self, Heap, Servicer};
use super::malloc::{SMALL, calloc_up_to_with, malloc_up_to_with, resize_with};

/// The pools behind one lock: a heap that every thread holding the lock
/// allocates from, as CPython's pymalloc serves every thread holding the
/// GIL. Blocks are the pools' own, as [`pymalloc`](super::pymalloc) gives
/// them: from the pools up to 512 bytes, from the C library past that.
///
/// The pools' own functions ([`pymalloc`](super::pymalloc)) give each
/// thread a heap of its own, which is what a program with no lock wants.
/// Behind a lock that a thread takes and another then, they cost each
/// thread a heap of its own (24 KiB, and the pools of its first blocks),
/// and a block one thread made and another frees goes back through the
/// maker's queue of remote frees. A `SerializedHeap` has one heap for them
/// all: a block freed by any holder of the lock is a local free.
///
/// Its functions are `unsafe` for that contract: calls on one
/// `SerializedHeap` never overlap, each one ordered after the one before (a
/// mutex that each caller holds across the call orders them). Its blocks
/// and [`pymalloc`](super::pymalloc)'s are one kind: either's `free` takes
/// the other's (a block of this heap freed elsewhere goes back as a block
/// freed by another thread does). Not the families' (`object_malloc` and
/// the rest), which may be under the debug hooks or another allocator.
///
/// ```
/// use std::sync::Mutex;
///
/// use objimpl::alloc::SerializedHeap;
///
/// static HEAP: SerializedHeap = SerializedHeap::new();
/// static LOCK: Mutex<()> = Mutex::new(());
///
/// let worker = std::thread::spawn(|| {
///     let _held = LOCK.lock().unwrap();
///     // SAFETY: every call on `HEAP` holds `LOCK`.
///     unsafe { HEAP.malloc(40) as usize }
/// });
/// let p = worker.join().unwrap() as *mut u8;
/// let _held = LOCK.lock().unwrap();
/// // SAFETY: as above; `p` came from `HEAP.malloc` and is freed once, on
/// // another thread than the one that made it.
/// unsafe { HEAP.free(p) };
/// ```
pub struct SerializedHeap {
    /// The heap, made by the first call that needs one; null until then.
    heap: AtomicPtr<Heap>,
}

impl SerializedHeap {
    /// A heap behind a lock of the caller's, with no memory yet.
    ///
    /// ```
    /// static HEAP: objimpl::alloc::SerializedHeap = objimpl::alloc::SerializedHeap::new();
    /// ```
    #[must_use]
    pub const fn new() -> SerializedHeap {
        SerializedHeap {
            heap: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// A block of `size` bytes aligned to [`ALIGNMENT`](super::ALIGNMENT),
    /// as [`pymalloc::malloc`](super::pymalloc::malloc) gives one; null if the memory
    /// could not be had or `size > isize::MAX`.
    ///
    /// # Safety
    ///
    /// - No other call on `self` overlaps this one, and it is ordered after
    ///   the call before (the callers share a lock).
    ///
    /// ```
    /// let heap = objimpl::alloc::SerializedHeap::new();
    /// // SAFETY: one thread calls `heap`.
    /// let p = unsafe { heap.malloc(100) };
    /// assert!(!p.is_null());
    /// // SAFETY: as above; `p` came from `heap.malloc` and is freed once.
    /// unsafe { heap.free(p) };
    /// ```
    #[inline]
    #[must_use = "the memory leaks unless it is freed"]
    pub unsafe fn malloc(&self, size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees, the caller services the heap.
        unsafe { malloc_up_to_with::<SMALL>(self, size) }
    }

    /// `n * size` zeroed bytes, as [`malloc`](Self::malloc) gives them;
    /// null if `n * size` overflows.
    ///
    /// # Safety
    ///
    /// As [`malloc`](Self::malloc).
    ///
    /// ```
    /// let heap = objimpl::alloc::SerializedHeap::new();
    /// // SAFETY: one thread calls `heap`.
    /// let p = unsafe { heap.calloc(4, 8) };
    /// // SAFETY: `calloc` gave 32 zeroed bytes.
    /// assert_eq!(unsafe { std::slice::from_raw_parts(p, 32) }, &[0; 32]);
    /// // SAFETY: as above; freed once.
    /// unsafe { heap.free(p) };
    /// ```
    #[inline]
    #[must_use = "the memory leaks unless it is freed"]
    pub unsafe fn calloc(&self, n: usize, size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees.
        unsafe { calloc_up_to_with::<SMALL>(self, n, size) }
    }

    /// Resizes a block (a null `p` is [`malloc`](Self::malloc)), keeping
    /// its contents up to the smaller size: in place while the new size
    /// fills more than three quarters of its pool block. Null on failure,
    /// and `p` stays valid.
    ///
    /// # Safety
    ///
    /// - As [`malloc`](Self::malloc);
    /// - `p` is null or a live block of a `SerializedHeap` or of
    ///   [`pymalloc`](super::pymalloc); on success it is no longer valid.
    ///
    /// ```
    /// let heap = objimpl::alloc::SerializedHeap::new();
    /// // SAFETY: one thread calls `heap`.
    /// let p = unsafe { heap.malloc(8) };
    /// // SAFETY: `p` is a live block of 8 bytes.
    /// unsafe { p.write_bytes(7, 8) };
    /// // SAFETY: as above; only the returned pointer is used after.
    /// let q = unsafe { heap.realloc(p, 1000) };
    /// // SAFETY: the first 8 bytes were kept.
    /// assert_eq!(unsafe { *q.add(7) }, 7);
    /// // SAFETY: as above; freed once.
    /// unsafe { heap.free(q) };
    /// ```
    #[inline]
    #[must_use = "on success the old pointer is dangling: use the returned one"]
    pub unsafe fn realloc(&self, p: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees; the pools' blocks hold at
        // most their class.
        unsafe { resize_with::<SMALL>(self, p, usize::MAX, size) }
    }

    /// Frees a block; null does nothing.
    ///
    /// # Safety
    ///
    /// - As [`malloc`](Self::malloc);
    /// - `p` is null or a live block of a `SerializedHeap` or of
    ///   [`pymalloc`](super::pymalloc), not freed before.
    ///
    /// ```
    /// let heap = objimpl::alloc::SerializedHeap::new();
    /// // A block of the pools' own functions, freed here.
    /// let p = objimpl::alloc::pymalloc::malloc(16);
    /// // SAFETY: one thread calls `heap`; `p` is live and freed once.
    /// unsafe { heap.free(p) };
    /// ```
    #[inline]
    pub unsafe fn free(&self, p: *mut u8) {
        // SAFETY: as the caller guarantees.
        unsafe { free_with(self, p) }
    }
}

impl Default for SerializedHeap {
    fn default() -> SerializedHeap {
        SerializedHeap::new()
    }
}

impl Drop for SerializedHeap {
    /// Gives the heap up as an exiting thread gives up its own: its cached
    /// blocks back to their pools, and the heap to the free heaps, or with
    /// blocks still live, to the orphans that a running thread reclaims
    /// (the blocks stay valid).
    fn drop(&mut self) {
        let heap = *self.heap.get_mut();
        if !heap.is_null() {
            // SAFETY: `&mut self`: nobody services the heap any more, and
            // nobody will (its blocks' frees go to its pending queue).
            unsafe { heap::retire_serialized(heap) };
        }
    }
}

impl core::fmt::Debug for SerializedHeap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SerializedHeap")
            .field("heap", &self.heap.load(Ordering::Relaxed))
            .finish()
    }
}

// SAFETY: the heap is used only through the `SerializedHeap`, whose callers
// serialize every call (its functions' contract); other threads' frees of
// its blocks go to its pending queue.
unsafe impl Servicer for &SerializedHeap {
    #[inline(always)]
    fn heap(self) -> *const Heap {
        // Relaxed: the callers' lock orders the store before this load.
        self.heap.load(Ordering::Relaxed)
    }

    #[inline(always)]
    unsafe fn malloc_slow(self, class: usize, size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees; only the slow path writes the
        // cell, under the callers' lock.
        unsafe { heap::malloc_serialized_slow(&self.heap, class, size) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::pymalloc;
    use super::*;

    /// A pointer sent between threads (the test's blocks).
    #[derive(Clone, Copy)]
    struct Sent(*mut u8);
    // SAFETY: the blocks are plain memory, handed over once.
    unsafe impl Send for Sent {}

    /// Threads that take turns on the lock share the one heap: none of them
    /// gets a heap of its own, and a block one frees is the next one's
    /// `malloc` (a local free, to the class's cache).
    #[test]
    fn threads_taking_turns_share_one_heap_and_free_locally() {
        static HEAP: SerializedHeap = SerializedHeap::new();
        static LOCK: Mutex<()> = Mutex::new(());
        let made = std::thread::spawn(|| {
            let _held = LOCK.lock().unwrap();
            // SAFETY: every call on `HEAP` holds `LOCK`.
            let p = unsafe { HEAP.malloc(48) };
            assert!(!p.is_null());
            // SAFETY: `p` is a fresh block of 48 bytes.
            unsafe { p.write_bytes(0x5A, 48) };
            assert!(
                heap::current().is_null(),
                "the thread made no heap of its own"
            );
            Sent(p)
        })
        .join()
        .unwrap();
        let again = std::thread::spawn(move || {
            let made = made;
            let _held = LOCK.lock().unwrap();
            // SAFETY: as above; `made` is live, freed once.
            unsafe { HEAP.free(made.0) };
            // SAFETY: as above.
            let q = unsafe { HEAP.malloc(48) };
            assert!(
                heap::current().is_null(),
                "the thread made no heap of its own"
            );
            Sent(q)
        })
        .join()
        .unwrap();
        assert_eq!(again.0, made.0, "the free went to the shared heap's cache");
        let _held = LOCK.lock().unwrap();
        // SAFETY: as above.
        unsafe { HEAP.free(again.0) };
    }

    /// Blocks cross between the heap and the threads' heaps both ways: a
    /// block of the heap freed by a thread's own `free`, a thread's block
    /// freed by the heap, and `realloc` across the pools and the C library.
    #[test]
    fn blocks_cross_between_the_heap_and_the_threads_heaps() {
        let heap = SerializedHeap::new();
        // SAFETY: this thread alone calls `heap` (here and below).
        let ours = Sent(unsafe { heap.malloc(32) });
        let theirs = std::thread::spawn(move || {
            let ours = ours;
            let theirs = Sent(pymalloc::malloc(32));
            // SAFETY: `ours` is a live block of the pools, freed once.
            unsafe { pymalloc::free(ours.0) };
            theirs
        })
        .join()
        .unwrap();
        // SAFETY: a live block of the pools, freed once.
        unsafe { heap.free(theirs.0) };
        // SAFETY: a fresh block; `realloc` moves it to the C library and back,
        // keeping its first bytes.
        unsafe {
            let p = heap.malloc(24);
            p.write_bytes(0x33, 24);
            let big = heap.realloc(p, 4000);
            assert!(!big.is_null());
            let small = heap.realloc(big, 16);
            assert!(!small.is_null());
            assert_eq!(core::slice::from_raw_parts(small, 16), &[0x33; 16]);
            let zeroed = heap.calloc(3, 7);
            assert_eq!(core::slice::from_raw_parts(zeroed, 21), &[0; 21]);
            heap.free(zeroed);
            heap.free(small);
            assert!(heap.calloc(usize::MAX, 2).is_null());
            heap.free(ptr::null_mut());
        }
    }

    /// A heap dropped with blocks live gives them to the orphans: they stay
    /// valid, and any thread's `free` takes them.
    #[test]
    fn a_heap_dropped_with_live_blocks_leaves_them_valid() {
        let heap = SerializedHeap::new();
        // SAFETY: this thread alone calls `heap`.
        let blocks: Vec<*mut u8> = (0..10).map(|_| unsafe { heap.malloc(64) }).collect();
        for &b in &blocks {
            // SAFETY: fresh blocks of 64 bytes.
            unsafe { b.write_bytes(0x11, 64) };
        }
        drop(heap);
        for &b in &blocks {
            // SAFETY: the blocks outlive their heap, as an exited thread's.
            assert_eq!(unsafe { core::slice::from_raw_parts(b, 64) }, &[0x11; 64]);
            // SAFETY: each is live and freed once.
            unsafe { pymalloc::free(b) };
        }
    }
}
