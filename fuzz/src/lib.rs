//! What each fuzz target runs, as plain functions: the targets in `fuzz_targets/` call
//! them under libFuzzer, and `tests/fuzz_regressions.rs` (in the root package, which
//! includes this file) runs them on every kept input in plain `cargo test`.
//!
//! Each function takes the fuzzer's bytes, must never panic, and asserts what the library
//! promises beyond that (a file that passes full verification answers as its rules say;
//! whatever the builders write passes full verification), so that a broken promise is a
//! crash the fuzzer reports.
//!
//! Depends on `imei-index` (features `s13`), `bytes` and `crc32fast` only.

use std::collections::HashSet;

use bytes::Bytes;
use imei_index::list::dirbs::{self, FileName, ListKind};
use imei_index::list::{DeltaReader, ListReader, tacdb};
use imei_index::register::{DeltaImport, Import, RegisterOptions};
use imei_index::{
    Apply, Date, Delta, DeltaBuilder, Entry, Imei, Imsi, Index, IndexBuilder, LayeredIndex,
    OpenOptions, Rule, RuleKind, Status, Tac, TacPolicy, TacTable, Target, Verification,
};

/// Rules iterated from a file that did not pass full verification (which may encode far
/// more keys than it has bytes); enough to reach every kind.
const RULES_CAP: usize = 20_000;
/// Rules of a verified file whose answers are checked one by one.
const ORACLE_CAP: usize = 2_000;

// ---------------------------------------------------------------------------------------
// Re-signing: a fuzzer that flips bytes of an index almost always breaks a checksum, and
// then explores nothing past it. These helpers fix the checksums and the length up, as an
// honest writer would, so that the fuzzer reaches the sections' contents. The layout is
// the one in src/format/mod.rs, written independently of the crate (as in tests/corrupt.rs).
// ---------------------------------------------------------------------------------------

