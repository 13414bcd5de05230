//! The layers of ARCHITECTURE.md, enforced, and no import cycle at any
//! depth. Every source file of the server and CLI crates is parsed (`syn`):
//! its `use` trees and the `crate::`, `super::` and `self::` paths in its
//! code say which modules it uses. Then:
//!
//! - a top-level module of the server uses only modules of lower layers;
//! - in every module of both crates, the submodules side by side use each
//!   other without a circle (a child using its parent's own items is not a
//!   sibling's arrow, and is allowed).
//!
//! A new arrow that runs back up fails here with the files that drew it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Lowest first. A module may use the modules of the layers below its own,
/// never one of its own layer or above. `runner` serves (`run`); `lib`, the
/// crate root, only declares the modules and re-exports.
const LAYERS: &[&[&str]] = &[
    &["clock", "path", "forwarded", "cors"],
    &["config"],
    &["store", "metrics", "shared"],
    &["quota", "usage"],
    &["oauth"],
    &["error"],
    &["net", "resource", "admin"],
    &["gateway", "demo_api"],
    &["state"],
    &["http", "demo"],
    &["runner"],
    &["lib"],
    &["testing"],
];

/// A module's path from the crate root: `["oauth", "token"]`; the root is `[]`.
type ModPath = Vec<String>;

/// One source file: its module and the module paths it refers to
/// (absolute, as written; not yet cut to a known module).
struct Source {
    file: PathBuf,
    module: ModPath,
    refs: BTreeSet<ModPath>,
}

/// The module a file of `src/` is: `oauth/mod.rs` is `oauth`, `lib.rs` the root.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Collects what one file refers to.
struct Refs<'a> {
    module: &'a [String],
    top_level: &'a BTreeSet<String>,
    found: BTreeSet<ModPath>,
}

impl Refs<'_> {
    /// `segments` as an absolute path, if it starts at `crate`, `super` or
    /// `self` (or, in the crate root, at a top-level module).
    fn absolute(&self, segments: &[String]) -> Option<ModPath> {
        let (first, rest) = segments.split_first()?;
        let mut base: ModPath = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.module.to_vec(),
            "super" => {
                let mut m = self.module.to_vec();
                m.pop();
                let mut rest = rest;
                while let Some(("super", more)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
                    m.pop();
                    rest = more;
                }
                return Some(m.into_iter().chain(rest.iter().cloned()).collect());
            }
            name if self.module.is_empty() && self.top_level.contains(name) => {
                return Some(segments.to_vec());
            }
            _ => return None,
        };
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn add(&mut self, segments: &[String]) {
        if let Some(p) = self.absolute(segments) {
            self.found.insert(p);
        }
    }

    /// Every path a `use` tree names, with `prefix` before it.
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                if name == "self" {
                    let whole = prefix.clone();
                    self.add(&whole);
                } else {
                    prefix.push(name);
                    let whole = prefix.clone();
                    self.add(&whole);
                    prefix.pop();
                }
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                let whole = prefix.clone();
                self.add(&whole);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                let whole = prefix.clone();
                self.add(&whole);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Refs<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if matches!(
            segments.first().map(String::as_str),
            Some("crate" | "super" | "self")
        ) {
            self.add(&segments);
        }
        syn::visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // Paths inside macro calls (`routes!(super::records::keys)`) are
        // tokens: read the `crate::`/`super::` ones among them.
        self.tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m);
    }

    fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
        // `#[utoipa::path(... body = crate::http::schemas::Problem)]`.
        if let syn::Meta::List(list) = &a.meta {
            self.tokens(list.tokens.clone());
        }
        syn::visit::visit_attribute(self, a);
    }
}

