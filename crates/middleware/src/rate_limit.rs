//! Rate limiting: a token bucket per client, answering 429 with `Retry-After`
//! once a client goes over its rate.
//!
//! Each client (by default its IP address; IPv6 addresses grouped by /64,
//! since one host usually owns a whole /64) has a bucket holding up to
//! `burst` tokens that refills at `rate` tokens a second; a request takes a
//! token or is refused with 429 Too Many Requests (RFC 6585 §4) and a
//! `Retry-After` (RFC 9110 §10.2.3) saying in whole seconds when the next
//! token will be there.
//!
//! Memory is bounded: at most [`DEFAULT_MAX_CLIENTS`] buckets are tracked.
//! The buckets live in a few shards, each a map behind its own mutex held for
//! one lookup, so threads rarely wait on each other.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use osprey_proto::{HeaderName, HeaderValue, Status};

use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// The most clients tracked at once (100,000 buckets of about 60 bytes). When
/// the table is full, buckets that have refilled (equivalent to new ones)
/// are dropped; if every client is still active, arbitrary ones are dropped
/// (they start again with a full burst) — a client spreading requests over
/// more addresses than this is beyond what per-address limits can stop.
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// The IPv6 prefix length clients are grouped by (64 bits): a single
/// subscriber or host is usually given a whole /64, so limiting by full
/// address would let it rotate through 2^64 of them.
pub const DEFAULT_IPV6_PREFIX_LEN: u8 = 64;

/// Independent maps the buckets are spread over, so that concurrent requests
/// from different clients seldom contend for one lock.
const SHARDS: usize = 16;

/// Tolerance for floating-point rounding in the refill, so that waiting
/// exactly `1 / rate` seconds always yields a whole token.
const EPSILON: f64 = 1e-9;

/// Whom a bucket belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ClientKey {
    Address(IpAddr),
    /// Requests without a peer address (or without a key from the key
    /// function) share one bucket.
    Shared,
    Custom(Box<str>),
}

/// One client's tokens as of `updated`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Allow,
    /// Refuse; the next token arrives within this many seconds (≥ 1).
    Refuse {
        retry_after: u64,
    },
}

/// The bucket's rate and size.
#[derive(Clone, Copy, Debug)]
struct Limits {
    rate: f64,
    burst: f64,
}

impl Limits {
    /// A new client's bucket: full.
    fn new_bucket(self, now: Instant) -> Bucket {
        Bucket {
            tokens: self.burst,
            updated: now,
        }
    }

    /// The tokens `bucket` holds at `now`, refilled (never past `burst`).
    fn tokens_at(self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    /// Refills `bucket` to `now` and takes a token if there is one. Pure: the
    /// caller passes the clock.
    fn take(self, bucket: &mut Bucket, now: Instant) -> Decision {
        bucket.tokens = self.tokens_at(bucket, now);
        bucket.updated = bucket.updated.max(now);
        if bucket.tokens + EPSILON >= 1.0 {
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            return Decision::Allow;
        }
        // RFC 9110 §10.2.3: delay-seconds is a whole number; round up so a
        // client that waits as told finds a token.
        let wait = (1.0 - bucket.tokens) / self.rate;
        Decision::Refuse {
            retry_after: (wait.ceil() as u64).max(1),
        }
    }

    /// A bucket that has refilled is the same as a new one: forgetting it
    /// loses nothing.
    fn is_full(self, bucket: &Bucket, now: Instant) -> bool {
        self.tokens_at(bucket, now) + EPSILON >= self.burst
    }
}

/// One shard's buckets, at most `capacity` of them.
struct Shard {
    buckets: HashMap<ClientKey, Bucket>,
    capacity: usize,
}

impl Shard {
    fn check(&mut self, key: ClientKey, limits: Limits, now: Instant) -> Decision {
        if let Some(bucket) = self.buckets.get_mut(&key) {
            return limits.take(bucket, now);
        }
        if self.buckets.len() >= self.capacity {
            self.evict(limits, now);
        }
        let mut bucket = limits.new_bucket(now);
        let decision = limits.take(&mut bucket, now);
        self.buckets.insert(key, bucket);
        decision
    }

