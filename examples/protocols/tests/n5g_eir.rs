//! The N5g-eir example's service, over real connections: exact verdicts over HTTP/1.1 and
//! HTTP/2 (h2c prior knowledge), ProblemDetails for malformed input, the policy for unknown
//! equipment, and reloading a republished index.
//!
//! Schema conformance against 3GPP's OpenAPI file is checked by `.ci/protocols`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use imei_index::{Entry, Imei, Imsi, IndexBuilder, Rule, Status, Tac};
use serde_json::Value;

use imei_index_eir::checks::{Checks, UnknownPolicy};
use imei_index_eir::metrics::Metrics;
use imei_index_eir::n5g::{self, EQUIPMENT_STATUS_PATH, Eir};
use imei_index_eir::served::{Follower, Served};

/// The lists the tests serve, as plain data: the model the answers are computed from.
struct Lists {
    /// Exact IMEI rules.
    imeis: Vec<(Imei, Status)>,
    /// A whole TAC and its status.
    tac: (Tac, Status),
    /// A handset in that TAC allowed with one SIM only.
    pair: (Imei, Imsi, Status),
}

impl Lists {
    fn new() -> Lists {
        let tac = Tac::parse("86990000").unwrap();
        Lists {
            imeis: vec![
                (Imei::parse("354178036859789").unwrap(), Status::Blocked),
                (Imei::parse("352099001761481").unwrap(), Status::Tracked),
                (Imei::parse("490154203237518").unwrap(), Status::Allowed),
            ],
            tac: (tac, Status::Blocked),
            pair: (
                Imei::from_parts(tac, 788_050).unwrap(),
                Imsi::parse("405047013278105").unwrap(),
                Status::Allowed,
            ),
        }
    }

    fn build(&self, path: &Path) {
        let mut b = IndexBuilder::new();
        for &(imei, status) in &self.imeis {
            b.add(Rule::imei(imei, Entry::new(status)));
        }
        b.add(Rule::tac(self.tac.0, Entry::new(self.tac.1)));
        let (imei, imsi, status) = self.pair;
        b.add(Rule::pair(imei, imsi, Entry::new(status)));
        b.build_to_file(path).unwrap();
    }
}

struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
    _follower: Follower,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(index: &Path, unknown: UnknownPolicy) -> Server {
    let served = Served::open(index).unwrap();
    let follower = served.follow(Duration::from_millis(20), |_| {}).unwrap();
    let checks = Checks::new(served, unknown, Arc::new(Metrics::new()), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}{EQUIPMENT_STATUS_PATH}",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(n5g::serve(
        listener,
        Arc::new(Eir::new(Arc::new(checks))),
        std::future::pending(),
        Duration::ZERO,
    ));
    Server {
        base,
        task,
        _follower: follower,
    }
}

/// An HTTP client speaking only `version`: HTTP/2 means prior knowledge over cleartext.
struct Http {
    client: Client<HttpConnector, Empty<Bytes>>,
    version: Version,
}

impl Http {
    fn new(version: Version) -> Http {
        let mut builder = Client::builder(TokioExecutor::new());
        builder.http2_only(version == Version::HTTP_2);
        Http {
            client: builder.build_http(),
            version,
        }
    }

    /// GETs `base?query`: the status, the content type and the JSON body.
    async fn get(&self, base: &str, query: &str) -> (StatusCode, String, Value) {
        let uri = format!("{base}?{query}");
        let response = self.client.get(uri.parse().unwrap()).await.unwrap();
        assert_eq!(response.version(), self.version, "{uri}");
        let status = response.status();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{uri}: body is not JSON ({e}): {body:?}"));
        (status, content_type, json)
    }
}

fn imsi_of(imsi: Imsi) -> String {
    format!("imsi-{imsi}")
}

/// Asserts a 200 answer with the N5g-eir name of `expected`.
fn assert_status(answer: &(StatusCode, String, Value), expected: Status, what: &str) {
    assert_eq!(answer.0, StatusCode::OK, "{what}: {:?}", answer.2);
    assert_eq!(answer.1, "application/json", "{what}");
    assert_eq!(
        answer.2,
        serde_json::json!({ "status": expected.n5g_eir() }),
        "{what}"
    );
}

/// Asserts a ProblemDetails answer with `status` and `cause`.
fn assert_problem(
    answer: &(StatusCode, String, Value),
    status: StatusCode,
    cause: &str,
    what: &str,
) {
    assert_eq!(answer.0, status, "{what}: {:?}", answer.2);
    assert_eq!(answer.1, "application/problem+json", "{what}");
    assert_eq!(answer.2["cause"], cause, "{what}");
    assert_eq!(answer.2["status"], status.as_u16(), "{what}");
}

/// Asserts a 400 naming `param` as the one at fault, with a reason containing `why`.
fn assert_bad_param(answer: &(StatusCode, String, Value), cause: &str, param: &str, why: &str) {
    assert_problem(answer, StatusCode::BAD_REQUEST, cause, param);
    let params = answer.2["invalidParams"].as_array().expect("invalidParams");
    assert_eq!(params.len(), 1, "{:?}", answer.2);
    assert_eq!(params[0]["param"], param, "{:?}", answer.2);
    let reason = params[0]["reason"].as_str().unwrap();
    assert!(reason.contains(why), "reason {reason:?} should say {why:?}");
}

