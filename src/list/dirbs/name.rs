//! DIRBS list file names: the run's date and time, the list, and for deltas the runs and the
//! change.

use std::fmt;

use crate::model::rule::Date;

/// The register prefix of source names when none is given: `dirbs`.
pub const REGISTER: &str = "dirbs";

/// Which of a register run's lists a file holds, without its operator.
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{ChangeType, ListKind};
///
/// assert_eq!(ListKind::Notifications.columns(), ["imei", "imsi", "msisdn", "block_date", "reasons"]);
/// assert_eq!(ListKind::Exceptions.changes(), [ChangeType::Added, ChangeType::Removed]);
/// assert_eq!(ListKind::Blacklist.to_string(), "blacklist");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListKind {
    /// The blacklist: IMEIs blocked from their block date.
    Blacklist,
    /// An operator's notification list: subscribers whose handset will be blocked.
    Notifications,
    /// An operator's exception list: IMEI, IMSI and MSISDN pairings that stay allowed.
    Exceptions,
}

impl ListKind {
    /// Every list kind.
    pub const ALL: [ListKind; 3] = [
        ListKind::Blacklist,
        ListKind::Notifications,
        ListKind::Exceptions,
    ];

    /// The list's word in file names: `blacklist`, `notifications` or `exceptions`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Blacklist => "blacklist",
            ListKind::Notifications => "notifications",
            ListKind::Exceptions => "exceptions",
        }
    }

    /// The columns of the list's files, full and delta alike, as their header names them.
    /// A notification list has a sixth, `amnesty_granted`, when the register grants amnesty.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ListKind::Blacklist => &["imei", "block_date", "reasons"],
            ListKind::Notifications => &["imei", "imsi", "msisdn", "block_date", "reasons"],
            ListKind::Exceptions => &["imei", "imsi", "msisdn"],
        }
    }

    /// The changes the list's delta files hold, one file each, in the order DIRBS names them.
    pub fn changes(self) -> &'static [ChangeType] {
        use ChangeType::*;
        match self {
            ListKind::Blacklist => &[Blocked, Unblocked, Changed],
            ListKind::Notifications => &[New, Resolved, Blacklisted, NoLongerSeen, Changed],
            ListKind::Exceptions => &[Added, Removed],
        }
    }

    /// The list in words, for messages: `the blacklist`, `a notification list`, `an
    /// exception list`.
    pub(crate) fn described(self) -> &'static str {
        match self {
            ListKind::Blacklist => "the blacklist",
            ListKind::Notifications => "a notification list",
            ListKind::Exceptions => "an exception list",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of a register run's lists: the blacklist, or an operator's notification or exception
/// list.
///
/// Operator ids are the register's: 1 to 16 of `a-z`, `0-9` and `_` (so `op_1` is one
/// operator, not `op` and a suffix). This is plain data: a `List` built by hand is not
/// checked, and one with an operator id outside that alphabet selects no file.
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{List, ListKind};
///
/// let list = List::Notifications { operator: "op_1".into() };
/// assert_eq!(list.kind(), ListKind::Notifications);
/// assert_eq!(list.operator(), Some("op_1"));
/// assert_eq!(list.to_string(), "notifications_op_1");
/// assert_eq!(list.source_name("dirbs"), "dirbs/notifications/op_1");
/// assert_eq!(List::Blacklist.source_name("ng-dirbs"), "ng-dirbs/blacklist");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    /// The blacklist (one per run).
    Blacklist,
    /// An operator's notification list.
    Notifications {
        /// The operator's id.
        operator: String,
    },
    /// An operator's exception list.
    Exceptions {
        /// The operator's id.
        operator: String,
    },
}

impl List {
    /// Which kind of list this is.
    pub fn kind(&self) -> ListKind {
        match self {
            List::Blacklist => ListKind::Blacklist,
            List::Notifications { .. } => ListKind::Notifications,
            List::Exceptions { .. } => ListKind::Exceptions,
        }
    }

