//! `imei-index bench` runs end to end on a small list and prints its comparison table.

use std::process::Command;

#[test]
fn bench_prints_the_comparison_table_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("checks.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_imei-index"))
        .args(["bench", "--rules", "5000", "--probes", "2000", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "imei-index check",
        "imei-index check_many",
        "v1 (IMEI fst) check",
        "v1 (IMEI fst) many",
        "HashSet<u64>",
        "sorted Vec<u64>",
        "fst::Map::get",
    ] {
        assert!(stdout.contains(row), "no {row} row in:\n{stdout}");
    }
    for build in ["sorted", "unsorted", "unsorted, 1/4 memory"] {
        assert!(
            stdout.contains(&format!("build from {build} rules: ")),
            "no {build} build in:\n{stdout}"
        );
    }
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("HashSet&lt;u64&gt;"));
}

#[test]
fn bench_runs_every_list_shape() {
    for shape in ["register", "uniform", "dense"] {
        let out = Command::new(env!("CARGO_BIN_EXE_imei-index"))
            .args([
                "bench", "--rules", "3000", "--probes", "500", "--shape", shape,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shape}: {stdout}");
        assert!(stdout.contains(&format!("shape: {shape}")), "{stdout}");
        assert!(stdout.contains("v1 (IMEI fst) check"), "{stdout}");
    }
}

#[test]
fn bench_rejects_an_empty_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_imei-index"))
        .args(["bench", "--rules", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rules"));
}