    /// Makes room: drops the buckets that have refilled, then, if fewer than
    /// an eighth were, arbitrary ones down to seven eighths of capacity. Each
    /// sweep so frees at least capacity/8 places, and the O(capacity) scan is
    /// paid at most once per capacity/8 new clients: O(1) amortized, never a
    /// scan per request.
    fn evict(&mut self, limits: Limits, now: Instant) {
        self.buckets.retain(|_, b| !limits.is_full(b, now));
        let target = (self.capacity - self.capacity / 8).min(self.capacity - 1);
        if self.buckets.len() > target {
            let excess = self.buckets.len() - target;
            let victims: Vec<ClientKey> = self.buckets.keys().take(excess).cloned().collect();
            for key in victims {
                self.buckets.remove(&key);
            }
        }
    }
}

type KeyFn = Box<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// A token bucket per client; see the [module](self) documentation.
///
/// ```
/// use osprey_middleware::rate_limit::RateLimit;
/// use osprey_web::{Handler, Method, Request, Response};
///
/// // 2 requests a second on average, bursts of up to 3.
/// let app = (|_: &mut Request| Response::text("ok")).with(RateLimit::per_client(2.0, 3));
/// let peer = "192.0.2.7:40000".parse().unwrap();
/// for _ in 0..3 {
///     assert_eq!(app.respond(&mut Request::new(Method::Get, "/").with_peer(peer)).status.as_u16(), 200);
/// }
/// let refused = app.respond(&mut Request::new(Method::Get, "/").with_peer(peer));
/// assert_eq!(refused.status.as_u16(), 429);
/// assert_eq!(refused.headers.get("retry-after").unwrap().as_bytes(), b"1");
/// // Another client has its own bucket.
/// let other = "192.0.2.8:40000".parse().unwrap();
/// assert_eq!(app.respond(&mut Request::new(Method::Get, "/").with_peer(other)).status.as_u16(), 200);
/// ```
pub struct RateLimit {
    limits: Limits,
    shards: Box<[Mutex<Shard>]>,
    shard_of: RandomState,
    key_fn: Option<KeyFn>,
    ipv6_prefix_len: u8,
}

impl RateLimit {
    /// `rate_per_second` requests a second per client on average, in bursts
    /// of up to `burst`. The client is the peer's IP address (IPv6 grouped
    /// by [`DEFAULT_IPV6_PREFIX_LEN`]); requests with no peer address share
    /// one bucket.
    ///
    /// # Panics
    /// When the rate is not a positive finite number or `burst` is 0 (no
    /// request could ever pass).
    pub fn per_client(rate_per_second: f64, burst: u32) -> RateLimit {
        assert!(
            rate_per_second.is_finite() && rate_per_second > 0.0,
            "the rate must be a positive number of requests per second"
        );
        assert!(burst >= 1, "the burst must allow at least one request");
        RateLimit {
            limits: Limits {
                rate: rate_per_second,
                burst: f64::from(burst),
            },
            shards: Box::new([]),
            shard_of: RandomState::new(),
            key_fn: None,
            ipv6_prefix_len: DEFAULT_IPV6_PREFIX_LEN,
        }
        .max_clients(DEFAULT_MAX_CLIENTS)
    }

    /// Tracks at most `max_clients` buckets (default
    /// [`DEFAULT_MAX_CLIENTS`]; at least 1).
    pub fn max_clients(mut self, max_clients: usize) -> RateLimit {
        let max_clients = max_clients.max(1);
        let shards = SHARDS.min(max_clients);
        let capacity = max_clients / shards;
        self.shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    buckets: HashMap::new(),
                    capacity,
                })
            })
            .collect();
        self
    }

    /// Chooses the client by `key` instead of the peer address: an API key,
    /// a user, the address a trusted proxy put in a header. Requests for
    /// which it returns `None` share one bucket.
    pub fn key_fn(
        mut self,
        key: impl Fn(&Request) -> Option<String> + Send + Sync + 'static,
    ) -> RateLimit {
        self.key_fn = Some(Box::new(key));
        self
    }

    /// Groups IPv6 clients by their first `bits` bits (default
    /// [`DEFAULT_IPV6_PREFIX_LEN`]; 128 for one bucket per address).
    pub fn ipv6_prefix_len(mut self, bits: u8) -> RateLimit {
        self.ipv6_prefix_len = bits.min(128);
        self
    }

    fn key_of(&self, req: &Request) -> ClientKey {
        if let Some(key_fn) = &self.key_fn {
            return key_fn(req).map_or(ClientKey::Shared, |k| ClientKey::Custom(k.into()));
        }
        match req.peer_addr().map(|a| a.ip().to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix_len))
                    .unwrap_or(0);
                ClientKey::Address(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
            Some(v4) => ClientKey::Address(v4),
            None => ClientKey::Shared,
        }
    }

    /// The decision for `key` at `now` (the clock is a parameter for tests).
    fn check(&self, key: ClientKey, now: Instant) -> Decision {
        let shard = self.shard_of.hash_one(&key) as usize % self.shards.len();
        // A poisoned lock only means a panic elsewhere mid-update: the map
        // is still a valid map.
        let mut shard = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        shard.check(key, self.limits, now)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap().buckets.len())
            .sum()
    }
}

