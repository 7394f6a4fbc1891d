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
//! reloaded when a new one is published at the same path.

#[path = "../common/reload.rs"]
mod reload;
mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use imei_index::Status;

use crate::service::{Eir, UnknownPolicy};

/// N5g-eir Equipment Identity Check server on an imei-index file.
#[derive(Debug, Parser)]
struct Args {
    /// The index file to answer from (built with `imei-index build` or `imei-index demo`).
    #[arg(long, value_name = "INDEX")]
    index: PathBuf,
    /// Address and port to listen on (HTTP/1.1 and h2c on the same port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// What to answer for equipment that no list names: 404 ERROR_EQUIPMENT_UNKNOWN
    /// (TS 29.511), or 200 with a status of the operator's choosing.
    #[arg(long, value_enum, default_value_t = Unknown::NotFound)]
    unknown: Unknown,
    /// How often to look for a newly published index, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    reload_interval: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Unknown {
    NotFound,
    Whitelisted,
    Greylisted,
    Blacklisted,
}

impl Unknown {
    fn policy(self) -> UnknownPolicy {
        match self {
            Unknown::NotFound => UnknownPolicy::NotFound,
            Unknown::Whitelisted => UnknownPolicy::Answer(Status::Allowed),
            Unknown::Greylisted => UnknownPolicy::Answer(Status::Tracked),
            Unknown::Blacklisted => UnknownPolicy::Answer(Status::Blocked),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let shared = match reload::open_shared(&args.index) {
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
        service::EQUIPMENT_STATUS_PATH
    );
    let _watcher =
        match reload::follow(&shared, Duration::from_millis(args.reload_interval.max(10))) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("n5g_eir: {}", imei_index::ErrorChain(&e));
                return ExitCode::FAILURE;
            }
        };
    let eir = Arc::new(Eir::new(shared, args.unknown.policy()));
    tokio::select! {
        () = service::serve(listener, eir) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("n5g_eir: stopped"),
    }
    ExitCode::SUCCESS
}
