//! The CORS middleware over real sockets, spoken to with curl: a preflight
//! answered with the allowed origin, methods, headers and max age; a simple
//! GET from an allowed origin gets Allow-Origin and Vary; another origin
//! gets no CORS fields.

mod common;

use std::time::Duration;

use common::{curl, preflight, TestServer};
use osprey::middleware::cors::Cors;
use osprey::{Method, Request, Response, Router};

const ORIGIN: &str = "https://app.example";

fn app() -> Router {
    Router::new()
        .with(
            Cors::new()
                .allow_origin(ORIGIN)
                .allow_methods([Method::Get, Method::Put])
                .allow_headers(["Content-Type", "X-Token"])
                .expose_headers(["X-Total"])
                .allow_credentials(true)
                .max_age(Duration::from_secs(120)),
        )
        .get("/items", |_: &mut Request| {
            Response::text("[]").header("X-Total", "0")
        })
        .put("/items", |_: &mut Request| Response::text("stored"))
}

#[test]
fn preflight_gets_the_cors_answer_without_reaching_the_handler() {
    let server = TestServer::start(app());
    let r = preflight(
        &server.url("/items"),
        ORIGIN,
        "PUT",
        Some("content-type,x-token"),
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-token")
    );
    assert_eq!(r.header("access-control-max-age"), Some("120"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
    );
    // The router would have answered a plain OPTIONS with Allow.
    assert_eq!(r.header("allow"), None);
    assert!(r.body.is_empty());
}

#[test]
fn refused_preflight_has_no_cors_fields() {
    let server = TestServer::start(app());
    for (origin, method) in [("https://evil.example", "PUT"), (ORIGIN, "DELETE")] {
        let r = preflight(&server.url("/items"), origin, method, None);
        assert_eq!(r.status, 403, "{origin} {method}");
        assert!(
            r.headers
                .iter()
                .all(|(n, _)| !n.starts_with("access-control-")),
            "{:?}",
            r.headers
        );
    }
}

#[test]
fn simple_get_from_an_allowed_origin_gets_allow_origin_and_vary() {
    let server = TestServer::start(app());
    let r = curl(&["-H", &format!("Origin: {ORIGIN}"), &server.url("/items")]);
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-expose-headers"), Some("X-Total"));
    assert_eq!(r.header("vary"), Some("Origin"));
}

#[test]
fn another_origin_gets_no_cors_fields() {
    let server = TestServer::start(app());
    let r = curl(&["-H", "Origin: https://evil.example", &server.url("/items")]);
    // Served (CORS is enforced by browsers), but with nothing that grants access.
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
}
