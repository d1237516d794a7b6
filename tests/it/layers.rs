//! Dependencies point one way (DESIGN §9): each folder of the library may import only the
//! layers below it. Checked on the sources, so a new `use crate::…` that points upwards fails
//! here rather than in a review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer and the crate modules it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("calendar", &[]),
    ("tables", &[]),
    ("names", &[]),
    ("config", &["calendar", "tables", "names"]),
    ("history", &["tables"]),
    ("functions", &["calendar", "config"]),
    ("ingest", &["calendar", "config", "tables", "history"]),
    // The generator's unit tests load the sample workspace (a lower layer: calendars and
    // configuration only).
    (
        "generate",
        &["calendar", "config", "tables", "history", "workspace"],
    ),
    ("sla", &["calendar", "config", "tables", "history"]),
    ("workspace", &["calendar", "config", "sla"]),
    // KPIs, targets and the review run SQL through a DataFusion context they are given.
    ("catalog", &["calendar", "config", "tables", "names"]),
    (
        "session",
        &[
            "calendar",
            "catalog",
            "config",
            "tables",
            "functions",
            "sla",
            "workspace",
        ],
    ),
    (
        "shell",
        &[
            "calendar",
            "config",
            "functions",
            "names",
            "tables",
            "session",
            "catalog",
            "workspace",
        ],
    ),
    ("server", &["config", "session"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules named as `crate::NAME` in the files of `module` (a folder or a file).
fn imports(src: &Path, module: &str) -> BTreeSet<String> {
    let mut files = Vec::new();
    let folder = src.join(module);
    if folder.is_dir() {
        sources(&folder, &mut files);
    } else {
        files.push(src.join(format!("{module}.rs")));
    }
    let mut found = BTreeSet::new();
    for file in files {
        // Code only: doc comments may name any module.
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (at, _) in text.match_indices("crate::") {
            // `$crate::` in macros is not a path of this crate.
            if text[..at].ends_with('$') {
                continue;
            }
            let rest = &text[at + "crate::".len()..];
            // `crate::{a, b::c}` names several modules.
            let group = match rest.strip_prefix('{') {
                Some(inner) => &inner[..inner.find('}').unwrap_or(inner.len())],
                None => rest,
            };
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    found.insert(name);
                }
                if !rest.starts_with('{') {
                    break;
                }
            }
        }
    }
    found
}

#[test]
fn layers_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (module, allowed) in ALLOWED {
        for name in imports(&src, module) {
            if !allowed.contains(&name.as_str()) {
                wrong.push(format!("{module} imports crate::{name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways imports:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_module_of_the_library_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        {
            assert!(
                ALLOWED.iter().any(|(m, _)| *m == name),
                "src/{name} has no entry in the layer table of tests/it/layers.rs"
            );
        }
    }
}
