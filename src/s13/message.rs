//! Diameter messages (RFC 6733 §3): the 20-byte header and the AVPs after it.
//!
//! ```text
//!  0                   1                   2                   3
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Version    |                 Message Length                |
//! | Command Flags |                  Command Code                 |
//! |                         Application-ID                        |
//! |                      Hop-by-Hop Identifier                    |
//! |                      End-to-End Identifier                    |
//! |  AVPs ...
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::avp::{Avp, parse_avps, parse_avps_partial};
use super::error::{Failure, ResultCode};

/// The length of a message header; also the shortest message.
pub const HEADER_LEN: usize = 20;

/// The longest message [`Connection::receive`](super::Connection::receive) reads (1 MiB).
///
/// An ME-Identity-Check-Request is a few hundred bytes. The limit keeps the answers, which
/// echo Session-Id, Proxy-Info and Failed-AVP from the request, far below the 16 MiB that a
/// message can hold.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// The command flag bits (RFC 6733 §3).
pub mod flags {
    /// R: the message is a request.
    pub const REQUEST: u8 = 0x80;
    /// P: the message may be proxied, relayed or redirected.
    pub const PROXIABLE: u8 = 0x40;
    /// E: the answer carries a protocol error (3xxx).
    pub const ERROR: u8 = 0x20;
    /// T: the request may be a retransmission.
    pub const RETRANSMITTED: u8 = 0x10;
}

/// The command codes this module handles.
pub mod command {
    /// Capabilities-Exchange (RFC 6733 §5.3).
    pub const CAPABILITIES_EXCHANGE: u32 = 257;
    /// Device-Watchdog (RFC 6733 §5.5).
    pub const DEVICE_WATCHDOG: u32 = 280;
    /// Disconnect-Peer (RFC 6733 §5.4).
    pub const DISCONNECT_PEER: u32 = 282;
    /// ME-Identity-Check (TS 29.272 §7.2.19).
    pub const ME_IDENTITY_CHECK: u32 = 324;
}

/// The header of a Diameter message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The protocol version; 1 is the only one.
    pub version: u8,
    /// The Message Length field: header and AVPs, in bytes.
    pub length: u32,
    /// The command flags ([`flags`]).
    pub flags: u8,
    /// The command code.
    pub command: u32,
    /// The Application-ID: 0 for the base protocol, 16777252 for S13.
    pub application: u32,
    /// Matches an answer to its request on one connection.
    pub hop_by_hop: u32,
    /// Detects duplicate requests end to end.
    pub end_to_end: u32,
}

impl Header {
    /// Reads a header from the first 20 bytes of `bytes`, whatever their values.
    ///
    /// Returns `None` only when fewer than 20 bytes are given; judging the fields is the
    /// caller's job, since an answer to a bad header still needs the identifiers.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::s13::message::Header;
    ///
    /// let bytes = [1, 0, 0, 20, 0x80, 0, 1, 24, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 9];
    /// let h = Header::read(&bytes).unwrap();
    /// assert_eq!((h.length, h.command, h.hop_by_hop, h.end_to_end), (20, 280, 7, 9));
    /// assert!(h.is_request());
    /// assert!(Header::read(&bytes[..19]).is_none());
    /// ```
    pub fn read(bytes: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Header {
            version: b[0],
            length: word(0) & 0x00ff_ffff,
            flags: b[4],
            command: word(4) & 0x00ff_ffff,
            application: word(8),
            hop_by_hop: word(12),
            end_to_end: word(16),
        })
    }

    /// Whether the R bit is set.
    pub fn is_request(&self) -> bool {
        self.flags & flags::REQUEST != 0
    }

    /// The header of the answer to this request: same command, application and identifiers,
    /// R cleared, P kept (RFC 6733 §6.2), E set for protocol errors.
    pub fn answer(&self, result: ResultCode) -> Header {
        let e = if result.is_protocol_error() {
            flags::ERROR
        } else {
            0
        };
        Header {
            version: 1,
            length: 0,
            flags: (self.flags & flags::PROXIABLE) | e,
            ..*self
        }
    }
}

/// The length of the message that starts with `prefix`, read from its header.
///
/// Needs the first 4 bytes. A stream reader reads the 20-byte header, then the rest of the
/// message; a length under 20 or not a multiple of 4 cannot frame a message, and
/// [`Connection::receive`](super::Connection::receive) answers such a header alone.
///
/// # Example
///
/// ```
/// assert_eq!(imei_index::s13::message_length(&[1, 0, 0, 64]), Some(64));
/// assert_eq!(imei_index::s13::message_length(&[1, 0]), None);
/// ```
pub fn message_length(prefix: &[u8]) -> Option<usize> {
    let b = prefix.get(..4)?;
    Some(u32::from_be_bytes([0, b[1], b[2], b[3]]) as usize)
}

