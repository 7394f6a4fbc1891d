//! Equipment and subscriber identifiers: [`Imei`], [`ImeiSv`], [`Tac`], [`Imsi`] and [`Msisdn`].
//!
//! An IMEI (3GPP TS 23.003 §6.2.1) is a Type Allocation Code (8 digits, one handset model),
//! a serial number (6 digits) and a Luhn check digit. The check digit is derived and "is not
//! part of the digits transmitted when the IMEI is checked", so [`Imei`] holds only the 14
//! digits of TAC and serial and derives the check digit on demand. An IMEISV carries the same
//! 14 digits plus a 2-digit software version and names the same handset.

use std::fmt;
use std::str::FromStr;

/// 10^14: one more than the largest 14-digit IMEI (TAC + serial).
const IMEI_LIMIT: u64 = 100_000_000_000_000;
/// 10^8: one more than the largest 8-digit TAC.
const TAC_LIMIT: u32 = 100_000_000;

/// Why a string is not a valid identifier.
///
/// Every variant says what was wrong and, where it is about one character, at which
/// 1-based character position of the input. Callers that read files add the file and line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The input was empty or held only whitespace.
    #[error("the {what} is empty: expected {expected}")]
    Empty {
        /// Which identifier was being parsed ("IMEI", "TAC", "IMSI" …).
        what: &'static str,
        /// What a valid one looks like.
        expected: &'static str,
    },
    /// A character that is neither a digit nor an allowed separator.
    #[error(
        "character {ch:?} at position {position} is not a digit: the {what} must hold only digits{}",
        if *what == "IMEI" || *what == "IMEISV" { " (spaces and hyphens may separate them)" } else { "" }
    )]
    NonDigit {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The offending character.
        ch: char,
        /// Its 1-based character position in the input.
        position: usize,
    },
    /// A space or hyphen that does not stand between two digits.
    #[error(
        "separator {ch:?} at position {position} does not stand between two digits: \
         remove it, spaces and hyphens may only separate digits of the {what}"
    )]
    MisplacedSeparator {
        /// Which identifier was being parsed.
        what: &'static str,
        /// The separator.
        ch: char,
        /// Its 1-based character position in the input.
        position: usize,
    },
    /// The number of digits is not one the identifier can have.
    #[error("the {what} has {found} digits: expected {expected}")]
    Length {
        /// Which identifier was being parsed.
        what: &'static str,
        /// How many digits the input held.
        found: usize,
        /// What a valid one looks like.
        expected: &'static str,
    },
    /// A 15-digit IMEI whose last digit is not the Luhn check digit of the first 14.
    #[error(
        "the check digit is {found} but the Luhn check digit of the first 14 digits is \
         {expected}: the IMEI is mistyped or forged (parse it leniently to classify it anyway)"
    )]
    CheckDigit {
        /// The check digit that the first 14 digits imply.
        expected: u8,
        /// The 15th digit of the input.
        found: u8,
    },
    /// A 5G permanent equipment identifier that names no IMEI (`mac-…`, `eui-…`).
    #[error(
        "the PEI is a {kind}, not an IMEI: only imei-… and imeisv-… PEIs name a handset \
         that IMEI lists can hold"
    )]
    NotAnImei {
        /// What the PEI names instead ("MAC address", "EUI-64").
        kind: &'static str,
    },
    /// A number too large for the identifier.
    #[error("{value} is too large for an {what}: expected at most {max}")]
    OutOfRange {
        /// Which identifier was being built.
        what: &'static str,
        /// The number given.
        value: u64,
        /// The largest valid number.
        max: u64,
    },
}

/// The Luhn check digit of a 14-digit IMEI body (TS 23.003 Annex B).
fn luhn_check_digit(mut body: u64) -> u8 {
    // Walk from the rightmost digit; it is the one that gets doubled.
    let mut sum = 0u32;
    let mut double = true;
    for _ in 0..14 {
        let d = (body % 10) as u32;
        body /= 10;
        sum += if double {
            let x = d * 2;
            x / 10 + x % 10
        } else {
            d
        };
        double = !double;
    }
    ((10 - sum % 10) % 10) as u8
}

