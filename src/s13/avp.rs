//! Attribute-value pairs (RFC 6733 §4): reading them from untrusted bytes and writing them.
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           AVP Code                            |
//! |V M P r r r r r|                  AVP Length                   |
//! |                        Vendor-ID (opt)                        |
//! |    Data ...   (padded with zeros to a multiple of 4 bytes)
//! ```
//!
//! The AVP Length counts the header and the data but not the padding.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{Failure, ResultCode};

/// The AVP flag bits (RFC 6733 §4.1).
pub mod flags {
    /// V: a Vendor-ID field follows the length.
    pub const VENDOR: u8 = 0x80;
    /// M: the receiver must understand the AVP or refuse the message.
    pub const MANDATORY: u8 = 0x40;
    /// P: reserved for end-to-end security that was never specified; tolerated.
    pub const PROTECTED: u8 = 0x20;
    /// The bits RFC 6733 leaves unused; "an unrecognized bit SHOULD be considered an error".
    pub const RESERVED: u8 = 0x1f;
}

/// The AVP codes this module reads or writes, with their vendors.
pub mod code {
    /// User-Name (RFC 6733 §8.14): on S13, the IMSI.
    pub const USER_NAME: u32 = 1;
    /// Host-IP-Address (RFC 6733 §5.3.5).
    pub const HOST_IP_ADDRESS: u32 = 257;
    /// Auth-Application-Id (RFC 6733 §6.8).
    pub const AUTH_APPLICATION_ID: u32 = 258;
    /// Acct-Application-Id (RFC 6733 §6.9).
    pub const ACCT_APPLICATION_ID: u32 = 259;
    /// Vendor-Specific-Application-Id (RFC 6733 §6.11).
    pub const VENDOR_SPECIFIC_APPLICATION_ID: u32 = 260;
    /// Session-Id (RFC 6733 §8.8).
    pub const SESSION_ID: u32 = 263;
    /// Origin-Host (RFC 6733 §6.3).
    pub const ORIGIN_HOST: u32 = 264;
    /// Supported-Vendor-Id (RFC 6733 §5.3.6).
    pub const SUPPORTED_VENDOR_ID: u32 = 265;
    /// Vendor-Id (RFC 6733 §5.3.3).
    pub const VENDOR_ID: u32 = 266;
    /// Firmware-Revision (RFC 6733 §5.3.4).
    pub const FIRMWARE_REVISION: u32 = 267;
    /// Result-Code (RFC 6733 §7.1).
    pub const RESULT_CODE: u32 = 268;
    /// Product-Name (RFC 6733 §5.3.7).
    pub const PRODUCT_NAME: u32 = 269;
    /// Disconnect-Cause (RFC 6733 §5.4.3).
    pub const DISCONNECT_CAUSE: u32 = 273;
    /// Auth-Session-State (RFC 6733 §8.11).
    pub const AUTH_SESSION_STATE: u32 = 277;
    /// Origin-State-Id (RFC 6733 §8.16).
    pub const ORIGIN_STATE_ID: u32 = 278;
    /// Failed-AVP (RFC 6733 §7.5).
    pub const FAILED_AVP: u32 = 279;
    /// Proxy-Host (RFC 6733 §6.7.3).
    pub const PROXY_HOST: u32 = 280;
    /// Error-Message (RFC 6733 §7.3).
    pub const ERROR_MESSAGE: u32 = 281;
    /// Route-Record (RFC 6733 §6.7.1).
    pub const ROUTE_RECORD: u32 = 282;
    /// Destination-Realm (RFC 6733 §6.6).
    pub const DESTINATION_REALM: u32 = 283;
    /// Proxy-Info (RFC 6733 §6.7.2).
    pub const PROXY_INFO: u32 = 284;
    /// Destination-Host (RFC 6733 §6.5).
    pub const DESTINATION_HOST: u32 = 293;
    /// Error-Reporting-Host (RFC 6733 §7.4).
    pub const ERROR_REPORTING_HOST: u32 = 294;
    /// Origin-Realm (RFC 6733 §6.4).
    pub const ORIGIN_REALM: u32 = 296;
    /// Experimental-Result (RFC 6733 §7.6).
    pub const EXPERIMENTAL_RESULT: u32 = 297;
    /// Experimental-Result-Code (RFC 6733 §7.7).
    pub const EXPERIMENTAL_RESULT_CODE: u32 = 298;
    /// Inband-Security-Id (RFC 6733 §6.10).
    pub const INBAND_SECURITY_ID: u32 = 299;
    /// DRMP (RFC 7944 §9.1).
    pub const DRMP: u32 = 301;
    /// Terminal-Information (TS 29.272 §7.3.3), vendor 10415.
    pub const TERMINAL_INFORMATION: u32 = 1401;
    /// IMEI (TS 29.272 §7.3.4), vendor 10415.
    pub const IMEI: u32 = 1402;
    /// Software-Version (TS 29.272 §7.3.5), vendor 10415.
    pub const SOFTWARE_VERSION: u32 = 1403;
    /// Equipment-Status (TS 29.272 §7.3.51), vendor 10415.
    pub const EQUIPMENT_STATUS: u32 = 1445;
    /// 3GPP2-MEID (TS 29.272 §7.3.6), vendor 10415.
    pub const MEID_3GPP2: u32 = 1471;
}

