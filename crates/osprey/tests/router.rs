//! The router and the server together over real sockets: params, 404, 405
//! with Allow, HEAD, OPTIONS, trailing-slash redirects, invalid paths and
//! per-route body limits (refused before the body is read).

mod common;

use common::{curl, TestServer};
use osprey::{body_limit, Request, Response, Router};

fn app() -> Router {
    Router::new()
        .get("/users/:id", |req: &mut Request| {
            Response::text(format!("user {}", req.param("id").unwrap_or("?")))
        })
        .post(
            "/small",
            body_limit(16, |req: &mut Request| {
                Response::text(format!("got {}", req.body().len()))
            }),
        )
        .get("/docs/", |_: &mut Request| Response::text("docs"))
}

#[test]
fn routes_over_a_socket() {
    let server = TestServer::start(app());
    let r = curl(&[&server.url("/users/caf%C3%A9")]);
    assert_eq!((r.status, r.text().as_str()), (200, "user café"));
    let r = curl(&[&server.url("/nope")]);
    assert_eq!(r.status, 404);
    let r = curl(&["-X", "DELETE", &server.url("/users/1")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = curl(&["-I", &server.url("/users/1")]);
    // HEAD from the GET route: the same length, no body (curl -I reads none).
    assert_eq!((r.status, r.header("content-length")), (200, Some("6")));
    let r = curl(&["-X", "OPTIONS", &server.url("/users/1")]);
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, OPTIONS"))
    );
    let r = curl(&[&server.url("/docs?page=2")]);
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("/docs/?page=2"))
    );
}

#[test]
fn invalid_path_encoding_is_400_from_the_server() {
    let server = TestServer::start(app());
    for bad in ["/users/%00", "/users/%zz", "/users/%C3"] {
        let r = curl(&["--path-as-is", &server.url(bad)]);
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[test]
fn per_route_body_limit_is_enforced_before_reading() {
    let server = TestServer::start(app());
    let r = curl(&["--data-binary", "0123456789", &server.url("/small")]);
    assert_eq!((r.status, r.text().as_str()), (200, "got 10"));
    // Content-Length over the limit: 413 at once, even though curl waits
    // for 100 Continue before sending the body.
    let big = "x".repeat(1000);
    let r = curl(&[
        "--data-binary",
        &big,
        "-H",
        "Expect: 100-continue",
        &server.url("/small"),
    ]);
    assert_eq!(r.status, 413);
    // Chunked: refused once the body passes the limit.
    let r = curl(&[
        "--data-binary",
        &big,
        "-H",
        "Transfer-Encoding: chunked",
        &server.url("/small"),
    ]);
    assert_eq!(r.status, 413);
}
