//! objimpl from C: the header compiled as C11 and as C++ with warnings as
//! errors, its layout held to the Rust side's, and C programs built with
//! the system C compiler against the static and the shared library, then
//! run.
//!
//! A machine without a C compiler (`$CC`, else `cc`) skips these tests, saying
//! so; the rest of the workspace does not need one.

use std::ffi::{CString, c_void};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use objimpl_core::capi::{PyMemAllocatorEx, TYPE_OBJECT_LAYOUT};
use objimpl_core::{Py, PyObject, PyObjectType, PyVarObject, TypeObject};

/// What the static library needs from the system, as
/// `rustc --print native-static-libs` says on Linux.
const NATIVE_LIBS: [&str; 6] = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"];

const WARNINGS: [&str; 3] = ["-Wall", "-Wextra", "-Werror"];

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// Where cargo put this package's static and shared libraries: in `deps/`,
/// beside this test, when `cargo test` built them; one level up after a
/// `cargo build`.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .into_iter()
        .find(|dir| dir.join("libobjimpl_capi.a").exists())
        .unwrap_or(deps)
        .to_owned()
}

/// A scratch directory of this test run.
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("objimpl-capi");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The compiler in `$var` (else `default`), if it runs.
fn compiler(var: &str, default: &str) -> Option<String> {
    let cc = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let found = Command::new(&cc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: no compiler `{cc}` (set ${var} to one) to build the C side");
    }
    found.then_some(cc)
}