/// One AVP read from a message, sharing the message's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avp {
    /// The AVP code.
    pub code: u32,
    /// The flag bits ([`flags`]).
    pub flags: u8,
    /// The Vendor-ID, present exactly when the V bit is set.
    pub vendor: Option<u32>,
    /// The data, without header or padding.
    pub data: Bytes,
    /// The whole AVP as received, header and data, without padding: what a Failed-AVP
    /// echoes back.
    pub raw: Bytes,
}

impl Avp {
    /// Whether this is the AVP `code` of `vendor` (0 for the base protocol's).
    pub fn is(&self, code: u32, vendor: u32) -> bool {
        self.code == code && self.vendor.unwrap_or(0) == vendor
    }

    /// Whether the M bit is set.
    pub fn is_mandatory(&self) -> bool {
        self.flags & flags::MANDATORY != 0
    }

    /// The data as an Unsigned32 or Enumerated.
    ///
    /// # Errors
    ///
    /// DIAMETER_INVALID_AVP_LENGTH unless the data is exactly 4 bytes.
    pub fn u32(&self) -> Result<u32, Failure> {
        let b: [u8; 4] = self.data[..].try_into().map_err(|_| {
            Failure::new(
                ResultCode::INVALID_AVP_LENGTH,
                format!(
                    "AVP {} holds {} bytes of data: an Unsigned32 or Enumerated holds 4",
                    self.code,
                    self.data.len()
                ),
            )
            .with_failed(failed_length(self, 4))
        })?;
        Ok(u32::from_be_bytes(b))
    }

    /// The data as a UTF8String.
    ///
    /// # Errors
    ///
    /// DIAMETER_INVALID_AVP_VALUE when the data is not UTF-8.
    pub fn utf8(&self) -> Result<&str, Failure> {
        std::str::from_utf8(&self.data).map_err(|e| {
            Failure::new(
                ResultCode::INVALID_AVP_VALUE,
                format!(
                    "AVP {} is not UTF-8: invalid byte at offset {}",
                    self.code,
                    e.valid_up_to()
                ),
            )
            .with_failed(self.raw.clone())
        })
    }

    /// The AVPs inside a Grouped AVP.
    ///
    /// # Errors
    ///
    /// As [`parse_avps`]; a Failed-AVP names this grouped AVP with the offending AVP in it.
    pub fn group(&self) -> Result<Vec<Avp>, Failure> {
        parse_avps(self.data.clone()).map_err(|f| f.inside(self))
    }
}

/// A copy of `avp` whose data is `len` zero bytes: what RFC 6733 §7.1.5 asks a Failed-AVP to
/// carry when an AVP's length is wrong for its type.
fn failed_length(avp: &Avp, len: usize) -> Bytes {
    let mut w = AvpWriter::new();
    w.raw(avp.code, avp.flags, avp.vendor, &vec![0; len]);
    w.finish()
}

/// Reads the AVPs of a message body or a Grouped AVP's data.
///
/// # Errors
///
/// A [`Failure`] carrying DIAMETER_INVALID_AVP_LENGTH (an AVP Length shorter than its header
/// or running past the data, or padding missing at the end) or DIAMETER_INVALID_AVP_BITS
/// (reserved flag bits set), with the offending AVP's header in Failed-AVP.
pub fn parse_avps(data: Bytes) -> Result<Vec<Avp>, Failure> {
    let (avps, result) = parse_avps_partial(data);
    result.map(|()| avps)
}

