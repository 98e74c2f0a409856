//! Without a handler, a report goes to stderr and the process aborts:
//! each kind in a child process, checked by its exit status and its text.

use crate::{is_child, run_child};
use objimpl_core::alloc;

/// Makes the error `OBJIMPL_TEST_KIND` names, after printing the block's
/// address and serial on stdout for the parent to look for.
fn make_error() {
    let kind = std::env::var("OBJIMPL_TEST_KIND").unwrap();
    alloc::setup_debug_hooks();
    let p = alloc::mem_malloc(16);
    let serial = alloc::block_info(p).unwrap().serial;
    println!("p={p:p} serial={serial}");
    // SAFETY: each arm makes one memory error on purpose; the hooks catch
    // it before anything is corrupted, and abort.
    unsafe {
        match kind.as_str() {
            "overflow" => {
                p.add(16).write(b'x');
                alloc::mem_free(p);
            }
            "underflow" => {
                p.sub(3).write(b'u');
                alloc::mem_free(p);
            }
            "misuse" => alloc::raw_free(p),
            "double free" => {
                alloc::mem_free(p);
                alloc::mem_free(p);
            }
            "write after free" => {
                alloc::mem_free(p);
                p.write(0);
                alloc::check_memory();
            }
            "bad pointer" => alloc::mem_free(p.add(1)),
            _ => unreachable!("{kind}"),
        }
    }
    println!("not aborted");
}

#[test]
#[cfg_attr(miri, ignore = "runs a child process")]
fn each_error_aborts_with_a_report_naming_it() {
    if is_child("each_error_aborts_with_a_report_naming_it") {
        return make_error();
    }
    let cases = [
        ("overflow", "buffer overflow", "at tail+0: 0x78 *** OUCH"),
        ("underflow", "buffer underflow", "at p-3: 0x75 *** OUCH"),
        ("misuse", "API misuse", "API id expected 'r', found 'm'"),
        ("double free", "double free", "still reads 0xdd throughout"),
        (
            "write after free",
            "write after free",
            "at p+0: 0x00 *** OUCH",
        ),
        ("bad pointer", "bad pointer", "never handed out"),
    ];
    for mode in ["debug", "pymalloc_debug", "malloc_debug"] {
        for (kind, name, detail) in cases {
            let out = run_child(
                "abort::each_error_aborts_with_a_report_naming_it",
                &[("OBJIMPL_MALLOC", mode), ("OBJIMPL_TEST_KIND", kind)],
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let context = format!("{mode} {kind}:\n{stdout}\n{stderr}");
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(out.status.signal(), Some(6), "{context}");
            }
            assert!(!out.status.success(), "{context}");
            assert!(!stdout.contains("not aborted"), "{context}");
            let (p, serial) = stdout
                .lines()
                .find_map(|l| l.split_once("p=").map(|(_, rest)| rest))
                .and_then(|l| l.split_once(" serial="))
                .unwrap_or_else(|| panic!("{context}"));
            let address = if kind == "bad pointer" {
                format!("{:#x}", usize::from_str_radix(&p[2..], 16).unwrap() + 1)
            } else {
                p.to_owned()
            };
            assert!(stderr.contains(&format!("objimpl: {name}: ")), "{context}");
            assert!(stderr.contains(&format!("({address})")), "{context}");
            assert!(stderr.contains(detail), "{context}");
            assert!(stderr.contains("objimpl: aborting"), "{context}");
            if kind != "bad pointer" {
                assert!(
                    stderr.contains(&format!(
                        "16 bytes originally requested, API 'm', made by call #{serial} "
                    )),
                    "{context}"
                );
                // The dump's first row: the head, at p - 16.
                let head = usize::from_str_radix(&p[2..], 16).unwrap() - 16;
                assert!(stderr.contains(&format!("{head:#014x} ")), "{context}");
            }
        }
    }
}
