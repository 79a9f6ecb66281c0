//! The rate limit over real sockets: a client over its rate gets 429 with
//! `Retry-After` while another client (curl bound to 127.0.0.2 — Linux routes
//! all of 127/8 to the loopback interface) is still served.

mod common;

use common::{curl, TestServer};
use osprey::middleware::rate_limit::RateLimit;
use osprey::{Request, Response, Router};

#[test]
fn a_client_over_its_rate_gets_429_and_others_are_served() {
    // Bursts of 2, then one request every 100 s: the third request within
    // the test is over the limit whatever the machine's speed.
    let app = Router::new()
        .with(RateLimit::per_client(0.01, 2))
        .get("/", |req: &mut Request| {
            Response::text(format!("from {}", req.peer_addr().unwrap().ip()))
        });
    let server = TestServer::start(app);
    let url = server.url("/");
    for _ in 0..2 {
        let r = curl(&[&url]);
        assert_eq!((r.status, r.text().as_str()), (200, "from 127.0.0.1"));
    }
    let r = curl(&[&url]);
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), "Too Many Requests\n");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((99..=100).contains(&retry), "{retry}");

    let r = curl(&["--interface", "127.0.0.2", &url]);
    assert_eq!((r.status, r.text().as_str()), (200, "from 127.0.0.2"));
    // And the first client is still refused.
    assert_eq!(curl(&[&url]).status, 429);
}
