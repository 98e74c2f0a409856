//! Random sequences of malloc, calloc, realloc and free over every family and
//! every size up to 2048, checked against a model after every step.

use std::collections::BTreeMap;

use objimpl_core::alloc;
use proptest::prelude::*;

use crate::{Family, class_of, class_size, serial};

#[derive(Clone, Debug)]
enum Op {
    Malloc(Family, usize),
    Calloc(Family, usize, usize),
    /// Resize the live block at this index (modulo the live count).
    Realloc(usize, usize),
    /// Free the live block at this index (modulo the live count).
    Free(usize),
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Object), Just(Family::Mem), Just(Family::Raw)]
}

fn size() -> impl Strategy<Value = usize> {
    // Half the requests small, where the pools are; all sizes reachable.
    prop_oneof![0..=512usize, 0..=2048usize]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (family(), size()).prop_map(|(f, s)| Op::Malloc(f, s)),
        1 => (family(), 0..=16usize, 0..=128usize).prop_map(|(f, n, s)| Op::Calloc(f, n, s)),
        2 => (any::<usize>(), size()).prop_map(|(i, s)| Op::Realloc(i, s)),
        3 => any::<usize>().prop_map(Op::Free),
    ]
}

struct Live {
    ptr: *mut u8,
    size: usize,
    family: Family,
    /// The class of the pool block, if the block is one. A block that a
    /// realloc kept in place keeps the class it had.
    class: Option<usize>,
    /// Every byte of the block holds this value.
    fill: u8,
}

#[derive(Default)]
struct Model {
    live: Vec<Live>,
    next_fill: u8,
}

impl Model {
    fn fill(&mut self, ptr: *mut u8, size: usize) -> u8 {
        self.next_fill = self.next_fill.wrapping_add(1);
        // SAFETY: `ptr` is a live block of at least `size` bytes.
        unsafe { ptr.write_bytes(self.next_fill, size) };
        self.next_fill
    }

    fn check_contents(block: &Live, upto: usize) {
        // SAFETY: the block is live and holds at least `upto <= size` bytes,
        // all written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(block.ptr, upto) };
        assert!(
            bytes.iter().all(|&b| b == block.fill),
            "a {:?} block of {} bytes lost its contents",
            block.family,
            block.size
        );
    }

    fn check_invariants(&self, baseline: &[usize; 32]) {
        let mut spans = BTreeMap::new();
        for block in &self.live {
            assert_eq!(block.ptr as usize % alloc::ALIGNMENT, 0, "misaligned");
            Self::check_contents(block, block.size);
            spans.insert(block.ptr as usize, block.ptr as usize + block.size.max(1));
        }
        let mut end = 0;
        for (&start, &stop) in &spans {
            assert!(start >= end, "two live blocks overlap");
            end = stop;
        }
        assert_eq!(
            spans.len(),
            self.live.len(),
            "two live blocks share an address"
        );
        let stats = alloc::stats();
        let mut expected = *baseline;
        for block in &self.live {
            if let Some(class) = block.class {
                expected[class] += 1;
            }
        }
        for (class, (c, expected)) in stats.classes.iter().zip(expected).enumerate() {
            assert_eq!(c.blocks_in_use, expected, "blocks in use of class {class}");
            assert!(c.blocks_in_use + c.blocks_available <= c.pools * (16384 - 64) / c.size);
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Malloc(family, size) => {
                let ptr = family.malloc(size);
                assert!(!ptr.is_null());
                let fill = self.fill(ptr, size);
                let class = family.pooled(size).then(|| class_of(size));
                self.live.push(Live {
                    ptr,
                    size,
                    family,
                    class,
                    fill,
                });
            }
            Op::Calloc(family, n, size) => {
                let ptr = family.calloc(n, size);
                assert!(!ptr.is_null());
                let total = n * size;
                let block = Live {
                    ptr,
                    size: total,
                    family,
                    class: None,
                    fill: 0,
                };
                Self::check_contents(&block, total);
                let fill = self.fill(ptr, total);
                let class = family.pooled(total).then(|| class_of(total));
                self.live.push(Live {
                    fill,
                    class,
                    ..block
                });
            }
            Op::Realloc(index, size) => {
                if self.live.is_empty() {
                    return;
                }
                let index = index % self.live.len();
                let old = self.live.swap_remove(index);
                // SAFETY: `old.ptr` is live and from `old.family`.
                let ptr = unsafe { old.family.realloc(old.ptr, size) };
                assert!(!ptr.is_null());
                let kept = Live { ptr, ..old };
                Self::check_contents(&kept, old.size.min(size));
                let class = match old.class {
                    Some(class)
                        if size <= class_size(class) && 4 * size > 3 * class_size(class) =>
                    {
                        assert_eq!(
                            ptr, old.ptr,
                            "a realloc within 3/4 of the class stays in place"
                        );
                        Some(class)
                    }
                    Some(_) => old.family.pooled(size).then(|| class_of(size)),
                    // A block of the C library stays one, as in obmalloc.
                    None => None,
                };
                let fill = self.fill(ptr, size);
                self.live.push(Live {
                    ptr,
                    size,
                    family: old.family,
                    class,
                    fill,
                });
            }
            Op::Free(index) => {
                if self.live.is_empty() {
                    return;
                }
                let block = self.live.swap_remove(index % self.live.len());
                Self::check_contents(&block, block.size);
                // SAFETY: the block is live and from this family, freed once.
                unsafe { block.family.free(block.ptr) };
            }
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        for block in self.live.drain(..) {
            // SAFETY: every block left is live, freed once.
            unsafe { block.family.free(block.ptr) };
        }
    }
}

fn in_use_per_class() -> [usize; 32] {
    let stats = alloc::stats();
    std::array::from_fn(|class| stats.classes[class].blocks_in_use)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 3 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn live_blocks_keep_contents_alignment_and_disjointness_and_stats_match(
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 24 } else { 300 })
    ) {
        let _serial = serial();
        let baseline = in_use_per_class();
        let mut model = Model::default();
        for op in ops {
            model.apply(op);
            model.check_invariants(&baseline);
        }
        drop(model);
        prop_assert_eq!(in_use_per_class(), baseline);
    }
}
