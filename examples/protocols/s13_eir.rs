//! A Diameter S13 EIR (3GPP TS 29.272) on an index file: a TCP peer that does the
//! capabilities exchange, the device watchdog and disconnects, and answers
//! ME-Identity-Check-Requests from the index.
//!
//! ```text
//! cargo run --release -- demo --dir /tmp/eir
//! cargo run --release --features s13 --example s13_eir -- --index /tmp/eir/national.imeiidx
//! ```
//!
//! The protocol is `imei_index::s13::Connection`; this file only moves bytes: it frames
//! messages from the stream, sends a watchdog request when a connection has been idle for
//! `--watchdog` seconds (RFC 3539's Tw) and drops it when that goes unanswered, and sends
//! Disconnect-Peer-Requests to every peer on Ctrl-C.

#[path = "common/reload.rs"]
mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use clap::Parser;
use imei_index::s13::message::{HEADER_LEN, command};
use imei_index::s13::{Connection, DISCONNECT_REBOOTING, Event, Identity, message_length};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::reload::SharedIndex;

/// Messages longer than this are refused (DIAMETER_INVALID_MESSAGE_LENGTH) rather than read:
/// an ME-Identity-Check-Request is a few hundred bytes.
const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Diameter S13 EIR on an imei-index file.
#[derive(Debug, Parser)]
struct Args {
    /// The index file to answer from (built with `imei-index build` or `imei-index demo`).
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// Address and port to listen on (3868 is Diameter's).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3868")]
    listen: SocketAddr,
    /// This EIR's Origin-Host.
    #[arg(long, value_name = "HOST", default_value = "eir.localdomain")]
    origin_host: String,
    /// This EIR's Origin-Realm; requests for other realms are refused.
    #[arg(long, value_name = "REALM", default_value = "localdomain")]
    origin_realm: String,
    /// Seconds of silence before a watchdog request (RFC 3539's Tw).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    watchdog: u64,
    /// How often to look for a newly published index, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    reload_interval: u64,
    /// Log every ME-Identity-Check, not only connections and refusals.
    #[arg(long)]
    verbose: bool,
}

/// What every connection shares.
struct Shared {
    me: Identity,
    index: SharedIndex,
    watchdog: Duration,
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let index = match reload::open_shared(&args.index) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s13_eir: {}", imei_index::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("s13_eir: could not listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(args.listen);
    let mut me = Identity::new(&args.origin_host, &args.origin_realm, local.ip());
    // Origin-State-Id changes with every start (RFC 6733 §8.16).
    me.origin_state_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    eprintln!(
        "s13_eir: {} ({}) serving {} on {local}",
        me.origin_host,
        me.origin_realm,
        args.index.display()
    );
    let _watcher = match reload::follow(&index, Duration::from_millis(args.reload_interval.max(10)))
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("s13_eir: {}", imei_index::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    let shared = Arc::new(Shared {
        me,
        index,
        watchdog: Duration::from_secs(args.watchdog.max(1)),
        verbose: args.verbose,
    });
    let (stop, stopped) = watch::channel(false);
    let mut peers = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    peers.spawn(serve_peer(stream, peer, Arc::clone(&shared), stopped.clone()));
                }
                Err(e) => {
                    eprintln!("s13_eir: could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = peers.join_next(), if !peers.is_empty() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    // Tell every peer we are going (DPR), and give them a moment to answer (DPA).
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while peers.join_next().await.is_some() {}
    })
    .await;
    eprintln!("s13_eir: stopped");
    ExitCode::SUCCESS
}

/// Runs one peer connection until it closes.
async fn serve_peer(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(shared.me.clone());
    let mut buf = BytesMut::with_capacity(4096);
    let mut watchdog_sent = false;
    let mut disconnecting = false;
    loop {
        // Handle every whole message already buffered.
        while let Some(frame) = next_frame(&mut buf) {
            watchdog_sent = false;
            let index = reload::snapshot(&shared.index);
            let reply = conn.receive(frame, |imei, imsi| match imsi {
                Some(imsi) => index.check_with_imsi(imei, imsi),
                None => index.check(imei),
            });
            log(&shared, peer, &reply.event);
            if let Some(answer) = reply.answer
                && let Err(e) = stream.write_all(&answer).await
            {
                eprintln!("s13_eir: {peer}: could not send an answer: {e}");
                return;
            }
            if reply.close || (disconnecting && is_disconnect_answer(&reply.event)) {
                eprintln!("s13_eir: {peer}: connection closed");
                return;
            }
        }
        tokio::select! {
            read = tokio::time::timeout(shared.watchdog, stream.read_buf(&mut buf)) => match read {
                Ok(Ok(0)) => {
                    if !buf.is_empty() {
                        eprintln!("s13_eir: {peer}: closed in the middle of a message");
                    } else {
                        eprintln!("s13_eir: {peer}: peer closed the connection");
                    }
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    eprintln!("s13_eir: {peer}: read failed: {e}");
                    return;
                }
                Err(_idle) => {
                    if watchdog_sent {
                        eprintln!("s13_eir: {peer}: watchdog unanswered, closing");
                        return;
                    }
                    if conn.state() != imei_index::s13::State::Open {
                        eprintln!("s13_eir: {peer}: no capabilities exchange, closing");
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
                if conn.state() != imei_index::s13::State::Open {
                    return;
                }
                // The DPA (an answer) ends the loop above; the caller's timeout ends the rest.
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
fn next_frame(buf: &mut BytesMut) -> Option<bytes::Bytes> {
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

fn log(shared: &Shared, peer: SocketAddr, event: &Event) {
    match event {
        Event::CapabilitiesExchanged { origin_host } => {
            eprintln!("s13_eir: {peer}: capabilities exchanged with {origin_host}");
        }
        Event::Disconnect { cause } => {
            eprintln!("s13_eir: {peer}: peer disconnects (cause {cause})");
        }
        Event::Refused(failure) => eprintln!("s13_eir: {peer}: refused: {failure}"),
        Event::NotOpen { command } => {
            eprintln!(
                "s13_eir: {peer}: command {command} before the capabilities exchange, closing"
            );
        }
        Event::Unreadable => eprintln!("s13_eir: {peer}: unreadable message, closing"),
        Event::IdentityChecked {
            imei,
            imsi,
            verdict,
        } if shared.verbose => {
            let imei = imei.map_or_else(|| "a 3GPP2-MEID".to_string(), |i| i.to_string());
            let imsi = imsi.map(|i| format!(" with IMSI {i}")).unwrap_or_default();
            let status = verdict.status().map_or("unknown", |s| s.n5g_eir());
            eprintln!("s13_eir: {peer}: {imei}{imsi}: {status}");
        }
        _ => {}
    }
}
