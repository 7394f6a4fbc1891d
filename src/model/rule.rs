//! Rules and verdicts: what a list says about equipment, and what a check answers.
//!
//! A [`Rule`] matches equipment by one of four [`RuleKind`]s and carries an [`Entry`]: a
//! [`Status`], an optional [`Reason`] and an optional [`Date`]. A check answers a
//! [`Verdict`]: the entry and kind of the most specific matching rule, or unknown equipment.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::model::field::{FieldError, Reason};
use crate::model::ident::{Imei, Imsi, Tac};
use crate::model::source::{Reasons, Source};

/// What a list says a handset may do: the EIR's answer.
///
/// The discriminants are the S13 Equipment-Status codes of TS 29.272, so that a Diameter
/// implementation can copy them into its answer.
///
/// # Example
///
/// ```
/// use imei_index::Status;
///
/// let s: Status = "BLACKLISTED".parse()?;
/// assert_eq!(s, Status::Blocked);
/// assert_eq!(s.s13_code(), 1);
/// assert_eq!(s.n5g_eir(), "BLACKLISTED");
/// assert!(Status::Blocked > Status::Tracked && Status::Tracked > Status::Allowed);
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// May use the network (S13 WHITELISTED, N5g-eir "WHITELISTED", 3GPP "PERMITTED").
    Allowed = 0,
    /// Must be refused (S13 BLACKLISTED, N5g-eir "BLACKLISTED", 3GPP "PROHIBITED").
    Blocked = 1,
    /// Allowed but tracked (S13 GREYLISTED, N5g-eir "GREYLISTED", 3GPP "TRACKING").
    Tracked = 2,
}

impl Status {
    /// All statuses, least severe first.
    pub const ALL: [Status; 3] = [Status::Allowed, Status::Tracked, Status::Blocked];

    /// The S13 Equipment-Status code (TS 29.272): 0 whitelisted, 1 blacklisted, 2 greylisted.
    pub fn s13_code(self) -> u8 {
        self as u8
    }

    /// The status with an S13 Equipment-Status code, if the code is one.
    pub fn from_s13_code(code: u8) -> Option<Status> {
        match code {
            0 => Some(Status::Allowed),
            1 => Some(Status::Blocked),
            2 => Some(Status::Tracked),
            _ => None,
        }
    }

    /// The N5g-eir EquipmentStatus string (TS 29.511).
    pub fn n5g_eir(self) -> &'static str {
        match self {
            Status::Allowed => "WHITELISTED",
            Status::Blocked => "BLACKLISTED",
            Status::Tracked => "GREYLISTED",
        }
    }

    /// The lower-case name used in list files and output: `allowed`, `tracked`, `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Allowed => "allowed",
            Status::Blocked => "blocked",
            Status::Tracked => "tracked",
        }
    }

    /// How severe the status is: allowed 0, tracked 1, blocked 2.
    pub(crate) fn severity(self) -> u8 {
        match self {
            Status::Allowed => 0,
            Status::Tracked => 1,
            Status::Blocked => 2,
        }
    }
}

/// Statuses order by severity: allowed < tracked < blocked.
impl Ord for Status {
    fn cmp(&self, other: &Status) -> Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl PartialOrd for Status {
    fn partial_cmp(&self, other: &Status) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = FieldError;

    /// Accepts, case-insensitively, `blocked|tracked|allowed`, `black|grey|gray|white`,
    /// `blacklisted|greylisted|whitelisted` and `prohibited|tracking|permitted`.
    fn from_str(s: &str) -> Result<Status, FieldError> {
        const NAMES: [(&str, Status); 13] = [
            ("blocked", Status::Blocked),
            ("black", Status::Blocked),
            ("blacklisted", Status::Blocked),
            ("prohibited", Status::Blocked),
            ("tracked", Status::Tracked),
            ("grey", Status::Tracked),
            ("gray", Status::Tracked),
            ("greylisted", Status::Tracked),
            ("tracking", Status::Tracked),
            ("allowed", Status::Allowed),
            ("white", Status::Allowed),
            ("whitelisted", Status::Allowed),
            ("permitted", Status::Allowed),
        ];
        let t = s.trim();
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(t))
            .map(|&(_, status)| status)
            .ok_or_else(|| FieldError::Status(s.to_string()))
    }
}

