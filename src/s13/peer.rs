//! One Diameter connection seen from the EIR: capabilities exchange, device watchdog,
//! disconnect, and ME-Identity-Check answered from a check function.
//!
//! The connection is a state machine over whole messages; reading and writing the socket is
//! the caller's (see `examples/s13_eir.rs`), so it works with any I/O and tests drive it
//! with bytes.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use super::avp::{Avp, AvpWriter, code, flags as avp_flags};
use super::eic::{self, IdentityCheckRequest, at_most_once, identity, required};
use super::error::{Failure, ResultCode};
use super::message::{Header, MAX_MESSAGE_LEN, Message, command, decode_partial, flags};
use super::{S13_APPLICATION_ID, VENDOR_3GPP};
use crate::{Imei, Imsi, Verdict};

/// The Auth-Application-Id of a relay: it supports every application.
const RELAY_APPLICATION_ID: u32 = 0xffff_ffff;
/// Auth-Session-State NO_STATE_MAINTAINED, which S13 answers carry.
const NO_STATE_MAINTAINED: u32 = 1;
/// Disconnect-Cause REBOOTING (RFC 6733 §5.4.3).
pub const DISCONNECT_REBOOTING: u32 = 0;

/// Who this EIR is: what its answers and capabilities exchange say.
///
/// # Example
///
/// ```
/// use imei_index::s13::Identity;
///
/// let me = Identity::new("eir.example.net", "example.net", "127.0.0.1".parse()?);
/// assert_eq!(me.product_name, "imei-index");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Origin-Host: this EIR's DiameterIdentity (a host name).
    pub origin_host: String,
    /// Origin-Realm: its realm. ME-Identity-Check-Requests for other realms are refused
    /// with DIAMETER_REALM_NOT_SERVED.
    pub origin_realm: String,
    /// Host-IP-Address values for the capabilities exchange.
    pub host_ip_addresses: Vec<IpAddr>,
    /// Vendor-Id for the capabilities exchange (0 when the software has no IANA number).
    pub vendor_id: u32,
    /// Product-Name for the capabilities exchange.
    pub product_name: String,
    /// Origin-State-Id: changes whenever the EIR restarts and loses state.
    pub origin_state_id: u32,
}

impl Identity {
    /// An identity with Product-Name `imei-index`, Vendor-Id 0 and Origin-State-Id 1.
    pub fn new(origin_host: &str, origin_realm: &str, host_ip_address: IpAddr) -> Identity {
        Identity {
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            host_ip_addresses: vec![host_ip_address],
            vendor_id: 0,
            product_name: "imei-index".to_string(),
            origin_state_id: 1,
        }
    }
}

/// Where a connection stands (RFC 6733 §5.6, responder side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connected, waiting for the peer's Capabilities-Exchange-Request.
    WaitCer,
    /// Capabilities exchanged: requests are answered.
    Open,
    /// Closing: the connection must be closed once the last answer is sent.
    Closed,
}

/// What to do after receiving a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The answer to send, when the message was a request that can be answered.
    pub answer: Option<Bytes>,
    /// Whether to close the connection (after sending the answer).
    pub close: bool,
    /// What happened, for logs and tests.
    pub event: Event,
}

/// What a received message was and how it was handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A capabilities exchange succeeded with this peer.
    CapabilitiesExchanged {
        /// The peer's Origin-Host.
        origin_host: String,
    },
    /// A Device-Watchdog-Request was answered.
    Watchdog,
    /// The peer asked to disconnect; the answer is sent and the connection closes.
    Disconnect {
        /// Its Disconnect-Cause.
        cause: u32,
    },
    /// An ME-Identity-Check was answered.
    IdentityChecked {
        /// The IMEI asked about (`None` for a 3GPP2-MEID, which is always unknown).
        imei: Option<Imei>,
        /// The IMSI from User-Name.
        imsi: Option<Imsi>,
        /// The list's verdict.
        verdict: Verdict,
    },
    /// A request was refused with an error answer.
    Refused(Failure),
    /// A request arrived before the capabilities exchange; the connection closes.
    NotOpen {
        /// Its command code.
        command: u32,
    },
    /// An answer arrived (to a request this side sent, such as a watchdog).
    Answer(Header),
    /// Fewer than 20 bytes: no header to answer; the connection closes.
    Unreadable,
}

