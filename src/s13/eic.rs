//! The ME-Identity-Check-Request (TS 29.272 §7.2.19), read from a decoded message.
//!
//! ```text
//! < ME-Identity-Check-Request > ::= < Diameter Header: 324, REQ, PXY, 16777252 >
//!     < Session-Id > [ DRMP ] [ Vendor-Specific-Application-Id ]
//!     { Auth-Session-State } { Origin-Host } { Origin-Realm }
//!     [ Destination-Host ] { Destination-Realm }
//!     { Terminal-Information } [ User-Name ]
//!     *[ AVP ] *[ Proxy-Info ] *[ Route-Record ]
//! Terminal-Information ::= < AVP Header: 1401 10415 >
//!     [ IMEI ] [ 3GPP2-MEID ] [ Software-Version ] *[ AVP ]
//! ```

use bytes::Bytes;

use super::VENDOR_3GPP;
use super::avp::{Avp, AvpWriter, code, flags};
use super::error::{Failure, ResultCode};
use super::message::Message;
use crate::{Imei, Imsi, LenientImei};

/// What an ME-Identity-Check-Request asks about.
///
/// # Example
///
/// ```
/// use imei_index::s13::{IdentityCheckRequest, message::Message};
/// # use imei_index::s13::avp::{AvpWriter, code, flags};
/// # let mut w = AvpWriter::new();
/// # let m = flags::MANDATORY;
/// # w.raw(code::SESSION_ID, m, None, b"mme.example;1;2");
/// # w.u32(code::AUTH_SESSION_STATE, m, None, 1);
/// # w.raw(code::ORIGIN_HOST, m, None, b"mme.example");
/// # w.raw(code::ORIGIN_REALM, m, None, b"example");
/// # w.raw(code::DESTINATION_REALM, m, None, b"eir.example");
/// # w.group(code::TERMINAL_INFORMATION, m, Some(10415), |t| {
/// #     t.raw(code::IMEI, m, Some(10415), b"35417803685978");
/// #     t.raw(code::SOFTWARE_VERSION, m, Some(10415), b"07");
/// # });
/// # w.raw(code::USER_NAME, m, None, b"404685505601234");
/// # let header = imei_index::s13::message::Header { version: 1, length: 0, flags: 0xc0,
/// #     command: 324, application: 16777252, hop_by_hop: 1, end_to_end: 2 };
/// # let bytes = Message::encode(&header, &w.finish());
/// let request = IdentityCheckRequest::decode(&Message::decode(bytes)?)?;
/// assert_eq!(request.session_id, "mme.example;1;2");
/// assert_eq!(request.imei.unwrap().imei.to_string(), "354178036859789");
/// assert_eq!(request.software_version, Some(7));
/// assert_eq!(request.imsi.unwrap().to_string(), "404685505601234");
/// # Ok::<(), imei_index::s13::Failure>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityCheckRequest {
    /// The Session-Id, echoed in the answer.
    pub session_id: String,
    /// The requesting MME or SGSN.
    pub origin_host: String,
    /// Its realm.
    pub origin_realm: String,
    /// The EIR the request is addressed to, if it names one.
    pub destination_host: Option<String>,
    /// The realm the request is addressed to.
    pub destination_realm: String,
    /// The IMEI of Terminal-Information (14 digits, or 15 with a check digit that may be
    /// wrong: counterfeits are classified, not refused). `None` when only a 3GPP2-MEID came.
    pub imei: Option<LenientImei>,
    /// The Software-Version of Terminal-Information, 0 to 99.
    pub software_version: Option<u8>,
    /// The 3GPP2-MEID of Terminal-Information, which IMEI lists cannot name.
    pub meid: Option<Bytes>,
    /// The IMSI from User-Name, for IMEI+IMSI pair rules.
    pub imsi: Option<Imsi>,
}

/// The AVPs an ME-Identity-Check-Request may carry at its top level, besides the base
/// protocol's (which [`super::peer`] recognises for every command).
const TERMINAL_AVPS: [u32; 3] = [code::IMEI, code::SOFTWARE_VERSION, code::MEID_3GPP2];

