//! Limits against abuse: connections open in all and per source address, and a
//! per-client request rate (a token bucket per client).
//!
//! A connection that keeps asking over its client's rate is held ([`Pace`]): once its
//! refusals outnumber its answers by enough, its answers wait, and nothing more is read from
//! it, until 20 ms of the client's rate is back, so that a flood costs the server a timer
//! instead of an answer per request, and gets what its rate allows in small, even slices.
//!
//! Each refusal is counted in [`Metrics`](crate::metrics::Metrics) by the caller, which
//! knows the interface and how to answer (close, 429, DIAMETER_TOO_BUSY).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

    /// How long until `client`'s bucket holds a [`HOLD_SLICE`] of its rate (at least one
    /// request, at most its burst), at most [`MAX_HOLD`]: how long a [`Pace`] holds a
    /// connection of a client that kept asking.
    pub fn hold_time(&self, client: &str) -> Duration {
        self.hold_time_at(client, Instant::now())
    }

    fn hold_time_at(&self, client: &str, now: Instant) -> Duration {
        let tokens = lock(&self.buckets).get(client).map_or(self.burst, |b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.rate
        });
        let slice = (self.rate * HOLD_SLICE.as_secs_f64())
            .max(1.0)
            .min(self.burst);
        let missing = (slice - tokens).max(0.0);
        Duration::from_secs_f64(missing / self.rate).min(MAX_HOLD)
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

/// The longest a held connection waits: the `Retry-After` its 429s carry.
pub const MAX_HOLD: Duration = Duration::from_secs(1);

/// How much of its rate a held connection's client gets at each hold's end: 20 ms of it.
///
/// A hold that lasted until the client's whole burst had refilled would release up to a
/// second's answers at once, and the server's workers would spend tens of milliseconds on
/// that flood alone, every second, while other clients' requests queue. Short holds that
/// end as soon as 20 ms of the rate is back spread the same answers evenly.
pub const HOLD_SLICE: Duration = Duration::from_millis(20);

/// How long after a hold a connection's answers take no strikes off, so that its first
/// refusal holds it again: a flood that is held every slice then costs one 429 a slice,
/// not as many 429s as it got answers. A client that keeps to its rate is never refused,
/// and has no use for strikes coming off.
pub const PROBATION: Duration = Duration::from_secs(1);

/// One connection's refusals over its client's rate, and the hold they earn.
///
/// A client that keeps asking after 429 `Retry-After: 1` (or DIAMETER_TOO_BUSY) costs the
/// server an answer per request, which is most of what a real answer costs. Each refusal
/// on a connection (HTTP/2: all its streams together) counts one strike, each answer the
/// rate allows takes one off: a flood still gets a token now and then as the bucket
/// refills, so what marks it is refusals outnumbering answers, not an unbroken run. Once
/// the strikes reach `after`, each further refusal's answer waits until the client's bucket
/// holds a [`HOLD_SLICE`] of its rate again (at most [`MAX_HOLD`]), and the connection is
/// not read meanwhile ([`HeldIo`]): TCP flow control then slows the client at no cost to
/// the server. For a [`PROBATION`] after a hold, answers take no strikes off, so the next
/// refusal holds it again at once. A client at up to twice its rate never gets there.
#[derive(Debug)]
pub struct Pace {
    after: u32,
    strikes: AtomicU32,
    held_until: Mutex<Option<Instant>>,
}

/// What a refusal over the rate does to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Nothing: refusals do not outnumber answers by enough. Answer at once.
    No,
    /// A new hold, until then: count it, and answer then.
    Started(Instant),
    /// The hold already under way, until then: answer then.
    Until(Instant),
}

impl Hold {
    /// When the answer may go, if it must wait.
    pub fn until(self) -> Option<Instant> {
        match self {
            Hold::No => None,
            Hold::Started(t) | Hold::Until(t) => Some(t),
        }
    }
}

