//! Hot reload under load: readers check continuously while a writer publishes versions,
//! good and corrupt, and every answer must be one a published version gives.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use imei_index::synth::Rng;
use imei_index::{
    Date, Entry, Imei, Index, IndexBuilder, LiveIndex, Reason, Rule, Status, Verdict, publish,
};

const VERSIONS: u64 = 10;
const POOL: u64 = 300;

/// The handset whose date names the version that answered.
fn marker() -> Imei {
    Imei::from_u64(35_000_000_000_000).unwrap()
}

fn pool(i: u64) -> Imei {
    Imei::from_u64(86_000_001_000_000 + i * 7).unwrap()
}

/// Version `k`: the marker dated day `k`, and a seeded random part of the pool listed.
fn version(k: u64) -> Vec<u8> {
    let mut rng = Rng::new(k);
    let mut b = IndexBuilder::new();
    b.serial(k);
    let day = Date::from_days_since_epoch(k as u32).unwrap();
    b.add(Rule::imei(
        marker(),
        Entry::new(Status::Blocked).with_date(day),
    ));
    for i in 0..POOL {
        if rng.chance(0.4) {
            let status = Status::ALL[rng.below(3) as usize];
            let e = Entry::new(status).with_reason(Reason::ALL[rng.below(6) as usize]);
            b.add(Rule::imei(pool(i), e));
        }
    }
    if k.is_multiple_of(3) {
        let first = pool(POOL / 2);
        let last = pool(POOL / 2 + 20);
        b.add(Rule::range(first, last, Entry::new(Status::Tracked)).unwrap());
    }
    b.build_to_vec().unwrap().0
}

fn probes() -> Vec<Imei> {
    (0..POOL + 5).map(pool).chain([marker()]).collect()
}

/// The verdicts of every version for every probe: `expected[k][p]`.
fn expectations(versions: &[Vec<u8>]) -> Vec<Vec<Verdict>> {
    versions
        .iter()
        .map(|b| {
            let index = Index::from_bytes(b.clone().into()).unwrap();
            index.check_many(&probes())
        })
        .collect()
}

fn version_of(v: Verdict) -> u64 {
    u64::from(
        v.date()
            .expect("the marker is always dated")
            .days_since_epoch(),
    )
}

/// Writes `bytes` beside `target` and renames them over it, without verifying: what a
/// careless publisher might do.
fn rename_into_place(bytes: &[u8], target: &Path) {
    let temp = target.with_extension("careless");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, target).unwrap();
}

/// Corrupt files of every kind a careless publisher could put in place.
fn corruptions(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut flipped = good.to_vec();
    let at = flipped.len() - 9;
    flipped[at] ^= 0x40;
    vec![
        ("empty", Vec::new()),
        ("garbage", b"imei,status\n35209900,blocked\n".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("a flipped bit", flipped),
    ]
}

/// Reader threads that check continuously, asserting that each answer is one that some
/// published version gives, that a snapshot answers exactly as its version, and that
/// versions never go back. Returns the checks each made.
fn with_readers(live: &LiveIndex, expected: &[Vec<Verdict>], write: impl FnOnce()) -> Vec<u64> {
    let probes = probes();
    let allowed: Vec<HashSet<Verdict>> = (0..probes.len())
        .map(|p| expected.iter().map(|v| v[p]).collect())
        .collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|r| {
                let (live, probes, allowed, stop) = (live.clone(), &probes, &allowed, &stop);
                s.spawn(move || {
                    let mut checks = 0u64;
                    let mut seen = 0u64;
                    let mut p = r * 37;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            p = (p + 1) % probes.len();
                            let v = live.check(probes[p]);
                            assert!(allowed[p].contains(&v), "{} answered {v:?}", probes[p]);
                            checks += 1;
                        }
                        let k = version_of(live.check(marker()));
                        assert!(k >= seen, "went back from version {seen} to {k}");
                        seen = k;
                        let snapshot = live.current();
                        let k = snapshot.serial() as usize;
                        for (i, &imei) in probes.iter().enumerate().step_by(13) {
                            assert_eq!(snapshot.check(imei), expected[k][i]);
                        }
                    }
                    checks
                })
            })
            .collect();
        // Stop the readers even when the writer's assertions fail, so that a failure
        // fails the test instead of hanging it.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let guard = Stop(&stop);
        write();
        drop(guard);
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