/// A calendar date (proleptic Gregorian), stored as days since 1970-01-01.
///
/// # Example
///
/// ```
/// use imei_index::Date;
///
/// let d: Date = "2024-05-21".parse()?;
/// assert_eq!(d.days_since_epoch(), 19864);
/// assert_eq!(d.to_string(), "2024-05-21");
/// assert!("2024-02-30".parse::<Date>().is_err());
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(u32);

impl Date {
    /// The last day a `Date` can hold, 9999-12-31.
    pub const MAX_DAYS: u32 = 2_932_896;

    /// The date `days` days after 1970-01-01, if it is at most 9999-12-31.
    pub fn from_days_since_epoch(days: u32) -> Option<Date> {
        (days <= Date::MAX_DAYS).then_some(Date(days))
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> u32 {
        self.0
    }

    /// The date of a year, month and day, if it exists and lies in 1970..=9999.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let month_len = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if day > month_len[month as usize - 1] {
            return None;
        }
        // Howard Hinnant's days_from_civil, for years >= 0.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y / 400;
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date(era * 146_097 + doe - 719_468))
    }

    /// Today in UTC, by the system clock.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::Date;
    ///
    /// assert!(Date::today_utc() >= "2024-01-01".parse()?);
    /// # Ok::<(), imei_index::FieldError>(())
    /// ```
    pub fn today_utc() -> Date {
        Date::today_at_offset(0)
    }

    /// Today at a fixed offset from UTC, in seconds east (India: 19,800 for +05:30): the
    /// civil date of the current instant there. Named time zones, whose offsets change with
    /// daylight saving, are resolved by callers (the command line uses the IANA database).
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::Date;
    ///
    /// let (west, east) = (Date::today_at_offset(-12 * 3600), Date::today_at_offset(14 * 3600));
    /// assert!(east.days_since_epoch() - west.days_since_epoch() <= 2);
    /// ```
    pub fn today_at_offset(offset_seconds: i32) -> Date {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Date::at_unix_seconds(now.saturating_add(i64::from(offset_seconds)))
    }

    /// The civil date of a count of seconds since 1970-01-01T00:00 (local to some offset),
    /// clamped to the dates a `Date` holds.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::Date;
    ///
    /// // 2024-05-31 19:00 UTC is already 1 June at +05:30.
    /// let utc = 1_717_182_000;
    /// assert_eq!(Date::at_unix_seconds(utc).to_string(), "2024-05-31");
    /// assert_eq!(Date::at_unix_seconds(utc + 19_800).to_string(), "2024-06-01");
    /// ```
    pub fn at_unix_seconds(seconds: i64) -> Date {
        let days = seconds
            .div_euclid(86_400)
            .clamp(0, i64::from(Date::MAX_DAYS));
        Date(days as u32)
    }

    /// The year, month and day.
    pub fn to_ymd(self) -> (u32, u32, u32) {
        // Howard Hinnant's civil_from_days, for days >= 0.
        let z = self.0 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u32::from(month <= 2);
        (year, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.to_ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl FromStr for Date {
    type Err = FieldError;

    /// Parses `YYYY-MM-DD`, a date from 1970-01-01 to 9999-12-31.
    fn from_str(s: &str) -> Result<Date, FieldError> {
        let t = s.trim().as_bytes();
        let bad = || FieldError::Date(s.to_string());
        if t.len() != 10 || t[4] != b'-' || t[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, FieldError> {
            t[r].iter().try_fold(0u32, |acc, &b| {
                b.is_ascii_digit()
                    .then(|| acc * 10 + u32::from(b - b'0'))
                    .ok_or_else(bad)
            })
        };
        Date::from_ymd(num(0..4)?, num(5..7)?, num(8..10)?).ok_or_else(bad)
    }
}

/// What a rule says: a status, its reasons, its date, and when it applies.
///
/// A rule with a `start` applies from that day on; before it, it answers its `earlier`
/// status if it has one, and does not apply at all otherwise (docs/semantics.md). The `date`
/// is the date the list gives the rule (when the handset was blocked or reported); it is
/// shown in verdicts and does not change when the rule applies.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Reason, Status};
///
/// let e = Entry::new(Status::Blocked)
///     .with_reason(Reason::Stolen)
///     .with_date("2024-05-21".parse()?);
/// assert_eq!(e.status, Status::Blocked);
/// assert_eq!(e.reasons.known(), Some(Reason::Stolen));
///
/// // A notified handset: tracked until its block date, blocked from it.
/// let n = Entry::new(Status::Blocked)
///     .with_start("2024-06-01".parse()?)
///     .with_earlier(Status::Tracked)?;
/// assert_eq!(n.status_on("2024-05-31".parse()?), Some(Status::Tracked));
/// assert_eq!(n.status_on("2024-06-01".parse()?), Some(Status::Blocked));
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The status, from the start on (or always, without a start).
    pub status: Status,
    /// Why the equipment is listed: any number of texts.
    pub reasons: Reasons,
    /// When the equipment was listed, if the list says.
    pub date: Option<Date>,
    /// The day from which the rule applies; `None`: always.
    pub start: Option<Date>,
    /// What the rule answers before its start; `None`: nothing (it does not apply). Only
    /// meaningful with a start: without one it is ignored.
    pub earlier: Option<Status>,
}

impl Entry {
    /// An entry with a status and no reason, date or start.
    pub fn new(status: Status) -> Entry {
        Entry {
            status,
            reasons: Reasons::none(),
            date: None,
            start: None,
            earlier: None,
        }
    }

    /// The same entry with one more reason.
    pub fn with_reason(self, reason: Reason) -> Entry {
        let reasons = self.reasons.union(&Reasons::from(reason));
        Entry { reasons, ..self }
    }

    /// The same entry with these reasons (replacing any it had).
    pub fn with_reasons(self, reasons: Reasons) -> Entry {
        Entry { reasons, ..self }
    }

    /// The same entry with a date.
    pub fn with_date(self, date: Date) -> Entry {
        Entry {
            date: Some(date),
            ..self
        }
    }

    /// The same entry, applying from `start` on.
    pub fn with_start(self, start: Date) -> Entry {
        Entry {
            start: Some(start),
            ..self
        }
    }

    /// The same entry, answering `earlier` before its start.
    ///
    /// # Errors
    ///
    /// [`FieldError::EarlierWithoutStart`] when the entry has no start.
    pub fn with_earlier(self, earlier: Status) -> Result<Entry, FieldError> {
        if self.start.is_none() {
            return Err(FieldError::EarlierWithoutStart);
        }
        Ok(Entry {
            earlier: Some(earlier),
            ..self
        })
    }

    /// The earlier status, when the entry has a start (an earlier status without one is
    /// ignored).
    pub fn earlier_status(&self) -> Option<Status> {
        self.start.and(self.earlier)
    }

    /// The status the rule answers on `day`, or `None` when it does not apply that day.
    pub fn status_on(&self, day: Date) -> Option<Status> {
        match self.start {
            Some(start) if day < start => self.earlier,
            _ => Some(self.status),
        }
    }

    /// True when the rule applies on every day: it has no start, or an earlier status.
    pub fn always_applies(&self) -> bool {
        self.start.is_none() || self.earlier.is_some()
    }

    /// The order in which entries of one source for one target merge when a build meets
    /// several (docs/semantics.md): the greatest wins. The most severe status, then the
    /// earliest start (none is earliest), then the latest date, then the greater reasons.
    pub(crate) fn merge_order(&self) -> impl Ord + '_ {
        (
            self.status,
            std::cmp::Reverse(
                self.start
                    .map_or(0, |d| u64::from(d.days_since_epoch()) + 1),
            ),
            self.date,
            &self.reasons,
            self.earlier_status(),
        )
    }

    /// True when the entry fits format 1's 8-byte record: no start, and at most one known
    /// reason.
    pub(crate) fn fits_v1(&self) -> bool {
        self.start.is_none() && (self.reasons.is_empty() || self.reasons.known().is_some())
    }
}

/// Which kind of rule matched, from most to least specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RuleKind {
    /// An IMEI paired with one IMSI: applies only when that SIM is in that handset.
    Pair = 1,
    /// One IMEI.
    Imei = 2,
    /// An inclusive range of IMEIs; the narrowest containing range applies.
    Range = 3,
    /// Every IMEI of a Type Allocation Code.
    Tac = 4,
}