impl Pace {
    /// Holds once refusals outnumber answers by `after`; 0: never.
    pub fn new(after: u32) -> Pace {
        Pace {
            after,
            strikes: AtomicU32::new(0),
            held_until: Mutex::new(None),
        }
    }

    /// A request the rate allowed (or refused for another reason): one strike off, unless
    /// the connection was held within the last [`PROBATION`].
    pub fn allowed(&self) {
        if self.strikes.load(Relaxed) != 0 {
            self.allowed_at(Instant::now());
        }
    }

    fn allowed_at(&self, now: Instant) {
        if self.strikes.load(Relaxed) == 0 {
            return;
        }
        let on_probation = (*lock(&self.held_until)).is_some_and(|until| now < until + PROBATION);
        if !on_probation {
            let _ = self
                .strikes
                .fetch_update(Relaxed, Relaxed, |s| s.checked_sub(1));
        }
    }

    /// A request refused over the rate; `hold_time` says how long a hold lasts
    /// ([`RateLimit::hold_time`]; asked only when a hold starts).
    pub fn refused(&self, hold_time: impl FnOnce() -> Duration) -> Hold {
        self.refused_at(Instant::now(), hold_time)
    }

    fn refused_at(&self, now: Instant, hold_time: impl FnOnce() -> Duration) -> Hold {
        if self.after == 0 {
            return Hold::No;
        }
        // Counts up to `after` and stays there: enough is enough, and must not wrap.
        let after = self.after;
        let before = self
            .strikes
            .fetch_update(Relaxed, Relaxed, |s| Some(s.saturating_add(1).min(after)))
            .unwrap_or(after);
        if before.saturating_add(1) < after {
            return Hold::No;
        }
        let mut held = lock(&self.held_until);
        match *held {
            Some(until) if until > now => Hold::Until(until),
            _ => {
                let until = now + hold_time().min(MAX_HOLD);
                *held = Some(until);
                Hold::Started(until)
            }
        }
    }

    /// Until when the connection is held, if it is now.
    pub fn held_until(&self, now: Instant) -> Option<Instant> {
        (*lock(&self.held_until)).filter(|until| *until > now)
    }
}

