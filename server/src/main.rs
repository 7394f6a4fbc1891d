//! `imei-index-eir`: the reference EIR server. See `imei-index-eir --help` and the
//! repository's docs/server.md.

use std::process::ExitCode;

use clap::Parser;
use imei_index_eir::config::{LogFormat, Settings};

fn main() -> ExitCode {
    let flags = Settings::parse();
    let settings = match &flags.config {
        Some(path) => Settings::from_file(path).map(|file| flags.clone().over(file)),
        None => Ok(flags),
    }
    .and_then(Settings::resolve);
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("imei-index-eir: error: {e}");
            return ExitCode::from(2);
        }
    };
    imei_index_eir::init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.workers)
        .thread_name("eir-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imei-index-eir: error: could not start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let format = settings.log_format;
    match runtime.block_on(imei_index_eir::run::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if format == LogFormat::Json {
                tracing::error!(error = %e, "could not start");
            }
            eprintln!("imei-index-eir: error: {e}");
            ExitCode::from(2)
        }
    }
}
