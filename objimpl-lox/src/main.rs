//! `lox`: runs a Lox file, or a REPL without one.
//!
//! ```text
//! lox [--stats] [--heap-map OUT.svg] [FILE]
//! ```
//!
//! Exit codes are clox's: 64 for a usage error, 65 for a compile error, 70
//! for a runtime error, 74 for a file that cannot be read.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use objimpl_lox::{Outcome, Vm};

/// Every allocation on objimpl's pools: the objects, and the VM's own
/// buffers (tables, stacks, chunks) too.
#[global_allocator]
static ALLOCATOR: objimpl::alloc::PyMalloc = objimpl::alloc::PyMalloc;

struct Options {
    stats: bool,
    heap_map: Option<String>,
    file: Option<String>,
}

fn usage() -> ExitCode {
    eprintln!("Usage: lox [--stats] [--heap-map OUT.svg] [path]");
    ExitCode::from(64)
}

fn parse_args() -> Option<Options> {
    let mut options = Options {
        stats: false,
        heap_map: None,
        file: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stats" => options.stats = true,
            "--heap-map" => options.heap_map = Some(args.next()?),
            _ if options.file.is_none() && !arg.starts_with("--") => options.file = Some(arg),
            _ => return None,
        }
    }
    Some(options)
}

fn main() -> ExitCode {
    let Some(options) = parse_args() else {
        return usage();
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let mut vm = match Vm::new(&mut out, &mut err) {
        Ok(vm) => vm,
        Err(_) => {
            eprintln!("Out of memory.");
            return ExitCode::from(70);
        }
    };
    let outcome = match &options.file {
        Some(path) => match std::fs::read(path) {
            // clox reads bytes; a byte that is not UTF-8 reads here as
            // U+FFFD, an unexpected character as it is to clox (inside a
            // string, it prints as U+FFFD).
            Ok(bytes) => vm.interpret(&String::from_utf8_lossy(&bytes)),
            Err(error) => {
                eprintln!("Could not open file \"{path}\": {error}.");
                return ExitCode::from(74);
            }
        },
        None => repl(&mut vm),
    };
    let strings = vm.live_strings();
    drop(vm);
    let _ = out.flush();
    if options.stats {
        print_stats(strings);
    }
    if let Some(path) = &options.heap_map {
        let written = std::fs::File::create(path)
            .and_then(|mut file| objimpl::alloc::heap_map_svg(&mut file));
        if let Err(error) = written {
            eprintln!("Could not write the heap map to \"{path}\": {error}.");
            return ExitCode::from(74);
        }
    }
    ExitCode::from(outcome.exit_code() as u8)
}

fn repl(vm: &mut Vm<'_>) -> Outcome {
    let stdin = io::stdin();
    let mut outcome = Outcome::Ok;
    loop {
        eprint!("> ");
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                eprintln!();
                return outcome;
            }
            Ok(_) => outcome = vm.interpret(&line),
        }
    }
}

/// objimpl's allocator table and the collector's counts, on stderr.
fn print_stats(live_strings: usize) {
    let mut err = io::stderr().lock();
    let _ = objimpl::alloc::debug_malloc_stats(&mut err);
    let _ = writeln!(err);
    let _ = writeln!(err, "gc: counts {:?}", objimpl::gc::get_count());
    for (generation, stats) in objimpl::gc::get_stats().iter().enumerate() {
        let _ = writeln!(
            err,
            "gc: generation {generation}: {} collections, {} objects collected",
            stats.collections, stats.collected
        );
    }
    let _ = writeln!(err, "lox: {live_strings} strings interned at exit");
}
