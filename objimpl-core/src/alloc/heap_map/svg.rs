//! Drawing a [`Snapshot`] as SVG: the colours, the geometry and the parts
//! of the picture, top to bottom.

use std::io::{self, Write};

use super::snapshot::{ArenaRow, Snapshot};
use crate::alloc::arena::PoolState;
use crate::alloc::pool::{blocks_in_pool, pool_overhead};
use crate::alloc::size_class::{
    ARENA_SIZE, NUM_CLASSES, POOL_SIZE, POOLS_PER_ARENA, TINY_CLASS, class_size,
};
use crate::alloc::stats::with_commas;

// ---------------------------------------------------------------------------
// Colours.
// ---------------------------------------------------------------------------

/// The hues of the size classes: class `c` takes `HUES[c % 8]`, so
/// neighbouring classes, which often live side by side, never look alike:
/// blue, orange, green, red, purple, gold, teal, pink.
const HUES: [[u8; 3]; 8] = [
    [0x2f, 0x6f, 0xd6],
    [0xf0, 0x8a, 0x24],
    [0x2e, 0xa3, 0x50],
    [0xd9, 0x39, 0x3e],
    [0x87, 0x57, 0xc9],
    [0xc9, 0xa2, 0x00],
    [0x1f, 0xab, 0xb3],
    [0xe0, 0x5f, 0xa8],
];

/// The shade of each band of 8 classes (128 bytes of block size), as
/// (towards white, towards black): 16-128 bytes as the hue, 144-256
/// darker, 272-384 lighter, 400-512 darkest.
const BANDS: [(f64, f64); 4] = [(0.0, 0.0), (0.0, 0.38), (0.42, 0.0), (0.0, 0.62)];
/// The medium classes' bands: between the small classes' shades.
const MEDIUM_BANDS: [(f64, f64); 7] = [
    (0.0, 0.15),
    (0.2, 0.0),
    (0.0, 0.28),
    (0.3, 0.0),
    (0.0, 0.5),
    (0.55, 0.0),
    (0.0, 0.72),
];

/// The 8-byte class, PyMalloc's own: slate grey, apart from the hues.
const TINY_HUE: [u8; 3] = [0x4a, 0x55, 0x68];

/// How much of the class colour a pool's background (its empty part) keeps.
const TINT: f64 = 0.22;

/// The colour of `class`, as `#rrggbb`, blended with white to keep
/// `strength` of it.
fn class_colour(class: usize, strength: f64) -> String {
    let (hue, (white, black)) = if class == TINY_CLASS {
        (TINY_HUE, (0.0, 0.0))
    } else if class > TINY_CLASS {
        let i = class - TINY_CLASS - 1;
        (
            HUES[i % HUES.len()],
            MEDIUM_BANDS[i / HUES.len() % MEDIUM_BANDS.len()],
        )
    } else {
        (
            HUES[class % HUES.len()],
            BANDS[class / HUES.len() % BANDS.len()],
        )
    };
    let channel = |i: usize| {
        let c = f64::from(hue[i]);
        let c = (c + (255.0 - c) * white) * (1.0 - black);
        let c = 255.0 - (255.0 - c) * strength;
        c.round().clamp(0.0, 255.0) as u8
    };
    format!("#{:02x}{:02x}{:02x}", channel(0), channel(1), channel(2))
}

/// Grey of a free pool, and of the unused pools in the totals bar.
const FREE_GREY: &str = "#d9d9d9";
/// Outline of a never-used pool.
const UNTOUCHED_OUTLINE: &str = "#c8c8c8";

// ---------------------------------------------------------------------------
// Layout, in pixels.
// ---------------------------------------------------------------------------

const WIDTH: u32 = 1400;
const MARGIN: u32 = 20;
/// A pool cell's side.
const CELL: u32 = 14;
/// From one cell to the next in a row.
const PITCH: u32 = 16;
/// From one arena row to the next.
const ROW: u32 = 18;
/// Where the cells of a row start: after the arena's address.
const GRID_X: u32 = MARGIN + 170;
/// Where a row's summary starts: after its 64 cells.
const SUMMARY_X: u32 = GRID_X + POOLS_PER_ARENA as u32 * PITCH + 14;
/// The heading of the arena rows.
const GRID_TOP: u32 = 352;
/// A heap's heading line above its rows.
const HEAP_LINE: u32 = 22;

