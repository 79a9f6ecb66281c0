//! Server settings: every timeout and bound, with production defaults.
//!
//! Each default is a named constant listed in docs/security.md with its reason.

use std::time::Duration;

use osprey_h1::Limits;

/// Time allowed to receive a complete request head, counted from its first
/// byte (slowloris defence): 408 and close beyond. nginx uses 60 s; a real
/// client sends its head in one packet, so 10 s is generous.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed before a request body must be flowing: a body must arrive at
/// `MIN_BODY_RATE` on average after this grace period, or the connection closes.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Minimum average upload rate in bytes per second after `BODY_TIMEOUT`. 1 KiB/s
/// lets a phone on a bad network through and stops a trickle attack.
pub const MIN_BODY_RATE: u64 = 1024;

/// How long an idle keep-alive connection is kept. Browsers reuse connections
/// within seconds; Apache keeps 5 s, nginx 75 s. 15 s balances reuse and fds.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a write may make no progress before the client is dropped (it
/// stopped reading). Progress is any byte the kernel takes, found by trying to
/// write, not by waiting for a writability edge: Linux reports a socket
/// writable only once about a third of its send buffer has drained, which a
/// slow but steady reader may take longer than this to do. nginx's
/// `send_timeout` is 60 s.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long graceful shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Connections the server holds at once; the `reactor` model gives each loop an
/// equal share. Above it the server stops accepting until one closes. (The
/// blocking models are bounded by `MAX_THREADS` and `MAX_CHILDREN` instead.)
pub const MAX_CONNECTIONS: usize = 100_000;

/// Threads in the `threads` model; more connections wait in the backlog.
pub const MAX_THREADS: usize = 512;

/// Child processes in the `fork` model; more connections wait in the backlog.
pub const MAX_CHILDREN: usize = 256;

/// Requests read ahead of their responses on one connection (pipelining depth).
pub const MAX_PIPELINE: usize = 32;

/// Pending output per connection above which the server stops reading from it
/// and stops pulling its response stream: a slow reader costs at most this much.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// Initial read buffer per active connection (grows to `max_head` for a head
/// that needs it). Idle connections hold none.
pub const READ_BUFFER: usize = 16 * 1024;

/// Threads for handlers marked blocking, per event loop.
pub const BLOCKING_THREADS: usize = 4;

/// Blocking jobs that may wait for a thread; beyond it, 503.
pub const BLOCKING_QUEUE: usize = 1024;

/// Bytes read from one connection per event-loop turn before the loop moves on
/// to others (edge-triggered starvation guard).
pub const READ_PER_TURN: usize = 256 * 1024;

/// After the server ends a connection it shuts its sending side and reads and
/// discards what the client still sends, for at most this long and this many
/// bytes, so unread request bytes do not turn into a reset that destroys our
/// last response before the client reads it (nginx's lingering close).
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// See [`LINGER_TIMEOUT`].
pub const LINGER_BYTES: usize = 1 << 20;

/// Everything configurable about a server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Parser limits (request line, head, fields, body, chunked).
    pub limits: Limits,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`MIN_BODY_RATE`].
    pub min_body_rate: u64,
    /// See [`KEEP_ALIVE_TIMEOUT`].
    pub keep_alive_timeout: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// See [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`MAX_THREADS`].
    pub max_threads: usize,
    /// See [`MAX_CHILDREN`].
    pub max_children: usize,
    /// See [`MAX_PIPELINE`].
    pub max_pipeline: usize,
    /// See [`OUTPUT_HIGH_WATER`].
    pub output_high_water: usize,
    /// See [`READ_BUFFER`].
    pub read_buffer: usize,
    /// See [`BLOCKING_THREADS`].
    pub blocking_threads: usize,
    /// See [`BLOCKING_QUEUE`].
    pub blocking_queue: usize,
    /// See [`READ_PER_TURN`].
    pub read_per_turn: usize,
    /// See [`LINGER_TIMEOUT`].
    pub linger_timeout: Duration,
    /// See [`LINGER_BYTES`].
    pub linger_bytes: usize,
    /// Listen backlog (`osprey_rt::net::DEFAULT_BACKLOG`).
    pub backlog: i32,
    /// The `Server` header value; `None` sends none.
    pub server_name: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            min_body_rate: MIN_BODY_RATE,
            keep_alive_timeout: KEEP_ALIVE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
            max_connections: MAX_CONNECTIONS,
            max_threads: MAX_THREADS,
            max_children: MAX_CHILDREN,
            max_pipeline: MAX_PIPELINE,
            output_high_water: OUTPUT_HIGH_WATER,
            read_buffer: READ_BUFFER,
            blocking_threads: BLOCKING_THREADS,
            blocking_queue: BLOCKING_QUEUE,
            read_per_turn: READ_PER_TURN,
            linger_timeout: LINGER_TIMEOUT,
            linger_bytes: LINGER_BYTES,
            backlog: osprey_rt::net::DEFAULT_BACKLOG,
            server_name: Some("osprey".into()),
        }
    }
}