impl RuleKind {
    /// All kinds, most specific first.
    pub const ALL: [RuleKind; 4] = [
        RuleKind::Pair,
        RuleKind::Imei,
        RuleKind::Range,
        RuleKind::Tac,
    ];

    /// The lower-case name used in output: `pair`, `imei`, `range`, `tac`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Pair => "pair",
            RuleKind::Imei => "imei",
            RuleKind::Range => "range",
            RuleKind::Tac => "tac",
        }
    }

    /// The kind's code in the C API: 1 pair, 2 imei, 3 range, 4 tac.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What equipment a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// One IMEI, but only together with one IMSI.
    Pair(Imei, Imsi),
    /// One IMEI.
    Imei(Imei),
    /// Every IMEI from the first to the last, both inclusive.
    Range(Imei, Imei),
    /// Every IMEI of a TAC.
    Tac(Tac),
}

impl Target {
    /// The kind of rule this target makes.
    pub fn kind(&self) -> RuleKind {
        match self {
            Target::Pair(..) => RuleKind::Pair,
            Target::Imei(_) => RuleKind::Imei,
            Target::Range(..) => RuleKind::Range,
            Target::Tac(_) => RuleKind::Tac,
        }
    }
}

/// One rule of a list: a target, what the list says about it, and the list's source.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Rule, RuleKind, Source, Status};
///
/// let first = Imei::parse("35209900000000")?;
/// let last = Imei::parse("35209900099999")?;
/// let rule = Rule::range(first, last, Entry::new(Status::Tracked))?;
/// assert_eq!(rule.kind(), RuleKind::Range);
/// assert_eq!(rule.source(), &Source::local());
/// let rule = rule.with_source("dirbs/blacklist".parse()?);
/// assert_eq!(rule.source().as_str(), "dirbs/blacklist");
/// assert!(Rule::range(last, first, Entry::new(Status::Tracked)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    target: Target,
    /// What the list says about the target.
    pub entry: Entry,
    source: Source,
}