const FIXED_HEADER: usize = 136;
const ROW: usize = 24;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Sets the file length field to the bytes' length, then recomputes every section
/// checksum and the header checksum, where the section table can be read. Bytes that are
/// too short for a header are left alone.
pub fn resign(b: &mut [u8]) {
    if b.len() < FIXED_HEADER {
        return;
    }
    let len = b.len() as u64;
    b[16..24].copy_from_slice(&len.to_le_bytes());
    let Some(n) = u32_at(b, 128).map(|n| n as usize).filter(|&n| n <= 1024) else {
        return;
    };
    let crc_at = FIXED_HEADER + ROW * n;
    if crc_at + 4 > b.len() {
        return;
    }
    for i in 0..n {
        let at = FIXED_HEADER + ROW * i;
        let (Some(offset), Some(slen)) = (u64_at(b, at + 8), u64_at(b, at + 16)) else {
            continue;
        };
        let span = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(slen).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?));
        if let Some(crc) = span.and_then(|s| b.get(s)).map(crc32fast::hash) {
            b[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&b[..crc_at]);
    b[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// The verification level a fuzz input's first byte selects.
fn level(b: u8) -> Verification {
    match b % 3 {
        0 => Verification::Trusted,
        1 => Verification::Checksums,
        _ => Verification::Full,
    }
}

// ---------------------------------------------------------------------------------------
// Probes and a small base index.
// ---------------------------------------------------------------------------------------

/// IMEIs to check: the edges of the space, and IMEIs read from the input's bytes (so that
/// the fuzzer can aim at keys it put in the file).
fn probes(data: &[u8]) -> Vec<Imei> {
    let mut out = vec![Imei::MIN, Imei::MAX];
    for c in data.chunks(6).take(64) {
        let mut n = [0u8; 8];
        n[8 - c.len()..].copy_from_slice(c);
        out.push(
            Imei::from_u64(u64::from_be_bytes(n) % (Imei::MAX.as_u64() + 1)).unwrap_or(Imei::MIN),
        );
    }
    out
}

fn imsis() -> Vec<Imsi> {
    ["00101", "404685505601234", "999999999999999"]
        .iter()
        .filter_map(|s| Imsi::parse(s).ok())
        .collect()
}

fn imei(s: &str) -> Imei {
    Imei::parse(s).expect("a valid IMEI")
}

/// The rules of the base index that the delta targets layer and apply deltas over.
pub fn base_rules() -> Vec<Rule> {
    let blocked = Entry::new(Status::Blocked);
    let tracked = Entry::new(Status::Tracked);
    let a = imei("35209900100000");
    let b = imei("35209900199999");
    let mut rules = vec![
        Rule::imei(imei("354178036859789"), blocked.clone()),
        Rule::imei(imei("35209900176149"), Entry::new(Status::Allowed)),
        Rule::tac(Tac::parse("35209900").expect("a TAC"), tracked.clone()),
        Rule::pair(
            imei("352099001761481"),
            imsis()[1],
            Entry::new(Status::Allowed),
        ),
    ];
    rules.extend(Rule::range(a, b, tracked));
    rules.extend(Rule::range(
        imei("35209900150000"),
        imei("35209900150099"),
        blocked,
    ));
    rules
}

/// The base index of the delta and S13 targets, built once per process.
pub fn base_index() -> Index {
    static BASE: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    BASE.get_or_init(build_base).clone()
}

fn build_base() -> Index {
    let mut b = IndexBuilder::new();
    b.serial(7);
    for r in base_rules() {
        b.add(r);
    }
    let (bytes, _) = b.build_to_vec().expect("the base builds");
    Index::from_bytes(bytes.into()).expect("the base opens")
}

/// Opens what a writer (`the builder`, `Apply`) wrote with full verification, which it must
/// pass.
fn passes_full(bytes: Vec<u8>, writer: &str) -> Index {
    OpenOptions::new()
        .verification(Verification::Full)
        .open_bytes(bytes.into())
        .unwrap_or_else(|e| panic!("what {writer} writes passes full verification: {e}"))
}

// ---------------------------------------------------------------------------------------
// The targets.
// ---------------------------------------------------------------------------------------

/// `index_bytes`: byte 0 picks the verification level (and whether to re-sign), the rest
/// is an index file. Opens it, then uses every read path: check, check_with_imsi,
/// check_many, stats, rules(). A file that passes full verification must answer as its
/// rules say.
pub fn index_bytes(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    // Re-sign most inputs, so that the fuzzer gets past the checksums; leave some as they
    // are, so that checksum and header failures are explored too.
    if flags & 0x80 == 0 {
        resign(&mut file);
    }
    let level = level(flags);
    let Ok(index) = OpenOptions::new()
        .verification(level)
        .open_bytes(Bytes::from(file.clone()))
    else {
        return;
    };
    let imeis = probes(&file);
    let imsis = imsis();
    for &i in &imeis {
        let v = index.check(i);
        for s in &imsis {
            let _ = index.check_with_imsi(i, s);
        }
        let _ = v.status();
    }
    let many = index.check_many(&imeis);
    let one_by_one: Vec<_> = imeis.iter().map(|&i| index.check(i)).collect();
    assert_eq!(many, one_by_one, "check_many differs from check");
    let stats = index.stats();
    if level == Verification::Full {
        assert_answers_as_its_rules_say(&index);
    } else {
        let _ = index.rules().take(RULES_CAP).count();
    }
    let _ = stats.rules();
    tac_db_and_policy(&index, &file, level, &imeis);
}

/// With a TAC database: the policy's answers (the same bytes opened with it) differ from
/// the plain ones only where no rule applies, `check_many` agrees with `check`, and in a
/// verified file every listed TAC is found, with its row, and is never "not in the TAC
/// database".
fn tac_db_and_policy(index: &Index, file: &[u8], level: Verification, imeis: &[Imei]) {
    let Some(n) = index.tac_db_len() else {
        return;
    };
    let Ok(with) = OpenOptions::new()
        .verification(level)
        .tac_policy(
            TacPolicy::new(Status::Tracked).allocated_after(Date::at_unix_seconds(19_000 * 86_400)),
        )
        .open_bytes(Bytes::from(file.to_vec()))
    else {
        panic!("a file that opens without the policy opens with it");
    };
    for &i in imeis {
        let (plain, v) = (index.check(i), with.check(i));
        if plain.is_listed() {
            assert_eq!(plain, v, "the policy changed an explicit rule's verdict");
        } else if v.is_listed() {
            assert!(
                v.policy().is_some(),
                "a verdict where no rule applies is the policy's"
            );
        }
        let _ = with.device(i.tac()).map(|d| (d.model.len(), d.allocated));
    }
    let many = with.check_many(imeis);
    let one_by_one: Vec<_> = imeis.iter().map(|&i| with.check(i)).collect();
    assert_eq!(
        many, one_by_one,
        "check_many differs from check with the policy"
    );
    let listed: Vec<_> = with
        .devices()
        .take(RULES_CAP)
        .map(|d| (d.tac, d.model.to_string()))
        .collect();
    if level == Verification::Full {
        assert_eq!(
            listed.len(),
            n.min(RULES_CAP),
            "a verified table lists its TACs"
        );
        for (tac, model) in &listed {
            assert_eq!(
                with.device(*tac).map(|d| d.model.to_string()).as_ref(),
                Some(model)
            );
            let probe = tac.first_imei();
            if !index.check(probe).is_listed() {
                assert_ne!(
                    with.check(probe).policy(),
                    Some(imei_index::PolicyReason::NotInDatabase),
                    "a listed TAC answered as not in the database"
                );
            }
        }
    }
}

/// `tacdb_rows`: the bytes as a TAC database file. Every row is accounted for, the table
/// builds into an index that passes full verification, and the index lists each TAC the
/// table holds, with its row.
pub fn tacdb_rows(data: &[u8]) {
    let mut table = TacTable::new();
    let reader = tacdb::Reader::new("fuzz.txt", data);
    let Ok(summary) = tacdb::read_into(&mut table, reader, |_| Ok(())) else {
        return;
    };
    assert_eq!(
        summary.rows,
        summary.stored + summary.duplicates + summary.rejected
    );
    assert_eq!(summary.stored, table.len() as u64);
    let mut b = IndexBuilder::new();
    b.tac_db(table.clone());
    let (bytes, _) = b.build_to_vec().expect("a table builds");
    let index = passes_full(bytes, "the builder");
    assert_eq!(index.tac_db_len(), Some(table.len()));
    for (tac, info) in table.iter().take(RULES_CAP) {
        let d = index.device(tac).expect("a stored TAC is found");
        assert_eq!(
            (d.manufacturer, d.brand, d.model, d.device_type, d.allocated),
            (
                info.manufacturer.as_str(),
                info.brand.as_str(),
                info.model.as_str(),
                info.device_type.as_str(),
                info.allocated
            )
        );
    }
}

/// The names a `dirbs_rows` input's first byte picks from: none (the header says which
/// list), each full list, and a delta of each, from the run that [`dirbs_base`] records.
const DIRBS_NAMES: [Option<&str>; 7] = [
    None,
    Some("20240601_020000_blacklist.csv"),
    Some("20240601_020000_notifications_op1.csv"),
    Some("20240601_020000_exceptions_op1.csv"),
    Some("20240602_020000_blacklist_delta_57_58_blocked.csv"),
    Some("20240602_020000_notifications_op1_delta_57_58_new.csv"),
    Some("20240602_020000_exceptions_op1_delta_57_58_removed.csv"),
];

/// A register's import of run 57: a blacklist and op1's notification and exception
/// lists, for `dirbs_rows`' deltas to apply to.
fn dirbs_base() -> Index {
    static BASE: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let mut b = IndexBuilder::new();
        let mut import = Import::new(RegisterOptions::new());
        for (name, csv) in [
            (
                "20240601_020000_blacklist.csv",
                "imei,block_date,reasons\n35209900176148,20240501,stolen\n",
            ),
            (
                "20240601_020000_notifications_op1.csv",
                "imei,imsi,msisdn,block_date,reasons\n\
                 35417803685978,404685505601234,919876543210,20240610,not_registered\n",
            ),
            (
                "20240601_020000_exceptions_op1.csv",
                "imei,imsi,msisdn\n49015420323751,404685505601235,919876543211\n",
            ),
        ] {
            let file = FileName::parse(name).expect("a register's name");
            import
                .add_file(&mut b, name, Some(&file), csv.as_bytes(), Err)
                .expect("the base's lists read");
        }
        import.finish(&mut b, Some(57), 0);
        let (bytes, _) = b.build_to_vec().expect("the base builds");
        Index::from_bytes(bytes.into()).expect("the base opens")
    })
    .clone()
}

