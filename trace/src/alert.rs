//! What a traceability alert tells its hook.

use std::time::SystemTime;

use imei_index::{Imei, Reasons, Source, Verdict};

/// A traceability alert: a blocked or tracked handset seen with a SIM it was not seen with
/// before that day (or, for a request that named no SIM, seen for the first time that day).
///
/// The IMSI and MSISDN are as the journal writes them: digits, or their keyed hash when the
/// journal was opened with a key ([`JournalOptions::key`](crate::JournalOptions::key)), so
/// that a hook never sees more than the journal keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Alert {
    /// When the handset was seen.
    pub at: SystemTime,
    /// The handset.
    pub imei: Imei,
    /// The SIM's IMSI (or its keyed hash), when the request named one.
    pub imsi: Option<String>,
    /// The number (or its keyed hash), when the request named one.
    pub msisdn: Option<String>,
    /// What the lists said of the handset.
    pub verdict: Verdict,
    /// The deciding rule's reasons, as the index that answered names them.
    pub reasons: Reasons,
    /// The deciding rule's source, when the EIR resolved it.
    pub source: Option<Source>,
    /// Whether `imsi` and `msisdn` are keyed hashes rather than digits.
    pub hashed: bool,
}

impl Alert {
    /// The alert as one JSON object, for webhooks and logs:
    /// `{"time":"…","imei":"<14 digits>","imsi":"…"|null,"msisdn":"…"|null,
    /// "status":"blocked","reason":"stolen"|null,"rule":"imei","source":"local"|null,
    /// "hashed":false}`; `reason` joins several reasons with `|`.
    pub fn to_json(&self) -> String {
        let mut time = Vec::new();
        crate::time::push_rfc3339(&mut time, crate::time::unix_millis(self.at));
        let word = |w: Option<&str>| w.map_or("null".to_string(), json_string);
        let reasons = if self.reasons.is_empty() {
            self.verdict.reason().map(|r| r.as_str().to_string())
        } else {
            Some(self.reasons.to_string())
        };
        format!(
            "{{\"time\":\"{}\",\"imei\":\"{:014}\",\"imsi\":{},\"msisdn\":{},\"status\":{},\"reason\":{},\"rule\":{},\"source\":{},\"hashed\":{}}}",
            String::from_utf8_lossy(&time),
            self.imei.as_u64(),
            word(self.imsi.as_deref()),
            word(self.msisdn.as_deref()),
            word(Some(
                self.verdict.status().map_or("unknown", |s| s.as_str())
            )),
            word(reasons.as_deref()),
            word(self.verdict.rule().map(|k| k.as_str())),
            word(self.source.as_ref().map(Source::as_str)),
            self.hashed
        )
    }
}

/// A JSON string: quoted, with quotes, backslashes and control characters escaped (reasons
/// are texts a list chose).
fn json_string(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use imei_index::{Entry, RuleKind, Status};

    #[test]
    fn json_names_every_reason_and_the_source_escaped() {
        let alert = Alert {
            at: crate::time::from_unix_millis(1_716_286_530_123),
            imei: Imei::parse("354178036859789").unwrap(),
            imsi: None,
            msisdn: Some("919876543210".into()),
            verdict: Verdict::listed(RuleKind::Imei, &Entry::new(Status::Blocked)),
            reasons: Reasons::parse_joined("said \"stolen\"|Duplicate IMEI detected").unwrap(),
            source: Some(Source::new("dirbs").unwrap()),
            hashed: false,
        };
        assert_eq!(
            alert.to_json(),
            "{\"time\":\"2024-05-21T10:15:30.123Z\",\"imei\":\"35417803685978\",\"imsi\":null,\
             \"msisdn\":\"919876543210\",\"status\":\"blocked\",\
             \"reason\":\"Duplicate IMEI detected|said \\\"stolen\\\"\",\"rule\":\"imei\",\
             \"source\":\"dirbs\",\"hashed\":false}"
        );
    }
}
