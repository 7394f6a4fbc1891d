//! The server as an operator runs it: the binary on loopback ports, asked over N5g-eir and
//! S13, watched through /metrics and /healthz, republished under, stopped with SIGTERM; its
//! journal and its webhook.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use imei_index::s13::avp::{AvpWriter, code, flags::MANDATORY as M};
use imei_index::s13::message::{Header, Message};
use imei_index::{Entry, Imei, IndexBuilder, Reason, Rule, Status, Tac};

const BLOCKED: &str = "354178036859789";
const TRACKED_TAC: &str = "86990000";
const UNLISTED: &str = "490154203237518";
const SIM: &str = "404685505601234";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds an index into `path`, written beside it and renamed (a publish).
fn publish(path: &Path, serial: u64, blocked: bool) {
    let mut b = IndexBuilder::new();
    b.serial(serial);
    let status = if blocked {
        Status::Blocked
    } else {
        Status::Allowed
    };
    b.add(Rule::imei(
        Imei::parse(BLOCKED).unwrap(),
        Entry::new(status).with_reason(Reason::Stolen),
    ));
    b.add(Rule::tac(
        Tac::parse(TRACKED_TAC).unwrap(),
        Entry::new(Status::Tracked),
    ));
    b.build_to_file(path).unwrap();
}

struct Server {
    child: Child,
    n5g: SocketAddr,
    s13: SocketAddr,
    metrics: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(index: &Path, extra: &[&str]) -> Server {
        let (n5g, s13, metrics) = (free_port(), free_port(), free_port());
        let mut child = Command::new(env!("CARGO_BIN_EXE_imei-index-eir"))
            .arg("--index")
            .arg(index)
            .args(["--n5g", &format!("127.0.0.1:{n5g}")])
            .args(["--s13", &format!("127.0.0.1:{s13}")])
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .args(["--reload-interval-ms", "20", "--drain-ms", "2000"])
            // Cleartext and any peer, on purpose: tests/security.rs tests TLS, tokens and
            // the peer list.
            .args(["--insecure-h2c", "--s13-any-peer"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let s = Server {
            child,
            n5g: format!("127.0.0.1:{n5g}").parse().unwrap(),
            s13: format!("127.0.0.1:{s13}").parse().unwrap(),
            metrics: format!("127.0.0.1:{metrics}").parse().unwrap(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(s.n5g).is_err() || TcpStream::connect(s.metrics).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn get(&self, addr: SocketAddr, target: &str) -> (u16, String) {
        http_get(addr, target)
    }

    fn equipment(&self, query: &str) -> (u16, String) {
        self.get(
            self.n5g,
            &format!("/n5g-eir-eic/v1/equipment-status?{query}"),
        )
    }

    /// The value of one sample of /metrics.
    fn metric(&self, sample: &str) -> f64 {
        let (_, text) = self.get(self.metrics, "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"))
            .parse()
            .unwrap()
    }

    /// Waits until `f` holds (at most 10 s).
    fn until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "{what} never happened; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the exit status.
    fn terminate(mut self) -> (i32, String) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        (status.code().unwrap_or(-1), self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over HTTP/1.1: the status and the body.
fn http_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

// ---- a Diameter peer ----

fn header(command: u32, application: u32, flags: u8, id: u32) -> Header {
    Header {
        version: 1,
        length: 0,
        flags,
        command,
        application,
        hop_by_hop: id,
        end_to_end: id,
    }
}

fn cer() -> Bytes {
    let mut w = AvpWriter::new();
    w.raw(code::ORIGIN_HOST, M, None, b"mme.test.localdomain");
    w.raw(code::ORIGIN_REALM, M, None, b"localdomain");
    w.raw(code::HOST_IP_ADDRESS, M, None, &[0, 1, 127, 0, 0, 1]);
    w.u32(code::VENDOR_ID, M, None, 0);
    w.raw(code::PRODUCT_NAME, 0, None, b"mme");
    w.u32(code::AUTH_APPLICATION_ID, M, None, 16_777_252);
    Message::encode(&header(257, 0, 0x80, 1), &w.finish())
}

fn ecr(imei: &str, imsi: Option<&str>, id: u32) -> Bytes {
    let mut w = AvpWriter::new();
    w.raw(
        code::SESSION_ID,
        M,
        None,
        format!("mme.test.localdomain;1;{id}").as_bytes(),
    );
    w.u32(code::AUTH_SESSION_STATE, M, None, 1);
    w.raw(code::ORIGIN_HOST, M, None, b"mme.test.localdomain");
    w.raw(code::ORIGIN_REALM, M, None, b"localdomain");
    w.raw(code::DESTINATION_REALM, M, None, b"localdomain");
    if let Some(imsi) = imsi {
        w.raw(code::USER_NAME, M, None, imsi.as_bytes());
    }
    w.group(code::TERMINAL_INFORMATION, M, Some(10415), |t| {
        t.raw(code::IMEI, M, Some(10415), &imei.as_bytes()[..14]);
    });
    Message::encode(&header(324, 16_777_252, 0xc0, id), &w.finish())
}

fn read_message(s: &mut TcpStream) -> Message {
    let mut head = [0u8; 20];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut rest = vec![0u8; len - 20];
    s.read_exact(&mut rest).unwrap();
    Message::decode(Bytes::from([&head[..], &rest].concat())).unwrap()
}

fn s13_peer(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&cer()).unwrap();
    let cea = read_message(&mut s);
    assert_eq!(cea.find(code::RESULT_CODE, 0).unwrap().u32().unwrap(), 2001);
    s
}

fn equipment_status(s: &mut TcpStream, imei: &str, imsi: Option<&str>, id: u32) -> Option<u32> {
    s.write_all(&ecr(imei, imsi, id)).unwrap();
    let eca = read_message(s);
    eca.find(code::EQUIPMENT_STATUS, 10415)
        .map(|a| a.u32().unwrap())
}

fn journal_text(dir: &Path) -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Checks the exposition's grammar: every sample belongs to a family with HELP and TYPE,
/// values are numbers, and histogram buckets count up to their _count.
fn assert_exposition(text: &str) {
    let mut typed = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "no TYPE for {line}");
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(!v.contains('"') || v.ends_with('"'), "{line}");
                }
            }
        }
    }
    let mut last = 0.0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("imei_index_eir_answer_seconds_bucket{interface=\"n5g\""))
    {
        let v: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(v >= last, "buckets must be cumulative: {line}");
        last = v;
    }
}

