//! Diameter S13 (3GPP TS 29.272) over TCP: the connection loop around the library's
//! sans-IO [`Connection`], which does the capabilities exchange, the device watchdog,
//! disconnects and ME-Identity-Check answers.
//!
//! This module only moves bytes: it frames messages from the stream, sends a watchdog
//! request when a connection has been idle for the watchdog time (RFC 3539's Tw) and drops
//! it when that goes unanswered, and on shutdown sends a Disconnect-Peer-Request to every
//! peer and waits (a while) for their answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use imei_index::s13::message::{HEADER_LEN, command};
use imei_index::s13::{Connection, DISCONNECT_REBOOTING, Event, Identity, State, message_length};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::checks::Checks;
use crate::metrics::Interface;

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
}

/// Serves S13 peers on `listener` until `stop` turns true; then sends every open peer a
/// Disconnect-Peer-Request and waits at most `drain` for them to answer and close.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<S13>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let mut peers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if !shared.checks.ready() {
                        // No index to answer from: refuse the peer before its capabilities
                        // exchange, so that it turns to another EIR.
                        tracing::warn!(%peer, "s13: no valid index loaded, closing the connection");
                        shared.checks.metrics().unavailable(Interface::S13);
                        continue;
                    }
                    peers.spawn(serve_peer(stream, peer, Arc::clone(&shared), stop.clone()));
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

/// Runs one peer connection until it closes.
pub async fn serve_peer(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<S13>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
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
    loop {
        // Handle every whole message already buffered.
        while let Some(frame) = next_frame(&mut buf) {
            watchdog_sent = false;
            let started = Instant::now();
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
            }
            if reply.close || (disconnecting && is_disconnect_answer(&reply.event)) {
                tracing::info!(%peer, "s13: connection closed");
                return;
            }
        }
        tokio::select! {
            read = tokio::time::timeout(shared.watchdog, stream.read_buf(&mut buf)) => match read {
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
                        tracing::warn!(%peer, "s13: no capabilities exchange, closing");
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
