//! Security response headers: the fields that tell browsers to turn on their
//! defenses (no MIME sniffing, no framing, a content security policy…).
//!
//! [`SecurityHeaders`] adds a configured set of fields to every response that
//! does not already carry them: a handler that sets its own
//! `Content-Security-Policy` (a page that needs an inline script) keeps it.

use std::time::Duration;

use osprey_proto::{HeaderName, HeaderValue};

use osprey_web::{Middleware, Next};
use osprey_web::{Reply, Request, Response};

/// The content security policy of [`SecurityHeaders::recommended`]: load
/// everything from this origin only (no inline scripts, no third-party
/// resources). Loosen it per site.
pub const DEFAULT_CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// Response fields added unless the handler set them; see the
/// [module](self) documentation.
///
/// ```
/// use osprey_middleware::security_headers::SecurityHeaders;
/// use osprey_web::{Handler, Method, Request, Response};
///
/// let app = (|req: &mut Request| {
///     if req.path() == "/embed" {
///         // This page may be framed by anyone: its own choice wins.
///         return Response::html("<p>widget</p>").header("X-Frame-Options", "SAMEORIGIN");
///     }
///     Response::html("<p>hi</p>")
/// })
/// .with(SecurityHeaders::recommended().without("Cross-Origin-Opener-Policy"));
///
/// let resp = app.respond(&mut Request::new(Method::Get, "/"));
/// assert_eq!(resp.headers.get("x-content-type-options").unwrap().as_bytes(), b"nosniff");
/// assert_eq!(resp.headers.get("x-frame-options").unwrap().as_bytes(), b"DENY");
/// assert!(resp.headers.get("cross-origin-opener-policy").is_none());
/// let resp = app.respond(&mut Request::new(Method::Get, "/embed"));
/// assert_eq!(resp.headers.get("x-frame-options").unwrap().as_bytes(), b"SAMEORIGIN");
/// ```
#[derive(Clone, Debug, Default)]
pub struct SecurityHeaders {
    fields: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    /// No fields; add them with [`SecurityHeaders::set`].
    pub fn new() -> SecurityHeaders {
        SecurityHeaders::default()
    }

    /// A preset for sites and APIs served from their own origin:
    ///
    /// - `X-Content-Type-Options: nosniff` — never guess a type other than
    ///   the declared one (Fetch standard, "should response to request be
    ///   blocked due to nosniff");
    /// - `X-Frame-Options: DENY` — no framing by other pages, against
    ///   clickjacking (RFC 7034);
    /// - `Referrer-Policy: strict-origin-when-cross-origin` — other origins see
    ///   only the origin of the referring page, and nothing over HTTP;
    /// - `Cross-Origin-Opener-Policy: same-origin` — pages of other origins
    ///   opened from this one (or opening it) get no handle on its window;
    /// - `Content-Security-Policy:` [`DEFAULT_CONTENT_SECURITY_POLICY`].
    ///
    /// `Strict-Transport-Security` is not included: it only means something
    /// over HTTPS (browsers ignore it over plain HTTP, RFC 6797 §8.1) and
    /// pins a host to HTTPS for its whole max-age; opt in with
    /// [`SecurityHeaders::hsts`].
    pub fn recommended() -> SecurityHeaders {
        SecurityHeaders::new()
            .set("X-Content-Type-Options", "nosniff")
            .set("X-Frame-Options", "DENY")
            .set("Referrer-Policy", "strict-origin-when-cross-origin")
            .set("Cross-Origin-Opener-Policy", "same-origin")
            .set("Content-Security-Policy", DEFAULT_CONTENT_SECURITY_POLICY)
    }

    /// Adds field `name` with `value`, replacing an earlier value of it.
    ///
    /// # Panics
    /// When `name` is not a field name or `value` not a field value.
    pub fn set(mut self, name: &str, value: &str) -> SecurityHeaders {
        let name = HeaderName::try_from(name).expect("invalid header name");
        let value = HeaderValue::try_from(value).expect("invalid header value");
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => self.fields.push((name, value)),
        }
        self
    }

    /// Removes field `name` (case-insensitive) from the set.
    pub fn without(mut self, name: &str) -> SecurityHeaders {
        self.fields.retain(|(n, _)| !n.is(name));
        self
    }

    /// Sets `Content-Security-Policy`.
    pub fn content_security_policy(self, policy: &str) -> SecurityHeaders {
        self.set("Content-Security-Policy", policy)
    }

    /// Sets `X-Frame-Options` (`DENY` or `SAMEORIGIN`).
    pub fn frame_options(self, value: &str) -> SecurityHeaders {
        self.set("X-Frame-Options", value)
    }

    /// Sets `Referrer-Policy`.
    pub fn referrer_policy(self, policy: &str) -> SecurityHeaders {
        self.set("Referrer-Policy", policy)
    }

    /// Sets `Cross-Origin-Opener-Policy`.
    pub fn cross_origin_opener_policy(self, policy: &str) -> SecurityHeaders {
        self.set("Cross-Origin-Opener-Policy", policy)
    }

    /// Adds `Strict-Transport-Security: max-age=SECONDS` (RFC 6797 §6.1):
    /// browsers will reach this host only over HTTPS for `max_age`. Only for
    /// sites served over HTTPS; for `includeSubDomains` or `preload` use
    /// [`SecurityHeaders::set`].
    pub fn hsts(self, max_age: Duration) -> SecurityHeaders {
        let value = format!("max-age={}", max_age.as_secs());
        self.set("Strict-Transport-Security", &value)
    }
}

