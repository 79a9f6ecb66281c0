//! The event-loop models: `epoll` (one loop) and `reactor` (one loop per core,
//! each with its own `SO_REUSEPORT` listener; nothing shared on the hot path).
//!
//! One thread runs [`EventLoop::run`]: mio readiness (edge-triggered), a slab of
//! connections, a pool of [`Session`]s lent only to active connections, one timer
//! wheel, one date cache. Reads are drained until WouldBlock but bounded per turn
//! ([`READ_PER_TURN`]) so one busy client cannot starve the rest; a connection
//! over budget is requeued for the next turn.
//!
//! Ownership: the loop owns every socket, session and timer entry of its
//! connections. Response streams and blocking handlers may live on other threads;
//! they reach back only through the loop's waker and a locked list of
//! `(key, id)` pairs, checked against the connection's id so a late wake-up can
//! never touch a connection that reused the slot.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use osprey_rt::date::DateCache;
use osprey_rt::event::{
    Events, Interest, Poll, TcpListener, TcpStream, Token, UnixStream, Waker as MioWaker,
};
use osprey_rt::signals::Shutdown;
use osprey_rt::timer::TimerWheel;
use osprey_rt::workers::WorkerPool;
use osprey_web::{Request, Response, Status};
use slab::Slab;

use crate::io::{flush, read_some, Flushed};
use crate::reclaim::Reclaim;
use crate::session::{call_handler, Env, Expiry, Next, Phase, Pull, Session};
use crate::Shared;

const WAKER: Token = Token(usize::MAX);
const SIGNAL: Token = Token(usize::MAX - 1);
/// Listener tokens count down from here.
const LISTENER_BASE: usize = usize::MAX - 2;

/// Timer granularity: deadlines fire at most this late.
const TICK: Duration = Duration::from_millis(100);

/// How long accepting pauses after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// While output waits for a client, the loop tries to write this many times
/// per write timeout. Linux raises EPOLLOUT only once about a third of the
/// send buffer (megabytes, autotuned) has drained, so a client reading slowly
/// but steadily may go a whole timeout without an edge; its progress is seen
/// by trying. A client that stopped reading is dropped at most a quarter of a
/// timeout late.
const WRITE_CHECKS: u32 = 4;

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// Distinguishes this connection from later ones in the same slab slot.
    id: u32,
    session: Option<Box<Session>>,
    readable: bool,
    writable: bool,
    /// The peer's FIN (or an error) has been reported. Edge-triggered epoll
    /// reports it once, possibly in the same event as the last data, so while
    /// it is set reads go on until they return 0 (or fail) instead of
    /// stopping at a short read.
    read_closed: bool,
    /// Served at least one request (the first wait uses the header timeout).
    served: bool,
    last_progress: Instant,
    deadline: Instant,
    /// The deadline the wheel will look at this connection.
    filed: Instant,
    timer_gen: u32,
    /// Closing: our side is shut, reading and discarding until this instant.
    lingering: Option<(Instant, usize)>,
    stream_waker: Option<Waker>,
}

/// What other threads hand back to the loop.
#[derive(Default)]
struct Inbox {
    /// Connections whose response stream has more to give.
    woken: Vec<(usize, u32)>,
    /// Responses from blocking handlers.
    done: Vec<(usize, u32, Option<Response>)>,
}

struct LoopWaker {
    key: usize,
    id: u32,
    inbox: Arc<Mutex<Inbox>>,
    waker: Arc<MioWaker>,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.inbox).woken.push((self.key, self.id));
        let _ = self.waker.wake();
    }
}

fn lock(inbox: &Mutex<Inbox>) -> std::sync::MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct EventLoop {
    poll: Poll,
    listeners: Vec<TcpListener>,
    signal: UnixStream,
    shared: Arc<Shared>,
    conns: Slab<Conn>,
    // Boxed so lending a session to a connection moves a pointer, not the
    // whole engine.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<Session>>,
    /// Sessions lent to connections (exchanges in progress).
    lent: usize,
    /// Gives memory back when the loop goes quiet after a burst.
    reclaim: Reclaim,
    wheel: TimerWheel,
    date: DateCache,
    now: Instant,
    next_id: u32,
    inbox: Arc<Mutex<Inbox>>,
    waker: Arc<MioWaker>,
    workers: Option<WorkerPool>,
    accept_paused: bool,
    accept_retry: Option<Instant>,
    /// Connections with input left over after their turn's read budget.
    requeued: Vec<usize>,
    draining: Option<Instant>,
    /// This loop's share of `Config::max_connections`.
    max_connections: usize,
}

