//! Cross-origin resource sharing: the CORS protocol of the WHATWG Fetch
//! standard, server side.
//!
//! [`Cors`] answers CORS-preflight requests itself and adds the
//! `Access-Control-*` response fields to the other requests from origins it
//! allows. It only ever *grants* access: a browser enforces CORS, so to refuse
//! an origin the middleware just leaves the fields out and the browser fails
//! the request. It is not an access control — requests from disallowed
//! origins still reach the handler (curl does not care about CORS); put
//! authentication behind it.
//!
//! Put `Cors` before (outside) authentication middleware, so that it answers
//! preflights — which never carry credentials — and its fields also reach
//! 401 replies, which the browser's script can then read.

use std::time::Duration;

use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status};

use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// How long browsers may cache a preflight answer by default (10 minutes),
/// sent as `Access-Control-Max-Age`. Without it browsers use 5 seconds and
/// repeat the preflight before nearly every request; browsers cap it anyway
/// (Chromium at 2 hours). Changing the CORS configuration takes this long to
/// reach browsers that cached the old answer.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);

const ALLOW_ORIGIN: HeaderName = HeaderName::from_static("Access-Control-Allow-Origin");
const ALLOW_CREDENTIALS: HeaderName = HeaderName::from_static("Access-Control-Allow-Credentials");
const ALLOW_METHODS: HeaderName = HeaderName::from_static("Access-Control-Allow-Methods");
const ALLOW_HEADERS: HeaderName = HeaderName::from_static("Access-Control-Allow-Headers");
const EXPOSE_HEADERS: HeaderName = HeaderName::from_static("Access-Control-Expose-Headers");
const MAX_AGE: HeaderName = HeaderName::from_static("Access-Control-Max-Age");
const ANY: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");

/// Whether `req` is a CORS-preflight request (Fetch standard, CORS-preflight
/// request): `OPTIONS` with `Origin` and `Access-Control-Request-Method`. A
/// plain `OPTIONS` is not one.
pub fn is_preflight(req: &Request) -> bool {
    *req.method() == Method::Options
        && req.header_bytes("origin").is_some()
        && req.header_bytes("access-control-request-method").is_some()
}

/// Adds `names` to the response's `Vary` field (RFC 9110 §12.5.5), merging
/// with what is there: names already listed are not repeated, and `Vary: *`
/// is left alone (it already says everything varies).
pub(crate) fn add_vary(headers: &mut HeaderMap, names: &[&str]) {
    let mut listed: Vec<String> = Vec::new();
    for value in headers.get_all("vary") {
        for name in value.to_str().unwrap_or("").split(',') {
            let name = name.trim();
            if name == "*" {
                return;
            }
            if !name.is_empty() {
                listed.push(name.to_string());
            }
        }
    }
    let before = listed.len();
    for name in names {
        if !listed.iter().any(|l| l.eq_ignore_ascii_case(name)) {
            listed.push((*name).to_string());
        }
    }
    if listed.len() != before {
        let value = HeaderValue::try_from(listed.join(", "))
            .expect("field names joined by commas are a valid value");
        headers.insert(HeaderName::VARY, value);
    }
}

type OriginFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// Which request headers a preflight may ask for.
enum AllowedHeaders {
    /// These (lower-cased) names.
    List(Vec<String>),
    /// Whatever the preflight asks for.
    Mirror,
}

/// What to send as `Access-Control-Allow-Origin` for an origin.
#[derive(Debug, PartialEq, Eq)]
enum OriginAnswer {
    /// `*`: any origin, without credentials.
    Any,
    /// The request's own origin.
    This(HeaderValue),
    /// Not allowed: no CORS fields.
    Refused,
}

