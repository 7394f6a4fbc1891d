//! The server's settings: flags, or a TOML file with the same keys (`--config FILE`), the
//! flags overriding the file.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
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
    /// On this address and port (with TLS or in cleartext as the TLS flags and
    /// `--insecure-h2c` say: the name is older than TLS).
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
/// It does not start open: N5g-eir needs TLS (--tls-cert, --tls-key) or --insecure-h2c, and
/// S13 a list of peers (--peer, --peers-file) or --s13-any-peer (docs/security.md).
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
    /// N5g-eir (HTTP/2 and HTTP/1.1: over TLS, or cleartext with --insecure-h2c) address,
    /// or off [default: 127.0.0.1:8080].
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
    /// With a TAC database in the index (`imei-index build --tac-db`): answer tracked or
    /// blocked for an IMEI that no rule decides and whose TAC the database does not list
    /// (docs/semantics.md); an index without a TAC database is then refused [default: off].
    #[arg(long, value_name = "STATUS")]
    #[serde(default)]
    pub tac_policy: Option<String>,
    /// With --tac-policy: the same for a TAC allocated after this day (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    #[serde(default)]
    pub allocated_after: Option<String>,
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
    /// Serve N5g-eir over TLS with this certificate chain (PEM); needs --tls-key. Also the
    /// certificate of Diameter over TLS (--s13-tls). Reloaded when changed.
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, SEC1 or PKCS#1).
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: accept only clients with a certificate issued by a CA in this PEM file.
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Serve N5g-eir in cleartext (HTTP/1.1 and h2c), without TLS: for a network where
    /// something else (a service mesh, IPsec) protects it, or for tests. Never the default.
    #[arg(long)]
    #[serde(default)]
    pub insecure_h2c: bool,
    /// Require OAuth2 access tokens (JWT, as the NRF issues them) signed by a key in this
    /// file: a PEM public key (EC P-256 for ES256, RSA for RS256) or a JWKS (JSON). Repeat
    /// for more; reloaded when changed.
    #[arg(long = "oauth2-key", value_name = "FILE")]
    #[serde(default)]
    pub oauth2_key: Vec<PathBuf>,
    /// This EIR's NF instance id: tokens whose aud names it are accepted, as are those whose
    /// aud names the NF type 5G_EIR.
    #[arg(long, value_name = "UUID")]
    #[serde(default)]
    pub nf_instance_id: Option<String>,
    /// An S13 peer allowed to connect: its Origin-Host, optionally its Origin-Realm after a
    /// comma and its source address after @ (mme1.example.org,example.org@192.0.2.7).
    /// Repeatable.
    #[arg(long, value_name = "HOST[,REALM][@ADDR]")]
    #[serde(default)]
    pub peer: Vec<String>,
    /// S13 peers, one `HOST[,REALM][@ADDR]` a line (# starts a comment).
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub peers_file: Option<PathBuf>,
    /// Accept a capabilities exchange from any Diameter peer (no allowlist): only where the
    /// network itself admits nothing but MMEs.
    #[arg(long)]
    #[serde(default)]
    pub s13_any_peer: bool,
    /// Diameter over TLS (RFC 6733 §13: TLS from the first byte) on the S13 listener, with
    /// the certificate of --tls-cert and, when given, client certificates from --client-ca.
    #[arg(long)]
    #[serde(default)]
    pub s13_tls: bool,
    /// Connections open at most, per listener [default: 4096].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Connections open at most from one source address, per listener [default: 256].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub max_connections_per_address: Option<usize>,
    /// Time a client has for its TLS handshake, for a request's headers, and an S13 peer
    /// for its capabilities exchange, in milliseconds [default: 5000].
    #[arg(long, value_name = "MS")]
    #[serde(default)]
    pub header_timeout_ms: Option<u64>,
    /// Concurrent HTTP/2 streams per connection at most [default: 100].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub max_streams: Option<u32>,
    /// Request bodies larger than this are refused with 413 (the API's one operation is a
    /// GET) [default: 16384].
    #[arg(long, value_name = "BYTES")]
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Requests per second one client may make (N5g-eir: the token's client, else the
    /// source address; S13: the peer's Origin-Host); 0 for no limit [default: 10000].
    #[arg(long, value_name = "PER_SECOND")]
    #[serde(default)]
    pub rate_limit: Option<u32>,
    /// Requests a client may make at once above its rate [default: the rate, one second's
    /// worth].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub rate_burst: Option<u32>,
    /// How far a connection's refusals over the rate may outnumber its answers (HTTP/2: all
    /// its streams; S13: one peer connection) before it is held: each further refusal is
    /// answered only when 20 ms of the client's rate has refilled (at most 1 s, the
    /// Retry-After), and nothing more is read from the connection meanwhile, so that a
    /// client that ignores 429 (or DIAMETER_TOO_BUSY) is slowed by TCP rather than
    /// answered; for a second after a hold, its first refusal holds it again; 0: never
    /// [default: 128].
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub throttle_after: Option<u32>,
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
    pub tac_policy: Option<imei_index::TacPolicy>,
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
    /// TLS for N5g-eir (and S13 when `s13_tls`); `None`: cleartext, asked for with
    /// `--insecure-h2c`.
    pub tls: Option<TlsFiles>,
    #[allow(missing_docs)]
    pub s13_tls: bool,
    #[allow(missing_docs)]
    pub oauth2_keys: Vec<PathBuf>,
    #[allow(missing_docs)]
    pub nf_instance_id: Option<String>,
    /// The S13 allowlist; `None`: any peer (`--s13-any-peer`).
    pub peers: Option<Vec<PeerRule>>,
    /// Connection, time, size and rate limits.
    pub limits: LimitSettings,
}

