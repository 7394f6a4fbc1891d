//! The operator's listener: `/metrics` (Prometheus text) and `/healthz`, apart from the
//! interfaces that answer the network, and without a token.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::checks::Checks;

/// Answers one request to the operator's listener.
pub fn respond<B>(checks: &Checks, request: &Request<B>) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET\n".into(),
        );
    }
    match request.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            checks
                .metrics()
                .render(checks.served(), checks.journal().map(|j| &**j)),
        ),
        "/healthz" => {
            let served = checks.served();
            match served.serial() {
                Some(serial) => {
                    let mut body = format!(
                        "ok: serving {} (serial {serial})\n",
                        served.path().display()
                    );
                    if let Some(e) = served.last_error() {
                        body.push_str(&format!("the last file published was refused: {e}\n"));
                    }
                    text(StatusCode::OK, "text/plain; charset=utf-8", body)
                }
                None => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    format!(
                        "no valid index is loaded from {}: {}\n",
                        served.path().display(),
                        served.last_error().unwrap_or_default()
                    ),
                ),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: this listener serves /metrics and /healthz\n".into(),
        ),
    }
}

/// Serves `/metrics` and `/healthz` on `listener` (HTTP/1.1) until `shutdown` completes.
pub async fn serve(listener: TcpListener, checks: Arc<Checks>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let checks = Arc::clone(&checks);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&checks, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
