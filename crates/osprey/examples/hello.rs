//! Hello, World! under any concurrency model.
//!
//! `cargo run --release --example hello -- --listen 127.0.0.1:8080 --model reactor --workers 2`
//!
//! Every request gets `Hello, World!` (text/plain); `POST /echo` gets its own
//! body back. This is the server the benchmarks in bench/ run against nginx.

use std::net::SocketAddr;

use clap::Parser;
use osprey::{Body, Method, Model, Request, Response, Server};

#[derive(Parser)]
#[command(about = "Answers every request with Hello, World!")]
struct Args {
    /// Address to listen on (repeatable).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: Vec<SocketAddr>,
    /// Concurrency model: iterative, fork, threads, epoll or reactor.
    #[arg(long, default_value = "reactor")]
    model: Model,
    /// Event loops for the reactor model (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn hello(req: &mut Request) -> Response {
    if *req.method() == Method::Post && req.path() == "/echo" {
        let body = req.take_body();
        return Response::new(osprey::Status::OK).body(Body::from(body));
    }
    Response::text("Hello, World!")
}

fn main() {
    let args = Args::parse();
    let mut builder = Server::builder().model(args.model).handler(hello);
    for addr in args.listen {
        builder = builder.listen(addr);
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    let server = match builder.bind() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello: cannot listen: {e}");
            std::process::exit(2);
        }
    };
    for addr in server.local_addrs() {
        println!("listening on http://{addr}");
    }
    if let Err(e) = server.run() {
        eprintln!("hello: {e}");
        std::process::exit(1);
    }
}
