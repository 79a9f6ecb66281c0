//! Osprey's server: the HTTP/1.1 machine driven over the runtime, under five
//! concurrency models that all run the same handler code.
//!
//! ```no_run
//! use osprey_server::{Model, Server};
//! use osprey_web::{Request, Response};
//!
//! let server = Server::builder()
//!     .listen("127.0.0.1:8080".parse().unwrap())
//!     .model(Model::Reactor)
//!     .handler(|_: &mut Request| Response::text("Hello, World!"))
//!     .bind()
//!     .unwrap();
//! println!("listening on http://{}", server.local_addrs()[0]);
//! server.run().unwrap(); // until SIGTERM or SIGINT
//! ```
//!
//! Models (docs/concurrency.md has the trade-offs and measurements):
//! - [`Model::Iterative`]: one connection at a time;
//! - [`Model::Fork`]: a process per connection;
//! - [`Model::Threads`]: a thread per connection, bounded;
//! - [`Model::Epoll`]: one event loop on one thread;
//! - [`Model::Reactor`] (default): one event loop per core, each with its own
//!   `SO_REUSEPORT` listener.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
mod buffers;
pub mod config;
mod conn;
mod event_loop;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod machine;
mod reclaim;
mod service;
mod timers;
pub mod tls;
mod transport;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::Arc;

pub use config::Config;
use osprey_rt::net::{self, ListenOptions};
pub use osprey_rt::signals::Shutdown;
use osprey_web::Handler;
use service::Service;
pub use tls::{TlsBuilder, TlsConfig, TlsError};

/// A bound listening socket, and the TLS configuration of the connections it
/// accepts (`None`: cleartext).
pub(crate) struct Listener {
    pub socket: TcpListener,
    pub tls: Option<TlsConfig>,
}

/// A concurrency model. All run the same connection engine and handlers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Model {
    /// One connection at a time (teaching; the baseline of every comparison).
    Iterative,
    /// A process per connection; the parent reaps its children.
    Fork,
    /// A thread per connection, at most `Config::max_threads`.
    Threads,
    /// One event loop on one thread.
    Epoll,
    /// One event loop per core (`workers`), each with its own listener.
    #[default]
    Reactor,
}

impl Model {
    /// Every model, in the order docs and benchmarks list them.
    pub const ALL: [Model; 5] = [
        Model::Iterative,
        Model::Fork,
        Model::Threads,
        Model::Epoll,
        Model::Reactor,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Iterative => "iterative",
            Model::Fork => "fork",
            Model::Threads => "threads",
            Model::Epoll => "epoll",
            Model::Reactor => "reactor",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Model, String> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("unknown model `{s}` (expected iterative, fork, threads, epoll or reactor)")
            })
    }
}

/// Configures a [`Server`].
pub struct ServerBuilder {
    addrs: Vec<(SocketAddr, Option<TlsConfig>)>,
    model: Model,
    workers: Option<usize>,
    config: Config,
    handler: Option<Arc<dyn Handler>>,
    shutdown: Option<Shutdown>,
    on_thread_start: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl ServerBuilder {
    /// Adds an address to listen on (repeatable). Port 0 picks a free port; see
    /// [`Server::local_addrs`].
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.addrs.push((addr, None));
        self
    }

    /// Adds an address that speaks TLS with `tls` (repeatable; cleartext and
    /// TLS listeners may be mixed). Handlers see what the handshake settled
    /// in `Request::connection().tls`.
    pub fn listen_tls(mut self, addr: SocketAddr, tls: TlsConfig) -> Self {
        self.addrs.push((addr, Some(tls)));
        self
    }

    /// The concurrency model.
    pub fn model(mut self, model: Model) -> Self {
        self.model = model;
        self
    }