impl Rule {
    /// A rule for any target, of the source `local`.
    ///
    /// # Errors
    ///
    /// [`FieldError::RangeOrder`] for a range whose first IMEI is after its last.
    pub fn new(target: Target, entry: Entry) -> Result<Rule, FieldError> {
        if let Target::Range(first, last) = target {
            return Rule::range(first, last, entry);
        }
        Ok(Rule::unchecked(target, entry))
    }

    /// [`Rule::new`] of a source, made without a copy of `local` on the way: a list
    /// reader makes millions, on several threads, and `local`'s one reference count
    /// would have them contend.
    pub(crate) fn of_source(
        target: Target,
        entry: Entry,
        source: Source,
    ) -> Result<Rule, FieldError> {
        if let Target::Range(first, last) = target
            && first > last
        {
            return Err(FieldError::RangeOrder { first, last });
        }
        Ok(Rule {
            target,
            entry,
            source,
        })
    }

    fn unchecked(target: Target, entry: Entry) -> Rule {
        Rule {
            target,
            entry,
            source: Source::local(),
        }
    }

    /// A rule for one IMEI.
    pub fn imei(imei: Imei, entry: Entry) -> Rule {
        Rule::unchecked(Target::Imei(imei), entry)
    }

    /// A rule for one IMEI together with one IMSI.
    pub fn pair(imei: Imei, imsi: Imsi, entry: Entry) -> Rule {
        Rule::unchecked(Target::Pair(imei, imsi), entry)
    }