/// A decoded message: its header and its top-level AVPs, sharing the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The top-level AVPs, in order.
    pub avps: Vec<Avp>,
}

impl Message {
    /// Decodes one whole message.
    ///
    /// # Errors
    ///
    /// A [`Failure`] with the Result-Code that RFC 6733 prescribes: DIAMETER_UNSUPPORTED_VERSION
    /// for a version other than 1, DIAMETER_INVALID_MESSAGE_LENGTH when the length field
    /// disagrees with the bytes or is not a multiple of 4, DIAMETER_INVALID_HDR_BITS for a
    /// request with the E bit, and the AVP errors of [`parse_avps`]. Fewer than 20 bytes
    /// give DIAMETER_INVALID_MESSAGE_LENGTH too, though such a message cannot be answered.
    pub fn decode(bytes: Bytes) -> Result<Message, Failure> {
        let Some(header) = Header::read(&bytes) else {
            return Err(Failure::new(
                ResultCode::INVALID_MESSAGE_LENGTH,
                format!(
                    "a message of {} bytes is shorter than its 20-byte header",
                    bytes.len()
                ),
            ));
        };
        Message::check_header(&header, bytes.len())?;
        let avps = parse_avps(bytes.slice(HEADER_LEN..))?;
        Ok(Message { header, avps })
    }

    fn check_header(header: &Header, received: usize) -> Result<(), Failure> {
        if header.version != 1 {
            return Err(Failure::new(
                ResultCode::UNSUPPORTED_VERSION,
                format!(
                    "Diameter version {} is not supported: only version 1 is",
                    header.version
                ),
            ));
        }
        let length = header.length as usize;
        if length != received || !length.is_multiple_of(4) || length < HEADER_LEN {
            return Err(Failure::new(
                ResultCode::INVALID_MESSAGE_LENGTH,
                format!(
                    "the Message Length field says {length} bytes but the message has {received}: \
                     it must count the whole message and be a multiple of 4, at least 20"
                ),
            ));
        }
        if header.is_request() && header.flags & flags::ERROR != 0 {
            return Err(Failure::new(
                ResultCode::INVALID_HDR_BITS,
                "the E bit is set on a request: only answers carry it",
            ));
        }
        Ok(())
    }

    /// The first AVP `code` of `vendor` (0 for the base protocol).
    pub fn find(&self, code: u32, vendor: u32) -> Option<&Avp> {
        self.avps.iter().find(|a| a.is(code, vendor))
    }

    /// Encodes a message from a header (its length is computed) and encoded AVPs.
    ///
    /// # Example
    ///
    /// ```
    /// use imei_index::s13::message::{Header, Message};
    ///
    /// let header = Header { version: 1, length: 0, flags: 0x80, command: 280,
    ///                       application: 0, hop_by_hop: 7, end_to_end: 9 };
    /// let bytes = Message::encode(&header, &[]);
    /// assert_eq!(&bytes[..], &[1, 0, 0, 20, 0x80, 0, 1, 24, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 9]);
    /// ```
    pub fn encode(header: &Header, avps: &[u8]) -> Bytes {
        let length = HEADER_LEN + avps.len();
        let mut buf = BytesMut::with_capacity(length);
        buf.put_u32((u32::from(header.version) << 24) | (length as u32 & 0x00ff_ffff));
        buf.put_u32((u32::from(header.flags) << 24) | (header.command & 0x00ff_ffff));
        buf.put_u32(header.application);
        buf.put_u32(header.hop_by_hop);
        buf.put_u32(header.end_to_end);
        buf.put_slice(avps);
        buf.freeze()
    }
}

/// Decodes as much of a message as can be read, for answering it even when it is bad: the
/// header (if 20 bytes are there), the AVPs before the first bad one (an error answer still
/// echoes the Session-Id and Proxy-Info), and the first thing wrong.
pub(crate) fn decode_partial(bytes: &Bytes) -> (Option<Header>, Vec<Avp>, Result<(), Failure>) {
    let Some(header) = Header::read(bytes) else {
        return (None, Vec::new(), Message::decode(bytes.clone()).map(|_| ()));
    };
    let header_check = Message::check_header(&header, bytes.len());
    let (avps, avp_check) = parse_avps_partial(bytes.slice(HEADER_LEN..));
    (Some(header), avps, header_check.and(avp_check))
}
