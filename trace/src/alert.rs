//! What a traceability alert tells its hook.

use std::time::SystemTime;

use imei_index::{Imei, Verdict};

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
    /// Whether `imsi` and `msisdn` are keyed hashes rather than digits.
    pub hashed: bool,
}

impl Alert {
    /// The alert as one JSON object, for webhooks and logs:
    /// `{"time":"…","imei":"<14 digits>","imsi":"…"|null,"msisdn":"…"|null,
    /// "status":"blocked","reason":"stolen"|null,"rule":"imei","hashed":false}`.
    pub fn to_json(&self) -> String {
        let mut time = Vec::new();
        crate::time::push_rfc3339(&mut time, crate::time::unix_millis(self.at));
        let text = |v: &Option<String>| {
            v.as_ref()
                .map_or("null".to_string(), |s| format!("\"{s}\""))
        };
        let word = |w: Option<&str>| w.map_or("null".to_string(), |s| format!("\"{s}\""));
        format!(
            "{{\"time\":\"{}\",\"imei\":\"{:014}\",\"imsi\":{},\"msisdn\":{},\"status\":{},\"reason\":{},\"rule\":{},\"hashed\":{}}}",
            String::from_utf8_lossy(&time),
            self.imei.as_u64(),
            text(&self.imsi),
            text(&self.msisdn),
            word(Some(
                self.verdict.status().map_or("unknown", |s| s.as_str())
            )),
            word(self.verdict.reason().map(|r| r.as_str())),
            word(self.verdict.rule().map(|k| k.as_str())),
            self.hashed
        )
    }
}
