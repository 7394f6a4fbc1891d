//! Publishing's guards in the library: `publish` refuses a suspect index with the default
//! guards and `PublishOptions` sets them; delta indexes are guarded as deltas; a refusal
//! leaves the target exactly as it was; `Published` reports the changes.

use std::fs;
use std::path::{Path, PathBuf};

use imei_index::{
    AtomicFile, Change, DeltaBuilder, Entry, Error, ErrorChain, Imei, IndexBuilder, PublishOptions,
    Refusal, Rule, RuleKind, Status, Target, publish,
};

fn imei(n: u64) -> Imei {
    Imei::from_u64(35_209_900_000_000 + n).unwrap()
}

/// A full index with serial `serial` blocking IMEIs `ns`, at `dir/name`.
fn full(dir: &Path, name: &str, serial: u64, ns: impl IntoIterator<Item = u64>) -> PathBuf {
    let path = dir.join(name);
    let mut b = IndexBuilder::new();
    b.serial(serial);
    for n in ns {
        b.add(Rule::imei(imei(n), Entry::new(Status::Blocked)));
    }
    b.build_to_file(&path).unwrap();
    path
}

/// A delta index adding IMEIs `add` and removing `remove`.
fn delta(dir: &Path, name: &str, serial: u64, add: &[u64], remove: &[u64]) -> PathBuf {
    let path = dir.join(name);
    let mut b = DeltaBuilder::new();
    b.serial(serial);
    for &n in add {
        b.add(Change::Add(Rule::imei(
            imei(n),
            Entry::new(Status::Blocked),
        )));
    }
    for &n in remove {
        b.add(Change::Remove(
            Target::Imei(imei(n)),
            imei_index::Source::local(),
            None,
        ));
    }
    b.build_to_file(&path).unwrap();
    path
}

/// Publishing is refused with `want`, and the target keeps its bytes.
fn refused(options: &PublishOptions, source: &Path, target: &Path, want: &Refusal) {
    let before = fs::read(target).ok();
    let err = options.publish(source, target).unwrap_err();
    assert_eq!(err.as_refusal(), Some(want), "{}", ErrorChain(&err));
    match &err {
        Error::Refused {
            index, target: t, ..
        } => {
            assert_eq!((index.as_path(), t.as_path()), (source, target));
        }
        other => panic!("{other:?}"),
    }
    // The message names both files; its cause says why and what to do, once.
    let line = ErrorChain(&err).to_string();
    assert!(
        line.contains(&source.display().to_string())
            && line.contains(&target.display().to_string())
            && line.contains("--force"),
        "{line}"
    );
    assert_eq!(line.matches("--force").count(), 1, "{line}");
    assert_eq!(fs::read(target).ok(), before);
}

fn no_temporaries(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn published_reports_what_changed_against_the_replaced_index() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = d.join("current.imeiidx");
    let first = full(d, "a", 1, 0..10);
    let p = publish(&first, &target).unwrap();
    assert_eq!((p.added, p.changed, p.removed), (10, 0, 0));
    assert_eq!((p.replaced, p.replaced_counts), (None, None));

    // 0..10 → 3..13 with 5 changed to tracked.
    let path = d.join("b");
    let mut b = IndexBuilder::new();
    b.serial(2);
    for n in 3..13 {
        let status = if n == 5 {
            Status::Tracked
        } else {
            Status::Blocked
        };
        b.add(Rule::imei(imei(n), Entry::new(status)));
    }
    b.build_to_file(&path).unwrap();
    let p = publish(&path, &target).unwrap();
    assert_eq!((p.added, p.changed, p.removed), (3, 1, 3));
    assert_eq!((p.serial, p.replaced), (2, Some((1, 10))));
    let old = p.replaced_counts.unwrap();
    assert_eq!(old.get(RuleKind::Imei, Status::Blocked), 10);
    assert_eq!(p.counts.get(RuleKind::Imei, Status::Tracked), 1);
    assert_eq!(p.forced, None);
}

