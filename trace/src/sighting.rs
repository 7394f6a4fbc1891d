//! What an EIR saw: a [`Sighting`] (a handset, its SIM and number, the verdict, when), and
//! the [`Policy`] that chooses which sightings a journal keeps.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use imei_index::{Described, Imei, Imsi, Reason, Reasons, Source, Status, Verdict};

/// A subscriber's number (MSISDN; a GPSI `msisdn-…` in 5G): 5 to 15 digits, E.164 without
/// the `+`.
///
/// # Example
///
/// ```
/// use imei_index_trace::Msisdn;
///
/// let n = Msisdn::parse("msisdn-919876543210")?;
/// assert_eq!(n.to_string(), "919876543210");
/// assert_eq!(Msisdn::parse("+91 98765 43210")?, n);
/// assert!(Msisdn::parse("12").is_err());
/// # Ok::<(), imei_index_trace::MsisdnError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msisdn {
    len: u8,
    value: u64,
}

/// Why a text is not an MSISDN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsisdnError(String);

impl fmt::Display for MsisdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MsisdnError {}

impl Msisdn {
    /// Parses 5 to 15 digits, optionally after `msisdn-` (a GPSI) or `+`, with spaces or
    /// hyphens between digits.
    ///
    /// # Errors
    ///
    /// A character that is not a digit, or fewer than 5 or more than 15 digits.
    pub fn parse(input: &str) -> Result<Msisdn, MsisdnError> {
        let t = input.trim();
        let body = t
            .strip_prefix("msisdn-")
            .or_else(|| t.strip_prefix('+'))
            .unwrap_or(t);
        let (mut len, mut value) = (0u8, 0u64);
        for (i, c) in body.chars().enumerate() {
            match c {
                '0'..='9' => {
                    len = len.saturating_add(1);
                    if len <= 15 {
                        value = value * 10 + u64::from(c as u8 - b'0');
                    }
                }
                ' ' | '-' if i > 0 => {}
                _ => {
                    return Err(MsisdnError(format!(
                        "invalid MSISDN {input:?}: character {c:?} is not a digit"
                    )));
                }
            }
        }
        if !(5..=15).contains(&len) {
            return Err(MsisdnError(format!(
                "invalid MSISDN {input:?}: {len} digits, expected 5 to 15"
            )));
        }
        Ok(Msisdn { len, value })
    }

    /// How many digits it has.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(self) -> usize {
        usize::from(self.len)
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = usize::from(self.len))
    }
}

impl FromStr for Msisdn {
    type Err = MsisdnError;

    fn from_str(s: &str) -> Result<Msisdn, MsisdnError> {
        Msisdn::parse(s)
    }
}

/// One check an EIR answered: the handset, the SIM (IMSI) and number (MSISDN) it came
/// with when the request named them, the verdict, and when.
///
/// # Example
///
/// ```
/// use imei_index::{Imei, Imsi, Verdict};
/// use imei_index_trace::{Msisdn, Sighting};
///
/// let s = Sighting::new(Imei::parse("354178036859789")?, Verdict::unknown())
///     .with_imsi(Imsi::parse("404685505601234")?)
///     .with_msisdn(Msisdn::parse("919876543210")?);
/// assert!(s.imsi.is_some() && s.msisdn.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// When the check was answered.
    pub at: SystemTime,
    /// The handset.
    pub imei: Imei,
    /// The SIM, when the request named one (S13 User-Name, N5g-eir `supi=imsi-…`).
    pub imsi: Option<Imsi>,
    /// The number, when the request named one (N5g-eir `gpsi=msisdn-…`).
    pub msisdn: Option<Msisdn>,
    /// What the lists said (not the answer a policy for unknown equipment made of it).
    pub verdict: Verdict,
    /// The deciding rule's reasons, as the index that answered names them (the journal's
    /// `reason` column joins them with `|`).
    pub reasons: Reasons,
    /// The deciding rule's source, when known.
    pub source: Option<Source>,
}

impl Sighting {
    /// A sighting now, with no SIM or number. Its reasons are the verdict's known reason
    /// alone, if it has one and no other ([`Verdict::reason`]); give the texts the index
    /// holds with [`Sighting::described`] or [`Sighting::with_texts`].
    pub fn new(imei: Imei, verdict: Verdict) -> Sighting {
        let reasons = match verdict.reason() {
            Some(Reason::Other) | None => Reasons::none(),
            Some(r) => Reasons::from(r),
        };
        Sighting {
            at: SystemTime::now(),
            imei,
            imsi: None,
            msisdn: None,
            verdict,
            reasons,
            source: None,
        }
    }