#[test]
fn metrics_health_journal_reloads_and_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index, 20_240_521, true);
    let journal = dir.path().join("journal");
    let server = Server::start(
        &index,
        &[
            "--journal",
            journal.to_str().unwrap(),
            "--journal-flush-ms",
            "50",
            "--log-format",
            "json",
        ],
    );
    // Health and the index's serial.
    let (status, body) = server.get(server.metrics, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("serial 20240521"), "{body}");
    assert_eq!(server.metric("imei_index_eir_index_serial"), 20_240_521.0);
    assert_eq!(server.metric("imei_index_eir_index_loaded"), 1.0);

    // N5g-eir: blocked with a SIM and a number, tracked, unknown, malformed.
    let (status, body) = server.equipment(&format!(
        "pei=imei-{BLOCKED}&supi=imsi-{SIM}&gpsi=msisdn-919876543210"
    ));
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"BLACKLISTED"}"#)
    );
    let (status, _) = server.equipment("pei=imei-869900001234567");
    assert_eq!(status, 200);
    let (status, _) = server.equipment(&format!("pei=imei-{UNLISTED}"));
    assert_eq!(status, 404);
    let (status, _) = server.equipment("pei=imei-1234");
    assert_eq!(status, 400);

    // S13: a peer, two checks.
    let mut peer = s13_peer(server.s13);
    assert_eq!(equipment_status(&mut peer, BLOCKED, Some(SIM), 2), Some(1));
    assert_eq!(equipment_status(&mut peer, UNLISTED, None, 3), None);
    server.until("one S13 peer", || {
        server.metric("imei_index_eir_s13_peers") == 1.0
    });

    let n5g = |status: &str, rule: &str| {
        server.metric(&format!(
            "imei_index_eir_checks_total{{interface=\"n5g\",status=\"{status}\",rule=\"{rule}\"}}"
        ))
    };
    assert_eq!(n5g("blocked", "imei"), 1.0);
    assert_eq!(n5g("tracked", "tac"), 1.0);
    assert_eq!(n5g("unknown", "none"), 1.0);
    assert_eq!(
        server.metric(
            "imei_index_eir_checks_total{interface=\"s13\",status=\"blocked\",rule=\"imei\"}"
        ),
        1.0
    );
    assert_eq!(
        server.metric("imei_index_eir_requests_invalid_total{interface=\"n5g\"}"),
        1.0
    );
    assert_eq!(
        server.metric("imei_index_eir_answer_seconds_count{interface=\"n5g\"}"),
        4.0
    );
    assert_eq!(
        server.metric("imei_index_eir_answer_seconds_count{interface=\"s13\"}"),
        2.0
    );
    // The journal (policy: listed) took the blocked and tracked checks: three sightings,
    // two alerts (the blocked handset with its SIM over both interfaces is one pair).
    server.until("three sightings written", || {
        server.metric("imei_index_eir_journal_records_total{outcome=\"written\"}") == 3.0
    });
    assert_eq!(
        server.metric("imei_index_eir_journal_records_total{outcome=\"skipped\"}"),
        2.0
    );
    assert_eq!(server.metric("imei_index_eir_journal_alerts_total"), 2.0);
    let (_, text) = server.get(server.metrics, "/metrics");
    assert_exposition(&text);

    // A republished index is served; a broken one is refused and counted, the last good
    // one serves on and health stays good.
    let staged = dir.path().join("staged.imeiidx");
    publish(&staged, 20_240_522, false);
    std::fs::rename(&staged, &index).unwrap();
    server.until("the reload", || {
        server.metric("imei_index_eir_reloads_total") == 1.0
    });
    assert_eq!(server.metric("imei_index_eir_index_serial"), 20_240_522.0);
    assert_eq!(
        server.equipment(&format!("pei=imei-{BLOCKED}")).1,
        r#"{"status":"WHITELISTED"}"#
    );
    std::fs::write(&staged, b"\x89IMEIDX\n not an index").unwrap();
    std::fs::rename(&staged, &index).unwrap();
    server.until("the refusal", || {
        server.metric("imei_index_eir_reloads_refused_total") == 1.0
    });
    let (status, body) = server.get(server.metrics, "/healthz");
    assert_eq!(status, 200);
    assert!(body.contains("refused"), "{body}");
    assert_eq!(server.metric("imei_index_eir_index_serial"), 20_240_522.0);

    // SIGTERM: the S13 peer gets a Disconnect-Peer-Request and answers it; the journal is
    // flushed; the server exits 0.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    let dpr = read_message(&mut peer);
    assert_eq!(
        (dpr.header.command, dpr.header.flags & 0x80),
        (282, 0x80),
        "a DPR"
    );
    let mut w = AvpWriter::new();
    w.u32(code::RESULT_CODE, M, None, 2001);
    w.raw(code::ORIGIN_HOST, M, None, b"mme.test.localdomain");
    w.raw(code::ORIGIN_REALM, M, None, b"localdomain");
    let mut answer = dpr.header;
    answer.flags = 0;
    peer.write_all(&Message::encode(&answer, &w.finish()))
        .unwrap();
    let (code, log) = server.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("\"message\":\"stopped\""),
        "JSON logs end with stopped:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    let text = journal_text(&journal);
    assert!(
        text.starts_with("time,imei,imsi,msisdn,status,reason,rule,alert\n"),
        "{text}"
    );
    assert_eq!(
        text.matches(",35417803685978,404685505601234,").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains(",35417803685978,404685505601234,919876543210,blocked,stolen,imei,new-sim\n"),
        "{text}"
    );
    assert!(
        text.contains(",86990000123456,,,tracked,,tac,new-sim\n"),
        "{text}"
    );
}

