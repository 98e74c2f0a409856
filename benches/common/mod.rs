//! What the benchmarks share: how a run is configured, interleaved rounds,
//! and the table of medians and ratios they end with.
//!
//! Criterion measures each contender on its own, one after the other, which
//! on a small shared machine lets a burst of load from elsewhere land on one
//! contender and not the others. The table is the robust figure: every
//! contender runs once per round, in an order that rotates from round to
//! round, so all of them see the same machine; the ratio of objimpl to a peer
//! is the median over rounds of their ratio *within* a round.

use std::time::{Duration, Instant};

use criterion::Criterion;

/// A measured workload: runs `ops` operations of one contender, returns the time they took.
pub type Run = fn(ops: u64) -> Duration;

/// What this run of a benchmark binary does.
pub struct Mode {
    /// Run the criterion benchmarks (unless `OBJIMPL_BENCH=table`).
    pub criterion: bool,
    /// Print the interleaved table (unless `OBJIMPL_BENCH=criterion`).
    pub table: bool,
    /// Not under `cargo bench` (e.g. `cargo test --benches`): one short
    /// round, to show that everything runs, and figures that mean nothing.
    pub quick: bool,
    /// `OBJIMPL_BENCH_ROWS`: only the table's rows whose name contains it
    /// (e.g. `W2`), for a closer look at one workload.
    pub rows: Option<String>,
}

impl Mode {
    /// Reads the mode from the command line and `OBJIMPL_BENCH`.
    pub fn from_env() -> Mode {
        let only = std::env::var("OBJIMPL_BENCH").unwrap_or_default();
        let only = only.as_str();
        assert!(
            matches!(only, "" | "table" | "criterion"),
            "OBJIMPL_BENCH is `table`, `criterion` or unset, not {only:?}"
        );
        Mode {
            criterion: only != "table",
            table: only != "criterion",
            // `cargo bench` passes `--bench`; `cargo test --benches` does not.
            quick: !std::env::args().any(|arg| arg == "--bench"),
            rows: std::env::var("OBJIMPL_BENCH_ROWS").ok(),
        }
    }

    /// Whether the table has the row named `name` (all rows unless
    /// `OBJIMPL_BENCH_ROWS` names some).
    pub fn wants(&self, name: &str) -> bool {
        self.rows.as_deref().is_none_or(|rows| name.contains(rows))
    }

    /// How many interleaved rounds the table takes its medians over.
    pub fn rounds(&self) -> usize {
        if self.quick { 1 } else { 41 }
    }

    /// `ops` for a real run, a hundredth of it (at least 1) for a quick one.
    pub fn ops(&self, ops: u64) -> u64 {
        if self.quick { (ops / 100).max(1) } else { ops }
    }
}

/// Criterion set up to keep a whole benchmark binary within a few minutes on
/// two cores: short warm-ups and measurements, 20 samples. Command-line
/// options (`--measurement-time`, a filter, ...) still override it.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args()
}

/// Times `f`.
pub fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Runs every contender `rounds` times, each round in turn, the round's first
/// contender rotating so that none always runs first (or always right after
/// another). Returns, per contender, nanoseconds per op in each round.
///
/// Each contender first runs once unmeasured, to warm its allocator up.
pub fn interleave(runs: &[Run], ops: u64, rounds: usize) -> Vec<Vec<f64>> {
    for run in runs {
        run(ops);
    }
    let mut ns_per_op = vec![Vec::with_capacity(rounds); runs.len()];
    for round in 0..rounds {
        for k in 0..runs.len() {
            let i = (round + k) % runs.len();
            let elapsed = runs[i](ops);
            ns_per_op[i].push(elapsed.as_nanos() as f64 / ops as f64);
        }
    }
    ns_per_op
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "the median of nothing");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// One line of a table: a workload's median per contender and the ratio of
/// the first contender (objimpl) to each of the others.
pub struct Row {
    label: String,
    unit: &'static str,
    medians: Vec<f64>,
    /// `ratios[i]`: objimpl over contender `i`; 1 for objimpl itself.
    ratios: Vec<f64>,
    /// Per contender, (max - min) / median over the rounds: how stable it is.
    spreads: Option<Vec<f64>>,
    target: Option<Target>,
}

/// (max - min) / median of `values`.
pub fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    (max - min) / median(values)
}

impl Row {
    /// A row from per-round samples (as [`interleave`] returns them): medians
    /// of each contender, and the median of the per-round ratios.
    pub fn from_rounds(label: impl Into<String>, unit: &'static str, samples: &[Vec<f64>]) -> Row {
        let ratios = samples
            .iter()
            .map(|peer| {
                let per_round: Vec<f64> = samples[0].iter().zip(peer).map(|(o, p)| o / p).collect();
                median(&per_round)
            })
            .collect();
        Row {
            label: label.into(),
            unit,
            medians: samples.iter().map(|s| median(s)).collect(),
            ratios,
            spreads: Some(samples.iter().map(|s| spread(s)).collect()),
            target: None,
        }
    }

