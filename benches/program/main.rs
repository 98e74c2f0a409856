//! W7: a real program with each allocator as its whole `#[global_allocator]`.
//!
//! ```text
//! OBJIMPL_BENCH=table cargo bench -p objimpl-benches --bench program   # the table (~3 min)
//! cargo test -p objimpl-benches --bench program                        # one quick round: it runs, figures mean nothing
//! ```
//!
//! The program, run once per allocator and round as a child process of this
//! benchmark (the allocator named by `OBJIMPL_W7_ALLOCATOR`, see `switch`):
//!
//! 1. parse+walk: reads a ~20 MB JSON document of records into a `String`,
//!    parses it into a `serde_json::Value`, and walks it (sums its numbers,
//!    counts its nodes and string bytes);
//! 2. index: builds a word index (`BTreeMap<String, Vec<u32>>`, word ->
//!    record ids) of the records' text, then a `HashMap<String, usize>` of
//!    counts, and drops both and the document;
//! 3. exchange: two threads send each other 3M heap blocks in all (`Vec`s,
//!    `String`s, boxed slices of 16 B to 8 KiB, mostly small) over
//!    `std::sync::mpsc`, and each frees what it receives.
//!
//! Each child prints its phase times and its peak resident set (`VmHWM`).
//! The parent writes the document once, runs [`ROUNDS`] rounds of one child
//! per allocator (the order rotating), checks that every child computed the
//! same sums, and prints the table: medians per allocator and objimpl's
//! ratio to each, paired within rounds (see `common`). Last, one more child
//! counts the program's requests by size and phase (`OBJIMPL_W7_HISTOGRAM`).
//!
//! To profile one allocator's run of the program, run a child by hand; the
//! phases are never inlined, so callgrind can cut its profile at each:
//!
//! ```text
//! OBJIMPL_W7_ALLOCATOR=objimpl valgrind --tool=callgrind \
//!     --dump-before=program::workload::index --dump-before=program::workload::exchange \
//!     target/release/deps/program-* --w7-child target/tmp/w7-document-20971520.json 1500000
//! ```
//!
//! There is no criterion part: a whole program per sample is too long for it,
//! so `OBJIMPL_BENCH=criterion` prints nothing but a line saying so.

#[path = "../common/mod.rs"]
#[allow(dead_code, reason = "shared with benches/alloc, which uses all of it")]
mod common;
mod switch;
mod workload;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Mode, Row, Table, Target};
use switch::{ALLOCATOR_VAR, BUCKETS, HISTOGRAM_VAR, NAMES, Switch};
use workload::Checks;

#[global_allocator]
static GLOBAL: Switch = Switch;

/// The argument that makes the benchmark binary a W7 child:
/// `--w7-child DOCUMENT MESSAGES`.
const CHILD_FLAG: &str = "--w7-child";

/// Rounds of a real run: the program is long, so fewer than `Mode::rounds()`.
const ROUNDS: usize = 11;

/// The document's size, and the messages each thread of the exchange sends.
const DOCUMENT_BYTES: usize = 20 << 20;
const MESSAGES: u64 = 1_500_000;
/// The same for a quick run.
const QUICK_DOCUMENT_BYTES: usize = 256 << 10;
const QUICK_MESSAGES: u64 = 10_000;

/// The phases, as the table and the child's output name them.
const PHASES: [&str; 3] = ["parse+walk", "index", "exchange"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|arg| arg == CHILD_FLAG) {
        let document = args
            .get(i + 1)
            .expect("the child flag is followed by the document");
        let messages = args
            .get(i + 2)
            .and_then(|m| m.parse().ok())
            .expect("and a message count");
        child(Path::new(document), messages);
        return;
    }

    let mode = Mode::from_env();
    if !mode.table {
        println!("program (W7): no criterion benchmarks, only the table (OBJIMPL_BENCH=table)");
        return;
    }
    let (bytes, messages, rounds) = if mode.quick {
        (QUICK_DOCUMENT_BYTES, QUICK_MESSAGES, 1)
    } else {
        (DOCUMENT_BYTES, MESSAGES, ROUNDS)
    };
    let document = write_document(bytes);
    table(&document, messages, rounds, mode.quick).print();
    print_histogram(&run(&document, messages, "objimpl", true));
}

/// The child: runs the three phases and prints one line, `w7 key=value ...`
/// (and, when counting, the histogram's lines).
fn child(document: &Path, messages: u64) {
    let mut checks = Checks::default();
    switch::set_phase(1);
    let (value, parse_walk) = workload::parse_walk(document, &mut checks);
    switch::set_phase(2);
    let index = workload::index(value, &mut checks);
    switch::set_phase(3);
    let exchange = workload::exchange(messages, &mut checks);
    switch::set_phase(0);

    let status = std::fs::read_to_string("/proc/self/status").expect("W7 needs Linux's /proc");
    let peak_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/self/status has VmHWM in kB");
    let mut line = format!("w7 peak_rss_kib={peak_kib}");
    for (phase, time) in PHASES.iter().zip([parse_walk, index, exchange]) {
        line += &format!(" {phase}_ns={}", time.as_nanos());
    }
    for (key, value) in checks.fields() {
        line += &format!(" {key}={value}");
    }
    println!("{line}");
    if switch::counting() {
        for (phase, buckets) in switch::histogram().iter().enumerate() {
            for (bucket, (count, bytes)) in buckets.iter().enumerate() {
                println!("hist {phase} {bucket} {count} {bytes}");
            }
        }
    }
}

/// Writes the document of about `bytes` bytes where cargo keeps benchmarks'
/// scratch files, and returns its path.
fn write_document(bytes: usize) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("w7-document-{bytes}.json"));
    std::fs::write(&path, workload::document(bytes)).expect("the target directory is writable");
    path
}