/// `dirbs_rows`: byte 0 picks the file's name ([`DIRBS_NAMES`]), the rest is a national
/// register's list file. Every row reads as a row or a located error, and nothing follows a
/// fatal one; each row holds what its list's columns promise. A full list imports into an
/// index that passes full verification, with every row accounted for (a blacklist's as a
/// rule or a rejection, each blacklisted IMEI blocked from its block date); a delta
/// imports into deltas whose counts add up and that apply to the base.
pub fn dirbs_rows(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = DIRBS_NAMES[usize::from(pick) % DIRBS_NAMES.len()];
    let parsed = name.map(|n| FileName::parse(n).expect("a register's name"));
    let label = name.unwrap_or("fuzz.csv");

    // The reader alone.
    let mut reader = dirbs::Reader::new(label, file, parsed.as_ref().map(|f| f.list.kind()));
    let (mut rows, mut errors, mut fatal) = (Vec::new(), 0u64, false);
    let mut last_line = 0;
    for item in reader.by_ref().take(5_000) {
        assert!(!fatal, "an item after a fatal error");
        match item {
            Ok(row) => {
                assert!(row.line > last_line, "row lines go forward");
                last_line = row.line;
                assert!(row.reasons.windows(2).all(|w| w[0] < w[1]), "{row:?}");
                assert!(
                    row.reasons
                        .iter()
                        .all(|r| !r.is_empty() && r.trim() == r.as_str()),
                    "{row:?}"
                );
                rows.push(row);
            }
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1, "{e}");
                assert!(e.to_string().starts_with(label), "{e}");
                fatal = e.is_fatal();
                errors += 1;
            }
        }
    }
    if let (Some(kind), Some(row)) = (reader.kind(), rows.first()) {
        // What each list's columns promise, checked on its first row (all share a header).
        match kind {
            ListKind::Blacklist => assert!(row.block_date.is_some() && row.imsi.is_none()),
            ListKind::Notifications => assert!(row.block_date.is_some() && row.imsi.is_some()),
            ListKind::Exceptions => {
                assert!(row.block_date.is_none() && row.imsi.is_some() && row.reasons.is_empty())
            }
        }
    }
    if fatal || rows.len() + errors as usize >= 5_000 {
        return;
    }

    // The import of the same bytes.
    let options = RegisterOptions::new();
    match &parsed {
        Some(f) if f.is_delta() => {
            let base = dirbs_base();
            let mut import = DeltaImport::new(&base, options);
            if import.add_file(label, f, file, 0, |_| Ok(())).is_err() {
                return;
            }
            let (deltas, summary) = import.finish().expect("read rows build deltas");
            assert_eq!(summary.rows, rows.len() as u64 + errors);
            assert_eq!(
                summary.rows,
                summary.changes + summary.merged + summary.rejected
            );
            let (bytes, _) = Apply::new(&base, &deltas)
                .build_to_vec()
                .expect("an import's deltas apply to their base");
            passes_full(bytes, "Apply");
        }
        _ => {
            let mut b = IndexBuilder::new();
            let mut import = Import::new(options);
            let Ok(kind) = import.add_file(&mut b, label, parsed.as_ref(), file, |_| Ok(())) else {
                return;
            };
            import.finish(&mut b, Some(57), 0);
            let (bytes, summary) = b.build_to_vec().expect("imported rows build");
            let index = passes_full(bytes, "the builder");
            assert_eq!(
                summary.rows_read(),
                summary.rules_written + summary.merged + summary.rejected
            );
            assert!(summary.rows_read() <= rows.len() as u64 + errors);
            if kind == ListKind::Blacklist {
                assert_eq!(summary.rows_read(), rows.len() as u64 + errors);
                // Unless a row was rejected past the reader (its reasons), each is blocked.
                if summary.rejected == errors {
                    for row in rows.iter().take(ORACLE_CAP) {
                        let date = row.block_date.expect("a blacklist row's date");
                        let v = index.check_at(row.imei, date);
                        assert_eq!(v.status(), Some(Status::Blocked), "{row:?}");
                    }
                }
            }
        }
    }
}