impl Middleware for RateLimit {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        match self.check(self.key_of(req), Instant::now()) {
            Decision::Allow => next.run(req),
            Decision::Refuse { retry_after } => Response::status_text(Status::TOO_MANY_REQUESTS)
                .header(HeaderName::RETRY_AFTER, HeaderValue::from_u64(retry_after))
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Method};
    use std::time::Duration;

    fn limits(rate: f64, burst: u32) -> Limits {
        Limits {
            rate,
            burst: f64::from(burst),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let l = limits(10.0, 3);
        let t0 = Instant::now();
        let mut b = l.new_bucket(t0);
        for _ in 0..3 {
            assert_eq!(l.take(&mut b, t0), Decision::Allow);
        }
        assert_eq!(l.take(&mut b, t0), Decision::Refuse { retry_after: 1 });
        // One token every 100 ms.
        assert_eq!(
            l.take(&mut b, t0 + ms(99)),
            Decision::Refuse { retry_after: 1 }
        );
        assert_eq!(l.take(&mut b, t0 + ms(100)), Decision::Allow);
        assert_eq!(
            l.take(&mut b, t0 + ms(150)),
            Decision::Refuse { retry_after: 1 }
        );
        assert_eq!(l.take(&mut b, t0 + ms(200)), Decision::Allow);
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(l.take(&mut b, later), Decision::Allow);
        }
        assert_eq!(l.take(&mut b, later), Decision::Refuse { retry_after: 1 });
    }

    #[test]
    fn retry_after_is_rounded_up_whole_seconds() {
        let t0 = Instant::now();
        // One request every 4 seconds: right after one, wait 4.
        let l = limits(0.25, 1);
        let mut b = l.new_bucket(t0);
        assert_eq!(l.take(&mut b, t0), Decision::Allow);
        assert_eq!(l.take(&mut b, t0), Decision::Refuse { retry_after: 4 });
        // 1.5 s later 2.5 s remain: 3.
        assert_eq!(
            l.take(&mut b, t0 + ms(1500)),
            Decision::Refuse { retry_after: 3 }
        );
        assert_eq!(l.take(&mut b, t0 + ms(4000)), Decision::Allow);
        // Refused requests take nothing: the token still comes on time.
        let l = limits(0.4, 1);
        let mut b = l.new_bucket(t0);
        assert_eq!(l.take(&mut b, t0), Decision::Allow);
        assert_eq!(l.take(&mut b, t0), Decision::Refuse { retry_after: 3 }); // 2.5 s
        assert_eq!(
            l.take(&mut b, t0 + ms(2499)),
            Decision::Refuse { retry_after: 1 }
        );
        assert_eq!(l.take(&mut b, t0 + ms(2500)), Decision::Allow);
    }

    #[test]
    fn a_clock_going_backwards_does_not_add_tokens() {
        let l = limits(1.0, 1);
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = l.new_bucket(t0);
        assert_eq!(l.take(&mut b, t0), Decision::Allow);
        assert_eq!(
            l.take(&mut b, t0 - ms(5000)),
            Decision::Refuse { retry_after: 1 }
        );
        assert_eq!(b.updated, t0);
    }