/// Runs a compiler, failing the test with its output if it fails.
fn compile(cc: &str, args: &[&str]) {
    let out = Command::new(cc).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cc} {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `source` into `name` against the static library.
fn build_static(cc: &str, source: &Path, name: &str) -> PathBuf {
    let exe = scratch().join(name);
    let include = format!("-I{}", include_dir().display());
    let lib = library_dir().join("libobjimpl_capi.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    let mut args = vec!["-std=c11", &include];
    args.extend(WARNINGS);
    let (source, lib, exe_arg) = (
        source.to_str().unwrap(),
        lib.to_str().unwrap(),
        exe.to_str().unwrap(),
    );
    args.extend([source, lib, "-o", exe_arg]);
    args.extend(NATIVE_LIBS);
    compile(cc, &args);
    exe
}

fn run(exe: &Path, args: &[&str]) -> Output {
    Command::new(exe)
        .args(args)
        .env_remove("OBJIMPL_MALLOC")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_c_example_runs_against_the_static_library() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c/objimpl_demo.c");
    let exe = build_static(&cc, &source, "objimpl_demo");
    let out = run(&exe, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for line in [
        "_PyObject_SIZE(complex) = 32, _PyObject_VAR_SIZE(bytes, 5) = 40",
        "complex(1.5, -2) and complex(3, 0)",
        "bytes(5) \"hello\" and \"world\"",
        "5 objects made, 5 deallocated",
        "PyObject_NewVar(bytes, PY_SSIZE_T_MAX): NULL, with MemoryError set",
        "Small block threshold = 512, in 32 size classes.",
        "# arenas allocated current",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
}

/// Builds `tests/c/NAME.c` against the static library and runs it: it
/// must print "ok" and exit 0 (else what it printed is the failure). Its
/// stderr, or `None` if no C compiler is here.
fn c_checks_pass(name: &str) -> Option<String> {
    let cc = compiler("CC", "cc")?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let exe = build_static(&cc, &source, name);
    let out = run(&exe, &[]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "ok\n");
    Some(text(&out.stderr))
}

#[test]
fn a_process_ends_with_its_last_thread_though_the_purger_ran() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/last_thread_exits.c");
    let exe = build_static(&cc, &source, "last_thread_exits");
    let mut child = Command::new(&exe)
        // The pools themselves: under the debug hooks (a debug build's
        // default) the quarantine would hold some blocks back.
        .env("OBJIMPL_MALLOC", "pymalloc")
        .stdout(std::process::Stdio::piped())
        // A group of its own, so that a process left alive is killed whole.
        .process_group(0)
        .spawn()
        .unwrap();
    // The purger lingers a second with nothing to purge, after the arenas'
    // purge delay: the process ends well within this.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let killed = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            assert!(killed.is_ok_and(|s| s.success()), "could not kill it");
            child.wait().unwrap();
            panic!("the process outlived its last thread by a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(text(&out.stdout), "ok\n");
}

#[test]
fn cpythons_semantics_hold_from_c() {
    c_checks_pass("semantics");
}

#[test]
fn a_c_type_with_tp_traverse_and_tp_clear_has_its_cycles_collected() {
    c_checks_pass("gc");
}

#[test]
fn the_tutorials_custom_type_works_with_only_the_include_changed() {
    c_checks_pass("custom2");
}

#[test]
fn the_tutorials_gc_custom_type_has_its_cycles_collected() {
    c_checks_pass("custom4");
}

#[test]
fn every_header_macro_compiles_warning_free_as_a_statement_and_an_expression() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/macros.c");
    let include = format!("-I{}", include_dir().display());
    for std in ["-std=c99", "-std=c11"] {
        let object = scratch().join(format!("macros{std}.o"));
        let mut args = vec![std, "-pedantic", &include, "-c"];
        args.extend(WARNINGS);
        args.extend([source.to_str().unwrap(), "-o", object.to_str().unwrap()]);
        compile(&cc, &args);
    }
    c_checks_pass("macros");
}

#[test]
fn a_type_used_the_wrong_way_from_c_ends_in_a_message_never_a_crash() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/type_misuse.c");
    let exe = build_static(&cc, &source, "type_misuse");
    // (case, exit code or None for SIGABRT, what stdout says, what stderr says)
    let cases: [(&str, Option<i32>, &str, &str); 10] = [
        (
            "plain-freed-gc",
            None,
            "",
            "objimpl: fatal error: PyObject_GC_Del of an object of type 'Plain', which has no \
             Py_TPFLAGS_HAVE_GC",
        ),
        (
            "double-decref",
            None,
            "exiting\n",
            "objimpl: write after free: the block was written to after it was freed\n    found by check_memory(",
        ),
        ("gc-freed-plain", None, "", "bytes into block 0x"),
        (
            "mem-without-gil",
            None,
            "",
            "Fatal Python error: PyMem_Malloc: Python memory allocator called without holding the GIL",
        ),
        (
            "gc-without-gil",
            None,
            "",
            "objimpl: fatal error: PyObject_GC_New called without holding the GIL",
        ),
        ("unready", Some(0), "freed\ndone\n", ""),
        (
            "no-traverse",
            None,
            "",
            "objimpl: fatal error: PyObject_GC_New: type 'NoTraverse' has the \
             Py_TPFLAGS_HAVE_GC flag but has no traverse function",
        ),
        (
            "new-on-gc",
            Some(3),
            "",
            "SystemError: PyObject_New: type 'Gc' has Py_TPFLAGS_HAVE_GC: make its objects \
             with PyObject_GC_New",
        ),
        (
            "gc-new-on-plain",
            Some(3),
            "",
            "SystemError: PyObject_GC_New: type 'Plain' has no Py_TPFLAGS_HAVE_GC",
        ),
        (
            "no-dealloc",
            None,
            "",
            "objimpl: fatal error: _Py_Dealloc: type 'NoDealloc' has no tp_dealloc",
        ),
    ];
    for (case, code, stdout_is, stderr_has) in cases {
        let out = run(&exe, &[case]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let context = format!("{case}: {:?}\n{stdout}\n{stderr}", out.status);
        match code {
            Some(code) => assert_eq!(out.status.code(), Some(code), "{context}"),
            None => assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&out.status),
                Some(libc::SIGABRT),
                "{context}"
            ),
        }
        assert_eq!(stdout, stdout_is, "{context}");
        assert!(stderr.contains(stderr_has), "{context}");
    }
}

#[test]
fn threads_hand_gc_objects_over_under_the_gil() {
    c_checks_pass("threads");
}

#[test]
fn pytype_ready_refuses_a_type_that_cannot_work_and_says_why() {
    let Some(stderr) = c_checks_pass("ready") else {
        return;
    };
    for why in [
        "SystemError: type 'NoTraverse' has the Py_TPFLAGS_HAVE_GC flag but has no traverse function",
        "SystemError: type 'GcFreedPlain' has the Py_TPFLAGS_HAVE_GC flag but its tp_free is PyObject_Del",
        "SystemError: type 'PlainFreedGc' has tp_free = PyObject_GC_Del but not the Py_TPFLAGS_HAVE_GC flag",
        "SystemError: type 'TooSmall' has tp_basicsize 8, less than its header (16 bytes)",
        "SystemError: Type does not define the tp_name field.",
        "SystemError: PyType_Ready: the type object is NULL",
    ] {
        assert!(stderr.contains(why), "no {why:?} in\n{stderr}");
    }
}

#[test]
fn the_debug_hooks_catch_every_mix_of_families_from_c() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/misuse.c");
    let exe = build_static(&cc, &source, "misuse");
    let families = [("raw", 'r'), ("mem", 'm'), ("object", 'o')];
    for (made, made_id) in families {
        for (used, used_id) in families.into_iter().filter(|&(f, _)| f != made) {
            let out = run(&exe, &[made, used]);
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            assert!(!out.status.success(), "{made} freed as {used}: {stdout}");
            assert!(!stdout.contains("not caught"));
            let p = stdout.trim().strip_prefix("p=").unwrap();
            assert!(stderr.contains("objimpl: API misuse"), "{stderr}");
            assert!(
                stderr.contains(&format!("found by {used}_free({p})")),
                "{stderr}"
            );
            assert!(
                stderr.contains(&format!("API id expected '{used_id}', found '{made_id}'")),
                "{stderr}"
            );
        }
    }
}

