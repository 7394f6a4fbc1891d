//! The fields of a rule that know nothing of rules: the known reasons, and what can be
//! wrong with a field.

use std::fmt;
use std::str::FromStr;

use crate::model::ident::Imei;

/// Why equipment is listed.
///
/// The discriminants are the reason codes of the C API (0 there means no reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Reason {
    /// Reported stolen.
    Stolen = 1,
    /// Reported lost.
    Lost = 2,
    /// Used in fraud or crime.
    Fraud = 3,
    /// Counterfeit equipment (invalid or non-allocated identity).
    Counterfeit = 4,
    /// An IMEI duplicated across several handsets.
    Duplicate = 5,
    /// Any other reason.
    Other = 6,
}

impl Reason {
    /// All reasons, by code.
    pub const ALL: [Reason; 6] = [
        Reason::Stolen,
        Reason::Lost,
        Reason::Fraud,
        Reason::Counterfeit,
        Reason::Duplicate,
        Reason::Other,
    ];

    /// The reason's code, 1 to 6.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason with a code, if the code is one.
    pub fn from_code(code: u8) -> Option<Reason> {
        Reason::ALL.get(usize::from(code).wrapping_sub(1)).copied()
    }

    /// The lower-case name used in list files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Stolen => "stolen",
            Reason::Lost => "lost",
            Reason::Fraud => "fraud",
            Reason::Counterfeit => "counterfeit",
            Reason::Duplicate => "duplicate",
            Reason::Other => "other",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = FieldError;

    /// Accepts the names `stolen|lost|fraud|counterfeit|duplicate|other`, case-insensitively.
    fn from_str(s: &str) -> Result<Reason, FieldError> {
        let t = s.trim();
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| FieldError::Reason(s.to_string()))
    }
}

/// A field of a rule that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// An unknown status word.
    #[error(
        "{0:?} is not a status: use blocked, tracked or allowed \
         (or black/grey/white, blacklisted/greylisted/whitelisted, prohibited/tracking/permitted)"
    )]
    Status(String),
    /// An unknown reason word.
    #[error(
        "{0:?} is not a reason: use stolen, lost, fraud, counterfeit, duplicate, other, or leave it empty"
    )]
    Reason(String),
    /// A reason text that is empty, too long, or holds `|` or a control character.
    #[error(
        "{0:?} is not a reason: a reason is 1 to 255 bytes of text without '|' (which \
         separates reasons) or control characters"
    )]
    ReasonText(String),
    /// A source name that is not one.
    #[error(
        "{0:?} is not a source name: use 1 to 64 of a-z, 0-9, '_', '.', '/' and '-' \
         (for example local or dirbs/blacklist)"
    )]
    Source(String),
    /// An earlier status on an entry without a start.
    #[error(
        "an earlier status says what a rule answers before its start, but the rule has no \
         start: give it a start date, or drop the earlier status"
    )]
    EarlierWithoutStart,
    /// A date that is not `YYYY-MM-DD` or does not exist.
    #[error("{0:?} is not a date: use YYYY-MM-DD, a real day between 1970-01-01 and 9999-12-31")]
    Date(String),
    /// A range whose first IMEI is after its last.
    #[error(
        "the range starts at {first} but ends at {last}: its first IMEI must not be after its last"
    )]
    RangeOrder {
        /// The range's first IMEI.
        first: Imei,
        /// The range's last IMEI.
        last: Imei,
    },
}