#[test]
fn health_fails_until_a_valid_index_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    let server = Server::start(&index, &["--log-format", "text"]);
    let (status, body) = server.get(server.metrics, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("no valid index is loaded"), "{body}");
    assert_eq!(server.metric("imei_index_eir_index_loaded"), 0.0);
    let (status, body) = server.equipment(&format!("pei=imei-{BLOCKED}"));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("SYSTEM_FAILURE"), "{body}");
    // S13 peers are refused before their capabilities exchange.
    let mut s = TcpStream::connect(server.s13).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(&cer());
    assert_eq!(
        s.read(&mut [0u8; 64]).unwrap_or(0),
        0,
        "closed without an answer"
    );
    // Published: loaded, healthy, answering.
    publish(&index, 7, true);
    server.until("the first index", || {
        server.get(server.metrics, "/healthz").0 == 200
    });
    assert_eq!(server.equipment(&format!("pei=imei-{BLOCKED}")).0, 200);
    assert_eq!(
        server.metric("imei_index_eir_requests_unavailable_total{interface=\"n5g\"}"),
        1.0
    );
    let (code, log) = server.terminate();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn a_config_file_with_flags_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index, 1, true);
    let config = dir.path().join("eir.toml");
    std::fs::write(
        &config,
        format!(
            "index = \"{}\"\nunknown = \"greylisted\"\nlog-format = \"text\"\nn5g = \"127.0.0.1:1\"\n",
            dir.path().join("nothing-here").display()
        ),
    )
    .unwrap();
    // --index and --n5g (given by Server::start) override the file; unknown comes from it.
    let server = Server::start(&index, &["--config", config.to_str().unwrap()]);
    assert_eq!(
        server.equipment(&format!("pei=imei-{UNLISTED}")).1,
        r#"{"status":"GREYLISTED"}"#
    );
    drop(server);
    // A file with a key that is not a setting stops the start, with exit 2.
    std::fs::write(&config, "indx = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imei-index-eir"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("imei-index-eir: error: the configuration"),
        "{stderr}"
    );
}

