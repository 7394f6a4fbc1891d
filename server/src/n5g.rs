//! The N5g-eir Equipment Identity Check service (3GPP TS 29.511), independent of how it is
//! started: the server and the `n5g_eir` example serve it, tests drive it directly.
//!
//! One operation: `GET {apiRoot}/n5g-eir-eic/v1/equipment-status?pei=…[&supi=…][&gpsi=…]`.
//! Identifier formats are those of TS 29.571 (`Pei`, `Supi`, `Gpsi`); causes are those of
//! TS 29.500 Table 5.2.7.2-1 and TS 29.511 Table 6.1.7.3-1.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{
    ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use imei_index::{Imei, Imsi, Status};
use imei_index_trace::Msisdn;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::checks::Checks;
use crate::config::LimitSettings;
use crate::limits::{Crowded, Guard, HeldIo, Hold, Pace, RateLimit};
use crate::metrics::{Interface, Refusal};
use crate::oauth2::{Denied, OAuth2, SCOPE};

/// The one resource of the API.
pub const EQUIPMENT_STATUS_PATH: &str = "/n5g-eir-eic/v1/equipment-status";

/// The service: the shared check path, which holds the index and the policy for unknown
/// equipment.
#[derive(Debug)]
pub struct Eir {
    checks: Arc<Checks>,
    oauth2: Option<Arc<OAuth2>>,
    rate: Option<Arc<RateLimit>>,
    max_body: u64,
}

impl Eir {
    /// A service answering through `checks`, to anyone, as often as asked (see
    /// [`Eir::with_oauth2`] and [`Eir::with_rate_limit`]).
    pub fn new(checks: Arc<Checks>) -> Eir {
        Eir {
            checks,
            oauth2: None,
            rate: None,
            max_body: LimitSettings::default().max_body_bytes,
        }
    }

    /// Requires an access token that `oauth2` accepts.
    #[must_use]
    pub fn with_oauth2(mut self, oauth2: Arc<OAuth2>) -> Eir {
        self.oauth2 = Some(oauth2);
        self
    }

    /// Limits each client (the token's, else the source address) to `rate`.
    #[must_use]
    pub fn with_rate_limit(mut self, rate: Option<Arc<RateLimit>>) -> Eir {
        self.rate = rate;
        self
    }

    /// Refuses request bodies over `bytes` (413).
    #[must_use]
    pub fn with_max_body(mut self, bytes: u64) -> Eir {
        self.max_body = bytes;
        self
    }

    /// Answers a request from `from`: its size, its token and its client's rate first,
    /// then [`Eir::respond`].
    pub fn handle<B: Body>(&self, request: &Request<B>, from: IpAddr) -> Response<Full<Bytes>> {
        match self.admit(request, from) {
            Admission::Go => self.respond(request),
            Admission::Rate(_) => self.too_many(),
            Admission::Answer(response) => response,
        }
    }

    /// [`Eir::handle`] on a connection that `pace` holds when it keeps asking over its
    /// client's rate: the answer, and when it may be sent if it must wait (the hold's end).
    pub fn handle_paced<B: Body>(
        &self,
        request: &Request<B>,
        from: IpAddr,
        pace: &Pace,
    ) -> (Response<Full<Bytes>>, Option<Instant>) {
        match self.admit(request, from) {
            Admission::Go => {
                pace.allowed();
                (self.respond(request), None)
            }
            Admission::Rate(client) => {
                let hold = pace.refused(|| {
                    self.rate
                        .as_ref()
                        .map_or(Duration::ZERO, |r| r.hold_time(&client))
                });
                if let Hold::Started(_) = hold {
                    self.checks
                        .metrics()
                        .refused(Interface::N5g, Refusal::Throttled);
                }
                (self.too_many(), hold.until())
            }
            Admission::Answer(response) => {
                pace.allowed();
                (response, None)
            }
        }
    }