/// As [`parse_avps`], keeping the AVPs before the first bad one.
pub(crate) fn parse_avps_partial(data: Bytes) -> (Vec<Avp>, Result<(), Failure>) {
    let mut avps = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        // The header as far as it is there, zero-padded: RFC 6733 §7.1.5 asks for it so in
        // Failed-AVP when an AVP is too short to hold a whole header.
        let mut head = [0u8; 12];
        let n = rest.len().min(12);
        head[..n].copy_from_slice(&rest[..n]);
        let code = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let flag_bits = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let header_len = if flag_bits & flags::VENDOR != 0 {
            12
        } else {
            8
        };
        let bad_length = |why: String| {
            Failure::new(ResultCode::INVALID_AVP_LENGTH, why).with_failed(Bytes::copy_from_slice(
                &zero_padded_header(&head, header_len),
            ))
        };
        if rest.len() < header_len {
            return (
                avps,
                Err(bad_length(format!(
                    "an AVP header at offset {at} is cut short: {} bytes remain of the {header_len} \
                 it needs",
                    rest.len()
                ))),
            );
        }
        if length < header_len {
            return (
                avps,
                Err(bad_length(format!(
                    "AVP {code} at offset {at} gives length {length}, shorter than its \
                 {header_len}-byte header"
                ))),
            );
        }
        if length > rest.len() {
            return (
                avps,
                Err(bad_length(format!(
                    "AVP {code} at offset {at} gives length {length} but only {} bytes remain",
                    rest.len()
                ))),
            );
        }
        let padded = length.div_ceil(4) * 4;
        if padded > rest.len() {
            return (
                avps,
                Err(bad_length(format!(
                    "AVP {code} at offset {at} (length {length}) is not followed by its padding to \
                 a multiple of 4 bytes"
                ))),
            );
        }
        let raw = data.slice(at..at + length);
        if flag_bits & flags::RESERVED != 0 {
            let failure = Failure::new(
                ResultCode::INVALID_AVP_BITS,
                format!(
                    "AVP {code} at offset {at} sets reserved flag bits {:#04x}",
                    flag_bits & flags::RESERVED
                ),
            )
            .with_failed(raw);
            return (avps, Err(failure));
        }
        let vendor =
            (header_len == 12).then(|| u32::from_be_bytes([head[8], head[9], head[10], head[11]]));
        avps.push(Avp {
            code,
            flags: flag_bits,
            vendor,
            data: data.slice(at + header_len..at + length),
            raw,
        });
        at += padded;
    }
    (avps, Ok(()))
}

/// An AVP header with its length field set to the header alone.
fn zero_padded_header(head: &[u8; 12], header_len: usize) -> Vec<u8> {
    let mut h = head[..header_len].to_vec();
    h[5..8].copy_from_slice(&(header_len as u32).to_be_bytes()[1..]);
    h
}

/// Writes AVPs into a buffer, padding each and filling in lengths of Grouped AVPs.
///
/// # Example
///
/// ```
/// use imei_index::s13::avp::{AvpWriter, code, flags};
///
/// let mut w = AvpWriter::new();
/// w.u32(code::RESULT_CODE, flags::MANDATORY, None, 2001);
/// assert_eq!(&w.finish()[..], &[0, 0, 1, 12, 0x40, 0, 0, 12, 0, 0, 0x07, 0xd1]);
/// ```
#[derive(Debug, Default)]
pub struct AvpWriter {
    buf: BytesMut,
}

impl AvpWriter {
    /// An empty writer.
    pub fn new() -> AvpWriter {
        AvpWriter::default()
    }

    /// Writes an AVP with `data`. The V bit is set exactly when `vendor` is given.
    ///
    /// # Panics
    ///
    /// When `data` is longer than an AVP can hold (16 MiB less its header): a bug in the
    /// caller, since nothing this module writes comes near.
    pub fn raw(&mut self, code: u32, flag_bits: u8, vendor: Option<u32>, data: &[u8]) {
        self.group(code, flag_bits, vendor, |w| w.buf.put_slice(data));
    }

    /// Writes an Unsigned32 or Enumerated AVP.
    pub fn u32(&mut self, code: u32, flag_bits: u8, vendor: Option<u32>, value: u32) {
        self.raw(code, flag_bits, vendor, &value.to_be_bytes());
    }

    /// Writes an AVP whose data is the AVPs that `inner` writes (Grouped), or any data that
    /// `inner` puts directly.
    pub fn group(
        &mut self,
        code: u32,
        flag_bits: u8,
        vendor: Option<u32>,
        inner: impl FnOnce(&mut AvpWriter),
    ) {
        let start = self.buf.len();
        let flag_bits = match vendor {
            Some(_) => flag_bits | flags::VENDOR,
            None => flag_bits & !flags::VENDOR,
        };
        self.buf.put_u32(code);
        self.buf.put_u32(u32::from(flag_bits) << 24);
        if let Some(v) = vendor {
            self.buf.put_u32(v);
        }
        inner(self);
        let length = self.buf.len() - start;
        assert!(
            length < 1 << 24,
            "an AVP of {length} bytes does not fit its length field"
        );
        self.buf[start + 5..start + 8].copy_from_slice(&(length as u32).to_be_bytes()[1..]);
        let padding = length.div_ceil(4) * 4 - length;
        self.buf.put_bytes(0, padding);
    }

    /// Appends an AVP exactly as received (for Proxy-Info echoes and Failed-AVP), padded.
    pub fn verbatim(&mut self, raw: &[u8]) {
        self.buf.put_slice(raw);
        self.buf.put_bytes(0, raw.len().div_ceil(4) * 4 - raw.len());
    }

    /// The AVPs written.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
