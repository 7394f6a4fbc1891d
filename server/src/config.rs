//! The server's settings: flags, or a TOML file with the same keys (`--config FILE`), the
//! flags overriding the file.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use imei_index_trace::Policy;
use serde::{Deserialize, Deserializer};

use crate::checks::UnknownPolicy;

/// Where a listener listens, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// Not at all.
    Off,
    /// On this address and port (cleartext: TLS comes with a later release, and will be
    /// a transport beside this one, so that cleartext can be turned off).
    Cleartext(SocketAddr),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Listen, String> {
        if s == "off" {
            return Ok(Listen::Off);
        }
        s.parse().map(Listen::Cleartext).map_err(|_| {
            format!("{s:?} is not an address to listen on: give IP:PORT (such as 127.0.0.1:8080), or off")
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::Cleartext(a) => write!(f, "{a}"),
        }
    }
}

/// How logs are written (to standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines, fields as key=value.
    Text,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            _ => Err(format!("{s:?} is not a log format: use json or text")),
        }
    }
}

/// Deserializes a value from its text, as the flag takes it.
fn parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// The reference EIR server: N5g-eir and Diameter S13 from one published imei-index file,
/// reloaded when a new one is published, with Prometheus metrics, a health check, a
/// sightings journal and traceability webhooks.
///
/// Every option can also be given in the TOML file of --config, under the same name without
/// the dashes in front (`index = "/srv/eir/national.imeiidx"`, `journal-policy = "all"`);
/// options on the command line override the file.
#[derive(Clone, Debug, Default, Parser, Deserialize)]
#[command(name = "imei-index-eir", version, max_term_width = 100)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// The index file to answer from; reloaded when a new one is published at this path.
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub index: Option<PathBuf>,
    /// N5g-eir (HTTP/1.1 and h2c) address, or off [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    #[serde(default, deserialize_with = "parsed")]
    pub n5g: Option<Listen>,
    /// Diameter S13 address, or off [default: 127.0.0.1:3868].
    #[arg(long, value_name = "ADDR")]
    #[serde(default, deserialize_with = "parsed")]
    pub s13: Option<Listen>,
    /// /metrics and /healthz address, or off [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR")]
    #[serde(default, deserialize_with = "parsed")]
    pub metrics: Option<Listen>,
    /// Record sightings in a journal in this directory (created 0700 if missing).
    #[arg(long, value_name = "DIR")]
    #[serde(default)]
    pub journal: Option<PathBuf>,
    /// Which checks the journal records: listed (blocked and tracked), all, or a list of
    /// blocked, tracked, allowed, unknown [default: listed].
    #[arg(long, value_name = "POLICY")]
    #[serde(default, deserialize_with = "parsed")]
    pub journal_policy: Option<Policy>,
    /// Delete journal files older than this many days [default: 30].
    #[arg(long, value_name = "DAYS")]
    #[serde(default)]
    pub journal_retention_days: Option<u32>,
    /// Store IMSIs and MSISDNs as HMAC-SHA256 under the key in this file (its bytes), in hex.
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub journal_key_file: Option<PathBuf>,
    /// How often the journal is written out, in milliseconds; a crash loses at most this
    /// much [default: 1000].
    #[arg(long, value_name = "MS")]
    #[serde(default)]
    pub journal_flush_ms: Option<u64>,
    /// Sightings waiting for the journal's writer at most; past that they are dropped and
    /// counted [default: 65536].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub journal_queue: Option<usize>,
    /// POST traceability alerts (JSON) to this http:// URL, retried with backoff.
    #[arg(long, value_name = "URL")]
    #[serde(default)]
    pub webhook: Option<String>,
    /// Unknown equipment: not-found (N5g-eir 404, S13 5422), or whitelisted, greylisted,
    /// blacklisted [default: not-found].
    #[arg(long, value_name = "POLICY")]
    #[serde(default, deserialize_with = "parsed")]
    pub unknown: Option<UnknownPolicy>,
    /// This EIR's Diameter Origin-Host [default: eir.localdomain].
    #[arg(long, value_name = "HOST")]
    #[serde(default)]
    pub origin_host: Option<String>,
    /// This EIR's Diameter Origin-Realm; requests for other realms are refused
    /// [default: localdomain].
    #[arg(long, value_name = "REALM")]
    #[serde(default)]
    pub origin_realm: Option<String>,
    /// Seconds of silence before a Diameter watchdog request [default: 30].
    #[arg(long, value_name = "SECONDS")]
    #[serde(default)]
    pub watchdog: Option<u64>,
    /// How often to look for a newly published index, in milliseconds [default: 1000].
    #[arg(long, value_name = "MS")]
    #[serde(default)]
    pub reload_interval_ms: Option<u64>,
    /// Threads answering requests [default: one per core].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub workers: Option<usize>,
    /// How long a shutdown (SIGTERM, SIGINT) waits for peers and connections to finish,
    /// in milliseconds [default: 5000].
    #[arg(long, value_name = "MS")]
    #[serde(default)]
    pub drain_ms: Option<u64>,
    /// Log format on standard error [default: json].
    #[arg(long, value_name = "FORMAT")]
    #[serde(default, deserialize_with = "parsed")]
    pub log_format: Option<LogFormat>,
    /// Log every S13 ME-Identity-Check, not only connections and refusals.
    #[arg(long)]
    #[serde(default)]
    pub verbose: bool,
    /// Read settings from this TOML file; options on the command line override it.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

