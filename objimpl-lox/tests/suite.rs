//! The official Lox test suite, run against the `lox` binary.
//!
//! The suite is the `test/` directory of *Crafting Interpreters*, kept beside
//! the workspace at `../shared/lox/test` (it is data, not part of this
//! repository). If it is absent the test says so on stderr and passes.
//!
//! Every `.lox` file the book runs for clox is run here: all of `test/`
//! except `test/benchmark` (any path containing "benchmark"), with
//! `test/scanning` and `test/expressions` counted as skipped (they are for
//! early chapters). Each file states its expectations in comments, and a run
//! passes or fails by the rules of the book's runner, `tool/bin/test.dart`
//! (its `Test` class: `parse`, `run` and the `_validate*` methods):
//!
//! - `// expect: TEXT`: the next line of stdout is TEXT. Stdout is split into
//!   lines, one trailing empty line is dropped, and it must match the expected
//!   lines one for one.
//! - `// Error...` (on line N), `// [line N] Error...` and
//!   `// [c line N] Error...`: a compile error `[line N] Error...` on stderr;
//!   the exit code must be 65. `// [java line N]` lines are for jlox and
//!   ignored. Every stderr line that looks like an error
//!   (`\[.*line (\d+)\] (Error.+)`) must be expected, every other non-empty
//!   stderr line is unexpected, and every expected error must appear.
//! - `// expect runtime error: MSG`: stderr has at least two lines, the first
//!   is MSG, and the first later line containing `[line N]` names the line of
//!   that comment; the exit code must be 70.
//! - `// nontest`: not a test at all.
//! - Otherwise the exit code must be 0 (and stderr free of errors).
//!
//! The patterns are matched by hand (the leftmost match, as a regular
//! expression would find it) so that the test needs no dependencies. Two
//! things go beyond `test.dart`: each run is killed after 30 seconds, and a
//! file that expects both compile and runtime errors is reported as a failure
//! rather than only printed.
//!
//! Environment:
//! - `LOX_TEST_FILTER=SUBSTRING`: run only the files whose path (as
//!   `test/dir/file.lox`) contains SUBSTRING.
//! - `LOX_BIN=PATH`: run this interpreter instead of the package's `lox`
//!   binary (e.g. the book's clox, to check the runner itself).
//!
//! Files run in parallel, one per available core.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long one file may run before it is killed and failed.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Directories (relative to the suite's parent, `/`-separated) with the state
/// clox's suite gives them; the most specific entry that is a prefix of a
/// file's path (by whole components) wins, as in `test.dart`.
const STATES: &[(&str, State)] = &[
    ("test", State::Pass),
    ("test/scanning", State::Skip),
    ("test/expressions", State::Skip),
];

/// Whether a file of the suite is run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pass,
    Skip,
}

/// One expected line of stdout.
struct ExpectedOutput {
    /// The line of the test file that declares it.
    line: usize,
    /// The text.
    text: String,
}

/// What a test file expects of a run.
#[derive(Default)]
struct Expectations {
    /// The lines of stdout, in order.
    output: Vec<ExpectedOutput>,
    /// The compile errors, each as `[N] Error...`.
    compile_errors: BTreeSet<String>,
    /// The runtime error message and the line of the comment declaring it.
    runtime_error: Option<(String, u64)>,
    /// The exit code: 0, 65 (compile error) or 70 (runtime error).
    exit_code: i32,
    /// How many expectations the file declares (for the summary).
    count: usize,
}