/// The files of a TLS server identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// Limits against abuse; see [`Settings`] for each.
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)]
pub struct LimitSettings {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_timeout: Duration,
    pub max_streams: u32,
    pub max_body_bytes: u64,
    /// Requests per second per client; 0: no limit.
    pub rate: u32,
    pub burst: u32,
    /// Refusals over the rate, less answers, before a connection is held; 0: never.
    pub throttle_after: u32,
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings {
            max_connections: 4096,
            max_connections_per_address: 256,
            header_timeout: Duration::from_secs(5),
            max_streams: 100,
            max_body_bytes: 16 * 1024,
            rate: 10_000,
            burst: 10_000,
            throttle_after: 128,
        }
    }
}

/// One allowed S13 peer: `HOST[,REALM][@ADDR]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRule {
    /// Its Origin-Host (compared without regard to case, as DiameterIdentities are).
    pub host: String,
    /// Its Origin-Realm, when it must be this one.
    pub realm: Option<String>,
    /// The address it must connect from, when it must.
    pub addr: Option<IpAddr>,
}

impl FromStr for PeerRule {
    type Err = String;

    fn from_str(s: &str) -> Result<PeerRule, String> {
        let how = "give HOST[,REALM][@ADDR], such as mme1.example.org,example.org@192.0.2.7";
        let (names, addr) = match s.trim().rsplit_once('@') {
            Some((names, addr)) => {
                let addr = addr.parse().map_err(|_| {
                    format!("{s:?} is not an S13 peer: {addr:?} is not an IP address; {how}")
                })?;
                (names, Some(addr))
            }
            None => (s.trim(), None),
        };
        let (host, realm) = match names.split_once(',') {
            Some((host, realm)) => (host, Some(realm)),
            None => (names, None),
        };
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        };
        if !name_ok(host) || realm.is_some_and(|r| !name_ok(r)) {
            return Err(format!("{s:?} is not an S13 peer: {how}"));
        }
        Ok(PeerRule {
            host: host.to_ascii_lowercase(),
            realm: realm.map(str::to_ascii_lowercase),
            addr,
        })
    }
}

impl PeerRule {
    /// Whether a peer naming itself `host` in `realm`, connected from `from`, is this one.
    pub fn admits(&self, host: &str, realm: &str, from: IpAddr) -> bool {
        self.host.eq_ignore_ascii_case(host)
            && self
                .realm
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(realm))
            && self.addr.is_none_or(|a| same_ip(a, from))
    }
}