/// What one child reported.
struct Report {
    phases: [Duration; 3],
    peak_rss_kib: u64,
    checks: Vec<(String, u64)>,
    /// `[phase][bucket]` = (requests, bytes), when counting.
    histogram: Vec<(usize, usize, u64, u64)>,
}

/// Runs the program as a child with allocator `name`.
fn run(document: &Path, messages: u64, name: &str, counting: bool) -> Report {
    let exe = std::env::current_exe().expect("the benchmark knows where it is");
    let mut command = Command::new(exe);
    command
        .arg(CHILD_FLAG)
        .arg(document)
        .arg(messages.to_string())
        .env(ALLOCATOR_VAR, name);
    if counting {
        command.env(HISTOGRAM_VAR, "1");
    } else {
        command.env_remove(HISTOGRAM_VAR);
    }
    let out = command.output().expect("the benchmark can run itself");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "W7 child for {name} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report = Report {
        phases: [Duration::ZERO; 3],
        peak_rss_kib: 0,
        checks: Vec::new(),
        histogram: Vec::new(),
    };
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("w7") => {
                for pair in words {
                    let (key, value) = pair.split_once('=').expect("key=value");
                    let value: u64 = value.parse().expect("a number");
                    match PHASES
                        .iter()
                        .position(|p| key.strip_suffix("_ns") == Some(p))
                    {
                        Some(i) => report.phases[i] = Duration::from_nanos(value),
                        None if key == "peak_rss_kib" => report.peak_rss_kib = value,
                        None => report.checks.push((key.to_owned(), value)),
                    }
                }
            }
            Some("hist") => {
                let n: Vec<u64> = words.map(|w| w.parse().expect("a number")).collect();
                report
                    .histogram
                    .push((n[0] as usize, n[1] as usize, n[2], n[3]));
            }
            _ => panic!("W7 child for {name} printed {line:?}"),
        }
    }
    assert!(
        !report.checks.is_empty(),
        "W7 child for {name} printed no result: {stdout:?}"
    );
    report
}

/// Rounds of one child per allocator, the first allocator rotating; the table.
fn table(document: &Path, messages: u64, rounds: usize, quick: bool) -> Table {
    let mut reports: Vec<Vec<Report>> = NAMES.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..NAMES.len() {
            let i = (round + k) % NAMES.len();
            reports[i].push(run(document, messages, NAMES[i], false));
        }
    }
    // Every child computed the same sums, or an allocator corrupted memory.
    let expected = &reports[0][0].checks;
    for (name, reports) in NAMES.iter().zip(&reports) {
        for report in reports {
            assert_eq!(
                &report.checks, expected,
                "{name} computed other sums than objimpl"
            );
        }
    }

    let ms = |f: &dyn Fn(&Report) -> Duration| -> Vec<Vec<f64>> {
        reports
            .iter()
            .map(|rs| rs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect())
            .collect()
    };
    let best = Target::RatioToBest {
        peers: &["mimalloc", "jemalloc"],
        at_most: 1.0,
    };
    let mut table = Table::new(
        format!("W7: a program on each allocator, medians of {rounds} interleaved rounds"),
        NAMES.to_vec(),
    );
    table.push(Row::from_rounds("W7 total", "ms", &ms(&|r| r.phases.iter().sum())).target(best));
    for (i, phase) in PHASES.iter().enumerate() {
        table.push(Row::from_rounds(
            format!("W7 {phase}"),
            "ms",
            &ms(&|r| r.phases[i]),
        ));
    }
    let rss: Vec<Vec<f64>> = reports
        .iter()
        .map(|rs| rs.iter().map(|r| r.peak_rss_kib as f64 / 1024.0).collect())
        .collect();
    table.push(Row::from_rounds("W7 peak RSS", "MiB", &rss).target(best));

    let size = std::fs::metadata(document).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64;
    table.note(format!(
        "W7: one process per allocator and round, each its #[global_allocator]: parse+walk a {size:.1} MiB JSON \
         document (serde_json::Value), index its words (BTreeMap + HashMap), drop it all, then two threads trade \
         {} heap blocks of 16 B..8 KiB over mpsc",
        2 * messages
    ));
    table.note("index includes dropping the parsed document; total is the sum of the phases");
    table.note(
        "objimpl is objimpl::alloc::PyMalloc: past 64 KiB (or 16-byte alignment) it calls glibc",
    );
    table.note(
        "jemalloc as tikv-jemallocator calls it (mallocx/rallocx/sdallocx); glibc is Rust's System",
    );
    table.note(
        "peak RSS: the child's VmHWM at its end; the walk's sums match across allocators (checked)",
    );
    if quick {
        table.note(
            "quick run (not `cargo bench`): a small document, one round, the figures mean nothing",
        );
    }
    table
}

/// Prints the counting child's histogram: requests (allocations and
/// reallocations) per phase and size bucket.
fn print_histogram(report: &Report) {
    let names = ["setup+exit", "parse+walk", "index", "exchange"];
    println!("\n== W7 requests by size (alloc + realloc; one counting child) ==");
    print!("{:12}", "phase");
    for bucket in BUCKETS {
        print!("{:>26}", format!("{bucket} B"));
    }
    println!();
    for (phase, name) in names.iter().enumerate() {
        print!("{name:12}");
        for bucket in 0..BUCKETS.len() {
            let (count, bytes) = report
                .histogram
                .iter()
                .find(|h| h.0 == phase && h.1 == bucket)
                .map_or((0, 0), |h| (h.2, h.3));
            print!(
                "{:>26}",
                format!("{count} ({:.1} MiB)", bytes as f64 / (1 << 20) as f64)
            );
        }
        println!();
    }
}
