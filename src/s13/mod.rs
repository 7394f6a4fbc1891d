//! Diameter S13: the ME-Identity-Check that MMEs and SGSNs send to an EIR (3GPP TS 29.272
//! §5.3 and §7), on the Diameter base protocol (RFC 6733). Behind the feature `s13`.
//!
//! * [`message`] and [`avp`] read Diameter messages from untrusted bytes (sharing them, with
//!   [`bytes::Bytes`]) and write them.
//! * [`IdentityCheckRequest`] reads an ME-Identity-Check-Request: Terminal-Information's IMEI
//!   and Software-Version, and User-Name's IMSI.
//! * [`Connection`] is one peer connection: it answers the capabilities exchange (CER/CEA),
//!   device watchdog (DWR/DWA), disconnect (DPR/DPA) and ME-Identity-Check (ECR/ECA) with
//!   the Equipment-Status of a check function, or Experimental-Result
//!   DIAMETER_ERROR_EQUIPMENT_UNKNOWN (5422) for equipment no list names. Every malformed
//!   message gets the answer RFC 6733 prescribes (E-bit answers for protocol errors,
//!   Failed-AVP naming the AVP at fault), never a panic.
//!
//! Socket I/O is the caller's; `examples/s13_eir.rs` is a TCP peer on tokio.
//!
//! # Example
//!
//! ```
//! use imei_index::s13::{Connection, Event, Identity, message::Message};
//! use imei_index::s13::avp::{AvpWriter, code, flags::MANDATORY as M};
//! use imei_index::{Entry, Imei, IndexBuilder, Index, Rule, Status};
//!
//! let stolen = Imei::parse("354178036859789")?;
//! let mut builder = IndexBuilder::new();
//! builder.add(Rule::imei(stolen, Entry::new(Status::Blocked)));
//! let (bytes, _) = builder.build_to_vec()?;
//! let index = Index::from_bytes(bytes.into())?;
//!
//! let me = Identity::new("eir.example.net", "example.net", "127.0.0.1".parse()?);
//! let mut conn = Connection::new(me);
//! // A capabilities exchange from the MME...
//! let mut w = AvpWriter::new();
//! w.raw(code::ORIGIN_HOST, M, None, b"mme.example.net");
//! w.raw(code::ORIGIN_REALM, M, None, b"example.net");
//! w.raw(code::HOST_IP_ADDRESS, M, None, &[0, 1, 127, 0, 0, 1]);
//! w.u32(code::VENDOR_ID, M, None, 0);
//! w.raw(code::PRODUCT_NAME, 0, None, b"mme");
//! w.u32(code::AUTH_APPLICATION_ID, M, None, 16777252);
//! let cer = Message::encode(&header(257, 0, 0x80), &w.finish());
//! let reply = conn.receive(cer, |imei, _| index.check(imei));
//! assert!(matches!(reply.event, Event::CapabilitiesExchanged { .. }));
//!
//! // ...then an ME-Identity-Check for the stolen handset.
//! let mut w = AvpWriter::new();
//! w.raw(code::SESSION_ID, M, None, b"mme.example.net;1;1");
//! w.u32(code::AUTH_SESSION_STATE, M, None, 1);
//! w.raw(code::ORIGIN_HOST, M, None, b"mme.example.net");
//! w.raw(code::ORIGIN_REALM, M, None, b"example.net");
//! w.raw(code::DESTINATION_REALM, M, None, b"example.net");
//! w.group(code::TERMINAL_INFORMATION, M, Some(10415), |t| {
//!     t.raw(code::IMEI, M, Some(10415), b"35417803685978");
//! });
//! let ecr = Message::encode(&header(324, 16777252, 0xc0), &w.finish());
//! let reply = conn.receive(ecr, |imei, _| index.check(imei));
//! let answer = Message::decode(reply.answer.unwrap()).unwrap();
//! let status = answer.find(code::EQUIPMENT_STATUS, 10415).unwrap().u32().unwrap();
//! assert_eq!(status, 1); // BLACKLISTED
//!
//! fn header(command: u32, application: u32, flags: u8) -> imei_index::s13::message::Header {
//!     imei_index::s13::message::Header {
//!         version: 1, length: 0, flags, command, application, hop_by_hop: 1, end_to_end: 1,
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod avp;
mod eic;
mod error;
pub mod message;
mod peer;

pub use self::eic::IdentityCheckRequest;
pub use self::error::{Failure, ResultCode};
pub use self::message::message_length;
pub use self::peer::{Connection, DISCONNECT_REBOOTING, Event, Identity, Reply, State};

/// The Diameter application of S13 (TS 29.272 §7.1.8).
pub const S13_APPLICATION_ID: u32 = 16_777_252;
/// 3GPP's IANA enterprise number: the Vendor-Id of 3GPP AVPs and results.
pub const VENDOR_3GPP: u32 = 10_415;