    /// The operator whose list this is; `None` for the blacklist.
    pub fn operator(&self) -> Option<&str> {
        match self {
            List::Blacklist => None,
            List::Notifications { operator } | List::Exceptions { operator } => Some(operator),
        }
    }

    /// The name of the source the list's rules belong to (docs/semantics.md):
    /// `REGISTER/blacklist`, `REGISTER/notifications/OP` or `REGISTER/exceptions/OP`, where
    /// `REGISTER` is `register` ([`REGISTER`], `dirbs`, for the usual one).
    pub fn source_name(&self, register: &str) -> String {
        match self.operator() {
            None => format!("{register}/{}", self.kind()),
            Some(op) => format!("{register}/{}/{op}", self.kind()),
        }
    }
}

/// The list as file names spell it: `blacklist`, `notifications_OP`, `exceptions_OP`.
impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator() {
            None => write!(f, "{}", self.kind()),
            Some(op) => write!(f, "{}_{op}", self.kind()),
        }
    }
}

/// The change a delta file holds: each delta file holds one, named at the end of its name.
///
/// Which ones a list has is [`ListKind::changes`]; what each means is the register's (see
/// docs/register-files.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeType {
    /// Blacklist: IMEIs newly blocked.
    Blocked,
    /// Blacklist: IMEIs no longer blocked (the rows carry their old values).
    Unblocked,
    /// Blacklist or notifications: rows whose block date or reasons changed (new values).
    Changed,
    /// Notifications: rows newly notified.
    New,
    /// Notifications: rows that left the list because the subscriber resolved them.
    Resolved,
    /// Notifications: rows that left the list because the IMEI is now blacklisted.
    Blacklisted,
    /// Notifications: rows that left the list because the subscriber was no longer seen.
    NoLongerSeen,
    /// Exceptions: pairings newly listed.
    Added,
    /// Exceptions: pairings no longer listed.
    Removed,
}

impl ChangeType {
    /// The change's word in file names: `blocked`, `no_longer_seen`, …
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::list::dirbs::ChangeType;
    ///
    /// assert_eq!(ChangeType::NoLongerSeen.as_str(), "no_longer_seen");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Blocked => "blocked",
            ChangeType::Unblocked => "unblocked",
            ChangeType::Changed => "changed",
            ChangeType::New => "new",
            ChangeType::Resolved => "resolved",
            ChangeType::Blacklisted => "blacklisted",
            ChangeType::NoLongerSeen => "no_longer_seen",
            ChangeType::Added => "added",
            ChangeType::Removed => "removed",
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a register run wrote its lists: the date and time at the start of every file name
/// of the run (`YYYYMMDD_HHMMSS`, the register's local wall-clock time).
///
/// It is neither the run's "current date" nor any row's block date: do not read a block date
/// from it. Stamps order as times do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunStamp {
    /// The day.
    pub date: Date,
    /// The hour, 0 to 23.
    pub hour: u8,
    /// The minute, 0 to 59.
    pub minute: u8,
    /// The second, 0 to 59.
    pub second: u8,
}

/// `YYYYMMDD_HHMMSS`, as file names spell it.
impl fmt::Display for RunStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.date.to_ymd();
        write!(
            f,
            "{y:04}{m:02}{d:02}_{:02}{:02}{:02}",
            self.hour, self.minute, self.second
        )
    }
}

/// What a delta file's name says beyond its list: the runs it goes between and its change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeltaRun {
    /// The run the delta starts from, or -1 when the register had no earlier run (then the
    /// delta holds the whole list).
    pub base_run: i64,
    /// The run that wrote the delta. Run ids increase from run to run, but not by one: the
    /// register numbers all its jobs from one sequence.
    pub run: u64,
    /// The change the file holds.
    pub change: ChangeType,
}

