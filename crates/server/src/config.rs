//! Server settings: every timeout and bound, with production defaults.
//!
//! Each default is a named constant listed in docs/security.md with its reason.

use std::time::Duration;

use osprey_h1::Limits;

/// Time allowed to receive a complete request head, counted from its first
/// byte (slowloris defence): 408 and close beyond. nginx uses 60 s; a real
/// client sends its head in one packet, so 10 s is generous.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for a TLS handshake, counted from the accept: a client that
/// opens a connection and stalls the handshake is cut, as a slow head is.
/// A real handshake takes two round trips.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ciphertext a TLS connection holds besides its output queue (see
/// `transport::tls`): four full records.
pub const TLS_BUFFER: usize = 64 * 1024;

/// How often the certificate files of TLS listeners are checked for changes
/// (a `stat` each; changed files are reloaded for new handshakes). SIGHUP
/// reloads at once.
pub const TLS_RELOAD_CHECK: Duration = Duration::from_secs(1);

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

/// Request-body bytes buffered for a handler that streams its body (see
/// `osprey_web::streaming`); while it is full the connection stops reading
/// its socket, so a fast uploader is held back by TCP flow control. 256 KiB
/// keeps a disk-bound consumer busy between wake-ups.
pub const BODY_BUFFER: usize = 256 * 1024;

/// When a handler answers without reading all of a request's body (a 401, a
/// 413 from a streaming route), up to this many remaining bytes of a
/// `Content-Length` body are read and discarded so the connection can carry
/// the next request; a longer or chunked remainder closes the connection
/// after the answer instead (gracefully, see `LINGER_TIMEOUT`).
pub const DRAIN_LIMIT: u64 = 1 << 20;

/// Initial read buffer per active connection (grows to `max_head` for a head
/// that needs it). Idle connections hold none.
pub const READ_BUFFER: usize = 16 * 1024;

/// Buffers (an active connection's read buffer and output queue, about
/// 17 KiB) and HTTP/1.1 exchange states each thread keeps for reuse, so that
/// a request does not allocate them; beyond it what is given back is freed.
/// They are lent only while a connection has bytes or an exchange in
/// flight, so 256 covers 256 active connections at once per loop.
pub const SESSION_POOL: usize = 256;

/// At most this many exchanges in progress (event loops) or connection threads
/// (`threads` model) counts as quiet. When a server goes quiet after having
/// had more, an event loop keeps only this many of each pooled item, and the
/// allocator is asked to return its free memory to the system
/// (`osprey_rt::mem::release_free_memory`): glibc otherwise keeps freed heap
/// memory, and the resident size stays at the burst's peak.
pub const QUIET_CONNECTIONS: usize = 16;

/// Memory is given back at most this often (per event loop, and by the
/// `threads` model's accept loop): returning it walks the whole heap, and pages
/// given back cost page faults when used again.
pub const MEMORY_TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// The free memory glibc may keep at the top of a heap (the main one or a
/// thread's arena) before it gives it back; pinned when a server starts
/// (`osprey_rt::mem::set_trim_threshold`). glibc's own threshold starts at the
/// same 128 KiB but rises up to 64 MiB each time a large block is freed, after
/// which the heap of every event loop and connection thread keeps its peak
/// after a burst. Pinning it also pins the size above which blocks are mapped
/// on their own (128 KiB unless the program raised it): those then cost a map
/// and an unmap each, which for blocks that large is small next to filling
/// them. `None` leaves glibc's settings alone.
pub const MALLOC_TRIM_THRESHOLD: usize = 128 * 1024;

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

/// A WebSocket client that has sent nothing for this long is pinged (RFC 6455
/// §5.5.2); any frame it sends restarts the clock. 30 s keeps NAT and proxy
/// mappings alive (they commonly drop idle flows after 60 s or more) at a
/// cost of one small frame per idle connection per interval.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(30);

/// After a ping, a WebSocket client that sends nothing (a pong or anything
/// else) for this long is dead: the connection is closed and its handler
/// told 1006. 20 s allows for a slow mobile network.
pub const WS_PONG_TIMEOUT: Duration = Duration::from_secs(20);

