//! Every input the fuzzers keep, run through the code each fuzz target runs, in plain
//! `cargo test`: the minimised inputs that once crashed a target (`fuzz/regressions/TARGET/`)
//! and the small seed corpus (`fuzz/seeds/TARGET/`). See docs/fuzzing.md.
//!
//! The targets' code is `fuzz/src/lib.rs`, included here as it is, so that a regression
//! runs exactly what the fuzzer ran, without libFuzzer.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn run_all(kind: &str) -> usize {
    let mut n = 0;
    for (target, run) in harness::TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap();
            // A panic names the input, to reproduce with
            // `cargo fuzz run TARGET fuzz/KIND/TARGET/FILE`.
            eprintln!("{target}: {}", path.display());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn minimised_crashes_no_longer_crash() {
    run_all("regressions");
}

#[test]
fn the_seed_corpus_runs_clean() {
    let n = run_all("seeds");
    assert!(
        n >= harness::TARGETS.len(),
        "every target has seeds: found {n} files"
    );
}

#[test]
fn resigning_makes_a_changed_file_pass_its_checksums() {
    // The harness's re-signing is what lets the fuzzer past the checksums: a changed byte,
    // re-signed, must open at the default level.
    let index = harness::base_index();
    let mut bytes = index.as_bytes().to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    assert!(imei_index::Index::from_bytes(bytes.clone().into()).is_err());
    harness::resign(&mut bytes);
    // Opening may still fail on the changed contents, but not on a checksum.
    if let Err(e) = imei_index::Index::from_bytes(bytes.into()) {
        assert!(!e.to_string().contains("checksum"), "{e}");
    }
}

/// Writes the seed corpus: `cargo test --test fuzz_regressions -- --ignored write_seeds`.
/// Seeds are small valid inputs of each target, so that the fuzzers start from files and
/// messages that go deep, not from nothing.
#[test]
#[ignore]
fn write_seeds() {
    use imei_index::{DeltaBuilder, Entry, IndexBuilder, Status};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let rules = harness::base_rules();
    for (name, filter_bits) in [("filtered", 8), ("unfiltered", 0)] {
        let mut b = IndexBuilder::new();
        b.filter_bits(filter_bits);
        for r in &rules {
            b.add(r.clone());
        }
        let (bytes, _) = b.build_to_vec().unwrap();
        for (level, flag) in [("trusted", 0u8), ("checksums", 1), ("full", 2)] {
            write(
                "index_bytes",
                &format!("{name}-{level}"),
                &[&[flag][..], &bytes].concat(),
            );
        }
    }
    // An index with a TAC database, for the policy's paths.
    let tacdb = b"TAC|Marketing Name|Internal Model Name|Manufacturer|Bands|Allocation Date|Country Code|Fixed Code|Manufacturer Code|Radio Interface|Brand Name|Model Name|Operating System|NFC|Bluetooth|WLAN|Device Type\n\
        35209900|Galaxy S23|SM-S911B|Samsung Korea|GSM 900,LTE|01-Feb-2023|410|N|SM|LTE|Samsung|SM-S911B|Android|Y|Y|Y|Smartphone\n\
        35417803|iPhone 15|A3090|Apple Inc|GSM 900|12-Sep-2023|310|N|AP|NR|Apple|A3090|iOS|Y|Y|Y|Smartphone\n\
        49015420|\"Nokia | 105\"|TA-1203|HMD Global|GSM 900||246|N|HM|GSM|Nokia|TA-1203|S30+|N|N|N|Feature phone\n";
    let mut table = imei_index::TacTable::new();
    imei_index::list::tacdb::read_into(
        &mut table,
        imei_index::list::tacdb::Reader::new("tacdb.txt", &tacdb[..]),
        Err,
    )
    .unwrap();
    let mut b = IndexBuilder::new();
    for r in &rules {
        b.add(r.clone());
    }
    b.tac_db(table);
    let (bytes, _) = b.build_to_vec().unwrap();
    for (level, flag) in [("checksums", 1u8), ("full", 2)] {
        write(
            "index_bytes",
            &format!("tac-db-{level}"),
            &[&[flag][..], &bytes].concat(),
        );
    }
    write("tacdb_rows", "current.txt", tacdb);
    write(
        "tacdb_rows",
        "old.txt",
        b"tac|manufacturer|model_name|bands|allocation_date|device_type|optional_fields\n\
          35209900|Acme|R3|GSM|01-Jan-2001|Handheld|a|b\n3520990|Acme|R4|GSM||Handheld\n",
    );
    let imei = imei_index::Imei::parse("35209900176149").unwrap();
    let mut d = DeltaBuilder::new();
    d.base_serial(7).serial(8);
    d.add(imei_index::Change::Add(imei_index::Rule::imei(
        imei_index::Imei::parse("490154203237518").unwrap(),
        Entry::new(Status::Blocked),
    )));
    d.add(imei_index::Change::Remove(
        imei_index::Target::Imei(imei),
        imei_index::Source::local(),
        None,
    ));
    d.add(imei_index::Change::Add(
        imei_index::Rule::range(
            imei_index::Imei::parse("35209900150000").unwrap(),
            imei_index::Imei::parse("35209900150050").unwrap(),
            Entry::new(Status::Allowed),
        )
        .unwrap(),
    ));
    let (bytes, _) = d.build_to_vec().unwrap();
    write("delta_apply", "delta", &[&[0u8][..], &bytes].concat());
    write(
        "list_rows",
        "list.csv",
        b"imei,status,reason,imsi,date\n35209900,blocked,counterfeit,,\n\
          35-209900-176148-1,allowed,,404685505601234,2024-05-21\n\
          35209900100000-35209900199999,tracked,duplicate,,\n354178036859789,blocked,stolen,,2024-01-02\n",
    );
    write(
        "delta_rows",
        "delta.csv",
        b"add,35209900176148,blocked,stolen\nremove,35209900176148\nadd,35209900,tracked\n\
          change,35209900100000-35209900199999,allowed\nremove,352099001761481,404685505601234\n",
    );
    for (i, s) in [
        "35-209900-176148-1",
        "imei-352099001761481",
        "imeisv-3520990017614823",
        "404685505601234",
        "35209900",
        "mac-00-11-22-33-44-55",
    ]
    .iter()
    .enumerate()
    {
        write("identifiers", &format!("id-{i}"), s.as_bytes());
    }
    write("s13_messages", "cer-ecr", &s13_seed());
    // A register's lists: byte 0 picks the name (harness::DIRBS_NAMES).
    for (pick, name, csv) in [
        (
            1u8,
            "blacklist",
            &b"imei,block_date,reasons\r\n35209900176148,20240501,stolen|Duplicate IMEI detected\r\n\
               354178036859789,20240601,\"Stolen, reported by police\"\r\n"[..],
        ),
        (
            2,
            "notifications",
            b"imei,imsi,msisdn,block_date,reasons,amnesty_granted\n\
              35209900176148,404685505601234,919876543210,20240610,not_registered,False\n\
              35209900176148,404685505601235,,20240615,duplicate|stolen,True\n",
        ),
        (
            3,
            "exceptions",
            b"imei,imsi,msisdn\n35209900176148,404685505601234,919876543210\n",
        ),
        (0, "unnamed", b"IMEI,IMSI,MSISDN\n49015420323751,404685505601235,\n"),
        (
            4,
            "blacklist-delta",
            b"imei,block_date,reasons\n35417803685978,20240602,stolen\n",
        ),
        (
            5,
            "notifications-delta",
            b"imei,imsi,msisdn,block_date,reasons\n\
              35417803685978,404685505601234,919876543210,20240620,not_registered\n",
        ),
        (
            6,
            "exceptions-delta",
            b"imei,imsi,msisdn\n49015420323751,404685505601235,919876543211\n",
        ),
    ] {
        write("dirbs_rows", name, &[&[pick][..], csv].concat());
    }
}

