//! A Diameter S13 EIR (3GPP TS 29.272) on an index file: a TCP peer that does the
//! capabilities exchange, the device watchdog and disconnects, and answers
//! ME-Identity-Check-Requests from the index.
//!
//! ```text
//! cargo run --release -- demo --dir /tmp/eir
//! cargo run --release --example s13_eir -- --index /tmp/eir/national.imeiidx
//! ```
//!
//! The protocol is `imei_index::s13::Connection` (sans-IO); the connection loop that moves
//! its bytes (framing, watchdogs, Disconnect-Peer-Requests to every peer on Ctrl-C) is the
//! reference server's (`imei_index_eir::s13`), which `imei-index-eir` serves beside N5g-eir.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use imei_index::s13::Identity;
use imei_index_eir::checks::{Checks, UnknownPolicy};
use imei_index_eir::config::LogFormat;
use imei_index_eir::metrics::Metrics;
use imei_index_eir::s13::{self, S13};
use imei_index_eir::served::{IndexEvent, Served};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
    /// With a TAC database in the index (`imei-index build --tac-db`): answer tracked or
    /// blocked for an IMEI that no rule decides and whose TAC the database does not list.
    #[arg(long, value_name = "STATUS")]
    tac_policy: Option<String>,
    /// With --tac-policy: the same for a TAC allocated after this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    allocated_after: Option<String>,
    /// Log every ME-Identity-Check, not only connections and refusals.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    imei_index_eir::init_logging(LogFormat::Text);
    let policy = match imei_index_eir::config::tac_policy(
        args.tac_policy.as_deref(),
        args.allocated_after.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("s13_eir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = match Served::open_with(&args.index, policy) {
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
    if let Some(n) = served.live().and_then(|l| l.current().tac_db_len()) {
        let policy = policy.map_or_else(|| "off".to_string(), |p| p.to_string());
        eprintln!("s13_eir: TAC database of {n} TACs; TAC policy: {policy}");
    }
    let interval = Duration::from_millis(args.reload_interval.max(10));
    let _follower = match served.follow(interval, |event| match event {
        IndexEvent::Reloaded(r) => {
            eprintln!("reloaded (serial {} -> {})", r.old.serial, r.new.serial)
        }
        IndexEvent::Refused(e) => eprintln!("kept the current index: {e}"),
        IndexEvent::Loaded { .. } => {}
    }) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("s13_eir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let checks = Checks::new(
        served,
        UnknownPolicy::NotFound,
        Arc::new(Metrics::new()),
        None,
    );
    // Any peer, as an introduction: the server (`imei-index-eir --peer ...`) keeps an
    // allowlist, limits and TLS (docs/security.md).
    let shared = Arc::new(S13 {
        watchdog: Duration::from_secs(args.watchdog.max(1)),
        verbose: args.verbose,
        ..S13::new(me, Arc::new(checks))
    });
    let (stop, stopped) = watch::channel(false);
    let peers = tokio::spawn(s13::serve(
        listener,
        shared,
        stopped,
        Duration::from_secs(2),
    ));
    let _ = tokio::signal::ctrl_c().await;
    // Tell every peer we are going (DPR), and give them a moment to answer (DPA).
    let _ = stop.send(true);
    let _ = peers.await;
    eprintln!("s13_eir: stopped");
    ExitCode::SUCCESS
}