/// The size classes' chart.
const CHART_X: u32 = 470;
const CHART_TOP: u32 = 112;
const CHART_HEIGHT: u32 = 118;
/// 89 classes to the right edge.
const CHART_PITCH: u32 = 10;
const CHART_BAR: u32 = 8;

/// The totals' bar.
const TOTALS_BAR_WIDTH: u32 = 400;

const STYLE: &str = "\
text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; font-size: 12px; fill: #222; }
.title { font-size: 21px; font-weight: bold; }
.heading { font-size: 14px; font-weight: bold; }
.note { font-size: 11px; fill: #555; }
.axis { font-size: 10px; fill: #555; }
.tick { font-size: 8px; fill: #555; }
.mono { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 11px; }
.figure { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; text-anchor: end; }
.track { fill: #eeeeee; }
";

// ---------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------

impl Snapshot {
    fn height(&self) -> u32 {
        let heaps = self.heap_groups().count() as u32;
        let rows = self.arenas.len() as u32;
        GRID_TOP + 30 + heaps * HEAP_LINE + rows.max(1) * ROW + MARGIN
    }

    /// The arenas in runs of one heap each.
    fn heap_groups(&self) -> impl Iterator<Item = &[ArenaRow]> {
        self.arenas.chunk_by(|a, b| a.heap == b.heap)
    }

    fn pools_in_use(&self) -> usize {
        self.stats.classes.iter().map(|c| c.pools).sum()
    }

    pub(super) fn write_svg(&self, out: &mut impl Write) -> io::Result<()> {
        let height = self.height();
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
        )?;
        writeln!(out, "<title>objimpl heap map</title>")?;
        write!(out, "<style>\n{STYLE}")?;
        writeln!(
            out,
            ".free {{ fill: {FREE_GREY}; }} .untouched {{ fill: #ffffff; stroke: {UNTOUCHED_OUTLINE}; stroke-width: 1; }}"
        )?;
        for class in 0..NUM_CLASSES {
            let colour = class_colour(class, 1.0);
            writeln!(
                out,
                ".k{class} {{ fill: {}; stroke: {colour}; stroke-width: 1; }} .f{class} {{ fill: {colour}; }}",
                class_colour(class, TINT),
            )?;
        }
        writeln!(out, "</style>")?;
        writeln!(
            out,
            r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
        )?;
        self.write_title(out)?;
        self.write_totals(out)?;
        self.write_classes(out)?;
        self.write_cell_legend(out)?;
        self.write_arenas(out)?;
        writeln!(out, "</svg>")
    }

    fn write_title(&self, out: &mut impl Write) -> io::Result<()> {
        let s = &self.stats;
        let in_allocated = percent(s.bytes_in_allocated_blocks, s.arena_bytes());
        writeln!(
            out,
            r#"<text class="title" x="{MARGIN}" y="34">Heap map · {} arena{} ({} MiB) · {} pools in use · {in_allocated} of arena bytes in allocated blocks</text>"#,
            s.arenas_current,
            plural(s.arenas_current),
            s.arena_bytes() / (1 << 20),
            with_commas(self.pools_in_use()),
        )?;
        writeln!(
            out,
            r#"<text class="note" x="{MARGIN}" y="56">objimpl's pool allocator, every thread's heap. One row per arena (1 MiB = {POOLS_PER_ARENA} pools of {} KiB), one cell per pool: its colour is its size class, its fill the blocks it has handed out out of those it holds.</text>"#,
            POOL_SIZE / 1024
        )
    }

    /// The figures of `stats()`, and a bar of where the arenas' bytes go.
    fn write_totals(&self, out: &mut impl Write) -> io::Result<()> {
        let s = &self.stats;
        writeln!(
            out,
            r#"<g id="totals" data-arenas-current="{}" data-arenas-highwater="{}" data-arenas-allocated-total="{}" data-arenas-reclaimed="{}" data-bytes-in-allocated-blocks="{}" data-bytes-in-available-blocks="{}" data-unused-pools="{}" data-bytes-in-unused-pools="{}" data-bytes-lost-to-pool-headers="{}" data-bytes-lost-to-quantization="{}" data-bytes-lost-to-arena-alignment="{}" data-blocks-in-use="{}" data-blocks-cached="{}">"#,
            s.arenas_current,
            s.arenas_highwater,
            s.arenas_allocated_total,
            s.arenas_reclaimed,
            s.bytes_in_allocated_blocks,
            s.bytes_in_available_blocks,
            s.unused_pools,
            s.bytes_in_unused_pools,
            s.bytes_lost_to_pool_headers,
            s.bytes_lost_to_quantization,
            s.bytes_lost_to_arena_alignment,
            s.blocks_in_use(),
            self.cached.iter().sum::<usize>(),
        )?;
        writeln!(
            out,
            r#"<text class="heading" x="{MARGIN}" y="92">Totals (alloc::stats())</text>"#
        )?;
        let overhead = s.bytes_lost_to_pool_headers
            + s.bytes_lost_to_quantization
            + s.bytes_lost_to_arena_alignment;
        let parts = [
            ("allocated blocks", s.bytes_in_allocated_blocks, "#37474f"),
            ("available blocks", s.bytes_in_available_blocks, "#90a4ae"),
            ("unused pools", s.bytes_in_unused_pools, FREE_GREY),
            ("headers, quantization", overhead, "#f0a6c0"),
        ];
        let total = s.arena_bytes();
        let bar_y = 102;
        writeln!(
            out,
            r#"<rect class="track" x="{MARGIN}" y="{bar_y}" width="{TOTALS_BAR_WIDTH}" height="18"/>"#
        )?;
        let mut x = f64::from(MARGIN);
        for (label, bytes, colour) in parts {
            if total == 0 || bytes == 0 {
                continue;
            }
            let width = bytes as f64 / total as f64 * f64::from(TOTALS_BAR_WIDTH);
            writeln!(
                out,
                r#"<rect x="{x:.2}" y="{bar_y}" width="{width:.2}" height="18" fill="{colour}"><title>{label}: {} bytes</title></rect>"#,
                with_commas(bytes)
            )?;
            x += width;
        }
        let mut y = bar_y + 36;
        let line = |out: &mut dyn Write,
                    y: u32,
                    swatch: Option<&str>,
                    label: &str,
                    value: &str,
                    share: &str|
         -> io::Result<()> {
            if let Some(colour) = swatch {
                writeln!(
                    out,
                    r#"<rect x="{MARGIN}" y="{}" width="10" height="10" fill="{colour}"/>"#,
                    y - 9
                )?;
            }
            writeln!(
                out,
                r#"<text x="{}" y="{y}">{label}</text><text class="figure" x="{}" y="{y}">{value}</text><text class="figure" x="{}" y="{y}">{share}</text>"#,
                MARGIN + 16,
                MARGIN + 330,
                MARGIN + TOTALS_BAR_WIDTH + 16,
            )
        };
        for (label, bytes, colour) in parts {
            let label = if label == "unused pools" {
                format!("unused pools ({} × 16 KiB)", with_commas(s.unused_pools))
            } else {
                format!("bytes in {label}")
            };
            line(
                out,
                y,
                Some(colour),
                &label,
                &with_commas(bytes),
                &percent(bytes, total),
            )?;
            y += 17;
        }
        line(
            out,
            y,
            None,
            &format!("arena bytes ({} × 1 MiB)", s.arenas_current),
            &with_commas(total),
            "",
        )?;
        y += 21;
        writeln!(
            out,
            r#"<text x="{MARGIN}" y="{y}">arenas: <tspan font-weight="bold">{}</tspan> current · {} highwater · {} allocated · {} reclaimed</text>"#,
            s.arenas_current, s.arenas_highwater, s.arenas_allocated_total, s.arenas_reclaimed
        )?;
        y += 17;
        writeln!(
            out,
            r#"<text x="{MARGIN}" y="{y}">blocks in use: <tspan font-weight="bold">{}</tspan> · cached for reuse: {}</text>"#,
            with_commas(s.blocks_in_use()),
            with_commas(self.cached.iter().sum()),
        )?;
        writeln!(out, "</g>")
    }

    /// A column per size class: its pools, filled as its pools are. The
    /// colours of the cells below, with their sizes: the legend of classes.
    fn write_classes(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            r#"<text class="heading" x="{CHART_X}" y="92">Pools per size class <tspan class="note" font-weight="normal">(column: pools of the class; filled: blocks handed out; colour: as the cells below)</tspan></text>"#
        )?;
        let most = self
            .stats
            .classes
            .iter()
            .map(|c| c.pools)
            .max()
            .unwrap_or(0)
            .max(1);
        let base = CHART_TOP + CHART_HEIGHT;
        writeln!(
            out,
            r##"<line x1="{}" y1="{base}.5" x2="{}" y2="{base}.5" stroke="#999"/>"##,
            CHART_X - 4,
            CHART_X + NUM_CLASSES as u32 * CHART_PITCH,
        )?;
        for (class, c) in self.stats.classes.iter().enumerate() {
            let handed_out = c.blocks_in_use + self.cached[class];
            let capacity = c.blocks_in_use + c.blocks_available;
            writeln!(
                out,
                r#"<g data-size-class="{class}" data-size="{}" data-pools="{}" data-blocks-in-use="{}" data-blocks-cached="{}">"#,
                c.size, c.pools, c.blocks_in_use, self.cached[class]
            )?;
            writeln!(
                out,
                "<title>class {class}: {}-byte blocks · {} pools · {} blocks in use, {} cached, {} available</title>",
                c.size,
                with_commas(c.pools),
                with_commas(c.blocks_in_use),
                with_commas(self.cached[class]),
                with_commas(c.blocks_available),
            )?;
            let x = CHART_X + class as u32 * CHART_PITCH;
            if c.pools == 0 {
                writeln!(
                    out,
                    r#"<rect class="k{class}" x="{}.5" y="{}.5" width="{}" height="2"/>"#,
                    x,
                    base - 3,
                    CHART_BAR - 1
                )?;
            } else {
                let height = (c.pools as f64 / most as f64 * f64::from(CHART_HEIGHT))
                    .round()
                    .max(3.0) as u32;
                writeln!(
                    out,
                    r#"<rect class="k{class}" x="{x}.5" y="{}.5" width="{}" height="{}"/>"#,
                    base - height,
                    CHART_BAR - 1,
                    height - 1
                )?;
                let filled = fill_height(handed_out, capacity, height);
                write_fill(out, class, x, base, CHART_BAR, filled)?;
                writeln!(
                    out,
                    r#"<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                    x + CHART_BAR / 2,
                    base - height - 4,
                    compact(c.pools)
                )?;
            }
            // Sizes in three staggered rows, to fit the narrow columns.
            writeln!(
                out,
                r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                x + CHART_BAR / 2,
                base + 10 + class as u32 % 3 * 9,
                compact_size(c.size)
            )?;
            writeln!(out, "</g>")?;
        }
        writeln!(
            out,
            r#"<text class="axis" x="{CHART_X}" y="{}">block size (bytes) → · hues repeat every 8 classes: as is to 128 bytes, darker to 256, lighter to 384, darkest to 512; then PyMalloc's medium classes to 64 KiB, in shades between</text>"#,
            base + 42
        )
    }

    /// How to read a cell.
    fn write_cell_legend(&self, out: &mut impl Write) -> io::Result<()> {
        let y = 280;
        writeln!(
            out,
            r#"<text class="heading" x="{MARGIN}" y="{}">Pool cells</text>"#,
            y + 11
        )?;
        // A class in the middle of the range shows the fill levels.
        let class = 12;
        let mut x = MARGIN + 90;
        for quarter in 0..=4 {
            writeln!(
                out,
                r#"<rect class="k{class}" x="{x}.5" y="{y}.5" width="{}" height="{}"/>"#,
                CELL - 1,
                CELL - 1
            )?;
            let filled = fill_height(quarter, 4, CELL);
            if filled > 0 {
                writeln!(
                    out,
                    r#"<rect class="f{class}" x="{x}" y="{}" width="{CELL}" height="{filled}"/>"#,
                    y + CELL - filled
                )?;
            }
            writeln!(
                out,
                r#"<text class="axis" x="{}" y="{}" text-anchor="middle">{}%</text>"#,
                x + CELL / 2,
                y + CELL + 12,
                quarter * 25
            )?;
            x += 34;
        }
        writeln!(
            out,
            r#"<text x="{}" y="{}">in use: blocks handed out / blocks the pool holds</text>"#,
            x + 2,
            y + 11
        )?;
        x += 320;
        writeln!(
            out,
            r#"<rect class="free" x="{x}" y="{y}" width="{CELL}" height="{CELL}"/><text x="{}" y="{}">free: given back to its arena</text>"#,
            x + CELL + 6,
            y + 11
        )?;
        x += 220;
        writeln!(
            out,
            r#"<rect class="untouched" x="{x}.5" y="{y}.5" width="{}" height="{}"/><text x="{}" y="{}">never used: its pages untouched</text>"#,
            CELL - 1,
            CELL - 1,
            x + CELL + 6,
            y + 11
        )?;
        writeln!(
            out,
            r#"<text class="note" x="{}" y="{}">Handed out includes the {} blocks threads keep in their caches for reuse, and blocks freed by other threads not yet collected; the statistics count neither as in use.</text>"#,
            MARGIN + 90,
            y + 40,
            with_commas(self.cached.iter().sum()),
        )
    }

    fn write_arenas(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            r#"<text class="heading" x="{MARGIN}" y="{GRID_TOP}">Arenas <tspan class="note" font-weight="normal">(rows by owning heap, one heap per thread, then by address)</tspan></text>"#
        )?;
        writeln!(
            out,
            r#"<text class="axis" x="{SUMMARY_X}" y="{GRID_TOP}">pools in use · bytes handed out</text>"#
        )?;
        for index in (0..POOLS_PER_ARENA).step_by(8) {
            writeln!(
                out,
                r#"<text class="axis" x="{}" y="{}">{index}</text>"#,
                GRID_X + index as u32 * PITCH,
                GRID_TOP + 18
            )?;
        }
        let mut y = GRID_TOP + 30;
        if self.arenas.is_empty() {
            writeln!(
                out,
                r#"<text class="note" x="{MARGIN}" y="{}">No arenas: nothing is allocated from the pools.</text>"#,
                y + 12
            )?;
        }
        for group in self.heap_groups() {
            let heap = group[0].heap;
            let mine = heap == self.current;
            writeln!(
                out,
                r#"<text x="{MARGIN}" y="{}"><tspan font-weight="bold">heap {}</tspan>{} · {} arena{} · {} pools in use</text>"#,
                y + 14,
                self.heap_number(heap),
                if mine { " (this thread)" } else { "" },
                group.len(),
                plural(group.len()),
                group.iter().map(ArenaRow::pools_in_use).sum::<usize>(),
            )?;
            y += HEAP_LINE;
            for row in group {
                self.write_row(out, row, y, mine)?;
                y += ROW;
            }
        }
        Ok(())
    }

    fn write_row(
        &self,
        out: &mut impl Write,
        row: &ArenaRow,
        y: u32,
        mine: bool,
    ) -> io::Result<()> {
        let in_use = row.pools_in_use();
        writeln!(
            out,
            r#"<g data-arena="{:#x}" data-heap="{}" data-this-thread="{mine}" data-pools-in-use="{in_use}">"#,
            row.base,
            self.heap_number(row.heap),
        )?;
        writeln!(
            out,
            r#"<text class="mono" x="{}" y="{}" text-anchor="end">{:#x}</text>"#,
            GRID_X - 10,
            y + 11,
            row.base
        )?;
        // The fill of the last pool's first slot, for the slots it spans.
        let mut filled = 0;
        for (index, pool) in row.pools.iter().enumerate() {
            let x = GRID_X + index as u32 * PITCH;
            match *pool {
                PoolState::Untouched => writeln!(
                    out,
                    r#"<rect class="untouched" x="{x}.5" y="{y}.5" width="{}" height="{}" data-index="{index}" data-state="untouched"/>"#,
                    CELL - 1,
                    CELL - 1
                )?,
                PoolState::Free => writeln!(
                    out,
                    r#"<rect class="free" x="{x}" y="{y}" width="{CELL}" height="{CELL}" data-index="{index}" data-state="free"/>"#
                )?,
                PoolState::InUse { class, used } => {
                    let class = class as usize;
                    let capacity = blocks_in_pool(index, class);
                    let used = used as usize;
                    writeln!(
                        out,
                        r#"<rect class="k{class}" x="{x}.5" y="{y}.5" width="{}" height="{}" data-index="{index}" data-state="used" data-class="{class}" data-size="{}" data-used="{used}" data-capacity="{capacity}"><title>pool {index}: {}-byte blocks, {used} of {capacity} handed out</title></rect>"#,
                        CELL - 1,
                        CELL - 1,
                        class_size(class),
                        class_size(class),
                    )?;
                    filled = fill_height(used, capacity, CELL);
                    write_fill(out, class, x, y + CELL, CELL, filled)?;
                }
                PoolState::Spanned { class } => {
                    writeln!(
                        out,
                        r#"<rect class="k{class}" x="{x}.5" y="{y}.5" width="{}" height="{}" data-index="{index}" data-state="spanned" data-class="{class}"><title>pool slot {index}: part of the {}-byte pool before it</title></rect>"#,
                        CELL - 1,
                        CELL - 1,
                        class_size(class as usize),
                    )?;
                    write_fill(out, class as usize, x, y + CELL, CELL, filled)?;
                }
            }
        }
        // The summary: a bar of the arena's bytes in handed-out blocks.
        let bytes = row.bytes_handed_out();
        let usable = ARENA_SIZE - (0..POOLS_PER_ARENA).map(pool_overhead).sum::<usize>();
        let bar = 60;
        let filled = (bytes as f64 / usable as f64 * f64::from(bar)).round() as u32;
        writeln!(
            out,
            r##"<rect class="track" x="{SUMMARY_X}" y="{}" width="{bar}" height="10"/><rect x="{SUMMARY_X}" y="{}" width="{}" height="10" fill="#37474f"/>"##,
            y + 2,
            y + 2,
            filled.min(bar)
        )?;
        writeln!(
            out,
            r#"<text x="{}" y="{}">{in_use}/{POOLS_PER_ARENA} · {}</text>"#,
            SUMMARY_X + bar + 8,
            y + 11,
            percent(bytes, ARENA_SIZE)
        )?;
        writeln!(out, "</g>")
    }
}

/// A block size as a chart's tick: `640`, `1K`, `1.3K`, `64K`.
fn compact_size(size: usize) -> String {
    if size < 1024 {
        size.to_string()
    } else if size.is_multiple_of(1024) {
        format!("{}K", size / 1024)
    } else {
        format!("{:.1}K", size as f64 / 1024.0)
    }
}

/// The filled part of a class's rectangle: `filled` pixels up from `bottom`.
fn write_fill(
    out: &mut impl Write,
    class: usize,
    x: u32,
    bottom: u32,
    width: u32,
    filled: u32,
) -> io::Result<()> {
    if filled > 0 {
        writeln!(
            out,
            r#"<rect class="f{class}" x="{x}" y="{}" width="{width}" height="{filled}"/>"#,
            bottom - filled
        )?;
    }
    Ok(())
}

/// The height of the filled part of a cell or column of `height` pixels
/// for `used` of `capacity` blocks: at least a pixel if any block is used,
/// the whole height only if all are.
fn fill_height(used: usize, capacity: usize, height: u32) -> u32 {
    if used == 0 || capacity == 0 {
        return 0;
    }
    if used >= capacity {
        return height;
    }
    let h = (used as f64 / capacity as f64 * f64::from(height)).round() as u32;
    h.clamp(1, height - 1)
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A count in at most four characters: `999`, `1.2k`, `12k`, `1.2M`.
fn compact(n: usize) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => format!("{:.1}k", n as f64 / 1e3),
        10_000..=999_999 => format!("{}k", n / 1_000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_heights_show_empty_partial_and_full_apart() {
        assert_eq!(fill_height(0, 100, 14), 0);
        assert_eq!(fill_height(1, 1000, 14), 1);
        assert_eq!(fill_height(999, 1000, 14), 13);
        assert_eq!(fill_height(1000, 1000, 14), 14);
        assert_eq!(fill_height(50, 100, 14), 7);
    }

    #[test]
    fn class_colours_are_distinct_and_cycle_hues_by_class() {
        assert_eq!(class_colour(0, 1.0), "#2f6fd6");
        assert_eq!(class_colour(8, 1.0), "#1d4585");
        assert_eq!(class_colour(5, 0.0), "#ffffff");
        let all: std::collections::HashSet<String> =
            (0..NUM_CLASSES).map(|c| class_colour(c, 1.0)).collect();
        assert_eq!(
            all.len(),
            NUM_CLASSES,
            "every class has a colour of its own"
        );
    }
}
