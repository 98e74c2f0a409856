//! Random sequences of malloc / calloc / realloc / free over the three
//! families and sizes 0..=4096, on two threads: the first hands blocks to
//! the second, which checks and frees them while the first goes on. Every
//! block is filled with its own byte and checked before it is reallocated
//! or freed; blocks must be aligned to 16 bytes and never overlap. At the
//! end the pool's blocks in use are back where they started.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Once;
use std::sync::mpsc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use objimpl::alloc::{self, Allocator, Domain};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Family {
    Raw,
    Mem,
    Object,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Malloc {
        family: Family,
        size: u16,
    },
    Calloc {
        family: Family,
        count: u8,
        size: u16,
    },
    Realloc {
        block: u8,
        size: u16,
    },
    Free {
        block: u8,
    },
    /// Send the block to the other thread, which checks and frees it.
    Hand {
        block: u8,
    },
}

/// A live block of the model.
struct Block {
    address: usize,
    size: usize,
    fill: u8,
    family: Family,
}

// SAFETY (for the functions below): each is called with blocks of the
// family it names, made by the matching malloc and freed once.
fn malloc(family: Family, size: usize) -> *mut u8 {
    match family {
        Family::Raw => alloc::raw_malloc(size),
        Family::Mem => alloc::mem_malloc(size),
        Family::Object => alloc::object_malloc(size),
    }
}

fn calloc(family: Family, count: usize, size: usize) -> *mut u8 {
    match family {
        Family::Raw => alloc::raw_calloc(count, size),
        Family::Mem => alloc::mem_calloc(count, size),
        Family::Object => alloc::object_calloc(count, size),
    }
}

/// # Safety
/// `p` is a live block of `family`.
unsafe fn realloc(family: Family, p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: as the caller promises.
    unsafe {
        match family {
            Family::Raw => alloc::raw_realloc(p, size),
            Family::Mem => alloc::mem_realloc(p, size),
            Family::Object => alloc::object_realloc(p, size),
        }
    }
}

/// # Safety
/// `p` is a live block of `family`, freed once.
unsafe fn free(family: Family, p: *mut u8) {
    // SAFETY: as the caller promises.
    unsafe {
        match family {
            Family::Raw => alloc::raw_free(p),
            Family::Mem => alloc::mem_free(p),
            Family::Object => alloc::object_free(p),
        }
    }
}

/// Checks that `block` still holds its fill byte everywhere.
fn check(block: &Block) {
    // SAFETY: the block is live and `size` bytes long.
    let bytes = unsafe { std::slice::from_raw_parts(block.address as *const u8, block.size) };
    if let Some(at) = bytes.iter().position(|&b| b != block.fill) {
        panic!(
            "block at {:#x} (size {}) overwritten at byte {at}",
            block.address, block.size
        );
    }
}

fn fill(block: &Block) {
    // SAFETY: the block is live and `size` bytes long.
    unsafe { std::ptr::write_bytes(block.address as *mut u8, block.fill, block.size) };
}

/// Adds a fresh block to the model: aligned, overlapping no other.
fn admit(live: &mut BTreeMap<usize, Block>, block: Block) {
    assert_eq!(
        block.address % 16,
        0,
        "misaligned block {:#x}",
        block.address
    );
    let end = block.address + block.size.max(1);
    if let Some((_, before)) = live.range(..end).next_back() {
        assert!(
            before.address + before.size.max(1) <= block.address,
            "block {:#x}+{} overlaps {:#x}+{}",
            block.address,
            block.size,
            before.address,
            before.size
        );
    }
    fill(&block);
    live.insert(block.address, block);
}

fn nth(live: &BTreeMap<usize, Block>, n: u8) -> Option<usize> {
    (!live.is_empty()).then(|| *live.keys().nth(n as usize % live.len()).unwrap())
}

fuzz_target!(|ops: Vec<Op>| {
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        // The pool itself, without the debug hooks, so that its blocks in
        // use are exact. SAFETY: no block of these families is live yet.
        unsafe {
            alloc::set_allocator(Domain::Mem, Allocator::pymalloc());
            alloc::set_allocator(Domain::Object, Allocator::pymalloc());
        }
    });
    let before = alloc::stats().blocks_in_use();
    let (to_other, from_first) = mpsc::channel::<Block>();
    let other = std::thread::spawn(move || {
        for block in from_first {
            check(&block);
            // SAFETY: a live block of its family, handed over and freed once.
            unsafe { free(block.family, block.address as *mut u8) };
        }
    });

    let mut live = BTreeMap::new();
    let mut next_fill = 0u8;
    for op in ops.into_iter().take(512) {
        next_fill = next_fill.wrapping_add(1).max(1);
        match op {
            Op::Malloc { family, size } => {
                let size = size as usize % 4097;
                let p = malloc(family, size);
                assert!(!p.is_null(), "malloc({size}) failed");
                admit(
                    &mut live,
                    Block {
                        address: p as usize,
                        size,
                        fill: next_fill,
                        family,
                    },
                );
            }
            Op::Calloc {
                family,
                count,
                size,
            } => {
                let (count, size) = (count as usize % 17, size as usize % 257);
                let p = calloc(family, count, size);
                assert!(!p.is_null(), "calloc({count}, {size}) failed");
                // SAFETY: a fresh block of `count * size` bytes.
                let bytes = unsafe { std::slice::from_raw_parts(p, count * size) };
                assert!(bytes.iter().all(|&b| b == 0), "calloc gave dirty memory");
                admit(
                    &mut live,
                    Block {
                        address: p as usize,
                        size: count * size,
                        fill: next_fill,
                        family,
                    },
                );
            }
            Op::Realloc { block, size } => {
                let Some(address) = nth(&live, block) else {
                    continue;
                };
                let old = live.remove(&address).unwrap();
                check(&old);
                let size = size as usize % 4097;
                // SAFETY: a live block of its family.
                let p = unsafe { realloc(old.family, address as *mut u8, size) };
                assert!(!p.is_null(), "realloc to {size} failed");
                let kept = old.size.min(size);
                // SAFETY: the new block holds at least `kept` bytes.
                let bytes = unsafe { std::slice::from_raw_parts(p, kept) };
                assert!(
                    bytes.iter().all(|&b| b == old.fill),
                    "realloc lost the contents"
                );
                admit(
                    &mut live,
                    Block {
                        address: p as usize,
                        size,
                        fill: next_fill,
                        family: old.family,
                    },
                );
            }
            Op::Free { block } => {
                let Some(address) = nth(&live, block) else {
                    continue;
                };
                let block = live.remove(&address).unwrap();
                check(&block);
                // SAFETY: a live block of its family, freed once.
                unsafe { free(block.family, address as *mut u8) };
            }
            Op::Hand { block } => {
                let Some(address) = nth(&live, block) else {
                    continue;
                };
                to_other.send(live.remove(&address).unwrap()).unwrap();
            }
        }
    }
    for block in std::mem::take(&mut live).into_values() {
        check(&block);
        // SAFETY: a live block of its family, freed once.
        unsafe { free(block.family, block.address as *mut u8) };
    }
    drop(to_other);
    other.join().unwrap();
    assert_eq!(alloc::stats().blocks_in_use(), before, "blocks leaked");
});