impl IdentityCheckRequest {
    /// Reads an ME-Identity-Check-Request.
    ///
    /// # Errors
    ///
    /// A [`Failure`] with the answer's Result-Code and Failed-AVP: DIAMETER_MISSING_AVP,
    /// DIAMETER_AVP_OCCURS_TOO_MANY_TIMES, DIAMETER_INVALID_AVP_LENGTH, DIAMETER_INVALID_AVP_VALUE
    /// (an IMEI that is not 14 or 15 digits, a Software-Version that is not 2, a User-Name
    /// that is not an IMSI) or DIAMETER_AVP_UNSUPPORTED (an unknown AVP with the M bit).
    pub fn decode(message: &Message) -> Result<IdentityCheckRequest, Failure> {
        let avps = &message.avps;
        let tgpp = |c| (c, VENDOR_3GPP);
        let base = |c| (c, 0);
        for single in [
            base(code::SESSION_ID),
            base(code::DRMP),
            base(code::VENDOR_SPECIFIC_APPLICATION_ID),
            base(code::AUTH_SESSION_STATE),
            base(code::ORIGIN_HOST),
            base(code::ORIGIN_REALM),
            base(code::DESTINATION_HOST),
            base(code::DESTINATION_REALM),
            tgpp(code::TERMINAL_INFORMATION),
            base(code::USER_NAME),
        ] {
            at_most_once(avps, single)?;
        }
        let session_id = required(avps, base(code::SESSION_ID), &[])?
            .utf8()?
            .to_string();
        let state = required(avps, base(code::AUTH_SESSION_STATE), &[0; 4])?;
        if state.u32()? > 1 {
            return Err(invalid_value(state, "Auth-Session-State must be 0 or 1"));
        }
        let origin_host = identity(required(avps, base(code::ORIGIN_HOST), &[])?)?;
        let origin_realm = identity(required(avps, base(code::ORIGIN_REALM), &[])?)?;
        let destination_host = find(avps, base(code::DESTINATION_HOST))
            .map(identity)
            .transpose()?;
        let destination_realm = identity(required(avps, base(code::DESTINATION_REALM), &[])?)?;
        let terminal = required(avps, tgpp(code::TERMINAL_INFORMATION), &[])?;
        let (imei, software_version, meid) = terminal_information(terminal)?;
        let imsi = find(avps, base(code::USER_NAME))
            .map(|avp| {
                let s = avp.utf8()?;
                let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                match Imsi::parse(s) {
                    Ok(imsi) if digits => Ok(imsi),
                    Ok(_) => Err(invalid_value(
                        avp,
                        "User-Name must be the IMSI's 5 to 15 digits",
                    )),
                    Err(e) => Err(invalid_value(
                        avp,
                        &format!("User-Name is not an IMSI: {e}"),
                    )),
                }
            })
            .transpose()?;
        Ok(IdentityCheckRequest {
            session_id,
            origin_host,
            origin_realm,
            destination_host,
            destination_realm,
            imei,
            software_version,
            meid,
            imsi,
        })
    }
}

type Terminal = (Option<LenientImei>, Option<u8>, Option<Bytes>);

