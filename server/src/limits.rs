//! Limits against abuse: connections open in all and per source address, and a
//! per-client request rate (a token bucket per client).
//!
//! Each refusal is counted in [`Metrics`](crate::metrics::Metrics) by the caller, which
//! knows the interface and how to answer (close, 429, DIAMETER_TOO_BUSY).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::config::LimitSettings;

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crowded {
    /// The listener has its most connections open.
    Total,
    /// This source address has its most connections open.
    PerAddress,
}

/// Connections open on one listener, in all and per source address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

/// A lock that a panicking holder cannot wedge: the counts stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ConnectionLimits {
    /// At most `max_total` connections, and `max_per_address` from any one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    /// Admits a connection from `ip`, or says why not.
    ///
    /// # Errors
    ///
    /// The listener, or this address, has its most connections open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Crowded> {
        // IPv4 clients on a dual-stack socket arrive IPv4-mapped: count them as IPv4.
        let ip = ip.to_canonical();
        let mut open = lock(&self.open);
        if open.0 >= self.max_total {
            return Err(Crowded::Total);
        }
        let here = open.1.entry(ip).or_insert(0);
        if *here >= self.max_per_address {
            return Err(Crowded::PerAddress);
        }
        *here += 1;
        open.0 += 1;
        Ok(Admitted {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        lock(&self.open).0
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.limits.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// How a listener guards itself: TLS, and the limits on connections, time and streams.
#[derive(Clone, Debug)]
pub struct Guard {
    /// TLS; `None`: cleartext.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// Connections open, in all and per address.
    pub connections: Arc<ConnectionLimits>,
    /// The limits' settings.
    pub limits: LimitSettings,
}

impl Guard {
    /// Cleartext, with `limits`.
    pub fn cleartext(limits: LimitSettings) -> Guard {
        Guard {
            tls: None,
            connections: ConnectionLimits::new(
                limits.max_connections,
                limits.max_connections_per_address,
            ),
            limits,
        }
    }
}

/// Past this many clients, buckets that have refilled are forgotten (they hold nothing a
/// new bucket would not): the map cannot grow without bound under a flood of new names.
const PRUNE_AT: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A request rate per client: a token bucket each, `rate` tokens a second up to `burst`.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimit {
    /// `rate` requests a second per client, `burst` at once; `None` when `rate` is 0 (no
    /// limit).
    pub fn new(rate: u32, burst: u32) -> Option<Arc<RateLimit>> {
        (rate > 0).then(|| {
            Arc::new(RateLimit {
                rate: f64::from(rate),
                burst: f64::from(burst.max(1)),
                buckets: Mutex::new(HashMap::new()),
            })
        })
    }

    /// Whether `client` may make a request now (and takes a token if so).
    pub fn allow(&self, client: &str) -> bool {
        self.allow_at(client, Instant::now())
    }

    /// Whether `client` could make a request now, without taking a token.
    pub fn has_room(&self, client: &str) -> bool {
        self.has_room_at(client, Instant::now())
    }

    fn has_room_at(&self, client: &str, now: Instant) -> bool {
        lock(&self.buckets).get(client).is_none_or(|b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.rate >= 1.0
        })
    }

    fn allow_at(&self, client: &str, now: Instant) -> bool {
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
        }
        let bucket = match buckets.get_mut(client) {
            Some(b) => b,
            None => buckets.entry(client.to_string()).or_insert(Bucket {
                tokens: self.burst,
                at: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn connections_are_bounded_in_all_and_per_address() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(mapped).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Crowded::PerAddress);
        let _third = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Crowded::Total);
        drop(first);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(a).is_ok());
    }

    #[test]
    fn the_rate_refills_and_caps_at_the_burst() {
        let limit = RateLimit::new(10, 3).unwrap();
        let t = Instant::now();
        assert!((0..3).all(|_| limit.allow_at("amf-1", t)));
        assert!(!limit.allow_at("amf-1", t));
        // Another client has its own bucket.
        assert!(limit.allow_at("amf-2", t));
        // A tenth of a second brings one token back; an hour no more than the burst.
        assert!(limit.allow_at("amf-1", t + Duration::from_millis(100)));
        assert!(!limit.allow_at("amf-1", t + Duration::from_millis(100)));
        let later = t + Duration::from_secs(3600);
        assert_eq!(
            (0..10).filter(|_| limit.allow_at("amf-1", later)).count(),
            3
        );
        assert!(RateLimit::new(0, 5).is_none());
        // Looking takes nothing.
        assert!(limit.has_room_at("amf-3", t));
        assert!(!limit.has_room_at("amf-1", later));
        assert!(limit.has_room_at("amf-1", later + Duration::from_millis(100)));
    }

    #[test]
    fn many_clients_do_not_grow_the_map_without_bound() {
        let limit = RateLimit::new(1000, 1).unwrap();
        let t = Instant::now();
        for i in 0..PRUNE_AT + 10 {
            limit.allow_at(&i.to_string(), t);
        }
        // All those buckets had refilled a second later: forgotten at the next newcomer.
        limit.allow_at("new", t + Duration::from_secs(1));
        assert!(lock(&limit.buckets).len() < 100);
    }
}