/// CORS middleware, configured with a builder.
///
/// - A request with an allowed `Origin` gets `Access-Control-Allow-Origin`
///   (its origin, or `*` when any origin is allowed and credentials are off),
///   `Access-Control-Allow-Credentials: true` when credentials are allowed,
///   and `Access-Control-Expose-Headers` when some are listed.
/// - Whenever the answer depends on the origin, every response gets `Vary:
///   Origin` (merged with the handler's `Vary`), the refused and the no-Origin
///   ones too, so that a cache never serves one origin's answer to another.
/// - A preflight is answered here, without calling the handler: 204 with the
///   allowed origin, methods, headers, max age and credentials flag when the
///   origin, method and every requested header are allowed; otherwise 403
///   with no CORS fields, which makes the browser fail the request (the
///   status is for people reading logs; the browser only looks at the
///   fields). Both carry `Vary: Origin, Access-Control-Request-Method,
///   Access-Control-Request-Headers`.
/// - Credentials with any origin (`*`) is not allowed by the Fetch standard
///   (a browser rejects `*` on a credentialed request): this middleware then
///   sends the request's own origin instead, except `null` (sandboxed
///   documents and `file:` pages), which must be allowed by name.
///
/// Methods default to `GET, HEAD, POST`, headers to none beyond the ones
/// browsers send without asking (the CORS-safelisted request headers).
///
/// ```
/// use osprey_middleware::cors::Cors;
/// use osprey_web::{Handler, Method, Request, Response, Router};
///
/// let app = Router::new()
///     .with(Cors::new()
///         .allow_origin("https://app.example")
///         .allow_methods([Method::Get, Method::Put])
///         .allow_headers(["Content-Type", "Authorization"])
///         .allow_credentials(true))
///     .put("/items/:id", |_: &mut Request| Response::text("stored"));
///
/// let mut preflight = Request::new(Method::Options, "/items/1")
///     .with_header("Origin", "https://app.example")
///     .with_header("Access-Control-Request-Method", "PUT")
///     .with_header("Access-Control-Request-Headers", "content-type");
/// let resp = app.respond(&mut preflight);
/// assert_eq!(resp.status.as_u16(), 204);
/// assert_eq!(resp.headers.get("access-control-allow-origin").unwrap().as_bytes(), b"https://app.example");
/// assert_eq!(resp.headers.get("access-control-allow-methods").unwrap().as_bytes(), b"GET, PUT");
///
/// let mut put = Request::new(Method::Put, "/items/1").with_header("Origin", "https://evil.example");
/// let resp = app.respond(&mut put);
/// assert!(resp.headers.get("access-control-allow-origin").is_none());
/// assert_eq!(resp.headers.get("vary").unwrap().as_bytes(), b"Origin");
/// ```
pub struct Cors {
    any_origin: bool,
    origins: Vec<String>,
    origin_filters: Vec<OriginFilter>,
    methods: Vec<Method>,
    headers: AllowedHeaders,
    expose: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl Default for Cors {
    fn default() -> Cors {
        Cors::new()
    }
}

impl Cors {
    /// No origin allowed yet; methods `GET, HEAD, POST`; no extra headers;
    /// no credentials; max age [`DEFAULT_MAX_AGE`].
    pub fn new() -> Cors {
        Cors {
            any_origin: false,
            origins: Vec::new(),
            origin_filters: Vec::new(),
            methods: vec![Method::Get, Method::Head, Method::Post],
            headers: AllowedHeaders::List(Vec::new()),
            expose: Vec::new(),
            credentials: false,
            max_age: Some(DEFAULT_MAX_AGE),
        }
    }

    /// Allows `origin` (`https://app.example`, `http://localhost:3000`,
    /// `null`), or any origin with `"*"`. Repeatable. Compared without
    /// regard to ASCII case; a trailing `/` is ignored.
    ///
    /// # Panics
    /// When `origin` is not `*`, `null` or `scheme://host[:port]` (a path
    /// would never match: browsers send none).
    pub fn allow_origin(mut self, origin: &str) -> Cors {
        if origin == "*" {
            self.any_origin = true;
            return self;
        }
        let origin = origin.strip_suffix('/').unwrap_or(origin);
        let well_formed = origin == "null"
            || origin.split_once("://").is_some_and(|(scheme, host)| {
                !scheme.is_empty()
                    && !host.is_empty()
                    && !host.contains('/')
                    && HeaderValue::try_from(origin).is_ok()
            });
        assert!(
            well_formed,
            "an allowed origin is `*`, `null` or scheme://host[:port]"
        );
        self.origins.push(origin.to_ascii_lowercase());
        self
    }

    /// Allows the origins for which `allow` returns true (it gets the
    /// `Origin` field as sent; `null` included). Repeatable.
    pub fn allow_origin_fn(mut self, allow: impl Fn(&str) -> bool + Send + Sync + 'static) -> Cors {
        self.origin_filters.push(Box::new(allow));
        self
    }

