//! Redirects cleartext requests to HTTPS: every request that did not come
//! over TLS is answered `308 Permanent Redirect` to the same path on the
//! `https` origin, and requests over TLS pass through. 308, not 301: the
//! method and body are kept (RFC 9110 §15.4.9), so a form POSTed to the
//! `http` address is re-sent, not turned into a GET.
//!
//! The host comes from the request (its authority, RFC 9112 §3.2), without
//! its port; the port is the HTTPS listener's, left out when it is 443. A
//! request without a usable host (HTTP/1.0 without `Host`) is redirected to
//! the address it was received on.

use osprey_web::{Middleware, Next, Reply, Request, Response, Status};

/// The redirecting middleware.
#[derive(Clone, Debug)]
pub struct HttpsRedirect {
    port: u16,
}

impl HttpsRedirect {
    /// Redirects to HTTPS on `port`.
    pub fn to_port(port: u16) -> HttpsRedirect {
        HttpsRedirect { port }
    }

    /// The https URL for `req`.
    fn location(&self, req: &Request) -> String {
        let host = req
            .authority()
            .map(host_of)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                let local = req.connection()?.local.ip();
                Some(if local.is_ipv6() {
                    format!("[{local}]")
                } else {
                    local.to_string()
                })
            })
            .unwrap_or_else(|| "localhost".into());
        let port = if self.port == 443 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        // The target as sent: an origin-form path and query, or the path
        // part of an absolute form.
        let target = req.target();
        let path = if target.starts_with('/') {
            target.to_owned()
        } else {
            match req.query() {
                Some(q) => format!("{}?{q}", req.raw_path()),
                None => req.raw_path().to_owned(),
            }
        };
        format!("https://{host}{port}{path}")
    }
}

/// The host of an authority, without its port (`[::1]:80` → `[::1]`).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => "",
        };
    }
    authority.split(':').next().unwrap_or("")
}

impl Middleware for HttpsRedirect {
    fn handle(&self, req: &mut Request, next: Next<'_>) -> Reply {
        let secure = req.connection().is_some_and(|c| c.tls.is_some());
        if secure {
            return next.run(req);
        }
        Response::redirect(Status::PERMANENT_REDIRECT, &self.location(req)).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey_web::{Handler, Method};

    fn redirect(target: &str, host: Option<&str>, port: u16) -> (u16, String) {
        let mut req = Request::new(Method::Get, target);
        if let Some(h) = host {
            req = req.with_header("Host", h);
        }
        let app = osprey_web::Router::new()
            .with(HttpsRedirect::to_port(port))
            .fallback(|_: &mut Request| Response::text("plain"));
        let resp = app.respond(&mut req);
        let location = resp
            .headers
            .get("location")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        (resp.status.as_u16(), location)
    }

    #[test]
    fn cleartext_requests_are_sent_to_https() {
        assert_eq!(
            redirect("/a/b?x=1", Some("example.com:8080"), 8443),
            (308, "https://example.com:8443/a/b?x=1".into())
        );
        assert_eq!(
            redirect("/", Some("example.com"), 443),
            (308, "https://example.com/".into())
        );
        assert_eq!(
            redirect("/p", Some("[::1]:80"), 8443),
            (308, "https://[::1]:8443/p".into())
        );
        // No host at all, no connection: a name that at least resolves.
        assert_eq!(
            redirect("/p", None, 8443),
            (308, "https://localhost:8443/p".into())
        );
    }
}