    /// A rule for every IMEI from `first` to `last`, both inclusive.
    ///
    /// # Errors
    ///
    /// [`FieldError::RangeOrder`] when `first` is after `last`.
    pub fn range(first: Imei, last: Imei, entry: Entry) -> Result<Rule, FieldError> {
        if first > last {
            return Err(FieldError::RangeOrder { first, last });
        }
        Ok(Rule::unchecked(Target::Range(first, last), entry))
    }

    /// A rule for every IMEI of a TAC.
    pub fn tac(tac: Tac, entry: Entry) -> Rule {
        Rule::unchecked(Target::Tac(tac), entry)
    }

    /// The same rule, of another source.
    pub fn with_source(self, source: Source) -> Rule {
        Rule { source, ..self }
    }

    /// What the rule matches.
    pub fn target(&self) -> Target {
        self.target
    }

    /// The kind of rule.
    pub fn kind(&self) -> RuleKind {
        self.target.kind()
    }

    /// The list the rule came from.
    pub fn source(&self) -> &Source {
        &self.source
    }
}

/// A verdict's reason set id that names no set of an index: the verdict was made by hand
/// from an entry whose reasons are not a known reason alone.
const REASONS_ELSEWHERE: u32 = u32::MAX;
/// The reason set id of a verdict of the TAC policy: the TAC is not in the database.
const REASONS_NOT_IN_TAC_DB: u32 = u32::MAX - 2;
/// The reason set id of a verdict of the TAC policy: the TAC was allocated after its date.
const REASONS_ALLOCATED_AFTER: u32 = u32::MAX - 1;

/// The answer to a check: the deciding rule's status, kind, source, reasons and dates, or
/// unknown (docs/semantics.md).
///
/// A verdict is small and `Copy`: it holds the texts of its reasons and source as ids into
/// the index that answered. Resolve them with that index ([`Index::reasons`],
/// [`Index::source`], or [`LiveIndex::describe`] for a live one), never with another:
/// ids of one index mean nothing in another. [`Verdict::reason`] needs no index.
///
/// Unknown equipment is not an error: S13 answers it with DIAMETER_ERROR_EQUIPMENT_UNKNOWN
/// and N5g-eir with 404, and operators choose what to do with it. [`Verdict::status_or`]
/// applies such a default.
///
/// [`Index::reasons`]: crate::Index::reasons
/// [`Index::source`]: crate::Index::source
/// [`LiveIndex::describe`]: crate::LiveIndex::describe
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Reason, RuleKind, Status, Verdict};
///
/// let v = Verdict::unknown();
/// assert!(!v.is_listed());
/// assert_eq!(v.status(), None);
/// assert_eq!(v.status_or(Status::Tracked), Status::Tracked);
///
/// let v = Verdict::listed(RuleKind::Tac, &Entry::new(Status::Blocked).with_reason(Reason::Lost));
/// assert_eq!(v.status(), Some(Status::Blocked));
/// assert_eq!(v.rule(), Some(RuleKind::Tac));
/// assert_eq!(v.reason(), Some(Reason::Lost));
/// assert!(!v.is_earlier());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    kind: Option<RuleKind>,
    status: Status,
    earlier: bool,
    source: u8,
    /// The reason set's id in the index: 0 none, 1 to 6 a known reason alone, 7 and up
    /// another set.
    reasons: u32,
    /// Days since the epoch + 1, 0 for none.
    date: u32,
    start: u32,
}

impl Default for Verdict {
    fn default() -> Verdict {
        Verdict::unknown()
    }
}

/// A date as a verdict stores it.
fn pack(d: Option<Date>) -> u32 {
    d.map_or(0, |d| d.days_since_epoch() + 1)
}

fn unpack(d: u32) -> Option<Date> {
    d.checked_sub(1).map(Date)
}

