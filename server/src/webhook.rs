//! Delivering traceability alerts to an HTTP endpoint: each alert is POSTed as JSON, retried
//! with exponential backoff when the endpoint fails, from a bounded queue whose overflow is
//! dropped and counted (the alert stays in the journal, marked `new-sim`, either way).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use imei_index_trace::Alert;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// How alerts are delivered.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    /// Where to POST them (`http://…`).
    pub url: Uri,
    /// Alerts waiting for delivery at most; past that, new alerts are dropped and counted.
    pub queue: usize,
    /// Attempts per alert, the first included.
    pub attempts: u32,
    /// The wait before the first retry; each retry waits twice the one before.
    pub backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl WebhookOptions {
    /// Delivery to `url` with the defaults: a queue of 10,000, 6 attempts, backoff from
    /// 200 ms (200, 400, 800 ms, 1.6, 3.2 s), 5 s per attempt.
    pub fn new(url: Uri) -> WebhookOptions {
        WebhookOptions {
            url,
            queue: 10_000,
            attempts: 6,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The sending side: hand it alerts from any thread (the journal's writer does).
#[derive(Clone, Debug)]
pub struct Webhook {
    queue: mpsc::Sender<String>,
    metrics: Arc<Metrics>,
}

const DELIVERED: usize = 0;
const RETRIED: usize = 1;
const DROPPED: usize = 2;
const FAILED: usize = 3;

impl Webhook {
    /// Starts the delivery task on the current tokio runtime.
    pub fn start(
        options: WebhookOptions,
        metrics: Arc<Metrics>,
    ) -> (Webhook, tokio::task::JoinHandle<()>) {
        let (queue, alerts) = mpsc::channel(options.queue.max(1));
        let task = tokio::spawn(deliver(options, alerts, Arc::clone(&metrics)));
        (Webhook { queue, metrics }, task)
    }

    /// Queues an alert, never waiting: a full queue drops it and counts it.
    pub fn send(&self, alert: &Alert) {
        if self.queue.try_send(alert.to_json()).is_err() {
            self.metrics.webhook[DROPPED].fetch_add(1, Relaxed);
            tracing::warn!(imei = %alert.imei, "webhook: queue full, alert dropped (it is in the journal)");
        }
    }
}

async fn deliver(
    options: WebhookOptions,
    mut alerts: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    while let Some(body) = alerts.recv().await {
        let mut wait = options.backoff;
        let mut attempt = 1;
        loop {
            match post(&client, &options, &body).await {
                Ok(()) => {
                    metrics.webhook[DELIVERED].fetch_add(1, Relaxed);
                    break;
                }
                Err(e) if attempt < options.attempts => {
                    metrics.webhook[RETRIED].fetch_add(1, Relaxed);
                    tracing::info!(attempt, error = %e, retry_in_ms = wait.as_millis() as u64, "webhook: delivery failed, retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                Err(e) => {
                    metrics.webhook[FAILED].fetch_add(1, Relaxed);
                    tracing::warn!(attempts = attempt, error = %e, "webhook: delivery failed, giving up (the alert is in the journal)");
                    break;
                }
            }
        }
    }
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    options: &WebhookOptions,
    body: &str,
) -> Result<(), String> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(options.url.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(options.timeout, client.request(request))
        .await
        .map_err(|_| format!("no answer within {:?}", options.timeout))?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read the body, so that the connection can be used again.
    let _ = tokio::time::timeout(options.timeout, response.into_body().collect()).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {status}"))
    }
}