impl Middleware for SecurityHeaders {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        match next.run(req).into_ready() {
            Ok(resp) => add_missing(&self.fields, resp).into(),
            Err(pending) => {
                // The response comes later: the fields go with it.
                let fields = self.fields.clone();
                pending.map(move |resp| add_missing(&fields, resp))
            }
        }
    }
}

/// `resp` with those of `fields` it does not carry yet.
fn add_missing(fields: &[(HeaderName, HeaderValue)], mut resp: Response) -> Response {
    for (name, value) in fields {
        if !resp.headers.contains(name.as_str()) {
            resp.headers.append(name.clone(), value.clone());
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Method, Status};

    fn run(mw: SecurityHeaders, handler: impl Handler) -> Response {
        handler
            .with(mw)
            .respond(&mut Request::new(Method::Get, "/"))
    }

    fn ok(_: &mut Request) -> Response {
        Response::text("ok")
    }

    fn field<'a>(resp: &'a Response, name: &str) -> Option<&'a [u8]> {
        resp.headers.get(name).map(|v| v.as_bytes())
    }

    #[test]
    fn recommended_preset() {
        let r = run(SecurityHeaders::recommended(), ok);
        assert_eq!(field(&r, "x-content-type-options"), Some(&b"nosniff"[..]));
        assert_eq!(field(&r, "x-frame-options"), Some(&b"DENY"[..]));
        assert_eq!(
            field(&r, "referrer-policy"),
            Some(&b"strict-origin-when-cross-origin"[..])
        );
        assert_eq!(
            field(&r, "cross-origin-opener-policy"),
            Some(&b"same-origin"[..])
        );
        assert_eq!(
            field(&r, "content-security-policy"),
            Some(&b"default-src 'self'"[..])
        );
        assert_eq!(field(&r, "strict-transport-security"), None);
        // Error replies get them too.
        let r = run(SecurityHeaders::recommended(), |_: &mut Request| {
            Response::status_text(Status::NOT_FOUND)
        });
        assert_eq!(field(&r, "x-frame-options"), Some(&b"DENY"[..]));
    }

    #[test]
    fn pending_replies_get_the_fields_when_they_arrive() {
        let app = (|_: &mut Request| {
            let (responder, reply) = Reply::later();
            std::thread::spawn(move || {
                let answer = Response::text("x").header("X-Frame-Options", "SAMEORIGIN");
                responder.send(answer).unwrap();
            });
            reply
        })
        .with(SecurityHeaders::recommended());
        let r = app.respond(&mut Request::new(Method::Get, "/"));
        assert_eq!(field(&r, "x-content-type-options"), Some(&b"nosniff"[..]));
        assert_eq!(field(&r, "x-frame-options"), Some(&b"SAMEORIGIN"[..]));
        assert_eq!(r.headers.get_all("x-frame-options").count(), 1);
    }

    #[test]
    fn handler_fields_are_never_overwritten() {
        let r = run(SecurityHeaders::recommended(), |_: &mut Request| {
            Response::text("x").header("content-security-policy", "script-src 'unsafe-inline'")
        });
        let all: Vec<_> = r.headers.get_all("content-security-policy").collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_bytes(), b"script-src 'unsafe-inline'");
    }

    #[test]
    fn builder_changes_and_removes() {
        let mw = SecurityHeaders::recommended()
            .frame_options("SAMEORIGIN")
            .content_security_policy("default-src 'none'")
            .referrer_policy("no-referrer")
            .cross_origin_opener_policy("same-origin-allow-popups")
            .without("x-content-type-options")
            .hsts(Duration::from_secs(31_536_000))
            .set("Permissions-Policy", "geolocation=()");
        let r = run(mw, ok);
        assert_eq!(field(&r, "x-frame-options"), Some(&b"SAMEORIGIN"[..]));
        assert_eq!(
            field(&r, "content-security-policy"),
            Some(&b"default-src 'none'"[..])
        );
        assert_eq!(field(&r, "referrer-policy"), Some(&b"no-referrer"[..]));
        assert_eq!(
            field(&r, "cross-origin-opener-policy"),
            Some(&b"same-origin-allow-popups"[..])
        );
        assert_eq!(field(&r, "x-content-type-options"), None);
        assert_eq!(
            field(&r, "strict-transport-security"),
            Some(&b"max-age=31536000"[..])
        );
        assert_eq!(
            field(&r, "permissions-policy"),
            Some(&b"geolocation=()"[..])
        );
        assert_eq!(r.headers.get_all("x-frame-options").count(), 1);
        assert!(run(SecurityHeaders::new(), ok).headers.len() == 1);
    }

    #[test]
    #[should_panic(expected = "invalid header value")]
    fn invalid_values_are_refused_at_configuration() {
        let _ = SecurityHeaders::new().set("X-A", "a\r\nb");
    }
}
