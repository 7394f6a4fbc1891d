//! Who may ask, and how much (docs/security.md): the binary on loopback ports, asked by real
//! clients over TLS and mutual TLS with certificates made here, with tokens minted here
//! (valid, expired, for another audience, without the scope, badly signed, unsigned);
//! known and unknown Diameter peers, and Diameter over TLS; a slowloris and a flooding
//! client, and flooding connections (HTTP/1.1, HTTP/2, S13) held while another client is
//! served. Every loop is bounded in count and time; no assertion is on a duration.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use imei_index::s13::avp::{AvpWriter, code, flags::MANDATORY as M};
use imei_index::s13::message::{Header, Message};
use imei_index::{Entry, Imei, IndexBuilder, Status};
use jsonwebtoken::{Algorithm, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

const BLOCKED: &str = "354178036859789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn publish(path: &Path) {
    let mut b = IndexBuilder::new();
    b.serial(1);
    b.add(imei_index::Rule::imei(
        Imei::parse(BLOCKED).unwrap(),
        Entry::new(Status::Blocked),
    ));
    b.build_to_file(path).unwrap();
}

// ---- the server ----

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
        let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
        // Listeners the test turns off keep their flag.
        let mut listeners = Vec::new();
        for (flag, port) in [("--n5g", n5g), ("--s13", s13)] {
            if !extra.contains(&flag) {
                listeners.extend([flag.to_string(), addr(port).to_string()]);
            }
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_imei-index-eir"))
            .arg("--index")
            .arg(index)
            .args(&listeners)
            .args(["--metrics", &addr(metrics).to_string()])
            .args(["--reload-interval-ms", "20", "--drain-ms", "500"])
            .args(["--log-format", "text"])
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
            n5g: addr(n5g),
            s13: addr(s13),
            metrics: addr(metrics),
            log,
        };
        let n5g_on = !extra.windows(2).any(|w| w == ["--n5g", "off"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(s.metrics).is_err()
            || (n5g_on && TcpStream::connect(s.n5g).is_err())
        {
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

    /// One sample of /metrics.
    fn metric(&self, sample: &str) -> f64 {
        let mut s = TcpStream::connect(self.metrics).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"))
            .parse()
            .unwrap()
    }

    fn refused(&self, interface: &str, reason: &str) -> f64 {
        self.metric(&format!(
            "imei_index_eir_refused_total{{interface=\"{interface}\",reason=\"{reason}\"}}"
        ))
    }

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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- certificates and tokens ----

struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Vec<u8>,
    /// A client certificate from a CA the server does not trust.
    stranger_chain: Vec<CertificateDer<'static>>,
    stranger_key: Vec<u8>,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, CertificateDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (params, key, cert.der().clone())
}

fn leaf(
    names: &[&str],
    client: bool,
    issuer: &Issuer<'_, KeyPair>,
) -> (CertificateDer<'static>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.der().clone(), key)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64(der, false);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Base64 (RFC 4648), standard with padding or URL-safe without.
fn base64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// A CA, the server's certificate for localhost and 127.0.0.1 in `dir` (eir.crt, eir.key,
/// ca.crt), a client certificate from that CA, and one from another CA.
fn pki(dir: &Path) -> Pki {
    let (ca_params, ca_key, ca_cert) = ca("operator test CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let (server, server_key) = leaf(&["localhost", "127.0.0.1"], false, &issuer);
    std::fs::write(
        dir.join("eir.crt"),
        pem("CERTIFICATE", &server) + &pem("CERTIFICATE", &ca_cert),
    )
    .unwrap();
    std::fs::write(dir.join("eir.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), pem("CERTIFICATE", &ca_cert)).unwrap();
    let (client, client_key) = leaf(&["amf1.test"], true, &issuer);
    let (other_params, other_key, _) = ca("somebody else's CA");
    let other = Issuer::new(other_params, other_key);
    let (stranger, stranger_key) = leaf(&["amf666.test"], true, &other);
    Pki {
        dir: dir.to_path_buf(),
        ca: ca_cert,
        client_chain: vec![client],
        client_key: client_key.serialize_der(),
        stranger_chain: vec![stranger],
        stranger_key: stranger_key.serialize_der(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims as the NRF issues them (TS 29.510 AccessTokenClaims), valid for an hour.
fn claims() -> serde_json::Value {
    json!({
        "iss": "nrf-1",
        "sub": "amf-instance-1",
        "aud": "5G_EIR",
        "scope": "n5g-eir-eic",
        "iat": now(),
        "exp": now() + 3600,
    })
}

fn es256(key: &KeyPair, claims: &serde_json::Value, kid: Option<&str>) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_string);
    let key = EncodingKey::from_ec_der(&key.serialize_der());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn rs256(claims: &serde_json::Value) -> String {
    let pem =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rs256-test.key"))
            .unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// An unsigned token: `alg: none`.
fn unsigned(claims: &serde_json::Value) -> String {
    let header = base64(br#"{"alg":"none","typ":"JWT"}"#, true);
    let body = base64(claims.to_string().as_bytes(), true);
    format!("{header}.{body}.")
}

/// A JWKS holding `key` (EC P-256) as `kid`.
fn jwks(key: &KeyPair, kid: &str) -> String {
    let raw = key.public_key_raw();
    assert_eq!((raw.len(), raw[0]), (65, 4), "an uncompressed P-256 point");
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": base64(&raw[1..33], true), "y": base64(&raw[33..], true),
    }]})
    .to_string()
}

// ---- an HTTPS client (hyper over tokio-rustls) ----

struct Answer {
    status: u16,
    challenge: String,
    content_type: String,
    body: String,
    alpn: String,
}

fn client_config(
    pki: &Pki,
    identity: Option<(&[CertificateDer<'static>], &[u8])>,
    alpn: &[u8],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                chain.to_vec(),
                PrivateKeyDer::try_from(key.to_vec()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

async fn https_get(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    query: &str,
    token: Option<&str>,
) -> Result<Answer, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let alpn = String::from_utf8_lossy(tls.get_ref().1.alpn_protocol().unwrap_or(b"")).into_owned();
    let path = format!("/n5g-eir-eic/v1/equipment-status?{query}");
    let mut request = Request::get(format!("https://localhost{path}"));
    if alpn != "h2" {
        request = Request::get(path).header("host", "localhost");
    }
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let request = request.body(Empty::<Bytes>::new()).unwrap();
    let io = TokioIo::new(tls);
    let response = if alpn == "h2" {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(request).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(request).await
    }
    .map_err(|e| format!("request: {e}"))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (challenge, content_type) = (header("www-authenticate"), header("content-type"));
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        challenge,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
        alpn,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tls_mutual_tls_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let pki = pki(dir.path());
    let nrf = KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("nrf-es256.pem"), nrf.public_key_pem()).unwrap();
    let rs256_pub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rs256-test.pub");
    let rotated = KeyPair::generate().unwrap();
    let jwks_path = dir.path().join("nrf.jwks");
    let retired = KeyPair::generate().unwrap();
    std::fs::write(&jwks_path, jwks(&retired, "k1")).unwrap();
    let file = |name: &str| pki.dir.join(name).to_str().unwrap().to_string();
    let server = Server::start(
        &index,
        &[
            "--tls-cert",
            &file("eir.crt"),
            "--tls-key",
            &file("eir.key"),
            "--client-ca",
            &file("ca.crt"),
            "--oauth2-key",
            &file("nrf-es256.pem"),
            "--oauth2-key",
            rs256_pub.to_str().unwrap(),
            "--oauth2-key",
            jwks_path.to_str().unwrap(),
            "--nf-instance-id",
            "eir-instance-7",
            "--s13",
            "off",
        ],
    );
    let rt = runtime();
    let client = (&pki.client_chain[..], &pki.client_key[..]);
    let ask = |alpn: &[u8], token: Option<&str>| {
        rt.block_on(https_get(
            server.n5g,
            client_config(&pki, Some(client), alpn),
            &format!("pei=imei-{BLOCKED}"),
            token,
        ))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
    };

    // A valid ES256 token over HTTP/2, a valid RS256 one over HTTP/1.1.
    let a = ask(b"h2", Some(&es256(&nrf, &claims(), None)));
    assert_eq!((a.status, a.alpn.as_str()), (200, "h2"), "{}", a.body);
    assert_eq!(a.body, r#"{"status":"BLACKLISTED"}"#);
    let a = ask(b"http/1.1", Some(&rs256(&claims())));
    assert_eq!((a.status, a.alpn.as_str()), (200, "http/1.1"), "{}", a.body);
    // aud naming this instance, and aud as an array.
    let mut c = claims();
    c["aud"] = json!(["eir-instance-7"]);
    assert_eq!(ask(b"h2", Some(&es256(&nrf, &c, None))).status, 200);

    // 401 invalid_token: none, expired, for another NF, badly signed, unsigned, garbage.
    let invalid = |token: Option<&str>, what: &str| {
        let a = ask(b"h2", token);
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert!(
            a.challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {}",
            a.challenge
        );
        assert_eq!(a.content_type, "application/problem+json", "{what}");
        let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(body["status"], 401, "{what}");
        body["detail"].as_str().unwrap().to_string()
    };
    assert!(invalid(None, "no token").contains("Bearer"));
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    assert!(invalid(Some(&es256(&nrf, &c, None)), "expired").contains("expired"));
    let mut c = claims();
    c["nbf"] = json!(now() + 3600);
    invalid(Some(&es256(&nrf, &c, None)), "not yet valid");
    let mut c = claims();
    c["aud"] = json!("AMF");
    assert!(invalid(Some(&es256(&nrf, &c, None)), "wrong audience").contains("aud"));
    let stranger = KeyPair::generate().unwrap();
    assert!(
        invalid(Some(&es256(&stranger, &claims(), None)), "bad signature").contains("signature")
    );
    invalid(Some(&unsigned(&claims())), "alg none");
    invalid(Some("not.a.token"), "garbage");
    let a = ask(b"h2", Some("x"));
    assert_eq!(a.status, 401);

    // 403 insufficient_scope: a valid token for another service.
    let mut c = claims();
    c["scope"] = json!("nudm-sdm");
    let a = ask(b"h2", Some(&es256(&nrf, &c, None)));
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.challenge
            .starts_with("Bearer error=\"insufficient_scope\""),
        "{}",
        a.challenge
    );

    // Without a client certificate, or with one from another CA: no answer at all.
    for identity in [None, Some((&pki.stranger_chain[..], &pki.stranger_key[..]))] {
        let r = rt.block_on(https_get(
            server.n5g,
            client_config(&pki, identity, b"h2"),
            &format!("pei=imei-{BLOCKED}"),
            Some(&es256(&nrf, &claims(), None)),
        ));
        assert!(
            r.is_err(),
            "a client without a trusted certificate was answered"
        );
    }
    // Cleartext to the TLS port: no HTTP answer.
    let mut s = TcpStream::connect(server.n5g).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    assert!(
        !text.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&text)
    );

    // Key rotation without a restart: the JWKS now holds a new key instead of the old one;
    // tokens of the new key pass, those of the old one (accepted and remembered before) no
    // longer do.
    let old_token = es256(&retired, &claims(), Some("k1"));
    assert_eq!(ask(b"h2", Some(&old_token)).status, 200);
    assert_eq!(ask(b"http/1.1", Some(&old_token)).status, 200);
    let new_token = es256(&rotated, &claims(), Some("k2"));
    assert_eq!(ask(b"h2", Some(&new_token)).status, 401);
    std::fs::write(&jwks_path, jwks(&rotated, "k2")).unwrap();
    server.until("the keys reloaded", || {
        server.metric("imei_index_eir_oauth2_key_reloads_total{outcome=\"reloaded\"}") >= 1.0
    });
    assert_eq!(ask(b"h2", Some(&new_token)).status, 200);
    assert_eq!(ask(b"h2", Some(&new_token)).status, 200);
    assert_eq!(ask(b"h2", Some(&old_token)).status, 401);
    // A broken file keeps the keys in use.
    std::fs::write(&jwks_path, "{ not json").unwrap();
    server.until("the failed reload", || {
        server.metric("imei_index_eir_oauth2_key_reloads_total{outcome=\"failed\"}") >= 1.0
    });
    assert_eq!(ask(b"h2", Some(&new_token)).status, 200);

    // Certificate renewal without a restart: a certificate from another CA replaces the
    // server's; new connections are served with it.
    let (renewed_params, renewed_key, renewed_ca) = ca("renewed CA");
    let renewed = Issuer::new(renewed_params, renewed_key);
    let (cert, key) = leaf(&["localhost", "127.0.0.1"], false, &renewed);
    let trusting = |ca: &CertificateDer<'static>| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            pki.client_chain.clone(),
            PrivateKeyDer::try_from(pki.client_key.clone()).unwrap(),
        )
        .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    };
    let token = es256(&nrf, &claims(), None);
    let with = |config| {
        rt.block_on(https_get(
            server.n5g,
            config,
            &format!("pei=imei-{BLOCKED}"),
            Some(&token),
        ))
    };
    assert!(with(trusting(&renewed_ca)).is_err());
    std::fs::write(pki.dir.join("eir.key"), key.serialize_pem()).unwrap();
    std::fs::write(pki.dir.join("eir.crt"), pem("CERTIFICATE", &cert)).unwrap();
    server.until("the certificate reloaded", || {
        with(trusting(&renewed_ca)).is_ok_and(|a| a.status == 200)
    });
    assert!(server.metric("imei_index_eir_tls_reloads_total{outcome=\"reloaded\"}") >= 1.0);
    assert!(
        with(trusting(&pki.ca)).is_err(),
        "the old certificate is still served"
    );

    assert!(server.refused("n5g", "invalid_token") >= 10.0);
    assert_eq!(server.refused("n5g", "insufficient_scope"), 1.0);
    assert!(server.refused("n5g", "tls_handshake") >= 1.0);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn it_will_not_start_open() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_imei-index-eir"))
            .args(["--index", "/nonexistent/national.imeiidx"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--s13-any-peer"]);
    assert!(
        e.contains("--tls-cert") && e.contains("--insecure-h2c"),
        "{e}"
    );
    let e = run(&["--insecure-h2c"]);
    assert!(e.contains("--peer") && e.contains("--s13-any-peer"), "{e}");
    let e = run(&[
        "--s13-any-peer",
        "--tls-cert",
        "/nonexistent/eir.crt",
        "--tls-key",
        "/nonexistent/eir.key",
    ]);
    assert!(e.contains("/nonexistent/eir.crt"), "{e}");
}

// ---- Diameter ----

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

fn cer(host: &str, realm: &str) -> Bytes {
    let mut w = AvpWriter::new();
    w.raw(code::ORIGIN_HOST, M, None, host.as_bytes());
    w.raw(code::ORIGIN_REALM, M, None, realm.as_bytes());
    w.raw(code::HOST_IP_ADDRESS, M, None, &[0, 1, 127, 0, 0, 1]);
    w.u32(code::VENDOR_ID, M, None, 0);
    w.raw(code::PRODUCT_NAME, 0, None, b"mme");
    w.u32(code::AUTH_APPLICATION_ID, M, None, 16_777_252);
    Message::encode(&header(257, 0, 0x80, 1), &w.finish())
}

fn ecr(id: u32) -> Bytes {
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
    w.group(code::TERMINAL_INFORMATION, M, Some(10415), |t| {
        t.raw(code::IMEI, M, Some(10415), &BLOCKED.as_bytes()[..14]);
    });
    Message::encode(&header(324, 16_777_252, 0xc0, id), &w.finish())
}

fn read_message(s: &mut impl Read) -> Option<Message> {
    let mut head = [0u8; 20];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut rest = vec![0u8; len - 20];
    s.read_exact(&mut rest).ok()?;
    Message::decode(Bytes::from([&head[..], &rest].concat())).ok()
}

fn result_code(m: &Message) -> u32 {
    m.find(code::RESULT_CODE, 0).unwrap().u32().unwrap()
}

/// Whether the server closed `s` (reads end) within 10 s.
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    matches!(s.read(&mut [0u8; 64]), Ok(0) | Err(_))
}

#[test]
fn s13_known_and_unknown_peers() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let server = Server::start(
        &index,
        &[
            "--n5g",
            "off",
            "--peer",
            "mme.test.localdomain,localdomain@127.0.0.1",
            "--peer",
            "mme2.test.localdomain",
            "--peer",
            "mme3.test.localdomain@127.0.0.2",
            "--rate-limit",
            "1",
            "--header-timeout-ms",
            "500",
        ],
    );
    let connect = || {
        let s = TcpStream::connect(server.s13).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // A configured peer: CEA 2001, then answers.
    let mut known = connect();
    known
        .write_all(&cer("mme.test.localdomain", "localdomain"))
        .unwrap();
    assert_eq!(result_code(&read_message(&mut known).unwrap()), 2001);
    known.write_all(&ecr(2)).unwrap();
    let eca = read_message(&mut known).unwrap();
    assert_eq!(
        eca.find(code::EQUIPMENT_STATUS, 10415)
            .unwrap()
            .u32()
            .unwrap(),
        1
    );

    // Unknown: by host, by realm, by address. DIAMETER_UNKNOWN_PEER with the E bit, then
    // closed.
    for (host, realm) in [
        ("mme.intruder.example", "localdomain"),
        ("mme.test.localdomain", "intruder.example"),
        ("mme3.test.localdomain", "localdomain"),
    ] {
        let mut s = connect();
        s.write_all(&cer(host, realm)).unwrap();
        let cea = read_message(&mut s).unwrap();
        assert_eq!(result_code(&cea), 3010, "{host} {realm}");
        assert_eq!(cea.header.flags & 0x20, 0x20, "the E bit");
        assert!(closed(&mut s), "{host} {realm}: the connection stays open");
    }
    // mme3 from its own address is admitted.
    let from = runtime().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        socket
            .connect(server.s13)
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    let mut mme3 = from;
    mme3.set_nonblocking(false).unwrap();
    mme3.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    mme3.write_all(&cer("mme3.test.localdomain", "localdomain"))
        .unwrap();
    assert_eq!(result_code(&read_message(&mut mme3).unwrap()), 2001);

    // A peer allowed from any address is admitted from this one.
    let mut any = connect();
    any.write_all(&cer("mme2.test.localdomain", "elsewhere"))
        .unwrap();
    assert_eq!(result_code(&read_message(&mut any).unwrap()), 2001);

    // An ME-Identity-Check before any capabilities exchange: refused, closed, unanswered.
    let mut early = connect();
    early.write_all(&ecr(3)).unwrap();
    assert!(closed(&mut early));

    // A connection that sends no CER is closed after the header timeout, not the watchdog's.
    let mut silent = connect();
    assert!(closed(&mut silent));

    // Over its rate (1 a second, its token spent on the check above): DIAMETER_TOO_BUSY,
    // and the connection stays.
    let mut busy = 0;
    for id in 10..30 {
        known.write_all(&ecr(id)).unwrap();
        let m = read_message(&mut known).unwrap();
        if m.find(code::RESULT_CODE, 0).and_then(|a| a.u32().ok()) == Some(3004) {
            assert_eq!(m.header.flags & 0x20, 0x20, "the E bit");
            busy += 1;
        }
    }
    assert!(busy >= 10, "{busy} of 20 over the rate were refused");

    assert_eq!(server.refused("s13", "unknown_peer"), 3.0);
    assert_eq!(server.refused("s13", "not_open"), 1.0);
    assert_eq!(server.refused("s13", "timeout"), 1.0);
    assert_eq!(server.refused("s13", "rate"), f64::from(busy));
}

#[test]
fn diameter_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let pki = pki(dir.path());
    let file = |name: &str| pki.dir.join(name).to_str().unwrap().to_string();
    let server = Server::start(
        &index,
        &[
            "--n5g",
            "off",
            "--tls-cert",
            &file("eir.crt"),
            "--tls-key",
            &file("eir.key"),
            "--client-ca",
            &file("ca.crt"),
            "--s13-tls",
            "--peer",
            "mme.test.localdomain",
        ],
    );
    let config = client_config(
        &pki,
        Some((&pki.client_chain[..], &pki.client_key[..])),
        b"diameter",
    );
    let mut config = config;
    config.alpn_protocols.clear();
    let mut tls = rustls::StreamOwned::new(
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap(),
        TcpStream::connect(server.s13).unwrap(),
    );
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    tls.write_all(&cer("mme.test.localdomain", "localdomain"))
        .unwrap();
    assert_eq!(result_code(&read_message(&mut tls).unwrap()), 2001);
    tls.write_all(&ecr(2)).unwrap();
    let eca = read_message(&mut tls).unwrap();
    assert_eq!(
        eca.find(code::EQUIPMENT_STATUS, 10415)
            .unwrap()
            .u32()
            .unwrap(),
        1
    );
    // Cleartext Diameter to the TLS port is not answered.
    let mut plain = TcpStream::connect(server.s13).unwrap();
    plain
        .write_all(&cer("mme.test.localdomain", "localdomain"))
        .unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = [0u8; 1];
    assert!(
        !matches!(plain.read(&mut first), Ok(1) if first[0] == 1),
        "a Diameter answer in cleartext"
    );
    server.until("the refused handshake counted", || {
        server.refused("s13", "tls_handshake") >= 1.0
    });
}

// ---- abuse ----

#[test]
fn a_slowloris_and_a_flood_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let server = Server::start(
        &index,
        &[
            "--insecure-h2c",
            "--s13",
            "off",
            "--header-timeout-ms",
            "300",
            "--max-connections-per-address",
            "8",
            "--rate-limit",
            "50",
            "--max-streams",
            "7",
        ],
    );
    // HTTP/2 (h2c) connections are told how many streams they may open at once.
    let streams = runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.n5g).await.unwrap();
        let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut sender = sender.ready().await.unwrap();
        // The server's SETTINGS come with its first frames: one request brings them.
        let request = hyper::Request::get(format!(
            "http://{}/n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED}",
            server.n5g
        ))
        .body(())
        .unwrap();
        let (response, _) = sender.send_request(request, true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
        sender.current_max_send_streams()
    });
    assert_eq!(streams, 7);
    // Slowloris: 8 connections (all this address may hold) that send a header byte at a
    // time, slowly. A ninth is closed at once; the eight within the header timeout.
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(server.n5g).unwrap();
            s.write_all(b"GET /n5g-eir-eic/v1/equipment-status?pei=imei-")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut ninth = TcpStream::connect(server.n5g).unwrap();
    assert!(closed(&mut ninth), "a ninth connection was kept");
    let started = Instant::now();
    let mut cut = 0;
    for _round in 0..40 {
        for s in &mut slow {
            if s.write_all(b"3").is_err() {
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 512];
        // Closed (0 or reset), or answered 408 and closed: anything but waiting.
        match s.read(&mut buf) {
            Ok(_) => cut += 1,
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                cut += 1
            }
            Err(_) => {}
        }
    }
    assert_eq!(
        cut,
        8,
        "slow clients still held after {:?}",
        started.elapsed()
    );
    assert!(server.refused("n5g", "connections_per_address") >= 1.0);
    server.until("the timeouts counted", || {
        server.refused("n5g", "timeout") >= 8.0
    });
    drop(slow);

    // A client that stays quiet is cut off too.
    let mut quiet = TcpStream::connect(server.n5g).unwrap();
    assert!(closed(&mut quiet));

    // A flood over keep-alive: 200 requests at once; about 50 pass, the rest get 429
    // NF_CONGESTION_RISK with Retry-After.
    let mut s = TcpStream::connect(server.n5g).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET /n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED} HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    s.write_all(request.repeat(200).as_bytes()).unwrap();
    let mut reader = BufReader::new(s);
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..200 {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut len = 0;
        let mut retry = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            retry |= lower.starts_with("retry-after:");
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        match &status[9..12] {
            "200" => ok += 1,
            "429" => {
                assert!(retry, "429 without Retry-After");
                assert!(String::from_utf8_lossy(&body).contains("NF_CONGESTION_RISK"));
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    // 50 at once, and what the rate brought back meanwhile (a second would bring 50 more).
    assert!((50..150).contains(&ok), "{ok} passed, {limited} limited");
    assert_eq!(server.refused("n5g", "rate"), f64::from(limited));

    // A body larger than allowed: 413.
    let mut s = TcpStream::connect(server.n5g).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED} HTTP/1.1\r\nHost: x\r\n\
         Content-Length: 1000000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(server.refused("n5g", "body_too_large"), 1.0);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// A GET over HTTP/1.1 in cleartext, with a token: the status.
fn h1_status(addr: SocketAddr, token: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED} HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text[9..12].parse().unwrap()
}

#[test]
fn bad_tokens_are_not_checked_past_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let nrf = KeyPair::generate().unwrap();
    let keys = dir.path().join("nrf.pem");
    std::fs::write(&keys, nrf.public_key_pem()).unwrap();
    let server = Server::start(
        &index,
        &[
            "--insecure-h2c",
            "--s13",
            "off",
            "--oauth2-key",
            keys.to_str().unwrap(),
            "--rate-limit",
            "1",
            "--rate-burst",
            "5",
        ],
    );
    let good = es256(&nrf, &claims(), None);
    assert_eq!(h1_status(server.n5g, &good), 200);
    // Badly signed tokens from this address: five are checked (401), then the address gets
    // 429 without a signature check.
    let forged = es256(&KeyPair::generate().unwrap(), &claims(), None);
    let statuses: Vec<u16> = (0..10).map(|_| h1_status(server.n5g, &forged)).collect();
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    // The token accepted before still passes: its client has a rate of its own.
    assert_eq!(h1_status(server.n5g, &good), 200);
    assert_eq!(
        server.refused("n5g", "invalid_token"),
        f64::from(5 + u32::from(statuses[5] == 401))
    );
}

/// A TCP connection to `to` from the loopback address `from` (a client of its own, for the
/// per-address limits and rates), blocking.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let std = runtime().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        socket.connect(to).await.unwrap().into_std().unwrap()
    });
    std.set_nonblocking(false).unwrap();
    std.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std
}

