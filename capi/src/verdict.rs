//! The verdict as C sees it, and its codes.

use ::imei_index::Verdict;

/// Status: the equipment may use the network (S13 Equipment-Status WHITELISTED).
pub const IMEI_INDEX_STATUS_ALLOWED: u8 = 0;
/// Status: the equipment must be refused (S13 Equipment-Status BLACKLISTED).
pub const IMEI_INDEX_STATUS_BLOCKED: u8 = 1;
/// Status: the equipment is allowed but tracked (S13 Equipment-Status GREYLISTED).
pub const IMEI_INDEX_STATUS_TRACKED: u8 = 2;
/// Status: no rule matches: unknown equipment (S13 DIAMETER_ERROR_EQUIPMENT_UNKNOWN, 5422).
/// What the network does with it is the caller's policy.
pub const IMEI_INDEX_STATUS_UNKNOWN: u8 = 3;
/// Status: not checked, because the input was not an IMEI (the function's result code says
/// so; `imei_index_check_many` marks each invalid element this way).
pub const IMEI_INDEX_STATUS_INVALID: u8 = 255;

/// Reason: none given (also for unknown equipment).
pub const IMEI_INDEX_REASON_NONE: u8 = 0;
/// Reason: reported stolen.
pub const IMEI_INDEX_REASON_STOLEN: u8 = 1;
/// Reason: reported lost.
pub const IMEI_INDEX_REASON_LOST: u8 = 2;
/// Reason: used in fraud or crime.
pub const IMEI_INDEX_REASON_FRAUD: u8 = 3;
/// Reason: counterfeit equipment, or a TAC never allocated.
pub const IMEI_INDEX_REASON_COUNTERFEIT: u8 = 4;
/// Reason: an IMEI carried by more than one handset.
pub const IMEI_INDEX_REASON_DUPLICATE: u8 = 5;
/// Reason: any other.
pub const IMEI_INDEX_REASON_OTHER: u8 = 6;

/// Rule: none matched (unknown equipment).
pub const IMEI_INDEX_RULE_NONE: u8 = 0;
/// Rule: the IMEI paired with the IMSI given (only `imei_index_check_with_imsi*`).
pub const IMEI_INDEX_RULE_PAIR: u8 = 1;
/// Rule: the exact IMEI.
pub const IMEI_INDEX_RULE_IMEI: u8 = 2;
/// Rule: the narrowest range of IMEIs containing the IMEI.
pub const IMEI_INDEX_RULE_RANGE: u8 = 3;
/// Rule: the IMEI's whole TAC (handset model).
pub const IMEI_INDEX_RULE_TAC: u8 = 4;

/// What the index says about one handset.
///
/// The most specific matching rule answers: an IMEI+IMSI pair, else the exact IMEI, else
/// the narrowest range, else the TAC. `status` is an S13 Equipment-Status code, so an S13
/// implementation can copy it into its answer (and answer 5422 for
/// `IMEI_INDEX_STATUS_UNKNOWN`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct imei_index_verdict {
    /// `IMEI_INDEX_STATUS_*`: 0 allowed (S13 WHITELISTED), 1 blocked (BLACKLISTED),
    /// 2 tracked (GREYLISTED), 3 unknown equipment, 255 not checked (invalid input).
    pub status: u8,
    /// `IMEI_INDEX_REASON_*`: 0 none, else why the equipment is listed.
    pub reason: u8,
    /// `IMEI_INDEX_RULE_*`: 0 none, 1 pair, 2 IMEI, 3 range, 4 TAC.
    pub rule: u8,
    /// 1 when the input's check digit was right or absent; 0 when it was wrong (only the
    /// lenient functions accept a wrong one) or the input was invalid.
    pub check_digit_ok: u8,
    /// The rule's date, as days since 1970-01-01; 0 when the rule has no date.
    pub date: u32,
}

impl imei_index_verdict {
    /// The verdict written for input that is not an IMEI.
    pub(crate) const INVALID: imei_index_verdict = imei_index_verdict {
        status: IMEI_INDEX_STATUS_INVALID,
        reason: IMEI_INDEX_REASON_NONE,
        rule: IMEI_INDEX_RULE_NONE,
        check_digit_ok: 0,
        date: 0,
    };

    /// The C form of a verdict.
    #[inline]
    pub(crate) fn new(v: Verdict, check_digit_ok: bool) -> imei_index_verdict {
        imei_index_verdict {
            status: v
                .status()
                .map_or(IMEI_INDEX_STATUS_UNKNOWN, |s| s.s13_code()),
            reason: v.reason().map_or(IMEI_INDEX_REASON_NONE, |r| r.code()),
            rule: v.rule().map_or(IMEI_INDEX_RULE_NONE, |k| k.code()),
            check_digit_ok: u8::from(check_digit_ok),
            date: v.date().map_or(0, |d| d.days_since_epoch()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imei_index::{Date, Entry, Reason, RuleKind, Status};

    #[test]
    fn the_constants_are_the_rust_codes() {
        for (s, c) in [
            (Status::Allowed, IMEI_INDEX_STATUS_ALLOWED),
            (Status::Blocked, IMEI_INDEX_STATUS_BLOCKED),
            (Status::Tracked, IMEI_INDEX_STATUS_TRACKED),
        ] {
            assert_eq!(s.s13_code(), c);
        }
        let reasons = [
            IMEI_INDEX_REASON_STOLEN,
            IMEI_INDEX_REASON_LOST,
            IMEI_INDEX_REASON_FRAUD,
            IMEI_INDEX_REASON_COUNTERFEIT,
            IMEI_INDEX_REASON_DUPLICATE,
            IMEI_INDEX_REASON_OTHER,
        ];
        for (c, r) in reasons.into_iter().zip(Reason::ALL) {
            assert_eq!(Reason::from_code(c), Some(r));
        }
        assert_eq!(Reason::from_code(IMEI_INDEX_REASON_NONE), None);
        let rules = [
            IMEI_INDEX_RULE_PAIR,
            IMEI_INDEX_RULE_IMEI,
            IMEI_INDEX_RULE_RANGE,
            IMEI_INDEX_RULE_TAC,
        ];
        for (c, k) in rules.into_iter().zip(RuleKind::ALL) {
            assert_eq!(k.code(), c);
        }
    }

    #[test]
    fn verdicts_convert_field_by_field() {
        let u = imei_index_verdict::new(Verdict::unknown(), true);
        assert_eq!(
            (u.status, u.reason, u.rule, u.check_digit_ok, u.date),
            (3, 0, 0, 1, 0)
        );
        let date = Date::from_ymd(2024, 5, 21).unwrap();
        let e = Entry::new(Status::Tracked)
            .with_reason(Reason::Fraud)
            .with_date(date);
        let v = imei_index_verdict::new(Verdict::listed(RuleKind::Range, &e), false);
        assert_eq!(
            (v.status, v.reason, v.rule, v.check_digit_ok, v.date),
            (2, 3, 3, 0, date.days_since_epoch())
        );
    }
}