/// The name of a register run's list file, full or delta, parsed.
///
/// | file | name |
/// |---|---|
/// | blacklist | `YYYYMMDD_HHMMSS_blacklist.csv` |
/// | blacklist delta | `YYYYMMDD_HHMMSS_blacklist_delta_BASE_RUN_CHANGE.csv` |
/// | notification list | `YYYYMMDD_HHMMSS_notifications_OP.csv` |
/// | notification delta | `YYYYMMDD_HHMMSS_notifications_OP_delta_BASE_RUN_CHANGE.csv` |
/// | exception list | `YYYYMMDD_HHMMSS_exceptions_OP.csv` |
/// | exception delta | `YYYYMMDD_HHMMSS_exceptions_OP_delta_BASE_RUN_CHANGE.csv` |
///
/// `CHANGE` is one of the list's [`ListKind::changes`]; `BASE` is a run id or `-1`; `OP` an
/// operator id (1 to 16 of `a-z0-9_`). A name that ends in `_delta_BASE_RUN_CHANGE.csv` is a
/// delta's, even if its operator id could have been read as all of `OP_delta_BASE_RUN_CHANGE`.
///
/// `Display` writes the name back (without a directory). This is plain data: a `FileName`
/// built by hand is not checked, and one whose change is not its list's writes a name that
/// does not parse.
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{ChangeType, FileName, List};
///
/// let name = FileName::parse("lists/20160301_101502_notifications_op_1_delta_-1_57_no_longer_seen.csv")?;
/// assert_eq!(name.stamp.to_string(), "20160301_101502");
/// assert_eq!(name.list, List::Notifications { operator: "op_1".into() });
/// let delta = name.delta.unwrap();
/// assert_eq!((delta.base_run, delta.run, delta.change), (-1, 57, ChangeType::NoLongerSeen));
/// assert_eq!(name.source_name(), "dirbs/notifications/op_1");
/// assert_eq!(name.to_string(), "20160301_101502_notifications_op_1_delta_-1_57_no_longer_seen.csv");
///
/// let full = FileName::parse("20160301_101502_blacklist.csv")?;
/// assert!(!full.is_delta());
/// assert_eq!(full.source_name_in("kh-dirbs"), "kh-dirbs/blacklist");
///
/// let err = FileName::parse("20160301_101502_blacklist_delta_-1_57_added.csv").unwrap_err();
/// assert_eq!(err.position, 39);
/// assert!(err.to_string().contains("\"added\" is not a change of the blacklist"), "{err}");
/// # Ok::<(), imei_index::list::dirbs::NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileName {
    /// When the run wrote the file.
    pub stamp: RunStamp,
    /// Which list the file holds.
    pub list: List,
    /// For a delta file, its runs and change; `None` for a full list.
    pub delta: Option<DeltaRun>,
}

impl FileName {
    /// Parses a list file's name, or a path whose last part (after the last `/` or `\`) is
    /// one.
    ///
    /// # Errors
    ///
    /// A [`NameError`] saying what is wrong and at which character of `path`.
    pub fn parse(path: &str) -> Result<FileName, NameError> {
        let name = Name::new(path, false);
        let (stamp, rest) = name.stamp_and_rest()?;
        let (list, delta) = name.list_and_delta(rest, true)?;
        Ok(FileName { stamp, list, delta })
    }

    /// True for a delta file, false for a full list.
    pub fn is_delta(&self) -> bool {
        self.delta.is_some()
    }

    /// The name of the source the file's rules belong to: `dirbs/blacklist`,
    /// `dirbs/notifications/OP` or `dirbs/exceptions/OP`.
    pub fn source_name(&self) -> String {
        self.list.source_name(REGISTER)
    }

    /// The name of the source the file's rules belong to, for a register called `register`:
    /// `REGISTER/blacklist`, `REGISTER/notifications/OP` or `REGISTER/exceptions/OP`.
    pub fn source_name_in(&self, register: &str) -> String {
        self.list.source_name(register)
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.stamp, self.list)?;
        if let Some(d) = &self.delta {
            write!(f, "_delta_{}_{}_{}", d.base_run, d.run, d.change)?;
        }
        f.write_str(".csv")
    }
}

