//! The event-loop models: `epoll` (one loop) and `reactor` (one loop per core,
//! each with its own `SO_REUSEPORT` listener; nothing shared on the hot path).
//!
//! One thread runs [`EventLoop::run`]: mio readiness (edge-triggered), a slab of
//! connections, the thread's pools, one timer wheel, one date cache. What a
//! connection does is [`Connection::turn`], the same driver the blocking models
//! run; this file only decides *when* to turn a connection: on a readiness
//! event, when its waker fires, when its deadline passes, or on the next loop
//! turn when it stopped at its read budget ([`crate::config::READ_PER_TURN`]),
//! so one busy client cannot starve the rest.
//!
//! Ownership: the loop owns every socket and connection. Response streams,
//! pending replies and blocking handlers may live on other threads; they reach
//! back only through the loop's waker and a locked list of `(key, id)` pairs,
//! checked against the connection's id so a late wake-up can never touch a
//! connection that reused the slot.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use osprey_rt::date::DateCache;
use osprey_rt::event::{
    Events, Interest, Poll, TcpListener, TcpStream, Token, UnixStream, Waker as MioWaker,
};
use osprey_rt::io::TcpIo;
use osprey_rt::signals::Shutdown;
use osprey_rt::timer::TimerWheel;
use osprey_rt::workers::WorkerPool;
use osprey_web::{ConnectionInfo, Timer};
use slab::Slab;

use crate::conn::{Connection, Env, Readiness, Turn};
use crate::machine::{Offload, Pools};
use crate::reclaim::Reclaim;
use crate::service::Service;
use crate::timers::Timers;
use crate::tls::TlsConfig;
use crate::transport::AnyTransport;
use crate::Listener;

const WAKER: Token = Token(usize::MAX);
const SIGNAL: Token = Token(usize::MAX - 1);
/// Listener tokens count down from here.
const LISTENER_BASE: usize = usize::MAX - 2;

/// Timer granularity: deadlines fire at most this late.
const TICK: Duration = Duration::from_millis(100);

/// How long accepting pauses after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

struct Conn {
    stream: TcpStream,
    /// Distinguishes this connection from later ones in the same slab slot.
    id: u32,
    connection: Connection,
    ready: Readiness,
    /// Counted in the loop's `active` (holds lent buffers or an exchange).
    active: bool,
    deadline: Instant,
    /// The deadline the wheel will look at this connection.
    filed: Instant,
    timer_gen: u32,
}

/// Connections woken from other threads (or by the loop itself), as
/// `(key, id)`.
type Inbox = Arc<Mutex<Vec<(usize, u32)>>>;

struct LoopWaker {
    key: usize,
    id: u32,
    inbox: Inbox,
    waker: Arc<MioWaker>,
}

impl Wake for LoopWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.inbox).push((self.key, self.id));
        let _ = self.waker.wake();
    }
}

fn lock(inbox: &Mutex<Vec<(usize, u32)>>) -> std::sync::MutexGuard<'_, Vec<(usize, u32)>> {
    inbox.lock().unwrap_or_else(|e| e.into_inner())
}

/// The loop's worker pool for blocking handlers, started on first use.
struct Workers<'a> {
    pool: &'a mut Option<WorkerPool>,
    service: &'a Service,
}

impl Offload for Workers<'_> {
    fn spawn(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), ()> {
        let service = self.service;
        self.pool
            .get_or_insert_with(|| service.worker_pool())
            .try_run(job)
            .map_err(|_| ())
    }
}

pub(crate) struct EventLoop {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// The TLS configuration of each listener, by index.
    tls: Vec<Option<TlsConfig>>,
    signal: UnixStream,
    service: Arc<Service>,
    conns: Slab<Conn>,
    pools: Pools,
    /// Connections holding lent buffers or an exchange in progress.
    active: usize,
    /// Gives memory back when the loop goes quiet after a burst.
    reclaim: Reclaim,
    wheel: TimerWheel,
    date: DateCache,
    now: Instant,
    next_id: u32,
    inbox: Inbox,
    waker: Arc<MioWaker>,
    /// Timers of pending replies on this loop.
    timers: Arc<Timers>,
    timer: Timer,
    workers: Option<WorkerPool>,
    accept_paused: bool,
    accept_retry: Option<Instant>,
    /// Connections stopped at their read budget, run again next turn.
    requeued: Vec<usize>,
    draining: Option<Instant>,
    /// This loop's share of `Config::max_connections`.
    max_connections: usize,
}

impl EventLoop {
    pub(crate) fn new(
        listeners: Vec<Listener>,
        service: Arc<Service>,
        shutdown: &Shutdown,
        loops: usize,
    ) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut mio_listeners = Vec::with_capacity(listeners.len());
        let mut tls = Vec::with_capacity(listeners.len());
        for (i, Listener { socket: l, tls: t }) in listeners.into_iter().enumerate() {
            tls.push(t);
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
        let workers = service.may_block.then(|| service.worker_pool());
        let now = Instant::now();
        let timers = Timers::for_loop(waker.clone());
        Ok(EventLoop {
            poll,
            listeners: mio_listeners,
            tls,
            signal,
            conns: Slab::with_capacity(1024),
            pools: Pools::default(),
            active: 0,
            reclaim: Reclaim::new(now),
            wheel: TimerWheel::new(TICK, now),
            date: DateCache::default(),
            now,
            next_id: 0,
            inbox: Arc::default(),
            waker,
            timer: Timer::new(timers.clone()),
            timers,
            workers,
            accept_paused: false,
            accept_retry: None,
            requeued: Vec::new(),
            draining: None,
            max_connections: service.config.max_connections.div_ceil(loops.max(1)),
            service,
        })
    }