impl Verdict {
    /// The verdict for equipment that no rule matches.
    pub const fn unknown() -> Verdict {
        Verdict {
            kind: None,
            status: Status::Allowed,
            earlier: false,
            source: 0,
            reasons: 0,
            date: 0,
            start: 0,
        }
    }

    /// The verdict of a rule of source id 0 with this entry, as an index with that rule
    /// answers it from its start on (made by hand, for tests and examples).
    ///
    /// Its reasons are known without an index when they are none or one known reason;
    /// other reasons can be read only from an index's own verdicts.
    pub fn listed(kind: RuleKind, entry: &Entry) -> Verdict {
        let reasons = match (entry.reasons.is_empty(), entry.reasons.known()) {
            (true, _) => 0,
            (false, Some(r)) => u32::from(r.code()),
            (false, None) => REASONS_ELSEWHERE,
        };
        Verdict::of(kind, entry, entry.status, false, 0, reasons)
    }

    /// The verdict of a rule answering `status` (its earlier status when `earlier`).
    #[inline]
    pub(crate) fn of(
        kind: RuleKind,
        entry: &Entry,
        status: Status,
        earlier: bool,
        source: u8,
        reasons: u32,
    ) -> Verdict {
        Verdict {
            kind: Some(kind),
            status,
            earlier,
            source,
            reasons,
            date: pack(entry.date),
            start: pack(entry.start),
        }
    }

    /// The verdict of a rule from its stored fields (dates as days + 1, 0 for none).
    #[inline(always)]
    pub(crate) fn of_parts(
        kind: RuleKind,
        status: Status,
        earlier: bool,
        source: u8,
        reasons: u32,
        date: u32,
        start: u32,
    ) -> Verdict {
        Verdict {
            kind: Some(kind),
            status,
            earlier,
            source,
            reasons,
            date,
            start,
        }
    }

    /// The verdict of the TAC policy (docs/semantics.md, "GSMA's TAC database"): kind
    /// `tac`, no source, date or start.
    #[inline]
    pub(crate) fn of_policy(status: Status, why: PolicyReason) -> Verdict {
        Verdict {
            kind: Some(RuleKind::Tac),
            status,
            earlier: false,
            source: 0,
            reasons: match why {
                PolicyReason::NotInDatabase => REASONS_NOT_IN_TAC_DB,
                PolicyReason::AllocatedAfter => REASONS_ALLOCATED_AFTER,
            },
            date: 0,
            start: 0,
        }
    }