/// The name of the zip a register run puts one list's files in, parsed:
/// `YYYYMMDD_HHMMSS_blacklist.zip`, `YYYYMMDD_HHMMSS_notifications_OP.zip` or
/// `YYYYMMDD_HHMMSS_exceptions_OP.zip`.
///
/// The zip holds the list's full file and its delta files, by their names; pick them with
/// [`ZipName::select`], which also leaves out another operator's files (the register puts
/// `op10`'s files in `op1`'s zip as well, because it picks them by name prefix).
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{List, ZipName};
///
/// let zip = ZipName::parse("/srv/dirbs/20160301_101502_exceptions_op1.zip")?;
/// assert_eq!(zip.list, List::Exceptions { operator: "op1".into() });
/// assert_eq!(zip.to_string(), "20160301_101502_exceptions_op1.zip");
/// # Ok::<(), imei_index::list::dirbs::NameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZipName {
    /// When the run wrote the zip.
    pub stamp: RunStamp,
    /// Which list's files it holds.
    pub list: List,
}

impl ZipName {
    /// Parses a zip's name, or a path whose last part (after the last `/` or `\`) is one.
    ///
    /// # Errors
    ///
    /// A [`NameError`] saying what is wrong and at which character of `path`.
    pub fn parse(path: &str) -> Result<ZipName, NameError> {
        let name = Name::new(path, true);
        let (stamp, rest) = name.stamp_and_rest()?;
        let (list, _) = name.list_and_delta(rest, false)?;
        Ok(ZipName { stamp, list })
    }

    /// Whether a list file is one of this zip's: the same run and the same list.
    pub fn holds(&self, file: &FileName) -> bool {
        file.stamp == self.stamp && file.list == self.list
    }
}

impl fmt::Display for ZipName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}.zip", self.stamp, self.list)
    }
}

/// Why a file name is not a register list file's (or zip's) name, and where.
///
/// # Example
///
/// ```
/// use imei_index::list::dirbs::{FileName, NameProblem};
///
/// let err = FileName::parse("out/20160301_101502_notifications_Op1.csv").unwrap_err();
/// assert_eq!(err.position, 35);
/// assert!(matches!(err.problem, NameProblem::Operator { .. }));
/// assert_eq!(
///     err.to_string(),
///     "the file name \"out/20160301_101502_notifications_Op1.csv\" is not a DIRBS list \
///      file's, at character 35: the operator id \"Op1\" is not 1 to 16 of a-z, 0-9 and _, \
///      as the register writes operator ids",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    /// The name or path as given.
    pub name: String,
    /// The 1-based character position in `name` where the problem is.
    pub position: usize,
    /// What is wrong.
    pub problem: NameProblem,
    /// Whether a zip's name was parsed rather than a list file's.
    zip: bool,
}

/// What is wrong with a register list file's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name does not end in the extension.
    #[error("the name does not end in {extension}, as every one of the register's {what} does")]
    Extension {
        /// The extension expected: `.csv` or `.zip`.
        extension: &'static str,
        /// What has that extension: `list files` or `zips`.
        what: &'static str,
    },
    /// The name does not start with a run's date and time.
    #[error(
        "the name does not start with the run's date and time, YYYYMMDD_HHMMSS_ (a real day, \
         and a time of day), as the register names every file: \
         YYYYMMDD_HHMMSS_blacklist, _notifications_OP or _exceptions_OP"
    )]
    Stamp,
    /// The name does not go on with a list after the date and time.
    #[error(
        "no list follows the date and time: the register's files go on with blacklist, \
         notifications_OP or exceptions_OP (OP an operator id)"
    )]
    List,
    /// An operator id that is not one.
    #[error(
        "the operator id {operator:?} is not 1 to 16 of a-z, 0-9 and _, as the register writes \
         operator ids"
    )]
    Operator {
        /// The operator id as the name spells it.
        operator: String,
    },
    /// Text after `blacklist` that is not a delta's.
    #[error("{text:?} follows blacklist, but only {expected} may")]
    AfterList {
        /// The text after `blacklist`.
        text: String,
        /// What may follow instead.
        expected: &'static str,
    },
    /// A run id that does not fit in 64 bits.
    #[error("the run id {text} is too large: run ids are at most 19 digits")]
    RunId {
        /// The run id as the name spells it.
        text: String,
    },
    /// A delta's change that the list has no file for.
    #[error(
        "{change:?} is not a change of {}: its delta files are for {}",
        kind.described(),
        changes_of(*kind)
    )]
    Change {
        /// The change as the name spells it.
        change: String,
        /// The list's kind.
        kind: ListKind,
    },
}