    /// A sighting now of a verdict with its texts, as
    /// [`LiveIndex::describe`](imei_index::LiveIndex::describe) resolved them.
    pub fn described(imei: Imei, d: Described) -> Sighting {
        Sighting::new(imei, d.verdict).with_texts(d.reasons, d.source)
    }

    /// The same, with the deciding rule's reasons and source (resolved with the index that
    /// answered).
    #[must_use]
    pub fn with_texts(mut self, reasons: Reasons, source: Option<Source>) -> Sighting {
        self.reasons = reasons;
        self.source = source;
        self
    }

    /// The same, with the SIM it came with.
    #[must_use]
    pub fn with_imsi(mut self, imsi: Imsi) -> Sighting {
        self.imsi = Some(imsi);
        self
    }

    /// The same, with the number it came with.
    #[must_use]
    pub fn with_msisdn(mut self, msisdn: Msisdn) -> Sighting {
        self.msisdn = Some(msisdn);
        self
    }

    /// The same, seen at `at`.
    #[must_use]
    pub fn at(mut self, at: SystemTime) -> Sighting {
        self.at = at;
        self
    }
}

/// Which sightings a journal keeps, by verdict.
///
/// # Example
///
/// ```
/// use imei_index::Status;
/// use imei_index_trace::Policy;
///
/// assert!(Policy::LISTED.keeps(Some(Status::Tracked)));
/// assert!(!Policy::LISTED.keeps(None));
/// assert!(Policy::ALL.keeps(None));
/// assert_eq!("blocked,unknown".parse::<Policy>()?, Policy::none().with(Some(Status::Blocked)).with(None));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Kept statuses by S13 code (0 allowed, 1 blocked, 2 tracked), then unknown.
    keep: [bool; 4],
}

impl Policy {
    /// Blocked and tracked handsets: those the network refuses or watches (the default).
    pub const LISTED: Policy = Policy {
        keep: [false, true, true, false],
    };
    /// Every check, unknown equipment included.
    pub const ALL: Policy = Policy { keep: [true; 4] };

    /// Keeps nothing (add statuses with [`Policy::with`]).
    pub const fn none() -> Policy {
        Policy { keep: [false; 4] }
    }

    /// The same, also keeping `status` (`None`: unknown equipment).
    #[must_use]
    pub fn with(mut self, status: Option<Status>) -> Policy {
        self.keep[Policy::slot(status)] = true;
        self
    }

    /// Whether a verdict of this status is kept.
    pub fn keeps(&self, status: Option<Status>) -> bool {
        self.keep[Policy::slot(status)]
    }

    fn slot(status: Option<Status>) -> usize {
        status.map_or(3, |s| usize::from(s.s13_code()))
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::LISTED
    }
}

/// `listed`, `all`, or a comma-separated list of `blocked`, `tracked`, `allowed`,
/// `unknown`.
impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        match s.trim() {
            "listed" => return Ok(Policy::LISTED),
            "all" => return Ok(Policy::ALL),
            _ => {}
        }
        let mut p = Policy::none();
        for word in s.split(',').map(str::trim) {
            p = p.with(match word {
                "blocked" => Some(Status::Blocked),
                "tracked" => Some(Status::Tracked),
                "allowed" => Some(Status::Allowed),
                "unknown" => None,
                _ => {
                    return Err(format!(
                        "{word:?} is not a journal policy: use listed, all, or a comma-separated \
                         list of blocked, tracked, allowed and unknown"
                    ));
                }
            });
        }
        Ok(p)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Policy::LISTED {
            return f.write_str("listed");
        }
        if *self == Policy::ALL {
            return f.write_str("all");
        }
        let names = ["allowed", "blocked", "tracked", "unknown"];
        let kept: Vec<&str> = (0..4).filter(|&i| self.keep[i]).map(|i| names[i]).collect();
        f.write_str(&kept.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdns_keep_leading_zeros_and_refuse_the_rest() {
        assert_eq!(Msisdn::parse("0012345").unwrap().to_string(), "0012345");
        assert_eq!(
            Msisdn::parse("123456789012345").unwrap().to_string(),
            "123456789012345"
        );
        for bad in ["", "1234", "1234567890123456", "12a45", "-12345", "msisdn-"] {
            assert!(Msisdn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policies_round_trip_as_text() {
        for p in [
            Policy::LISTED,
            Policy::ALL,
            Policy::none().with(Some(Status::Blocked)),
            Policy::none().with(None).with(Some(Status::Allowed)),
        ] {
            assert_eq!(p.to_string().parse::<Policy>(), Ok(p), "{p}");
        }
        assert!("blocked,stolen".parse::<Policy>().is_err());
    }
}