    /// Runs until shutdown has been requested and every connection finished (or
    /// the grace period ran out).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut requeued = Vec::new();
        let mut woken = Vec::new();
        let mut due = Vec::new();
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
                    // The inbox is looked at below, on every wake-up.
                    WAKER => {}
                    SIGNAL => self.start_draining(),
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t)
                    }
                    Token(key) => {
                        if let Some(c) = self.conns.get_mut(key) {
                            let closed = event.is_read_closed() || event.is_error();
                            c.ready.readable |= event.is_readable() || closed;
                            c.ready.writable |= event.is_writable() || event.is_error();
                            c.ready.closed |= closed;
                            self.drive(key);
                        }
                    }
                }
            }
            std::mem::swap(&mut requeued, &mut self.requeued);
            for key in requeued.drain(..) {
                self.drive(key);
            }
            self.timers.fire(self.now, &mut due);
            std::mem::swap(&mut woken, &mut *lock(&self.inbox));
            for (key, id) in woken.drain(..) {
                if self.conns.get(key).is_some_and(|c| c.id == id) {
                    self.drive(key);
                }
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
        let reply_timer = self.timers.next();
        let reclaim = self.reclaim.pending(self.active, &self.service.config);
        for extra in [self.accept_retry, self.draining, reply_timer, reclaim]
            .into_iter()
            .flatten()
        {
            let d = extra.saturating_duration_since(self.now);
            t = Some(t.map_or(d, |t| t.min(d)));
        }
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
                Ok((stream, peer)) => self.add_connection(stream, peer, index),
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

    fn add_connection(&mut self, mut stream: TcpStream, peer: SocketAddr, listener: usize) {
        if stream.set_nodelay(true).is_err() {
            return;
        }
        let Ok(transport) =
            AnyTransport::for_listener(self.tls[listener].as_ref(), &self.service.config)
        else {
            return;
        };
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
        let Ok(local) = stream.local_addr() else {
            return;
        };
        let info = ConnectionInfo::new(local, peer);
        let connection = Connection::new(transport, info, self.now);
        let (deadline, _) = connection.deadline(&self.service.config);
        entry.insert(Conn {
            stream,
            id: self.next_id,
            connection,
            ready: Readiness::default(),
            active: false,
            deadline,
            filed: deadline,
            timer_gen: 0,
        });
        self.wheel.insert(key, 0, deadline);
    }

    /// Turns one connection (or applies its deadline, when `expired`).
    fn turn(&mut self, key: usize, expired: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let (id, inbox, mio_waker) = (conn.id, &self.inbox, &self.waker);
        let make_waker = || {
            Waker::from(Arc::new(LoopWaker {
                key,
                id,
                inbox: inbox.clone(),
                waker: mio_waker.clone(),
            }))
        };
        let mut workers = Workers {
            pool: &mut self.workers,
            service: &self.service,
        };
        let mut env = Env {
            service: &self.service,
            date: self.date.get(),
            now: self.now,
            workers: &mut workers,
            event_loop: true,
            pools: &mut self.pools,
            timer: &self.timer,
            make_waker: &make_waker,
        };
        let mut io = TcpIo(&mut conn.stream);
        let turn = if expired {
            conn.connection.expire(&mut io, &mut env, &mut conn.ready)
        } else {
            conn.connection.turn(&mut io, &mut env, &mut conn.ready)
        };
        match turn {
            Turn::Closed => self.close(key),
            Turn::Requeue => {
                self.requeued.push(key);
                self.settle(key);
            }
            Turn::Wait { .. } => self.settle(key),
        }
    }

    fn drive(&mut self, key: usize) {
        self.turn(key, false);
    }

    /// After a turn: count the connection active or not, and move the timer
    /// if the deadline came closer.
    fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let active = conn.connection.is_active();
        if active != conn.active {
            conn.active = active;
            if active {
                self.active += 1;
                self.reclaim.note(self.active);
            } else {
                self.active -= 1;
            }
        }
        let (deadline, _) = conn.connection.deadline(&self.service.config);
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
                // Filed again by the turn's settle if the connection lives on.
                conn.filed = now + Duration::from_secs(365 * 24 * 3600);
                None
            } else {
                conn.filed = conn.deadline;
                Some(conn.deadline)
            }
        });
        for key in expired {
            self.turn(key, true);
        }
    }

    fn start_draining(&mut self) {
        let mut sink = [0u8; 64];
        while matches!(io::Read::read(&mut self.signal, &mut sink), Ok(n) if n > 0) {}
        if self.draining.is_some() {
            return;
        }
        self.draining = Some(self.now + self.service.config.shutdown_grace);
        // Stop accepting: close the listeners so new connections are refused
        // (or go to another loop's listener still open in a rolling restart).
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if self.conns[key].connection.drain() {
                // Idle keep-alive connections close now.
                let conn = &mut self.conns[key];
                conn.connection.goodbye(&mut TcpIo(&mut conn.stream));
                self.close(key);
            } else {
                self.drive(key);
            }
        }
    }

    /// After a burst, once few connections are active: keep only a quiet
    /// loop's share of the pools and give free heap memory back to the
    /// system (`QUIET_CONNECTIONS`, `MEMORY_TRIM_INTERVAL`).
    fn release_memory(&mut self) {
        let config = &self.service.config;
        if !self.reclaim.due(self.active, self.now, config) {
            return;
        }
        self.pools.truncate(config.quiet_connections);
        // Slots freed at the end of the slab go too (keys stay valid).
        self.conns.shrink_to_fit();
        osprey_rt::mem::release_free_memory();
    }

    fn close(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if conn.active {
            self.active -= 1;
        }
        // Dropping a response stream or a pending reply tells its producer
        // the client is gone.
        conn.connection
            .release(&mut self.pools, &self.service.config);
        self.resume_accepting();
    }
}