/// One connection from an MME, SGSN or Diameter agent.
///
/// # Example
///
/// ```
/// use imei_index::s13::{Connection, Event, Identity, State};
/// use imei_index::Verdict;
///
/// let me = Identity::new("eir.example.net", "example.net", "127.0.0.1".parse()?);
/// let mut conn = Connection::new(me);
/// // A watchdog request before the capabilities exchange closes the connection.
/// let dwr = conn.watchdog_request();
/// let reply = conn.receive(dwr, |_, _| Verdict::unknown());
/// assert!(reply.close && reply.answer.is_none());
/// assert_eq!(reply.event, Event::NotOpen { command: 280 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    me: Identity,
    state: State,
    next_hop_by_hop: u32,
    next_end_to_end: u32,
}

impl Connection {
    /// A new connection, waiting for the peer's capabilities exchange.
    pub fn new(me: Identity) -> Connection {
        // RFC 6733 §3: the high 12 bits of End-to-End identifiers come from the start time;
        // the Origin-State-Id changes with every start, so it serves.
        let next_end_to_end = me.origin_state_id << 20;
        Connection {
            me,
            state: State::WaitCer,
            next_hop_by_hop: 1,
            next_end_to_end,
        }
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Handles one whole message as read from the connection (its header's length field
    /// says how many bytes to read; when that length is unusable, pass the header alone and
    /// the answer says so). `check` answers an ME-Identity-Check for an IMEI and, when the
    /// request names one, an IMSI.
    ///
    /// Never panics on any bytes: every malformed message gets the RFC 6733 error answer.
    /// Messages over [`MAX_MESSAGE_LEN`] get DIAMETER_UNABLE_TO_COMPLY and close the
    /// connection.
    pub fn receive(
        &mut self,
        frame: Bytes,
        check: impl FnOnce(Imei, Option<&Imsi>) -> Verdict,
    ) -> Reply {
        let (header, avps, decoded) = decode_partial(&frame);
        let Some(header) = header else {
            self.state = State::Closed;
            return Reply {
                answer: None,
                close: true,
                event: Event::Unreadable,
            };
        };
        if !header.is_request() {
            return self.reply(None, Event::Answer(header));
        }
        if frame.len() > MAX_MESSAGE_LEN {
            let failure = Failure::new(
                ResultCode::UNABLE_TO_COMPLY,
                format!(
                    "a message of {} bytes is over this EIR's limit of {MAX_MESSAGE_LEN}",
                    frame.len()
                ),
            );
            // Nothing of it is echoed, so that the answer stays small.
            let answer = self.error_answer(&header, &[], &failure);
            self.state = State::Closed;
            return self.reply(Some(answer), Event::Refused(failure));
        }
        if let Err(failure) = decoded {
            // A length that does not frame the message loses the stream's framing too.
            let close = failure.result == ResultCode::INVALID_MESSAGE_LENGTH;
            let answer = self.error_answer(&header, &avps, &failure);
            if close {
                self.state = State::Closed;
            }
            return self.reply(Some(answer), Event::Refused(failure));
        }
        let message = Message { header, avps };
        if self.state == State::WaitCer && header.command != command::CAPABILITIES_EXCHANGE {
            self.state = State::Closed;
            return Reply {
                answer: None,
                close: true,
                event: Event::NotOpen {
                    command: header.command,
                },
            };
        }
        let outcome = match (header.command, header.application) {
            (command::CAPABILITIES_EXCHANGE, 0) => self.capabilities_exchange(&message),
            (command::DEVICE_WATCHDOG, 0) => self.watchdog(&message),
            (command::DISCONNECT_PEER, 0) => self.disconnect(&message),
            (command::ME_IDENTITY_CHECK, S13_APPLICATION_ID) => {
                self.identity_check(&message, check)
            }
            (_, 0 | S13_APPLICATION_ID) => Err(Failure::new(
                ResultCode::COMMAND_UNSUPPORTED,
                format!(
                    "command {} of application {} is not supported: this EIR answers \
                     CER, DWR, DPR and ME-Identity-Check",
                    header.command, header.application
                ),
            )),
            (_, application) => Err(Failure::new(
                ResultCode::APPLICATION_UNSUPPORTED,
                format!(
                    "application {application} is not supported: this EIR serves S13 \
                     ({S13_APPLICATION_ID}) and the base protocol (0)"
                ),
            )),
        };
        match outcome {
            Ok((answer, event)) => self.reply(Some(answer), event),
            Err(failure) => {
                let answer = self.error_answer(&header, &message.avps, &failure);
                if header.command == command::CAPABILITIES_EXCHANGE {
                    // RFC 6733 §5.3: a failed capabilities exchange ends the connection.
                    self.state = State::Closed;
                }
                self.reply(Some(answer), Event::Refused(failure))
            }
        }
    }

    fn reply(&self, answer: Option<Bytes>, event: Event) -> Reply {
        Reply {
            answer,
            close: self.state == State::Closed,
            event,
        }
    }

    /// A Device-Watchdog-Request to send when the connection has been idle (RFC 3539).
    pub fn watchdog_request(&mut self) -> Bytes {
        let mut w = AvpWriter::new();
        self.origin(&mut w);
        w.u32(
            code::ORIGIN_STATE_ID,
            avp_flags::MANDATORY,
            None,
            self.me.origin_state_id,
        );
        self.request(command::DEVICE_WATCHDOG, &w.finish())
    }

    /// A Disconnect-Peer-Request with `cause` (0 REBOOTING, 1 BUSY, 2 DO_NOT_WANT_TO_TALK_TO_YOU).
    pub fn disconnect_request(&mut self, cause: u32) -> Bytes {
        let mut w = AvpWriter::new();
        self.origin(&mut w);
        w.u32(code::DISCONNECT_CAUSE, avp_flags::MANDATORY, None, cause);
        self.request(command::DISCONNECT_PEER, &w.finish())
    }

    fn request(&mut self, command: u32, avps: &[u8]) -> Bytes {
        let header = Header {
            version: 1,
            length: 0,
            flags: flags::REQUEST,
            command,
            application: 0,
            hop_by_hop: self.next_hop_by_hop,
            end_to_end: self.next_end_to_end,
        };
        self.next_hop_by_hop = self.next_hop_by_hop.wrapping_add(1);
        self.next_end_to_end = self.next_end_to_end.wrapping_add(1);
        Message::encode(&header, avps)
    }

    fn origin(&self, w: &mut AvpWriter) {
        w.raw(
            code::ORIGIN_HOST,
            avp_flags::MANDATORY,
            None,
            self.me.origin_host.as_bytes(),
        );
        w.raw(
            code::ORIGIN_REALM,
            avp_flags::MANDATORY,
            None,
            self.me.origin_realm.as_bytes(),
        );
    }

    fn capabilities_exchange(&mut self, message: &Message) -> Result<(Bytes, Event), Failure> {
        check_no_proxy_bit(&message.header)?;
        let avps = &message.avps;
        recognised(avps)?;
        for single in [
            code::ORIGIN_HOST,
            code::ORIGIN_REALM,
            code::VENDOR_ID,
            code::PRODUCT_NAME,
        ] {
            at_most_once(avps, (single, 0))?;
        }
        let origin_host = identity(required(avps, (code::ORIGIN_HOST, 0), &[])?)?;
        identity(required(avps, (code::ORIGIN_REALM, 0), &[])?)?;
        // Address: a 2-byte family (1 IPv4, 2 IPv6) and the address.
        required(avps, (code::HOST_IP_ADDRESS, 0), &[0, 1, 0, 0, 0, 0])?;
        for address in avps.iter().filter(|a| a.is(code::HOST_IP_ADDRESS, 0)) {
            let ok = match address.data.get(..2) {
                Some([0, 1]) => address.data.len() == 6,
                Some([0, 2]) => address.data.len() == 18,
                _ => address.data.len() >= 2,
            };
            if !ok {
                return Err(Failure::new(
                    ResultCode::INVALID_AVP_LENGTH,
                    "a Host-IP-Address does not hold an address of its family's length",
                )
                .with_failed(address.raw.clone()));
            }
        }
        required(avps, (code::VENDOR_ID, 0), &[0; 4])?.u32()?;
        required(avps, (code::PRODUCT_NAME, 0), &[])?.utf8()?;

        let mut applications = Vec::new();
        for avp in avps {
            if avp.is(code::AUTH_APPLICATION_ID, 0) {
                applications.push(avp.u32()?);
            } else if avp.is(code::VENDOR_SPECIFIC_APPLICATION_ID, 0) {
                for inner in avp.group()? {
                    if inner.is(code::AUTH_APPLICATION_ID, 0) {
                        applications.push(inner.u32().map_err(|f| f.inside(avp))?);
                    }
                }
            }
        }
        if !applications
            .iter()
            .any(|&a| a == S13_APPLICATION_ID || a == RELAY_APPLICATION_ID)
        {
            return Err(Failure::new(
                ResultCode::NO_COMMON_APPLICATION,
                format!(
                    "the peer advertises no S13 application: advertise Auth-Application-Id \
                     {S13_APPLICATION_ID} (in Vendor-Specific-Application-Id with Vendor-Id \
                     {VENDOR_3GPP})"
                ),
            ));
        }
        let mut security = Vec::new();
        for avp in avps.iter().filter(|a| a.is(code::INBAND_SECURITY_ID, 0)) {
            security.push(avp.u32()?);
        }
        if !security.is_empty() && !security.contains(&0) {
            return Err(Failure::new(
                ResultCode::NO_COMMON_SECURITY,
                "the peer offers only inband TLS: this EIR speaks NO_INBAND_SECURITY (0); \
                 secure the link below Diameter instead",
            ));
        }
        self.state = State::Open;
        let answer = self.answer(&message.header, avps, ResultCode::SUCCESS, None, |_| {});
        Ok((answer, Event::CapabilitiesExchanged { origin_host }))
    }

    fn watchdog(&mut self, message: &Message) -> Result<(Bytes, Event), Failure> {
        check_no_proxy_bit(&message.header)?;
        self.origin_of(message)?;
        let answer = self.answer(
            &message.header,
            &message.avps,
            ResultCode::SUCCESS,
            None,
            |_| {},
        );
        Ok((answer, Event::Watchdog))
    }

    fn disconnect(&mut self, message: &Message) -> Result<(Bytes, Event), Failure> {
        check_no_proxy_bit(&message.header)?;
        self.origin_of(message)?;
        at_most_once(&message.avps, (code::DISCONNECT_CAUSE, 0))?;
        let cause = required(&message.avps, (code::DISCONNECT_CAUSE, 0), &[0; 4])?.u32()?;
        self.state = State::Closed;
        let answer = self.answer(
            &message.header,
            &message.avps,
            ResultCode::SUCCESS,
            None,
            |_| {},
        );
        Ok((answer, Event::Disconnect { cause }))
    }

    /// Checks the Origin-Host and Origin-Realm of a base-protocol request.
    fn origin_of(&self, message: &Message) -> Result<(), Failure> {
        recognised(&message.avps)?;
        for single in [code::ORIGIN_HOST, code::ORIGIN_REALM, code::ORIGIN_STATE_ID] {
            at_most_once(&message.avps, (single, 0))?;
        }
        identity(required(&message.avps, (code::ORIGIN_HOST, 0), &[])?)?;
        identity(required(&message.avps, (code::ORIGIN_REALM, 0), &[])?)?;
        Ok(())
    }

    fn identity_check(
        &mut self,
        message: &Message,
        check: impl FnOnce(Imei, Option<&Imsi>) -> Verdict,
    ) -> Result<(Bytes, Event), Failure> {
        if message.header.flags & flags::PROXIABLE == 0 {
            return Err(Failure::new(
                ResultCode::INVALID_HDR_BITS,
                "an ME-Identity-Check-Request must have the P bit set (TS 29.272 §7.2.19)",
            ));
        }
        recognised(&message.avps)?;
        let request = IdentityCheckRequest::decode(message)?;
        if !request
            .destination_realm
            .eq_ignore_ascii_case(&self.me.origin_realm)
        {
            return Err(Failure::new(
                ResultCode::REALM_NOT_SERVED,
                format!(
                    "Destination-Realm {} is not served here: this EIR serves {}",
                    request.destination_realm, self.me.origin_realm
                ),
            ));
        }
        if let Some(host) = &request.destination_host
            && !host.eq_ignore_ascii_case(&self.me.origin_host)
        {
            return Err(Failure::new(
                ResultCode::UNABLE_TO_DELIVER,
                format!(
                    "Destination-Host {host} is not this EIR ({}), which relays nothing",
                    self.me.origin_host
                ),
            ));
        }
        let imei = request.imei.map(|l| l.imei);
        let verdict = match imei {
            Some(imei) => check(imei, request.imsi.as_ref()),
            // IMEI lists cannot name a 3GPP2-MEID.
            None => Verdict::unknown(),
        };
        let answer = match verdict.status() {
            Some(status) => self.answer(
                &message.header,
                &message.avps,
                ResultCode::SUCCESS,
                None,
                |w| {
                    w.u32(
                        code::EQUIPMENT_STATUS,
                        avp_flags::MANDATORY,
                        Some(VENDOR_3GPP),
                        u32::from(status.s13_code()),
                    );
                },
            ),
            None => self.answer(
                &message.header,
                &message.avps,
                ResultCode::ERROR_EQUIPMENT_UNKNOWN,
                None,
                |_| {},
            ),
        };
        let event = Event::IdentityChecked {
            imei,
            imsi: request.imsi,
            verdict,
        };
        Ok((answer, event))
    }

    fn error_answer(&self, request: &Header, avps: &[Avp], failure: &Failure) -> Bytes {
        self.answer(request, avps, failure.result, Some(failure), |_| {})
    }

    /// Encodes the answer to `request` (whose AVPs, as far as they could be read, are
    /// `avps`): RFC 6733 §6.2 and, for protocol errors, the §7.2 answer-message.
    fn answer(
        &self,
        request: &Header,
        avps: &[Avp],
        result: ResultCode,
        failure: Option<&Failure>,
        extra: impl FnOnce(&mut AvpWriter),
    ) -> Bytes {
        let m = avp_flags::MANDATORY;
        let mut w = AvpWriter::new();
        if let Some(session) = avps.iter().find(|a| a.is(code::SESSION_ID, 0)) {
            w.verbatim(&session.raw);
        }
        let s13 = request.application == S13_APPLICATION_ID && !result.is_protocol_error();
        if s13 {
            w.group(code::VENDOR_SPECIFIC_APPLICATION_ID, m, None, |g| {
                g.u32(code::VENDOR_ID, m, None, VENDOR_3GPP);
                g.u32(code::AUTH_APPLICATION_ID, m, None, S13_APPLICATION_ID);
            });
        }
        if result == ResultCode::ERROR_EQUIPMENT_UNKNOWN {
            w.group(code::EXPERIMENTAL_RESULT, m, None, |g| {
                g.u32(code::VENDOR_ID, m, None, VENDOR_3GPP);
                g.u32(code::EXPERIMENTAL_RESULT_CODE, m, None, result.0);
            });
        } else {
            w.u32(code::RESULT_CODE, m, None, result.0);
        }
        if s13 {
            w.u32(code::AUTH_SESSION_STATE, m, None, NO_STATE_MAINTAINED);
        }
        self.origin(&mut w);
        let capabilities =
            request.command == command::CAPABILITIES_EXCHANGE && !result.is_protocol_error();
        if capabilities {
            self.capabilities(&mut w);
        }
        if request.command == command::DEVICE_WATCHDOG || result.is_protocol_error() {
            w.u32(code::ORIGIN_STATE_ID, m, None, self.me.origin_state_id);
        }
        extra(&mut w);
        if let Some(failure) = failure {
            // Error-Message must not have the M bit (RFC 6733 §7.3).
            w.raw(code::ERROR_MESSAGE, 0, None, failure.message.as_bytes());
            if let Some(failed) = &failure.failed_avp {
                w.group(code::FAILED_AVP, m, None, |g| g.verbatim(failed));
            }
        }
        // RFC 6733 §6.2: Proxy-Info AVPs are echoed in the same order.
        for proxy in avps.iter().filter(|a| a.is(code::PROXY_INFO, 0)) {
            w.verbatim(&proxy.raw);
        }
        Message::encode(&request.answer(result), &w.finish())
    }

    /// The capabilities that a CEA advertises.
    fn capabilities(&self, w: &mut AvpWriter) {
        let m = avp_flags::MANDATORY;
        for address in &self.me.host_ip_addresses {
            let mut data = BytesMut::new();
            match address {
                IpAddr::V4(a) => {
                    data.put_u16(1);
                    data.put_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    data.put_u16(2);
                    data.put_slice(&a.octets());
                }
            }
            w.raw(code::HOST_IP_ADDRESS, m, None, &data);
        }
        w.u32(code::VENDOR_ID, m, None, self.me.vendor_id);
        // Product-Name must not have the M bit (RFC 6733 §5.3.7).
        w.raw(code::PRODUCT_NAME, 0, None, self.me.product_name.as_bytes());
        w.u32(code::ORIGIN_STATE_ID, m, None, self.me.origin_state_id);
        w.u32(code::SUPPORTED_VENDOR_ID, m, None, VENDOR_3GPP);
        w.u32(code::AUTH_APPLICATION_ID, m, None, S13_APPLICATION_ID);
        w.group(code::VENDOR_SPECIFIC_APPLICATION_ID, m, None, |g| {
            g.u32(code::VENDOR_ID, m, None, VENDOR_3GPP);
            g.u32(code::AUTH_APPLICATION_ID, m, None, S13_APPLICATION_ID);
        });
    }
}

/// Base-protocol commands are not proxiable: their headers have no PXY (RFC 6733 §5).
fn check_no_proxy_bit(header: &Header) -> Result<(), Failure> {
    if header.flags & flags::PROXIABLE != 0 {
        return Err(Failure::new(
            ResultCode::INVALID_HDR_BITS,
            format!("command {} must not have the P bit set", header.command),
        ));
    }
    Ok(())
}

/// The AVPs this EIR understands at the top level of a request.
fn is_recognised(avp: &Avp) -> bool {
    match avp.vendor.unwrap_or(0) {
        0 => matches!(
            avp.code,
            code::USER_NAME
                | code::HOST_IP_ADDRESS
                | code::AUTH_APPLICATION_ID
                | code::ACCT_APPLICATION_ID
                | code::VENDOR_SPECIFIC_APPLICATION_ID
                | code::SESSION_ID
                | code::ORIGIN_HOST
                | code::SUPPORTED_VENDOR_ID
                | code::VENDOR_ID
                | code::FIRMWARE_REVISION
                | code::PRODUCT_NAME
                | code::DISCONNECT_CAUSE
                | code::AUTH_SESSION_STATE
                | code::ORIGIN_STATE_ID
                | code::ROUTE_RECORD
                | code::DESTINATION_REALM
                | code::PROXY_INFO
                | code::DESTINATION_HOST
                | code::ORIGIN_REALM
                | code::INBAND_SECURITY_ID
                | code::DRMP
        ),
        VENDOR_3GPP => avp.code == code::TERMINAL_INFORMATION,
        _ => false,
    }
}

/// DIAMETER_AVP_UNSUPPORTED for the first AVP with the M bit that this EIR does not know:
/// RFC 6733 §4.1 requires refusing the message rather than ignoring it.
fn recognised(avps: &[Avp]) -> Result<(), Failure> {
    match avps.iter().find(|a| a.is_mandatory() && !is_recognised(a)) {
        Some(unknown) => Err(eic::unsupported(unknown)),
        None => Ok(()),
    }
}