    /// Whether a request from `from` may be answered: its size, its token, its client's rate.
    fn admit<B: Body>(&self, request: &Request<B>, from: IpAddr) -> Admission {
        let metrics = self.checks.metrics();
        // The one operation is a GET: a body is never read, and a large one announced is
        // refused before anything else is done for it.
        if request.body().size_hint().lower() > self.max_body {
            metrics.refused(Interface::N5g, Refusal::BodyTooLarge);
            return Admission::Answer(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                "",
                format!(
                    "this EIR takes request bodies of at most {} bytes (the check is a GET)",
                    self.max_body
                ),
                Vec::new(),
            ));
        }
        let mut client = None;
        if let Some(oauth2) = &self.oauth2 {
            let authorization = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
            let outcome = match oauth2.remembered(authorization) {
                Some(c) => Ok(c),
                None => {
                    // A signature to check costs more than an answer: an address whose
                    // failed checks are over the rate gets no more of them for a while
                    // (tokens accepted before, above, still pass).
                    let failures = format!("failures:{}", from.to_canonical());
                    if let Some(rate) = &self.rate
                        && !rate.has_room(&failures)
                    {
                        return Admission::Rate(failures);
                    }
                    let outcome = oauth2.authorize(authorization);
                    if let (Err(_), Some(rate)) = (&outcome, &self.rate) {
                        rate.allow(&failures);
                    }
                    outcome
                }
            };
            match outcome {
                Ok(c) => client = c.map(|c| format!("client:{c}")),
                Err(denied) => return Admission::Answer(self.denied(denied)),
            }
        }
        if let Some(rate) = &self.rate {
            let key = client.unwrap_or_else(|| format!("address:{}", from.to_canonical()));
            if !rate.allow(&key) {
                return Admission::Rate(key);
            }
        }
        Admission::Go
    }

    /// 429, counted. A flood is answered with many of these: the body is made once.
    fn too_many(&self) -> Response<Full<Bytes>> {
        self.checks.metrics().refused(Interface::N5g, Refusal::Rate);
        let mut response = Response::new(Full::new(Bytes::from_static(TOO_MANY_BODY.as_bytes())));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    fn denied(&self, denied: Denied) -> Response<Full<Bytes>> {
        let (status, error, detail, why) = match denied {
            Denied::InvalidToken(d) => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                d,
                Refusal::InvalidToken,
            ),
            Denied::InsufficientScope(d) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                d,
                Refusal::InsufficientScope,
            ),
        };
        self.checks.metrics().refused(Interface::N5g, why);
        let title = if status == StatusCode::UNAUTHORIZED {
            "Unauthorized"
        } else {
            "Forbidden"
        };
        let mut response = problem(status, title, "", detail, Vec::new());
        // RFC 6750 §3. The detail stays in the body: a header value cannot hold any text.
        let challenge = format!("Bearer error=\"{error}\", scope=\"{SCOPE}\"");
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        response
    }

    /// The check path.
    pub fn checks(&self) -> &Arc<Checks> {
        &self.checks
    }

    /// Answers one request, counting how long it took.
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let response = self.route(request);
        self.checks
            .metrics()
            .latency(Interface::N5g, started.elapsed());
        response
    }

    fn route<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.uri().path() != EQUIPMENT_STATUS_PATH {
            return problem(
                StatusCode::NOT_FOUND,
                "Resource not found",
                "RESOURCE_URI_STRUCTURE_NOT_FOUND",
                format!(
                    "{} is not a resource of this API: the only one is {EQUIPMENT_STATUS_PATH}",
                    request.uri().path()
                ),
                Vec::new(),
            );
        }
        if request.method() != Method::GET {
            let mut response = problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "METHOD_NOT_ALLOWED",
                format!(
                    "{} is not supported on {EQUIPMENT_STATUS_PATH}: use GET",
                    request.method()
                ),
                Vec::new(),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        match Query::parse(request.uri().query().unwrap_or("")) {
            Ok(query) => self.answer(&query),
            Err(bad) => {
                self.checks.metrics().invalid(Interface::N5g);
                bad.into_response()
            }
        }
    }

    fn answer(&self, query: &Query) -> Response<Full<Bytes>> {
        let answer = match query.pei {
            Pei::Imei(imei) => {
                self.checks
                    .check(Interface::N5g, imei, query.imsi.as_ref(), query.msisdn)
            }
            Pei::NotAnImei => self.checks.not_an_imei(Interface::N5g),
        };
        let Some(answer) = answer else {
            // TS 29.500: 500 SYSTEM_FAILURE, "a generic error condition in the NF".
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No index loaded",
                "SYSTEM_FAILURE",
                "this EIR has no valid index loaded yet: it cannot check equipment".to_string(),
                Vec::new(),
            );
        };
        match answer.status {
            Some(status) => json_response(StatusCode::OK, "application/json", &status_body(status)),
            None => problem(
                StatusCode::NOT_FOUND,
                "Equipment unknown",
                "ERROR_EQUIPMENT_UNKNOWN",
                "no list names this equipment".to_string(),
                Vec::new(),
            ),
        }
    }
}