    /// The methods preflights may ask for, replacing the default `GET, HEAD,
    /// POST`.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Cors {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers preflights may ask for (compared without regard
    /// to case). `"*"` among them allows whatever a preflight asks for: the
    /// requested names are echoed back (which, unlike a literal `*`, also
    /// covers `Authorization` and credentialed requests).
    ///
    /// # Panics
    /// When a name is not a valid field name.
    pub fn allow_headers<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Cors {
        let mut list = Vec::new();
        for name in names {
            if name == "*" {
                self.headers = AllowedHeaders::Mirror;
                return self;
            }
            list.push(valid_name(name).to_ascii_lowercase());
        }
        self.headers = AllowedHeaders::List(list);
        self
    }

    /// Response headers that scripts may read besides the CORS-safelisted
    /// ones (`Cache-Control`, `Content-Language`, `Content-Length`,
    /// `Content-Type`, `Expires`, `Last-Modified`, `Pragma`).
    ///
    /// # Panics
    /// When a name is not a valid field name.
    pub fn expose_headers<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Cors {
        self.expose = names
            .into_iter()
            .map(|n| valid_name(n).to_string())
            .collect();
        self
    }

    /// Whether requests may carry credentials (cookies, HTTP authentication):
    /// sends `Access-Control-Allow-Credentials: true`. Off by default.
    pub fn allow_credentials(mut self, allow: bool) -> Cors {
        self.credentials = allow;
        self
    }

    /// How long browsers may cache a preflight answer (default
    /// [`DEFAULT_MAX_AGE`]), in whole seconds.
    pub fn max_age(mut self, max_age: Duration) -> Cors {
        self.max_age = Some(max_age);
        self
    }

    /// The answer is the same `*` for everyone: no `Vary: Origin` needed.
    fn is_static(&self) -> bool {
        self.any_origin && !self.credentials
    }

    fn answer_for(&self, origin: Option<&[u8]>) -> OriginAnswer {
        if self.is_static() {
            return OriginAnswer::Any;
        }
        let Some(origin) = origin.and_then(|o| std::str::from_utf8(o).ok()) else {
            return OriginAnswer::Refused;
        };
        let allowed = self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
            || self.origin_filters.iter().any(|allow| allow(origin))
            // Credentials with `*`: the origin itself, but never `null`,
            // which any sandboxed iframe can claim.
            || (self.any_origin && origin != "null");
        match HeaderValue::try_from(origin) {
            Ok(value) if allowed => OriginAnswer::This(value),
            _ => OriginAnswer::Refused,
        }
    }

    /// The CORS fields for an actual (non-preflight) response, decided
    /// before the response is there (they depend on the request only).
    fn decoration(&self, answer: OriginAnswer) -> Decoration {
        let vary = !self.is_static();
        let allow_origin = match answer {
            OriginAnswer::Any => ANY,
            OriginAnswer::This(origin) => origin,
            OriginAnswer::Refused => {
                return Decoration {
                    vary,
                    allow_origin: None,
                    credentials: false,
                    expose: None,
                }
            }
        };
        Decoration {
            vary,
            allow_origin: Some(allow_origin),
            credentials: self.credentials,
            expose: (!self.expose.is_empty())
                .then(|| HeaderValue::try_from(self.expose.join(", ")).expect("validated names")),
        }
    }

    /// The answer to a preflight (Fetch standard, CORS-preflight fetch).
    fn preflight(&self, req: &Request) -> Response {
        let answer = self.answer_for(req.header_bytes("origin"));
        let method_ok = req
            .header_bytes("access-control-request-method")
            .and_then(Method::from_bytes)
            .is_some_and(|m| self.methods.contains(&m));
        let headers = self.requested_headers(req);
        let mut resp = match (&answer, method_ok, &headers) {
            (OriginAnswer::Refused, _, _) | (_, false, _) | (_, _, None) => {
                Response::status_text(Status::FORBIDDEN)
            }
            (_, true, Some(requested)) => self.grant(answer, requested),
        };
        resp.headers.insert(
            HeaderName::VARY,
            HeaderValue::from_static(
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ),
        );
        resp
    }

