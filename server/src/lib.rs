/*!
The reference EIR server of imei-index (`imei-index-eir`), and the pieces it is made of, for
servers of your own and for the protocol examples:

* [`served::Served`]: the index answered from, loaded and reloaded off the answering threads;
* [`checks::Checks`]: the one check path of both interfaces (policy for unknown equipment,
  counts, the sightings journal);
* [`n5g`]: the N5g-eir Equipment Identity Check service (TS 29.511) on hyper;
* [`s13`]: the Diameter S13 connection loop (TS 29.272) around the library's sans-IO codec;
* [`metrics`], [`admin`]: Prometheus counts, `/metrics` and `/healthz`;
* [`webhook`]: traceability alerts POSTed with retries from a bounded queue;
* [`tls`], [`oauth2`], [`limits`]: who may ask, and how much (docs/security.md);
* [`config`]: flags and the TOML file; [`run`]: the whole server.
*/

#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod admin;
pub mod checks;
pub mod config;
pub mod limits;
pub mod metrics;
pub mod n5g;
pub mod oauth2;
pub mod run;
pub mod s13;
pub mod served;
pub mod tls;
pub mod webhook;

/// Sets up logging on standard error, in `format`; `RUST_LOG`-style filtering is not
/// needed: the server logs connections, reloads, refusals and alerts, never every check
/// (unless asked: `--verbose`).
pub fn init_logging(format: config::LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        config::LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