/// Whether a request is answered.
enum Admission {
    /// Yes.
    Go,
    /// No: over its client's rate (the client's bucket): 429.
    Rate(String),
    /// No, for another reason: this instead.
    Answer(Response<Full<Bytes>>),
}

/// The 429's body (TS 29.500 Table 5.2.7.2-1: NF_CONGESTION_RISK), as [`problem`] writes it.
const TOO_MANY_BODY: &str = r#"{"cause":"NF_CONGESTION_RISK","detail":"this client is over its request rate: slow down","status":429,"title":"Too many requests"}"#;

/// The 200 body: `EirResponseData`.
fn status_body(status: Status) -> Value {
    json!({ "status": status.n5g_eir() })
}

/// What a request asks about, once its parameters are valid.
#[derive(Debug)]
struct Query {
    pei: Pei,
    /// The SUPI when it is an IMSI: pair rules need it. NAI and other SUPIs name no SIM
    /// that IMEI lists can pair with, so they are accepted and not used.
    imsi: Option<Imsi>,
    /// The GPSI when it is an MSISDN, for the journal; `extid-…` GPSIs name no number.
    msisdn: Option<Msisdn>,
}

/// A PEI (TS 29.571 `Pei`).
#[derive(Debug)]
enum Pei {
    /// `imei-…` or `imeisv-…`.
    Imei(Imei),
    /// A well-formed `mac-…` or `eui-…` PEI: equipment that no IMEI list can name.
    NotAnImei,
}

/// A request the service refuses: 400 with the parameters at fault.
#[derive(Debug)]
struct BadRequest {
    cause: &'static str,
    params: Vec<(&'static str, String)>,
}

impl BadRequest {
    fn into_response(self) -> Response<Full<Bytes>> {
        let detail = self
            .params
            .iter()
            .map(|(p, r)| format!("{p}: {r}"))
            .collect::<Vec<_>>()
            .join("; ");
        problem(
            StatusCode::BAD_REQUEST,
            "Malformed request",
            self.cause,
            detail,
            self.params,
        )
    }
}

impl Query {
    fn parse(query: &str) -> Result<Query, BadRequest> {
        let mut pei = Vec::new();
        let mut supi = Vec::new();
        let mut gpsi = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "pei" => pei.push(value.into_owned()),
                "supi" => supi.push(value.into_owned()),
                "gpsi" => gpsi.push(value.into_owned()),
                // TS 29.500 §5.2.7: unknown query parameters are not an error.
                _ => {}
            }
        }
        let pei = match pei.as_slice() {
            [] => {
                return Err(BadRequest {
                    cause: "MANDATORY_IE_MISSING",
                    params: vec![(
                        "pei",
                        "the query parameter pei is required: the PEI of the UE, for example \
                         imei-<15 digits>"
                            .to_string(),
                    )],
                });
            }
            [one] => parse_pei(one).map_err(|reason| BadRequest {
                cause: "MANDATORY_IE_INCORRECT",
                params: vec![("pei", reason)],
            })?,
            many => {
                return Err(BadRequest {
                    cause: "MANDATORY_IE_INCORRECT",
                    params: vec![("pei", repeated(many.len()))],
                });
            }
        };
        let mut params = Vec::new();
        let imsi = match supi.as_slice() {
            [] => None,
            [one] => parse_supi(one).unwrap_or_else(|reason| {
                params.push(("supi", reason));
                None
            }),
            many => {
                params.push(("supi", repeated(many.len())));
                None
            }
        };
        let msisdn = match gpsi.as_slice() {
            [] => None,
            [one] => parse_gpsi(one).unwrap_or_else(|reason| {
                params.push(("gpsi", reason));
                None
            }),
            many => {
                params.push(("gpsi", repeated(many.len())));
                None
            }
        };
        if !params.is_empty() {
            return Err(BadRequest {
                cause: "OPTIONAL_IE_INCORRECT",
                params,
            });
        }
        Ok(Query { pei, imsi, msisdn })
    }
}

