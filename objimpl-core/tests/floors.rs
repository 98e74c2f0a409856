//! The house's one rule, checked: a file of `objimpl-core/src` names only
//! files on its own floor or below (README, "How objimpl is built").
//!
//! The floors are listed here, bottom first; a file's floor is that of the
//! longest listed prefix of its path. A name reached through the crate
//! root's re-exports (`crate::PyAny`) counts as the file that defines it.
//! Doc comments and `#[cfg(test)]` modules are left out: a link or a test
//! may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Bottom first, one room a line unless rooms share a floor. The order in
/// `alloc/` is its module doc's ("How the allocator is built").
const FLOORS: &[&[&str]] = &[
    &["error"],
    &["alloc/size_class"],
    &["alloc/fatal"],
    &["alloc/fork"],
    &["alloc/asan"],
    &["alloc/os"],
    &["alloc/system"],
    &["alloc/pool"],
    &["alloc/arena_map"],
    &["alloc/arena"],
    &["alloc/purge"],
    &["alloc/heap"],
    &["alloc/heap/housekeeping"],
    &["alloc/heap/kept"],
    &["alloc/heap/pools"],
    &["alloc/heap/remote"],
    &["alloc/heap/lists"],
    &["alloc/heap/thread"],
    &["alloc/free"],
    &["alloc/malloc"],
    &["alloc/domain"],
    &["alloc/debug/own_code"],
    &["alloc/debug/spin"],
    &["alloc/debug/block"],
    &["alloc/debug/marks"],
    &["alloc/debug/registry"],
    &["alloc/debug/report"],
    &["alloc/debug/known"],
    &["alloc/debug/checks"],
    &["alloc/debug/inspect"],
    &["alloc/debug"],
    &["alloc/config"],
    &["alloc/stats"],
    &["alloc/heap_map/snapshot"],
    &["alloc/heap_map/svg"],
    &["alloc/heap_map"],
    &["alloc/global"],
    &["alloc"],
    &["object"],
    &["objimpl", "freelist"],
    &["gc"],
    &["py"],
    &["gc/module"],
    &["capi"],
    &["doc_types", "lib"],
];

/// Names that go up a floor as types only (a record points at the record
/// that owns it), never to call: the room, the room above it, and why.
const TYPES_ONLY: &[(&str, &str, &str)] = &[
    (
        "alloc/arena_map",
        "alloc/arena",
        "the map's leaves point at arena records",
    ),
    (
        "alloc/arena",
        "alloc/heap",
        "an arena names its owning heap and its class slots",
    ),
    (
        "alloc/debug/registry",
        "alloc/debug",
        "a registered block names its hooks' context",
    ),
];

/// The floor of a room: that of its longest listed prefix.
fn floor_of(room: &str) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for (floor, rooms) in FLOORS.iter().enumerate() {
        for prefix in *rooms {
            let matches = room == *prefix || room.starts_with(&format!("{prefix}/"));
            if matches && best.is_none_or(|(len, _)| prefix.len() > len) {
                best = Some((prefix.len(), floor));
            }
        }
    }
    best.unwrap_or_else(|| panic!("room {room} is on no floor: add it to FLOORS"))
        .1
}

/// Every `.rs` file under `dir`, as its room (`gc/collect`, `py` for
/// `py/mod.rs`) and its text.
fn rooms(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).expect("the source folder reads") {
        let path = entry.expect("a folder entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            rooms(&path, &format!("{prefix}{name}/"), out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let room = if stem == "mod" {
                prefix.trim_end_matches('/').to_owned()
            } else {
                format!("{prefix}{stem}")
            };
            out.insert(
                room,
                fs::read_to_string(&path).expect("a source file reads"),
            );
        }
    }
}

/// The code of a file: no comments, no test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths that follow `crate::` or `super::`, as their segments: one,
/// or one per item of a `{..}` group (nested groups give their prefix).
fn paths(rest: &str) -> Vec<Vec<String>> {
    let segments = |s: &str| {
        s.trim()
            .split("::")
            .map(|seg| {
                seg.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect::<Vec<_>>()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![segments(rest)];
    };
    let mut depth = 0;
    let mut items = vec![String::new()];
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        if depth == 0 && c != '{' && c != '}' {
            items.last_mut().unwrap().push(c);
        }
    }
    items
        .iter()
        .map(|item| segments(item))
        .filter(|p| !p.is_empty() && p[0] != "self")
        .collect()
}

/// The names the crate root re-exports, and the module each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for stmt in code(lib).split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        for path in paths(rest) {
            names.insert(path.last().unwrap().clone(), module.to_owned());
        }
    }
    names
}

/// The rooms `room` names.
fn named_by(
    room: &str,
    text: &str,
    all: &BTreeMap<String, String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    // `super` of `gc/collect` is `gc`; of `gc` (gc/mod.rs), the root.
    let mut parent: Vec<&str> = room.split('/').collect();
    parent.pop();
    let code = code(text);
    let mut found = BTreeSet::new();
    for (keyword, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(keyword) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths(&code[at + keyword.len()..]) {
                // `super::super::x`: one folder further up per `super`.
                let ups = path.iter().take_while(|seg| *seg == "super").count();
                let path = &path[ups..];
                if path.is_empty() {
                    continue;
                }
                let base: Vec<&str> = base[..base.len().saturating_sub(ups)].to_vec();
                let mut full: Vec<&str> = base.clone();
                full.extend(path.iter().map(String::as_str));
                // The deepest room the path goes through...
                let deepest = (base.len() + 1..=full.len())
                    .rev()
                    .map(|n| full[..n].join("/"))
                    .find(|candidate| all.contains_key(candidate));
                let target = match deepest {
                    Some(room) => Some(room),
                    // ...or a name the crate root re-exports...
                    None if keyword == "crate::" => reexports.get(&path[0]).cloned(),
                    // ...or a name a folder's `mod.rs` holds.
                    None => Some(base.join("/")).filter(|p| !p.is_empty()),
                };
                if let Some(target) = target
                    && target != room
                {
                    found.insert(target);
                }
            }
        }
    }
    found
}

#[test]
#[cfg_attr(miri, ignore = "reads the source files")]
fn no_file_names_a_file_on_a_higher_floor() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    rooms(&src, "", &mut all);
    let reexports = root_reexports(&all["lib"]);
    let mut climbs = Vec::new();
    for (room, text) in &all {
        for target in named_by(room, text, &all, &reexports) {
            let allowed = TYPES_ONLY
                .iter()
                .any(|&(from, to, _)| from == room && to == target);
            if floor_of(&target) > floor_of(room) && !allowed {
                climbs.push(format!(
                    "{room} (floor {}) names {target} (floor {})",
                    floor_of(room),
                    floor_of(&target)
                ));
            }
        }
    }
    assert!(
        climbs.is_empty(),
        "calls must go down the floors:\n  {}",
        climbs.join("\n  ")
    );
}

#[test]
fn the_rule_sees_a_climb() {
    let mut all = BTreeMap::new();
    all.insert("gc".to_owned(), String::new());
    all.insert(
        "gc/collect".to_owned(),
        "use crate::py::Py;\nuse super::{head, state};".to_owned(),
    );
    all.insert("gc/head".to_owned(), String::new());
    all.insert("gc/state".to_owned(), String::new());
    all.insert("py".to_owned(), String::new());
    let named = named_by("gc/collect", &all["gc/collect"], &all, &BTreeMap::new());
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["gc/head", "gc/state", "py"]
    );
    assert!(floor_of("py") > floor_of("gc/collect"));
}