/// The outcome of reading a test file.
enum Parsed {
    /// `// nontest`: not a test.
    NotATest,
    /// The file's expectations contradict each other.
    Invalid(&'static str),
    /// A test.
    Test(Expectations),
}

/// The outcome of one file.
enum Outcome {
    /// Not a test (`// nontest`): not counted.
    NotATest,
    /// Skipped by the suite's state table.
    Skipped,
    /// Ran; `failures` is empty if it passed.
    Ran {
        failures: Vec<String>,
        expectations: usize,
    },
}

/// The result of running the interpreter on one file.
struct RunResult {
    stdout: String,
    stderr: String,
    /// The exit code, or minus the signal number if a signal ended it.
    exit_code: i32,
}

#[test]
fn lox_test_suite() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite_dir = manifest_dir.join("../../shared/lox/test");
    if !suite_dir.is_dir() {
        // Straight to stderr so that the message shows even when the test
        // harness captures output.
        let _ = writeln!(
            io::stderr(),
            "lox_test_suite: SKIPPED: the Lox test suite is not at {} \
             (expected the Crafting Interpreters test/ directory there)",
            suite_dir.display()
        );
        return;
    }
    let suite_dir = suite_dir
        .canonicalize()
        .expect("canonicalize the suite directory");
    // Files are named relative to the suite's parent, as `test/dir/file.lox`,
    // and run from there, as the book's runner does.
    let base = suite_dir
        .parent()
        .expect("the suite directory has a parent")
        .to_path_buf();

    let interpreter = match std::env::var_os("LOX_BIN") {
        Some(path) => fs::canonicalize(&path)
            .unwrap_or_else(|e| panic!("LOX_BIN={}: {e}", Path::new(&path).display())),
        None => PathBuf::from(env!("CARGO_BIN_EXE_lox")),
    };
    let filter = std::env::var("LOX_TEST_FILTER")
        .ok()
        .filter(|f| !f.is_empty());

    let mut files = Vec::new();
    collect_lox_files(&suite_dir, &mut files);
    let mut tests: Vec<String> = files
        .iter()
        .map(|file| relative_name(&base, file))
        .filter(|name| !name.contains("benchmark"))
        .filter(|name| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    tests.sort();

    let outcomes = run_all(&tests, &base, &interpreter);

    let (mut passed, mut skipped, mut expectations) = (0, 0, 0);
    let mut failed = Vec::new();
    for (name, outcome) in tests.iter().zip(outcomes) {
        match outcome {
            Outcome::NotATest => {}
            Outcome::Skipped => skipped += 1,
            Outcome::Ran {
                failures,
                expectations: n,
            } => {
                expectations += n;
                if failures.is_empty() {
                    passed += 1;
                } else {
                    failed.push((name, failures));
                }
            }
        }
    }

    let summary = format!(
        "lox_test_suite: {} passed, {} failed, {} skipped ({} expectations) \
         running {}{}",
        passed,
        failed.len(),
        skipped,
        expectations,
        interpreter.display(),
        filter
            .map(|f| format!(" on files matching {f:?}"))
            .unwrap_or_default(),
    );
    let _ = writeln!(io::stderr(), "{summary}");

    if !failed.is_empty() {
        let mut report = String::new();
        for (name, failures) in &failed {
            let _ = writeln!(report, "FAIL {name}");
            for failure in failures {
                let _ = writeln!(report, "     {failure}");
            }
        }
        panic!("{report}\n{summary}");
    }
}

/// Appends every `.lox` file under `dir` (recursively) to `files`.
fn collect_lox_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read a directory entry").path();
        if path.is_dir() {
            collect_lox_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "lox") {
            files.push(path);
        }
    }
}

/// `file`'s path relative to `base`, with `/` separators.
fn relative_name(base: &Path, file: &Path) -> String {
    let relative = file
        .strip_prefix(base)
        .expect("a suite file is under the suite's parent");
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

/// Runs every test, spread over the available cores, and returns the
/// outcomes in the order of `tests`.
fn run_all(tests: &[String], base: &Path, interpreter: &Path) -> Vec<Outcome> {
    let workers = thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(tests.len().max(1));
    let next = AtomicUsize::new(0);
    let outcomes: Vec<Mutex<Option<Outcome>>> = tests.iter().map(|_| Mutex::new(None)).collect();
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = tests.get(index) else { break };
                    let outcome = run_test(name, base, interpreter);
                    *outcomes[index].lock().unwrap() = Some(outcome);
                }
            });
        }
    });
    outcomes
        .into_iter()
        .map(|slot| slot.into_inner().unwrap().expect("every test ran"))
        .collect()
}

