//! Request ids, security headers and the timeout middleware over real
//! sockets, spoken to with curl.

mod common;

use std::time::{Duration, Instant};

use common::{curl, TestServer};
use osprey::middleware::request_id::{RequestId, RequestIdValue};
use osprey::middleware::security_headers::SecurityHeaders;
use osprey::middleware::timeout::Timeout;
use osprey::{Request, Response, Router};

#[test]
fn request_ids_are_kept_or_made_and_echoed() {
    let app = Router::new()
        .with(RequestId::new())
        .get("/", |req: &mut Request| {
            Response::text(req.extensions().get::<RequestIdValue>().unwrap().0.clone())
        });
    let server = TestServer::start(app);
    let r = curl(&["-H", "X-Request-Id: trace-42", &server.url("/")]);
    assert_eq!(r.header("x-request-id"), Some("trace-42"));
    assert_eq!(r.text(), "trace-42");
    let a = curl(&[&server.url("/")]);
    let b = curl(&[&server.url("/")]);
    let (a_id, b_id) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_ne!(a_id, b_id);
    assert_eq!(a.text(), a_id);
    assert_eq!(a_id.as_bytes()[16], b'-');
    // An id too long for logs is replaced.
    let long = format!("X-Request-Id: {}", "x".repeat(500));
    let r = curl(&["-H", &long, &server.url("/")]);
    assert!(r.header("x-request-id").unwrap().len() < 40);
}

#[test]
fn security_headers_are_added_unless_the_handler_set_them() {
    let app = Router::new()
        .with(SecurityHeaders::recommended())
        .get("/", |_: &mut Request| Response::html("<p>hi</p>"))
        .get("/framed", |_: &mut Request| {
            Response::html("<p>widget</p>").header("X-Frame-Options", "SAMEORIGIN")
        });
    let server = TestServer::start(app);
    let r = curl(&[&server.url("/")]);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
    assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );
    assert_eq!(r.header("strict-transport-security"), None);
    let r = curl(&[&server.url("/framed")]);
    assert_eq!(r.header_all("x-frame-options"), ["SAMEORIGIN"]);
    // 404s from the router get them too.
    let r = curl(&[&server.url("/nope")]);
    assert_eq!((r.status, r.header("x-frame-options")), (404, Some("DENY")));
}

#[test]
fn slow_handlers_get_503_in_time_and_fast_ones_pass() {
    let app = Router::new()
        .with(Timeout::new(Duration::from_millis(200)))
        .get("/fast", |_: &mut Request| {
            Response::text("quick").header("X-Mine", "1")
        })
        .get("/slow", |_: &mut Request| {
            // Plays a handler stuck on something slow.
            std::thread::sleep(Duration::from_secs(3));
            Response::text("too late")
        });
    let server = TestServer::start(app);
    let r = curl(&[&server.url("/fast")]);
    assert_eq!((r.status, r.text().as_str()), (200, "quick"));
    assert_eq!(r.header("x-mine"), Some("1"));

    let start = Instant::now();
    let r = curl(&[&server.url("/slow")]);
    let waited = start.elapsed();
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "Service Unavailable\n")
    );
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    // The server is not stuck behind the detached handler.
    let r = curl(&[&server.url("/fast")]);
    assert_eq!((r.status, r.text().as_str()), (200, "quick"));
}