/// What full verification promises: each rule of the file answers as itself (an exact
/// IMEI rule for its IMEI, a pair rule for its pair; a range or TAC rule, or something more
/// specific, inside its target), the rules' counts are the header's, and rebuilding the
/// rules gives the same rules.
fn assert_answers_as_its_rules_say(index: &Index) {
    let stats = index.stats();
    if stats.rules() > ORACLE_CAP as u64 {
        // Walking them all is the verifier's job; checked on small files only.
        return;
    }
    let rules: Vec<Rule> = index.rules().collect();
    assert_eq!(rules.len() as u64, stats.rules(), "rules() misses rules");
    let exact: HashSet<Imei> = rules
        .iter()
        .filter_map(|r| match r.target() {
            Target::Imei(i) => Some(i),
            _ => None,
        })
        .collect();
    for r in &rules {
        match r.target() {
            Target::Imei(i) => {
                let v = index.check(i);
                assert_eq!(
                    (v.rule(), v.status(), v.date(), index.reason_set(&v)),
                    (
                        Some(RuleKind::Imei),
                        Some(r.entry.status),
                        r.entry.date,
                        r.entry.reasons.clone()
                    ),
                    "{r:?}"
                );
            }
            Target::Pair(i, s) => {
                let v = index.check_with_imsi(i, &s);
                assert_eq!(
                    (v.rule(), v.status(), v.date(), index.reason_set(&v)),
                    (
                        Some(RuleKind::Pair),
                        Some(r.entry.status),
                        r.entry.date,
                        r.entry.reasons.clone()
                    ),
                    "{r:?}"
                );
            }
            Target::Range(a, b) => {
                for i in [a, b] {
                    let v = index.check(i);
                    let want = if exact.contains(&i) {
                        RuleKind::Imei
                    } else {
                        RuleKind::Range
                    };
                    assert_eq!(v.rule(), Some(want), "{r:?} at {i}");
                }
            }
            Target::Tac(t) => {
                for i in [t.first_imei(), t.last_imei()] {
                    assert!(index.check(i).is_listed(), "{r:?} at {i}");
                }
            }
        }
    }
    let mut b = IndexBuilder::new();
    for r in &rules {
        b.add(r.clone());
    }
    let (bytes, _) = b.build_to_vec().expect("verified rules build");
    let rebuilt = passes_full(bytes, "the builder");
    assert_eq!(
        rebuilt.rules().collect::<Vec<_>>(),
        rules,
        "a rebuild changed the rules"
    );
}