/// `a, b or c`: the changes of a list, for messages.
fn changes_of(kind: ListKind) -> String {
    let words: Vec<&str> = kind.changes().iter().map(|c| c.as_str()).collect();
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the file name {:?} is not a DIRBS {}, at character {}: {}",
            self.name,
            if self.zip {
                "list zip's"
            } else {
                "list file's"
            },
            self.position,
            self.problem
        )
    }
}

/// The message says everything, the problem's included, so there is no separate source.
impl std::error::Error for NameError {}

/// A name being parsed: the path as given and where its file-name part starts.
struct Name<'a> {
    path: &'a str,
    /// Byte offset of the file-name part in `path`.
    start: usize,
    zip: bool,
}

impl<'a> Name<'a> {
    fn new(path: &'a str, zip: bool) -> Name<'a> {
        let start = path.rfind(['/', '\\']).map_or(0, |i| i + 1);
        Name { path, start, zip }
    }

    /// An error at byte offset `at` of the file-name part.
    fn err(&self, at: usize, problem: NameProblem) -> NameError {
        let end = (self.start + at).min(self.path.len());
        // Offsets always fall on character boundaries here, but count safely regardless.
        let position = self.path.get(..end).map_or(end, |s| s.chars().count()) + 1;
        NameError {
            name: self.path.to_string(),
            position,
            problem,
            zip: self.zip,
        }
    }

    fn base(&self) -> &'a str {
        &self.path[self.start..]
    }

    /// The run's stamp and the text between it and the extension (with its offset 16).
    fn stamp_and_rest(&self) -> Result<(RunStamp, &'a str), NameError> {
        let extension = if self.zip { ".zip" } else { ".csv" };
        let base = self.base();
        let Some(body) = base.strip_suffix(extension) else {
            let at = base.rfind('.').unwrap_or(base.len());
            let what = if self.zip { "list zips" } else { "list files" };
            return Err(self.err(at, NameProblem::Extension { extension, what }));
        };
        let b = body.as_bytes();
        // YYYYMMDD_HHMMSS_: digits, and underscores at 8 and 15.
        for i in 0..16 {
            let ok = match i {
                8 | 15 => b.get(i) == Some(&b'_'),
                _ => b.get(i).is_some_and(u8::is_ascii_digit),
            };
            if !ok {
                return Err(self.err(i, NameProblem::Stamp));
            }
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
        };
        let date = Date::from_ymd(num(0..4), num(4..6), num(6..8))
            .ok_or_else(|| self.err(0, NameProblem::Stamp))?;
        let (hour, minute, second) = (num(9..11), num(11..13), num(13..15));
        if hour > 23 || minute > 59 || second > 59 {
            return Err(self.err(9, NameProblem::Stamp));
        }
        let stamp = RunStamp {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
        };
        Ok((stamp, &body[16..]))
    }