/// Equal addresses, an IPv4 address matching its IPv4-mapped IPv6 form.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Reads a peers file: one `HOST[,REALM][@ADDR]` a line, `#` comments, blank lines.
///
/// # Errors
///
/// The file cannot be read, or a line is not a peer (the error names it).
/// The TAC policy of `--tac-policy` and `--allocated-after` (or their config keys).
pub fn tac_policy(
    status: Option<&str>,
    allocated_after: Option<&str>,
) -> Result<Option<imei_index::TacPolicy>, String> {
    let Some(status) = status else {
        return match allocated_after {
            None => Ok(None),
            Some(_) => Err("--allocated-after needs --tac-policy (tracked or blocked)".into()),
        };
    };
    let status = match status.to_ascii_lowercase().as_str() {
        "tracked" | "greylisted" => imei_index::Status::Tracked,
        "blocked" | "blacklisted" => imei_index::Status::Blocked,
        _ => {
            return Err(format!(
                "--tac-policy {status:?} is not a status the policy answers: give tracked or \
                 blocked"
            ));
        }
    };
    let mut policy = imei_index::TacPolicy::new(status);
    if let Some(d) = allocated_after {
        let day = d.parse().map_err(|e| {
            format!("--allocated-after {d:?} is not a day: {e}; write it YYYY-MM-DD")
        })?;
        policy = policy.allocated_after(day);
    }
    Ok(Some(policy))
}