    /// A row from one figure per contender (no rounds to pair).
    pub fn from_values(label: impl Into<String>, unit: &'static str, values: Vec<f64>) -> Row {
        let ratios = values.iter().map(|v| values[0] / v).collect();
        Row {
            label: label.into(),
            unit,
            medians: values,
            ratios,
            spreads: None,
            target: None,
        }
    }

    /// Sets the target this row is judged by.
    pub fn target(mut self, target: Target) -> Row {
        self.target = Some(target);
        self
    }
}

/// What the issue asks of objimpl on a workload.
#[derive(Clone, Copy)]
pub enum Target {
    /// objimpl takes at most `at_most` times what `peer` takes.
    RatioTo {
        /// The contender's column name.
        peer: &'static str,
        /// The largest passing ratio.
        at_most: f64,
    },
    /// objimpl takes at most `at_most` times what the fastest of `peers`
    /// (the lowest median among those measured in this build) takes.
    RatioToBest {
        /// The contenders' column names.
        peers: &'static [&'static str],
        /// The largest passing ratio.
        at_most: f64,
    },
    /// objimpl's own figure is at most this.
    AtMost(f64),
    /// objimpl's own figure is at least this.
    AtLeast(f64),
}

/// A table of rows over the same contenders, objimpl first.
pub struct Table {
    title: String,
    columns: Vec<&'static str>,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// An empty table with these contenders as columns.
    pub fn new(title: impl Into<String>, columns: Vec<&'static str>) -> Table {
        Table {
            title: title.into(),
            columns,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row; it has one figure per column.
    pub fn push(&mut self, row: Row) {
        assert_eq!(row.medians.len(), self.columns.len(), "{}", row.label);
        self.rows.push(row);
    }

    /// Adds a line printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        let label_width = self.rows.iter().map(|r| r.label.len()).max().unwrap_or(0);
        let label_width = label_width.max("workload".len());
        let widths: Vec<usize> = self.columns.iter().map(|c| c.len().max(9) + 2).collect();
        let objimpl = self.columns[0];
        println!("\n== {} ==", self.title);
        print!("{:label_width$} {:>6}", "workload", "unit");
        for (column, w) in self.columns.iter().zip(&widths) {
            print!("{column:>w$}");
        }
        println!();
        for row in &self.rows {
            print!("{:label_width$} {:>6}", row.label, row.unit);
            for (value, w) in row.medians.iter().zip(&widths) {
                print!("{value:>w$.2}");
            }
            println!();
            // The ratios sit under their peers; objimpl's own column stays blank.
            let w = label_width + 7 + widths[0];
            print!("{:>w$}", format!("{objimpl} / peer"));
            for (ratio, w) in row.ratios[1..].iter().zip(&widths[1..]) {
                print!("{:>w$}", format!("{ratio:.2}x"));
            }
            println!();
            if let Some(spreads) = &row.spreads {
                let w = label_width + 7;
                print!("{:>w$}", "spread");
                for (spread, w) in spreads.iter().zip(&widths) {
                    print!("{:>w$}", format!("{:.0}%", spread * 100.0));
                }
                println!();
            }
            if let Some(target) = row.target {
                println!("  target: {}", self.verdict(row, target));
            }
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
    }

    fn verdict(&self, row: &Row, target: Target) -> String {
        let objimpl = self.columns[0];
        let (wanted, got, pass) = match target {
            Target::RatioTo { peer, at_most } => {
                let wanted = format!("{objimpl} <= {at_most:.2}x {peer}");
                match self.columns.iter().position(|c| *c == peer) {
                    Some(i) => {
                        let got = row.ratios[i];
                        (wanted, format!("{got:.3}x"), got <= at_most)
                    }
                    None => {
                        return format!("{wanted}: n/a ({peer} not measured in this build)");
                    }
                }
            }
            Target::RatioToBest { peers, at_most } => {
                let best = self
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| peers.contains(c))
                    .min_by(|(i, _), (j, _)| row.medians[*i].total_cmp(&row.medians[*j]));
                let wanted = format!(
                    "{objimpl} <= {at_most:.2}x the best of {}",
                    peers.join(", ")
                );
                match best {
                    Some((i, peer)) => {
                        let got = row.ratios[i];
                        (wanted, format!("{got:.3}x {peer}"), got <= at_most)
                    }
                    None => return format!("{wanted}: n/a (none measured in this build)"),
                }
            }
            Target::AtLeast(at_least) => {
                let got = row.medians[0];
                (
                    format!("{objimpl} >= {at_least} {}", row.unit),
                    format!("{got:.2} {}", row.unit),
                    got >= at_least,
                )
            }
            Target::AtMost(at_most) => {
                let got = row.medians[0];
                (
                    format!("{objimpl} <= {at_most} {}", row.unit),
                    format!("{got:.2} {}", row.unit),
                    got <= at_most,
                )
            }
        };
        let verdict = if pass { "PASS" } else { "MISS" };
        format!("{wanted}: {verdict} ({got})")
    }
}
