//! Result codes, and why a request was refused.

use std::fmt;

use bytes::Bytes;

use super::avp::{Avp, AvpWriter};

/// A Diameter Result-Code (RFC 6733 §7.1) or, for [`ResultCode::ERROR_EQUIPMENT_UNKNOWN`],
/// a 3GPP Experimental-Result-Code (TS 29.272 §7.4.3).
///
/// # Example
///
/// ```
/// use imei_index::s13::ResultCode;
///
/// assert!(ResultCode::SUCCESS.is_success());
/// // Protocol errors (3xxx) are answered with the E bit set.
/// assert!(ResultCode::COMMAND_UNSUPPORTED.is_protocol_error());
/// assert!(!ResultCode::MISSING_AVP.is_protocol_error());
/// assert_eq!(ResultCode::MISSING_AVP.to_string(), "5005 DIAMETER_MISSING_AVP");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResultCode(pub u32);

impl ResultCode {
    /// 2001: the request was successfully completed.
    pub const SUCCESS: ResultCode = ResultCode(2001);
    /// 3001: the command code is not one this peer supports.
    pub const COMMAND_UNSUPPORTED: ResultCode = ResultCode(3001);
    /// 3002: the request names a Destination-Host that is not this peer.
    pub const UNABLE_TO_DELIVER: ResultCode = ResultCode(3002);
    /// 3003: the request names a Destination-Realm that this peer does not serve.
    pub const REALM_NOT_SERVED: ResultCode = ResultCode(3003);
    /// 3007: the application is not one this peer supports.
    pub const APPLICATION_UNSUPPORTED: ResultCode = ResultCode(3007);
    /// 3008: header bits set to an invalid combination for the command.
    pub const INVALID_HDR_BITS: ResultCode = ResultCode(3008);
    /// 3009: an AVP's flag bits are unrecognized or inconsistent with its definition.
    pub const INVALID_AVP_BITS: ResultCode = ResultCode(3009);
    /// 5001: an AVP with the M bit set that this peer does not understand.
    pub const AVP_UNSUPPORTED: ResultCode = ResultCode(5001);
    /// 5004: an AVP with a value this peer cannot accept.
    pub const INVALID_AVP_VALUE: ResultCode = ResultCode(5004);
    /// 5005: a required AVP is missing.
    pub const MISSING_AVP: ResultCode = ResultCode(5005);
    /// 5009: an AVP occurs more often than the command allows.
    pub const AVP_OCCURS_TOO_MANY_TIMES: ResultCode = ResultCode(5009);
    /// 5010: capabilities exchange found no application in common.
    pub const NO_COMMON_APPLICATION: ResultCode = ResultCode(5010);
    /// 5011: the Diameter version is not 1.
    pub const UNSUPPORTED_VERSION: ResultCode = ResultCode(5011);
    /// 5012: the request could not be completed for another reason.
    pub const UNABLE_TO_COMPLY: ResultCode = ResultCode(5012);
    /// 5014: an AVP's length is invalid.
    pub const INVALID_AVP_LENGTH: ResultCode = ResultCode(5014);
    /// 5015: the message length is invalid.
    pub const INVALID_MESSAGE_LENGTH: ResultCode = ResultCode(5015);
    /// 5017: capabilities exchange found no inband security in common.
    pub const NO_COMMON_SECURITY: ResultCode = ResultCode(5017);
    /// 5422 (Experimental-Result, vendor 10415): the EIR does not know the equipment.
    pub const ERROR_EQUIPMENT_UNKNOWN: ResultCode = ResultCode(5422);

    /// True for 2xxx codes.
    pub fn is_success(self) -> bool {
        (2000..3000).contains(&self.0)
    }

    /// True for 3xxx codes: protocol errors, answered with the E bit set (RFC 6733 §7.1.3).
    pub fn is_protocol_error(self) -> bool {
        (3000..4000).contains(&self.0)
    }

    /// The code's name in RFC 6733 or TS 29.272, if this module knows it.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            2001 => "DIAMETER_SUCCESS",
            3001 => "DIAMETER_COMMAND_UNSUPPORTED",
            3002 => "DIAMETER_UNABLE_TO_DELIVER",
            3003 => "DIAMETER_REALM_NOT_SERVED",
            3007 => "DIAMETER_APPLICATION_UNSUPPORTED",
            3008 => "DIAMETER_INVALID_HDR_BITS",
            3009 => "DIAMETER_INVALID_AVP_BITS",
            5001 => "DIAMETER_AVP_UNSUPPORTED",
            5004 => "DIAMETER_INVALID_AVP_VALUE",
            5005 => "DIAMETER_MISSING_AVP",
            5009 => "DIAMETER_AVP_OCCURS_TOO_MANY_TIMES",
            5010 => "DIAMETER_NO_COMMON_APPLICATION",
            5011 => "DIAMETER_UNSUPPORTED_VERSION",
            5012 => "DIAMETER_UNABLE_TO_COMPLY",
            5014 => "DIAMETER_INVALID_AVP_LENGTH",
            5015 => "DIAMETER_INVALID_MESSAGE_LENGTH",
            5017 => "DIAMETER_NO_COMMON_SECURITY",
            5422 => "DIAMETER_ERROR_EQUIPMENT_UNKNOWN",
            _ => return None,
        })
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {name}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Why a request is refused: the Result-Code to answer with, the AVP at fault for the
/// answer's Failed-AVP, and a sentence for its Error-Message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{result}: {message}")]
pub struct Failure {
    /// The Result-Code of the answer.
    pub result: ResultCode,
    /// The AVP to put inside Failed-AVP (RFC 6733 §7.5), encoded, without padding.
    pub failed_avp: Option<Bytes>,
    /// What is wrong, for the answer's Error-Message.
    pub message: String,
}

impl Failure {
    /// A failure without a Failed-AVP.
    pub fn new(result: ResultCode, message: impl Into<String>) -> Failure {
        Failure {
            result,
            failed_avp: None,
            message: message.into(),
        }
    }

    /// The same failure naming `avp` (encoded, without padding) in Failed-AVP.
    pub fn with_failed(mut self, avp: Bytes) -> Failure {
        self.failed_avp = Some(avp);
        self
    }

    /// The same failure, its Failed-AVP wrapped in `parent`: RFC 6733 §7.5 lets an AVP found
    /// at fault inside a Grouped AVP be reported inside that Grouped AVP.
    pub(crate) fn inside(mut self, parent: &Avp) -> Failure {
        if let Some(inner) = self.failed_avp.take() {
            let mut w = AvpWriter::new();
            w.group(parent.code, parent.flags, parent.vendor, |w| {
                w.verbatim(&inner)
            });
            let mut bytes = w.finish();
            // The writer padded the group; Failed-AVP content is kept unpadded.
            bytes.truncate(unpadded_len(&bytes));
            self.failed_avp = Some(bytes);
        }
        self
    }
}

/// The AVP Length of the AVP at the start of `avp`.
fn unpadded_len(avp: &[u8]) -> usize {
    u32::from_be_bytes([0, avp[5], avp[6], avp[7]]) as usize
}