    /// The names a preflight asks for in `Access-Control-Request-Headers`,
    /// lower-cased; `None` when one is not allowed or not a field name.
    fn requested_headers(&self, req: &Request) -> Option<Vec<String>> {
        let mut requested = Vec::new();
        for value in req.header_all("access-control-request-headers") {
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                HeaderName::try_from(name).ok()?;
                let name = name.to_ascii_lowercase();
                if let AllowedHeaders::List(list) = &self.headers {
                    if !list.contains(&name) {
                        return None;
                    }
                }
                requested.push(name);
            }
        }
        Some(requested)
    }

    fn grant(&self, answer: OriginAnswer, requested: &[String]) -> Response {
        let allow_origin = match answer {
            OriginAnswer::Any => ANY,
            OriginAnswer::This(origin) => origin,
            OriginAnswer::Refused => unreachable!("refused preflights are not granted"),
        };
        let mut resp = Response::new(Status::NO_CONTENT).header(ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            resp = resp.header(ALLOW_CREDENTIALS, TRUE);
        }
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        resp = resp.header(ALLOW_METHODS, methods.join(", "));
        let headers = match &self.headers {
            AllowedHeaders::Mirror => requested.join(", "),
            AllowedHeaders::List(list) => list.join(", "),
        };
        if !headers.is_empty() {
            resp = resp.header(ALLOW_HEADERS, headers);
        }
        if let Some(max_age) = self.max_age {
            resp = resp.header(MAX_AGE, HeaderValue::from_u64(max_age.as_secs()));
        }
        resp
    }
}

/// `name` itself, checked to be a field name.
fn valid_name(name: &str) -> &str {
    assert!(HeaderName::try_from(name).is_ok(), "invalid header name");
    name
}

impl Middleware for Cors {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        if is_preflight(req) {
            return self.preflight(req).into();
        }
        let decoration = self.decoration(self.answer_for(req.header_bytes("origin")));
        next.run(req).map(move |mut resp| {
            decoration.apply(&mut resp);
            resp
        })
    }
}

/// The CORS fields of an actual response (see [`Cors::decoration`]).
struct Decoration {
    /// `Vary: Origin`: the answer depends on the origin.
    vary: bool,
    /// `Access-Control-Allow-Origin`; none for an origin not allowed, which
    /// then gets no other field either.
    allow_origin: Option<HeaderValue>,
    credentials: bool,
    expose: Option<HeaderValue>,
}

