//! An N5g-eir Equipment Identity Check server (3GPP TS 29.511) on an index file.
//!
//! ```text
//! cargo run --release -- demo --dir /tmp/eir
//! cargo run --release --example n5g_eir -- --index /tmp/eir/national.imeiidx
//! curl 'http://127.0.0.1:8080/n5g-eir-eic/v1/equipment-status?pei=imei-354178036859789'
//! curl --http2-prior-knowledge 'http://127.0.0.1:8080/n5g-eir-eic/v1/equipment-status?pei=…'
//! ```
//!
//! HTTP/1.1 and HTTP/2 over cleartext with prior knowledge share one port. The index is
//! reloaded when a new one is published at the same path. The service itself is the
//! reference server's (`imei_index_eir::n5g`); `imei-index-eir` adds S13, metrics, the
//! journal and the rest of what an operator runs: TLS, NRF access tokens and limits
//! (docs/security.md), which this introduction leaves out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use imei_index_eir::checks::{Checks, UnknownPolicy};
use imei_index_eir::config::LogFormat;
use imei_index_eir::metrics::Metrics;
use imei_index_eir::n5g::{self, Eir};
use imei_index_eir::served::{IndexEvent, Served};

/// N5g-eir Equipment Identity Check server on an imei-index file.
#[derive(Debug, Parser)]
struct Args {
    /// The index file to answer from (built with `imei-index build` or `imei-index demo`).
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// Address and port to listen on (HTTP/1.1 and h2c on the same port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// What to answer for equipment that no list names: not-found (404
    /// ERROR_EQUIPMENT_UNKNOWN, TS 29.511), or 200 with whitelisted, greylisted or
    /// blacklisted, as the operator chooses.
    #[arg(long, value_name = "POLICY", default_value = "not-found")]
    unknown: UnknownPolicy,
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
            eprintln!("n5g_eir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = match Served::open_with(&args.index, policy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("n5g_eir: {}", imei_index::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("n5g_eir: could not listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(args.listen);
    eprintln!(
        "n5g_eir: serving {} on http://{local}{} (HTTP/1.1 and h2c)",
        args.index.display(),
        n5g::EQUIPMENT_STATUS_PATH
    );
    if let Some(n) = served.live().and_then(|l| l.current().tac_db_len()) {
        let policy = policy.map_or_else(|| "off".to_string(), |p| p.to_string());
        eprintln!("n5g_eir: TAC database of {n} TACs; TAC policy: {policy}");
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
            eprintln!("n5g_eir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let checks = Checks::new(served, args.unknown, Arc::new(Metrics::new()), None);
    let eir = Arc::new(Eir::new(Arc::new(checks)));
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    n5g::serve(listener, eir, stop, Duration::from_secs(2)).await;
    eprintln!("n5g_eir: stopped");
    ExitCode::SUCCESS
}
