//! `#[pyobject]` in a crate that renames objimpl (`oi = { package =
//! "objimpl" }`): the macro finds the runtime under the new name without
//! `crate = ...`. The test builds and runs such a crate, with this
//! workspace's lock file (offline: the dependencies are already here).

use std::path::Path;
use std::process::Command;

#[test]
fn a_renamed_dependency_needs_no_crate_option() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("renamed-dependency");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"renamed\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [dependencies]\noi = {{ package = \"objimpl\", path = {:?} }}\n\n[workspace]\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "use oi::prelude::*;\n\n\
         #[pyobject(basic)]\nstruct Point { x: f64, y: f64 }\n\n\
         #[pyobject(gc, item = PyAny)]\nstruct List;\n\n\
         fn main() {\n    \
             let p = Point::new(Point { x: 1.0, y: 2.0 }).unwrap();\n    \
             let l = List::new_var(List, [PyAny::from(p)]).unwrap();\n    \
             println!(\"{} {}\", l.len(), Point::TYPE.basicsize());\n}\n",
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the renamed crate failed to build or run:\n{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 32\n");
}
