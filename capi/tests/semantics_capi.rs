//! The C API against the reference model of docs/semantics.md (tests/common/reference.rs):
//! `imei_index_check_at` and `imei_index_live_check_at`, called as C calls them, on
//! generated lists with several sources, reasons, dates, starts and earlier statuses, on
//! days before, on and after the starts, without an IMSI and with each listed one. The
//! verdict's status, rule, date, start, earlier flag, source and reasons must be the
//! model's. The library's surfaces meet the same model in tests/semantics.rs, the command
//! line's in cli/tests/semantics_cli.rs.

#[path = "../../tests/common/generated.rs"]
mod generated;
#[path = "../../tests/common/reference.rs"]
mod reference;

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use ::imei_index::IndexBuilder;
use ::imei_index::list::ListReader;
use generated::{
    CHECK_DAYS, IMSIS, day_text, list_file, probes, probes_with_tacs, rules, tac_db, tac_db_file,
};
use imei_index_capi::{
    IMEI_INDEX_STATUS_BLOCKED, IMEI_INDEX_STATUS_TRACKED, imei_index, imei_index_check_at,
    imei_index_close, imei_index_device, imei_index_device_get, imei_index_live,
    imei_index_live_check_at, imei_index_live_close, imei_index_live_device_get,
    imei_index_live_open, imei_index_live_open_with_tac_policy, imei_index_open,
    imei_index_open_with_tac_policy, imei_index_result, imei_index_tac_policy,
    imei_index_verdict_text,
};
use reference::{Day, RefRule, RefStatus, RefTarget};

/// What a verdict says: status code, rule code, date, start (days; 0 none), earlier,
/// source, reasons.
type Said = (u8, u8, u32, u32, bool, String, Vec<String>);

fn want(model: &[RefRule], imei: u64, imsi: Option<&str>, day: Day) -> Said {
    said_of(reference::answer(model, imei, imsi, day))
}

fn said_of(v: Option<reference::RefVerdict>) -> Said {
    let Some(v) = v else {
        // IMEI_INDEX_STATUS_UNKNOWN, IMEI_INDEX_RULE_NONE.
        return (3, 0, 0, 0, false, String::new(), Vec::new());
    };
    let status = match v.status {
        RefStatus::Allowed => 0,
        RefStatus::Blocked => 1,
        RefStatus::Tracked => 2,
    };
    let rule = match v.rule.target {
        RefTarget::Pair(..) => 1,
        RefTarget::Imei(_) => 2,
        RefTarget::Range(..) => 3,
        RefTarget::Tac(_) => 4,
    };
    (
        status,
        rule,
        v.rule.date.map_or(0, |d| d as u32),
        v.rule.start.map_or(0, |d| d as u32),
        v.earlier,
        v.rule.source.clone(),
        v.rule.reasons.clone(),
    )
}

fn said(out: &imei_index_verdict_text) -> Said {
    let text = |b: &[c_char]| {
        // SAFETY: the C API writes NUL-terminated text into these fields.
        unsafe { CStr::from_ptr(b.as_ptr()) }
            .to_str()
            .unwrap()
            .to_string()
    };
    let mut reasons: Vec<String> = text(&out.reasons)
        .split('|')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    reasons.sort();
    (
        out.verdict.status,
        out.verdict.rule,
        out.verdict.date,
        out.start,
        out.earlier == 1,
        text(&out.source),
        reasons,
    )
}

/// The day as the C functions take it: year, month, day.
fn ymd(day: Day) -> (u32, u32, u32) {
    let t = day_text(day);
    let p: Vec<u32> = t.split('-').map(|x| x.parse().unwrap()).collect();
    (p[0], p[1], p[2])
}

