//! Time to the first answer: opening an index file and checking one IMEI, against loading
//! the same list into a `HashSet<u64>`, which every process must do again at start.
//!
//! `cargo bench --bench open`; sizes 2M and 20M by default (see `benches/common`). "cold"
//! evicts the index file from the page cache before each open (`posix_fadvise`), as after a
//! reboot or a new list; "warm" finds it there, as a second worker process does.

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use common::{Lists, label};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use imei_index::{DEFAULT_FILTER_BITS, Imei, OpenOptions, Verification};

/// Drops a file's pages from the page cache.
fn evict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let f = File::open(path).expect("opening the file to evict");
        // SAFETY: a valid, open descriptor; the call only advises the kernel.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise failed");
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The list as 8-byte integers: the most favourable file a `HashSet` could load from.
fn write_raw(listed: &[Imei], path: &Path) {
    let mut w = BufWriter::new(File::create(path).expect("creating the raw list"));
    for i in listed {
        w.write_all(&i.as_u64().to_le_bytes()).expect("writing");
    }
    w.flush().expect("writing");
}

fn load_hash_set(path: &Path) -> std::collections::HashSet<u64> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path).expect("opening"));
    let mut set = std::collections::HashSet::new();
    let mut buf = [0u8; 8];
    while r.read_exact(&mut buf).is_ok() {
        set.insert(u64::from_le_bytes(buf));
    }
    set
}

fn first_answer(c: &mut Criterion) {
    for n in common::sizes(&[2_000_000, 20_000_000]) {
        let lists = Lists::new(n);
        let dir = common::bench_dir();
        let (index, path) = common::index_file(&lists.listed, dir.path(), DEFAULT_FILTER_BITS);
        drop(index);
        let raw = dir.path().join("list.u64");
        write_raw(&lists.listed, &raw);
        let probe = lists.realistic[0];

        let mut g = c.benchmark_group(format!("first-answer/{}", label(n)));
        g.sample_size(20);
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(2));
        let open = |options: &mut OpenOptions| {
            let index = options.open(&path).expect("opening the index");
            black_box(index.check(probe))
        };
        let trusted = || {
            let mut o = OpenOptions::new();
            o.verification(Verification::Trusted);
            o
        };
        g.bench_function("index-trusted-warm", |b| b.iter(|| open(&mut trusted())));
        g.bench_function("index-trusted-cold", |b| {
            b.iter_batched(
                || evict(&path),
                |()| open(&mut trusted()),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("index-trusted-advise-random-cold", |b| {
            b.iter_batched(
                || evict(&path),
                |()| open(trusted().advise_random(true)),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("index-trusted-populate-cold", |b| {
            b.iter_batched(
                || evict(&path),
                |()| open(trusted().populate(true)),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("index-checksums-warm", |b| {
            b.iter(|| open(OpenOptions::new().verification(Verification::Checksums)))
        });
        g.sample_size(10);
        g.bench_function("hashset-load-warm", |b| {
            b.iter(|| black_box(load_hash_set(&raw).contains(&probe.as_u64())))
        });
        g.finish();

        // After a cold open, the first checks fault pages in one by one; with `populate`
        // they were read at open (`lock` implies that too); `advise_random` stops the
        // kernel from reading ahead around each faulted page. The first 1,000 checks after
        // each kind of open (the open itself is not timed):
        let mut g = c.benchmark_group(format!("first-1000-checks-after-cold-open/{}", label(n)));
        g.sample_size(10);
        for (name, populate, advise_random, lock) in [
            ("lazy", false, false, false),
            ("advise-random", false, true, false),
            ("populated", true, false, false),
            ("locked", false, false, true),
        ] {
            g.bench_function(name, |b| {
                b.iter_batched(
                    || {
                        evict(&path);
                        OpenOptions::new()
                            .verification(Verification::Trusted)
                            .populate(populate)
                            .advise_random(advise_random)
                            .lock(lock)
                            .open(&path)
                            .expect("opening the index (locking needs RLIMIT_MEMLOCK)")
                    },
                    |index| {
                        lists.realistic[..1000]
                            .iter()
                            .filter(|&&i| index.check(i).is_listed())
                            .count()
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(benches, first_answer);
criterion_main!(benches);