    /// The list and, if `deltas` and the name is a delta's, its runs and change, from the
    /// text after the stamp (at offset 16 of the file-name part).
    fn list_and_delta(
        &self,
        rest: &'a str,
        deltas: bool,
    ) -> Result<(List, Option<DeltaRun>), NameError> {
        const AT: usize = 16;
        let expected = if self.zip {
            ".zip"
        } else {
            ".csv, or _delta_BASE_RUN_CHANGE.csv for a delta file,"
        };
        if let Some(tail) = rest.strip_prefix("blacklist") {
            if tail.is_empty() {
                return Ok((List::Blacklist, None));
            }
            let at = AT + "blacklist".len();
            if deltas && let Some(d) = tail.strip_prefix("_delta_").and_then(split_delta) {
                let delta = self.delta(ListKind::Blacklist, d, at + "_delta_".len())?;
                return Ok((List::Blacklist, Some(delta)));
            }
            return Err(self.err(
                at,
                NameProblem::AfterList {
                    text: tail.to_string(),
                    expected,
                },
            ));
        }
        let (kind, tail) = if let Some(t) = rest.strip_prefix("notifications_") {
            (ListKind::Notifications, t)
        } else if let Some(t) = rest.strip_prefix("exceptions_") {
            (ListKind::Exceptions, t)
        } else {
            return Err(self.err(AT, NameProblem::List));
        };
        let at = AT + kind.as_str().len() + 1;
        // A delta's name ends in _delta_BASE_RUN_CHANGE: the last such ending that parses.
        let delta = tail
            .rmatch_indices("_delta_")
            .filter(|_| deltas)
            .find_map(|(i, _)| split_delta(&tail[i + "_delta_".len()..]).map(|d| (i, d)));
        let (operator, delta) = match delta {
            Some((i, d)) => {
                let delta = self.delta(kind, d, at + i + "_delta_".len())?;
                (&tail[..i], Some(delta))
            }
            None => (tail, None),
        };
        let valid = (1..=16).contains(&operator.len())
            && operator
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(self.err(
                at,
                NameProblem::Operator {
                    operator: operator.to_string(),
                },
            ));
        }
        let operator = operator.to_string();
        let list = match kind {
            ListKind::Notifications => List::Notifications { operator },
            _ => List::Exceptions { operator },
        };
        Ok((list, delta))
    }

    /// The runs and change of a delta, checked against the list's kind; `at` is the offset of
    /// the base run id in the file-name part.
    fn delta(&self, kind: ListKind, d: DeltaParts<'_>, at: usize) -> Result<DeltaRun, NameError> {
        let base_run = d.base.parse::<i64>().map_err(|_| {
            self.err(
                at,
                NameProblem::RunId {
                    text: d.base.into(),
                },
            )
        })?;
        let run_at = at + d.base.len() + 1;
        let run = d
            .run
            .parse::<u64>()
            .map_err(|_| self.err(run_at, NameProblem::RunId { text: d.run.into() }))?;
        let change_at = run_at + d.run.len() + 1;
        let change = kind
            .changes()
            .iter()
            .copied()
            .find(|c| c.as_str() == d.change)
            .ok_or_else(|| {
                self.err(
                    change_at,
                    NameProblem::Change {
                        change: d.change.into(),
                        kind,
                    },
                )
            })?;
        Ok(DeltaRun {
            base_run,
            run,
            change,
        })
    }
}

/// The parts of `BASE_RUN_CHANGE`, unchecked but for their shape.
struct DeltaParts<'a> {
    base: &'a str,
    run: &'a str,
    change: &'a str,
}

/// Splits `BASE_RUN_CHANGE` (`-?[0-9]+_[0-9]+_[a-z_]+`), or `None` if it is not that shape.
fn split_delta(text: &str) -> Option<DeltaParts<'_>> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let sign = usize::from(text.starts_with('-'));
    let base_len = sign + digits(&text[sign..]);
    if base_len == sign || text.as_bytes().get(base_len) != Some(&b'_') {
        return None;
    }
    let after_base = &text[base_len + 1..];
    let run_len = digits(after_base);
    if run_len == 0 || after_base.as_bytes().get(run_len) != Some(&b'_') {
        return None;
    }
    let change = &after_base[run_len + 1..];
    let shaped = !change.is_empty() && change.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    shaped.then_some(DeltaParts {
        base: &text[..base_len],
        run: &after_base[..run_len],
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_shapes() {
        let d = split_delta("-1_57_no_longer_seen").unwrap();
        assert_eq!((d.base, d.run, d.change), ("-1", "57", "no_longer_seen"));
        for bad in [
            "", "-", "-_1_x", "1_2_", "1__x", "1_2_X", "a_1_x", "1_a_x", "1_2",
        ] {
            assert!(split_delta(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn change_lists_read_as_sentences() {
        assert_eq!(changes_of(ListKind::Exceptions), "added or removed");
        assert_eq!(
            changes_of(ListKind::Blacklist),
            "blocked, unblocked or changed"
        );
    }
}
