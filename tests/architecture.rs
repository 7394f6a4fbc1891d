//! The library's layers, as docs/architecture.md draws them, checked against the source:
//! every `crate::` path in `src/` goes down the layers (or stays in its own folder), a reader
//! never imports the writer, and no two files of a folder import each other in a circle.
//!
//! A new module gets a layer here in the same change that adds it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's top-level modules, bottom up. A module may import from modules of a lower
/// rank, and from its own folder; modules of one rank are independent of each other.
const LAYERS: &[(&str, u8)] = &[
    ("model", 0),
    ("format", 1),
    ("list", 1),
    ("error", 2),
    ("read", 3),
    ("build", 4),
    ("update", 5),
    ("serve", 6),
    ("scan", 6),
    ("register", 6),
    ("s13", 7),
    ("synth", 7),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, r)| r)
}

/// Every `.rs` file under `dir`.
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

/// The module path of a source file: `src/read/index.rs` → `["read", "index"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The `crate::a::b` paths a file's code (not its comments, not its unit tests) uses, as
/// their first two segments.
fn imports(text: &str) -> BTreeSet<Vec<String>> {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: Vec<String> = rest
                .split("::")
                .take(2)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|s| !s.is_empty() && s.chars().next().unwrap().is_ascii_lowercase())
                .collect();
            if !path.is_empty() {
                out.insert(path);
            }
        }
    }
    out
}

#[test]
fn imports_go_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    // File-level edges inside each top-level folder, for the cycle check.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(top) = module.first() else {
            continue; // lib.rs: the root re-exports everything
        };
        let Some(own) = rank(top) else {
            wrong.push(format!("{}: module `{top}` has no layer", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for path in imports(&text) {
            let Some(theirs) = rank(&path[0]) else {
                wrong.push(format!(
                    "{}: imports crate::{}, which has no layer",
                    file.display(),
                    path.join("::")
                ));
                continue;
            };
            if path[0] == *top {
                if let (Some(me), Some(dep)) = (module.get(1), path.get(1))
                    && me != dep
                {
                    edges
                        .entry(format!("{top}::{me}"))
                        .or_default()
                        .insert(format!("{top}::{dep}"));
                }
                if module.len() > 1 && path.len() == 1 {
                    wrong.push(format!(
                        "{}: imports its own folder's module root crate::{top}; import the \
                         file that defines the item instead",
                        file.display()
                    ));
                }
            } else if theirs >= own {
                wrong.push(format!(
                    "{}: `{top}` (layer {own}) imports crate::{} (layer {theirs}); imports must \
                     go down the layers",
                    file.display(),
                    path.join("::")
                ));
            }
        }
    }
    // No circles between the files of a folder.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        wrong: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            wrong.push(format!(
                "import cycle: {} -> {node}",
                stack[at..].join(" -> ")
            ));
            return;
        }
        if !done.insert(node.to_string()) {
            return;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, wrong);
        }
        stack.pop();
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut wrong);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_imports_and_ignores_comments_and_tests() {
    let text = "//! see crate::build::write\nuse crate::read::index::Index;\nfn f() { crate::format::key::imei(x) }\n#[cfg(test)]\nmod tests {\n    use crate::build::builder::IndexBuilder;\n}\n";
    let got: Vec<String> = imports(text).into_iter().map(|p| p.join("::")).collect();
    assert_eq!(got, ["format::key", "read::index"]);
}