/// The digits of an IMEI-like input with separators removed, and what prefix it had.
struct Digits {
    buf: [u8; 16],
    len: usize,
}

impl Digits {
    fn value(&self, range: std::ops::Range<usize>) -> u64 {
        self.buf[range]
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d))
    }
}

/// Which PEI prefix the input carried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    None,
    Imei,
    ImeiSv,
}

/// Splits off a TS 29.571 PEI prefix, rejecting PEIs that name no IMEI.
fn split_prefix(s: &str) -> Result<(Prefix, &str, usize), IdError> {
    fn strip<'a>(s: &'a str, p: &str) -> Option<&'a str> {
        let head = s.get(..p.len())?;
        head.eq_ignore_ascii_case(p).then(|| &s[p.len()..])
    }
    if let Some(rest) = strip(s, "imeisv-") {
        return Ok((Prefix::ImeiSv, rest, 7));
    }
    if let Some(rest) = strip(s, "imei-") {
        return Ok((Prefix::Imei, rest, 5));
    }
    if strip(s, "mac-").is_some() {
        return Err(IdError::NotAnImei {
            kind: "MAC address",
        });
    }
    if strip(s, "eui-").is_some() {
        return Err(IdError::NotAnImei { kind: "EUI-64" });
    }
    Ok((Prefix::None, s, 0))
}

/// Collects the digits of an IMEI or IMEISV, allowing spaces and hyphens between digits.
fn collect_digits(input: &str, what: &'static str) -> Result<(Prefix, Digits), IdError> {
    // The common case, a list's or a request's plain digits, without the walk below.
    let bytes = input.as_bytes();
    if (1..=16).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_digit) {
        let mut digits = Digits {
            buf: [0; 16],
            len: bytes.len(),
        };
        for (d, &b) in digits.buf.iter_mut().zip(bytes) {
            *d = b - b'0';
        }
        return Ok((Prefix::None, digits));
    }
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty {
            what,
            expected: "14 or 15 digits, or 16 for an IMEISV",
        });
    }
    // Character positions are reported relative to the caller's input, so count the
    // characters that trimming removed.
    let lead = input[..input.len() - input.trim_start().len()]
        .chars()
        .count();
    let (prefix, body, prefix_chars) = split_prefix(trimmed)?;
    let mut digits = Digits {
        buf: [0; 16],
        len: 0,
    };
    let mut count = 0usize;
    let mut pending_sep: Option<(char, usize)> = None;
    for (i, ch) in body.chars().enumerate() {
        let position = lead + prefix_chars + i + 1;
        match ch {
            '0'..='9' => {
                if count < digits.buf.len() {
                    digits.buf[count] = ch as u8 - b'0';
                }
                count += 1;
                pending_sep = None;
            }
            ' ' | '-' => {
                if count == 0 {
                    return Err(IdError::MisplacedSeparator { what, ch, position });
                }
                pending_sep.get_or_insert((ch, position));
            }
            _ => return Err(IdError::NonDigit { what, ch, position }),
        }
    }
    if let Some((ch, position)) = pending_sep {
        return Err(IdError::MisplacedSeparator { what, ch, position });
    }
    if count == 0 {
        return Err(IdError::Empty {
            what,
            expected: "14 or 15 digits, or 16 for an IMEISV",
        });
    }
    digits.len = count;
    Ok((prefix, digits))
}

/// Whether an input's check digit was right, wrong or not given.
///
/// Returned by [`Imei::parse_lenient`]. Counterfeit handsets often carry wrong check digits
/// and some networks send a spare `0` in its place; an EIR must still classify them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckDigit {
    /// The input had a 15th digit and it was the Luhn check digit.
    Valid,
    /// The input had no check digit (14 digits, or a 16-digit IMEISV).
    Absent,
    /// The input's 15th digit was not the Luhn check digit.
    Invalid {
        /// The check digit that the first 14 digits imply.
        expected: u8,
        /// The digit the input carried.
        found: u8,
    },
}

impl CheckDigit {
    /// What a 15th digit `found` says, when the first 14 digits imply `expected`.
    pub(crate) fn of(expected: u8, found: u8) -> CheckDigit {
        if found == expected {
            CheckDigit::Valid
        } else {
            CheckDigit::Invalid { expected, found }
        }
    }

