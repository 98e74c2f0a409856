//! `OBJIMPL_MALLOC`, read once at first use, as `PYTHONMALLOC`: each valid
//! value, and a bad one, in child processes.

use crate::{is_child, run_child};
use objimpl_core::alloc::{self, Domain};

/// Prints what the families run on: the allocator of each domain, whether
/// blocks carry the hooks, and whether an object block comes from a pool.
fn describe() {
    let names: Vec<String> = Domain::ALL
        .iter()
        .map(|&d| {
            let debug = format!("{:?}", alloc::get_allocator(d));
            debug.split('"').nth(1).unwrap().to_owned()
        })
        .collect();
    let before = alloc::stats().blocks_in_use();
    let p = alloc::object_malloc(8);
    let pooled = alloc::stats().blocks_in_use() > before;
    let hooked = alloc::block_info(p).is_some();
    println!("allocators={names:?} hooked={hooked} pooled={pooled}");
    // SAFETY: `p` came from `object_malloc` and is freed once.
    unsafe { alloc::object_free(p) };
}

#[test]
#[cfg_attr(miri, ignore = "runs a child process")]
fn each_value_of_objimpl_malloc_installs_its_allocators() {
    if is_child("each_value_of_objimpl_malloc_installs_its_allocators") {
        return describe();
    }
    let debug_build = cfg!(debug_assertions);
    let hooks = r#"["debug hooks", "debug hooks", "debug hooks"]"#;
    let default = if debug_build {
        hooks
    } else {
        r#"["malloc", "pymalloc", "pymalloc"]"#
    };
    let cases = [
        (None, default, debug_build, true),
        (Some(""), default, debug_build, true),
        (Some("default"), default, debug_build, true),
        (
            Some("pymalloc"),
            r#"["malloc", "pymalloc", "pymalloc"]"#,
            false,
            true,
        ),
        (
            Some("malloc"),
            r#"["malloc", "malloc", "malloc"]"#,
            false,
            false,
        ),
        (Some("debug"), hooks, true, true),
        (Some("pymalloc_debug"), hooks, true, true),
        (Some("malloc_debug"), hooks, true, false),
    ];
    for (value, allocators, hooked, pooled) in cases {
        let env: Vec<(&str, &str)> = value.map(|v| ("OBJIMPL_MALLOC", v)).into_iter().collect();
        let out = run_child(
            "environment::each_value_of_objimpl_malloc_installs_its_allocators",
            &env,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{value:?}: {out:?}");
        let expected = format!("allocators={allocators} hooked={hooked} pooled={pooled}");
        assert!(
            stdout.contains(&expected),
            "{value:?}: expected {expected} in\n{stdout}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "runs a child process")]
fn an_unknown_value_of_objimpl_malloc_is_fatal_and_names_the_valid_ones() {
    if is_child("an_unknown_value_of_objimpl_malloc_is_fatal_and_names_the_valid_ones") {
        let _ = alloc::object_malloc(8);
        println!("not stopped");
        return;
    }
    let out = run_child(
        "environment::an_unknown_value_of_objimpl_malloc_is_fatal_and_names_the_valid_ones",
        &[("OBJIMPL_MALLOC", "pymaloc")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not stopped"));
    assert!(
        stderr.contains(
            "objimpl: OBJIMPL_MALLOC=\"pymaloc\" names no allocator; use one of: \
             default, pymalloc, malloc, debug, pymalloc_debug, malloc_debug"
        ),
        "{stderr}"
    );
}