impl EventLoop {
    pub(crate) fn new(
        listeners: Vec<StdTcpListener>,
        shared: Arc<Shared>,
        shutdown: &Shutdown,
        loops: usize,
    ) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut mio_listeners = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE - i), Interest::READABLE)?;
            mio_listeners.push(l);
        }
        let mut signal = shutdown.pipe()?;
        poll.registry()
            .register(&mut signal, SIGNAL, Interest::READABLE)?;
        let waker = Arc::new(MioWaker::new(poll.registry(), WAKER)?);
        let workers = shared.may_block.then(|| {
            WorkerPool::new(
                "osprey-blocking",
                shared.config.blocking_threads,
                shared.config.blocking_queue,
            )
        });
        let now = Instant::now();
        Ok(EventLoop {
            poll,
            listeners: mio_listeners,
            signal,
            conns: Slab::with_capacity(1024),
            pool: Vec::with_capacity(shared.config.session_pool),
            lent: 0,
            reclaim: Reclaim::new(now),
            wheel: TimerWheel::new(TICK, now),
            date: DateCache::default(),
            now,
            next_id: 0,
            inbox: Arc::default(),
            waker,
            workers,
            accept_paused: false,
            accept_retry: None,
            requeued: Vec::new(),
            draining: None,
            max_connections: shared.config.max_connections.div_ceil(loops.max(1)),
            shared,
        })
    }

    /// Runs until shutdown has been requested and every connection finished (or
    /// the grace period ran out).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut requeued = Vec::new();
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.now = Instant::now();
            self.date.refresh();
            for event in events.iter() {
                match event.token() {
                    WAKER => self.handle_inbox(),
                    SIGNAL => self.start_draining(),
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t)
                    }
                    Token(key) => {
                        if let Some(c) = self.conns.get_mut(key) {
                            let closed = event.is_read_closed() || event.is_error();
                            c.read_closed |= closed;
                            c.readable |= event.is_readable() || closed;
                            c.writable |= event.is_writable() || event.is_error();
                            self.drive(key);
                        }
                    }
                }
            }
            std::mem::swap(&mut requeued, &mut self.requeued);
            for key in requeued.drain(..) {
                self.drive(key);
            }
            self.expire_timers();
            self.release_memory();
            if self.accept_retry.is_some_and(|t| self.now >= t) {
                self.accept_retry = None;
                self.resume_accepting();
            }
            if let Some(until) = self.draining {
                if self.conns.is_empty() {
                    return Ok(());
                }
                if self.now >= until {
                    let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                    for key in keys {
                        self.close(key);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.requeued.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut t = self.wheel.timeout(self.now);
        let reclaim = self.reclaim.pending(self.lent, &self.shared.config);
        for extra in [self.accept_retry, self.draining, reclaim]
            .into_iter()
            .flatten()
        {
            let d = extra.saturating_duration_since(self.now);
            t = Some(t.map_or(d, |t| t.min(d)));
        }
        // Refresh the Date header about once a second even when idle is not
        // needed: it is refreshed after every wake-up.
        t
    }

    fn accept(&mut self, index: usize) {
        while !self.accept_paused && self.draining.is_none() {
            if self.conns.len() >= self.max_connections {
                // Stop accepting: with edge-triggered readiness no event comes
                // back until we accept again, so nothing spins.
                self.accept_paused = true;
                return;
            }
            match self.listeners[index].accept() {
                Ok((stream, peer)) => self.add_connection(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if osprey_rt::net::is_transient_accept_error(&e) => continue,
                Err(e) if osprey_rt::net::is_resource_exhausted(&e) => {
                    // Out of descriptors: the listener stays readable, so pause
                    // and retry later instead of spinning.
                    self.accept_paused = true;
                    self.accept_retry = Some(self.now + ACCEPT_BACKOFF);
                    return;
                }
                Err(_) => return,
            }
        }
    }

    fn resume_accepting(&mut self) {
        if self.accept_paused
            && self.accept_retry.is_none()
            && self.conns.len() < self.max_connections
        {
            self.accept_paused = false;
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
    }

    fn add_connection(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        if stream.set_nodelay(true).is_err() {
            return;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if self
            .poll
            .registry()
            .register(
                &mut stream,
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            return;
        }
        self.next_id = self.next_id.wrapping_add(1);
        let deadline = self.now + self.shared.config.header_timeout;
        entry.insert(Conn {
            stream,
            peer,
            id: self.next_id,
            session: None,
            readable: false,
            writable: false,
            read_closed: false,
            served: false,
            last_progress: self.now,
            deadline,
            filed: deadline,
            timer_gen: 0,
            lingering: None,
            stream_waker: None,
        });
        self.wheel.insert(key, 0, deadline);
    }

    /// Moves one connection as far as it can go without blocking.
    fn drive(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.lingering.is_some() {
            self.linger(key);
            return;
        }
        if conn.session.is_none() {
            if !conn.readable {
                return;
            }
            let mut session = self
                .pool
                .pop()
                .unwrap_or_else(|| Box::new(Session::new(&self.shared.config)));
            session.reset(&self.shared.config);
            conn.session = Some(session);
            self.lent += 1;
            self.reclaim.note(self.lent);
        }
        let shared = &*self.shared;
        let config = &shared.config;
        let env = Env::new(&self.shared, self.date.get(), true, conn.peer);
        let session = conn.session.as_mut().expect("session attached above");
        let mut budget = config.read_per_turn;
        let mut offload = false;
        let mut close = false;
        let mut peer_closed = false;
        loop {
            let mut progressed = false;
            let next = session.process(&env);
            if next == Next::Offload {
                offload = true;
            }
            if matches!(session.phase, Phase::Streaming(_)) {
                let waker = conn.stream_waker.get_or_insert_with(|| {
                    Waker::from(Arc::new(LoopWaker {
                        key,
                        id: conn.id,
                        inbox: self.inbox.clone(),
                        waker: self.waker.clone(),
                    }))
                });
                progressed |= session.pull_stream(waker, &env) == Pull::Ended;
            }
            if !session.out.is_empty() && conn.writable {
                match flush(&mut session.out, &mut conn.stream) {
                    Ok((done, n)) => {
                        if n > 0 {
                            conn.last_progress = self.now;
                            progressed = true;
                        }
                        if done == Flushed::Blocked {
                            conn.writable = false;
                        }
                    }
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
            }
            if session.finished() && session.out.is_empty() {
                close = true;
                break;
            }
            if next == Next::Read && conn.readable {
                if budget == 0 {
                    self.requeued.push(key);
                    break;
                }
                let space = session.read_space(config);
                let want = space.len().min(budget);
                match read_some(&mut conn.stream, &mut space[..want]) {
                    Ok(0) => {
                        conn.readable = false;
                        peer_closed = true;
                        session.input_eof(&env);
                        if session.out.is_empty() {
                            // Nothing to say; the client is gone.
                            close = true;
                            break;
                        }
                    }
                    Ok(n) => {
                        // Edge-triggered: a short read emptied the socket, and
                        // anything arriving later raises a new edge. Skipping
                        // the read that would return EAGAIN saves a syscall per
                        // request. Not after a FIN was reported: it raises no
                        // further edge, so the next read (which returns 0) is
                        // the only way to see it.
                        if n < want && !conn.read_closed {
                            conn.readable = false;
                        }
                        session.commit_read(n);
                        budget -= n;
                        conn.last_progress = self.now;
                        conn.served = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => conn.readable = false,
                    Err(_) => {
                        close = true;
                        break;
                    }
                }
                progressed = true;
            }
            if !progressed || offload {
                break;
            }
        }
        if close {
            // Linger only when the client may still be sending: after its EOF
            // there is nothing left to drain.
            let graceful = !peer_closed
                && (conn.readable || session.buffered_input() > 0 || !session.h1.is_idle());
            if graceful && session.out.is_empty() {
                self.start_linger(key);
            } else {
                self.close(key);
            }
            return;
        }
        if offload {
            self.offload(key);
        }
        self.settle(key);
    }

    /// After a turn: lend the session back if idle, and move the timer.
    fn settle(&mut self, key: usize) {
        let config = &self.shared.config;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.session.as_ref().is_some_and(|s| s.is_idle()) {
            conn.stream_waker = None;
            self.lent -= 1;
            if self.pool.len() < config.session_pool {
                let mut session = conn.session.take().expect("checked");
                session.release_grown(config);
                self.pool.push(session);
            } else {
                conn.session = None;
            }
        }
        let deadline = match conn
            .session
            .as_ref()
            .and_then(|s| s.deadline(config, conn.last_progress))
        {
            Some((t, Expiry::Write)) => t.min(self.now + config.write_timeout / WRITE_CHECKS),
            Some((t, _)) => t,
            None if conn.session.as_ref().is_some_and(|s| !s.is_idle()) => {
                conn.last_progress + config.shutdown_grace.max(config.write_timeout) * 4
            }
            None if conn.served => conn.last_progress + config.keep_alive_timeout,
            None => conn.last_progress + config.header_timeout,
        };
        conn.deadline = deadline;
        if deadline < conn.filed {
            // Earlier than the wheel will look: file a new entry; the old one is
            // recognised as stale by its generation.
            conn.timer_gen = conn.timer_gen.wrapping_add(1);
            conn.filed = deadline;
            self.wheel.insert(key, conn.timer_gen, deadline);
        }
    }

    fn expire_timers(&mut self) {
        let now = self.now;
        let conns = &mut self.conns;
        let mut expired = Vec::new();
        self.wheel.advance(now, |key, gen| {
            let conn = conns.get_mut(key)?;
            if conn.timer_gen != gen {
                return None;
            }
            if conn.deadline <= now {
                expired.push(key);
                None
            } else {
                conn.filed = conn.deadline;
                Some(conn.deadline)
            }
        });
        for key in expired {
            self.on_timeout(key);
        }
    }

    fn on_timeout(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.lingering.is_some() {
            self.close(key);
            return;
        }
        let expiry = conn
            .session
            .as_ref()
            .and_then(|s| s.deadline(&self.shared.config, conn.last_progress))
            .map(|(_, e)| e);
        match (expiry, conn.session.as_mut()) {
            (Some(Expiry::Header | Expiry::Body), Some(session)) => {
                let env = Env::new(&self.shared, self.date.get(), true, conn.peer);
                session.timed_out(&env);
                conn.writable = true;
                // Give the 408 one chance to go out, then linger or close.
                self.drive(key);
                if let Some(c) = self.conns.get_mut(key) {
                    if c.lingering.is_none() {
                        self.close(key);
                    }
                }
            }
            (Some(Expiry::Write), Some(_)) => {
                // A write check (WRITE_CHECKS): the write timeout is about
                // progress, not about readiness edges, so try to write before
                // judging. Progress moves the deadline; a client that took
                // nothing for a whole write timeout is dropped.
                conn.writable = true;
                self.drive(key);
                let config = &self.shared.config;
                let Some(c) = self.conns.get_mut(key) else {
                    return;
                };
                if c.lingering.is_some() {
                    return;
                }
                let stalled = c
                    .session
                    .as_ref()
                    .and_then(|s| s.deadline(config, c.last_progress))
                    .is_some_and(|(t, e)| e == Expiry::Write && t <= self.now);
                if stalled {
                    self.close(key);
                    return;
                }
                // The wheel dropped the entry that fired: file the next check
                // (or other deadline) `settle` computed.
                c.timer_gen = c.timer_gen.wrapping_add(1);
                c.filed = c.deadline;
                self.wheel.insert(key, c.timer_gen, c.deadline);
            }
            _ => self.close(key),
        }
    }

    fn offload(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let session = conn.session.as_mut().expect("offload needs a session");
        let request: Request = session.take_request();
        let (id, handler, inbox, waker) = (
            conn.id,
            self.shared.handler.clone(),
            self.inbox.clone(),
            self.waker.clone(),
        );
        let job = move || {
            let mut request = request;
            let response = call_handler(&*handler, &mut request);
            lock(&inbox).done.push((key, id, response));
            let _ = waker.wake();
        };
        // Started on first use when the handler did not say up front that it
        // may block (a plan can mark a single request blocking).
        let config = &self.shared.config;
        let workers = self.workers.get_or_insert_with(|| {
            WorkerPool::new(
                "osprey-blocking",
                config.blocking_threads,
                config.blocking_queue,
            )
        });
        if workers.try_run(job).is_err() {
            // Overloaded: shed this request rather than queue without bound.
            let env = Env::new(&self.shared, self.date.get(), true, conn.peer);
            session.respond(
                Some(Response::status_text(Status::SERVICE_UNAVAILABLE)),
                &env,
            );
            self.drive(key);
        }
    }

    fn handle_inbox(&mut self) {
        let Inbox { woken, done } = std::mem::take(&mut *lock(&self.inbox));
        for (key, id, response) in done {
            let Some(conn) = self.conns.get_mut(key).filter(|c| c.id == id) else {
                continue;
            };
            if let Some(session) = conn.session.as_mut() {
                let env = Env::new(&self.shared, self.date.get(), true, conn.peer);
                session.respond(response, &env);
                conn.writable = true;
                self.drive(key);
            }
        }
        for (key, id) in woken {
            if self.conns.get(key).is_some_and(|c| c.id == id) {
                self.drive(key);
            }
        }
    }

    fn start_draining(&mut self) {
        let mut sink = [0u8; 64];
        while matches!(io::Read::read(&mut self.signal, &mut sink), Ok(n) if n > 0) {}
        if self.draining.is_some() {
            return;
        }
        self.draining = Some(self.now + self.shared.config.shutdown_grace);
        // Stop accepting: close the listeners so new connections are refused
        // (or go to another loop's listener still open in a rolling restart).
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            let conn = &mut self.conns[key];
            match conn.session.as_mut() {
                // Idle keep-alive connections close now.
                None => self.close(key),
                Some(s) => {
                    s.drain();
                    self.drive(key);
                }
            }
        }
    }

    fn start_linger(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.stream.shutdown(std::net::Shutdown::Write).is_err() {
            self.close(key);
            return;
        }
        let until = self.now + self.shared.config.linger_timeout;
        conn.lingering = Some((until, 0));
        conn.timer_gen = conn.timer_gen.wrapping_add(1);
        conn.deadline = until;
        conn.filed = conn.deadline;
        self.wheel.insert(key, conn.timer_gen, conn.deadline);
        self.linger(key);
    }

    fn linger(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        let mut sink = [0u8; 4096];
        loop {
            match read_some(&mut conn.stream, &mut sink) {
                Ok(0) => break,
                Ok(n) => {
                    let (until, seen) = conn.lingering.expect("lingering");
                    if seen + n > self.shared.config.linger_bytes {
                        break;
                    }
                    conn.lingering = Some((until, seen + n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.close(key);
    }

    /// After a burst, once few exchanges are in progress: keep only a quiet
    /// loop's share of pooled sessions and give free heap memory back to the
    /// system (`QUIET_CONNECTIONS`, `MEMORY_TRIM_INTERVAL`).
    fn release_memory(&mut self) {
        let config = &self.shared.config;
        if !self.reclaim.due(self.lent, self.now, config) {
            return;
        }
        self.pool.truncate(config.quiet_connections);
        // Slots freed at the end of the slab go too (keys stay valid).
        self.conns.shrink_to_fit();
        osprey_rt::mem::release_free_memory();
    }

    fn close(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(mut session) = conn.session.take() {
            self.lent -= 1;
            if self.pool.len() < self.shared.config.session_pool
                && !matches!(session.phase, Phase::Handler)
            {
                // Resetting drops any response stream now, so its producer
                // learns the client is gone.
                session.reset(&self.shared.config);
                self.pool.push(session);
            }
        }
        self.resume_accepting();
    }
}