impl Refs<'_> {
    /// The `crate::a::b` and `super::a` paths among `tokens`, at any depth.
    fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let flat: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        for (i, t) in flat.iter().enumerate() {
            match t {
                proc_macro2::TokenTree::Group(g) => self.tokens(g.stream()),
                proc_macro2::TokenTree::Ident(id) if id == "crate" || id == "super" => {
                    let mut segs = vec![id.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(proc_macro2::TokenTree::Punct(a)),
                        Some(proc_macro2::TokenTree::Punct(b)),
                        Some(proc_macro2::TokenTree::Ident(next)),
                    ) = (flat.get(j), flat.get(j + 1), flat.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segs.push(next.to_string());
                        j += 3;
                    }
                    self.add(&segs);
                }
                _ => {}
            }
        }
    }
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

/// Every file of the crate at `src`, parsed; references to what the root
/// re-exports (`crate::Scope`) are read as references to where it lives.
fn read_crate(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: Vec<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let top_level: BTreeSet<String> = modules.iter().filter_map(|m| m.first().cloned()).collect();
    let mut reexports = BTreeMap::new();
    let mut sources: Vec<Source> = files
        .into_iter()
        .zip(modules)
        .map(|(file, module)| {
            let text = std::fs::read_to_string(&file).unwrap();
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if module.is_empty() {
                root_reexports(&ast, &mut reexports);
            }
            let mut refs = Refs {
                module: &module,
                top_level: &top_level,
                found: BTreeSet::new(),
            };
            refs.visit_file(&ast);
            let refs = refs.found;
            Source { file, module, refs }
        })
        .collect();
    for s in &mut sources {
        s.refs = std::mem::take(&mut s.refs)
            .into_iter()
            .map(|r| match r.split_first() {
                Some((first, rest)) if reexports.contains_key(first) => {
                    let home: &ModPath = &reexports[first];
                    home.iter().chain(rest).cloned().collect()
                }
                _ => r,
            })
            .collect();
    }
    sources
}

/// The crate root's `pub use a::b::Item;`: `Item` lives in `a::b`.
fn root_reexports(ast: &syn::File, out: &mut BTreeMap<String, ModPath>) {
    fn walk(prefix: &mut ModPath, tree: &syn::UseTree, out: &mut BTreeMap<String, ModPath>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                walk(prefix, &p.tree, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                out.insert(n.ident.to_string(), prefix.clone());
            }
            syn::UseTree::Rename(r) => {
                out.insert(r.rename.to_string(), prefix.clone());
            }
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| walk(prefix, t, out)),
            syn::UseTree::Glob(_) => {}
        }
    }
    for item in &ast.items {
        if let syn::Item::Use(u) = item {
            if matches!(u.vis, syn::Visibility::Public(_)) {
                walk(&mut Vec::new(), &u.tree, out);
            }
        }
    }
}

/// `path` cut to the longest prefix that is a module of the crate.
fn known_module(path: &[String], modules: &BTreeSet<ModPath>) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// Arrows between the children of each module: parent → {(from child, to
/// child) → the files that drew it}.
type Arrows = BTreeMap<ModPath, BTreeMap<(String, String), BTreeSet<PathBuf>>>;

fn sibling_arrows(sources: &[Source]) -> Arrows {
    let modules: BTreeSet<ModPath> = sources.iter().map(|s| s.module.clone()).collect();
    let mut arrows = Arrows::new();
    for s in sources {
        for r in &s.refs {
            let to = known_module(r, &modules);
            // The deepest common ancestor, and the two children under it.
            let common = s.module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            let (Some(from_child), Some(to_child)) = (s.module.get(common), to.get(common)) else {
                continue; // one contains the other: parent and child, not siblings
            };
            arrows
                .entry(s.module[..common].to_vec())
                .or_default()
                .entry((from_child.clone(), to_child.clone()))
                .or_default()
                .insert(s.file.clone());
        }
    }
    arrows
}

