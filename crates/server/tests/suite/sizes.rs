//! Issue 31, point 8: no file of any crate's `src/` or `tests/` over 600
//! lines, and no function of `src/` over 80, so every file and every
//! function can be read whole. Lines are counted from the `fn` (or its
//! doc) to its closing brace. A test function is a story told in order
//! and is not held to the function limit; its file is.

use std::path::{Path, PathBuf};

use syn::visit::Visit;

use crate::architecture::rust_files;

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Every `.rs` file under `part` (`src` or `tests`) of every crate of the
/// workspace.
fn workspace_files(part: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(crates_dir()).unwrap().flatten() {
        let src = dir.path().join(part);
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.sort();
    files
}

#[test]
fn no_test_file_is_too_long_to_read_whole() {
    let files = workspace_files("tests");
    assert!(files.len() > 30, "found only {} files", files.len());
    let over: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            let shown = f.strip_prefix(crates_dir()).unwrap_or(f).display();
            (lines > MAX_FILE_LINES).then(|| format!("{shown}: {lines} lines"))
        })
        .collect();
    assert!(
        over.is_empty(),
        "over {MAX_FILE_LINES} lines:\n{}",
        over.join("\n")
    );
}

/// `crates/`, where every crate of the workspace is.
fn crates_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Functions longer than the limit: (name, lines).
#[derive(Default)]
struct Long(Vec<(String, usize)>);

impl Long {
    fn check(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let lines = span.end().line - span.start().line + 1;
        if lines > MAX_FN_LINES {
            self.0.push((name.to_string(), lines));
        }
    }
}

impl<'ast> Visit<'ast> for Long {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.check(&f.sig.ident, syn::spanned::Spanned::span(f));
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_file_or_function_is_too_long_to_read_whole() {
    let files = workspace_files("src");
    assert!(files.len() > 80, "found only {} files", files.len());
    let mut over = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file
            .strip_prefix(crates_dir())
            .unwrap_or(file)
            .display()
            .to_string();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            over.push(format!("{shown}: {lines} lines"));
        }
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let mut long = Long::default();
        long.visit_file(&ast);
        over.extend(
            long.0
                .into_iter()
                .map(|(name, n)| format!("{shown}: fn {name} is {n} lines")),
        );
    }
    assert!(
        over.is_empty(),
        "over {MAX_FILE_LINES} lines a file or {MAX_FN_LINES} a function:\n{}",
        over.join("\n")
    );
}
