//! The command line every example shares: `--listen ADDR` (repeatable),
//! `--model`, `--workers`, and `--tls-cert FILE --tls-key FILE` to serve
//! HTTPS instead; binds, prints `listening on http://ADDR` (or `https://`)
//! for each address once the listeners accept, and serves until SIGTERM or
//! SIGINT.
//! An example with options of its own flattens [`Args`] into its own parser.

use std::net::SocketAddr;

use clap::Parser;
use osprey::{Config, Handler, Model, Server, TlsConfig};

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
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
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
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => match TlsConfig::from_files(cert, key) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    eprintln!("{name}: {e}");
                    std::process::exit(2);
                }
            },
            _ => None,
        };
        for addr in self.listen {
            builder = match &tls {
                Some(tls) => builder.listen_tls(addr, tls.clone()),
                None => builder.listen(addr),
            };
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
        let scheme = if tls.is_some() { "https" } else { "http" };
        for addr in server.local_addrs() {
            println!("listening on {scheme}://{addr}");
        }
        if let Err(e) = server.run() {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}
