//! A connection, and the one driver every concurrency model runs.
//!
//! A [`Connection`] is a transport (the byte pipe) plus a protocol machine,
//! with the buffers between them and the connection's clocks. [`Connection::turn`]
//! moves it as far as it can go without waiting: read through the transport
//! into the input buffer, let the machine consume it and fill the output,
//! write the output through the transport, and repeat until nothing moves.
//! It then says what it waits for ([`Turn`]); *how* it waits is the model's
//! business: the event loops register interest with epoll, the blocking
//! models block in a read (with a short timeout), in `poll(2)` for room to
//! write, or park until a waker fires. [`Connection::deadline`] is the whole
//! timeout policy, in one place, and [`Connection::expire`] applies it.
//!
//! The connection does no I/O of its own: the model passes an [`Io`] (a
//! socket, or an in-memory pipe in the tests below), so this file is tested
//! byte for byte with a clock the test controls.
//!
//! Things a real network does, and how they are met here:
//! - a FIN can come in the same readiness event as data: when the event said
//!   the peer closed, reading continues until it returns 0 instead of
//!   stopping at a short read (an edge-triggered loop gets no second event);
//! - a half-closed peer still reads: after its FIN, what it asked for is
//!   answered, then the connection closes;
//! - a slow reader is not a dead one: the write timeout counts time without
//!   progress, and before dropping a client the driver tries to write once
//!   more ([`Connection::expire`]);
//! - our last response must not be destroyed by a reset: when the client may
//!   still be sending, the connection shuts its sending side and reads and
//!   discards for a while before closing (lingering close).

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use osprey_web::ConnectionInfo;

use crate::buffers::{give_buffers, take_buffers, Buffers};
use crate::config::Config;
use crate::machine::h1::H1;
use crate::machine::h2::H2;
use crate::machine::{AnyMachine, Cx, Expiry, Machine, Next, Offload, Pools};
use crate::service::Service;
use crate::transport::{AnyTransport, Flushed, Io, Transport};

/// While output waits for a client, a write is tried this many times per
/// write timeout. Linux raises EPOLLOUT only once about a third of the send
/// buffer (megabytes, autotuned) has drained, so a client reading slowly but
/// steadily may go a whole timeout without an edge; its progress is seen by
/// trying. A client that took nothing for a whole timeout is dropped.
const WRITE_CHECKS: u32 = 4;

/// What the model tells the connection about its socket.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readiness {
    /// A read may return something (edge seen, or a blocking socket).
    pub readable: bool,
    /// A write may take something.
    pub writable: bool,
    /// The peer closed or the socket failed: read until 0 or an error.
    pub closed: bool,
}

impl Readiness {
    /// A blocking socket: always worth trying (the read waits).
    pub const BLOCKING: Readiness = Readiness {
        readable: true,
        writable: true,
        closed: false,
    };
}

/// Where a turn left the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Waiting for input (`read`), for room to write (`write`), or — with
    /// neither — for a waker.
    Wait { read: bool, write: bool },
    /// Stopped at its read budget with input maybe left: run it again soon.
    Requeue,
    /// Finished: close the socket.
    Closed,
}

/// What a deadline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// The machine's own (a head or a body too slow): 408, then close.
    Machine(Expiry),
    /// The client took none of our output for the write timeout: drop it.
    Write,
    /// Nothing under way: the keep-alive (or first-request) wait ran out.
    Idle,
    /// A reply or a stream made no progress for far longer than any timeout.
    Stalled,
    /// The lingering close is over.
    Linger,
}

/// What the model passes to every turn.
pub(crate) struct Env<'a> {
    pub service: &'a Service,
    pub date: &'a [u8],
    pub now: Instant,
    /// Worker threads for blocking handlers.
    pub workers: &'a mut dyn Offload,
    /// Whether this thread runs many connections (an event loop): then
    /// blocking handlers go to the worker pool, and a connection with nothing
    /// buffered gives its buffers and state back to the pools between turns.
    /// A blocking model's connection has its thread to itself: blocking
    /// handlers run in place, and it keeps what it holds until it closes.
    pub event_loop: bool,
    pub pools: &'a mut Pools,
    /// The timer queue of this thread, for pending replies.
    pub timer: &'a osprey_web::Timer,
    /// Makes this connection's waker (called once, on first need).
    pub make_waker: &'a dyn Fn() -> Waker,
}