async fn verdicts_over(version: Version) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eir.imeiidx");
    let lists = Lists::new();
    lists.build(&path);
    let server = start(&path, UnknownPolicy::NotFound).await;
    let http = Http::new(version);
    let base = &server.base;

    // Listed handsets, as IMEI PEIs and as IMEISV PEIs of the same handset.
    for &(imei, status) in &lists.imeis {
        let answer = http.get(base, &format!("pei=imei-{imei}")).await;
        assert_status(&answer, status, &format!("imei-{imei}"));
        let sv = format!("imeisv-{:014}{:02}", imei.as_u64(), 42);
        assert_status(&http.get(base, &format!("pei={sv}")).await, status, &sv);
    }

    // A whole TAC, and the pair rule inside it: the SUPI decides.
    let (imei, imsi, pair_status) = lists.pair;
    let other_sim = Imsi::parse("405535246634252").unwrap();
    let q = format!("pei=imei-{imei}");
    assert_status(&http.get(base, &q).await, lists.tac.1, "TAC rule");
    let with_sim = format!("{q}&supi={}", imsi_of(imsi));
    assert_status(
        &http.get(base, &with_sim).await,
        pair_status,
        "pair via SUPI",
    );
    let other = format!("{q}&supi={}", imsi_of(other_sim));
    assert_status(&http.get(base, &other).await, lists.tac.1, "other SIM");
    // A GPSI is accepted and does not change the answer.
    let gpsi = format!("{with_sim}&gpsi=msisdn-919876543210");
    assert_status(&http.get(base, &gpsi).await, pair_status, "with GPSI");
    // A NAI SUPI names no IMSI: the IMEI alone decides.
    let nai = format!("{q}&supi=nai-user%40example.com");
    assert_status(&http.get(base, &nai).await, lists.tac.1, "NAI SUPI");

    // Unlisted equipment: 404 ERROR_EQUIPMENT_UNKNOWN.
    let unlisted = Imei::parse("350077523237513").unwrap();
    assert!(lists.imeis.iter().all(|&(i, _)| i != unlisted) && unlisted.tac() != lists.tac.0);
    let answer = http.get(base, &format!("pei=imei-{unlisted}")).await;
    assert_problem(
        &answer,
        StatusCode::NOT_FOUND,
        "ERROR_EQUIPMENT_UNKNOWN",
        "unlisted",
    );
    // A well-formed PEI that names no IMEI is unknown equipment, not a malformed request.
    let answer = http.get(base, "pei=mac-00-11-22-33-44-55").await;
    assert_problem(
        &answer,
        StatusCode::NOT_FOUND,
        "ERROR_EQUIPMENT_UNKNOWN",
        "MAC PEI",
    );

    // A wrong check digit is classified anyway (counterfeits carry them).
    let (listed, status) = lists.imeis[0];
    let forged = format!(
        "pei=imei-{:014}{}",
        listed.as_u64(),
        (listed.check_digit() + 1) % 10
    );
    assert_status(&http.get(base, &forged).await, status, "forged check digit");

    // Malformed requests: 400 naming the parameter and why.
    let bad = [
        (
            "pei=imei-35417803685978x",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "not a digit",
        ),
        (
            "pei=imei-35417803685978",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "14 digits",
        ),
        (
            "pei=imeisv-354178036859789",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "15 digits",
        ),
        (
            "pei=354178036859789",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "not a PEI",
        ),
        ("pei=", "MANDATORY_IE_INCORRECT", "pei", "not a PEI"),
        (
            "pei=mac-00-11-22",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "hex pairs",
        ),
        (
            "supi=imsi-405047013278105",
            "MANDATORY_IE_MISSING",
            "pei",
            "required",
        ),
        (
            "pei=imei-354178036859789&pei=imei-354178036859789",
            "MANDATORY_IE_INCORRECT",
            "pei",
            "2 times",
        ),
        (
            "pei=imei-354178036859789&supi=imsi-12",
            "OPTIONAL_IE_INCORRECT",
            "supi",
            "2 digits",
        ),
        (
            "pei=imei-354178036859789&supi=imsi-4050x7",
            "OPTIONAL_IE_INCORRECT",
            "supi",
            "'x'",
        ),
        (
            "pei=imei-354178036859789&supi=405047013278105",
            "OPTIONAL_IE_INCORRECT",
            "supi",
            "not a SUPI",
        ),
        (
            "pei=imei-354178036859789&gpsi=msisdn-12",
            "OPTIONAL_IE_INCORRECT",
            "gpsi",
            "msisdn-",
        ),
    ];
    for (query, cause, param, why) in bad {
        let answer = http.get(base, query).await;
        assert_bad_param(&answer, cause, param, why);
    }
}

#[tokio::test]
async fn verdicts_over_http1() {
    verdicts_over(Version::HTTP_11).await;
}

