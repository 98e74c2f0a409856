//! `heap_map_svg` draws what `stats()` reports: one row per arena, a cell
//! per pool, the pools and blocks of each class.
//!
//! The tests compare the picture with `stats()` taken at the same moment,
//! never with block counts of their own: the families may add bytes to each
//! request (the debug hooks do), which changes classes and counts but not
//! the agreement.
//!
//! Not under Miri: writing and parsing one picture takes it about ten
//! minutes. What Miri has to check, the picture's reads of other threads'
//! arenas, the unit test `alloc::heap_map::tests::snapshots_taken_while_*`
//! checks there; what is drawn is safe code, checked here.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use objimpl_core::alloc::{self, Stats};

use crate::{class_size, serial};

/// One pool cell of the picture.
#[derive(Debug)]
struct Cell {
    index: usize,
    state: String,
    class: Option<usize>,
    used: usize,
    capacity: usize,
}

/// One arena row.
struct Row {
    base: usize,
    this_thread: bool,
    pools_in_use: usize,
    cells: Vec<Cell>,
}

/// A row in one line, for failure messages: `#` a full pool, `o` one in
/// part, `0` an empty one, `.` free, `_` never used.
impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cells: String = self
            .cells
            .iter()
            .map(|c| match c.state.as_str() {
                "used" if c.used == c.capacity => '#',
                "used" if c.used == 0 => '0',
                "used" => 'o',
                "free" => '.',
                _ => '_',
            })
            .collect();
        write!(f, "{:#x} [{cells}]", self.base)
    }
}

/// What the picture says, read back from its XML.
#[derive(Debug)]
struct Map {
    totals: HashMap<String, usize>,
    rows: Vec<Row>,
    /// Per class: `data-pools`, `data-blocks-in-use`, `data-blocks-cached`.
    classes: Vec<(usize, usize, usize)>,
}

fn number(node: roxmltree::Node<'_, '_>, name: &str) -> usize {
    let text = node
        .attribute(name)
        .unwrap_or_else(|| panic!("no {name} on {node:?}"));
    match text.strip_prefix("0x") {
        Some(hex) => usize::from_str_radix(hex, 16).unwrap(),
        None => text.parse().unwrap(),
    }
}

impl Map {
    fn parse(svg: &str) -> Map {
        let doc = roxmltree::Document::parse(svg).expect("the heap map is well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let totals = doc
            .descendants()
            .find(|n| n.attribute("id") == Some("totals"))
            .expect("a totals group");
        let totals = totals
            .attributes()
            .filter_map(|a| {
                let name = a.name().strip_prefix("data-")?;
                Some((name.to_owned(), a.value().parse().unwrap()))
            })
            .collect();
        let rows = doc
            .descendants()
            .filter(|n| n.has_attribute("data-arena"))
            .map(|row| Row {
                base: number(row, "data-arena"),
                this_thread: row.attribute("data-this-thread") == Some("true"),
                pools_in_use: number(row, "data-pools-in-use"),
                cells: row
                    .children()
                    .filter(|n| n.has_attribute("data-state"))
                    .map(|cell| {
                        let used = cell.attribute("data-state") == Some("used");
                        Cell {
                            index: number(cell, "data-index"),
                            state: cell.attribute("data-state").unwrap().to_owned(),
                            class: used.then(|| number(cell, "data-class")),
                            used: if used { number(cell, "data-used") } else { 0 },
                            capacity: if used {
                                number(cell, "data-capacity")
                            } else {
                                0
                            },
                        }
                    })
                    .collect(),
            })
            .collect();
        let mut classes: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_attribute("data-size-class"))
            .map(|n| {
                (
                    number(n, "data-size-class"),
                    (
                        number(n, "data-pools"),
                        number(n, "data-blocks-in-use"),
                        number(n, "data-blocks-cached"),
                    ),
                )
            })
            .collect();
        classes.sort_by_key(|&(class, _)| class);
        assert_eq!(
            classes.iter().map(|&(c, _)| c).collect::<Vec<_>>(),
            (0..alloc::stats().classes.len()).collect::<Vec<_>>(),
            "one legend entry per class"
        );
        Map {
            totals,
            rows,
            classes: classes.into_iter().map(|(_, figures)| figures).collect(),
        }
    }

    fn cells(&self) -> impl Iterator<Item = &Cell> {
        self.rows.iter().flat_map(|r| &r.cells)
    }
}

fn draw() -> String {
    let mut svg = Vec::new();
    alloc::heap_map_svg(&mut svg).unwrap();
    String::from_utf8(svg).expect("the heap map is UTF-8")
}