    /// True when the check digit was right or absent: nothing about the input is suspect.
    pub fn is_ok(self) -> bool {
        !matches!(self, CheckDigit::Invalid { .. })
    }
}

/// An IMEI as leniently parsed: the handset's 14 digits and what its check digit said.
///
/// # Example
///
/// ```
/// use imei_index::{CheckDigit, Imei};
///
/// // A forged IMEI with a wrong 15th digit is still classified.
/// let parsed = Imei::parse_lenient("354178036859781")?;
/// assert_eq!(parsed.imei.to_string(), "354178036859789");
/// assert_eq!(parsed.check_digit, CheckDigit::Invalid { expected: 9, found: 1 });
/// assert!(!parsed.check_digit.is_ok());
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LenientImei {
    /// The handset's TAC and serial number.
    pub imei: Imei,
    /// What the input's check digit said.
    pub check_digit: CheckDigit,
}

/// An IMEI: the 14 digits of Type Allocation Code and serial number that name one handset.
///
/// The check digit is derived, never stored, so the 15-digit and 14-digit forms of one
/// IMEI, and an IMEISV of the same handset, are equal `Imei`s. `Display` prints the 15-digit
/// form with its check digit.
///
/// # Example
///
/// ```
/// use imei_index::Imei;
///
/// let imei = Imei::parse("35-209900-176148-1")?;
/// assert_eq!(imei.to_string(), "352099001761481");
/// assert_eq!(imei.tac().to_string(), "35209900");
/// assert_eq!(imei.snr(), 176148);
/// assert_eq!(imei.check_digit(), 1);
/// // An IMEISV of the same handset is the same IMEI.
/// assert_eq!(Imei::parse("35-209900-176148-23")?, imei);
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Imei(u64);

impl Imei {
    /// The smallest IMEI, `00000000000000`.
    pub const MIN: Imei = Imei(0);
    /// The largest IMEI, `99999999999999`.
    pub const MAX: Imei = Imei(IMEI_LIMIT - 1);

    /// Parses an IMEI strictly.
    ///
    /// Accepts 14 digits; 15 digits whose last is the Luhn check digit; a 16-digit IMEISV
    /// (its software version is dropped); the 5G PEI forms `imei-<15 digits>` and
    /// `imeisv-<16 digits>`. Spaces and hyphens may separate digits; surrounding whitespace
    /// is ignored.
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying what is wrong and where: empty input, a non-digit, a separator
    /// not between digits, a wrong number of digits, a wrong check digit, or a PEI that names
    /// a MAC address or EUI-64 rather than an IMEI.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::{IdError, Imei};
    ///
    /// assert!(Imei::parse("49-015420-323751").is_ok());
    /// assert!(Imei::parse("imei-354178036859789").is_ok());
    /// assert_eq!(
    ///     Imei::parse("35-417803-685978-1"),
    ///     Err(IdError::CheckDigit { expected: 9, found: 1 }),
    /// );
    /// ```
    pub fn parse(input: &str) -> Result<Imei, IdError> {
        let parsed = Imei::parse_lenient(input)?;
        match parsed.check_digit {
            CheckDigit::Invalid { expected, found } => Err(IdError::CheckDigit { expected, found }),
            _ => Ok(parsed.imei),
        }
    }

    /// Parses an IMEI, accepting a 15th digit that is not the check digit.
    ///
    /// Everything [`Imei::parse`] accepts is accepted, and the result says whether the
    /// check digit was right, wrong or absent, so that an EIR can still classify
    /// counterfeit handsets (which often carry wrong check digits) and inputs with a spare
    /// `0` in place of the check digit.
    ///
    /// A spare `0` in place of the check digit is reported as
    /// `CheckDigit::Invalid { found: 0, .. }` (unless 0 is the check digit): it cannot be
    /// told from a forged digit, so callers whose network sends spare digits decide.
    ///
    /// # Errors
    ///
    /// As [`Imei::parse`], except that a wrong check digit is not an error.
    pub fn parse_lenient(input: &str) -> Result<LenientImei, IdError> {
        let (prefix, digits) = collect_digits(input, "IMEI")?;
        let expected_len = match prefix {
            Prefix::None => "14 or 15 digits, or 16 for an IMEISV",
            Prefix::Imei => "14 or 15 digits after imei-",
            Prefix::ImeiSv => "16 digits after imeisv-",
        };
        let length_ok = match prefix {
            Prefix::None => matches!(digits.len, 14..=16),
            Prefix::Imei => matches!(digits.len, 14 | 15),
            Prefix::ImeiSv => digits.len == 16,
        };
        if !length_ok {
            return Err(IdError::Length {
                what: "IMEI",
                found: digits.len,
                expected: expected_len,
            });
        }
        let imei = Imei(digits.value(0..14));
        let check_digit = if digits.len == 15 {
            CheckDigit::of(imei.check_digit(), digits.buf[14])
        } else {
            CheckDigit::Absent
        };
        Ok(LenientImei { imei, check_digit })
    }