#[test]
fn the_removal_share_is_exact_clamped_and_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = d.join("current.imeiidx");
    publish(full(d, "old", 1, 0..10), &target).unwrap();
    // Same count, 6 of 10 swapped.
    let swapped = full(d, "swapped", 2, (0..4).chain(100..106));
    let want = |share| Refusal::RemovesTooMany {
        removed: 6,
        of: 10,
        allowed_share: share,
    };
    refused(&PublishOptions::new(), &swapped, &target, &want(0.5));
    refused(
        PublishOptions::new().max_removed_share(f64::NAN),
        &swapped,
        &target,
        &want(0.0),
    );
    refused(
        PublishOptions::new().max_removed_share(-3.0),
        &swapped,
        &target,
        &want(0.0),
    );
    let p = PublishOptions::new()
        .max_removed_share(7.0)
        .publish(&swapped, &target)
        .unwrap();
    assert_eq!((p.removed, p.forced), (6, None));
    // Exactly the share is allowed: 5 of 10.
    let half = full(d, "half", 3, (0..4).chain([100]));
    let p = publish(&half, &target).unwrap();
    assert_eq!(p.removed, 5);
    no_temporaries(d);
}

#[test]
fn serials_may_not_go_back_unless_unset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = d.join("current.imeiidx");
    publish(full(d, "v9", 9, 0..10), &target).unwrap();
    let v8 = full(d, "v8", 8, 0..10);
    refused(
        &PublishOptions::new(),
        &v8,
        &target,
        &Refusal::SerialGoesBack { from: 9, to: 8 },
    );
    publish(full(d, "v9again", 9, 0..10), &target).unwrap();
    publish(full(d, "v0", 0, 0..10), &target).unwrap();
    publish(&v8, &target).unwrap();
    let p = PublishOptions::new()
        .force(true)
        .publish(full(d, "v7", 7, 0..10), &target)
        .unwrap();
    assert_eq!(p.forced, Some(Refusal::SerialGoesBack { from: 8, to: 7 }));
}

#[test]
fn deltas_are_guarded_as_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let deltas = d.join("deltas.imeiidx");
    // A delta that only removes is not empty; its removals are its tombstones, not compared
    // with the delta it replaces.
    let p = publish(delta(d, "d1", 2, &[], &[1, 2, 3]), &deltas).unwrap();
    assert_eq!((p.delta, p.rules, p.added, p.removed), (true, 0, 0, 3));
    let p = publish(delta(d, "d2", 3, &[20], &[]), &deltas).unwrap();
    assert_eq!((p.added, p.removed, p.replaced), (1, 0, Some((2, 0))));
    // A delta that changes nothing is empty; an older one goes back.
    refused(
        &PublishOptions::new(),
        &delta(d, "d3", 4, &[], &[]),
        &deltas,
        &Refusal::Empty,
    );
    refused(
        &PublishOptions::new(),
        &delta(d, "d4", 2, &[21], &[]),
        &deltas,
        &Refusal::SerialGoesBack { from: 3, to: 2 },
    );
    // A full index over a delta, and a delta over a full index.
    let full_index = full(d, "full", 5, 0..10);
    refused(
        &PublishOptions::new(),
        &full_index,
        &deltas,
        &Refusal::KindChanges { delta: false },
    );
    let current = d.join("current.imeiidx");
    publish(&full_index, &current).unwrap();
    let d5 = delta(d, "d5", 6, &[30], &[]);
    refused(
        &PublishOptions::new(),
        &d5,
        &current,
        &Refusal::KindChanges { delta: true },
    );
    let p = PublishOptions::new()
        .force(true)
        .publish(&d5, &current)
        .unwrap();
    assert_eq!(p.forced, Some(Refusal::KindChanges { delta: true }));
    no_temporaries(d);
}

#[test]
fn an_unreadable_target_is_replaced_by_any_index_with_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let target = d.join("current.imeiidx");
    fs::write(&target, b"not an index").unwrap();
    let p = publish(full(d, "v1", 1, 0..3), &target).unwrap();
    assert_eq!((p.replaced, p.added), (None, 3));
    // An empty index is refused even there.
    fs::write(&target, b"not an index").unwrap();
    refused(
        &PublishOptions::new(),
        &full(d, "empty", 2, []),
        &target,
        &Refusal::Empty,
    );
}

#[test]
fn an_atomic_file_replaces_its_target_only_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("list.csv");
    fs::write(&target, "old").unwrap();
    let mut f = AtomicFile::create(&target).unwrap();
    assert_eq!(f.target(), target);
    let name = f
        .temp_path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(".list.csv.") && name.ends_with(".imeiidx.tmp"),
        "{name}"
    );
    assert_eq!(f.temp_path().parent(), target.parent());
    std::io::Write::write_all(&mut f, b"new").unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"old");
    f.commit().unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"new");
    no_temporaries(dir.path());
    // A bare file name is created in the current directory; a directory is refused.
    let e = AtomicFile::create(dir.path().join("..")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
