//! Request ids: one identifier per request, for correlating log lines across
//! services.
//!
//! [`RequestId`] keeps the `X-Request-Id` a proxy or client sent when it is
//! sane, makes one otherwise, stores it in the request's extensions as
//! [`RequestIdValue`] (for handlers and access logs) and echoes it in the
//! response's `X-Request-Id`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use osprey_proto::{HeaderName, HeaderValue};

use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request};

/// The longest incoming request id kept (128 bytes): enough for a UUID, a
/// W3C trace id or a chain of proxy ids; a longer one is replaced rather than
/// copied into every log line.
pub const DEFAULT_MAX_REQUEST_ID_LEN: usize = 128;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("X-Request-Id");

/// The id of the current request, in its
/// [extensions](osprey_web::Request::extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdValue(pub String);

/// Gives every request an id; see the [module](self) documentation.
///
/// A generated id is 16 hex digits of a random per-process prefix, a dash,
/// and a per-process counter in hex (`3f9a0c1d5e7b2a64-1f`): unique within
/// the process without a random number per request, and, with overwhelming
/// likelihood, across processes, because the prefix is random and mixes in
/// the process id and the time.
///
/// ```
/// use osprey_middleware::request_id::{RequestId, RequestIdValue};
/// use osprey_web::{Handler, Method, Request, Response};
///
/// let app = (|req: &mut Request| {
///     let RequestIdValue(id) = req.extensions().get::<RequestIdValue>().unwrap();
///     Response::text(format!("you are {id}"))
/// })
/// .with(RequestId::new());
///
/// let mut req = Request::new(Method::Get, "/").with_header("X-Request-Id", "abc-123");
/// let resp = app.respond(&mut req);
/// assert_eq!(resp.headers.get("x-request-id").unwrap().as_bytes(), b"abc-123");
///
/// let resp = app.respond(&mut Request::new(Method::Get, "/"));
/// let generated = resp.headers.get("x-request-id").unwrap().to_str().unwrap();
/// assert_eq!(generated.as_bytes()[16], b'-');
/// ```
pub struct RequestId {
    trust_incoming: bool,
    max_len: usize,
}

impl Default for RequestId {
    fn default() -> RequestId {
        RequestId::new()
    }
}

impl RequestId {
    /// Keeps sane incoming ids of up to [`DEFAULT_MAX_REQUEST_ID_LEN`] bytes.
    pub fn new() -> RequestId {
        RequestId {
            trust_incoming: true,
            max_len: DEFAULT_MAX_REQUEST_ID_LEN,
        }
    }

    /// Whether an incoming `X-Request-Id` is kept (default true). Turn it off
    /// when clients reach the server directly and their ids are not to be
    /// trusted in logs.
    pub fn trust_incoming(mut self, trust: bool) -> RequestId {
        self.trust_incoming = trust;
        self
    }

    /// The longest incoming id kept (default [`DEFAULT_MAX_REQUEST_ID_LEN`]).
    pub fn max_len(mut self, max_len: usize) -> RequestId {
        self.max_len = max_len;
        self
    }

    /// The incoming id when it is 1 to `max_len` visible ASCII characters
    /// (no spaces or controls, so it cannot split a log line or a field).
    fn incoming<'a>(&self, req: &'a Request) -> Option<&'a str> {
        let id = req.header("x-request-id")?;
        let sane =
            (1..=self.max_len).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
        sane.then_some(id)
    }

    fn generate(&self) -> String {
        // One counter for the process, so that two `RequestId`s (two
        // routers) never hand out the same id.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:x}", process_prefix())
    }
}

/// 64 random bits for this process. `RandomState` seeds its keys from the
/// operating system's randomness; the process id and the time are mixed in
/// because a forked child may inherit its parent's seed.
fn process_prefix() -> u64 {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        hasher.write_u128(now.as_nanos());
        hasher.finish()
    })
}

impl Middleware for RequestId {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        let id = match self.incoming(req).filter(|_| self.trust_incoming) {
            Some(id) => id.to_string(),
            None => self.generate(),
        };
        let value = HeaderValue::try_from(id.as_str()).expect("ids are visible ASCII");
        req.extensions_mut().insert(RequestIdValue(id));
        // Inserted, not appended: the id replaces one the handler set.
        next.run(req).map(move |mut resp| {
            resp.headers.insert(X_REQUEST_ID, value);
            resp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Method, Response};
    use std::collections::HashSet;

    fn echo_id(req: &mut Request) -> Response {
        let id = req.extensions().get::<RequestIdValue>().unwrap().0.clone();
        Response::text(id)
    }

    fn response_id(mw: RequestId, incoming: Option<&str>) -> (String, String) {
        let mut req = Request::new(Method::Get, "/");
        if let Some(id) = incoming {
            req = req.with_header("X-Request-Id", id);
        }
        let resp = echo_id.with(mw).respond(&mut req);
        let header = resp
            .headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let body = match resp.body {
            osprey_web::Body::Bytes(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        (header, body)
    }

    #[test]
    fn sane_incoming_ids_are_kept() {
        let id = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(
            response_id(RequestId::new(), Some(id)),
            (id.into(), id.into())
        );
        let longest = "x".repeat(DEFAULT_MAX_REQUEST_ID_LEN);
        assert_eq!(response_id(RequestId::new(), Some(&longest)).0, longest);
    }

    #[test]
    fn insane_or_untrusted_ids_are_replaced() {
        let too_long = "x".repeat(DEFAULT_MAX_REQUEST_ID_LEN + 1);
        for bad in ["", "has space", "tab\there", "caf\u{e9}", too_long.as_str()] {
            let (header, body) = response_id(RequestId::new(), Some(bad));
            assert_ne!(header, bad);
            assert_eq!(header, body);
            assert!(
                header.len() > 17 && header.as_bytes()[16] == b'-',
                "{header}"
            );
        }
        let (header, _) = response_id(RequestId::new().trust_incoming(false), Some("mine"));
        assert_ne!(header, "mine");
        let (header, _) = response_id(RequestId::new().max_len(3), Some("four"));
        assert_ne!(header, "four");
    }

    #[test]
    fn pending_replies_get_the_id_when_they_arrive() {
        let app = (|req: &mut Request| {
            let id = req.extensions().get::<RequestIdValue>().unwrap().0.clone();
            let (responder, reply) = Reply::later();
            std::thread::spawn(move || {
                let answer = Response::text(id).header("X-Request-Id", "handler's");
                responder.send(answer).unwrap();
            });
            reply
        })
        .with(RequestId::new());
        let mut req = Request::new(Method::Get, "/").with_header("X-Request-Id", "p-1");
        let resp = app.respond(&mut req);
        let all: Vec<_> = resp.headers.get_all("x-request-id").collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_bytes(), b"p-1");
        assert_eq!(resp.body.len_hint(), Some(3));
    }

    #[test]
    fn generated_ids_are_unique_and_replace_the_handlers() {
        // Two instances share the process's prefix and counter.
        let (a, b) = (RequestId::new(), RequestId::new());
        let ids: HashSet<String> = (0..500)
            .flat_map(|_| [a.generate(), b.generate()])
            .collect();
        assert_eq!(ids.len(), 1000);
        assert_eq!(a.generate()[..16], b.generate()[..16]);
        let chain = (|_: &mut Request| Response::text("x").header("X-Request-Id", "handler's"))
            .with(RequestId::new());
        let resp =
            chain.respond(&mut Request::new(Method::Get, "/").with_header("X-Request-Id", "a"));
        let all: Vec<_> = resp.headers.get_all("x-request-id").collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_bytes(), b"a");
    }
}