/// The circles among siblings, each as the arrows that close it.
fn circles(arrows: &Arrows) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, edges) in arrows {
        let next = |n: &str| -> Vec<String> {
            edges
                .keys()
                .filter(|(a, _)| a == n)
                .map(|(_, b)| b.clone())
                .collect()
        };
        for (a, b) in edges.keys() {
            // Is there a way back from b to a?
            let mut seen = BTreeSet::new();
            let mut stack = vec![b.clone()];
            while let Some(n) = stack.pop() {
                if n == *a {
                    let files = &edges[&(a.clone(), b.clone())];
                    found.push(format!(
                        "in `{}`: `{a}` -> `{b}` ({}), and `{b}` leads back to `{a}`",
                        if parent.is_empty() {
                            "crate".to_owned()
                        } else {
                            parent.join("::")
                        },
                        files
                            .iter()
                            .map(|f| f.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    break;
                }
                if seen.insert(n.clone()) {
                    stack.extend(next(&n));
                }
            }
        }
    }
    found
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn server_modules_use_only_lower_layers() {
    let sources = read_crate(&crate_src("server"));
    assert!(sources.len() > 20, "found the sources: {}", sources.len());
    let mut wrong = Vec::new();
    for s in &sources {
        let own_name = s.module.first().map_or("lib", String::as_str);
        let Some(own) = layer_of(own_name) else {
            wrong.push(format!(
                "{}: module `{own_name}` has no layer in LAYERS (and ARCHITECTURE.md)",
                s.file.display()
            ));
            continue;
        };
        for r in &s.refs {
            let Some(used) = r.first().map(String::as_str) else {
                continue;
            };
            if used == own_name {
                continue;
            }
            match layer_of(used) {
                Some(l) if l < own => {}
                _ => wrong.push(format!(
                    "{}: `{own_name}` uses `{used}`, which is not in a lower layer",
                    s.file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_module_of_either_crate_is_in_a_circle() {
    let mut all = Vec::new();
    for name in ["server", "cli", "client", "proto"] {
        let sources = read_crate(&crate_src(name));
        let arrows = sibling_arrows(&sources);
        let n: usize = arrows.values().map(BTreeMap::len).sum();
        // Not vacuous: the crates' modules do use each other.
        assert!(
            n >= sources.len() / 2,
            "{name}: only {n} arrows among {} files",
            sources.len()
        );
        all.extend(circles(&arrows).into_iter().map(|c| format!("{name}: {c}")));
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn references_are_read_from_use_trees_paths_and_macros() {
    let text = "use crate::config::Limits;\nuse crate::{error, Error, quota::Quota};\n\
                use super::views::{self, Detour};\n\
                fn f() -> crate::store::StoreResult<()> { routes!(super::records::keys); }";
    let module: ModPath = vec!["http".into(), "admin".into()];
    let mut refs = Refs {
        module: &module,
        top_level: &BTreeSet::new(),
        found: BTreeSet::new(),
    };
    refs.visit_file(&syn::parse_file(text).unwrap());
    let found: Vec<String> = refs.found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "Error",
            "config::Limits",
            "error",
            "http::records::keys",
            "http::views",
            "http::views::Detour",
            "quota::Quota",
            "store::StoreResult",
        ]
    );
}

#[test]
fn a_circle_between_siblings_is_found_and_parent_child_is_not() {
    let src = |module: &[&str], refs: &[&[&str]]| Source {
        file: PathBuf::from(module.join("/")),
        module: module.iter().map(|s| s.to_string()).collect(),
        refs: refs
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    let sources = [
        src(&["oauth"], &[&["oauth", "token", "x"]]),
        src(
            &["oauth", "token"],
            &[&["oauth", "authorize", "f"], &["oauth", "g"]],
        ),
        src(&["oauth", "authorize"], &[&["oauth", "token", "h"]]),
        src(&["http"], &[&["oauth", "token"]]),
    ];
    let found = circles(&sibling_arrows(&sources));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().all(|c| c.starts_with("in `oauth`")),
        "{found:?}"
    );
}