/// `delta_apply`: byte 0 picks re-signing, the rest is a delta index file, opened at the
/// default level (checksums) and layered over and applied to a small base. Nothing may
/// panic, and what `Apply` writes must pass full verification.
pub fn delta_apply(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 0x80 == 0 {
        resign(&mut file);
    }
    let Ok(delta) = Delta::from_bytes(Bytes::from(file.clone())) else {
        return;
    };
    let _ = (delta.serial(), delta.base_serial(), delta.rules());
    let base = base_index();
    let deltas = [delta];
    if let Ok((bytes, _)) = Apply::new(&base, &deltas).build_to_vec() {
        passes_full(bytes, "Apply");
    }
    if let Ok(layered) = LayeredIndex::new(base, deltas.to_vec()) {
        let imeis = probes(&file);
        for &i in &imeis {
            let _ = layered.check(i);
            for s in &imsis() {
                let _ = layered.check_with_imsi(i, s);
            }
        }
        let _ = layered.check_many(&imeis);
        let _ = layered.compact_to_vec();
    }
}

/// `list_rows`: the bytes as a list file. Every row parses or is rejected with an error;
/// the rows that parse build an index that passes full verification and holds them.
pub fn list_rows(data: &[u8]) {
    let mut b = IndexBuilder::new();
    let mut rows = 0u64;
    let reader = ListReader::new("fuzz.csv", data).inspect(|r| {
        if r.is_ok() {
            rows += 1;
        }
    });
    if b.add_list(reader.take(5_000), |_| Ok(())).is_err() {
        return;
    }
    let (bytes, summary) = b.build_to_vec().expect("parsed rows build");
    let index = passes_full(bytes, "the builder");
    assert_eq!(index.stats().rules(), summary.rules_written);
    assert!(summary.rules_written <= rows);
}