/// The settings with every default applied.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// See [`Settings`] for each.
    pub index: PathBuf,
    #[allow(missing_docs)]
    pub n5g: Listen,
    #[allow(missing_docs)]
    pub s13: Listen,
    #[allow(missing_docs)]
    pub metrics: Listen,
    #[allow(missing_docs)]
    pub journal: Option<PathBuf>,
    #[allow(missing_docs)]
    pub journal_policy: Policy,
    #[allow(missing_docs)]
    pub journal_retention_days: u32,
    #[allow(missing_docs)]
    pub journal_key_file: Option<PathBuf>,
    #[allow(missing_docs)]
    pub journal_flush: Duration,
    #[allow(missing_docs)]
    pub journal_queue: usize,
    #[allow(missing_docs)]
    pub webhook: Option<hyper::Uri>,
    #[allow(missing_docs)]
    pub unknown: UnknownPolicy,
    #[allow(missing_docs)]
    pub origin_host: String,
    #[allow(missing_docs)]
    pub origin_realm: String,
    #[allow(missing_docs)]
    pub watchdog: Duration,
    #[allow(missing_docs)]
    pub reload_interval: Duration,
    #[allow(missing_docs)]
    pub workers: usize,
    #[allow(missing_docs)]
    pub drain: Duration,
    #[allow(missing_docs)]
    pub log_format: LogFormat,
    #[allow(missing_docs)]
    pub verbose: bool,
}

