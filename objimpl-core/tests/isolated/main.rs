//! Tests that need a process of their own: they limit its address space,
//! measure its resident memory, or end it on purpose. Each test runs this
//! binary again with only itself selected and [`CHILD`] set, and the child
//! does the work; the parent checks how it ended.
#![cfg(all(target_os = "linux", not(miri)))]

mod double_free;
mod idle_threads;
mod no_arena;
mod poisoned;
mod recycled_heaps;

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// Set in the child's environment.
const CHILD: &str = "OBJIMPL_ISOLATED_CHILD";

/// Whether this process is the child of [`run_alone`].
fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs the test `name` (its path in this crate, as the harness names it)
/// alone in a child process, with `env` set, and returns how it ended.
fn run_alone(name: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for (key, value) in env {
        command.env(key, value);
    }
    // A child that aborts on purpose leaves no core file.
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs
    // between the fork and the exec.
    unsafe {
        command.pre_exec(|| {
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        })
    };
    command.output().unwrap()
}

/// [`run_alone`], which must succeed and print `expected`.
fn assert_child_prints(name: &str, env: &[(&str, &str)], expected: &str) {
    let out = run_alone(name, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(expected),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// Anonymous resident memory, in KiB: statm's resident less its
/// file-backed pages.
fn anonymous_kib() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: Vec<i64> = statm
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (pages[1] - pages[2]) * 4
}