/// Reads Terminal-Information: at least one of IMEI and 3GPP2-MEID.
fn terminal_information(terminal: &Avp) -> Result<Terminal, Failure> {
    let inner = terminal.group()?;
    let wrap = |f: Failure| f.inside(terminal);
    for c in TERMINAL_AVPS {
        at_most_once(&inner, (c, VENDOR_3GPP)).map_err(wrap)?;
    }
    if let Some(unknown) = inner.iter().find(|a| {
        a.is_mandatory() && !(a.vendor == Some(VENDOR_3GPP) && TERMINAL_AVPS.contains(&a.code))
    }) {
        return Err(wrap(unsupported(unknown)));
    }
    let imei = find(&inner, (code::IMEI, VENDOR_3GPP))
        .map(|avp| {
            let s = avp.utf8()?;
            if !(14..=15).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid_value(
                    avp,
                    &format!("the IMEI {s:?} is not 14 digits, or 15 with a check digit"),
                ));
            }
            Imei::parse_lenient(s).map_err(|e| invalid_value(avp, &e.to_string()))
        })
        .transpose()
        .map_err(wrap)?;
    let software_version = find(&inner, (code::SOFTWARE_VERSION, VENDOR_3GPP))
        .map(|avp| {
            let s = avp.utf8()?;
            match s.parse::<u8>() {
                Ok(v) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
                _ => Err(invalid_value(
                    avp,
                    &format!("the Software-Version {s:?} is not 2 digits"),
                )),
            }
        })
        .transpose()
        .map_err(wrap)?;
    let meid = find(&inner, (code::MEID_3GPP2, VENDOR_3GPP)).map(|a| a.data.clone());
    if imei.is_none() && meid.is_none() {
        return Err(wrap(missing(
            (code::IMEI, VENDOR_3GPP),
            &[],
            "Terminal-Information holds neither an IMEI nor a 3GPP2-MEID",
        )));
    }
    Ok((imei, software_version, meid))
}

/// The first AVP `(code, vendor)`.
pub(crate) fn find(avps: &[Avp], (c, vendor): (u32, u32)) -> Option<&Avp> {
    avps.iter().find(|a| a.is(c, vendor))
}

/// The AVP `(code, vendor)`, or DIAMETER_MISSING_AVP with an example of it whose data is
/// `example` (RFC 6733 §7.5: "of correct minimum length and contain zeroes").
pub(crate) fn required<'a>(
    avps: &'a [Avp],
    key: (u32, u32),
    example: &[u8],
) -> Result<&'a Avp, Failure> {
    find(avps, key).ok_or_else(|| {
        missing(
            key,
            example,
            &format!("the request lacks AVP {}{}", key.0, vendor_note(key.1)),
        )
    })
}

fn vendor_note(vendor: u32) -> String {
    if vendor == 0 {
        String::new()
    } else {
        format!(" of vendor {vendor}")
    }
}

pub(crate) fn missing((c, vendor): (u32, u32), example: &[u8], message: &str) -> Failure {
    let mut w = AvpWriter::new();
    w.raw(
        c,
        flags::MANDATORY,
        (vendor != 0).then_some(vendor),
        example,
    );
    let mut bytes = w.finish();
    bytes.truncate(u32::from_be_bytes([0, bytes[5], bytes[6], bytes[7]]) as usize);
    Failure::new(ResultCode::MISSING_AVP, message).with_failed(bytes)
}

/// DIAMETER_AVP_OCCURS_TOO_MANY_TIMES naming the first AVP past the one allowed.
pub(crate) fn at_most_once(avps: &[Avp], (c, vendor): (u32, u32)) -> Result<(), Failure> {
    match avps.iter().filter(|a| a.is(c, vendor)).nth(1) {
        Some(extra) => Err(Failure::new(
            ResultCode::AVP_OCCURS_TOO_MANY_TIMES,
            format!("AVP {c}{} occurs more than once", vendor_note(vendor)),
        )
        .with_failed(extra.raw.clone())),
        None => Ok(()),
    }
}

pub(crate) fn invalid_value(avp: &Avp, why: &str) -> Failure {
    Failure::new(ResultCode::INVALID_AVP_VALUE, why).with_failed(avp.raw.clone())
}

pub(crate) fn unsupported(avp: &Avp) -> Failure {
    Failure::new(
        ResultCode::AVP_UNSUPPORTED,
        format!(
            "AVP {}{} has the M bit set and is not one this EIR understands",
            avp.code,
            vendor_note(avp.vendor.unwrap_or(0))
        ),
    )
    .with_failed(avp.raw.clone())
}

/// A DiameterIdentity: a non-empty host or realm name in ASCII.
pub(crate) fn identity(avp: &Avp) -> Result<String, Failure> {
    let s = avp.utf8()?;
    if s.is_empty() || !s.is_ascii() {
        return Err(invalid_value(
            avp,
            &format!("{s:?} is not a DiameterIdentity: a host or realm name in ASCII"),
        ));
    }
    Ok(s.to_string())
}