/// A Capabilities-Exchange-Request followed by an ME-Identity-Check-Request, as an MME
/// sends them.
fn s13_seed() -> Vec<u8> {
    fn avp(code: u32, vendor: Option<u32>, data: &[u8]) -> Vec<u8> {
        let mut flags = 0x40u8;
        let mut head = 8;
        if vendor.is_some() {
            flags |= 0x80;
            head = 12;
        }
        let len = (head + data.len()) as u32;
        let mut b = code.to_be_bytes().to_vec();
        b.push(flags);
        b.extend_from_slice(&len.to_be_bytes()[1..]);
        if let Some(v) = vendor {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(data);
        b.resize(b.len().next_multiple_of(4), 0);
        b
    }
    fn message(code: u32, app: u32, avps: &[u8]) -> Vec<u8> {
        let len = (20 + avps.len()) as u32;
        let mut b = vec![1];
        b.extend_from_slice(&len.to_be_bytes()[1..]);
        b.push(0x80);
        b.extend_from_slice(&code.to_be_bytes()[1..]);
        b.extend_from_slice(&app.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(avps);
        b
    }
    const VENDOR_3GPP: u32 = 10415;
    let mut cer = Vec::new();
    cer.extend(avp(264, None, b"mme.example"));
    cer.extend(avp(296, None, b"example"));
    cer.extend(avp(257, None, &[0, 1, 127, 0, 0, 1]));
    cer.extend(avp(266, None, &0u32.to_be_bytes()));
    cer.extend(avp(269, None, b"mme"));
    cer.extend(avp(258, None, &16777252u32.to_be_bytes()));
    let mut ecr = Vec::new();
    ecr.extend(avp(263, None, b"mme.example;1;1"));
    ecr.extend(avp(277, None, &1u32.to_be_bytes()));
    ecr.extend(avp(264, None, b"mme.example"));
    ecr.extend(avp(296, None, b"example"));
    ecr.extend(avp(283, None, b"eir.example"));
    let terminal = avp(1402, Some(VENDOR_3GPP), b"35209900176148");
    ecr.extend(avp(1401, Some(VENDOR_3GPP), &terminal));
    ecr.extend(avp(1, None, b"404685505601234"));
    [message(257, 0, &cer), message(324, 16777252, &ecr)].concat()
}
