//! The command line every example shares: `--listen ADDR` (repeatable),
//! `--model`, `--workers`; binds, prints `listening on http://ADDR` for each
//! address once the listeners accept, and serves until SIGTERM or SIGINT.
//! An example with options of its own flattens [`Args`] into its own parser.

use std::net::SocketAddr;

use clap::Parser;
use osprey::{Config, Handler, Model, Server};

/// The shared options.
#[derive(Parser)]
pub struct Args {
    /// Address to listen on (repeatable; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: Vec<SocketAddr>,
    /// Concurrency model: iterative, fork, threads, epoll or reactor.
    #[arg(long, default_value = "reactor")]
    model: Model,
    /// Event loops for the reactor model (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

/// Parses the command line and serves `app` until shutdown; exits 2 when the
/// listeners cannot be bound.
#[allow(dead_code)] // not every example uses both entry points
pub fn serve(name: &str, app: impl Handler) {
    Args::parse().serve(name, app, Config::default());
}

impl Args {
    /// Serves `app` with `config` until shutdown; exits 2 when the listeners
    /// cannot be bound.
    #[allow(dead_code)]
    pub fn serve(self, name: &str, app: impl Handler, config: Config) {
        let mut builder = Server::builder()
            .model(self.model)
            .config(config)
            .handler(app);
        for addr in self.listen {
            builder = builder.listen(addr);
        }
        if let Some(n) = self.workers {
            builder = builder.workers(n);
        }
        let server = match builder.bind() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{name}: cannot listen: {e}");
                std::process::exit(2);
            }
        };
        for addr in server.local_addrs() {
            println!("listening on http://{addr}");
        }
        if let Err(e) = server.run() {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}