fn repeated(n: usize) -> String {
    format!("the parameter is given {n} times: give it once")
}

/// Describes the first character of `body` that is not a digit, counting positions in the
/// whole parameter value (so after `prefix`).
fn check_digits(prefix: &str, body: &str, expected: usize, what: &str) -> Result<(), String> {
    if let Some((i, ch)) = body.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(format!(
            "character {ch:?} at position {} is not a digit: {prefix} must be followed by \
             {expected} digits ({what})",
            prefix.chars().count() + i + 1
        ));
    }
    if body.len() != expected {
        return Err(format!(
            "{prefix} is followed by {} digits: expected {expected} ({what})",
            body.len()
        ));
    }
    Ok(())
}

/// Parses a PEI: `imei-<15 digits>`, `imeisv-<16 digits>`, `mac-<6 hex pairs>[-untrusted]`
/// or `eui-<8 hex pairs>` (TS 29.571 §5.3.2).
fn parse_pei(pei: &str) -> Result<Pei, String> {
    let imei = if let Some(body) = pei.strip_prefix("imei-") {
        check_digits("imei-", body, 15, "TAC, serial number and check digit")?;
        pei
    } else if let Some(body) = pei.strip_prefix("imeisv-") {
        check_digits(
            "imeisv-",
            body,
            16,
            "TAC, serial number and software version",
        )?;
        pei
    } else if let Some(body) = pei.strip_prefix("mac-") {
        let body = body.strip_suffix("-untrusted").unwrap_or(body);
        return hex_pairs(body, 6).then_some(Pei::NotAnImei).ok_or_else(|| {
            format!("{pei:?} is not mac- followed by 6 hex pairs such as mac-00-11-22-33-44-55")
        });
    } else if let Some(body) = pei.strip_prefix("eui-") {
        return hex_pairs(body, 8).then_some(Pei::NotAnImei).ok_or_else(|| {
            format!(
                "{pei:?} is not eui- followed by 8 hex pairs such as eui-00-11-22-33-44-55-66-77"
            )
        });
    } else {
        return Err(format!(
            "{pei:?} is not a PEI: expected imei-<15 digits>, imeisv-<16 digits>, \
             mac-<6 hex pairs> or eui-<8 hex pairs>"
        ));
    };
    // A wrong check digit is classified, not refused: counterfeit handsets carry them, and
    // regulators want those handsets found in the lists (TS 23.003 leaves the digit out of
    // checks altogether).
    Imei::parse_lenient(imei)
        .map(|parsed| Pei::Imei(parsed.imei))
        .map_err(|e| e.to_string())
}

