//! The layers of ARCHITECTURE.md, enforced: a top-level module of the
//! server crate may use only modules of lower layers. Read from the source
//! (`crate::x` paths, `use crate::{x, y}` groups), so a new arrow that runs
//! back up fails here with the file that drew it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use the modules of the layers below its own,
/// never one of its own layer or above. `lib` is the crate root (`run`).
const LAYERS: &[&[&str]] = &[
    &["clock", "path", "forwarded"],
    &["config"],
    &["store", "metrics", "shared"],
    &["quota", "usage"],
    &["error"],
    &["oauth", "net"],
    &["resource", "admin"],
    &["gateway", "demo_api"],
    &["state"],
    &["http", "demo"],
    &["lib"],
    &["testing"],
];

/// Items the crate root re-exports, and the module each comes from.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("AppState", "state"),
    ("Clock", "clock"),
    ("Config", "config"),
    ("FileConfig", "config"),
    ("router", "http"),
    ("run", "lib"),
    ("run_with_admin", "lib"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file of `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// The modules `text` names as `crate::x` or inside `crate::{x, y::z}`.
fn crate_references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                found.insert(ident(part.trim()));
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.remove("");
    found
        .into_iter()
        .map(|name| {
            ROOT_ITEMS
                .iter()
                .find(|(item, _)| *item == name)
                .map_or(name, |(_, module)| (*module).to_owned())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer in LAYERS (and ARCHITECTURE.md)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for used in crate_references(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(l) if l < own => {}
                _ => wrong.push(format!(
                    "{}: `{module}` uses `{used}`, which is not in a lower layer",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let text = "use crate::config::Limits;\nuse crate::{error, Error, quota::Quota};\n\
                /// see [`crate::path`]\nfn f() -> crate::store::StoreResult<()> {}";
    let found: Vec<String> = crate_references(text).into_iter().collect();
    assert_eq!(found, ["config", "error", "path", "quota", "store"]);
}