/// `delta_rows`: the bytes as a delta list. The changes that parse build a delta that
/// opens, layers over and applies to the base; the applied index passes full
/// verification.
pub fn delta_rows(data: &[u8]) {
    let mut b = DeltaBuilder::new();
    if b.add_list(DeltaReader::new("fuzz.csv", data).take(5_000), |_| Ok(()))
        .is_err()
    {
        return;
    }
    let (delta, _) = b.build().expect("parsed changes build a delta");
    let base = base_index();
    let deltas = [delta];
    let (bytes, _) = Apply::new(&base, &deltas)
        .build_to_vec()
        .expect("a built delta applies to any base");
    passes_full(bytes, "Apply");
    let layered = LayeredIndex::new(base, deltas.to_vec()).expect("a built delta layers");
    let _ = layered.check_many(&probes(data));
}

/// `identifiers`: the bytes as text, parsed as every kind of identifier, including the 5G
/// PEI and SUPI forms that N5g-eir queries carry (`imei-…`, `imeisv-…`, bare IMSIs).
/// What parses prints as text that parses back to it.
pub fn identifiers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(i) = Imei::parse(&text) {
        assert_eq!(Imei::parse(&i.to_string()), Ok(i), "{text:?}");
        assert_eq!(Imei::from_u64(i.as_u64()), Ok(i));
    }
    if let Ok(l) = Imei::parse_lenient(&text) {
        let _ = l.imei.as_u64();
    }
    if let Ok(sv) = imei_index::ImeiSv::parse(&text) {
        let _ = (sv.imei(), sv.svn());
    }
    if let Ok(s) = Imsi::parse(&text) {
        assert_eq!(Imsi::parse(&s.to_string()), Ok(s), "{text:?}");
    }
    if let Ok(t) = Tac::parse(&text) {
        assert_eq!(Tac::parse(&t.to_string()), Ok(t), "{text:?}");
    }
    if let Some(rest) = text.strip_prefix("imsi-") {
        let _ = Imsi::parse(rest);
    }
}

/// `s13_messages`: the bytes as a stream of Diameter messages to an S13 peer, cut where
/// each header's length says; every message is decoded and answered, never panicking.
pub fn s13_messages(data: &[u8]) {
    use imei_index::s13::message::Message;
    use imei_index::s13::{Connection, Identity, IdentityCheckRequest, message_length};
    let index = base_index();
    let me = Identity::new(
        "eir.fuzz.example",
        "fuzz.example",
        std::net::IpAddr::from([127, 0, 0, 1]),
    );
    let mut conn = Connection::new(me);
    let mut rest = data;
    let mut frames = 0;
    while !rest.is_empty() && frames < 64 {
        frames += 1;
        let n = rest
            .get(..4)
            .and_then(message_length)
            .map_or(rest.len(), |n| n.clamp(1, rest.len()));
        let (frame, tail) = rest.split_at(n);
        rest = tail;
        let frame = Bytes::copy_from_slice(frame);
        if let Ok(m) = Message::decode(frame.clone()) {
            let _ = IdentityCheckRequest::decode(&m);
        }
        let reply = conn.receive(frame, |imei, imsi| match imsi {
            Some(s) => index.check_with_imsi(imei, s),
            None => index.check(imei),
        });
        if let Some(answer) = &reply.answer {
            // Every answer is a whole message this side can read back.
            assert!(
                Message::decode(answer.clone()).is_ok(),
                "an answer does not decode"
            );
        }
        if reply.close {
            break;
        }
    }
}

/// What a target runs on one input.
pub type Run = fn(&[u8]);

/// Every target, by name: the fuzz targets' names and the folders of their kept inputs.
pub const TARGETS: [(&str, Run); 8] = [
    ("index_bytes", index_bytes),
    ("delta_apply", delta_apply),
    ("list_rows", list_rows),
    ("delta_rows", delta_rows),
    ("identifiers", identifiers),
    ("s13_messages", s13_messages),
    ("tacdb_rows", tacdb_rows),
    ("dirbs_rows", dirbs_rows),
];