#[test]
fn readers_see_whole_versions_while_reloads_and_refusals_happen() {
    let dir = tempfile::tempdir().unwrap();
    let (staged, target) = (
        dir.path().join("staged"),
        dir.path().join("current.imeiidx"),
    );
    let versions: Vec<Vec<u8>> = (0..VERSIONS).map(version).collect();
    let expected = expectations(&versions);
    std::fs::write(&staged, &versions[0]).unwrap();
    publish(&staged, &target).unwrap();
    let live = LiveIndex::open(&target).unwrap();

    let checks = with_readers(&live, &expected, || {
        for (k, good) in versions.iter().enumerate().skip(1) {
            // A corrupt source is refused by publish: the target is not touched.
            let (what, bad) = &corruptions(good)[k % 4];
            std::fs::write(&staged, bad).unwrap();
            assert!(publish(&staged, &target).is_err(), "publish took {what}");
            assert!(live.reload_if_changed().unwrap().is_none());

            // Corrupt files renamed into place are refused by reload; service goes on.
            for (what, bad) in corruptions(good) {
                rename_into_place(&bad, &target);
                assert!(live.reload().is_err(), "reload took {what}");
                assert_eq!(live.serial(), k as u64 - 1);
            }
            std::fs::remove_file(&target).unwrap();
            assert!(live.reload().is_err(), "reload of a missing file");

            std::fs::write(&staged, good).unwrap();
            let p = publish(&staged, &target).unwrap();
            assert_eq!((p.serial, p.replaced), (k as u64, None));
            let r = live.reload().unwrap();
            assert_eq!((r.old.serial, r.new.serial), (k as u64 - 1, k as u64));
            let rules = Index::from_bytes(versions[k].clone().into())
                .unwrap()
                .stats()
                .rules();
            assert_eq!(r.new.rules, rules);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert!(
        checks.iter().all(|&c| c > 0),
        "every reader checked: {checks:?}"
    );
    assert_eq!(live.serial(), VERSIONS - 1);
}

#[test]
fn a_watcher_picks_up_publishes_and_reports_refusals_once() {
    let dir = tempfile::tempdir().unwrap();
    let (staged, target) = (
        dir.path().join("staged"),
        dir.path().join("current.imeiidx"),
    );
    let versions: Vec<Vec<u8>> = (0..4).map(version).collect();
    let expected = expectations(&versions);
    std::fs::write(&staged, &versions[0]).unwrap();
    publish(&staged, &target).unwrap();
    let live = LiveIndex::open(&target).unwrap();
    let (tx, rx) = mpsc::channel();
    let watcher = live
        .watch(Duration::from_millis(2), move |outcome| {
            tx.send(outcome.map(|r| r.new.serial).map_err(|e| e.to_string()))
                .unwrap();
        })
        .unwrap();
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the watcher reported")
    };

    with_readers(&live, &expected, || {
        for k in 1..4u64 {
            rename_into_place(b"not an index", &target);
            assert!(next().is_err());
            std::fs::write(&staged, &versions[k as usize]).unwrap();
            publish(&staged, &target).unwrap();
            assert_eq!(next(), Ok(k));
            assert_eq!(live.serial(), k);
        }
    });
    // The refused file was reported once, not at every poll, and counted once each time.
    std::thread::sleep(Duration::from_millis(20));
    assert!(rx.try_recv().is_err());
    assert_eq!(live.refused(), 3);
    assert!(live.last_refusal().is_none(), "the last reload succeeded");
    let started = Instant::now();
    watcher.stop();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stop does not wait a poll"
    );
}

#[test]
fn refused_reloads_are_counted_and_reported_until_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("current.imeiidx");
    let good = version(1);
    rename_into_place(&good, &target);
    let live = LiveIndex::open(&target).unwrap();
    assert_eq!((live.refused(), live.last_refusal()), (0, None));
    for (n, (what, bad)) in corruptions(&good).into_iter().enumerate() {
        rename_into_place(&bad, &target);
        assert!(live.reload().is_err(), "{what}");
        let r = live.last_refusal().expect("a refusal is reported");
        assert_eq!((live.refused(), r.number), (n as u64 + 1, n as u64 + 1));
        assert!(
            r.message.contains("current.imeiidx"),
            "{what}: {}",
            r.message
        );
        // Checks go on against the last good index; the report says it is stale.
        assert_eq!(live.serial(), 1);
    }
    let refused = live.refused();
    // reload_if_changed refuses a file once, and counts it once.
    rename_into_place(b"not an index", &target);
    assert!(live.reload_if_changed().is_err());
    assert_eq!(live.reload_if_changed().unwrap(), None);
    assert_eq!(live.refused(), refused + 1);
    assert!(live.last_refusal().unwrap().format.is_some());
    rename_into_place(&version(2), &target);
    live.reload().unwrap();
    assert_eq!((live.serial(), live.last_refusal()), (2, None));
    assert_eq!(live.refused(), refused + 1, "the count is a total");
}