impl Decoration {
    fn apply(self, resp: &mut Response) {
        if self.vary {
            add_vary(&mut resp.headers, &["Origin"]);
        }
        let Some(allow_origin) = self.allow_origin else {
            return;
        };
        resp.headers.insert(ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            resp.headers.insert(ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(expose) = self.expose {
            resp.headers.insert(EXPOSE_HEADERS, expose);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::Handler;

    fn app(cors: Cors) -> osprey_web::Chain {
        (|_: &mut Request| Response::text("ok")).with(cors)
    }

    fn get(cors: Cors, origin: Option<&str>) -> Response {
        let mut req = Request::new(Method::Get, "/");
        if let Some(o) = origin {
            req = req.with_header("Origin", o);
        }
        app(cors).respond(&mut req)
    }

    fn preflight(cors: Cors, origin: &str, method: &str, headers: Option<&str>) -> Response {
        let mut req = Request::new(Method::Options, "/")
            .with_header("Origin", origin)
            .with_header("Access-Control-Request-Method", method);
        if let Some(h) = headers {
            req = req.with_header("Access-Control-Request-Headers", h);
        }
        app(cors).respond(&mut req)
    }

    fn field<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
        resp.headers.get(name).map(|v| v.to_str().unwrap())
    }

    const A: &str = "https://a.example";

    #[test]
    fn allowed_origin_gets_itself_back_with_vary() {
        let r = get(Cors::new().allow_origin(A), Some(A));
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
        assert_eq!(field(&r, "vary"), Some("Origin"));
        assert_eq!(field(&r, "access-control-allow-credentials"), None);
        assert_eq!(field(&r, "access-control-expose-headers"), None);
        // Case and a trailing slash in the configuration do not matter.
        let r = get(Cors::new().allow_origin("HTTPS://A.example/"), Some(A));
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
    }

    #[test]
    fn disallowed_or_missing_origin_gets_no_cors_fields_but_vary() {
        for origin in [Some("https://b.example"), Some("null"), None] {
            let r = get(Cors::new().allow_origin(A), origin);
            assert_eq!(r.status, Status::OK);
            assert_eq!(field(&r, "access-control-allow-origin"), None, "{origin:?}");
            assert_eq!(field(&r, "vary"), Some("Origin"));
        }
        // A prefix or suffix of an allowed origin is another origin.
        let r = get(Cors::new().allow_origin(A), Some("https://a.example.evil"));
        assert_eq!(field(&r, "access-control-allow-origin"), None);
    }

    #[test]
    fn pending_replies_get_the_fields_when_they_arrive() {
        let app = (|req: &mut Request| {
            let timer = req.timer();
            Reply::pending(async move {
                timer.sleep(std::time::Duration::from_millis(5)).await;
                Response::text("later")
            })
        })
        .with(
            Cors::new()
                .allow_origin(A)
                .allow_credentials(true)
                .expose_headers(["X-Total"]),
        );
        let mut req = Request::new(Method::Get, "/").with_header("Origin", A);
        let reply = app.call(&mut req);
        assert!(!reply.is_ready());
        let r = reply.wait();
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
        assert_eq!(field(&r, "access-control-allow-credentials"), Some("true"));
        assert_eq!(field(&r, "access-control-expose-headers"), Some("X-Total"));
        assert_eq!(field(&r, "vary"), Some("Origin"));
    }

    #[test]
    fn any_origin_without_credentials_is_a_static_star() {
        for origin in [Some(A), Some("null"), None] {
            let r = get(Cors::new().allow_origin("*"), origin);
            assert_eq!(field(&r, "access-control-allow-origin"), Some("*"));
            assert_eq!(field(&r, "vary"), None);
        }
    }

    #[test]
    fn credentials_with_any_origin_reflect_the_origin_but_not_null() {
        let cors = || Cors::new().allow_origin("*").allow_credentials(true);
        let r = get(cors(), Some(A));
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
        assert_eq!(field(&r, "access-control-allow-credentials"), Some("true"));
        assert_eq!(field(&r, "vary"), Some("Origin"));
        let r = get(cors(), Some("null"));
        assert_eq!(field(&r, "access-control-allow-origin"), None);
        let r = get(cors().allow_origin("null"), Some("null"));
        assert_eq!(field(&r, "access-control-allow-origin"), Some("null"));
    }

    #[test]
    fn origin_function_and_exposed_headers() {
        let cors = || {
            Cors::new()
                .allow_origin_fn(|o| o.ends_with(".trusted.example"))
                .expose_headers(["X-Request-Id", "ETag"])
        };
        let r = get(cors(), Some("https://x.trusted.example"));
        assert_eq!(
            field(&r, "access-control-allow-origin"),
            Some("https://x.trusted.example")
        );
        assert_eq!(
            field(&r, "access-control-expose-headers"),
            Some("X-Request-Id, ETag")
        );
        let r = get(cors(), Some("https://trusted.example.evil"));
        assert_eq!(field(&r, "access-control-allow-origin"), None);
        assert_eq!(field(&r, "access-control-expose-headers"), None);
    }

    #[test]
    fn vary_is_merged_with_the_handlers() {
        let chain = (|_: &mut Request| Response::text("x").header("Vary", "Accept-Encoding"))
            .with(Cors::new().allow_origin(A));
        let r = chain.respond(&mut Request::new(Method::Get, "/").with_header("Origin", A));
        assert_eq!(field(&r, "vary"), Some("Accept-Encoding, Origin"));
        assert_eq!(r.headers.get_all("vary").count(), 1);

        let mut h = HeaderMap::new();
        h.append(HeaderName::VARY, HeaderValue::from_static("origin"));
        add_vary(&mut h, &["Origin"]);
        assert_eq!(h.get("vary").unwrap().as_bytes(), b"origin");
        let mut h = HeaderMap::new();
        h.append(HeaderName::VARY, HeaderValue::from_static("*"));
        add_vary(&mut h, &["Origin"]);
        assert_eq!(h.get("vary").unwrap().as_bytes(), b"*");
        let mut h = HeaderMap::new();
        h.append(HeaderName::VARY, HeaderValue::from_static("A"));
        h.append(HeaderName::VARY, HeaderValue::from_static("B, C"));
        add_vary(&mut h, &["Origin", "b"]);
        assert_eq!(h.get("vary").unwrap().as_bytes(), b"A, B, C, Origin");
        assert_eq!(h.get_all("vary").count(), 1);
    }

    const PREFLIGHT_VARY: &str =
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

    #[test]
    fn allowed_preflight_is_answered_without_the_handler() {
        let cors = Cors::new()
            .allow_origin(A)
            .allow_methods([Method::Get, Method::Delete])
            .allow_headers(["X-Token", "Content-Type"])
            .allow_credentials(true)
            .max_age(Duration::from_secs(90));
        let r = preflight(cors, A, "DELETE", Some("x-token, Content-Type"));
        assert_eq!(r.status, Status::NO_CONTENT);
        assert_eq!(r.body.len_hint(), Some(0));
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
        assert_eq!(
            field(&r, "access-control-allow-methods"),
            Some("GET, DELETE")
        );
        assert_eq!(
            field(&r, "access-control-allow-headers"),
            Some("x-token, content-type")
        );
        assert_eq!(field(&r, "access-control-max-age"), Some("90"));
        assert_eq!(field(&r, "access-control-allow-credentials"), Some("true"));
        assert_eq!(field(&r, "vary"), Some(PREFLIGHT_VARY));
        // No headers asked for: the default list is still fine.
        let r = preflight(Cors::new().allow_origin(A), A, "POST", None);
        assert_eq!(r.status, Status::NO_CONTENT);
        assert_eq!(
            field(&r, "access-control-allow-methods"),
            Some("GET, HEAD, POST")
        );
        assert_eq!(field(&r, "access-control-allow-headers"), None);
        assert_eq!(field(&r, "access-control-max-age"), Some("600"));
        assert_eq!(field(&r, "access-control-allow-credentials"), None);
    }

    #[test]
    fn refused_preflights_are_403_without_cors_fields() {
        let cors = || Cors::new().allow_origin(A).allow_headers(["X-Token"]);
        let cases = [
            ("https://b.example", "GET", None),
            (A, "DELETE", None),
            (A, "not a method", None),
            (A, "GET", Some("X-Other")),
            (A, "GET", Some("x-token, X-Other")),
            (A, "GET", Some("bad name")),
        ];
        for (origin, method, headers) in cases {
            let r = preflight(cors(), origin, method, headers);
            assert_eq!(r.status, Status::FORBIDDEN, "{origin} {method} {headers:?}");
            assert!(
                r.headers
                    .iter()
                    .all(|(n, _)| !n.as_str().starts_with("Access-Control")),
                "{:?}",
                r.headers
            );
            assert_eq!(field(&r, "vary"), Some(PREFLIGHT_VARY));
        }
    }

    #[test]
    fn mirrored_headers_and_star_preflight() {
        let cors = Cors::new().allow_origin("*").allow_headers(["*"]);
        let r = preflight(cors, A, "GET", Some("X-Anything,Authorization"));
        assert_eq!(r.status, Status::NO_CONTENT);
        assert_eq!(field(&r, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            field(&r, "access-control-allow-headers"),
            Some("x-anything, authorization")
        );
    }

    #[test]
    fn plain_options_reaches_the_handler() {
        let chain = app(Cors::new().allow_origin(A));
        let r = chain.respond(&mut Request::new(Method::Options, "/").with_header("Origin", A));
        assert_eq!(r.status, Status::OK);
        assert_eq!(field(&r, "access-control-allow-origin"), Some(A));
        assert!(!is_preflight(&Request::new(Method::Options, "/")));
        assert!(!is_preflight(
            &Request::new(Method::Get, "/")
                .with_header("Origin", A)
                .with_header("Access-Control-Request-Method", "GET")
        ));
    }

    #[test]
    #[should_panic(expected = "scheme://host")]
    fn origins_with_paths_are_refused() {
        let _ = Cors::new().allow_origin("https://a.example/app");
    }

    #[test]
    #[should_panic(expected = "scheme://host")]
    fn bare_hosts_are_refused() {
        let _ = Cors::new().allow_origin("a.example");
    }
}
