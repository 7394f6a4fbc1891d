//! The server's counters, and their exposition in Prometheus's text format (version 0.0.4),
//! written by hand: a few dozen atomics need no registry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use imei_index::{RuleKind, Status, Verdict};
use imei_index_trace::Journal;

use crate::served::Served;

/// Which interface a check came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interface {
    /// N5g-eir (HTTP).
    N5g,
    /// Diameter S13.
    S13,
}

impl Interface {
    const ALL: [Interface; 2] = [Interface::N5g, Interface::S13];

    fn name(self) -> &'static str {
        match self {
            Interface::N5g => "n5g",
            Interface::S13 => "s13",
        }
    }
}

/// Why a connection or request was refused before it was answered (docs/security.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The listener had its most connections open.
    ConnectionsTotal,
    /// The source address had its most connections open.
    ConnectionsPerAddress,
    /// The TLS handshake failed or took too long.
    TlsHandshake,
    /// Headers (or an S13 capabilities exchange) not received in time: slowloris.
    Timeout,
    /// A request body over the limit (413).
    BodyTooLarge,
    /// Over the client's request rate (429, DIAMETER_TOO_BUSY).
    Rate,
    /// No valid access token (401).
    InvalidToken,
    /// A valid token without the service's scope (403).
    InsufficientScope,
    /// A Diameter peer not on the allowlist (DIAMETER_UNKNOWN_PEER).
    UnknownPeer,
    /// A Diameter request before the capabilities exchange.
    NotOpen,
    /// A connection held, its refusals over the rate outnumbering its answers by
    /// `--throttle-after`: its answers wait, and it is not read, until its client's rate
    /// has refilled. One a hold; its requests are counted as `Rate` too.
    Throttled,
}

impl Refusal {
    const ALL: [Refusal; 11] = [
        Refusal::ConnectionsTotal,
        Refusal::ConnectionsPerAddress,
        Refusal::TlsHandshake,
        Refusal::Timeout,
        Refusal::BodyTooLarge,
        Refusal::Rate,
        Refusal::InvalidToken,
        Refusal::InsufficientScope,
        Refusal::UnknownPeer,
        Refusal::NotOpen,
        Refusal::Throttled,
    ];

    /// Its label in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::ConnectionsTotal => "connections_total",
            Refusal::ConnectionsPerAddress => "connections_per_address",
            Refusal::TlsHandshake => "tls_handshake",
            Refusal::Timeout => "timeout",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::Rate => "rate",
            Refusal::InvalidToken => "invalid_token",
            Refusal::InsufficientScope => "insufficient_scope",
            Refusal::UnknownPeer => "unknown_peer",
            Refusal::NotOpen => "not_open",
            Refusal::Throttled => "throttled",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 15] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 1.0,
];

/// A latency histogram: counts per bucket (the last is +Inf) and the sum.
#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let at = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[at].fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }
}

const STATUSES: [Option<Status>; 4] = [
    Some(Status::Allowed),
    Some(Status::Blocked),
    Some(Status::Tracked),
    None,
];
const RULES: [Option<RuleKind>; 5] = [
    None,
    Some(RuleKind::Pair),
    Some(RuleKind::Imei),
    Some(RuleKind::Range),
    Some(RuleKind::Tac),
];

/// Everything the server counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Checks by interface, status (S13 code, 3 unknown) and rule (0 none, then the codes).
    checks: [[[AtomicU64; 5]; 4]; 2],
    /// Requests refused as malformed, by interface.
    invalid: [AtomicU64; 2],
    /// Requests that could not be checked for want of an index, by interface.
    unavailable: [AtomicU64; 2],
    latency: [Histogram; 2],
    /// S13 connections open, and those past the capabilities exchange.
    s13_connections: AtomicI64,
    s13_peers: AtomicI64,
    /// HTTP connections open on the N5g-eir listener.
    http_connections: AtomicI64,
    /// Webhook deliveries: delivered, retried attempts, dropped (queue full), failed.
    pub(crate) webhook: [AtomicU64; 4],
    /// Refusals by interface and [`Refusal`].
    refused: [[AtomicU64; Refusal::ALL.len()]; 2],
    /// OAuth2 key files reloaded, and reloads that failed (the keys in use stayed).
    oauth2_reloads: [AtomicU64; 2],
    /// TLS certificates reloaded, and reloads that failed (the certificate in use stayed).
    tls_reloads: [AtomicU64; 2],
    /// Verdicts of the TAC policy, by interface and reason (not in the TAC database,
    /// allocated after the policy's date); they are counted in `checks` too.
    tac_policy: [[AtomicU64; 2]; 2],
}