    /// The IMEI whose 14 digits are the decimal digits of `n` (with leading zeros).
    ///
    /// # Errors
    ///
    /// [`IdError::OutOfRange`] when `n` has more than 14 digits.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::Imei;
    ///
    /// let imei = Imei::from_u64(26053179311383)?;
    /// assert_eq!(imei.to_string(), "260531793113837");
    /// assert!(Imei::from_u64(100_000_000_000_000).is_err());
    /// # Ok::<(), imei_index::IdError>(())
    /// ```
    pub fn from_u64(n: u64) -> Result<Imei, IdError> {
        if n < IMEI_LIMIT {
            Ok(Imei(n))
        } else {
            Err(IdError::OutOfRange {
                what: "IMEI",
                value: n,
                max: IMEI_LIMIT - 1,
            })
        }
    }

    /// Builds an IMEI from a TAC and a 6-digit serial number.
    ///
    /// # Errors
    ///
    /// [`IdError::OutOfRange`] when `snr` has more than 6 digits.
    pub fn from_parts(tac: Tac, snr: u32) -> Result<Imei, IdError> {
        if snr >= 1_000_000 {
            return Err(IdError::OutOfRange {
                what: "IMEI serial number",
                value: u64::from(snr),
                max: 999_999,
            });
        }
        Ok(Imei(u64::from(tac.0) * 1_000_000 + u64::from(snr)))
    }

    /// The 14 digits of TAC and serial as one number.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The Type Allocation Code: the first 8 digits, naming the handset model.
    pub fn tac(self) -> Tac {
        Tac((self.0 / 1_000_000) as u32)
    }

    /// The serial number: digits 9 to 14.
    pub fn snr(self) -> u32 {
        (self.0 % 1_000_000) as u32
    }

    /// The Luhn check digit of the 14 digits (TS 23.003 Annex B).
    pub fn check_digit(self) -> u8 {
        luhn_check_digit(self.0)
    }
}

impl fmt::Display for Imei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014}{}", self.0, self.check_digit())
    }
}

impl FromStr for Imei {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Imei, IdError> {
        Imei::parse(s)
    }
}

/// An IMEISV: the 14 digits of an [`Imei`] and a 2-digit software version number.
///
/// # Example
///
/// ```
/// use imei_index::ImeiSv;
///
/// let sv = ImeiSv::parse("imeisv-3520990017614823")?;
/// assert_eq!(sv.svn(), 23);
/// assert_eq!(sv.imei().to_string(), "352099001761481");
/// assert_eq!(sv.to_string(), "3520990017614823");
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImeiSv {
    imei: Imei,
    svn: u8,
}

impl ImeiSv {
    /// Parses 16 digits (separators allowed) or the PEI form `imeisv-<16 digits>`.
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying what is wrong and where.
    pub fn parse(input: &str) -> Result<ImeiSv, IdError> {
        let (prefix, digits) = collect_digits(input, "IMEISV")?;
        if digits.len != 16 || prefix == Prefix::Imei {
            return Err(IdError::Length {
                what: "IMEISV",
                found: digits.len,
                expected: "16 digits (TAC, serial number and software version)",
            });
        }
        Ok(ImeiSv {
            imei: Imei(digits.value(0..14)),
            svn: digits.value(14..16) as u8,
        })
    }