impl<'e> Env<'e> {
    /// The machine's context for one connection, borrowing this environment.
    fn cx<'c>(
        &'c mut self,
        connection: &'c Arc<ConnectionInfo>,
        waker: &'c mut Option<Waker>,
    ) -> Cx<'c> {
        Cx::new(
            self.service,
            self.date,
            self.now,
            connection,
            &mut *self.workers,
            !self.event_loop,
            self.pools,
            self.timer,
            waker,
            self.make_waker,
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Linger {
    until: Instant,
    discarded: usize,
}

/// One connection: transport, machine, buffers and clocks.
pub(crate) struct Connection {
    transport: AnyTransport,
    machine: AnyMachine,
    /// Lent from the pool while the connection is active.
    bufs: Option<Box<Buffers>>,
    /// Addresses (and TLS facts), shared with every request on it.
    info: Arc<ConnectionInfo>,
    waker: Option<Waker>,
    /// The peer ended its side (a read returned 0).
    input_ended: bool,
    /// Input arrived at least once: later waits use the keep-alive timeout.
    served: bool,
    last_progress: Instant,
    /// When a write was last tried on a write check.
    write_checked: Instant,
    /// What the machine last said it needs (see `turn`); anything done to
    /// the machine from outside a turn resets it so that it runs.
    last_next: Next,
    lingering: Option<Linger>,
    /// A cleartext connection whose first bytes are still to be looked at
    /// for the HTTP/2 preface (h2c with prior knowledge, see `choose`).
    sniffing: bool,
}

impl Connection {
    /// A new HTTP/1.1 connection over `transport`, accepted at `now`.
    pub fn new(transport: AnyTransport, info: ConnectionInfo, now: Instant) -> Connection {
        Connection {
            machine: AnyMachine::H1(H1::default()),
            bufs: None,
            info: Arc::new(info),
            waker: None,
            input_ended: false,
            served: false,
            last_progress: now,
            write_checked: now,
            last_next: Next::Read,
            lingering: None,
            sniffing: matches!(transport, AnyTransport::Plain(_)),
            transport,
        }
    }

    /// Moves the connection as far as it can go without waiting.
    pub fn turn(&mut self, io: &mut dyn Io, env: &mut Env<'_>, ready: &mut Readiness) -> Turn {
        // The waker slot is lent to the machine's context for the turn.
        let mut waker = self.waker.take();
        let turn = self.turn_with(io, env, ready, &mut waker);
        self.waker = waker;
        turn
    }

    fn turn_with(
        &mut self,
        io: &mut dyn Io,
        env: &mut Env<'_>,
        ready: &mut Readiness,
        waker: &mut Option<Waker>,
    ) -> Turn {
        if self.lingering.is_some() {
            return self.linger(io, env.service.config.linger_bytes, ready);
        }
        let service: &Service = env.service;
        let config = &service.config;
        let now = env.now;
        if self.transport.is_handshaking() {
            // No machine runs before the transport's handshake completes.
            match self.transport.handshake(io) {
                Ok(false) => {
                    ready.readable = false;
                    return Turn::Wait {
                        read: true,
                        write: self.transport.has_pending_output(),
                    };
                }
                Ok(true) => {
                    if let Some(tls) = self.transport.tls_info() {
                        let mut info = (*self.info).clone();
                        // ALPN `h2` (RFC 9113 §3.2): the connection speaks HTTP/2.
                        if tls.alpn.as_deref() == Some(b"h2") {
                            self.machine = AnyMachine::H2(Box::new(H2::new(config, now)));
                        }
                        info.tls = Some(Box::new(tls));
                        self.info = Arc::new(info);
                    }
                    // Records that came with the client's last handshake
                    // message may hold a request already.
                    ready.readable = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return self.start_linger(io, now, config, ready);
                }
                Err(_) => return Turn::Closed,
            }
        }
        let env_lends = env.event_loop;
        if self.bufs.is_none() {
            // Idle: nothing to do until the peer sends something.
            if !ready.readable && self.machine.is_idle() {
                return Turn::Wait {
                    read: true,
                    write: false,
                };
            }
            self.bufs = Some(take_buffers(&mut env.pools.buffers, config));
        }
        let bufs = self.bufs.as_deref_mut().expect("buffers taken above");
        // Shared with the requests; held for the turn (an atomic increment).
        let info = self.info.clone();
        let mut cx = env.cx(&info, waker);
        let mut budget = config.read_per_turn;
        // The machine runs when something it waits for may have changed: new
        // input, room in the output, a wake-up. An idle machine that asked
        // for input has nothing to do until some arrives (this saves two of
        // three `process` calls per request).
        let mut run = !(self.last_next == Next::Read && self.machine.is_idle());
        let mut next = self.last_next;
        loop {
            let mut progressed = false;
            if run && self.sniffing && !choose(&mut self.machine, config, now, bufs.input.data()) {
                // Not yet known whether this is HTTP/2: read more first.
                run = false;
                next = Next::Read;
            }
            if run {
                run = false;
                self.sniffing = false;
                next = self.machine.process(&mut cx, bufs);
                if let Some(successor) = self.machine.handoff() {
                    self.machine.release(cx.pools, config);
                    self.machine = successor;
                    run = true;
                    continue;
                }
            }
            if (!bufs.out.is_empty() || self.transport.has_pending_output()) && ready.writable {
                match self.transport.write(io, &mut bufs.out) {
                    Ok((done, n)) => {
                        if n > 0 {
                            self.last_progress = now;
                            progressed = true;
                            // A machine held back by a full output goes on.
                            run |= next == Next::Write;
                        }
                        if done == Flushed::Blocked {
                            ready.writable = false;
                        }
                    }
                    Err(_) => return self.close_now(cx.pools, config),
                }
            }
            if self.machine.finished() && bufs.out.is_empty() {
                // Linger only when the client may still be sending: after its
                // FIN there is nothing left to drain.
                let graceful = !self.input_ended
                    && (ready.readable || !bufs.input.is_empty() || !self.machine.is_idle());
                return if graceful {
                    self.start_linger(io, now, config, ready)
                } else {
                    self.transport.goodbye(io);
                    self.close_now(cx.pools, config)
                };
            }
            // Input is read when the machine wants it, or — when the peer
            // has closed — to see that, if the machine cares (a pending reply
            // for a client that went away is cancelled).
            let look = next == Next::Read || (ready.closed && self.machine.watches_eof());
            if look && ready.readable && !self.input_ended {
                if budget == 0 {
                    // What was read last has not been processed yet.
                    self.last_next = Next::Wait;
                    return Turn::Requeue;
                }
                let space = bufs.read_space(config);
                let want = space.len().min(budget);
                if want == 0 {
                    // The buffer is full of input the machine has not taken.
                    break;
                }
                match self.transport.read(io, &mut space[..want]) {
                    Ok(0) => {
                        self.input_ended = true;
                        ready.readable = false;
                        run = true;
                        self.machine.input_ended(&mut cx, bufs);
                        if bufs.out.is_empty() && self.machine.is_idle() {
                            // Nothing asked, nothing to say: the client is gone.
                            return self.close_now(cx.pools, config);
                        }
                    }
                    Ok(n) => {
                        // A short read emptied the socket; with edge-triggered
                        // readiness anything arriving later raises a new edge,
                        // so skip the read that would return EAGAIN — unless
                        // the peer closed, which raises no further edge.
                        if n < want && !ready.closed {
                            ready.readable = false;
                        }
                        bufs.input.commit(n);
                        run = true;
                        budget -= n;
                        self.last_progress = now;
                        self.served = true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.readable = false,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => ready.readable = false,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        // The transport told the peer why (a TLS alert).
                        self.release(cx.pools, config);
                        return self.start_linger(io, now, config, ready);
                    }
                    Err(_) => return self.close_now(cx.pools, config),
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        self.last_next = next;
        let write = !bufs.out.is_empty() || self.transport.has_pending_output();
        let read = next == Next::Read && !self.input_ended;
        if env_lends && !write && bufs.input.is_empty() {
            // Nothing buffered either way (between requests, or waiting for
            // a reply): lend the buffers back, and the machine's state too
            // when no exchange is under way.
            if self.machine.is_idle() {
                self.machine.release(cx.pools, config);
            }
            give_buffers(
                &mut cx.pools.buffers,
                self.bufs.take().expect("present"),
                config,
            );
        }
        Turn::Wait { read, write }
    }

    /// The next deadline and what it stands for: the server's whole timeout
    /// policy.
    pub fn deadline(&self, config: &Config) -> (Instant, Deadline) {
        if let Some(linger) = self.lingering {
            return (linger.until, Deadline::Linger);
        }
        if self.transport.is_handshaking() {
            // Counted from the accept: nothing else moves the clock before.
            return (
                self.last_progress + config.tls_handshake_timeout,
                Deadline::Idle,
            );
        }
        let bufs = self.bufs.as_deref();
        if bufs.is_some_and(|b| !b.out.is_empty()) || self.transport.has_pending_output() {
            let stalled = self.last_progress + config.write_timeout;
            let check =
                self.last_progress.max(self.write_checked) + config.write_timeout / WRITE_CHECKS;
            return (stalled.min(check), Deadline::Write);
        }
        if let Some((t, e)) = self.machine.deadline(config) {
            return (t, Deadline::Machine(e));
        }
        if !self.machine.is_idle() {
            // A reply or a stream the client waits for: no peer timeout
            // applies, only a backstop against a producer that never ends.
            let backstop = config.shutdown_grace.max(config.write_timeout) * 4;
            return (self.last_progress + backstop, Deadline::Stalled);
        }
        let idle = if self.served {
            config.keep_alive_timeout
        } else {
            config.header_timeout
        };
        (self.last_progress + idle, Deadline::Idle)
    }

    /// Applies the deadline if it has passed (at `env.now`); a deadline that
    /// moved later in the meantime is left alone.
    pub fn expire(&mut self, io: &mut dyn Io, env: &mut Env<'_>, ready: &mut Readiness) -> Turn {
        let service: &Service = env.service;
        let config = &service.config;
        let (when, what) = self.deadline(config);
        if when > env.now {
            return self.turn(io, env, ready);
        }
        match what {
            Deadline::Write => {
                // A write check: no progress seen, but the kernel may not
                // have said so (see WRITE_CHECKS). Try, then judge: a client
                // that took nothing for a whole write timeout is dropped.
                ready.writable = true;
                self.write_checked = env.now;
                let before = self.last_progress;
                let turn = self.turn(io, env, ready);
                let stalled =
                    self.last_progress == before && env.now >= before + config.write_timeout;
                if stalled && turn != Turn::Closed {
                    self.close_now(env.pools, config)
                } else {
                    turn
                }
            }
            Deadline::Machine(expiry) => {
                if self.bufs.is_none() {
                    self.bufs = Some(take_buffers(&mut env.pools.buffers, config));
                }
                let bufs = self.bufs.as_deref_mut().expect("taken above");
                let mut cx = env.cx(&self.info, &mut self.waker);
                self.machine.timed_out(&mut cx, bufs, expiry);
                self.last_next = Next::Wait;
                // One chance for the 408 to go out, then linger or close.
                ready.writable = true;
                match self.turn(io, env, ready) {
                    Turn::Wait { .. } | Turn::Requeue
                        if self.lingering.is_none() && expiry.ends_connection() =>
                    {
                        self.close_now(env.pools, config)
                    }
                    turn => turn,
                }
            }
            Deadline::Idle => {
                self.transport.goodbye(io);
                self.close_now(env.pools, config)
            }
            Deadline::Stalled | Deadline::Linger => self.close_now(env.pools, config),
        }
    }

    /// Graceful shutdown: finish what is under way, read nothing new. Returns
    /// true when the connection is idle and can simply be closed.
    pub fn drain(&mut self) -> bool {
        self.machine.drain();
        self.last_next = Next::Wait;
        self.bufs.is_none() && self.machine.is_idle()
    }

    /// Closing an idle connection (at shutdown): says goodbye in the
    /// transport's terms first (TLS: close_notify).
    pub fn goodbye(&mut self, io: &mut dyn Io) {
        if self.lingering.is_none() {
            self.transport.goodbye(io);
        }
    }

    /// Whether the connection holds anything lent (an exchange or bytes in
    /// flight): what the event loops count to see a burst end.
    pub fn is_active(&self) -> bool {
        self.bufs.is_some() || !self.machine.is_idle()
    }

    /// Gives everything lent back (the model is closing the socket).
    pub fn release(&mut self, pools: &mut Pools, config: &Config) {
        self.machine.release(pools, config);
        if let Some(bufs) = self.bufs.take() {
            give_buffers(&mut pools.buffers, bufs, config);
        }
    }

    fn close_now(&mut self, pools: &mut Pools, config: &Config) -> Turn {
        self.release(pools, config);
        Turn::Closed
    }

    /// Closes our sending side and starts reading and discarding what the
    /// client still sends, so our last response is not lost to a reset.
    fn start_linger(
        &mut self,
        io: &mut dyn Io,
        now: Instant,
        config: &Config,
        ready: &mut Readiness,
    ) -> Turn {
        if self.transport.close_write(io).is_err() {
            return Turn::Closed;
        }
        self.lingering = Some(Linger {
            until: now + config.linger_timeout,
            discarded: 0,
        });
        self.linger(io, config.linger_bytes, ready)
    }

    fn linger(&mut self, io: &mut dyn Io, limit: usize, ready: &mut Readiness) -> Turn {
        let mut sink = [0u8; 4096];
        while ready.readable {
            match io.read(&mut sink) {
                Ok(0) => return Turn::Closed,
                Ok(n) => {
                    let linger = self.lingering.as_mut().expect("lingering");
                    linger.discarded += n;
                    if linger.discarded > limit {
                        return Turn::Closed;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    ready.readable = false;
                }
                Err(_) => return Turn::Closed,
            }
        }
        Turn::Wait {
            read: true,
            write: false,
        }
    }
}

/// Chooses the protocol of a cleartext connection from its first bytes
/// (RFC 9113 §3.3): the client preface means HTTP/2, anything else HTTP/1.1
/// (the machine it has). False while the bytes so far are a prefix of the
/// preface: read more first.
fn choose(machine: &mut AnyMachine, config: &Config, now: Instant, input: &[u8]) -> bool {
    if !config.h2c {
        return true;
    }
    match osprey_h2::detect_preface(input) {
        osprey_h2::PrefaceMatch::NeedMore => false,
        osprey_h2::PrefaceMatch::Yes => {
            *machine = AnyMachine::H2(Box::new(H2::new(config, now)));
            true
        }
        osprey_h2::PrefaceMatch::No => true,
    }
}

#[cfg(test)]
mod tests {
    //! The driver without sockets: an in-memory pipe as the socket, a clock
    //! the test moves, bytes compared exactly.

    use std::collections::VecDeque;
    use std::fs::File;
    use std::io::{self, IoSlice};
    use std::sync::Arc;
    use std::time::Duration;

    use std::cell::RefCell;

    use osprey_web::{
        streaming, Body, FileBody, Reply, Request, Responder, Response, Router, Status,
    };

    use super::*;

    /// The peer's end of an in-memory connection.
    #[derive(Default)]
    struct Pipe {
        /// Bytes the peer sent that the server has not read.
        incoming: VecDeque<u8>,
        /// The peer ended its side once `incoming` is drained.
        fin: bool,
        /// What the server wrote.
        written: Vec<u8>,
        /// How much the "send buffer" takes before `WouldBlock`.
        room: usize,
        /// The server shut its sending side.
        shut: bool,
    }

    impl Pipe {
        fn new() -> Pipe {
            Pipe {
                room: usize::MAX,
                ..Pipe::default()
            }
        }
        fn send(&mut self, bytes: &[u8]) {
            self.incoming.extend(bytes);
        }
        fn take(&mut self) -> String {
            String::from_utf8_lossy(&std::mem::take(&mut self.written)).into_owned()
        }
    }

    /// Like a socket of a transport without `sendfile`: it refuses, and the
    /// plain transport copies file bytes instead.
    impl Io for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return if self.fin {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(self.incoming.len());
            for (b, x) in buf.iter_mut().zip(self.incoming.drain(..n)) {
                *b = x;
            }
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>], _more: bool) -> io::Result<usize> {
            assert!(!self.shut, "write after shutdown");
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.room - n);
                self.written.extend_from_slice(&b[..take]);
                n += take;
                if n == self.room {
                    break;
                }
            }
            if self.room != usize::MAX {
                self.room -= n;
            }
            Ok(n)
        }
        fn sendfile(&mut self, _: &File, _: u64, _: u64) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn shutdown_write(&mut self) -> io::Result<()> {
            self.shut = true;
            Ok(())
        }
    }

    struct NoWorkers;
    impl Offload for NoWorkers {
        fn spawn(&mut self, _: Box<dyn FnOnce() + Send>) -> Result<(), ()> {
            Err(())
        }
    }

    /// A server's worth of state for driving one connection by hand.
    struct Harness {
        workers: NoWorkers,
        service: Service,
        timer: osprey_web::Timer,
        pools: Pools,
        now: Instant,
        conn: Connection,
        pipe: Pipe,
    }

    fn handler(req: &mut Request) -> Response {
        match req.path() {
            "/file" => {
                let path = std::env::temp_dir().join(format!("osprey-conn-{}", std::process::id()));
                std::fs::write(&path, vec![b'f'; 200_000]).unwrap();
                let file = File::open(&path).unwrap();
                std::fs::remove_file(&path).unwrap();
                Response::new(Status::OK).body(Body::File(FileBody {
                    file: Arc::new(file),
                    offset: 10,
                    len: 150_000,
                }))
            }
            "/big" => Response::text("x".repeat(100_000)),
            "/bye" => panic!("never called: the request was refused"),
            _ => Response::text(format!("hi {}", req.path())),
        }
    }

    // Responders of `/later` requests, answered by the test, and gates of
    // `/slow-consumer` handlers (the body is read once one fires). Per test
    // thread: the harness calls handlers on the test's own thread, and tests
    // run side by side.
    thread_local! {
        static LATER: RefCell<Vec<Responder>> = const { RefCell::new(Vec::new()) };
        static GATES: RefCell<Vec<Responder>> = const { RefCell::new(Vec::new()) };
    }

    fn app() -> Router {
        Router::new()
            .get("/later", |_: &mut Request| {
                let (responder, reply) = Reply::later();
                LATER.with_borrow_mut(|l| l.push(responder));
                reply
            })
            .post(
                "/count",
                streaming(|req: &mut Request| {
                    let mut body = req.body_stream().expect("a streamed body");
                    Reply::pending(async move {
                        let mut n = 0;
                        while let Some(piece) = body.chunk().await {
                            n += piece.expect("intact").len();
                        }
                        Response::text(format!("{n} bytes"))
                    })
                }),
            )
            .post(
                "/slow-consumer",
                streaming(|req: &mut Request| {
                    let mut body = req.body_stream().expect("a streamed body");
                    let (gate, opened) = Reply::later();
                    GATES.with_borrow_mut(|g| g.push(gate));
                    Reply::pending(async move {
                        let _ = opened.await;
                        let all = body.collect(usize::MAX).await.expect("intact");
                        Response::text(format!("{} bytes", all.len()))
                    })
                }),
            )
            .post(
                "/refuse",
                streaming(|_: &mut Request| Response::status_text(Status::UNAUTHORIZED)),
            )
            .fallback(handler)
    }

    impl Harness {
        fn new() -> Harness {
            Harness::with(|_| {})
        }

        fn with(change: impl FnOnce(&mut Config)) -> Harness {
            let mut config = Config {
                server_name: None,
                ..Config::default()
            };
            change(&mut config);
            let now = Instant::now();
            Harness {
                workers: NoWorkers,
                service: Service::new(Arc::new(app()), config),
                timer: osprey_web::Timer::default(),
                pools: Pools::default(),
                now,
                conn: Connection::new(
                    AnyTransport::Plain(crate::transport::Plain::copying()),
                    ConnectionInfo::new(
                        "127.0.0.1:80".parse().unwrap(),
                        "127.0.0.1:9".parse().unwrap(),
                    ),
                    now,
                ),
                pipe: Pipe::new(),
            }
        }

        fn env(&mut self) -> (Env<'_>, &mut Connection, &mut Pipe) {
            static MAKE: fn() -> Waker = || Waker::noop().clone();
            (
                Env {
                    service: &self.service,
                    date: b"Thu, 01 Jan 2026 00:00:00 GMT",
                    now: self.now,
                    workers: &mut self.workers,
                    event_loop: true,
                    pools: &mut self.pools,
                    timer: &self.timer,
                    make_waker: &MAKE,
                },
                &mut self.conn,
                &mut self.pipe,
            )
        }

        fn turn(&mut self, ready: Readiness) -> Turn {
            let mut ready = ready;
            let (mut env, conn, pipe) = self.env();
            conn.turn(pipe, &mut env, &mut ready)
        }

        fn expire(&mut self) -> Turn {
            let mut ready = Readiness::default();
            let (mut env, conn, pipe) = self.env();
            conn.expire(pipe, &mut env, &mut ready)
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
        }
    }

    const READY: Readiness = Readiness {
        readable: true,
        writable: true,
        closed: false,
    };

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn answers_keep_alive_requests_and_lends_buffers_back_between_them() {
        let mut h = Harness::new();
        h.pipe.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        let turn = h.turn(READY);
        assert_eq!(
            turn,
            Turn::Wait {
                read: true,
                write: false
            }
        );
        assert_eq!(h.pipe.take(), ok("hi /a"));
        assert!(
            h.conn.bufs.is_none(),
            "idle between requests: no buffers held"
        );
        assert_eq!(h.conn.deadline(&h.service.config).1, Deadline::Idle);

        // Two pipelined requests in one read, answered in one write.
        h.pipe
            .send(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        assert_eq!(h.pipe.take(), ok("hi /b") + &ok("hi /c"));
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut h = Harness::new();
        for &b in b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" {
            h.pipe.send(&[b]);
            h.turn(READY);
        }
        assert_eq!(h.pipe.take(), ok("hi /slow"));
    }

    #[test]
    fn a_partial_head_then_fin_closes_at_once() {
        let mut h = Harness::new();
        h.pipe.send(b"GET /index.ht");
        h.pipe.fin = true;
        // One event carried both the bytes and the FIN: a short read must not
        // end the reading.
        let turn = h.turn(Readiness {
            closed: true,
            ..READY
        });
        assert_eq!(turn, Turn::Closed);
        assert_eq!(
            h.pipe.take(),
            "",
            "nothing to answer for an incomplete head"
        );
    }

    #[test]
    fn a_request_then_fin_is_answered_then_closed() {
        let mut h = Harness::new();
        h.pipe.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
        h.pipe.fin = true;
        let turn = h.turn(Readiness {
            closed: true,
            ..READY
        });
        assert_eq!(h.pipe.take(), ok("hi /x"));
        assert_eq!(turn, Turn::Closed, "the half-closed peer got its answer");
    }

    #[test]
    fn a_slow_head_gets_408_at_the_header_timeout() {
        let mut h = Harness::new();
        h.pipe.send(b"GET / HTTP/1.1\r\nHo");
        h.turn(READY);
        let (at, what) = h.conn.deadline(&h.service.config);
        assert_eq!(what, Deadline::Machine(Expiry::Header));
        assert_eq!(at, h.now + h.service.config.header_timeout);
        // Before the deadline, expiring does nothing.
        h.advance(h.service.config.header_timeout - Duration::from_millis(1));
        assert!(matches!(h.expire(), Turn::Wait { .. }));
        assert_eq!(h.pipe.take(), "");
        h.advance(Duration::from_millis(1));
        let turn = h.expire();
        let written = h.pipe.take();
        assert!(
            written.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{written}"
        );
        assert!(h.pipe.shut, "our side is shut after the 408");
        // Lingering: what the client still sends is read and discarded until
        // it closes.
        assert!(matches!(turn, Turn::Wait { read: true, .. }));
        h.pipe.send(b"st: x\r\n\r\n");
        h.pipe.fin = true;
        assert_eq!(h.turn(READY), Turn::Closed);
    }

    #[test]
    fn keep_alive_timeout_closes_quietly() {
        let mut h = Harness::new();
        h.pipe.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        h.pipe.take();
        h.advance(h.service.config.keep_alive_timeout);
        assert_eq!(h.expire(), Turn::Closed);
        assert_eq!(h.pipe.take(), "");
    }

    #[test]
    fn a_slow_reader_is_kept_while_it_makes_progress_and_dropped_when_it_stops() {
        let mut h = Harness::new();
        h.pipe.room = 1000;
        h.pipe.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(h.turn(READY), Turn::Wait { write: true, .. }));
        let timeout = h.service.config.write_timeout;
        let mut received = h.pipe.take().len();
        // The reader takes 1000 bytes per write timeout, with no writable
        // edge ever reported: at each deadline the driver tries once more.
        for _ in 0..5 {
            h.advance(timeout);
            assert_eq!(h.conn.deadline(&h.service.config).1, Deadline::Write);
            h.pipe.room = 1000;
            assert!(matches!(h.expire(), Turn::Wait { write: true, .. }));
            received += h.pipe.take().len();
        }
        assert_eq!(received, 6000);
        // Now it stops reading entirely: dropped at the next deadline.
        h.advance(timeout);
        assert_eq!(h.expire(), Turn::Closed);
    }

    #[test]
    fn file_bodies_are_copied_in_chunks_when_the_transport_cannot_sendfile() {
        let mut h = Harness::new();
        h.pipe.room = 70_000;
        h.pipe.send(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        let mut got = std::mem::take(&mut h.pipe.written);
        while got.len() < 150_000 {
            h.pipe.room = 70_000;
            h.turn(Readiness {
                writable: true,
                ..Readiness::default()
            });
            got.extend(std::mem::take(&mut h.pipe.written));
        }
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&got[..head_end]);
        assert!(head.contains("Content-Length: 150000\r\n"), "{head}");
        assert_eq!(got.len() - head_end, 150_000);
        assert!(got[head_end..].iter().all(|&b| b == b'f'));
    }

    #[test]
    fn a_client_gone_mid_request_is_closed_without_reply() {
        let mut h = Harness::new();
        h.pipe
            .send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
        h.turn(READY);
        h.pipe.fin = true;
        let turn = h.turn(READY);
        // The head was complete: the truncated request gets its 400.
        assert!(h.pipe.take().starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert_eq!(turn, Turn::Closed);
    }

    #[test]
    fn a_pending_reply_holds_the_connection_until_it_is_answered() {
        let mut h = Harness::new();
        h.pipe
            .send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            h.turn(READY),
            Turn::Wait {
                read: false,
                write: false
            },
            "waiting for the waker, not the socket"
        );
        assert_eq!(h.pipe.take(), "");
        assert_eq!(h.conn.deadline(&h.service.config).1, Deadline::Stalled);
        let responder = LATER.with_borrow_mut(Vec::pop).unwrap();
        responder.send(Response::text("answered")).unwrap();
        // Woken: the socket is as the last turn left it (writable).
        h.turn(READY);
        // The pipelined request waited its turn, and went out right after.
        assert_eq!(h.pipe.take(), ok("answered") + &ok("hi /after"));
    }

    #[test]
    fn a_pending_reply_is_cancelled_when_the_connection_goes() {
        let mut h = Harness::new();
        h.pipe.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        let responder = LATER.with_borrow_mut(Vec::pop).unwrap();
        assert!(!responder.is_cancelled());
        h.conn.release(&mut h.pools, &h.service.config);
        assert!(
            responder.is_cancelled(),
            "the reply was dropped with the connection"
        );
    }

    #[test]
    fn a_streamed_body_reaches_its_handler_in_pieces() {
        let mut h = Harness::new();
        h.pipe
            .send(b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        h.turn(READY);
        assert_eq!(h.pipe.take(), "", "the handler waits for the body");
        h.pipe.send(b"5\r\nhello\r\n");
        h.turn(READY);
        h.pipe.send(b"6\r\n world\r\n0\r\n\r\n");
        h.turn(READY);
        assert_eq!(h.pipe.take(), ok("11 bytes"));
    }

    #[test]
    fn a_full_body_buffer_stops_reading_the_socket() {
        let mut h = Harness::new();
        h.service.config.body_buffer = 1024;
        let body = vec![b'b'; 100_000];
        h.pipe
            .send(b"POST /slow-consumer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
        h.pipe.send(&body);
        assert_eq!(
            h.turn(READY),
            Turn::Wait {
                read: false,
                write: false
            }
        );
        // At most the buffer plus one read was taken from the socket.
        let unread = h.pipe.incoming.len();
        assert!(
            unread >= 100_000 - 1024 - h.service.config.read_buffer,
            "{unread}"
        );
        assert_ne!(
            h.conn.deadline(&h.service.config).1,
            Deadline::Machine(Expiry::Body),
            "a consumer holding the body up is not the client's fault"
        );
        GATES.with_borrow_mut(Vec::pop).unwrap().send("go").unwrap();
        for _ in 0..1000 {
            if !h.pipe.written.is_empty() {
                break;
            }
            h.turn(READY);
        }
        assert_eq!(h.pipe.take(), ok("100000 bytes"));
        assert!(h.pipe.incoming.is_empty());
    }

    #[test]
    fn continue_is_sent_only_when_the_handler_reads() {
        let mut h = Harness::new();
        h.pipe.send(
            b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        );
        h.turn(READY);
        assert_eq!(h.pipe.take(), "HTTP/1.1 100 Continue\r\n\r\n");
        h.pipe.send(b"abc");
        h.turn(READY);
        assert_eq!(h.pipe.take(), ok("3 bytes"));

        // A handler that answers without reading never invites the body, and
        // the connection then closes (the client may still send it).
        let mut h = Harness::new();
        h.pipe.send(
            b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        );
        h.turn(READY);
        let written = h.pipe.take();
        assert!(
            written.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
            "{written}"
        );
        assert!(
            written.contains("Connection: close\r\n") || h.pipe.shut,
            "{written}"
        );
    }

    #[test]
    fn an_unread_short_body_is_drained_and_the_connection_kept() {
        let mut h = Harness::new();
        h.pipe
            .send(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel");
        h.turn(READY);
        assert!(h.pipe.take().starts_with("HTTP/1.1 401 Unauthorized\r\n"));
        h.pipe.send(b"loGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        assert_eq!(h.pipe.take(), ok("hi /next"));
        assert!(!h.pipe.shut);
    }

    #[test]
    fn an_unread_long_body_closes_after_the_answer() {
        let mut h = Harness::new();
        h.pipe
            .send(b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nsome");
        let turn = h.turn(READY);
        let written = h.pipe.take();
        assert!(
            written.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
            "{written}"
        );
        // Lingering: our side is shut, the rest is read and thrown away.
        assert!(h.pipe.shut);
        assert!(matches!(turn, Turn::Wait { read: true, .. }));
    }

    #[test]
    fn a_fin_while_a_reply_is_pending_cancels_it() {
        let mut h = Harness::new();
        h.pipe.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
        h.turn(READY);
        let responder = LATER.with_borrow_mut(Vec::pop).unwrap();
        // The client closes; the event says so.
        h.pipe.fin = true;
        let turn = h.turn(Readiness {
            closed: true,
            ..READY
        });
        assert_eq!(turn, Turn::Closed);
        assert!(responder.is_cancelled());
        assert_eq!(h.pipe.take(), "");
    }

    /// The frames the server wrote, decoded: (type, stream, flags, payload).
    fn h2_frames(written: &[u8]) -> Vec<osprey_h2::frame::Frame> {
        let mut buf = bytes::BytesMut::from(written);
        let decoder = osprey_h2::frame::FrameDecoder::new(1 << 14);
        let mut frames = Vec::new();
        while let Some(f) = decoder.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        assert!(buf.is_empty(), "a partial frame was written");
        frames
    }

    /// A client's preface, SETTINGS and `GET path` on stream 1.
    fn h2_get(path: &str) -> Vec<u8> {
        let mut out = osprey_h2::PREFACE.to_vec();
        osprey_h2::frame::Settings::default().encode(&mut out);
        let mut block = bytes::BytesMut::new();
        osprey_h2::hpack::Encoder::new(4096).encode(
            [
                (&b":method"[..], &b"GET"[..], false),
                (b":scheme", b"http", false),
                (b":path", path.as_bytes(), false),
                (b":authority", b"x", false),
            ],
            &mut block,
        );
        osprey_h2::frame::Headers::new(1, block.freeze(), true, true).encode(&mut out);
        out
    }

    #[test]
    fn h2c_preface_chooses_http2_and_idle_ends_with_goaway() {
        use osprey_h2::frame::Frame;
        let mut h = Harness::new();
        let request = h2_get("/a");
        // A prefix of the preface decides nothing: no machine runs.
        h.pipe.send(&request[..10]);
        h.turn(READY);
        assert!(h.pipe.written.is_empty());
        h.pipe.send(&request[10..]);
        h.turn(READY);
        let frames = h2_frames(&std::mem::take(&mut h.pipe.written));
        // RFC 9113 §3.4: our SETTINGS first; then the answer on stream 1.
        assert!(matches!(&frames[0], Frame::Settings(s) if !s.ack));
        let headers = frames
            .iter()
            .find_map(|f| match f {
                Frame::Headers(h) => Some(h.clone()),
                _ => None,
            })
            .expect("a response head");
        assert_eq!(headers.stream_id, 1);
        let fields = osprey_h2::hpack::Decoder::new(4096, 1 << 16)
            .decode(&headers.fragment)
            .unwrap()
            .fields;
        assert_eq!(
            (&fields[0].name[..], &fields[0].value[..]),
            (&b":status"[..], &b"200"[..])
        );
        let data: Vec<&osprey_h2::frame::Data> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(data.len(), 1);
        assert_eq!(
            (&data[0].data[..], data[0].end_stream),
            (&b"hi /a"[..], true)
        );

        // No stream for the keep-alive time: GOAWAY NO_ERROR, then close.
        h.advance(h.service.config.keep_alive_timeout + Duration::from_millis(1));
        let turn = h.expire();
        let frames = h2_frames(&std::mem::take(&mut h.pipe.written));
        assert!(
            matches!(frames.last(), Some(Frame::GoAway(g)) if g.code == osprey_h2::ErrorCode::NO_ERROR && g.last_stream_id == 1),
            "{frames:?}"
        );
        // Closed, or lingering so that the GOAWAY is read before the close.
        assert!(turn == Turn::Closed || h.conn.lingering.is_some());
    }

    #[test]
    fn h2c_off_leaves_the_preface_to_http1() {
        let mut h = Harness::with(|c| c.h2c = false);
        h.pipe.send(&h2_get("/a"));
        h.turn(READY);
        let out = h.pipe.take();
        assert!(out.starts_with("HTTP/1.1 "), "{out}");
        assert!(!out.starts_with("HTTP/1.1 200"), "{out}");
    }
}