/// The suite's state for the file `name` (`test/dir/file.lox`).
fn state_of(name: &str) -> State {
    let mut state = None;
    let mut subpath = String::new();
    for part in name.split('/') {
        if !subpath.is_empty() {
            subpath.push('/');
        }
        subpath.push_str(part);
        if let Some(&(_, s)) = STATES.iter().find(|(path, _)| *path == subpath) {
            state = Some(s);
        }
    }
    state.unwrap_or_else(|| panic!("no test state for {name}"))
}

/// Parses and runs one file.
fn run_test(name: &str, base: &Path, interpreter: &Path) -> Outcome {
    if state_of(name) == State::Skip {
        return Outcome::Skipped;
    }
    let bytes = fs::read(base.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
    let expected = match parse(&String::from_utf8_lossy(&bytes)) {
        Parsed::NotATest => return Outcome::NotATest,
        Parsed::Invalid(why) => {
            return Outcome::Ran {
                failures: vec![format!("TEST ERROR: {why}")],
                expectations: 0,
            };
        }
        Parsed::Test(expected) => expected,
    };
    let failures = match run_interpreter(interpreter, base, name) {
        Ok(result) => validate(&expected, &result),
        Err(failure) => vec![failure],
    };
    Outcome::Ran {
        failures,
        expectations: expected.count,
    }
}

/// Reads the expectations of a test file, as `Test.parse` does.
fn parse(source: &str) -> Parsed {
    let mut expected = Expectations::default();
    for (index, line) in split_lines(source).iter().enumerate() {
        let line_number = index + 1;
        if find_in_segments(line, |s| s.contains("// nontest").then_some(())).is_some() {
            return Parsed::NotATest;
        }
        if let Some(text) = find_in_segments(line, match_expect_output) {
            expected.output.push(ExpectedOutput {
                line: line_number,
                text: text.to_string(),
            });
            expected.count += 1;
        } else if let Some(error) = find_in_segments(line, match_expected_error) {
            expected
                .compile_errors
                .insert(format!("[{line_number}] {error}"));
            expected.exit_code = 65;
            expected.count += 1;
        } else if let Some((language, number, error)) = find_in_segments(line, match_error_line) {
            // Cascaded errors after the first may differ between the two
            // interpreters; lines marked `java` are for jlox only.
            if language.is_none_or(|l| l == "c") {
                expected
                    .compile_errors
                    .insert(format!("[{number}] {error}"));
                expected.exit_code = 65;
                expected.count += 1;
            }
        } else if let Some(message) = find_in_segments(line, match_runtime_error) {
            expected.runtime_error = Some((message.to_string(), line_number as u64));
            expected.exit_code = 70;
            expected.count += 1;
        }
    }
    if !expected.compile_errors.is_empty() && expected.runtime_error.is_some() {
        return Parsed::Invalid("cannot expect both compile and runtime errors");
    }
    Parsed::Test(expected)
}

/// Runs `interpreter name` in `dir`, killing it after [`TIMEOUT`].
fn run_interpreter(interpreter: &Path, dir: &Path, name: &str) -> Result<RunResult, String> {
    let mut child = Command::new(interpreter)
        .arg(name)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("Could not run {}: {e}", interpreter.display()))?;

    // Drain both pipes while waiting, so that a chatty child cannot block.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = (stdout.join(), stderr.join());
                return Err(format!("Timed out after {} s (killed).", TIMEOUT.as_secs()));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("Could not wait for the interpreter: {e}")),
        }
    };
    Ok(RunResult {
        stdout: stdout.join().expect("the stdout reader does not panic"),
        stderr: stderr.join().expect("the stderr reader does not panic"),
        exit_code: exit_code(status),
    })
}

/// The exit code, or minus the signal number if a signal ended the process
/// (what Dart's `Process.runSync` reports).
fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return -signal;
        }
    }
    status.code().unwrap_or(-1)
}

