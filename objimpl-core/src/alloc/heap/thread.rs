//! Each thread's heap: the thread-local pointer the fast paths read, the
//! heap made on a thread's first allocation (the slow path of `malloc`),
//! the exit hook that retires it, and the calling thread's deferred work
//! and memory given back on request.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use super::super::system;
use super::housekeeping::housekeeping;
use super::kept::release_empty_arenas;
use super::lists::{ORPHANS_WAITING, acquire_heap, collect, retire};
use super::pools::{flush_caches, new_pool, release_idle, take_block};
use super::{Heap, Servicer};

#[derive(Clone, Copy, PartialEq, Eq)]
enum ThreadState {
    /// No heap yet.
    Fresh,
    /// Getting a heap; allocations meanwhile go to the system allocator.
    Starting,
    /// `CURRENT` is set.
    Running,
    /// The exit hook ran; allocations go to the system allocator.
    Exited,
}

thread_local! {
    /// This thread's heap, or null. Const-initialised and without a
    /// destructor, so reading it is a plain thread-local load.
    static CURRENT: Cell<*const Heap> = const { Cell::new(ptr::null()) };
    static STATE: Cell<ThreadState> = const { Cell::new(ThreadState::Fresh) };
    /// Its destructor is the thread's exit hook.
    static EXIT_HOOK: ExitHook = const { ExitHook };
}

/// The calling thread's heap, or null if it has none (yet, or any more).
#[inline(always)]
pub(crate) fn current() -> *const Heap {
    CURRENT.get()
}

struct ExitHook;

impl Drop for ExitHook {
    fn drop(&mut self) {
        STATE.set(ThreadState::Exited);
        let heap = CURRENT.replace(ptr::null());
        if !heap.is_null() {
            // SAFETY: `heap` was this thread's and nobody else services it.
            housekeeping(|| unsafe { retire(heap) });
        }
    }
}

/// The calling thread's heap, made on first use. Null if the thread is
/// starting or exiting, or no memory could be had: the caller then uses the
/// system allocator, whose blocks `free` recognises.
#[cold]
#[inline(never)]
fn heap_for_thread() -> *const Heap {
    let heap = CURRENT.get();
    if !heap.is_null() {
        return heap;
    }
    if STATE.get() != ThreadState::Fresh {
        return ptr::null();
    }
    STATE.set(ThreadState::Starting);
    // Registering the exit hook may allocate (glibc's registration calls the
    // C library's calloc; elsewhere std may use the global allocator, which
    // lands back here while `Starting` and is served by the system).
    if EXIT_HOOK.try_with(|_| ()).is_err() {
        STATE.set(ThreadState::Exited);
        return ptr::null();
    }
    let heap = acquire_heap();
    if heap.is_null() {
        STATE.set(ThreadState::Fresh);
        return heap;
    }
    CURRENT.set(heap);
    STATE.set(ThreadState::Running);
    heap
}

// ---------------------------------------------------------------------------
// The slow path of malloc.
// ---------------------------------------------------------------------------

/// The calling thread, as the servicer of its own heap.
#[derive(Clone, Copy)]
pub(crate) struct ThisThread;

// SAFETY: a thread-local heap is used by its thread alone (`free` of
// another thread's block goes to its owner's pending queue).
unsafe impl Servicer for ThisThread {
    #[inline(always)]
    fn heap(self) -> *const Heap {
        current()
    }

    #[inline(always)]
    unsafe fn malloc_slow(self, class: usize, size: usize) -> *mut u8 {
        malloc_small_slow(class, size)
    }
}

/// `malloc` of a small size when the fast path could not serve it: no heap
/// yet, or no usable pool of the class.
#[cold]
#[inline(never)]
pub(crate) extern "C" fn malloc_small_slow(class: usize, size: usize) -> *mut u8 {
    let heap = heap_for_thread();
    if heap.is_null() {
        return system::malloc(size);
    }
    // SAFETY: `heap` is this thread's heap.
    unsafe { malloc_slow_in(heap, class, size) }
}

/// The slow path of a [`SerializedHeap`](crate::alloc::SerializedHeap):
/// makes its heap on first use (the C library serves `size` if no heap
/// could be had), then as [`malloc_small_slow`].
///
/// # Safety
///
/// - The caller services the heap in `cell` (holds the lock its users
///   serialize on); nobody else writes `cell`.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn malloc_serialized_slow(
    cell: &AtomicPtr<Heap>,
    class: usize,
    size: usize,
) -> *mut u8 {
    let mut heap = cell.load(Ordering::Relaxed).cast_const();
    if heap.is_null() {
        // Acquired as a thread's is, but never retired with a thread: the
        // heap is the cell's until the cell is dropped.
        heap = acquire_heap();
        if heap.is_null() {
            return system::malloc(size);
        }
        // Relaxed: the callers' lock orders this store before their loads.
        cell.store(heap.cast_mut(), Ordering::Relaxed);
    }
    // SAFETY: as the caller guarantees.
    unsafe { malloc_slow_in(heap, class, size) }
}

/// Gives up the heap of a [`SerializedHeap`](crate::alloc::SerializedHeap)
/// that is dropped, as a thread's exit hook gives up the thread's.
///
/// # Safety
///
/// - Nobody services `heap` any more, or will.
pub(crate) unsafe fn retire_serialized(heap: *const Heap) {
    // SAFETY: as the caller guarantees.
    housekeeping(|| unsafe { retire(heap) });
}

/// The common slow path of `malloc`: take back what other threads freed
/// (and reclaim orphans), then a block of a usable pool of `class`, or of
/// a new one; the C library's if no arena could be had.
///
/// # Safety
///
/// - The caller services `heap`.
unsafe fn malloc_slow_in(heap: *const Heap, class: usize, size: usize) -> *mut u8 {
    // SAFETY: as the caller guarantees.
    unsafe {
        collect(heap);
        let mut pool = Heap::usable_pool(heap, class);
        if pool.is_null() {
            pool = new_pool(heap, class);
            if pool.is_null() {
                // No arena could be had (the address space is limited, or
                // the C library has no room for an arena's metadata): the C
                // library may still have room for the block, as CPython's
                // `_PyObject_Malloc` falls back to `PyMem_RawMalloc`. `free`
                // tells its blocks by the arena map.
                return system::malloc(size);
            }
        }
        take_block(heap, pool, class)
    }
}

// ---------------------------------------------------------------------------
// The calling thread's deferred work, and memory given back.
// ---------------------------------------------------------------------------

/// [`release_free_memory`](crate::alloc::release_free_memory) for the calling thread.
pub(crate) fn release_free_memory() {
    let heap = current();
    if heap.is_null() {
        return;
    }
    // SAFETY: `heap` is this thread's.
    housekeeping(|| unsafe {
        flush_caches(heap);
        collect(heap);
        release_idle(heap);
        release_empty_arenas(heap, 0);
    })
}

/// What [`stats`](crate::alloc::stats()) does first: the calling thread's deferred
/// work (blocks freed to it by other threads, and the heaps of exited
/// threads), so that the figures are as current as they can be.
pub(crate) fn collect_current() {
    let heap = current();
    if heap.is_null() {
        // A thread without a heap can still reclaim orphans: do it with a
        // heap of its own, unless it is exiting.
        if !ORPHANS_WAITING.load(Ordering::Relaxed) {
            return;
        }
        let heap = heap_for_thread();
        if heap.is_null() {
            return;
        }
        // SAFETY: `heap` is this thread's.
        return unsafe { collect(heap) };
    }
    // SAFETY: `heap` is this thread's.
    unsafe { collect(heap) }
}