/// Whether `s` is `n` hex pairs separated by hyphens.
fn hex_pairs(s: &str, n: usize) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == n
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a SUPI: `imsi-<5 to 15 digits>` gives an IMSI; `nai-…` (and the wireline
/// `gci-…`/`gli-…` forms) are valid SUPIs that name no IMSI.
fn parse_supi(supi: &str) -> Result<Option<Imsi>, String> {
    if let Some(body) = supi.strip_prefix("imsi-") {
        if let Some((i, ch)) = body.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(format!(
                "character {ch:?} at position {} is not a digit: imsi- must be followed by \
                 5 to 15 digits",
                i + 6
            ));
        }
        return Imsi::parse(supi).map(Some).map_err(|e| e.to_string());
    }
    for prefix in ["nai-", "gci-", "gli-"] {
        if supi
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty())
        {
            return Ok(None);
        }
    }
    Err(format!(
        "{supi:?} is not a SUPI: expected imsi-<5 to 15 digits> or nai-<network access identifier>"
    ))
}

/// Parses a GPSI: `msisdn-<5 to 15 digits>` gives a number; `extid-<local>@<domain>` is
/// a valid GPSI that names none.
fn parse_gpsi(gpsi: &str) -> Result<Option<Msisdn>, String> {
    if let Some(body) = gpsi.strip_prefix("msisdn-") {
        if (5..=15).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit()) {
            return Msisdn::parse(body).map(Some).map_err(|e| e.to_string());
        }
        return Err(format!(
            "{gpsi:?} is not msisdn- followed by 5 to 15 digits"
        ));
    }
    if let Some(body) = gpsi.strip_prefix("extid-") {
        let mut parts = body.split('@');
        if let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next())
            && !local.is_empty()
            && !domain.is_empty()
        {
            return Ok(None);
        }
        return Err(format!(
            "{gpsi:?} is not extid- followed by <local>@<domain>"
        ));
    }
    Err(format!(
        "{gpsi:?} is not a GPSI: expected msisdn-<5 to 15 digits> or extid-<local>@<domain>"
    ))
}