/// A picture and `stats()` of the same moment: drawn between two equal
/// snapshots. (A thread of an earlier test may still be exiting, giving
/// back its arena, and its heap may be adopted meanwhile.)
fn draw_with_stats() -> (Map, Stats) {
    for _ in 0..200 {
        let before = alloc::stats();
        let svg = draw();
        let after = alloc::stats();
        if before == after {
            return (Map::parse(&svg), after);
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("the allocator did not stand still for one picture");
}

/// Blocks of every small size, in both pooled families (even `i`: objects),
/// a third of them freed again (into the block cache and back to their
/// pools).
fn a_mixed_heap() -> Vec<(usize, *mut u8)> {
    let n = 6000;
    let blocks = (0..n).map(|i| {
        let size = i * 7 % 513;
        if i % 2 == 0 {
            (i, alloc::object_malloc(size))
        } else {
            (i, alloc::mem_malloc(size))
        }
    });
    let (freed, kept): (Vec<_>, Vec<_>) = blocks.partition(|&(i, _)| i % 3 == 0);
    free_mixed(freed);
    kept
}

fn free_mixed(blocks: Vec<(usize, *mut u8)>) {
    for (i, p) in blocks {
        // SAFETY: from the family `i` chose, freed once.
        unsafe {
            if i % 2 == 0 {
                alloc::object_free(p)
            } else {
                alloc::mem_free(p)
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "a picture takes Miri minutes; see the module docs")]
fn map_shows_the_arenas_pools_and_blocks_of_stats_at_the_same_moment() {
    let _serial = serial();
    let blocks = a_mixed_heap();
    let (map, stats) = draw_with_stats();

    assert!(stats.arenas_current >= 1);
    assert_eq!(map.rows.len(), stats.arenas_current, "one row per arena");
    let mut bases: Vec<usize> = map.rows.iter().map(|r| r.base).collect();
    assert!(bases.iter().all(|b| b % (1 << 20) == 0), "{bases:x?}");
    bases.sort_unstable();
    bases.dedup();
    assert_eq!(bases.len(), map.rows.len(), "each arena once");

    for row in &map.rows {
        let indices: Vec<usize> = row.cells.iter().map(|c| c.index).collect();
        assert_eq!(indices, (0..64).collect::<Vec<_>>(), "64 pools in order");
        let used = row.cells.iter().filter(|c| c.state == "used").count();
        assert_eq!(row.pools_in_use, used);
        // Pools are carved in order: the never-used ones end the row.
        let first_untouched = row.cells.iter().position(|c| c.state == "untouched");
        if let Some(first) = first_untouched {
            assert!(
                row.cells[first..].iter().all(|c| c.state == "untouched"),
                "{row:?}"
            );
        }
    }

    for (class, c) in stats.classes.iter().enumerate() {
        let cells: Vec<&Cell> = map
            .cells()
            .filter(|cell| cell.class == Some(class))
            .collect();
        assert_eq!(cells.len(), c.pools, "pools of class {class}");
        for cell in &cells {
            // An arena's first pool keeps the arena's slot table (64
            // pointers) after its header.
            let overhead = if cell.index == 0 { 64 + 512 } else { 64 };
            let capacity = (16384 - overhead) / class_size(class);
            assert_eq!(cell.capacity, capacity, "class {class}");
            assert!(cell.used <= capacity, "{cell:?}");
        }
        let (pools, in_use, cached) = map.classes[class];
        assert_eq!((pools, in_use), (c.pools, c.blocks_in_use), "class {class}");
        // A pool counts as handed out the blocks its owner keeps cached.
        let handed_out: usize = cells.iter().map(|cell| cell.used).sum();
        assert_eq!(
            handed_out,
            c.blocks_in_use + cached,
            "blocks of class {class}"
        );
    }
    let unused = map.cells().filter(|c| c.state != "used").count();
    assert_eq!(unused, stats.unused_pools);

    let t = &map.totals;
    assert_eq!(t["arenas-current"], stats.arenas_current);
    assert_eq!(t["arenas-highwater"], stats.arenas_highwater);
    assert_eq!(t["arenas-allocated-total"], stats.arenas_allocated_total);
    assert_eq!(t["arenas-reclaimed"], stats.arenas_reclaimed);
    assert_eq!(
        t["bytes-in-allocated-blocks"],
        stats.bytes_in_allocated_blocks
    );
    assert_eq!(
        t["bytes-in-available-blocks"],
        stats.bytes_in_available_blocks
    );
    assert_eq!(t["unused-pools"], stats.unused_pools);
    assert_eq!(t["bytes-in-unused-pools"], stats.bytes_in_unused_pools);
    assert_eq!(
        t["bytes-lost-to-pool-headers"],
        stats.bytes_lost_to_pool_headers
    );
    assert_eq!(
        t["bytes-lost-to-quantization"],
        stats.bytes_lost_to_quantization
    );
    assert_eq!(t["blocks-in-use"], stats.blocks_in_use());
    assert_eq!(
        t["blocks-cached"],
        map.classes
            .iter()
            .map(|&(_, _, cached)| cached)
            .sum::<usize>()
    );
    free_mixed(blocks);
}

/// Draws the picture on a thread of its own after `work`, which returns
/// what it allocated for `undo` to free after the picture.
fn draw_on_a_thread<T: 'static>(work: fn() -> T, undo: fn(T)) -> Map {
    thread::spawn(move || {
        let held = work();
        let map = Map::parse(&draw());
        undo(held);
        map
    })
    .join()
    .unwrap()
}

/// Blocks of 256 bytes for one and a half arenas.
fn blocks_for_one_and_a_half_arenas() -> Vec<*mut u8> {
    let n = 96 * 63;
    (0..n).map(|_| alloc::object_malloc(256)).collect()
}

fn free_all(blocks: Vec<*mut u8>) {
    for p in blocks {
        // SAFETY: from `object_malloc`, freed once.
        unsafe { alloc::object_free(p) };
    }
}

#[test]
#[cfg_attr(miri, ignore = "a picture takes Miri minutes; see the module docs")]
fn a_heap_that_only_allocates_fills_each_pool_before_the_next() {
    let _serial = serial();
    let map = draw_on_a_thread(blocks_for_one_and_a_half_arenas, free_all);
    let mine: Vec<&Row> = map.rows.iter().filter(|r| r.this_thread).collect();
    assert!(!mine.is_empty(), "the drawing thread's arenas are marked");
    let mut classes = HashMap::new();
    for cell in mine.iter().flat_map(|r| &r.cells) {
        if let Some(class) = cell.class {
            let partial = classes.entry(class).or_insert(0);
            if cell.used < cell.capacity {
                *partial += 1;
            }
        }
    }
    assert!(!classes.is_empty());
    for (class, partial) in classes {
        assert!(partial <= 1, "class {class}: {partial} pools not full");
    }
    assert!(
        mine.iter().any(|r| r
            .cells
            .iter()
            .all(|c| c.state == "used" && c.used == c.capacity)),
        "an arena of full pools reads full: {mine:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "a picture takes Miri minutes; see the module docs")]
fn pools_given_back_show_as_free_and_the_rest_stay_untouched() {
    let _serial = serial();
    fn drain_two_thirds() -> Vec<*mut u8> {
        let mut blocks = blocks_for_one_and_a_half_arenas();
        let rest = blocks.split_off(blocks.len() * 2 / 3);
        free_all(blocks);
        rest
    }
    let map = draw_on_a_thread(drain_two_thirds, free_all);
    let mine: Vec<&Row> = map.rows.iter().filter(|r| r.this_thread).collect();
    let count = |state: &str| {
        mine.iter()
            .flat_map(|r| &r.cells)
            .filter(|c| c.state == state)
            .count()
    };
    assert!(count("free") >= 1, "{mine:?}");
    assert!(count("used") >= 1, "{mine:?}");
    assert_eq!(
        count("free") + count("used") + count("untouched"),
        64 * mine.len()
    );
}

/// Housekeeping that never pauses (two threads calling
/// `release_free_memory` in a loop) overlaps every snapshot the picture
/// tries: after `stats()`'s bound of tries it draws what it read. Unbounded,
/// it mostly went on past the 5 s here (10 to more than 20 s in a release
/// build), but a quiet moment could still let it through: the unit test
/// `alloc::heap_map::tests::a_snapshot_across_housekeeping_that_never_ends_*`
/// is the deterministic one.
#[test]
#[cfg_attr(miri, ignore = "a picture takes Miri minutes; see the module docs")]
fn a_picture_taken_across_endless_housekeeping_comes_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    let _serial = serial();
    let stop = Arc::new(AtomicBool::new(false));
    let housekeepers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || {
                let keep = blocks_for_one_and_a_half_arenas();
                while !stop.load(Ordering::Relaxed) {
                    alloc::release_free_memory();
                }
                free_all(keep);
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    let (tx, rx) = std::sync::mpsc::channel();
    let painter = thread::spawn(move || {
        let start = Instant::now();
        let svg = draw();
        let _ = tx.send(start.elapsed());
        svg
    });
    // Generous: the bounded tries take about a quarter of a second.
    let took = rx.recv_timeout(Duration::from_secs(5));
    // Either way, the housekeeping stops, and the picture comes back.
    stop.store(true, Ordering::Relaxed);
    for t in housekeepers {
        t.join().unwrap();
    }
    let svg = painter.join().unwrap();
    let took = took.expect("the picture did not come back within 5 s");
    let map = Map::parse(&svg);
    assert!(!map.rows.is_empty(), "{took:?}");
}