/// After our close frame, how long the client has to send its own (RFC 6455
/// §7.1.2) before the connection is closed anyway.
pub const WS_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a cleartext listener accepts HTTP/2 with prior knowledge (h2c,
/// RFC 9113 §3.3): a connection whose first bytes are the client preface
/// speaks HTTP/2, any other HTTP/1.1. On by default: the preface cannot be
/// mistaken for an HTTP/1.1 request.
pub const H2C: bool = true;

/// Request bodies gathered whole (`BodyMode::Whole`) that one HTTP/2
/// connection may hold at once, across its streams (at least `max_body`, so
/// one body up to the limit always fits). A stream whose body would pass it
/// is reset with REFUSED_STREAM (RFC 9113 §8.7: not processed, safe to
/// retry). Without it, 100 concurrent streams could make one connection hold
/// 100 times `max_body`.
pub const H2_GATHERED_BODIES: u64 = 32 * 1024 * 1024;

/// Everything configurable about a server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Parser limits (request line, head, fields, body, chunked).
    pub limits: Limits,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`TLS_HANDSHAKE_TIMEOUT`].
    pub tls_handshake_timeout: Duration,
    /// See [`TLS_BUFFER`].
    pub tls_buffer: usize,
    /// See [`TLS_RELOAD_CHECK`].
    pub tls_reload_check: Duration,
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
    /// See [`BODY_BUFFER`].
    pub body_buffer: usize,
    /// See [`DRAIN_LIMIT`].
    pub drain_limit: u64,
    /// See [`SESSION_POOL`].
    pub session_pool: usize,
    /// See [`QUIET_CONNECTIONS`].
    pub quiet_connections: usize,
    /// See [`MEMORY_TRIM_INTERVAL`].
    pub memory_trim_interval: Duration,
    /// See [`MALLOC_TRIM_THRESHOLD`]; `None` leaves the allocator's setting.
    pub malloc_trim_threshold: Option<usize>,
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
    /// See [`WS_PING_INTERVAL`].
    pub ws_ping_interval: Duration,
    /// See [`WS_PONG_TIMEOUT`].
    pub ws_pong_timeout: Duration,
    /// See [`WS_CLOSE_TIMEOUT`].
    pub ws_close_timeout: Duration,
    /// Listen backlog (`osprey_rt::net::DEFAULT_BACKLOG`).
    pub backlog: i32,
    /// The `Server` header value; `None` sends none.
    pub server_name: Option<String>,
    /// See [`H2C`].
    pub h2c: bool,
    /// See [`H2_GATHERED_BODIES`].
    pub h2_gathered_bodies: u64,
    /// HTTP/2's bounds and SETTINGS (`osprey_h2::limits`: concurrent
    /// streams, windows, frame and header sizes, flood defences).
    pub h2: osprey_h2::Config,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            header_timeout: HEADER_TIMEOUT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            tls_buffer: TLS_BUFFER,
            tls_reload_check: TLS_RELOAD_CHECK,
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
            body_buffer: BODY_BUFFER,
            drain_limit: DRAIN_LIMIT,
            session_pool: SESSION_POOL,
            quiet_connections: QUIET_CONNECTIONS,
            memory_trim_interval: MEMORY_TRIM_INTERVAL,
            malloc_trim_threshold: Some(MALLOC_TRIM_THRESHOLD),
            blocking_threads: BLOCKING_THREADS,
            blocking_queue: BLOCKING_QUEUE,
            read_per_turn: READ_PER_TURN,
            linger_timeout: LINGER_TIMEOUT,
            linger_bytes: LINGER_BYTES,
            ws_ping_interval: WS_PING_INTERVAL,
            ws_pong_timeout: WS_PONG_TIMEOUT,
            ws_close_timeout: WS_CLOSE_TIMEOUT,
            backlog: osprey_rt::net::DEFAULT_BACKLOG,
            server_name: Some("osprey".into()),
            h2c: H2C,
            h2_gathered_bodies: H2_GATHERED_BODIES,
            h2: osprey_h2::Config::default(),
        }
    }
}