/// Writes the HELP and TYPE lines of a metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a metric family: its header, then a sample per label set.
fn family(out: &mut String, name: &str, kind: &str, help: &str, values: &[(String, f64)]) {
    header(out, name, kind, help);
    for (labels, v) in values {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// A change of a gauge that undoes itself when dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn inc(g: &AtomicI64) -> GaugeGuard<'_> {
    g.fetch_add(1, Relaxed);
    GaugeGuard(g)
}

impl Metrics {
    /// No counts yet.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts a check and its verdict.
    #[inline]
    pub fn check(&self, on: Interface, verdict: &Verdict) {
        let status = verdict.status().map_or(3, |s| usize::from(s.s13_code()));
        let rule = verdict.rule().map_or(0, |k| usize::from(k.code()));
        self.checks[on as usize][status][rule].fetch_add(1, Relaxed);
        if let Some(why) = verdict.policy() {
            let r = usize::from(why != imei_index::PolicyReason::NotInDatabase);
            self.tac_policy[on as usize][r].fetch_add(1, Relaxed);
        }
    }

    /// Counts a request refused as malformed.
    pub fn invalid(&self, on: Interface) {
        self.invalid[on as usize].fetch_add(1, Relaxed);
    }

    /// Counts a request that could not be checked: no index loaded yet.
    pub fn unavailable(&self, on: Interface) {
        self.unavailable[on as usize].fetch_add(1, Relaxed);
    }

    /// Records how long an answer took.
    #[inline]
    pub fn latency(&self, on: Interface, took: Duration) {
        self.latency[on as usize].observe(took);
    }

    /// Counts an S13 connection while the guard lives.
    pub fn s13_connection(&self) -> GaugeGuard<'_> {
        inc(&self.s13_connections)
    }

    /// Counts an S13 peer past its capabilities exchange while the guard lives.
    pub fn s13_peer(&self) -> GaugeGuard<'_> {
        inc(&self.s13_peers)
    }

    /// Counts an HTTP connection while the guard lives.
    pub fn http_connection(&self) -> GaugeGuard<'_> {
        inc(&self.http_connections)
    }

    /// Counts a refusal.
    pub fn refused(&self, on: Interface, why: Refusal) {
        self.refused[on as usize][why as usize].fetch_add(1, Relaxed);
    }

    /// Refusals so far, of one kind.
    pub fn refusals(&self, on: Interface, why: Refusal) -> u64 {
        self.refused[on as usize][why as usize].load(Relaxed)
    }

    /// Counts a reload of the OAuth2 keys, or a failed one.
    pub fn oauth2_reload(&self, ok: bool) {
        self.oauth2_reloads[usize::from(!ok)].fetch_add(1, Relaxed);
    }

    /// Counts a reload of the TLS certificate and key, or a failed one.
    pub fn tls_reload(&self, ok: bool) {
        self.tls_reloads[usize::from(!ok)].fetch_add(1, Relaxed);
    }

    /// S13 peers connected now (past their capabilities exchange).
    pub fn s13_peers(&self) -> i64 {
        self.s13_peers.load(Relaxed)
    }

    /// The exposition, in Prometheus's text format.
    pub fn render(&self, served: &Served, journal: Option<&Journal>) -> String {
        let mut out = String::with_capacity(8192);
        header(
            &mut out,
            "imei_index_eir_checks_total",
            "counter",
            "Checks answered, by interface, verdict status and the kind of rule that decided.",
        );
        for on in Interface::ALL {
            for (s, status) in STATUSES.iter().enumerate() {
                for (r, rule) in RULES.iter().enumerate() {
                    let n = self.checks[on as usize][s][r].load(Relaxed);
                    let _ = writeln!(
                        out,
                        "imei_index_eir_checks_total{{interface=\"{}\",status=\"{}\",rule=\"{}\"}} {n}",
                        on.name(),
                        status.map_or("unknown", |s| s.as_str()),
                        rule.map_or("none", |k| k.as_str()),
                    );
                }
            }
        }
        header(
            &mut out,
            "imei_index_eir_tac_policy_total",
            "counter",
            "Checks that no rule decided and the TAC policy answered, by interface and reason (also in imei_index_eir_checks_total, rule tac).",
        );
        for on in Interface::ALL {
            for (r, reason) in ["not-in-tac-db", "allocated-after"].iter().enumerate() {
                let n = self.tac_policy[on as usize][r].load(Relaxed);
                let _ = writeln!(
                    out,
                    "imei_index_eir_tac_policy_total{{interface=\"{}\",reason=\"{reason}\"}} {n}",
                    on.name(),
                );
            }
        }
        let per_interface = |a: &[AtomicU64; 2]| -> Vec<(String, f64)> {
            Interface::ALL
                .iter()
                .map(|on| {
                    (
                        format!("{{interface=\"{}\"}}", on.name()),
                        a[*on as usize].load(Relaxed) as f64,
                    )
                })
                .collect()
        };
        family(
            &mut out,
            "imei_index_eir_requests_invalid_total",
            "counter",
            "Requests refused as malformed (N5g-eir 400, S13 error answers).",
            &per_interface(&self.invalid),
        );
        family(
            &mut out,
            "imei_index_eir_requests_unavailable_total",
            "counter",
            "Requests that could not be checked because no valid index was loaded.",
            &per_interface(&self.unavailable),
        );
        header(
            &mut out,
            "imei_index_eir_answer_seconds",
            "histogram",
            "Time from a request's arrival to its answer, by interface.",
        );
        for on in Interface::ALL {
            let h = &self.latency[on as usize];
            let mut cumulative = 0;
            for (i, count) in h.counts.iter().enumerate() {
                cumulative += count.load(Relaxed);
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "imei_index_eir_answer_seconds_bucket{{interface=\"{}\",le=\"{le}\"}} {cumulative}",
                    on.name()
                );
            }
            let _ = writeln!(
                out,
                "imei_index_eir_answer_seconds_sum{{interface=\"{}\"}} {}\nimei_index_eir_answer_seconds_count{{interface=\"{}\"}} {cumulative}",
                on.name(),
                h.sum_nanos.load(Relaxed) as f64 / 1e9,
                on.name()
            );
        }
        let live = served.live();
        let one = |v: f64| vec![(String::new(), v)];
        family(
            &mut out,
            "imei_index_eir_index_loaded",
            "gauge",
            "1 when a valid index is loaded and answering, 0 before the first one.",
            &one(f64::from(u8::from(live.is_some()))),
        );
        if let Some(live) = live {
            let current = live.current();
            let stats = current.stats();
            family(
                &mut out,
                "imei_index_eir_index_serial",
                "gauge",
                "The serial of the index served.",
                &one(stats.serial as f64),
            );
            family(
                &mut out,
                "imei_index_eir_index_rules",
                "gauge",
                "The rules of the index served.",
                &one(stats.rules() as f64),
            );
        }
        family(
            &mut out,
            "imei_index_eir_reloads_total",
            "counter",
            "Newly published indexes swapped in.",
            &one(served.reloads() as f64),
        );
        family(
            &mut out,
            "imei_index_eir_reloads_refused_total",
            "counter",
            "Published files refused (unreadable, damaged, not an index); the index served stays.",
            &one(served.refused() as f64),
        );
        if let Some(j) = journal {
            let s = j.stats();
            let records = [
                ("written", s.written),
                ("dropped", s.dropped),
                ("lost", s.lost),
                ("skipped", s.skipped),
            ];
            let values: Vec<(String, f64)> = records
                .iter()
                .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), *v as f64))
                .collect();
            family(
                &mut out,
                "imei_index_eir_journal_records_total",
                "counter",
                "Sightings by what became of them: written to the journal, dropped (queue full), lost (a write failed), skipped (the policy keeps them not).",
                &values,
            );
            family(
                &mut out,
                "imei_index_eir_journal_alerts_total",
                "counter",
                "Traceability alerts: a blocked or tracked handset seen with a SIM new to it that day.",
                &one(s.alerts as f64),
            );
        }
        let webhook: Vec<(String, f64)> = ["delivered", "retried", "dropped", "failed"]
            .iter()
            .zip(&self.webhook)
            .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), v.load(Relaxed) as f64))
            .collect();
        family(
            &mut out,
            "imei_index_eir_webhook_deliveries_total",
            "counter",
            "Alert webhook deliveries: delivered, retried (attempts that failed and were tried again), dropped (queue full), failed (gave up).",
            &webhook,
        );
        family(
            &mut out,
            "imei_index_eir_s13_peers",
            "gauge",
            "Diameter peers connected past their capabilities exchange.",
            &one(self.s13_peers.load(Relaxed) as f64),
        );
        family(
            &mut out,
            "imei_index_eir_s13_connections",
            "gauge",
            "Diameter connections open.",
            &one(self.s13_connections.load(Relaxed) as f64),
        );
        let mut refused = Vec::new();
        for on in Interface::ALL {
            for why in Refusal::ALL {
                refused.push((
                    format!("{{interface=\"{}\",reason=\"{}\"}}", on.name(), why.name()),
                    self.refusals(on, why) as f64,
                ));
            }
        }
        family(
            &mut out,
            "imei_index_eir_refused_total",
            "counter",
            "Connections and requests refused before an answer, by interface and reason (docs/security.md).",
            &refused,
        );
        let reloads: Vec<(String, f64)> = ["reloaded", "failed"]
            .iter()
            .zip(&self.oauth2_reloads)
            .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), v.load(Relaxed) as f64))
            .collect();
        family(
            &mut out,
            "imei_index_eir_oauth2_key_reloads_total",
            "counter",
            "OAuth2 key files read again after a change: reloaded, or failed (the keys in use stayed).",
            &reloads,
        );
        let reloads: Vec<(String, f64)> = ["reloaded", "failed"]
            .iter()
            .zip(&self.tls_reloads)
            .map(|(k, v)| (format!("{{outcome=\"{k}\"}}"), v.load(Relaxed) as f64))
            .collect();
        family(
            &mut out,
            "imei_index_eir_tls_reloads_total",
            "counter",
            "TLS certificate, key or client CA files read again after a change: reloaded, or failed (the ones in use stayed).",
            &reloads,
        );
        family(
            &mut out,
            "imei_index_eir_http_connections",
            "gauge",
            "N5g-eir HTTP connections open.",
            &one(self.http_connections.load(Relaxed) as f64),
        );
        out
    }
}
