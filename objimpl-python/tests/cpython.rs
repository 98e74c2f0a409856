//! CPython on objimpl: the launcher runs Python code and a short list of
//! CPython's own regression tests, with objimpl serving its memory (in a
//! debug build, through objimpl's debug hooks, which are on by default
//! there). `scripts/cpython-tests.sh` runs the long list against `python3`.
//!
//! Where the launcher was built without CPython, these tests say so and pass.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// The launcher, or `None` (said on stderr) if it was built as a stub.
fn launcher() -> Option<Command> {
    if let Some(why) = option_env!("OBJIMPL_PYTHON_MISSING") {
        eprintln!("skipped: objimpl-python was built without CPython: {why}");
        return None;
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_objimpl-python"));
    command
        .env_remove("OBJIMPL_MALLOC")
        .env_remove("PYTHONMALLOC")
        .env_remove("OBJIMPL_STATS");
    Some(command)
}

/// `objimpl-python -c code` with `OBJIMPL_MALLOC=mode`; `None` if the
/// launcher was built without CPython.
fn run_under(mode: &str, code: &str) -> Option<Output> {
    let out = launcher()?
        .env("OBJIMPL_MALLOC", mode)
        .args(["-c", code])
        .output()
        .unwrap();
    Some(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn python_code_runs_with_objimpl_serving_its_objects() {
    let Some(mut python) = launcher() else { return };
    let out = python
        .env("OBJIMPL_STATS", "1")
        .args([
            "-c",
            "import json, sys\n\
             data = [{'n': i, 's': str(i) * 3, 't': (i, i + 1)} for i in range(20000)]\n\
             back = json.loads(json.dumps(data))\n\
             assert back[123]['s'] == '123123123'\n\
             print(sys.version_info[:2], len(back))",
        ])
        .output()
        .unwrap();
    check(&out);
    assert!(
        text(&out.stdout).starts_with("(3, "),
        "{}",
        text(&out.stdout)
    );
    // objimpl's statistics at exit: its pools held CPython's objects.
    let stats = text(&out.stderr);
    let arenas = arenas_highwater(&stats);
    assert!(
        arenas >= 2,
        "CPython's objects were not in objimpl's pools:\n{stats}"
    );
}

#[test]
fn cpythons_own_tests_pass_on_objimpl() {
    let Some(mut python) = launcher() else { return };
    let out = python
        .args(["-m", "test", "test_dict", "test_tuple", "test_weakref"])
        .output()
        .unwrap();
    check(&out);
    assert!(
        text(&out.stdout).contains("Result: SUCCESS"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_raw_domain_too_with_the_flag() {
    let Some(mut python) = launcher() else { return };
    let out = python
        .args([
            "--objimpl-raw",
            "-c",
            "import sys; print(sys.argv[1:])",
            "a",
            "b",
        ])
        .output()
        .unwrap();
    check(&out);
    assert_eq!(text(&out.stdout), "['a', 'b']\n");
}

#[test]
fn objimpl_raw_puts_the_raw_domain_on_objimpl_for_child_processes_too() {
    // A PyMem_RawMalloc block given to PyMem_Free: objimpl's hooks know the
    // block as raw only if objimpl serves the raw domain.
    let code = "import ctypes\n\
                api = ctypes.pythonapi\n\
                api.PyMem_RawMalloc.restype = ctypes.c_void_p\n\
                api.PyMem_Free.argtypes = [ctypes.c_void_p]\n\
                api.PyMem_Free(api.PyMem_RawMalloc(16))";
    for (raw, expected) in [
        (None, "API id expected 'm'\n"),
        (Some("1"), "API id expected 'm', found 'r'"),
    ] {
        let Some(mut python) = launcher() else { return };
        python.env("OBJIMPL_MALLOC", "debug").args(["-c", code]);
        if let Some(raw) = raw {
            python.env("OBJIMPL_RAW", raw);
        }
        let out = python.output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "OBJIMPL_RAW={raw:?}: {stderr}");
    }
}

#[test]
fn objimpl_malloc_picks_what_serves_cpythons_domains() {
    // objimpl's `sys.getallocatedblocks` counts the pools' blocks: none
    // when OBJIMPL_MALLOC hands the families to the C library, which the
    // launcher then installs instead of its own calls into the pools.
    let code = "import sys\nx = [object() for _ in range(1000)]\nprint(sys.getallocatedblocks())";
    for (mode, pooled) in [("pymalloc", true), ("malloc", false)] {
        let Some(out) = run_under(mode, code) else {
            return;
        };
        check(&out);
        let blocks: usize = text(&out.stdout).trim().parse().unwrap();
        assert_eq!(blocks >= 1000, pooled, "{mode}: {blocks} pool blocks");
    }
}

#[test]
fn under_the_debug_hooks_an_allocation_without_the_gil_is_stopped() {
    // ctypes.CDLL lets the GIL go around the call: PyMem_Malloc then runs
    // without it, which CPython's own hooks (PYTHONMALLOC=debug) stop too.
    let code = "import ctypes\n\
                lib = ctypes.CDLL(None)\n\
                lib.PyMem_Malloc.restype = ctypes.c_void_p\n\
                lib.PyMem_Malloc(8)\n\
                print('not stopped')";
    for (mode, stopped) in [("debug", true), ("pymalloc", false)] {
        let Some(out) = run_under(mode, code) else {
            return;
        };
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(!out.status.success(), stopped, "{mode}: {stdout}{stderr}");
        assert_eq!(
            stderr.contains(
                "Fatal Python error: mem_malloc: Python memory allocator called without holding the GIL"
            ),
            stopped,
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn objimpls_debug_hooks_catch_cpython_api_misuse() {
    // An extension that frees a PyMem_Malloc block with PyObject_Free:
    // CPython's functions lead to objimpl's families, whose hooks see it.
    let Some(mut python) = launcher() else { return };
    let out = python
        .env("OBJIMPL_MALLOC", "debug")
        .args([
            "-c",
            "import ctypes\n\
             api = ctypes.pythonapi\n\
             api.PyMem_Malloc.restype = ctypes.c_void_p\n\
             api.PyObject_Free.argtypes = [ctypes.c_void_p]\n\
             p = api.PyMem_Malloc(16)\n\
             print(hex(p), flush=True)\n\
             api.PyObject_Free(p)\n\
             print('not caught')",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("not caught"));
    let p = stdout.trim();
    assert!(stderr.contains("objimpl: API misuse"), "{stderr}");
    assert!(
        stderr.contains(&format!("found by object_free({p})")),
        "{stderr}"
    );
    assert!(
        stderr.contains("API id expected 'o', found 'm'"),
        "{stderr}"
    );
}

/// The arenas' high-water mark in objimpl's statistics at exit.
fn arenas_highwater(stats: &str) -> usize {
    stats
        .lines()
        .find_map(|l| l.strip_prefix("# arenas highwater mark"))
        .and_then(|l| l.trim_start_matches([' ', '=']).trim().parse().ok())
        .unwrap_or_else(|| panic!("no statistics at exit:\n{stats}"))
}

#[test]
fn python_threads_share_one_heap_behind_the_gil() {
    // 16 threads alive at once, each with objects of its own: behind the
    // GIL they allocate from one heap, as from pymalloc; with a heap a
    // thread (`OBJIMPL_GIL_HEAP=0`) each takes an arena of its own.
    let code = "import threading\n\
                barrier = threading.Barrier(17)\n\
                def work():\n    \
                    kept = [str(i) * 3 for i in range(500)]\n    \
                    barrier.wait()\n    \
                    barrier.wait()\n\
                threads = [threading.Thread(target=work) for _ in range(16)]\n\
                for t in threads: t.start()\n\
                barrier.wait()\n\
                barrier.wait()\n\
                for t in threads: t.join()";
    let mut highwater = Vec::new();
    for gil_heap in ["1", "0"] {
        let Some(mut python) = launcher() else { return };
        let out = python
            .env("OBJIMPL_MALLOC", "pymalloc")
            .env("OBJIMPL_STATS", "1")
            .env("OBJIMPL_GIL_HEAP", gil_heap)
            .args(["-c", code])
            .output()
            .unwrap();
        check(&out);
        highwater.push(arenas_highwater(&text(&out.stderr)));
    }
    let [shared, per_thread] = highwater[..] else {
        unreachable!()
    };
    assert!(shared < 8, "one heap behind the GIL: {shared} arenas");
    assert!(per_thread >= 16, "a heap a thread: {per_thread} arenas");
}

/// Kills the process group `pgid` (`kill -KILL -pgid`), all of it.
fn kill_group(pgid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &format!("-{pgid}")])
        .status();
    assert!(
        killed.is_ok_and(|s| s.success()),
        "could not kill group {pgid}"
    );
}

#[test]
fn a_child_forked_on_a_thread_ends_with_that_thread() {
    // CPython's test_threading `test_3_join_in_forked_from_thread`: the
    // child's one thread, a Python thread, ends by `pthread_exit`, and the
    // child with it, though objimpl's purger started there (it kept the
    // child alive, and its parent waiting, for ever).
    let code = "import os, threading\n\
                def worker():\n    \
                    pid = os.fork()\n    \
                    if pid:\n        \
                        _, status = os.waitpid(pid, 0)\n        \
                        print('child ended', os.waitstatus_to_exitcode(status))\n        \
                        return\n    \
                    t = threading.Thread(target=lambda: [str(i) * 3 for i in range(300_000)])\n    \
                    t.start()\n    \
                    t.join()\n\
                threading.Thread(target=worker).start()";
    let Some(mut python) = launcher() else { return };
    let mut child = python
        .env("OBJIMPL_MALLOC", "pymalloc")
        .env("OBJIMPL_GIL_HEAP", "0")
        .args(["-c", code])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // A group of its own, so that a child left alive is killed with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            kill_group(child.id());
            panic!("the forked child outlived its thread by a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    check(&out);
    assert_eq!(text(&out.stdout), "child ended 0\n");
}

#[test]
fn sys_reports_objimpls_pools() {
    // CPython's test_sys checks these against pymalloc, which objimpl-python
    // does not use: they failed until `sys` was pointed at objimpl.
    let Some(mut python) = launcher() else { return };
    let out = python
        .args([
            "-c",
            "import sys\n\
             blocks = sys.getallocatedblocks()\n\
             assert blocks > 1000, blocks\n\
             sys._debugmallocstats()",
        ])
        .output()
        .unwrap();
    check(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("free PyDictObjects"),
        "CPython's own part: {stderr}"
    );
    assert!(
        stderr.contains("Small block threshold = 512, in 32 size classes."),
        "{stderr}"
    );
}

/// The launcher as `sh` runs it with `redirections` (e.g. `<&-` to close
/// stdin), so that the child starts with those descriptors as given.
fn launcher_in_sh(redirections: &str, code: &str) -> Option<Output> {
    let python = launcher()?;
    let exe = python.get_program().to_owned();
    let out = Command::new("sh")
        .env_remove("OBJIMPL_MALLOC")
        .env_remove("PYTHONMALLOC")
        .args(["-c", &format!("exec \"$0\" -c \"$1\" {redirections}")])
        .arg(exe)
        .arg(code)
        .output()
        .unwrap();
    Some(out)
}

#[test]
fn a_deliberate_sigsegv_or_sigbus_kills_the_process_as_in_python3() {
    // Rust's runtime would catch these for its stack-overflow guard, and the
    // process would exit 0: test_faulthandler and test_regrtest's crash
    // tests failed so. The launcher starts at a C `main`, without it.
    use std::os::unix::process::ExitStatusExt;
    for (code, signal) in [
        ("import faulthandler; faulthandler._sigsegv()", 11),
        (
            "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
            11,
        ),
        ("import os, signal; os.kill(os.getpid(), signal.SIGBUS)", 7),
    ] {
        let Some(mut python) = launcher() else { return };
        let out = python.args(["-c", code]).output().unwrap();
        assert_eq!(
            out.status.signal(),
            Some(signal),
            "{code}: {:?}\n{}",
            out.status,
            text(&out.stderr)
        );
    }
    let Some(mut python) = launcher() else { return };
    let out = python
        .args(["-c", "import signal; print([signal.getsignal(s) == signal.SIG_DFL for s in (signal.SIGSEGV, signal.SIGBUS)])"])
        .output()
        .unwrap();
    check(&out);
    assert_eq!(text(&out.stdout), "[True, True]\n");
}

#[test]
fn closed_standard_streams_stay_closed_as_in_python3() {
    // Rust's runtime would reopen descriptors 0-2 onto /dev/null: a child
    // started with stdin closed saw one (test_cmd_line, test_posix).
    let Some(out) = launcher_in_sh(
        "<&-",
        "import sys, os\nprint(sys.stdin)\ntry:\n    os.fstat(0)\nexcept OSError:\n    print('fd 0 closed')",
    ) else {
        return;
    };
    check(&out);
    assert_eq!(text(&out.stdout), "None\nfd 0 closed\n");
    let Some(out) = launcher_in_sh("2>&-", "import sys\nsys.stdout.write(repr(sys.stderr))") else {
        return;
    };
    check(&out);
    assert_eq!(text(&out.stdout), "None");
}

/// `PYTHONMALLOC` and `-X dev` are honoured on objimpl: what they ask of
/// CPython's default allocator is asked of objimpl, which is this
/// interpreter's; `malloc` asks for the C library, and gets it. The
/// allocators' name (`_PyMem_GetCurrentAllocatorName`) says so as
/// `python3`'s does: objimpl is this interpreter's `pymalloc`.
#[test]
fn pythonmalloc_is_honoured_on_objimpl() {
    // objimpl counts its own blocks in `sys.getallocatedblocks()`: none if
    // the C library served the interpreter.
    let blocks = "import sys; print(sys.getallocatedblocks())";
    // A PyMem_Malloc block given to PyMem_RawFree: CPython's own hooks
    // report it in their words.
    let misuse = "import _testcapi; _testcapi.pymem_api_misuse()";
    let cpython_hooks =
        "_PyMem_DebugRawFree: bad ID: Allocated using API 'm', verified using API 'r'";
    let name = "import _testcapi; print(_testcapi.pymem_getallocatorsname())";
    for (setting, objimpl_serves, hooks, named) in [
        (&[][..], true, false, "pymalloc"),
        (&["PYTHONMALLOC=pymalloc"], true, false, "pymalloc"),
        (&["PYTHONMALLOC=debug"], true, true, "pymalloc_debug"),
        (
            &["PYTHONMALLOC=pymalloc_debug"],
            true,
            true,
            "pymalloc_debug",
        ),
        (&["-X", "dev"], true, true, "pymalloc_debug"),
        (&["PYTHONMALLOC=malloc"], false, false, "malloc"),
        (&["PYTHONMALLOC=malloc_debug"], false, true, "malloc_debug"),
    ] {
        let run = |code: &str| {
            let mut python = launcher()?;
            for part in setting {
                match part.split_once('=') {
                    Some((key, value)) => python.env(key, value),
                    None => python.arg(part),
                };
            }
            Some(python.args(["-c", code]).output().unwrap())
        };
        let Some(out) = run(blocks) else { return };
        check(&out);
        let counted: usize = text(&out.stdout).trim().parse().unwrap();
        assert_eq!(
            counted > 1000,
            objimpl_serves,
            "{setting:?}: {counted} blocks"
        );
        if !run("import _testcapi").unwrap().status.success() {
            eprintln!("skipped the hooks' part: this Python has no _testcapi");
            continue;
        }
        let out = run(name).unwrap();
        check(&out);
        assert_eq!(text(&out.stdout).trim(), named, "{setting:?}");
        if setting.is_empty() {
            // The default: no hooks, and the misuse is undefined.
            continue;
        }
        let out = run(misuse).unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.contains(cpython_hooks),
            hooks,
            "{setting:?}: {stderr}"
        );
        // Without the hooks, the misuse is undefined: the C library's
        // `free` may abort, or not.
        assert!(!hooks || !out.status.success(), "{setting:?}: {stderr}");
    }
}
