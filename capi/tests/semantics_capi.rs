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
use generated::{CHECK_DAYS, IMSIS, day_text, list_file, probes, rules};
use imei_index_capi::{
    imei_index, imei_index_check_at, imei_index_close, imei_index_live, imei_index_live_check_at,
    imei_index_live_close, imei_index_live_open, imei_index_open, imei_index_result,
    imei_index_verdict_text,
};
use reference::{Day, RefRule, RefStatus, RefTarget};

/// What a verdict says: status code, rule code, date, start (days; 0 none), earlier,
/// source, reasons.
type Said = (u8, u8, u32, u32, bool, String, Vec<String>);

fn want(model: &[RefRule], imei: u64, imsi: Option<&str>, day: Day) -> Said {
    let Some(v) = reference::answer(model, imei, imsi, day) else {
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