    #[test]
    fn clients_have_their_own_buckets_and_peerless_requests_share_one() {
        let rl = RateLimit::per_client(1.0, 1);
        let t0 = Instant::now();
        let a = ClientKey::Address("192.0.2.1".parse().unwrap());
        let b = ClientKey::Address("192.0.2.2".parse().unwrap());
        assert_eq!(rl.check(a.clone(), t0), Decision::Allow);
        assert_eq!(rl.check(a, t0), Decision::Refuse { retry_after: 1 });
        assert_eq!(rl.check(b, t0), Decision::Allow);

        let app = (|_: &mut Request| Response::text("ok")).with(RateLimit::per_client(1.0, 1));
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::OK
        );
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        assert_eq!(r.status, Status::TOO_MANY_REQUESTS);
        assert_eq!(r.headers.get("retry-after").unwrap().as_bytes(), b"1");
        assert_eq!(
            match &r.body {
                osprey_web::Body::Bytes(b) => &b[..],
                _ => b"",
            },
            b"Too Many Requests\n"
        );
    }

    #[test]
    fn ipv6_is_grouped_by_prefix_and_mapped_v4_is_v4() {
        let rl = RateLimit::per_client(1.0, 1);
        let key = |addr: &str| {
            rl.key_of(&Request::new(Method::Get, "/").with_peer(addr.parse().unwrap()))
        };
        assert_eq!(
            key("[2001:db8:1:2:aaaa::1]:1"),
            key("[2001:db8:1:2:bbbb::2]:2")
        );
        assert_ne!(key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"));
        assert_eq!(key("[::ffff:192.0.2.1]:1"), key("192.0.2.1:9"));
        let exact = RateLimit::per_client(1.0, 1).ipv6_prefix_len(128);
        let key = |addr: &str| {
            exact.key_of(&Request::new(Method::Get, "/").with_peer(addr.parse().unwrap()))
        };
        assert_ne!(key("[2001:db8::1]:1"), key("[2001:db8::2]:1"));
        let zero = RateLimit::per_client(1.0, 1).ipv6_prefix_len(0);
        let key = |addr: &str| {
            zero.key_of(&Request::new(Method::Get, "/").with_peer(addr.parse().unwrap()))
        };
        assert_eq!(key("[2001:db8::1]:1"), key("[fe80::2]:1"));
    }

    #[test]
    fn key_function_chooses_the_bucket() {
        let app = (|_: &mut Request| Response::text("ok")).with(
            RateLimit::per_client(1.0, 1).key_fn(|r| r.header("x-api-key").map(str::to_string)),
        );
        let with_key = |k: &str| Request::new(Method::Get, "/").with_header("X-Api-Key", k);
        assert_eq!(app.respond(&mut with_key("a")).status, Status::OK);
        assert_eq!(
            app.respond(&mut with_key("a")).status,
            Status::TOO_MANY_REQUESTS
        );
        assert_eq!(app.respond(&mut with_key("b")).status, Status::OK);
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::OK
        );
        assert_eq!(
            app.respond(&mut Request::new(Method::Get, "/")).status,
            Status::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn memory_is_bounded() {
        let rl = RateLimit::per_client(1.0, 1).max_clients(64);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let key = ClientKey::Address(IpAddr::V4(i.into()));
            assert_eq!(rl.check(key, t0), Decision::Allow);
            assert!(rl.tracked() <= 64);
        }
    }

    #[test]
    fn eviction_drops_refilled_buckets_first_and_frees_an_eighth() {
        let l = limits(1.0, 2);
        let t0 = Instant::now();
        let mut shard = Shard {
            buckets: HashMap::new(),
            capacity: 16,
        };
        let key = |i: u32| ClientKey::Address(IpAddr::V4(i.into()));
        // Client 0 is busy (both tokens used); 1..16 made one request each.
        shard.check(key(0), l, t0);
        shard.check(key(0), l, t0);
        for i in 1..16 {
            shard.check(key(i), l, t0);
        }
        assert_eq!(shard.buckets.len(), 16);
        // 1 s later 1..16 have refilled to 2 tokens; client 0 has only 1.
        let t1 = t0 + Duration::from_secs(1);
        shard.check(key(100), l, t1);
        assert_eq!(shard.buckets.len(), 2);
        assert!(
            shard.buckets.contains_key(&key(0)),
            "the active client is kept"
        );
        // Everyone active: arbitrary buckets go, down to 7/8 of capacity.
        for i in 200..214 {
            shard.check(key(i), l, t1);
        }
        assert_eq!(shard.buckets.len(), 16);
        shard.check(key(300), l, t1);
        assert_eq!(shard.buckets.len(), 14 + 1);
        assert!(shard.buckets.contains_key(&key(300)));
    }

    #[test]
    #[should_panic(expected = "positive")]
    fn zero_rate_is_refused() {
        let _ = RateLimit::per_client(0.0, 1);
    }

    #[test]
    #[should_panic(expected = "at least one")]
    fn zero_burst_is_refused() {
        let _ = RateLimit::per_client(1.0, 0);
    }
}
