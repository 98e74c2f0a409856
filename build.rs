//! With the `cpython` feature (benchmarks only), link the benchmarks against
//! the libpython of the interpreter that `python3` (or `$OBJIMPL_BENCH_PYTHON`)
//! is, with an rpath so that they run without `LD_LIBRARY_PATH`. Without the
//! feature this does nothing, so a plain build needs no Python.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=OBJIMPL_BENCH_PYTHON");
    if env::var_os("CARGO_FEATURE_CPYTHON").is_none() {
        return;
    }

    let python = env::var("OBJIMPL_BENCH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let [libdir, ldlibrary, shared, debug] = config_vars(
        &python,
        ["LIBDIR", "LDLIBRARY", "Py_ENABLE_SHARED", "Py_DEBUG"],
    );
    if shared != "1" {
        panic!(
            "the `cpython` feature links libpython dynamically, but {python} was built \
             without --enable-shared (LDLIBRARY = {ldlibrary}); set OBJIMPL_BENCH_PYTHON \
             to an interpreter built with it"
        );
    }
    if debug == "1" {
        // A debug build's Py_DECREF also counts references in `_Py_RefTotal`,
        // which the benchmarks' hand-written Py_DECREF does not do.
        panic!("{python} is a debug build of CPython; benchmark a release build");
    }
    // "libpython3.11.so" -> "python3.11"
    let name = ldlibrary
        .strip_prefix("lib")
        .and_then(|n| n.split(".so").next())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| panic!("unexpected LDLIBRARY {ldlibrary:?} from {python}"));

    // Only the benchmarks call into CPython, so only they link it: the
    // library and the tests stay free of it even with the feature on.
    println!("cargo::rustc-link-arg-benches=-L{libdir}");
    println!("cargo::rustc-link-arg-benches=-Wl,-rpath,{libdir}");
    println!("cargo::rustc-link-arg-benches=-l{name}");
}

/// Asks `python` for `sysconfig.get_config_var(name)` of each name, in order.
fn config_vars<const N: usize>(python: &str, names: [&str; N]) -> [String; N] {
    let script = "import sys, sysconfig\n\
                  for name in sys.argv[1:]:\n    \
                  print(sysconfig.get_config_var(name))";
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(names)
        .output()
        .unwrap_or_else(|e| panic!("the `cpython` feature needs {python}: {e}"));
    assert!(
        out.status.success(),
        "{python} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("sysconfig prints UTF-8");
    let values: Vec<String> = stdout.lines().map(str::to_owned).collect();
    values
        .try_into()
        .unwrap_or_else(|v: Vec<String>| panic!("{python} printed {} lines, not {N}", v.len()))
}