    /// Event loops for [`Model::Reactor`] (default: the number of cores).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// Limits and timeouts.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The handler every request goes to.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Shutdown control. By default `run` installs SIGTERM/SIGINT handlers.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Runs `f` at the start of every event-loop thread (naming, pinning,
    /// instrumentation in tests).
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Binds every listener. Errors here (address in use, permission) are the
    /// ones a command line reports before serving. The handler may be given
    /// here or after binding ([`Server::handler`]); `run` needs one.
    pub fn bind(self) -> std::io::Result<Server> {
        let addrs = if self.addrs.is_empty() {
            vec![(SocketAddr::from(([127, 0, 0, 1], 8080)), None)]
        } else {
            self.addrs
        };
        let loops = match self.model {
            Model::Reactor => self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            _ => 1,
        };
        // One listener per address per loop; all of a loop's listeners after the
        // first reuse the port the first bound, so port 0 works with SO_REUSEPORT.
        let mut per_loop: Vec<Vec<Listener>> = (0..loops).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::new();
        for (addr, tls) in addrs {
            let options = ListenOptions {
                reuse_port: self.model == Model::Reactor,
                backlog: self.config.backlog,
                ..ListenOptions::default()
            };
            let first = net::listen(addr, options)?;
            let bound = first.local_addr()?;
            local_addrs.push(bound);
            per_loop[0].push(Listener {
                socket: first,
                tls: tls.clone(),
            });
            for listeners in per_loop.iter_mut().skip(1) {
                listeners.push(Listener {
                    socket: net::listen(bound, options)?,
                    tls: tls.clone(),
                });
            }
        }
        // 50,000 connections need more than the default 1024 descriptors.
        let _ = net::raise_fd_limit();
        Ok(Server {
            per_loop,
            local_addrs,
            model: self.model,
            handler: self.handler,
            config: self.config,
            shutdown: self.shutdown,
            on_thread_start: self.on_thread_start,
        })
    }
}

/// A server with its listeners bound, ready to run.
pub struct Server {
    per_loop: Vec<Vec<Listener>>,
    local_addrs: Vec<SocketAddr>,
    model: Model,
    handler: Option<Arc<dyn Handler>>,
    config: Config,
    shutdown: Option<Shutdown>,
    on_thread_start: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Server {
    /// A builder with default settings: 127.0.0.1:8080, `reactor`.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addrs: Vec::new(),
            model: Model::default(),
            workers: None,
            config: Config::default(),
            handler: None,
            shutdown: None,
            on_thread_start: None,
        }
    }

    /// The addresses actually bound, in the order given (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The model this server runs.
    pub fn model(&self) -> Model {
        self.model
    }

    /// Sets (or replaces) the handler after binding: for a handler that
    /// needs to know the addresses bound, such as a redirect to the port a
    /// listener got.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Serves until shutdown is requested (SIGTERM/SIGINT unless a
    /// [`Shutdown`] was given), then finishes in-flight requests within
    /// `Config::shutdown_grace` and returns.
    pub fn run(self) -> std::io::Result<()> {
        // Certificates are reloaded on SIGHUP when the server handles
        // signals itself, and whenever their files change.
        let (shutdown, sighup) = match self.shutdown {
            Some(s) => (s, None),
            None => (
                Shutdown::install()?,
                Some(osprey_rt::signals::reload_requests()?),
            ),
        };
        let tls: Vec<&TlsConfig> = self.per_loop[0]
            .iter()
            .filter_map(|l| l.tls.as_ref())
            .collect();
        let reloader = tls::Reloader::new(&tls, sighup, self.config.tls_reload_check);
        let handler = self.handler.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no handler set")
        })?;
        let service = Arc::new(Service::new(handler, self.config));
        if let Some(bytes) = service.config.malloc_trim_threshold {
            // Before any connection thread starts (docs/security.md).
            osprey_rt::mem::set_trim_threshold(bytes);
        }
        let mut per_loop = self.per_loop;
        match self.model {
            Model::Iterative => {
                blocking::run_iterative(per_loop.remove(0), service, shutdown, reloader)
            }
            Model::Threads => {
                blocking::run_threads(per_loop.remove(0), service, shutdown, reloader)
            }
            Model::Fork => blocking::run_fork(per_loop.remove(0), service, shutdown, reloader),
            Model::Epoll | Model::Reactor => {
                let mut threads = Vec::new();
                let loops = per_loop.len();
                // Each loop thread holds a sender; when the last one ends the
                // channel closes, which is how this thread, reloading
                // certificates meanwhile, learns that the loops are done.
                let (running, finished) = std::sync::mpsc::channel::<()>();
                for (i, listeners) in per_loop.into_iter().enumerate() {
                    let running = running.clone();
                    let event_loop =
                        event_loop::EventLoop::new(listeners, service.clone(), &shutdown, loops)?;
                    let start = self.on_thread_start.clone();
                    threads.push(
                        std::thread::Builder::new()
                            .name(format!("osprey-loop-{i}"))
                            .spawn(move || {
                                let _running = running;
                                if let Some(f) = start {
                                    f();
                                }
                                event_loop.run()
                            })?,
                    );
                }
                drop(running);
                if let Some(mut reloader) = reloader {
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        finished.recv_timeout(reloader.interval())
                    {
                        reloader.tick(std::time::Instant::now());
                    }
                }
                let mut result = Ok(());
                for t in threads {
                    match t.join() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => result = Err(e),
                        Err(_) => result = Err(std::io::Error::other("event loop panicked")),
                    }
                }
                result
            }
        }
    }
}