#[test]
fn check_at_answers_as_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=24u64 {
        let generated = rules(seed);
        let model = reference::build(&generated);
        let list = list_file(&generated);
        let mut b = IndexBuilder::new();
        for rule in ListReader::new("list.csv", list.as_bytes()) {
            b.add(rule.unwrap());
        }
        let path = dir.path().join(format!("{seed}.imeiidx"));
        b.build_to_file(&path).unwrap();
        let c_path = CString::new(path.to_str().unwrap()).unwrap();
        let mut index: *mut imei_index = ptr::null_mut();
        let mut live: *mut imei_index_live = ptr::null_mut();
        // SAFETY: a NUL-terminated path and a writable handle pointer.
        unsafe {
            assert_eq!(
                imei_index_open(c_path.as_ptr(), &mut index),
                imei_index_result::Ok
            );
            assert_eq!(
                imei_index_live_open(c_path.as_ptr(), &mut live),
                imei_index_result::Ok
            );
        }
        for imei in probes(&model) {
            let digits = format!("{imei:014}");
            for imsi in [None, Some(IMSIS[0]), Some(IMSIS[1])] {
                let (imsi_ptr, imsi_len) =
                    imsi.map_or((ptr::null(), 0), |s| (s.as_ptr().cast::<c_char>(), s.len()));
                for &day in &CHECK_DAYS {
                    let (y, m, d) = ymd(day);
                    let expected = want(&model, imei, imsi, day);
                    // SAFETY: live handles, readable IMEI and IMSI bytes, a writable verdict
                    // (all-zero bytes are a valid imei_index_verdict_text).
                    let (by_index, by_live) = unsafe {
                        let mut a: imei_index_verdict_text = std::mem::zeroed();
                        let mut l: imei_index_verdict_text = std::mem::zeroed();
                        let ra = imei_index_check_at(
                            index,
                            digits.as_ptr().cast(),
                            digits.len(),
                            imsi_ptr,
                            imsi_len,
                            y,
                            m,
                            d,
                            &mut a,
                        );
                        let rl = imei_index_live_check_at(
                            live,
                            digits.as_ptr().cast(),
                            digits.len(),
                            imsi_ptr,
                            imsi_len,
                            y,
                            m,
                            d,
                            &mut l,
                        );
                        assert_eq!(ra, imei_index_result::Ok);
                        assert_eq!(rl, imei_index_result::Ok);
                        (said(&a), said(&l))
                    };
                    assert_eq!(
                        by_index,
                        expected,
                        "seed {seed}: {digits} with IMSI {imsi:?} on {}\n{list}",
                        day_text(day)
                    );
                    assert_eq!(by_live, expected, "seed {seed}: live, {digits}");
                }
            }
        }
        // SAFETY: handles from the opens above, closed once.
        unsafe {
            imei_index_close(index);
            imei_index_live_close(live);
        }
    }
}