    /// Builds an IMEISV from an IMEI and a software version number.
    ///
    /// # Errors
    ///
    /// [`IdError::OutOfRange`] when `svn` has more than 2 digits.
    pub fn new(imei: Imei, svn: u8) -> Result<ImeiSv, IdError> {
        if svn > 99 {
            return Err(IdError::OutOfRange {
                what: "IMEISV software version",
                value: u64::from(svn),
                max: 99,
            });
        }
        Ok(ImeiSv { imei, svn })
    }

    /// The handset's IMEI.
    pub fn imei(self) -> Imei {
        self.imei
    }

    /// The software version number, 0 to 99.
    pub fn svn(self) -> u8 {
        self.svn
    }
}

impl fmt::Display for ImeiSv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:014}{:02}", self.imei.0, self.svn)
    }
}

impl FromStr for ImeiSv {
    type Err = IdError;
    fn from_str(s: &str) -> Result<ImeiSv, IdError> {
        ImeiSv::parse(s)
    }
}

/// A Type Allocation Code: the first 8 digits of an IMEI, allocated per handset model.
///
/// # Example
///
/// ```
/// use imei_index::{Imei, Tac};
///
/// let tac = Tac::parse("35209900")?;
/// assert_eq!(Imei::parse("352099001761481")?.tac(), tac);
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tac(u32);

impl Tac {
    /// Parses exactly 8 digits (surrounding whitespace ignored).
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying what is wrong and where.
    pub fn parse(input: &str) -> Result<Tac, IdError> {
        let value = parse_plain_digits(input, "TAC", 8..=8, "8 digits")?;
        Ok(Tac(value as u32))
    }

    /// The TAC whose 8 digits are the decimal digits of `n`.
    ///
    /// # Errors
    ///
    /// [`IdError::OutOfRange`] when `n` has more than 8 digits.
    pub fn from_u32(n: u32) -> Result<Tac, IdError> {
        if n < TAC_LIMIT {
            Ok(Tac(n))
        } else {
            Err(IdError::OutOfRange {
                what: "TAC",
                value: u64::from(n),
                max: u64::from(TAC_LIMIT - 1),
            })
        }
    }

    /// The 8 digits as a number.
    pub fn as_u32(self) -> u32 {
        self.0
    }

    /// The first IMEI of this TAC (serial 000000).
    pub fn first_imei(self) -> Imei {
        Imei(u64::from(self.0) * 1_000_000)
    }

    /// The last IMEI of this TAC (serial 999999).
    pub fn last_imei(self) -> Imei {
        Imei(u64::from(self.0) * 1_000_000 + 999_999)
    }
}

impl fmt::Display for Tac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

impl FromStr for Tac {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Tac, IdError> {
        Tac::parse(s)
    }
}

/// An IMSI: the 5 to 15 digits identifying a subscriber's SIM (MCC, MNC, MSIN).
///
/// Leading zeros are significant (test networks use MCC `001`), so the number of digits
/// is kept beside their value.
///
/// # Example
///
/// ```
/// use imei_index::Imsi;
///
/// let imsi = Imsi::parse("imsi-001010123456789")?;
/// assert_eq!(imsi.to_string(), "001010123456789");
/// assert_ne!(Imsi::parse("01010123456789")?, imsi);
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Imsi {
    // Ordering by length first matches the order of the index's pair keys.
    len: u8,
    value: u64,
}

impl Imsi {
    /// Parses 5 to 15 digits, or the SUPI form `imsi-<digits>`.
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying what is wrong and where.
    pub fn parse(input: &str) -> Result<Imsi, IdError> {
        let trimmed = input.trim_start();
        let lead = input.len() - trimmed.len();
        let body_start = match trimmed.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("imsi-") => lead + 5,
            _ => 0,
        };
        let (prefix, body) = input.split_at(body_start);
        let offset = prefix.chars().count();
        let value =
            parse_plain_digits(body, "IMSI", 5..=15, "5 to 15 digits").map_err(|e| match e {
                IdError::NonDigit { what, ch, position } => IdError::NonDigit {
                    what,
                    ch,
                    position: position + offset,
                },
                other => other,
            })?;
        let len = body.trim().len() as u8;
        Ok(Imsi { len, value })
    }

    /// The number of digits, 5 to 15.
    pub fn len(self) -> usize {
        usize::from(self.len)
    }

    /// Always false: an IMSI has at least 5 digits. Present because `len` is.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The digits as a number (leading zeros are kept by [`Imsi::len`]).
    pub fn as_u64(self) -> u64 {
        self.value
    }

    /// The IMSI of `len` digits (5 to 15) whose value is `value`, or `None` when the value
    /// does not fit in that many digits. Leading zeros are digits: `(6, 1)` is `000001`.
    pub(crate) fn from_len_value(len: u8, value: u64) -> Option<Imsi> {
        let fits = (5..=15).contains(&len) && value < 10u64.pow(u32::from(len));
        fits.then_some(Imsi { len, value })
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = usize::from(self.len))
    }
}

