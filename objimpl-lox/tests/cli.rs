//! The `lox` binary beyond the suite: garbage cycles freed while a program
//! runs, `--stats`, `--heap-map`, usage and file errors, and the REPL.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn lox(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lox"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lox starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin takes the input");
    child.wait_with_output().expect("lox ends")
}

fn script(name: &str, source: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("objimpl-lox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join(name);
    std::fs::write(&path, source).expect("the script is written");
    path
}

/// Cycles made in a loop (a closure that captures itself, an instance
/// that holds itself, class to method to closure): the collector frees
/// them as the program runs, so the memory the pools hold stays flat.
const CYCLES: &str = r#"
class Node {
  init() { this.self = this; }
  method() { return this; }
}
fun cycles() {
  var i = 0;
  while (i < ROUNDS) {
    var n = Node();
    fun loop() { return loop; }
    var bound = n.method;
    n.bound = bound;
    i = i + 1;
  }
}
cycles();
print "done";
"#;

fn arena_line(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|line| {
            line.strip_prefix("# arenas highwater mark")
                .and_then(|rest| rest.trim().trim_start_matches('=').trim().parse().ok())
        })
        .expect("--stats prints the arenas' high-water mark")
}

#[test]
fn garbage_cycles_are_freed_while_the_program_runs() {
    let run = |rounds: usize| {
        let path = script(
            &format!("cycles{rounds}.lox"),
            &CYCLES.replace("ROUNDS", &rounds.to_string()),
        );
        let output = lox(&["--stats", path.to_str().expect("UTF-8")], "");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "done\n");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(stderr.contains("objects collected"), "{stderr}");
        arena_line(&stderr)
    };
    let few = run(2_000);
    let many = run(40_000);
    // Twenty times the garbage, the same memory: it is collected as it goes.
    assert!(
        many <= few + 1,
        "{few} arenas for 2,000 rounds, {many} for 40,000"
    );
}

#[test]
fn stats_and_heap_map_describe_the_heap_at_exit() {
    let path = script("hello.lox", "var greeting = \"hello\"; print greeting;");
    let svg = path.with_extension("svg");
    let output = lox(
        &[
            "--stats",
            "--heap-map",
            svg.to_str().expect("UTF-8"),
            path.to_str().expect("UTF-8"),
        ],
        "",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("Small block threshold = 512"),
        "{stderr}"
    );
    assert!(stderr.contains("gc: generation 0:"), "{stderr}");
    let map = std::fs::read_to_string(&svg).expect("the heap map is written");
    assert!(
        map.starts_with("<svg") || map.starts_with("<?xml"),
        "{}",
        &map[..80.min(map.len())]
    );
}

#[test]
fn usage_and_unreadable_files_exit_as_clox_does() {
    let output = lox(&["a.lox", "b.lox"], "");
    assert_eq!(output.status.code(), Some(64));
    let output = lox(&["/nonexistent/file.lox"], "");
    assert_eq!(output.status.code(), Some(74));
}

#[test]
fn the_repl_keeps_globals_between_lines_and_survives_errors() {
    let output = lox(&[], "var a = 1;\nprint a + 1;\nprint b;\nprint a;\n");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2\n1\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Undefined variable 'b'."), "{stderr}");
}

#[test]
fn deep_recursion_is_a_stack_overflow_error() {
    let path = script("deep.lox", "fun f(n) { return f(n + 1); }\nf(0);\n");
    let output = lox(&[path.to_str().expect("UTF-8")], "");
    assert_eq!(output.status.code(), Some(70));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("Stack overflow.\n[line 1] in f()"),
        "{stderr}"
    );
}

#[test]
fn fused_instructions_report_the_lines_clox_reports() {
    // `n` and `.x` are one instruction (`GetLocalProperty`), and so are `+`
    // or `<` and their constant (`AddConstant`, `LessConstant`); clox
    // reports the line of the `.x`, and of the constant, and so does lox.
    let cases = [
        (
            "{\n  var n = 1;\n  print n\n  .x;\n}\n",
            "Only instances have properties.\n[line 4] in script\n",
        ),
        (
            "print \"a\"\n+\n1;\n",
            "Operands must be two numbers or two strings.\n[line 3] in script\n",
        ),
        (
            "var s = \"a\";\nprint s <\n  2;\n",
            "Operands must be numbers.\n[line 3] in script\n",
        ),
    ];
    for (i, (source, expected)) in cases.into_iter().enumerate() {
        let path = script(&format!("fused{i}.lox"), source);
        let output = lox(&[path.to_str().expect("UTF-8")], "");
        assert_eq!(output.status.code(), Some(70), "{source}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            expected,
            "{source}"
        );
    }
}

/// The programs of `tests/programs/`, each with its expected output in a
/// `.out` file beside it: what the suite does not cover.
#[test]
fn programs_of_our_own_print_what_clox_prints() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/programs") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "lox") {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("out")).expect("a .out file");
        let output = lox(&[path.to_str().expect("UTF-8")], "");
        assert!(output.status.success(), "{}: {output:?}", path.display());
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expected,
            "{}",
            path.display()
        );
        ran += 1;
    }
    assert!(ran > 0);
}
