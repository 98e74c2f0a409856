//! Finds the shared libpython that `python3` (or `$PYO3_PYTHON`) reports and
//! links the launcher to it, with an rpath so it runs without
//! `LD_LIBRARY_PATH`. Without one, the launcher is built as a stub that
//! says what is missing, and the rest of the workspace builds as usual.

use std::process::Command;

/// What `python3` says of itself: version, library directory, library name.
fn probe(python: &str) -> Result<(String, String, String), String> {
    let script = "import sys, sysconfig; v = sysconfig.get_config_var; \
                  print(f'{sys.version_info[0]}.{sys.version_info[1]}'); \
                  print(v('LIBDIR') or ''); print(v('LDLIBRARY') or ''); \
                  print(v('Py_ENABLE_SHARED') or 0)";
    let out = Command::new(python)
        .args(["-c", script])
        .output()
        .map_err(|e| format!("cannot run `{python}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{python}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let [version, libdir, ldlibrary, shared] = lines[..] else {
        return Err(format!("unexpected answer from `{python}`: {text}"));
    };
    if shared != "1" || !ldlibrary.ends_with(".so") {
        return Err(format!(
            "`{python}` {version} has no shared libpython ({ldlibrary})"
        ));
    }
    let lib = ldlibrary
        .trim_start_matches("lib")
        .trim_end_matches(".so")
        .to_owned();
    if !std::path::Path::new(libdir).join(ldlibrary).exists() {
        return Err(format!("{libdir}/{ldlibrary} is missing"));
    }
    Ok((version.to_owned(), libdir.to_owned(), lib))
}

fn main() {
    println!("cargo:rustc-check-cfg=cfg(objimpl_python)");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    match probe(&python) {
        Ok((version, libdir, lib)) => {
            println!("cargo:rustc-cfg=objimpl_python");
            println!("cargo:rustc-env=OBJIMPL_PYTHON_VERSION={version}");
            println!("cargo:rustc-link-search=native={libdir}");
            println!("cargo:rustc-link-lib=dylib={lib}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
            // The launcher's `_PyMem_GetCurrentAllocatorName` is the one
            // `_testcapi` (a shared module) binds to: see `launch.rs`.
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=_PyMem_GetCurrentAllocatorName"
            );
        }
        Err(why) => {
            println!("cargo:warning=objimpl-python is built as a stub: {why}");
            println!("cargo:rustc-env=OBJIMPL_PYTHON_MISSING={why}");
        }
    }
}