#[tokio::test]
async fn verdicts_over_h2c_prior_knowledge() {
    verdicts_over(Version::HTTP_2).await;
}

#[tokio::test]
async fn unknown_equipment_gets_the_configured_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eir.imeiidx");
    let lists = Lists::new();
    lists.build(&path);
    for status in Status::ALL {
        let server = start(&path, UnknownPolicy::Answer(status)).await;
        for version in [Version::HTTP_11, Version::HTTP_2] {
            let http = Http::new(version);
            let unlisted = http.get(&server.base, "pei=imei-350077523237513").await;
            assert_status(&unlisted, status, "unlisted with a default");
            // Listed equipment still gets its own status.
            let (imei, listed) = lists.imeis[0];
            let answer = http.get(&server.base, &format!("pei=imei-{imei}")).await;
            assert_status(&answer, listed, "listed with a default");
        }
    }
}

#[tokio::test]
async fn other_paths_and_methods_get_problem_details() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eir.imeiidx");
    Lists::new().build(&path);
    let server = start(&path, UnknownPolicy::NotFound).await;
    let http = Http::new(Version::HTTP_11);
    let root = server.base.trim_end_matches(EQUIPMENT_STATUS_PATH);
    let answer = http
        .get(&format!("{root}/n5g-eir-eic/v2/equipment-status"), "pei=x")
        .await;
    assert_problem(
        &answer,
        StatusCode::NOT_FOUND,
        "RESOURCE_URI_STRUCTURE_NOT_FOUND",
        "wrong path",
    );

    let request = hyper::Request::post(format!("{}?pei=imei-354178036859789", server.base))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = http.client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[hyper::header::ALLOW], "GET");
}

#[tokio::test]
async fn a_republished_index_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eir.imeiidx");
    let mut lists = Lists::new();
    lists.build(&path);
    let server = start(&path, UnknownPolicy::NotFound).await;
    let http = Http::new(Version::HTTP_2);
    let newly_stolen = Imei::parse("350077523237513").unwrap();
    let query = format!("pei=imei-{newly_stolen}");
    let before = http.get(&server.base, &query).await;
    assert_problem(
        &before,
        StatusCode::NOT_FOUND,
        "ERROR_EQUIPMENT_UNKNOWN",
        "before",
    );

    // Publish a new list (written beside, renamed over) and wait for the server to see it.
    lists.imeis.push((newly_stolen, Status::Blocked));
    lists.build(&path);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = http.get(&server.base, &query).await;
        if answer.0 == StatusCode::OK {
            assert_status(&answer, Status::Blocked, "after republishing");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the republished index was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A damaged file at the path is refused and the last good index keeps answering.
    let temp = dir.path().join("damaged.tmp");
    std::fs::write(&temp, b"not an index").unwrap();
    std::fs::rename(&temp, &path).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_status(
        &http.get(&server.base, &query).await,
        Status::Blocked,
        "after damage",
    );
}

/// The README's N5g-eir examples: every `curl` line of its N5g-eir section, against the
/// demo's index (the same seeded list `imei-index demo` builds), must answer what the
/// `#` lines after it show: the status line and content type with `-i`, and the JSON body.
#[tokio::test]
async fn the_readme_examples_answer_as_shown() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("### N5g-eir over HTTP/1.1 and HTTP/2")
        .nth(1)
        .expect("the README has an N5g-eir section");
    let block = section
        .split("```sh\nU=")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the N5g-eir section has a block of curl examples");

    // The demo's list: `imei-index demo` builds it from the same generator and seed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("national.imeiidx");
    let list = imei_index::synth::NationalList::generate(2024);
    let mut b = IndexBuilder::new();
    b.serial(20240521);
    for rule in &list.rules {
        b.add(rule.clone());
    }
    b.build_to_file(&path).unwrap();
    let server = start(&path, UnknownPolicy::NotFound).await;

    let lines: Vec<&str> = block.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(args) = line.strip_prefix("curl ") else {
            continue;
        };
        let shown: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with("# "))
            .map(|l| &l[2..])
            .collect();
        let query = args
            .split("\"$U?")
            .nth(1)
            .and_then(|q| q.split('"').next())
            .unwrap_or_else(|| panic!("README: {line}: no \"$U?…\" query"));
        let version = if args.contains("--http2-prior-knowledge") {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        let (status, content_type, body) = Http::new(version).get(&server.base, query).await;
        let mut shown_body = shown.as_slice();
        if args.contains(" -i ") {
            let (head, rest) = shown.split_at(2);
            let expected_status = format!(
                "HTTP/1.1 {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap()
            );
            assert_eq!(head[0], expected_status, "README: {line}");
            assert_eq!(
                head[1],
                format!("content-type: {content_type}"),
                "README: {line}"
            );
            shown_body = rest;
        }
        let shown_json: Value = serde_json::from_str(&shown_body.concat())
            .unwrap_or_else(|e| panic!("README: {line}: the shown answer is not JSON: {e}"));
        assert_eq!(
            body, shown_json,
            "README: {line}: the server answers otherwise"
        );
        checked += 1;
    }
    assert!(
        checked >= 7,
        "only {checked} curl examples found in the README"
    );
}