/// Reads a file of S13 peers, one `HOST[,REALM][@ADDR]` per line.
pub fn read_peers_file(path: &Path) -> Result<Vec<PeerRule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read the peers file {}: {e}", path.display()))?;
    let mut peers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        peers.push(
            line.parse()
                .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?,
        );
    }
    Ok(peers)
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
            tac_policy: self.tac_policy.or(file.tac_policy),
            allocated_after: self.allocated_after.or(file.allocated_after),
            origin_host: self.origin_host.or(file.origin_host),
            origin_realm: self.origin_realm.or(file.origin_realm),
            watchdog: self.watchdog.or(file.watchdog),
            reload_interval_ms: self.reload_interval_ms.or(file.reload_interval_ms),
            workers: self.workers.or(file.workers),
            drain_ms: self.drain_ms.or(file.drain_ms),
            log_format: self.log_format.or(file.log_format),
            verbose: self.verbose || file.verbose,
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            client_ca: self.client_ca.or(file.client_ca),
            insecure_h2c: self.insecure_h2c || file.insecure_h2c,
            oauth2_key: if self.oauth2_key.is_empty() {
                file.oauth2_key
            } else {
                self.oauth2_key
            },
            nf_instance_id: self.nf_instance_id.or(file.nf_instance_id),
            peer: if self.peer.is_empty() {
                file.peer
            } else {
                self.peer
            },
            peers_file: self.peers_file.or(file.peers_file),
            s13_any_peer: self.s13_any_peer || file.s13_any_peer,
            s13_tls: self.s13_tls || file.s13_tls,
            max_connections: self.max_connections.or(file.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .or(file.max_connections_per_address),
            header_timeout_ms: self.header_timeout_ms.or(file.header_timeout_ms),
            max_streams: self.max_streams.or(file.max_streams),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            rate_limit: self.rate_limit.or(file.rate_limit),
            rate_burst: self.rate_burst.or(file.rate_burst),
            throttle_after: self.throttle_after.or(file.throttle_after),
            config: self.config,
        }
    }

    /// The settings with defaults applied.
    ///
    /// # Errors
    ///
    /// No index was given; the webhook URL is not an http:// URL; N5g-eir has neither TLS
    /// nor `--insecure-h2c`; S13 has neither peers nor `--s13-any-peer`; a peer is not
    /// `HOST[,REALM][@ADDR]`. Each error says which flag fixes it.
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
        let tac_policy = tac_policy(self.tac_policy.as_deref(), self.allocated_after.as_deref())?;
        let default = |s: &str| s.parse::<Listen>().expect("a valid default");
        let n5g = self.n5g.unwrap_or_else(|| default("127.0.0.1:8080"));
        let s13 = self.s13.unwrap_or_else(|| default("127.0.0.1:3868"));
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: self.client_ca,
            }),
            (None, None) if self.client_ca.is_some() => {
                return Err(
                    "--client-ca needs TLS: give --tls-cert FILE and --tls-key FILE too".into(),
                );
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err("--tls-cert needs its private key: give --tls-key FILE too".into());
            }
            (None, Some(_)) => {
                return Err("--tls-key needs its certificate: give --tls-cert FILE too".into());
            }
        };
        if n5g != Listen::Off {
            match (&tls, self.insecure_h2c) {
                (None, false) => {
                    return Err(
                        "N5g-eir would answer anyone in cleartext: give --tls-cert FILE \
                                --tls-key FILE (and --client-ca FILE for mutual TLS), or \
                                --insecure-h2c to serve cleartext on purpose, or --n5g off \
                                (see docs/security.md)"
                            .into(),
                    );
                }
                (Some(_), true) => {
                    return Err(
                        "--insecure-h2c and --tls-cert ask for both cleartext and TLS \
                                on the one N5g-eir port: give one of them"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        if self.s13_tls && tls.is_none() {
            return Err(
                "--s13-tls needs a certificate: give --tls-cert FILE --tls-key FILE".into(),
            );
        }
        let mut peers = self
            .peer
            .iter()
            .map(|p| p.parse::<PeerRule>())
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(path) = &self.peers_file {
            peers.extend(read_peers_file(path)?);
        }
        let peers = match (peers.is_empty(), self.s13_any_peer) {
            (false, false) => Some(peers),
            (true, true) => None,
            (false, true) => {
                return Err(
                    "--s13-any-peer and --peer (or --peers-file) contradict each other: \
                            give the peers, or --s13-any-peer alone"
                        .into(),
                );
            }
            (true, false) if s13 != Listen::Off => {
                return Err(
                    "S13 would accept any Diameter peer: give the MMEs allowed with \
                            --peer HOST[,REALM][@ADDR] (repeatable) or --peers-file FILE, or \
                            --s13-any-peer to accept any on purpose, or --s13 off \
                            (see docs/security.md)"
                        .into(),
                );
            }
            (true, false) => Some(Vec::new()),
        };
        let defaults = LimitSettings::default();
        let rate = self.rate_limit.unwrap_or(defaults.rate);
        let limits = LimitSettings {
            max_connections: self
                .max_connections
                .unwrap_or(defaults.max_connections)
                .max(1),
            max_connections_per_address: self
                .max_connections_per_address
                .unwrap_or(defaults.max_connections_per_address)
                .max(1),
            header_timeout: self
                .header_timeout_ms
                .map_or(defaults.header_timeout, |ms| {
                    Duration::from_millis(ms.max(1))
                }),
            max_streams: self.max_streams.unwrap_or(defaults.max_streams).max(1),
            max_body_bytes: self.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            rate,
            burst: self.rate_burst.unwrap_or(rate).max(1),
            throttle_after: self.throttle_after.unwrap_or(defaults.throttle_after),
        };
        Ok(Resolved {
            index,
            n5g,
            s13,
            metrics: self.metrics.unwrap_or_else(|| default("127.0.0.1:9090")),
            journal: self.journal,
            journal_policy: self.journal_policy.unwrap_or_default(),
            journal_retention_days: self.journal_retention_days.unwrap_or(30).max(1),
            journal_key_file: self.journal_key_file,
            journal_flush: Duration::from_millis(self.journal_flush_ms.unwrap_or(1000).max(1)),
            journal_queue: self.journal_queue.unwrap_or(65_536).max(1),
            webhook,
            unknown: self.unknown.unwrap_or(UnknownPolicy::NotFound),
            tac_policy,
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
            tls,
            s13_tls: self.s13_tls,
            oauth2_keys: self.oauth2_key,
            nf_instance_id: self.nf_instance_id,
            peers,
            limits,
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
            "--insecure-h2c",
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
        let mut s = Settings::parse_from([
            "x",
            "--index",
            "i",
            "--webhook",
            "https://x/",
            "--insecure-h2c",
            "--s13-any-peer",
        ]);
        assert!(s.clone().resolve().is_err());
        s.webhook = Some("http://127.0.0.1:9/alerts".into());
        assert!(s.resolve().is_ok());
    }
}

#[cfg(test)]
mod security {
    use super::*;

    fn resolve(args: &[&str]) -> Result<Resolved, String> {
        let mut all = vec!["imei-index-eir", "--index", "i"];
        all.extend_from_slice(args);
        Settings::parse_from(all).resolve()
    }

    #[test]
    fn n5g_needs_tls_or_an_explicit_cleartext() {
        let e = resolve(&["--s13", "off"]).unwrap_err();
        assert!(
            e.contains("--tls-cert") && e.contains("--insecure-h2c"),
            "{e}"
        );
        assert!(resolve(&["--s13", "off", "--n5g", "off"]).is_ok());
        assert!(
            resolve(&["--s13", "off", "--insecure-h2c"])
                .unwrap()
                .tls
                .is_none()
        );
        let r = resolve(&["--s13", "off", "--tls-cert", "c", "--tls-key", "k"]).unwrap();
        assert_eq!(r.tls.unwrap().cert, PathBuf::from("c"));
        let e = resolve(&["--s13", "off", "--tls-cert", "c"]).unwrap_err();
        assert!(e.contains("--tls-key"), "{e}");
        let e = resolve(&[
            "--s13",
            "off",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--insecure-h2c",
        ])
        .unwrap_err();
        assert!(e.contains("one of them"), "{e}");
        let e = resolve(&["--n5g", "off", "--s13-any-peer", "--s13-tls"]).unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
    }

    #[test]
    fn s13_needs_peers_or_an_explicit_any() {
        let e = resolve(&["--n5g", "off"]).unwrap_err();
        assert!(e.contains("--peer") && e.contains("--s13-any-peer"), "{e}");
        assert_eq!(
            resolve(&["--n5g", "off", "--s13-any-peer"]).unwrap().peers,
            None
        );
        let r = resolve(&[
            "--n5g",
            "off",
            "--peer",
            "MME1.example.org,example.org@127.0.0.1",
        ])
        .unwrap();
        let peers = r.peers.unwrap();
        assert_eq!(peers[0].host, "mme1.example.org");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(peers[0].admits("mme1.EXAMPLE.org", "example.org", ip("127.0.0.1")));
        assert!(peers[0].admits("mme1.example.org", "example.org", ip("::ffff:127.0.0.1")));
        assert!(!peers[0].admits("mme1.example.org", "example.org", ip("127.0.0.2")));
        assert!(!peers[0].admits("mme1.example.org", "other.org", ip("127.0.0.1")));
        assert!(!peers[0].admits("mme2.example.org", "example.org", ip("127.0.0.1")));
        let any_realm: PeerRule = "mme2".parse().unwrap();
        assert!(any_realm.admits("MME2", "x", ip("10.0.0.1")));
        for bad in ["", "a b", "mme@nowhere", "mme,", ",realm"] {
            assert!(bad.parse::<PeerRule>().is_err(), "{bad:?}");
        }
        assert!(resolve(&["--n5g", "off", "--s13-any-peer", "--peer", "a"]).is_err());
    }

    #[test]
    fn limits_have_defaults_and_come_from_the_file() {
        let r = resolve(&["--n5g", "off", "--s13", "off"]).unwrap();
        assert_eq!(r.limits, LimitSettings::default());
        let file: Settings = toml::from_str(
            "rate-limit = 50\nmax-connections-per-address = 4\nheader-timeout-ms = 200\n\
             throttle-after = 16\n",
        )
        .unwrap();
        let r = Settings::parse_from(["x", "--index", "i", "--n5g", "off", "--s13", "off"])
            .over(file)
            .resolve()
            .unwrap();
        assert_eq!((r.limits.rate, r.limits.burst), (50, 50));
        assert_eq!(r.limits.max_connections_per_address, 4);
        assert_eq!(r.limits.header_timeout, Duration::from_millis(200));
        assert_eq!(r.limits.throttle_after, 16);
        let r = resolve(&["--n5g", "off", "--s13", "off", "--throttle-after", "0"]).unwrap();
        assert_eq!(r.limits.throttle_after, 0);
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
        assert!(r.tls.is_some() && r.tls.unwrap().client_ca.is_some());
        assert_eq!(r.peers.map(|p| p.len()), Some(2));
        assert!(!r.oauth2_keys.is_empty());
    }
}