/// An HTTP receiver that answers 500 to the first `failures` requests, then 204; it keeps
/// the bodies it got.
fn receiver(failures: usize) -> (SocketAddr, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (Arc::clone(&bodies), Arc::clone(&hits));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let n = h.fetch_add(1, Ordering::SeqCst);
            let status = if n < failures {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            if n >= failures {
                b.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (addr, bodies, hits)
}

#[test]
fn the_webhook_is_retried_until_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index, 1, true);
    let (addr, bodies, hits) = receiver(2);
    let server = Server::start(
        &index,
        &[
            "--journal",
            dir.path().join("journal").to_str().unwrap(),
            "--journal-flush-ms",
            "20",
            "--webhook",
            &format!("http://{addr}/alerts"),
        ],
    );
    server.equipment(&format!("pei=imei-{BLOCKED}&supi=imsi-{SIM}"));
    server.until("delivery", || {
        server.metric("imei_index_eir_webhook_deliveries_total{outcome=\"delivered\"}") == 1.0
    });
    assert_eq!(
        server.metric("imei_index_eir_webhook_deliveries_total{outcome=\"retried\"}"),
        2.0
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let got = bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let alert: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(alert["imei"], "35417803685978");
    assert_eq!(alert["imsi"], SIM);
    assert_eq!(alert["status"], "blocked");
}

#[test]
fn the_webhook_queue_is_bounded() {
    use imei_index_eir::metrics::Metrics;
    use imei_index_eir::webhook::{Webhook, WebhookOptions};
    // A receiver that never answers: deliveries wait, the queue (of 2) fills, the rest is
    // dropped and counted, and sending never waits.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    runtime.block_on(async {
        let mut options = WebhookOptions::new(format!("http://{addr}/").parse().unwrap());
        options.queue = 2;
        options.timeout = Duration::from_secs(30);
        let (hook, _task) = Webhook::start(options, Arc::clone(&metrics));
        tokio::task::yield_now().await;
        let dir = tempfile::tempdir().unwrap();
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&alerts);
        let journal = imei_index_trace::Journal::open(
            dir.path(),
            imei_index_trace::JournalOptions::new()
                .on_alert(move |a| sink.lock().unwrap().push(a.clone())),
        )
        .unwrap();
        let blocked =
            imei_index::Verdict::listed(imei_index::RuleKind::Imei, &Entry::new(Status::Blocked));
        for i in 0..10 {
            let imei = Imei::from_u64(35_417_803_000_000 + i).unwrap();
            journal.record(&imei_index_trace::Sighting::new(imei, blocked));
        }
        journal.close().unwrap();
        let started = Instant::now();
        for a in alerts.lock().unwrap().iter() {
            hook.send(a);
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    let text = metrics.render(
        &imei_index_eir::served::Served::open_or_wait(Path::new("/nonexistent")).0,
        None,
    );
    let dropped: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("imei_index_eir_webhook_deliveries_total{outcome=\"dropped\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    // One in flight, two queued: seven of the ten dropped.
    assert!((7.0..=8.0).contains(&dropped), "{text}");
    drop(silent);
}

/// With `--tac-policy`: an index without a TAC database is refused (health fails, the
/// refusal is logged) until one with a database is published; then an IMEI of a TAC the
/// database does not list answers the policy's status on both interfaces, an allocated TAC
/// stays unknown, explicit rules decide as before, and the policy's answers are counted.
#[test]
fn the_tac_policy_answers_for_unallocated_tacs_and_needs_a_tac_database() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index, 1, true);
    let server = Server::start(
        &index,
        &[
            "--log-format",
            "text",
            "--tac-policy",
            "blocked",
            "--unknown",
            "not-found",
        ],
    );
    let (status, body) = server.get(server.metrics, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("holds no TAC database"), "{body}");
    // Published with a database: loaded.
    let mut table = imei_index::TacTable::new();
    let allocated = imei_index::DeviceInfo {
        manufacturer: "Acme".into(),
        model: "R3".into(),
        ..Default::default()
    };
    table.insert(Imei::parse(BLOCKED).unwrap().tac(), allocated.clone());
    table.insert(Tac::parse("49015420").unwrap(), allocated);
    let mut b = IndexBuilder::new();
    b.serial(2);
    b.add(Rule::imei(
        Imei::parse(BLOCKED).unwrap(),
        Entry::new(Status::Blocked),
    ));
    b.tac_db(table);
    let staged = dir.path().join("staged.imeiidx");
    b.build_to_file(&staged).unwrap();
    std::fs::rename(&staged, &index).unwrap();
    server.until("the index with a TAC database", || {
        server.get(server.metrics, "/healthz").0 == 200
    });
    // Not in the database: the policy's status; allocated: unknown (404); listed: its rule.
    let (status, body) = server.equipment("pei=imei-860000020000153");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"BLACKLISTED"}"#)
    );
    assert_eq!(server.equipment("pei=imei-490154203237518").0, 404);
    let (status, body) = server.equipment(&format!("pei=imei-{BLOCKED}"));
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"BLACKLISTED"}"#)
    );
    let mut peer = s13_peer(server.s13);
    assert_eq!(
        equipment_status(&mut peer, "86000002000015", None, 9),
        Some(1)
    );
    assert_eq!(
        server
            .metric("imei_index_eir_tac_policy_total{interface=\"n5g\",reason=\"not-in-tac-db\"}"),
        1.0
    );
    assert_eq!(
        server
            .metric("imei_index_eir_tac_policy_total{interface=\"s13\",reason=\"not-in-tac-db\"}"),
        1.0
    );
    let (code, log) = server.terminate();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("TAC policy on"), "{log}");
}
