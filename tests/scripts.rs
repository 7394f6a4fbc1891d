//! The CI and C API scripts work wherever cargo builds: none names `target/` itself, since
//! `CARGO_TARGET_DIR` (or a cargo config file) may put the builds elsewhere. Each asks
//! `cargo metadata` for the target directory, or lets cargo find its own outputs.

use std::path::{Path, PathBuf};

/// The shell scripts: everything in `.ci/`, and the C API's runners.
fn scripts(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join(".ci"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    for name in ["capi/memcheck", "capi/install-check"] {
        let path = root.join(name);
        if path.exists() {
            out.push(path);
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// The places in a script's code (not its comments) that name `target/` as a path of
/// their own: `target/…`, `./target/…`, `"$root/target/…"`; `$target/…` (a variable
/// holding cargo's target directory) is fine.
fn hard_coded_target_dirs(script: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in script.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for (at, _) in line.match_indices("target/") {
            let before = line[..at].chars().next_back();
            let in_a_name = before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_');
            if !in_a_name {
                found.push((n + 1, line.to_string()));
            }
        }
    }
    found
}

#[test]
fn the_rule_finds_hard_coded_target_dirs() {
    for bad in [
        "VENV=target/protocols-venv",
        "ls ./target/debug",
        r#"cp "$root/target/release/x" ."#,
        "cmd target/debug/imei-index",
    ] {
        assert_eq!(hard_coded_target_dirs(bad).len(), 1, "{bad}");
    }
    for good in [
        "VENV=$target/protocols-venv",
        r#"rlib=$target/debug/libimei_index.rlib"#,
        "# installs into target/ unless told otherwise",
        r#"cargo install --target-dir "$target""#,
        "grep -E '^(target|\\.ci)/'",
    ] {
        assert!(hard_coded_target_dirs(good).is_empty(), "{good}");
    }
}

#[test]
fn no_script_hard_codes_the_target_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = scripts(root);
    if !root.join(".ci").exists() {
        // A packaged crate has no scripts to check.
        return;
    }
    assert!(scripts.len() >= 5, "{scripts:?}");
    let mut failures = Vec::new();
    for path in scripts {
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, code) in hard_coded_target_dirs(&text) {
            failures.push(format!("{}:{line}: {}", path.display(), code.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "these scripts name target/ instead of asking cargo metadata for the target \
         directory (CARGO_TARGET_DIR may put it elsewhere):\n{}",
        failures.join("\n")
    );
}
