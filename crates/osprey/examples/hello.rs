//! Hello, World! under any concurrency model.
//!
//! `cargo run --release --example hello -- --listen 127.0.0.1:8080 --model reactor --workers 2`
//!
//! Every request gets `Hello, World!` (text/plain); `POST /echo` gets its own
//! body back; `GET /delay/:ms` answers `slept :ms ms` after that many
//! milliseconds, from a timer on the server's own loop (a pending reply: no
//! thread waits for it). This is the server the benchmarks in bench/ run
//! against nginx, so it routes by hand rather than with a `Router`.

mod common;

use std::time::Duration;

use osprey::{Body, Error, Method, Reply, Request, Response};

fn hello(req: &mut Request) -> Reply {
    if *req.method() == Method::Post && req.path() == "/echo" {
        let body = req.take_body();
        return Response::new(osprey::Status::OK)
            .body(Body::from(body))
            .into();
    }
    if let Some(ms) = req.path().strip_prefix("/delay/") {
        let Some(ms) = ms.parse::<u64>().ok().filter(|ms| *ms <= 3_600_000) else {
            return Error::bad_request("/delay/:ms takes milliseconds, at most an hour").into();
        };
        let timer = req.timer();
        return Reply::pending(async move {
            timer.sleep(Duration::from_millis(ms)).await;
            format!("slept {ms} ms")
        });
    }
    Response::text("Hello, World!").into()
}

fn main() {
    common::serve("hello", hello);
}