/// With a TAC database in the index and a TAC policy given at open (or none), both handles
/// answer as the reference model with the TAC database; `imei_index_device_get` answers
/// what the database lists.
#[test]
fn the_tac_policy_answers_as_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 1..=16u64 {
        let generated = rules(seed);
        let model = reference::build(&generated);
        let (db, policy) = tac_db(seed);
        let list = list_file(&generated);
        let db_file = tac_db_file(&db);
        let mut b = IndexBuilder::new();
        for rule in ListReader::new("list.csv", list.as_bytes()) {
            b.add(rule.unwrap());
        }
        let mut table = ::imei_index::TacTable::new();
        ::imei_index::list::tacdb::read_into(
            &mut table,
            ::imei_index::list::tacdb::Reader::new("tacdb.txt", db_file.as_bytes()),
            Err,
        )
        .unwrap();
        b.tac_db(table);
        let path = dir.path().join(format!("{seed}.imeiidx"));
        b.build_to_file(&path).unwrap();
        let c_path = CString::new(path.to_str().unwrap()).unwrap();
        let c_policy = policy.map(|p| imei_index_tac_policy {
            status: match p.status {
                RefStatus::Blocked => IMEI_INDEX_STATUS_BLOCKED,
                _ => IMEI_INDEX_STATUS_TRACKED,
            },
            allocated_after_set: u8::from(p.allocated_after.is_some()),
            allocated_after: p.allocated_after.unwrap_or(0) as u32,
        });
        let policy_ptr = c_policy.as_ref().map_or(ptr::null(), |p| p as *const _);
        let mut index: *mut imei_index = ptr::null_mut();
        let mut live: *mut imei_index_live = ptr::null_mut();
        // SAFETY: a NUL-terminated path, a readable policy or NULL, writable handle pointers.
        unsafe {
            assert_eq!(
                imei_index_open_with_tac_policy(c_path.as_ptr(), 0, policy_ptr, &mut index),
                imei_index_result::Ok
            );
            assert_eq!(
                imei_index_live_open_with_tac_policy(c_path.as_ptr(), 0, policy_ptr, &mut live),
                imei_index_result::Ok
            );
        }
        for imei in probes_with_tacs(&model) {
            let digits = format!("{imei:014}");
            for imsi in [None, Some(IMSIS[0])] {
                let (imsi_ptr, imsi_len) =
                    imsi.map_or((ptr::null(), 0), |s| (s.as_ptr().cast::<c_char>(), s.len()));
                for &day in &CHECK_DAYS {
                    let (y, m, d) = ymd(day);
                    let expected = said_of(reference::answer_with_tac_db(
                        &model, imei, imsi, day, &db, policy,
                    ));
                    // SAFETY: as in the test above.
                    let (by_index, by_live) = unsafe {
                        let mut a: imei_index_verdict_text = std::mem::zeroed();
                        let mut l: imei_index_verdict_text = std::mem::zeroed();
                        let args = (digits.as_ptr().cast(), digits.len(), imsi_ptr, imsi_len);
                        let ra = imei_index_check_at(
                            index, args.0, args.1, args.2, args.3, y, m, d, &mut a,
                        );
                        let rl = imei_index_live_check_at(
                            live, args.0, args.1, args.2, args.3, y, m, d, &mut l,
                        );
                        assert_eq!((ra, rl), (imei_index_result::Ok, imei_index_result::Ok));
                        (said(&a), said(&l))
                    };
                    assert_eq!(
                        by_index,
                        expected,
                        "seed {seed}: {digits} with IMSI {imsi:?} on {}, policy {policy:?}, \
                         database {db:?}\n{list}",
                        day_text(day)
                    );
                    assert_eq!(by_live, expected, "seed {seed}: live, {digits}");
                }
            }
            let tac = (imei / 1_000_000) as u32;
            // SAFETY: live handles and writable structs (all-zero bytes are valid ones).
            let (a, l) = unsafe {
                let mut a: imei_index_device = std::mem::zeroed();
                let mut l: imei_index_device = std::mem::zeroed();
                assert_eq!(
                    imei_index_device_get(index, tac, &mut a),
                    imei_index_result::Ok
                );
                assert_eq!(
                    imei_index_live_device_get(live, tac, &mut l),
                    imei_index_result::Ok
                );
                (a, l)
            };
            let model_name = |d: &imei_index_device| {
                // SAFETY: the C API writes NUL-terminated text.
                unsafe { CStr::from_ptr(d.model.as_ptr()) }
                    .to_str()
                    .unwrap()
                    .to_string()
            };
            match db.get(&tac) {
                None => assert_eq!((a.found, l.found), (0, 0), "seed {seed}: TAC {tac}"),
                Some(allocated) => {
                    assert_eq!((a.found, a.tac, l.found), (1, tac, 1));
                    assert_eq!(a.allocated, allocated.map_or(0, |d| d as u32 + 1));
                    assert_eq!(model_name(&a), format!("Model {tac}"));
                    assert_eq!(model_name(&l), format!("Model {tac}"));
                }
            }
        }
        // SAFETY: handles from the opens above, closed once.
        unsafe {
            imei_index_close(index);
            imei_index_live_close(live);
        }
    }
}

/// A policy asked of an index without a TAC database, or with fields that are not one, is
/// refused at open with a message, and no handle is written.
#[test]
fn a_policy_without_a_tac_database_or_with_bad_fields_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.imeiidx");
    IndexBuilder::new().build_to_file(&path).unwrap();
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    for (policy, says) in [
        (
            imei_index_tac_policy {
                status: IMEI_INDEX_STATUS_TRACKED,
                allocated_after_set: 0,
                allocated_after: 0,
            },
            "holds no TAC database",
        ),
        (
            imei_index_tac_policy {
                status: 0,
                allocated_after_set: 0,
                allocated_after: 0,
            },
            "the TAC policy's status is 0",
        ),
        (
            imei_index_tac_policy {
                status: IMEI_INDEX_STATUS_BLOCKED,
                allocated_after_set: 2,
                allocated_after: 0,
            },
            "allocated_after_set is 2",
        ),
    ] {
        let mut index: *mut imei_index = std::ptr::dangling_mut();
        // SAFETY: a NUL-terminated path, a readable policy, a writable handle pointer.
        let r = unsafe { imei_index_open_with_tac_policy(c_path.as_ptr(), 0, &policy, &mut index) };
        assert_eq!(r, imei_index_result::InvalidArgument);
        assert!(index.is_null());
        let mut buf = [0 as c_char; 512];
        // SAFETY: a writable buffer of its length.
        unsafe { imei_index_capi::imei_index_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: the message is NUL-terminated.
        let msg = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_string();
        assert!(msg.contains(says), "{msg}");
    }
}