/// Checks a run against the expectations, as `Test.run` does, and returns
/// the failure messages (none if it passed).
fn validate(expected: &Expectations, result: &RunResult) -> Vec<String> {
    let mut failures = Vec::new();
    let output_lines = split_lines(&result.stdout);
    let error_lines = split_lines(&result.stderr);
    match &expected.runtime_error {
        Some((message, line)) => {
            validate_runtime_error(message, *line, &error_lines, &mut failures);
        }
        None => validate_compile_errors(&expected.compile_errors, &error_lines, &mut failures),
    }
    validate_exit_code(
        expected.exit_code,
        result.exit_code,
        &error_lines,
        &mut failures,
    );
    validate_output(&expected.output, output_lines, &mut failures);
    failures
}

/// A runtime error: its message first on stderr, then a stack trace whose
/// first `[line N]` names the expected line.
fn validate_runtime_error(
    message: &str,
    line: u64,
    error_lines: &[String],
    failures: &mut Vec<String>,
) {
    if error_lines.len() < 2 {
        failures.push(format!("Expected runtime error '{message}' and got none."));
        return;
    }
    if error_lines[0] != message {
        failures.push(format!("Expected runtime error '{message}' and got:"));
        failures.push(error_lines[0].clone());
    }
    let stack = &error_lines[1..];
    match stack
        .iter()
        .find_map(|l| find_in_segments(l, match_stack_trace_line))
    {
        None => {
            failures.push("Expected stack trace and got:".to_string());
            failures.extend(stack.iter().cloned());
        }
        Some(number) => {
            // An absurdly long number cannot be the expected line.
            if number.parse::<u64>().ok() != Some(line) {
                failures.push(format!(
                    "Expected runtime error on line {line} but was on line {number}."
                ));
            }
        }
    }
}

/// Compile errors: every error line on stderr must be expected, any other
/// non-empty line is unexpected, and every expected error must appear.
fn validate_compile_errors(
    expected: &BTreeSet<String>,
    error_lines: &[String],
    failures: &mut Vec<String>,
) {
    const SHOWN: usize = 10;
    let mut found = BTreeSet::new();
    let mut unexpected = 0;
    for line in error_lines {
        let what = match find_in_segments(line, match_reported_error) {
            Some((number, error)) => {
                let error = format!("[{number}] {error}");
                if expected.contains(&error) {
                    found.insert(error);
                    continue;
                }
                "Unexpected error:"
            }
            None if line.is_empty() => continue,
            None => "Unexpected output on stderr:",
        };
        if unexpected < SHOWN {
            failures.push(what.to_string());
            failures.push(line.clone());
        }
        unexpected += 1;
    }
    if unexpected > SHOWN {
        failures.push(format!("(truncated {} more...)", unexpected - SHOWN));
    }
    for missing in expected.difference(&found) {
        failures.push(format!("Missing expected error: {missing}"));
    }
}

/// The exit code; on a mismatch, the first ten lines of stderr are shown.
fn validate_exit_code(
    expected: i32,
    actual: i32,
    error_lines: &[String],
    failures: &mut Vec<String>,
) {
    if actual == expected {
        return;
    }
    failures.push(format!(
        "Expected return code {expected} and got {actual}. Stderr:"
    ));
    failures.extend(error_lines.iter().take(10).cloned());
    if error_lines.len() > 10 {
        failures.push("(truncated...)".to_string());
    }
}

/// Stdout, line by line, after dropping one trailing empty line.
fn validate_output(
    expected: &[ExpectedOutput],
    mut output_lines: Vec<String>,
    failures: &mut Vec<String>,
) {
    if output_lines.last().is_some_and(String::is_empty) {
        output_lines.pop();
    }
    for (index, line) in output_lines.iter().enumerate() {
        match expected.get(index) {
            None => failures.push(format!("Got output '{line}' when none was expected.")),
            Some(e) if e.text != *line => failures.push(format!(
                "Expected output '{}' on line {}  and got '{line}'.",
                e.text, e.line
            )),
            Some(_) => {}
        }
    }
    for e in expected.iter().skip(output_lines.len()) {
        failures.push(format!(
            "Missing expected output '{}' on line {}.",
            e.text, e.line
        ));
    }
}

