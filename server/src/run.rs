//! The whole server: listeners, the index follower, the journal and the webhook, and the
//! graceful shutdown on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use imei_index::s13::Identity;
use imei_index_trace::{Journal, JournalOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::checks::Checks;
use crate::config::{Listen, Resolved};
use crate::limits::{ConnectionLimits, Guard, RateLimit};
use crate::metrics::Metrics;
use crate::oauth2::OAuth2;
use crate::s13::S13;
use crate::served::{IndexEvent, Served};
use crate::webhook::{Webhook, WebhookOptions};
use crate::{admin, n5g, s13, tls};

/// Binds a listener, or says which one could not be.
async fn bind(what: &str, listen: Listen) -> Result<Option<TcpListener>, String> {
    match listen {
        Listen::Off => Ok(None),
        Listen::Cleartext(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| format!("could not listen for {what} on {addr}: {e}")),
    }
}

fn local(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}

/// Waits for SIGTERM or SIGINT.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the server until SIGTERM or SIGINT, then shuts it down: the listeners stop
/// accepting, every S13 peer is sent a Disconnect-Peer-Request, HTTP connections finish
/// what they are answering (for at most the drain time), and the journal is flushed.
///
/// # Errors
///
/// What kept it from starting: a listener that cannot be bound, a journal that cannot be
/// opened, a key file, certificate or OAuth2 key that cannot be read. (An index that cannot be opened is not one:
/// the server starts, answers that it cannot check, and fails its health check until a
/// valid index is published.)
pub async fn run(settings: Resolved) -> Result<(), String> {
    let metrics = Arc::new(Metrics::new());
    // Certificates and keys first: a server that cannot protect itself does not start.
    let n5g_tls = match &settings.tls {
        Some(files) if settings.n5g != Listen::Off => Some(tls::Tls::load(files, tls::ALPN_HTTP)?),
        _ => None,
    };
    let s13_tls = match &settings.tls {
        Some(files) if settings.s13_tls && settings.s13 != Listen::Off => {
            Some(tls::Tls::load(files, &[])?)
        }
        _ => None,
    };
    let oauth2 = if settings.oauth2_keys.is_empty() {
        None
    } else {
        let o = OAuth2::load(&settings.oauth2_keys, settings.nf_instance_id.as_deref())?;
        tracing::info!(
            keys = o.key_count(),
            "n5g-eir: OAuth2 access tokens required"
        );
        Some(Arc::new(o))
    };
    let guard = |tls| Guard {
        tls,
        connections: ConnectionLimits::new(
            settings.limits.max_connections,
            settings.limits.max_connections_per_address,
        ),
        limits: settings.limits,
    };
    let (served, error) = Served::open_or_wait_with(&settings.index, settings.tac_policy);
    if let Some(p) = settings.tac_policy {
        tracing::info!(policy = %p, "TAC policy on: IMEIs that no rule decides are checked against the index's TAC database");
    }
    match (&error, served.serial()) {
        (Some(e), _) => tracing::error!(index = %settings.index.display(), error = %e,
            "no valid index yet: answering that checks cannot be made until one is published"),
        (None, Some(serial)) => {
            tracing::info!(index = %settings.index.display(), serial, "index loaded")
        }
        (None, None) => {}
    }
    let follower = served
        .follow(settings.reload_interval, |event| match event {
            IndexEvent::Loaded { serial, rules } => tracing::info!(serial, rules, "index loaded"),
            IndexEvent::Reloaded(r) => tracing::info!(
                old_serial = r.old.serial,
                new_serial = r.new.serial,
                rules = r.new.rules,
                "index reloaded"
            ),
            IndexEvent::Refused(e) => {
                tracing::error!(error = %e, "published file refused: the index served stays");
            }
        })
        .map_err(|e| format!("could not start the index follower: {e}"))?;

    let n5g_listener = bind("N5g-eir", settings.n5g).await?;
    let s13_listener = bind("S13", settings.s13).await?;
    let admin_listener = bind("metrics", settings.metrics).await?;

    let webhook = match &settings.webhook {
        Some(url) => {
            let (hook, _task) =
                Webhook::start(WebhookOptions::new(url.clone()), Arc::clone(&metrics));
            Some(hook)
        }
        None => None,
    };
    let journal = match &settings.journal {
        None => None,
        Some(dir) => {
            let mut options = JournalOptions::new()
                .policy(settings.journal_policy)
                .retention_days(Some(settings.journal_retention_days))
                .flush_interval(settings.journal_flush)
                .queue_capacity(settings.journal_queue);
            if let Some(path) = &settings.journal_key_file {
                let key = std::fs::read(path).map_err(|e| {
                    format!("could not read the journal key {}: {e}", path.display())
                })?;
                if key.is_empty() {
                    return Err(format!("the journal key {} is empty", path.display()));
                }
                options = options.key(key);
            }
            let hook = webhook.clone();
            options = options.on_alert(move |alert| {
                tracing::warn!(
                    imei = %alert.imei,
                    status = alert.verdict.status().map_or("unknown", |s| s.as_str()),
                    "traceability alert: a listed handset with a SIM new to it today"
                );
                if let Some(hook) = &hook {
                    hook.send(alert);
                }
            });
            let journal = Journal::open(dir, options).map_err(|e| e.to_string())?;
            tracing::info!(dir = %dir.display(), policy = %settings.journal_policy, "journal open");
            Some(Arc::new(journal))
        }
    };

    let checks = Arc::new(Checks::new(
        Arc::clone(&served),
        settings.unknown,
        Arc::clone(&metrics),
        journal.clone(),
    ));
    let (stop, stopped) = watch::channel(false);
    let shutdown = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(l) = admin_listener {
        tracing::info!(addr = ?local(&l), "metrics: /metrics and /healthz");
        tasks.spawn(admin::serve(
            l,
            Arc::clone(&checks),
            shutdown(stopped.clone()),
        ));
    }
    let tls_configs: Vec<Arc<tls::Tls>> = n5g_tls.iter().chain(&s13_tls).cloned().collect();
    if oauth2.is_some() || !tls_configs.is_empty() {
        // Key rotation and certificate renewal without a restart: the files are looked at as
        // often as the index is.
        let (oauth2, metrics) = (oauth2.clone(), Arc::clone(&metrics));
        let (interval, mut stopped) = (settings.reload_interval, stopped.clone());
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stopped.wait_for(|s| *s) => return,
                }
                let (o, t) = (oauth2.clone(), tls_configs.clone());
                let looked = tokio::task::spawn_blocking(move || {
                    let keys = o.as_ref().map(|o| o.reload_if_changed());
                    let certs: Vec<_> = t.iter().map(|t| t.reload_if_changed()).collect();
                    (keys, certs)
                })
                .await;
                let Ok((keys, certs)) = looked else { continue };
                match keys {
                    Some(Ok(true)) => {
                        metrics.oauth2_reload(true);
                        tracing::info!(keys = oauth2.as_ref().map_or(0, |o| o.key_count()),
                            "n5g-eir: OAuth2 keys reloaded");
                    }
                    Some(Err(e)) => {
                        metrics.oauth2_reload(false);
                        tracing::error!(error = %e, "n5g-eir: OAuth2 keys not reloaded: the keys in use stay");
                    }
                    _ => {}
                }
                for reloaded in certs {
                    match reloaded {
                        Ok(true) => {
                            metrics.tls_reload(true);
                            tracing::info!("TLS certificate reloaded: new connections use it");
                        }
                        Ok(false) => {}
                        Err(e) => {
                            metrics.tls_reload(false);
                            tracing::error!(error = %e, "TLS certificate not reloaded: the one in use stays");
                        }
                    }
                }
            }
        });
    }
    if let Some(l) = n5g_listener {
        let transport = match (&n5g_tls, &settings.tls) {
            (Some(_), Some(files)) if files.client_ca.is_some() => "TLS with client certificates",
            (Some(_), _) => "TLS (h2, http/1.1)",
            (None, _) => "cleartext HTTP/1.1 and h2c (--insecure-h2c)",
        };
        tracing::info!(addr = ?local(&l), path = n5g::EQUIPMENT_STATUS_PATH, transport,
            tokens = oauth2.is_some(), "n5g-eir");
        if oauth2.is_none() {
            tracing::warn!(
                "n5g-eir: no --oauth2-key: any client that reaches the port may check (docs/security.md)"
            );
        }
        let mut eir = n5g::Eir::new(Arc::clone(&checks))
            .with_rate_limit(RateLimit::new(settings.limits.rate, settings.limits.burst))
            .with_max_body(settings.limits.max_body_bytes);
        if let Some(o) = &oauth2 {
            eir = eir.with_oauth2(Arc::clone(o));
        }
        tasks.spawn(n5g::serve_guarded(
            l,
            Arc::new(eir),
            guard(n5g_tls),
            shutdown(stopped.clone()),
            settings.drain,
        ));
    }
    if let Some(l) = s13_listener {
        let local = l.local_addr().map_err(|e| e.to_string())?;
        let mut me = Identity::new(&settings.origin_host, &settings.origin_realm, local.ip());
        // Origin-State-Id changes with every start (RFC 6733 §8.16).
        me.origin_state_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as u32);
        tracing::info!(addr = %local, origin_host = %me.origin_host, origin_realm = %me.origin_realm,
            tls = s13_tls.is_some(),
            peers = settings.peers.as_ref().map_or("any (--s13-any-peer)".to_string(), |p| p.len().to_string()),
            "s13: Diameter");
        let shared = Arc::new(S13 {
            me,
            checks: Arc::clone(&checks),
            watchdog: settings.watchdog,
            verbose: settings.verbose,
            peers: settings.peers.clone(),
            rate: RateLimit::new(settings.limits.rate, settings.limits.burst),
            cer_timeout: settings.limits.header_timeout,
        });
        tasks.spawn(s13::serve_guarded(
            l,
            shared,
            guard(s13_tls),
            stopped.clone(),
            settings.drain,
        ));
    }

    terminated().await;
    tracing::info!("stopping: disconnecting S13 peers, draining HTTP, flushing the journal");
    let _ = stop.send(true);
    let margin = settings.drain + std::time::Duration::from_secs(1);
    let _ =
        tokio::time::timeout(margin, async { while tasks.join_next().await.is_some() {} }).await;
    drop(checks);
    follower.stop();
    if let Some(journal) = journal {
        // The last reference closes it (flushing, and joining its writer); a connection
        // that outlived the drain time may hold another, and then a flush must do.
        let closed = tokio::task::spawn_blocking(move || match Arc::try_unwrap(journal) {
            Ok(j) => j.close().map_err(|e| e.to_string()),
            Err(shared) => shared
                .flush()
                .map(|()| shared.stats())
                .map_err(|e| e.to_string()),
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match closed {
            Ok(s) => tracing::info!(
                written = s.written,
                dropped = s.dropped,
                lost = s.lost,
                alerts = s.alerts,
                "journal flushed and closed"
            ),
            Err(e) => tracing::error!(error = %e, "journal: the last flush failed"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}
