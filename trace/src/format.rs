//! The journal's files: their names, their header and rows, and keyed hashing of numbers.

use std::fmt::Write as _;
use std::io::Write as _;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::sighting::Sighting;
use crate::time;

/// The header of a journal that stores IMSIs and MSISDNs as they are. `imei-index scan`
/// finds its `imei`, `imsi` and `msisdn` columns by these names.
pub const HEADER: &str = "time,imei,imsi,msisdn,status,reason,rule,alert";
/// The header of a journal that stores them keyed-hashed: the columns are named otherwise,
/// so that no reader takes a hash for a number.
pub const HEADER_HASHED: &str = "time,imei,imsi_hmac,msisdn_hmac,status,reason,rule,alert";

/// The `alert` column of a sighting that raised a traceability alert.
pub const ALERT_NEW_SIM: &str = "new-sim";

/// File names: `sightings-YYYYMMDD-<start>-<pid>.csv`, `<start>` the UTC time the journal
/// was opened (`YYYYMMDDTHHMMSSmmmZ`), so that the files of every process and every start
/// sort by day, then start, and never collide.
pub(crate) const PREFIX: &str = "sightings-";
pub(crate) const SUFFIX: &str = ".csv";

pub(crate) fn file_name(day: u32, start_millis: u64, pid: u32, attempt: u32) -> String {
    let mut stamp = Vec::new();
    time::push_rfc3339(&mut stamp, start_millis);
    let stamp: String = String::from_utf8_lossy(&stamp)
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    let retry = if attempt == 0 {
        String::new()
    } else {
        format!("-{attempt}")
    };
    format!(
        "{PREFIX}{}-{stamp}-{pid}{retry}{SUFFIX}",
        time::compact_day(day)
    )
}

/// The day a journal file's name says, if it is one.
pub(crate) fn day_of_file(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    time::parse_compact_day(rest.get(..8)?).filter(|_| rest.as_bytes().get(8) == Some(&b'-'))
}

/// How numbers are written: as they are, or as HMAC-SHA256 under the operator's key.
#[derive(Clone)]
pub(crate) enum Numbers {
    Clear,
    Hashed(Hmac<Sha256>),
}

impl Numbers {
    pub(crate) fn new(key: Option<&[u8]>) -> Numbers {
        match key {
            None => Numbers::Clear,
            // HMAC takes keys of any length.
            Some(k) => Numbers::Hashed(Hmac::new_from_slice(k).expect("any key length")),
        }
    }

    pub(crate) fn header(&self) -> &'static str {
        match self {
            Numbers::Clear => HEADER,
            Numbers::Hashed(_) => HEADER_HASHED,
        }
    }

    /// Appends a number's digits, or their keyed hash in lower-case hex.
    pub(crate) fn push(&self, out: &mut Vec<u8>, digits: &str) {
        match self {
            Numbers::Clear => out.extend_from_slice(digits.as_bytes()),
            Numbers::Hashed(mac) => {
                out.extend_from_slice(hmac_hex(mac.clone(), digits).as_bytes());
            }
        }
    }

    /// A number as the journal writes it.
    pub(crate) fn text(&self, digits: &str) -> String {
        let mut out = Vec::new();
        self.push(&mut out, digits);
        String::from_utf8(out).expect("digits or hex")
    }
}