impl FromStr for Imsi {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Imsi, IdError> {
        Imsi::parse(s)
    }
}

/// An MSISDN: a subscriber's telephone number in international form (E.164), 1 to 15 digits
/// without a `+`.
///
/// Registers keep it beside the IMEI and IMSI to say whom to notify; it is not part of any
/// check. Leading zeros are significant, so the number of digits is kept beside their value.
///
/// # Example
///
/// ```
/// use imei_index::Msisdn;
///
/// let msisdn = Msisdn::parse("223355000000")?;
/// assert_eq!(msisdn.to_string(), "223355000000");
/// assert_eq!(Msisdn::parse("1")?.len(), 1);
/// assert_ne!(Msisdn::parse("0223355000000")?, msisdn);
/// assert!(Msisdn::parse("+223355000000").is_err());
/// # Ok::<(), imei_index::IdError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Msisdn {
    len: u8,
    value: u64,
}

impl Msisdn {
    /// Parses 1 to 15 digits (surrounding whitespace ignored).
    ///
    /// # Errors
    ///
    /// An [`IdError`] saying what is wrong and where: empty input, a character that is not
    /// a digit (a `+` too), or more than 15 digits.
    pub fn parse(input: &str) -> Result<Msisdn, IdError> {
        let value = parse_plain_digits(input, "MSISDN", 1..=15, "1 to 15 digits")?;
        Ok(Msisdn {
            len: input.trim().len() as u8,
            value,
        })
    }

    /// The number of digits, 1 to 15.
    pub fn len(self) -> usize {
        usize::from(self.len)
    }

    /// Always false: an MSISDN has at least one digit. Present because `len` is.
    pub fn is_empty(self) -> bool {
        false
    }

    /// The digits as a number (leading zeros are kept by [`Msisdn::len`]).
    pub fn as_u64(self) -> u64 {
        self.value
    }

    /// The MSISDN of `len` digits whose value is `value`, if there is one.
    pub(crate) fn from_len_value(len: u8, value: u64) -> Option<Msisdn> {
        let fits = (1..=15).contains(&len) && value < 10u64.pow(u32::from(len));
        fits.then_some(Msisdn { len, value })
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value, width = usize::from(self.len))
    }
}

impl FromStr for Msisdn {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Msisdn, IdError> {
        Msisdn::parse(s)
    }
}

/// Parses a run of digits without separators (TACs, IMSIs, MSISDNs).
fn parse_plain_digits(
    input: &str,
    what: &'static str,
    lengths: std::ops::RangeInclusive<usize>,
    expected: &'static str,
) -> Result<u64, IdError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty { what, expected });
    }
    let lead = input[..input.len() - input.trim_start().len()]
        .chars()
        .count();
    let mut value = 0u64;
    let mut count = 0usize;
    for (i, ch) in trimmed.chars().enumerate() {
        let Some(d) = ch.to_digit(10).filter(|_| ch.is_ascii_digit()) else {
            return Err(IdError::NonDigit {
                what,
                ch,
                position: lead + i + 1,
            });
        };
        // Saturate instead of overflowing; the length check below rejects such inputs.
        value = value.saturating_mul(10).saturating_add(u64::from(d));
        count += 1;
    }
    if !lengths.contains(&count) {
        return Err(IdError::Length {
            what,
            found: count,
            expected,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_example() {
        assert_eq!(luhn_check_digit(26053179311383), 7);
    }
}