#[test]
fn the_shared_library_serves_a_c_program_too() {
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let dir = library_dir();
    let exe = scratch().join("semantics_shared");
    let include = format!("-I{}", include_dir().display());
    let libdir = format!("-L{}", dir.display());
    let rpath = format!("-Wl,-rpath,{}", dir.display());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/semantics.c");
    let mut args = vec!["-std=c11", &include];
    args.extend(WARNINGS);
    args.extend([
        source.to_str().unwrap(),
        &libdir,
        &rpath,
        "-lobjimpl_capi",
        "-o",
        exe.to_str().unwrap(),
    ]);
    compile(&cc, &args);
    let out = run(&exe, &[]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "ok\n");
}

/// A Rust type whose destructor panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("Bomb's Drop panics");
    }
}

static BOMB_TYPE: TypeObject = TypeObject::new::<Bomb>(c"Bomb");
// SAFETY: TYPE is a static built by `TypeObject::new::<Bomb>`, for Bomb alone.
unsafe impl PyObjectType for Bomb {
    type Header = PyObject;
    type Item = ();
    const TYPE: &'static TypeObject = &BOMB_TYPE;
}

/// The child of [`a_rust_destructor_that_panics_under_c_ends_the_process`]:
/// loads the C library `lib` and drops the last reference to a `Bomb`
/// through its function `function`, ready to catch what unwinds through C.
fn drop_a_bomb_from_c(lib: &str, function: &str) {
    // The child aborts: no core file.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain system call, with a valid `rlimit`.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    let lib = CString::new(lib).unwrap();
    let function = CString::new(function).unwrap();
    // SAFETY: a library of plain C functions, without constructors.
    let handle = unsafe { libc::dlopen(lib.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen {lib:?} failed");
    // SAFETY: `handle` is an open library; `function` is a C string.
    let symbol = unsafe { libc::dlsym(handle, function.as_ptr()) };
    assert!(!symbol.is_null(), "no {function:?} in {lib:?}");
    // `C-unwind`, so that a panic that did unwind through the C frames
    // would be caught below and reported, rather than abort at the call.
    // SAFETY: the function is `void f(PyObject *)`.
    let drop_from_c: unsafe extern "C-unwind" fn(*mut PyObject) =
        unsafe { std::mem::transmute::<*mut c_void, _>(symbol) };
    let op = Py::into_raw(Py::new(Bomb).unwrap());
    // SAFETY: `op` is a live object; its one reference is given up.
    let outcome = std::panic::catch_unwind(|| unsafe { drop_from_c(op) });
    println!("the panic unwound through C (caught: {})", outcome.is_err());
}

#[test]
fn a_rust_destructor_that_panics_under_c_ends_the_process() {
    const CHILD: &str = "OBJIMPL_CAPI_TEST_DROP_FROM_C";
    if let Ok(args) = std::env::var(CHILD) {
        let (lib, function) = args.split_once(' ').unwrap();
        return drop_a_bomb_from_c(lib, function);
    }
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    // A shared library of C code on the shared library of objimpl, which
    // a child process loads; its Rust side (the `Bomb` type) is this test.
    let dir = library_dir();
    let lib = scratch().join("libunwind_from_c.so");
    let include = format!("-I{}", include_dir().display());
    let libdir = format!("-L{}", dir.display());
    let rpath = format!("-Wl,-rpath,{}", dir.display());
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/unwind.c");
    let mut args = vec!["-std=c11", "-shared", "-fPIC", &include];
    args.extend(WARNINGS);
    args.extend([
        source.to_str().unwrap(),
        &libdir,
        &rpath,
        "-lobjimpl_capi",
        "-o",
        lib.to_str().unwrap(),
    ]);
    compile(&cc, &args);
    for (function, through) in [
        ("decref_from_c", "_Py_Dealloc"),
        ("xdecref_from_c", "Py_DecRef"),
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_rust_destructor_that_panics_under_c_ends_the_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, format!("{} {function}", lib.display()))
            .env_remove("OBJIMPL_MALLOC")
            .output()
            .unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let context = format!("{function}:\n{stdout}\n{stderr}");
        assert!(
            !stdout.contains("unwound through C"),
            "the panic crossed the C frames: {context}"
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(libc::SIGABRT),
            "{context}"
        );
        assert!(stderr.contains("Bomb's Drop panics"), "{context}");
        assert!(
            stderr.contains(&format!(
                "objimpl: fatal error: a panic (above) in a Rust destructor reached {through}()"
            )),
            "{context}"
        );
    }
}

/// `_Static_assert`s (or `static_assert`s) that the header's layout is the
/// Rust side's, field by field.
fn layout_checks() -> String {
    let mut checks = vec![
        ("sizeof(PyObject)".to_owned(), size_of::<PyObject>()),
        (
            "offsetof(PyObject, ob_type)".to_owned(),
            core::mem::offset_of!(PyObject, ob_type),
        ),
        ("sizeof(PyVarObject)".to_owned(), size_of::<PyVarObject>()),
        (
            "offsetof(PyVarObject, ob_size)".to_owned(),
            core::mem::offset_of!(PyVarObject, ob_size),
        ),
        ("sizeof(Py_ssize_t)".to_owned(), size_of::<isize>()),
        (
            "sizeof(PyMemAllocatorEx)".to_owned(),
            size_of::<PyMemAllocatorEx>(),
        ),
        ("PYMEM_DOMAIN_RAW".to_owned(), 0),
        ("PYMEM_DOMAIN_MEM".to_owned(), 1),
        ("PYMEM_DOMAIN_OBJ".to_owned(), 2),
    ];
    for (field, offset) in [
        ("ctx", core::mem::offset_of!(PyMemAllocatorEx, ctx)),
        ("malloc", core::mem::offset_of!(PyMemAllocatorEx, malloc)),
        ("calloc", core::mem::offset_of!(PyMemAllocatorEx, calloc)),
        ("realloc", core::mem::offset_of!(PyMemAllocatorEx, realloc)),
        ("free", core::mem::offset_of!(PyMemAllocatorEx, free)),
    ] {
        checks.push((format!("offsetof(PyMemAllocatorEx, {field})"), offset));
    }
    checks.extend(TYPE_OBJECT_LAYOUT.iter().map(|&(c, v)| (c.to_owned(), v)));
    let mut text = String::from(
        "#include \"objimpl.h\"\n\
         #ifdef __cplusplus\n#define CHECK static_assert\n#else\n#define CHECK _Static_assert\n#endif\n",
    );
    for (expr, value) in checks {
        text.push_str(&format!(
            "CHECK({expr} == {value}, \"{expr} is {value} on the Rust side\");\n"
        ));
    }
    text
}

#[test]
fn the_header_matches_the_rust_layout_and_compiles_as_c_and_cpp() {
    let dir = scratch();
    let include = format!("-I{}", include_dir().display());
    let checks = dir.join("layout.c");
    std::fs::write(&checks, layout_checks()).unwrap();
    if let Some(cc) = compiler("CC", "cc") {
        let mut args = vec!["-std=c11", "-pedantic", &include, "-fsyntax-only"];
        args.extend(WARNINGS);
        args.push(checks.to_str().unwrap());
        compile(&cc, &args);
    }
    if let Some(cxx) = compiler("CXX", "c++") {
        // The layout, and the inline functions and macros, as C++.
        let cpp = dir.join("header.cpp");
        std::fs::write(
            &cpp,
            layout_checks()
                + "int use(PyObject *op, PyTypeObject *tp) {\n\
                   Py_INCREF(op);\n Py_DECREF(op);\n Py_XDECREF(op);\n\
                   PyObject *o = PyObject_New(PyObject, tp);\n\
                   PyVarObject *v = PyObject_NEW_VAR(PyVarObject, tp, 3);\n\
                   return o != nullptr && v != nullptr && Py_SIZE(v) == 3\n\
                   && _PyObject_VAR_SIZE(tp, 2) > _PyObject_SIZE(tp) && Py_REFCNT(o) == 1;\n}\n",
        )
        .unwrap();
        let mut args = vec!["-std=c++17", &include, "-fsyntax-only"];
        args.extend(WARNINGS);
        args.push(cpp.to_str().unwrap());
        compile(&cxx, &args);
    }
}

#[test]
fn a_wrong_layout_is_caught_by_the_header_check() {
    // The check above must be able to fail: a wrong offset does not compile.
    let Some(cc) = compiler("CC", "cc") else {
        return;
    };
    let file = scratch().join("wrong.c");
    let (_, tp_free) = TYPE_OBJECT_LAYOUT
        .iter()
        .find(|(expr, _)| expr.ends_with("tp_free)"))
        .expect("the layout lists tp_free");
    let wrong = layout_checks().replace(
        &format!("offsetof(PyTypeObject, tp_free) == {tp_free}"),
        "offsetof(PyTypeObject, tp_free) == 8",
    );
    assert!(wrong.contains("tp_free) == 8"));
    std::fs::write(&file, wrong).unwrap();
    let include = format!("-I{}", include_dir().display());
    let out = Command::new(&cc)
        .args([
            "-std=c11",
            &include,
            "-fsyntax-only",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("tp_free) is"),
        "{}",
        text(&out.stderr)
    );
}