    /// Why the TAC policy answered this verdict, or `None` for a rule's verdict (or
    /// unknown equipment). See [`TacPolicy`](crate::TacPolicy).
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{Imei, Index, IndexBuilder, OpenOptions, PolicyReason, Reason, Status, TacPolicy, TacTable};
    ///
    /// let mut b = IndexBuilder::new();
    /// b.tac_db(TacTable::new());
    /// let bytes = b.build_to_vec()?.0;
    /// let index = OpenOptions::new().tac_policy(TacPolicy::new(Status::Tracked)).open_bytes(bytes.into())?;
    /// let v = index.check(Imei::parse("35209900176148")?);
    /// assert_eq!(v.status(), Some(Status::Tracked));
    /// assert_eq!(v.policy(), Some(PolicyReason::NotInDatabase));
    /// assert_eq!(v.reason(), Some(Reason::Counterfeit));
    /// assert_eq!(index.reasons(&v).collect::<Vec<_>>(), ["TAC not in the TAC database"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn policy(&self) -> Option<PolicyReason> {
        self.kind?;
        match self.reasons {
            REASONS_NOT_IN_TAC_DB => Some(PolicyReason::NotInDatabase),
            REASONS_ALLOCATED_AFTER => Some(PolicyReason::AllocatedAfter),
            _ => None,
        }
    }

    /// The same verdict with its ids replaced (layered views map each layer's ids into
    /// their own).
    pub(crate) fn with_ids(self, source: u8, reasons: u32) -> Verdict {
        Verdict {
            source,
            reasons,
            ..self
        }
    }

    /// True when a rule matched.
    pub fn is_listed(&self) -> bool {
        self.kind.is_some()
    }

    /// The deciding rule's status on the day of the check, or `None` for unknown equipment.
    pub fn status(&self) -> Option<Status> {
        self.kind.map(|_| self.status)
    }

    /// The deciding rule's status, or `default` for unknown equipment.
    pub fn status_or(&self, default: Status) -> Status {
        self.status().unwrap_or(default)
    }

    /// The deciding rule's reason as one of the six known ones: the reason when the rule's
    /// reasons are exactly that one, [`Reason::Other`] for any other reasons, `None` for no
    /// reasons (or unknown equipment). A verdict of the TAC policy gives
    /// [`Reason::Counterfeit`] for a TAC not in the database, [`Reason::Other`] for one
    /// allocated after the policy's date. The texts: [`Index::reasons`](crate::Index::reasons).
    pub fn reason(&self) -> Option<Reason> {
        self.kind?;
        match self.reasons {
            0 => None,
            c @ 1..=6 => Reason::from_code(c as u8),
            REASONS_NOT_IN_TAC_DB => Some(Reason::Counterfeit),
            _ => Some(Reason::Other),
        }
    }

    /// The deciding rule's date, if it has one.
    pub fn date(&self) -> Option<Date> {
        unpack(self.date)
    }

    /// The deciding rule's start, if it has one: with [`Verdict::is_earlier`], the day its
    /// status changes.
    pub fn start(&self) -> Option<Date> {
        unpack(self.start)
    }

    /// True when the status is the deciding rule's earlier status: the rule's start is
    /// still to come, and from [`Verdict::start`] on it answers another status.
    pub fn is_earlier(&self) -> bool {
        self.earlier
    }

    /// Which kind of rule matched, or `None` for unknown equipment.
    pub fn rule(&self) -> Option<RuleKind> {
        self.kind
    }

    /// The deciding rule's source, as an id into the index that answered (resolve it with
    /// [`Index::source`](crate::Index::source)).
    pub fn source_id(&self) -> u8 {
        self.source
    }

    /// The deciding rule's reason set, as an id into the index that answered (resolve it
    /// with [`Index::reasons`](crate::Index::reasons)): 0 for none, 1 to 6 for a known
    /// reason alone (its code), 7 and up for any other set.
    pub fn reasons_id(&self) -> u32 {
        self.reasons
    }
}

/// Why the [`TacPolicy`](crate::TacPolicy) answered a verdict ([`Verdict::policy`](crate::Verdict::policy)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyReason {
    /// The TAC database does not list the IMEI's TAC.
    NotInDatabase,
    /// The TAC database lists the TAC, allocated after the policy's date.
    AllocatedAfter,
}

impl PolicyReason {
    /// The reason's text, as verdicts give it: `TAC not in the TAC database` or
    /// `TAC allocated after the policy's date`.
    pub fn text(self) -> &'static str {
        match self {
            PolicyReason::NotInDatabase => "TAC not in the TAC database",
            PolicyReason::AllocatedAfter => "TAC allocated after the policy's date",
        }
    }

    /// The short name used in JSON and metrics: `not-in-tac-db`, `allocated-after`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyReason::NotInDatabase => "not-in-tac-db",
            PolicyReason::AllocatedAfter => "allocated-after",
        }
    }
}

impl fmt::Display for PolicyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_every_day() {
        for days in (0..=Date::MAX_DAYS).step_by(7).chain([Date::MAX_DAYS]) {
            let d = Date(days);
            let (y, m, dd) = d.to_ymd();
            assert_eq!(Date::from_ymd(y, m, dd), Some(d), "{days}");
        }
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(9999, 12, 31), Some(Date(Date::MAX_DAYS)));
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert!(Date::from_ymd(2024, 2, 29).is_some());
        assert_eq!(Date::from_ymd(1900, 2, 28), None);
    }

    #[test]
    fn reason_codes_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
        assert_eq!(Reason::from_code(0), None);
        assert_eq!(Reason::from_code(7), None);
    }
}
