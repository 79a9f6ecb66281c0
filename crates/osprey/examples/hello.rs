//! Hello, World! under any concurrency model.
//!
//! `cargo run --release --example hello -- --listen 127.0.0.1:8080 --model reactor --workers 2`
//!
//! Every request gets `Hello, World!` (text/plain); `POST /echo` gets its own
//! body back. This is the server the benchmarks in bench/ run against nginx.

mod common;

use osprey::{Body, Method, Request, Response};

fn hello(req: &mut Request) -> Response {
    if *req.method() == Method::Post && req.path() == "/echo" {
        let body = req.take_body();
        return Response::new(osprey::Status::OK).body(Body::from(body));
    }
    Response::text("Hello, World!")
}

fn main() {
    common::serve("hello", hello);
}