/// A `ProblemDetails` response (TS 29.571 §5.2.4.1, `application/problem+json`).
fn problem(
    status: StatusCode,
    title: &str,
    cause: &str,
    detail: String,
    params: Vec<(&'static str, String)>,
) -> Response<Full<Bytes>> {
    let mut body = json!({
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    // Refusals that TS 29.500 names no cause for (401, 403, 413) carry none.
    if !cause.is_empty() {
        body["cause"] = json!(cause);
    }
    if !params.is_empty() {
        body["invalidParams"] = params
            .into_iter()
            .map(|(param, reason)| json!({ "param": param, "reason": reason }))
            .collect();
    }
    json_response(status, "application/problem+json", &body)
}

fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: &Value,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves `eir` on `listener` until `shutdown` completes, then stops accepting and lets the
/// connections open finish what they are answering (HTTP/2 connections are sent GOAWAY),
/// for at most `drain`: HTTP/1.1 and, on the same port, HTTP/2 over cleartext with prior
/// knowledge (h2c), with the default limits ([`serve_guarded`] chooses TLS and limits).
pub async fn serve(
    listener: TcpListener,
    eir: Arc<Eir>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let guard = Guard::cleartext(LimitSettings::default());
    serve_guarded(listener, eir, guard, shutdown, drain).await;
}

/// [`serve`], over TLS when `guard` has it (ALPN h2 and http/1.1), within `guard`'s limits:
/// connections past the limits are closed at once; a TLS handshake, the first bytes of a
/// cleartext connection and every request's headers must arrive within the header timeout
/// (slowloris); HTTP/2 connections carry at most `max_streams` streams at once.
pub async fn serve_guarded(
    listener: TcpListener,
    eir: Arc<Eir>,
    guard: Guard,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(guard.limits.header_timeout)
        // Request heads larger than this are refused (431): a check's is a few hundred
        // bytes, and a token a few more.
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(guard.limits.max_streams)
        .max_header_list_size(64 * 1024)
        // Pings find peers gone without a word, whose connections would hold their places.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "n5g-eir: could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let metrics = Arc::clone(eir.checks().metrics());
        let admitted = match guard.connections.admit(peer.ip()) {
            Ok(a) => a,
            Err(crowded) => {
                metrics.refused(
                    Interface::N5g,
                    match crowded {
                        Crowded::Total => Refusal::ConnectionsTotal,
                        Crowded::PerAddress => Refusal::ConnectionsPerAddress,
                    },
                );
                tracing::debug!(%peer, ?crowded, "n5g-eir: too many connections, closing");
                continue;
            }
        };
        // Answers are small writes: with Nagle's algorithm on, one that follows an
        // unacknowledged one waits for the peer's delayed ACK (40 ms on Linux), which was
        // the worst-case latency under load.
        let _ = stream.set_nodelay(true);
        let eir = Arc::clone(&eir);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = guard.tls.clone();
        let timeout = guard.limits.header_timeout;
        let pace = Arc::new(Pace::new(guard.limits.throttle_after));
        tokio::spawn(async move {
            let _admitted = admitted;
            let _open = metrics.http_connection();
            match tls {
                Some(config) => {
                    let acceptor = TlsAcceptor::from(config.current());
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            connection(tls, peer, eir, &builder, watcher, pace).await;
                        }
                        Ok(Err(e)) => {
                            metrics.refused(Interface::N5g, Refusal::TlsHandshake);
                            tracing::debug!(%peer, error = %e, "n5g-eir: TLS handshake failed");
                        }
                        Err(_) => {
                            metrics.refused(Interface::N5g, Refusal::TlsHandshake);
                            tracing::debug!(%peer, "n5g-eir: TLS handshake too slow, closing");
                        }
                    }
                }
                None => {
                    // The first bytes must come in time too: HTTP/2's preface is read
                    // before any header timeout runs.
                    if !first_bytes(&stream, timeout).await {
                        metrics.refused(Interface::N5g, Refusal::Timeout);
                        return;
                    }
                    connection(stream, peer, eir, &builder, watcher, pace).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("n5g-eir: connections still open after the drain time, closing them");
    }
}

/// Whether `stream` has something to read within `timeout`.
async fn first_bytes(stream: &TcpStream, timeout: Duration) -> bool {
    let mut one = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, stream.peek(&mut one)).await,
        Ok(Ok(n)) if n > 0
    )
}

/// Serves one connection, TLS or not, held by `pace` when it keeps asking over its rate:
/// a held answer waits for the hold's end and nothing is read meanwhile (HTTP/1.1 reads the
/// next request after the answer anyway; HTTP/2's streams all wait, as one client's).
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    eir: Arc<Eir>,
    builder: &auto::Builder<TokioExecutor>,
    watcher: Watcher,
    pace: Arc<Pace>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let metrics = Arc::clone(eir.checks().metrics());
    let io = HeldIo::new(io, Arc::clone(&pace));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (response, hold) = eir.handle_paced(&request, peer.ip(), &pace);
        async move {
            if let Some(until) = hold {
                tokio::time::sleep_until(until.into()).await;
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(connection).await {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            metrics.refused(Interface::N5g, Refusal::Timeout);
            tracing::debug!(%peer, "n5g-eir: request headers too slow, closing");
        } else {
            tracing::debug!(%peer, error = %e, "n5g-eir: connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prebuilt_429_is_the_problem_it_stands_for() {
        let built = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "NF_CONGESTION_RISK",
            "this client is over its request rate: slow down".to_string(),
            Vec::new(),
        );
        let body: Value = serde_json::from_str(TOO_MANY_BODY).unwrap();
        let expected: Value = serde_json::from_slice(&futures_body(built.into_body())).unwrap();
        assert_eq!(body, expected);
    }

    fn futures_body(body: Full<Bytes>) -> Bytes {
        use http_body_util::BodyExt;
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(body.collect())
            .unwrap()
            .to_bytes()
    }
}