/// Reads one HTTP/1.1 answer: its status.
fn read_status(reader: &mut BufReader<TcpStream>) -> u16 {
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    status[9..12].parse().unwrap()
}

#[test]
fn a_flooding_connection_is_held_while_another_client_is_served() {
    const RATE: u32 = 100;
    const AFTER: u32 = 20;
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let server = Server::start(
        &index,
        &[
            "--insecure-h2c",
            "--s13",
            "off",
            "--rate-limit",
            &RATE.to_string(),
            "--throttle-after",
            &AFTER.to_string(),
        ],
    );
    let addr = server.n5g;
    let request = format!(
        "GET /n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED} HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    // HTTP/1.1 from 127.0.0.1: batches of 64 pipelined requests for about 2 s, far over its
    // 100 a second; each answer's time kept.
    let flood = {
        let request = request.clone();
        std::thread::spawn(move || {
            let mut s = connect_from("127.0.0.1", addr);
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let started = Instant::now();
            let mut answers = Vec::new();
            while started.elapsed() < Duration::from_secs(2) {
                s.write_all(request.repeat(64).as_bytes()).unwrap();
                for _ in 0..64 {
                    answers.push((read_status(&mut reader), Instant::now()));
                }
            }
            (answers, started.elapsed())
        })
    };
    // A well-behaved client from 127.0.0.2 meanwhile: one request at a time, keep-alive.
    let mut good = Vec::new();
    {
        let mut s = connect_from("127.0.0.2", addr);
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) && good.len() < 100 {
            s.write_all(request.as_bytes()).unwrap();
            good.push((read_status(&mut reader), Instant::now()));
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let (flood, elapsed) = flood.join().unwrap();
    let holds = server.refused("n5g", "throttled");
    let ok = flood.iter().filter(|(s, _)| *s == 200).count() as f64;
    let limited = flood.iter().filter(|(s, _)| *s == 429).count() as f64;
    assert_eq!(ok + limited, flood.len() as f64, "only 200 and 429");
    assert!(holds >= 1.0, "never held: {ok} answered, {limited} limited");
    // Slowed: AFTER 429s more than answers before the first hold, then one 429 a hold, its
    // own (after a hold, answers take no strikes off: without that, each slice of 2
    // answers would cost 2 refusals more), and no more answers than the burst and the
    // rate allow (the flood would have had tens of thousands).
    assert!(
        limited <= f64::from(AFTER) + 1.5 * holds,
        "{limited} limited, {ok} answered, for {holds} holds"
    );
    assert!(
        ok <= f64::from(RATE) * (1.0 + elapsed.as_secs_f64()) + 1.0,
        "{ok} answered in {elapsed:?}"
    );
    assert_eq!(server.refused("n5g", "rate"), limited);
    // Served: every request of the other client answered, and many while the flood waited
    // on its holds (gaps of 10 ms or more between two of its answers).
    assert!(good.iter().all(|(s, _)| *s == 200), "{good:?}");
    let hold_gaps: Vec<_> = flood
        .windows(2)
        .filter(|w| w[1].1 - w[0].1 >= Duration::from_millis(10))
        .map(|w| (w[0].1, w[1].1))
        .collect();
    let during_holds = good
        .iter()
        .filter(|(_, t)| hold_gaps.iter().any(|(from, to)| from < t && t < to))
        .count();
    assert!(during_holds >= 5, "{during_holds} answers during holds");
    // After the first hold, the flood's answers come in small slices (20 ms of its rate:
    // 2 here), not a second's burst at each hold's end.
    let most_between_holds = hold_gaps
        .windows(2)
        .map(|g| {
            flood
                .iter()
                .filter(|(s, t)| *s == 200 && g[0].1 <= *t && *t <= g[1].0)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        hold_gaps.len() >= 2 && most_between_holds <= 10,
        "{most_between_holds} answers at once between {} holds",
        hold_gaps.len()
    );

    // HTTP/2 from 127.0.0.3: the connection is one client; 50 streams at a time.
    let before = holds;
    let (ok, limited) = runtime().block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut sender = sender.ready().await.unwrap();
        let (mut ok, mut limited) = (0u32, 0u32);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let mut pending = Vec::new();
            for _ in 0..50 {
                let request = hyper::Request::get(format!(
                    "http://{addr}/n5g-eir-eic/v1/equipment-status?pei=imei-{BLOCKED}"
                ))
                .body(())
                .unwrap();
                sender = sender.ready().await.unwrap();
                pending.push(sender.send_request(request, true).unwrap().0);
            }
            for response in pending {
                match response.await.unwrap().status().as_u16() {
                    200 => ok += 1,
                    429 => limited += 1,
                    other => panic!("{other}"),
                }
            }
        }
        (ok, limited)
    });
    let holds = server.refused("n5g", "throttled") - before;
    assert!(
        holds >= 1.0,
        "HTTP/2 never held: {ok} answered, {limited} limited"
    );
    // Before each hold, at most AFTER refusals more than answers, and the streams already
    // open when it began.
    assert!(
        f64::from(limited) <= f64::from(AFTER + 50) * (holds + 1.0) + f64::from(ok),
        "{limited} limited, {ok} answered, for {holds} holds"
    );
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn a_flooding_s13_peer_is_held() {
    const RATE: u32 = 50;
    const AFTER: u32 = 10;
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("national.imeiidx");
    publish(&index);
    let server = Server::start(
        &index,
        &[
            "--n5g",
            "off",
            "--s13-any-peer",
            "--rate-limit",
            &RATE.to_string(),
            "--throttle-after",
            &AFTER.to_string(),
        ],
    );
    let mut s = TcpStream::connect(server.s13).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&cer("mme.test.localdomain", "localdomain"))
        .unwrap();
    assert_eq!(result_code(&read_message(&mut s).unwrap()), 2001);
    // Batches of 32 ME-Identity-Checks for about 1.5 s, far over 50 a second.
    let (mut ok, mut busy) = (0u32, 0u32);
    let started = Instant::now();
    let mut id = 10;
    while started.elapsed() < Duration::from_millis(1500) {
        let batch: Vec<u8> = (id..id + 32).flat_map(|i| ecr(i).to_vec()).collect();
        id += 32;
        s.write_all(&batch).unwrap();
        for _ in 0..32 {
            match result_code(&read_message(&mut s).unwrap()) {
                2001 => ok += 1,
                3004 => busy += 1,
                other => panic!("{other}"),
            }
        }
    }
    let elapsed = started.elapsed();
    let holds = server.refused("s13", "throttled");
    assert!(holds >= 1.0, "never held: {ok} answered, {busy} busy");
    // AFTER refusals more than answers before the first hold, then one a hold.
    assert!(
        f64::from(busy) <= f64::from(AFTER) + 1.5 * holds,
        "{busy} busy, {ok} answered, for {holds} holds"
    );
    assert!(
        f64::from(ok) <= f64::from(RATE) * (1.0 + elapsed.as_secs_f64()) + 1.0,
        "{ok} answered in {elapsed:?}"
    );
    assert_eq!(server.refused("s13", "rate"), f64::from(busy));
    // Still open: a held peer is slowed, not cut off.
    std::thread::sleep(Duration::from_millis(1100));
    s.write_all(&ecr(1)).unwrap();
    assert_eq!(result_code(&read_message(&mut s).unwrap()), 2001);
}