/// A connection's stream that reads nothing while its [`Pace`] holds it; writes go on.
#[derive(Debug)]
pub struct HeldIo<I> {
    io: I,
    pace: Arc<Pace>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> HeldIo<I> {
    /// `io`, held by `pace`.
    pub fn new(io: I, pace: Arc<Pace>) -> HeldIo<I> {
        HeldIo {
            io,
            pace,
            sleep: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for HeldIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(until) = this.pace.held_until(Instant::now()) {
            let until = tokio::time::Instant::from_std(until);
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
            if sleep.deadline() != until {
                sleep.as_mut().reset(until);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HeldIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
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
    fn a_hold_lasts_until_a_slice_of_the_rate_is_back_at_most_a_second() {
        // 1000 a second: a slice is 20 requests, 20 ms.
        let limit = RateLimit::new(1000, 1000).unwrap();
        let t = Instant::now();
        assert_eq!(limit.hold_time_at("new", t), Duration::ZERO);
        for _ in 0..1000 {
            limit.allow_at("amf-1", t);
        }
        let hold = limit.hold_time_at("amf-1", t);
        assert!(hold > Duration::from_millis(19) && hold <= Duration::from_millis(20));
        let hold = limit.hold_time_at("amf-1", t + Duration::from_millis(15));
        assert!(hold > Duration::from_millis(4) && hold <= Duration::from_millis(5));
        assert_eq!(
            limit.hold_time_at("amf-1", t + Duration::from_millis(20)),
            Duration::ZERO
        );
        // Once the hold is over, the slice is there and no more: 20 answers, not 1000.
        let after = t + Duration::from_millis(20);
        assert_eq!(
            (0..1000).filter(|_| limit.allow_at("amf-1", after)).count(),
            20
        );
        // At least one request, however slow the rate: 10 a second waits 100 ms for it.
        let slow = RateLimit::new(10, 10).unwrap();
        for _ in 0..10 {
            slow.allow_at("amf-1", t);
        }
        let hold = slow.hold_time_at("amf-1", t);
        assert!(hold > Duration::from_millis(99) && hold <= Duration::from_millis(100));
        // At most the burst, and never past the Retry-After.
        let small = RateLimit::new(10_000, 5).unwrap();
        for _ in 0..5 {
            small.allow_at("amf-1", t);
        }
        assert!(small.hold_time_at("amf-1", t) <= Duration::from_micros(500));
        let crawl = RateLimit::new(1, 1).unwrap();
        crawl.allow_at("amf-1", t);
        assert_eq!(crawl.hold_time_at("amf-1", t), MAX_HOLD);
    }

    #[test]
    fn refusals_outnumbering_answers_hold_the_connection() {
        let pace = Pace::new(3);
        let t = Instant::now();
        let refill = || Duration::from_millis(300);
        assert_eq!(pace.refused_at(t, refill), Hold::No);
        // As many answers as refusals, at twice the rate: never held.
        for _ in 0..1000 {
            pace.allowed();
            assert_eq!(pace.refused_at(t, refill), Hold::No);
        }
        // Refusals outnumbering answers, each answer taking one strike off.
        assert_eq!(pace.refused_at(t, refill), Hold::No);
        pace.allowed();
        assert_eq!(pace.refused_at(t, refill), Hold::No);
        let until = t + Duration::from_millis(300);
        assert_eq!(pace.refused_at(t, refill), Hold::Started(until));
        assert_eq!(pace.held_until(t), Some(until));
        // Refusals meanwhile (other HTTP/2 streams) wait for the same end.
        assert_eq!(pace.refused_at(t, || unreachable!()), Hold::Until(until));
        // After it, still refused: held again at once, without as many refusals again.
        assert_eq!(pace.held_until(until), None);
        let again = until + Duration::from_millis(300);
        assert_eq!(pace.refused_at(until, refill), Hold::Started(again));
        // On probation after a hold, answers take no strikes off: the first refusal after
        // them is held again.
        pace.allowed_at(again);
        pace.allowed_at(again);
        let third = again + Duration::from_millis(300);
        assert_eq!(pace.refused_at(again, refill), Hold::Started(third));
        // Once the probation is over, answers take strikes off: the next refusals are
        // answered at once.
        let later = third + PROBATION;
        pace.allowed_at(later);
        pace.allowed_at(later);
        assert_eq!(pace.refused_at(later, refill), Hold::No);
        // Never past the Retry-After; never at all with 0.
        let long = Pace::new(1);
        assert_eq!(
            long.refused_at(t, || Duration::from_secs(60)),
            Hold::Started(t + MAX_HOLD)
        );
        let never = Pace::new(0);
        assert!((0..1000).all(|_| never.refused_at(t, refill) == Hold::No));
    }

    #[tokio::test]
    async fn a_held_stream_reads_nothing_until_the_hold_ends() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let pace = Arc::new(Pace::new(1));
        let mut server = HeldIo::new(server, Arc::clone(&pace));
        let mut client = client;
        client.write_all(b"x").await.unwrap();
        let started = Instant::now();
        let Hold::Started(until) = pace.refused(|| Duration::from_millis(200)) else {
            panic!("not held");
        };
        let mut one = [0u8; 1];
        server.read_exact(&mut one).await.unwrap();
        assert!(Instant::now() >= until, "read during the hold");
        assert!(started.elapsed() < Duration::from_secs(1));
        // Writes are not held.
        pace.refused(|| Duration::from_secs(1));
        tokio::time::timeout(Duration::from_millis(100), server.write_all(b"y"))
            .await
            .unwrap()
            .unwrap();
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