// ---------------------------------------------------------------------------
// Text handling, matching Dart's `LineSplitter` and `RegExp`.

/// Splits text into lines at `\n`, `\r\n` or `\r`, like Dart's
/// `LineSplitter`: a final terminator does not start another line.
fn split_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(['\n', '\r']) {
        lines.push(rest[..end].to_string());
        let terminator = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + terminator..];
    }
    if !rest.is_empty() {
        lines.push(rest.to_string());
    }
    lines
}

/// Applies `matcher` to each stretch of `line` between the characters that
/// a regular expression's `.` does not match (besides `\n` and `\r`, which
/// lines never contain) and returns the first match. None of the runner's
/// patterns can match across those characters, so this finds the same
/// leftmost match as the regular expression on the whole line.
fn find_in_segments<'a, T>(line: &'a str, matcher: impl Fn(&'a str) -> Option<T>) -> Option<T> {
    line.split(['\u{2028}', '\u{2029}']).find_map(matcher)
}

/// `// expect: ?(.*)`: the expected text.
fn match_expect_output(s: &str) -> Option<&str> {
    let rest = after(s, "// expect:")?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `// (Error.*)`: the expected error, on the comment's own line.
fn match_expected_error(s: &str) -> Option<&str> {
    s.find("// Error").map(|start| &s[start + 3..])
}

/// `// \[((java|c) )?line (\d+)\] (Error.*)`: the language (if any), the
/// line number and the error.
fn match_error_line(s: &str) -> Option<(Option<&str>, &str, &str)> {
    s.match_indices("// [").find_map(|(start, _)| {
        let rest = &s[start + 4..];
        let (language, rest) = ["java", "c"]
            .iter()
            .find_map(|l| {
                rest.strip_prefix(l)?
                    .strip_prefix(' ')
                    .map(|r| (Some(*l), r))
            })
            .unwrap_or((None, rest));
        let (number, error) = line_number_then_error(rest)?;
        Some((language, number, error))
    })
}

/// `// expect runtime error: (.+)`: the expected message.
fn match_runtime_error(s: &str) -> Option<&str> {
    after(s, "// expect runtime error: ").filter(|m| !m.is_empty())
}

/// `\[.*line (\d+)\] (Error.+)` on stderr: the line number and the error.
/// The leftmost match starts at the first `[`, and the greedy `.*` makes it
/// the last `line N] Error...` after that.
fn match_reported_error(s: &str) -> Option<(&str, &str)> {
    let open = s.find('[')?;
    s[open + 1..].rmatch_indices("line ").find_map(|(at, _)| {
        line_number_then_error(&s[open + 1 + at..]).filter(|(_, error)| error.len() > "Error".len())
    })
}

/// `\[line (\d+)\]` in a stack trace: the line number.
fn match_stack_trace_line(s: &str) -> Option<&str> {
    s.match_indices("[line ").find_map(|(start, _)| {
        let rest = &s[start + 6..];
        let digits = leading_digits(rest)?;
        rest[digits.len()..].starts_with(']').then_some(digits)
    })
}

/// Matches `line (\d+)\] (Error.*)` at the start of `s`: the number and the
/// error (from `Error` to the end).
fn line_number_then_error(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("line ")?;
    let number = leading_digits(rest)?;
    let error = rest[number.len()..].strip_prefix("] ")?;
    error.starts_with("Error").then_some((number, error))
}

/// The non-empty run of ASCII digits that starts `s`.
fn leading_digits(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The text after the first occurrence of `needle` in `s`.
fn after<'a>(s: &'a str, needle: &str) -> Option<&'a str> {
    s.find(needle).map(|start| &s[start + needle.len()..])
}
