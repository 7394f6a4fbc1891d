//! Diameter S13 (3GPP TS 29.272) over TCP: the connection loop around the library's
//! sans-IO [`Connection`], which does the capabilities exchange, the device watchdog,
//! disconnects and ME-Identity-Check answers.
//!
//! This module only moves bytes: it frames messages from the stream, sends a watchdog
//! request when a connection has been idle for the watchdog time (RFC 3539's Tw) and drops
//! it when that goes unanswered, and on shutdown sends a Disconnect-Peer-Request to every
//! peer and waits (a while) for their answers.
//!
//! And it decides who may talk: a capabilities exchange from a peer that is not on the
//! allowlist (Origin-Host, Origin-Realm, source address) is answered
//! DIAMETER_UNKNOWN_PEER (3010) and the connection closed; requests before the exchange
//! close it (RFC 6733 §5.3); a peer over its request rate is answered DIAMETER_TOO_BUSY
//! (3004); connections are bounded in all and per address; Diameter over TLS (RFC 6733
//! §13) starts TLS on the first byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use imei_index::s13::avp::{AvpWriter, code, flags::MANDATORY};
use imei_index::s13::message::{HEADER_LEN, Header, Message, command};
use imei_index::s13::{
    Connection, DISCONNECT_REBOOTING, Event, Identity, ResultCode, State, message_length,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::checks::Checks;
use crate::config::{LimitSettings, PeerRule};
use crate::limits::{Crowded, Guard, Hold, Pace, RateLimit};
use crate::metrics::{Interface, Refusal};

/// RFC 6733 §7.1.3: the peer is not one this node talks to.
pub const UNKNOWN_PEER: ResultCode = ResultCode(3010);
/// RFC 6733 §7.1.3: this node is too busy to answer; the peer should try another.
pub const TOO_BUSY: ResultCode = ResultCode(3004);

/// Messages longer than this are refused (DIAMETER_INVALID_MESSAGE_LENGTH) rather than read:
/// an ME-Identity-Check-Request is a few hundred bytes.
const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// What every S13 connection shares.
#[derive(Debug)]
pub struct S13 {
    /// This EIR's Diameter identity.
    pub me: Identity,
    /// The check path.
    pub checks: Arc<Checks>,
    /// Idle time before a watchdog request.
    pub watchdog: Duration,
    /// Log every ME-Identity-Check, not only connections and refusals.
    pub verbose: bool,
    /// The peers allowed; `None`: any (`--s13-any-peer`).
    pub peers: Option<Vec<PeerRule>>,
    /// Requests a second per peer (its Origin-Host).
    pub rate: Option<Arc<RateLimit>>,
    /// Time a new connection has for its capabilities exchange.
    pub cer_timeout: Duration,
}

impl S13 {
    /// Connections answered as `me` through `checks`, from any peer and at any rate, with
    /// the default timeouts: set the fields to restrict them.
    pub fn new(me: Identity, checks: Arc<Checks>) -> S13 {
        S13 {
            me,
            checks,
            watchdog: Duration::from_secs(30),
            verbose: false,
            peers: None,
            rate: None,
            cer_timeout: LimitSettings::default().header_timeout,
        }
    }
}

/// Serves S13 peers on `listener` until `stop` turns true; then sends every open peer a
/// Disconnect-Peer-Request and waits at most `drain` for them to answer and close. In
/// cleartext, with the default connection limits ([`serve_guarded`] chooses).
pub async fn serve(
    listener: TcpListener,
    shared: Arc<S13>,
    stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let guard = Guard::cleartext(LimitSettings::default());
    serve_guarded(listener, shared, guard, stop, drain).await;
}

/// [`serve`], over TLS from the first byte when `guard` has it (RFC 6733 §13), with its
/// connection limits.
pub async fn serve_guarded(
    listener: TcpListener,
    shared: Arc<S13>,
    guard: Guard,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let mut peers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let metrics = shared.checks.metrics();
                    if !shared.checks.ready() {
                        // No index to answer from: refuse the peer before its capabilities
                        // exchange, so that it turns to another EIR.
                        tracing::warn!(%peer, "s13: no valid index loaded, closing the connection");
                        metrics.unavailable(Interface::S13);
                        continue;
                    }
                    let admitted = match guard.connections.admit(peer.ip()) {
                        Ok(a) => a,
                        Err(crowded) => {
                            metrics.refused(Interface::S13, match crowded {
                                Crowded::Total => Refusal::ConnectionsTotal,
                                Crowded::PerAddress => Refusal::ConnectionsPerAddress,
                            });
                            tracing::warn!(%peer, ?crowded, "s13: too many connections, closing");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let (shared, stop) = (Arc::clone(&shared), stop.clone());
                    let tls = guard.tls.clone();
                    let timeout = guard.limits.header_timeout;
                    let pace = Pace::new(guard.limits.throttle_after);
                    peers.spawn(async move {
                        let _admitted = admitted;
                        let Some(config) = tls else {
                            return serve_paced(stream, peer, shared, stop, pace).await;
                        };
                        let acceptor = TlsAcceptor::from(config.current());
                        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => serve_paced(tls, peer, shared, stop, pace).await,
                            Ok(Err(e)) => {
                                shared.checks.metrics().refused(Interface::S13, Refusal::TlsHandshake);
                                tracing::warn!(%peer, error = %e, "s13: TLS handshake failed");
                            }
                            Err(_) => {
                                shared.checks.metrics().refused(Interface::S13, Refusal::TlsHandshake);
                                tracing::warn!(%peer, "s13: TLS handshake too slow, closing");
                            }
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "s13: could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = peers.join_next(), if !peers.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    // Every peer task saw `stop` too and sent its DPR; the DPAs end them.
    let _ = tokio::time::timeout(drain, async { while peers.join_next().await.is_some() {} }).await;
}

/// Runs one peer connection (TCP, or TLS over it) until it closes, held after the default
/// number of refusals over its rate ([`Pace`]).
pub async fn serve_peer<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<S13>,
    stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let pace = Pace::new(LimitSettings::default().throttle_after);
    serve_paced(stream, peer, shared, stop, pace).await;
}

/// [`serve_peer`], held by `pace`: once its DIAMETER_TOO_BUSY answers outnumber the others
/// by enough, each further one is sent, and the next message read, only when the peer's
/// rate has refilled.
async fn serve_paced<S>(
    mut stream: S,
    peer: SocketAddr,
    shared: Arc<S13>,
    mut stop: watch::Receiver<bool>,
    pace: Pace,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let metrics = Arc::clone(shared.checks.metrics());
    let _connection = metrics.s13_connection();
    let mut open = None;
    let mut conn = Connection::new(shared.me.clone());
    let mut buf = BytesMut::with_capacity(4096);
    let mut watchdog_sent = false;
    let mut disconnecting = *stop.borrow();
    if disconnecting {
        return;
    }
    // The peer's Origin-Host once its capabilities exchange is accepted: its rate's key.
    let mut peer_host = String::new();
    loop {
        // Handle every whole message already buffered.
        while let Some(frame) = next_frame(&mut buf) {
            watchdog_sent = false;
            let started = Instant::now();
            match admit(&shared, peer, &frame, conn.state(), &peer_host) {
                Admission::Go => pace.allowed(),
                Admission::Host(host) => peer_host = host,
                Admission::Refuse { answer, close } => {
                    if stream.write_all(&answer).await.is_err() || close {
                        return;
                    }
                    continue;
                }
                Admission::Busy(answer) => {
                    let hold = pace.refused(|| {
                        shared
                            .rate
                            .as_ref()
                            .map_or(Duration::ZERO, |r| r.hold_time(&peer_host))
                    });
                    if let Hold::Started(_) = hold {
                        metrics.refused(Interface::S13, Refusal::Throttled);
                    }
                    // Nothing else is read or answered meanwhile: the watchdog's time is
                    // far longer than a hold.
                    if let Some(until) = hold.until() {
                        tokio::time::sleep_until(until.into()).await;
                    }
                    if stream.write_all(&answer).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
            let reply = conn.receive(frame, |imei, imsi| {
                shared
                    .checks
                    .check(Interface::S13, imei, imsi, None)
                    .map(|a| a.as_verdict())
                    .unwrap_or_default()
            });
            if open.is_none() && conn.state() == State::Open {
                open = Some(metrics.s13_peer());
            }
            log(&shared, peer, &reply.event);
            if let Some(answer) = reply.answer
                && let Err(e) = stream.write_all(&answer).await
            {
                tracing::info!(%peer, error = %e, "s13: could not send an answer");
                return;
            }
            if matches!(reply.event, Event::IdentityChecked { .. }) {
                metrics.latency(Interface::S13, started.elapsed());
            } else if matches!(reply.event, Event::Refused(_)) {
                metrics.invalid(Interface::S13);
            } else if matches!(reply.event, Event::NotOpen { .. }) {
                metrics.refused(Interface::S13, Refusal::NotOpen);
            }
            if reply.close || (disconnecting && is_disconnect_answer(&reply.event)) {
                tracing::info!(%peer, "s13: connection closed");
                return;
            }
        }
        // Until the capabilities exchange, a peer has the header timeout, not the watchdog's.
        let wait = if conn.state() == State::Open {
            shared.watchdog
        } else {
            shared.cer_timeout
        };
        tokio::select! {
            read = tokio::time::timeout(wait, stream.read_buf(&mut buf)) => match read {
                Ok(Ok(0)) => {
                    if buf.is_empty() {
                        tracing::info!(%peer, "s13: peer closed the connection");
                    } else {
                        tracing::info!(%peer, "s13: peer closed in the middle of a message");
                    }
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "s13: read failed");
                    return;
                }
                Err(_idle) => {
                    if watchdog_sent {
                        tracing::warn!(%peer, "s13: watchdog unanswered, closing");
                        return;
                    }
                    if conn.state() != State::Open {
                        metrics.refused(Interface::S13, Refusal::Timeout);
                        tracing::warn!(%peer, "s13: no capabilities exchange in time, closing");
                        return;
                    }
                    watchdog_sent = true;
                    if stream.write_all(&conn.watchdog_request()).await.is_err() {
                        return;
                    }
                }
            },
            _ = stop.changed(), if !disconnecting => {
                disconnecting = true;
                if conn.state() != State::Open {
                    return;
                }
                // The DPA (an answer) ends the loop above; the caller's drain time ends the rest.
                tracing::info!(%peer, "s13: sending Disconnect-Peer-Request");
                if stream.write_all(&conn.disconnect_request(DISCONNECT_REBOOTING)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// What to do with a message before the protocol sees it.
enum Admission {
    /// Hand it on.
    Go,
    /// Hand it on: a capabilities exchange from this allowed peer (its Origin-Host).
    Host(String),
    /// Answer this instead, and close the connection or not.
    Refuse { answer: Bytes, close: bool },
    /// Answer this DIAMETER_TOO_BUSY instead: the peer is over its rate.
    Busy(Bytes),
}

/// Applies the allowlist to a capabilities exchange and the rate to ME-Identity-Checks.
fn admit(shared: &S13, peer: SocketAddr, frame: &Bytes, state: State, host: &str) -> Admission {
    let Some(header) = Header::read(frame) else {
        return Admission::Go;
    };
    if !header.is_request() {
        return Admission::Go;
    }
    let metrics = shared.checks.metrics();
    if header.command == command::CAPABILITIES_EXCHANGE && state != State::Open {
        // A malformed CER is the protocol's to answer.
        let Ok(message) = Message::decode(frame.clone()) else {
            return Admission::Go;
        };
        let text = |c| {
            message
                .find(c, 0)
                .and_then(|a| a.utf8().ok())
                .unwrap_or("")
                .to_string()
        };
        let (origin_host, origin_realm) = (text(code::ORIGIN_HOST), text(code::ORIGIN_REALM));
        let allowed = shared.peers.as_ref().is_none_or(|peers| {
            peers
                .iter()
                .any(|p| p.admits(&origin_host, &origin_realm, peer.ip()))
        });
        if allowed {
            return Admission::Host(origin_host);
        }
        metrics.refused(Interface::S13, Refusal::UnknownPeer);
        tracing::warn!(%peer, origin_host, origin_realm, "s13: unknown peer refused (DIAMETER_UNKNOWN_PEER)");
        let answer = refusal(
            &shared.me,
            &message,
            UNKNOWN_PEER,
            "this EIR does not know this peer: its Origin-Host, Origin-Realm or address is not \
             on the EIR's peer list",
        );
        return Admission::Refuse {
            answer,
            close: true,
        };
    }
    if header.command == command::ME_IDENTITY_CHECK
        && state == State::Open
        && let Some(rate) = &shared.rate
        && !rate.allow(host)
    {
        metrics.refused(Interface::S13, Refusal::Rate);
        let Ok(message) = Message::decode(frame.clone()) else {
            return Admission::Go;
        };
        let answer = refusal(
            &shared.me,
            &message,
            TOO_BUSY,
            "this peer is over its request rate at this EIR",
        );
        return Admission::Busy(answer);
    }
    Admission::Go
}

/// A protocol-error answer (RFC 6733 §7.2, E bit) to `request` with `result`.
fn refusal(me: &Identity, request: &Message, result: ResultCode, text: &str) -> Bytes {
    let mut w = AvpWriter::new();
    if let Some(session) = request.find(code::SESSION_ID, 0) {
        w.verbatim(&session.raw);
    }
    w.u32(code::RESULT_CODE, MANDATORY, None, result.0);
    w.raw(
        code::ORIGIN_HOST,
        MANDATORY,
        None,
        me.origin_host.as_bytes(),
    );
    w.raw(
        code::ORIGIN_REALM,
        MANDATORY,
        None,
        me.origin_realm.as_bytes(),
    );
    w.u32(code::ORIGIN_STATE_ID, MANDATORY, None, me.origin_state_id);
    // Error-Message must not have the M bit (RFC 6733 §7.3).
    w.raw(code::ERROR_MESSAGE, 0, None, text.as_bytes());
    Message::encode(&request.header.answer(result), &w.finish())
}

/// Splits the next whole message off the front of `buf`.
///
/// A header whose length cannot frame a message (under 20, not a multiple of 4, or past
/// the limit) is handed over alone, so that it is answered with
/// DIAMETER_INVALID_MESSAGE_LENGTH and the connection closed.
pub fn next_frame(buf: &mut BytesMut) -> Option<bytes::Bytes> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let len = message_length(buf)?;
    if len < HEADER_LEN || len % 4 != 0 || len > MAX_MESSAGE_LEN {
        let header = buf.split_to(HEADER_LEN).freeze();
        buf.clear();
        return Some(header);
    }
    (buf.len() >= len).then(|| buf.split_to(len).freeze())
}

fn is_disconnect_answer(event: &Event) -> bool {
    matches!(event, Event::Answer(h) if h.command == command::DISCONNECT_PEER)
}

fn log(shared: &S13, peer: SocketAddr, event: &Event) {
    match event {
        Event::CapabilitiesExchanged { origin_host } => {
            tracing::info!(%peer, %origin_host, "s13: capabilities exchanged");
        }
        Event::Disconnect { cause } => {
            tracing::info!(%peer, cause, "s13: peer disconnects");
        }
        Event::Refused(failure) => tracing::info!(%peer, %failure, "s13: refused"),
        Event::NotOpen { command } => {
            tracing::warn!(%peer, command, "s13: a request before the capabilities exchange, closing");
        }
        Event::Unreadable => tracing::warn!(%peer, "s13: unreadable message, closing"),
        Event::IdentityChecked {
            imei,
            imsi,
            verdict,
        } if shared.verbose => {
            let imei = imei.map_or_else(|| "a 3GPP2-MEID".to_string(), |i| i.to_string());
            let imsi = imsi.map(|i| i.to_string()).unwrap_or_default();
            let status = verdict.status().map_or("unknown", |s| s.n5g_eir());
            tracing::info!(%peer, imei, imsi, status, "s13: ME-Identity-Check");
        }
        _ => {}
    }
}