impl Settings {
    /// Reads the TOML file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not TOML, or has a key or value that is not a setting.
    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read the configuration {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| format!("the configuration {} is not valid: {e}", path.display()))
    }

    /// These settings, with those the command line left out taken from `file`.
    #[must_use]
    pub fn over(self, file: Settings) -> Settings {
        Settings {
            index: self.index.or(file.index),
            n5g: self.n5g.or(file.n5g),
            s13: self.s13.or(file.s13),
            metrics: self.metrics.or(file.metrics),
            journal: self.journal.or(file.journal),
            journal_policy: self.journal_policy.or(file.journal_policy),
            journal_retention_days: self.journal_retention_days.or(file.journal_retention_days),
            journal_key_file: self.journal_key_file.or(file.journal_key_file),
            journal_flush_ms: self.journal_flush_ms.or(file.journal_flush_ms),
            journal_queue: self.journal_queue.or(file.journal_queue),
            webhook: self.webhook.or(file.webhook),
            unknown: self.unknown.or(file.unknown),
            origin_host: self.origin_host.or(file.origin_host),
            origin_realm: self.origin_realm.or(file.origin_realm),
            watchdog: self.watchdog.or(file.watchdog),
            reload_interval_ms: self.reload_interval_ms.or(file.reload_interval_ms),
            workers: self.workers.or(file.workers),
            drain_ms: self.drain_ms.or(file.drain_ms),
            log_format: self.log_format.or(file.log_format),
            verbose: self.verbose || file.verbose,
            config: self.config,
        }
    }

    /// The settings with defaults applied.
    ///
    /// # Errors
    ///
    /// No index was given, or the webhook URL is not an http:// URL.
    pub fn resolve(self) -> Result<Resolved, String> {
        let index = self
            .index
            .ok_or("no index: give --index PATH (or index = \"PATH\" in the --config file)")?;
        let webhook = match self.webhook {
            None => None,
            Some(url) => {
                let uri: hyper::Uri = url
                    .parse()
                    .map_err(|e| format!("the webhook URL {url:?} is not a URL: {e}"))?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err(format!(
                        "the webhook URL {url:?} is not an http:// URL with a host"
                    ));
                }
                Some(uri)
            }
        };
        let default = |s: &str| s.parse::<Listen>().expect("a valid default");
        Ok(Resolved {
            index,
            n5g: self.n5g.unwrap_or_else(|| default("127.0.0.1:8080")),
            s13: self.s13.unwrap_or_else(|| default("127.0.0.1:3868")),
            metrics: self.metrics.unwrap_or_else(|| default("127.0.0.1:9090")),
            journal: self.journal,
            journal_policy: self.journal_policy.unwrap_or_default(),
            journal_retention_days: self.journal_retention_days.unwrap_or(30).max(1),
            journal_key_file: self.journal_key_file,
            journal_flush: Duration::from_millis(self.journal_flush_ms.unwrap_or(1000).max(1)),
            journal_queue: self.journal_queue.unwrap_or(65_536).max(1),
            webhook,
            unknown: self.unknown.unwrap_or(UnknownPolicy::NotFound),
            origin_host: self.origin_host.unwrap_or_else(|| "eir.localdomain".into()),
            origin_realm: self.origin_realm.unwrap_or_else(|| "localdomain".into()),
            watchdog: Duration::from_secs(self.watchdog.unwrap_or(30).max(1)),
            reload_interval: Duration::from_millis(self.reload_interval_ms.unwrap_or(1000).max(10)),
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            drain: Duration::from_millis(self.drain_ms.unwrap_or(5000)),
            log_format: self.log_format.unwrap_or(LogFormat::Json),
            verbose: self.verbose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let file: Settings = toml::from_str(
            r#"
            index = "/srv/eir/national.imeiidx"
            n5g = "0.0.0.0:8080"
            s13 = "off"
            journal = "/var/lib/eir/journal"
            journal-policy = "all"
            unknown = "greylisted"
            workers = 3
            "#,
        )
        .unwrap();
        let flags = Settings::parse_from([
            "imei-index-eir",
            "--n5g",
            "127.0.0.1:18080",
            "--unknown",
            "not-found",
        ]);
        let r = flags.over(file).resolve().unwrap();
        assert_eq!(r.index, PathBuf::from("/srv/eir/national.imeiidx"));
        assert_eq!(r.n5g, Listen::Cleartext("127.0.0.1:18080".parse().unwrap()));
        assert_eq!(r.s13, Listen::Off);
        assert_eq!(
            r.metrics,
            Listen::Cleartext("127.0.0.1:9090".parse().unwrap())
        );
        assert_eq!(r.journal_policy, Policy::ALL);
        assert_eq!(r.unknown, UnknownPolicy::NotFound);
        assert_eq!(r.workers, 3);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Settings>("indx = \"x\"").is_err());
        assert!(toml::from_str::<Settings>("n5g = \"nowhere\"").is_err());
        assert!(toml::from_str::<Settings>("journal-policy = \"stolen\"").is_err());
        assert!(
            Settings::default()
                .resolve()
                .unwrap_err()
                .contains("--index")
        );
        let mut s = Settings::parse_from(["x", "--index", "i", "--webhook", "https://x/"]);
        assert!(s.clone().resolve().is_err());
        s.webhook = Some("http://127.0.0.1:9/alerts".into());
        assert!(s.resolve().is_ok());
    }
}

#[cfg(test)]
mod docs {
    use super::*;

    /// docs/server.md's configuration example is a valid file.
    #[test]
    fn the_docs_example_configuration_reads() {
        let page = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/server.md"),
        )
        .unwrap();
        let toml = page
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("\n```").next())
            .expect("docs/server.md shows a configuration file");
        let settings: Settings = toml::from_str(toml).unwrap();
        let r = settings.resolve().unwrap();
        assert_eq!(
            r.unknown,
            UnknownPolicy::Answer(imei_index::Status::Tracked)
        );
        assert!(r.journal.is_some() && r.webhook.is_some());
    }
}
