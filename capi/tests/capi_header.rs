//! The committed C header must be what cbindgen generates from `src/` today.
//!
//! After changing the C API, regenerate it with
//! `IMEI_INDEX_BLESS=1 cargo test --test capi_header` and commit `include/imei_index.h`.

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen can parse src")
        .write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

#[test]
fn committed_header_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/imei_index.h");
    let fresh = generate();
    if std::env::var_os("IMEI_INDEX_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("include/imei_index.h is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/imei_index.h is stale: it differs from what cbindgen generates from \
             src, first at line {}. Regenerate it with \
             `IMEI_INDEX_BLESS=1 cargo test --test capi_header` and commit it.",
            line + 1
        );
    }
}

#[test]
fn header_declares_every_exported_function() {
    // The header's functions are those the library exports: each `#[unsafe(no_mangle)]`
    // function in src appears in the generated header, so a C caller sees them all.
    let header = generate();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut exported = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut lines = src.lines();
        while let Some(line) = lines.next() {
            if line.trim() == "#[unsafe(no_mangle)]" {
                let decl = lines.next().unwrap();
                let name = decl.split("fn ").nth(1).unwrap().split('(').next().unwrap();
                exported.push(name.to_string());
            }
        }
    }
    assert!(exported.len() >= 15, "found only {exported:?}");
    for name in &exported {
        let declared = header.lines().any(|l| {
            !l.trim_start().starts_with('*')
                && l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == name)
                && l.contains(&format!("{name}("))
        });
        assert!(
            declared,
            "{name} is exported but not declared in the header"
        );
    }
}

#[test]
fn the_header_names_the_abi_major_that_cargo_c_gives_the_soname() {
    // cargo-c takes the soname from [package.metadata.capi.library] version; the header's
    // IMEI_INDEX_ABI_MAJOR must say the same, so that C programs can check what they got.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let section = manifest
        .split("[package.metadata.capi.library]")
        .nth(1)
        .expect("Cargo.toml has [package.metadata.capi.library]");
    let version = section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("version = \""))
        .expect("[package.metadata.capi.library] sets version")
        .trim_end_matches('"');
    let major = version.split('.').next().unwrap();
    let header = std::fs::read_to_string(root.join("include/imei_index.h")).unwrap();
    let defined = header
        .lines()
        .find_map(|l| l.strip_prefix("#define IMEI_INDEX_ABI_MAJOR "))
        .expect("the header defines IMEI_INDEX_ABI_MAJOR");
    assert_eq!(
        defined.trim(),
        major,
        "header and Cargo.toml disagree on the ABI major"
    );
    assert!(
        header.contains(&format!("libimei_index.so.{major}")),
        "the header's comments name the soname libimei_index.so.{major}"
    );
}