/// HMAC-SHA256 of `digits` (as ASCII) under the prepared key, in lower-case hex: what a
/// journal kept with a key writes for an IMSI or MSISDN.
fn hmac_hex(mut mac: Hmac<Sha256>, digits: &str) -> String {
    mac.update(digits.as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(64);
    for b in tag {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The keyed hash of a number as a journal kept with `key` writes it (HMAC-SHA256 of the
/// digits, lower-case hex), to look a subscriber up in such a journal.
///
/// # Example
///
/// ```
/// use imei_index_trace::pseudonym;
///
/// let h = pseudonym(b"operator key", "404685505601234");
/// assert_eq!(h.len(), 64);
/// assert_eq!(h, pseudonym(b"operator key", "404685505601234"));
/// assert_ne!(h, pseudonym(b"another key", "404685505601234"));
/// ```
pub fn pseudonym(key: &[u8], digits: &str) -> String {
    Numbers::new(Some(key)).text(digits)
}

/// Appends one row for `s` (with its `alert` column) and a newline.
pub(crate) fn push_row(out: &mut Vec<u8>, s: &Sighting, alert: bool, numbers: &Numbers) {
    time::push_rfc3339(out, time::unix_millis(s.at));
    let _ = write!(out, ",{:014},", s.imei.as_u64());
    if let Some(imsi) = s.imsi {
        numbers.push(out, &imsi.to_string());
    }
    out.push(b',');
    if let Some(msisdn) = s.msisdn {
        numbers.push(out, &msisdn.to_string());
    }
    out.push(b',');
    out.extend_from_slice(
        s.verdict
            .status()
            .map_or("unknown", |st| st.as_str())
            .as_bytes(),
    );
    out.push(b',');
    if !s.reasons.is_empty() {
        push_text(out, &s.reasons.to_string());
    } else if let Some(r) = s.verdict.reason() {
        push_text(out, r.as_str());
    }
    out.push(b',');
    if let Some(k) = s.verdict.rule() {
        out.extend_from_slice(k.as_str().as_bytes());
    }
    out.push(b',');
    if alert {
        out.extend_from_slice(ALERT_NEW_SIM.as_bytes());
    }
    out.push(b'\n');
}

/// Appends a text field, quoted when it holds a delimiter, a quote, a line end or
/// surrounding blanks (reasons are texts a list chose).
fn push_text(out: &mut Vec<u8>, text: &str) {
    let plain = !text.contains([',', '"', '\n', '\r'])
        && !text.starts_with([' ', '\t'])
        && !text.ends_with([' ', '\t']);
    if plain {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.push(b'"');
        out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imei_index::{Entry, Imei, Imsi, Reason, RuleKind, Status, Verdict};

    #[test]
    fn rows_hold_every_field() {
        let s = Sighting::new(
            Imei::parse("354178036859789").unwrap(),
            Verdict::listed(
                RuleKind::Imei,
                &Entry::new(Status::Blocked).with_reason(Reason::Stolen),
            ),
        )
        .with_imsi(Imsi::parse("404685505601234").unwrap())
        .at(time::from_unix_millis(1_716_286_530_123));
        let mut out = Vec::new();
        push_row(&mut out, &s, true, &Numbers::Clear);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-21T10:15:30.123Z,35417803685978,404685505601234,,blocked,stolen,imei,new-sim\n"
        );
    }

    #[test]
    fn rows_hold_every_reason_text() {
        let reasons = imei_index::Reasons::parse_joined(
            "Duplicate IMEI detected|IMEI in local stolen list, reported",
        )
        .unwrap();
        let s = Sighting::new(
            Imei::parse("354178036859789").unwrap(),
            Verdict::listed(RuleKind::Imei, &Entry::new(Status::Blocked)),
        )
        .with_texts(reasons, Some(imei_index::Source::new("dirbs").unwrap()))
        .at(time::from_unix_millis(1_716_286_530_123));
        let mut out = Vec::new();
        push_row(&mut out, &s, false, &Numbers::Clear);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2024-05-21T10:15:30.123Z,35417803685978,,,blocked,\"Duplicate IMEI detected|IMEI in local stolen list, reported\",imei,\n"
        );
    }

    #[test]
    fn texts_are_quoted_when_they_must_be() {
        for (text, written) in [
            ("stolen", "stolen"),
            ("a,b", "\"a,b\""),
            ("say \"x\"", "\"say \"\"x\"\"\""),
            (" x", "\" x\""),
        ] {
            let mut out = Vec::new();
            push_text(&mut out, text);
            assert_eq!(String::from_utf8(out).unwrap(), written);
            let fields = imei_index::list::split_record(written, ',').unwrap();
            assert_eq!(fields[0].text, text);
        }
    }

    #[test]
    fn hashes_are_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            pseudonym(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn file_names_carry_the_day_and_sort() {
        let name = file_name(19_864, 1_716_286_530_123, 4242, 0);
        assert_eq!(name, "sightings-20240521-20240521T101530123Z-4242.csv");
        assert_eq!(day_of_file(&name), Some(19_864));
        assert_eq!(
            file_name(19_864, 1_716_286_530_123, 4242, 2),
            "sightings-20240521-20240521T101530123Z-4242-2.csv"
        );
        assert_eq!(day_of_file("sightings-2024052-x.csv"), None);
        assert_eq!(day_of_file("national.csv"), None);
    }
}
