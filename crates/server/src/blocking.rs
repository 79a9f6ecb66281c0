//! The blocking models: `iterative`, `threads` and `fork`.
//!
//! Each connection is served start to finish by one thread of control, through
//! the same [`Session`] the event loops use. Reads block for at most
//! [`CHECK_INTERVAL`], so deadlines and shutdown are noticed without signals
//! interrupting syscalls; writes never block, and a full send buffer is waited
//! out with `poll(2)` under the write deadline.

use std::collections::HashSet;
use std::io;
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use osprey_rt::date::DateCache;
use osprey_rt::event::{Events, Interest, Poll, SourceFd, Token};
use osprey_rt::net::DontWait;
use osprey_rt::process::{self, Forked};
use osprey_rt::signals::Shutdown;

use crate::config::Config;
use crate::io::{flush, read_some};
use crate::reclaim::Reclaim;
use crate::session::{Env, Expiry, Next, Phase, Pull, Session};
use crate::Shared;

/// Longest a blocking read waits before checking timeouts and shutdown.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Wakes a thread parked waiting for a response stream.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Serves one connection until it closes.
pub(crate) fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    session: &mut Session,
    shutdown: &Shutdown,
) {
    let config = &shared.config;
    // Reads block, but at most CHECK_INTERVAL, so deadlines and shutdown are
    // seen. Writes never block (MSG_DONTWAIT); a full send buffer means waiting
    // for writability under the write deadline — the event loops' rule, so a
    // client that stops reading is seen as stalled here too. The send timeout
    // only bounds sendfile, which takes no flags.
    if osprey_rt::net::prepare_stream(&stream).is_err()
        || stream.set_read_timeout(Some(CHECK_INTERVAL)).is_err()
        || stream.set_write_timeout(Some(CHECK_INTERVAL)).is_err()
    {
        return;
    }
    let mut date = DateCache::default();
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut last_progress = Instant::now();
    let mut first = true;
    let mut client_closed = false;
    loop {
        date.refresh();
        let env = Env::new(shared, date.get(), false, peer);
        if shutdown.requested() {
            session.drain();
        }
        let next = session.process(&env);
        let mut waiting_stream = false;
        if matches!(session.phase, Phase::Streaming(_)) {
            waiting_stream = session.pull_stream(&waker, &env) == Pull::Pending;
        }
        match flush(&mut session.out, &mut DontWait(&stream)) {
            Ok((_, written)) if written > 0 => last_progress = Instant::now(),
            Ok(_) => {}
            Err(_) => return,
        }
        if !session.out.is_empty() {
            // The client is not taking our output: wait for room, and drop it
            // once the write timeout has passed without progress.
            let deadline = last_progress + config.write_timeout;
            let now = Instant::now();
            if now >= deadline
                || osprey_rt::net::wait_ready(&stream, true, (deadline - now).min(CHECK_INTERVAL))
                    .is_err()
            {
                return;
            }
            continue;
        }
        if session.finished() {
            if !client_closed {
                linger(&mut stream, config);
            }
            return;
        }
        if waiting_stream {
            // Pending stream with everything flushed: sleep until its waker fires.
            std::thread::park_timeout(CHECK_INTERVAL);
            continue;
        }
        if next != Next::Read {
            continue;
        }
        // Read what is there, or wait for input at most until the deadline.
        let now = Instant::now();
        let (deadline, expiry) = session.deadline(config, last_progress).unwrap_or((
            last_progress
                + if first {
                    config.header_timeout
                } else {
                    config.keep_alive_timeout
                },
            Expiry::Idle,
        ));
        if now >= deadline {
            if expiry == Expiry::Idle && session.buffered_input() == 0 {
                return;
            }
            session.timed_out(&env);
            continue;
        }
        let space = session.read_space(config);
        match read_some(&mut stream, space) {
            Ok(0) => {
                client_closed = true;
                session.input_eof(&env);
            }
            Ok(n) => {
                session.commit_read(n);
                last_progress = Instant::now();
                first = false;
            }
            // The read timeout (CHECK_INTERVAL) passed: re-check the deadlines.
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => return,
        }
    }
}

/// Closes our sending side, then reads and discards what the client still sends
/// for a short while, so our last response is not lost to a reset.
fn linger(stream: &mut TcpStream, config: &Config) {
    if stream.shutdown(SocketShutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + config.linger_timeout;
    let mut discarded = 0;
    let mut sink = [0u8; 4096];
    while discarded < config.linger_bytes && Instant::now() < until {
        match read_some(stream, &mut sink) {
            Ok(0) => return,
            Ok(n) => discarded += n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(_) => return,
        }
    }
}

/// Waits until a listener is readable or shutdown is requested. Returns the
/// index of a readable listener, or `None` on shutdown.
struct Acceptor<'a> {
    listeners: &'a [TcpListener],
    poll: Poll,
    events: Events,
    shutdown: &'a Shutdown,
    _signal: osprey_rt::event::UnixStream,
}

const SIGNAL: Token = Token(usize::MAX);

impl<'a> Acceptor<'a> {
    fn new(listeners: &'a [TcpListener], shutdown: &'a Shutdown) -> io::Result<Acceptor<'a>> {
        let poll = Poll::new()?;
        for (i, l) in listeners.iter().enumerate() {
            l.set_nonblocking(true)?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(l);
            poll.registry()
                .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)?;
        }
        let mut signal = shutdown.pipe()?;
        poll.registry()
            .register(&mut signal, SIGNAL, Interest::READABLE)?;
        Ok(Acceptor {
            listeners,
            poll,
            events: Events::with_capacity(16),
            shutdown,
            _signal: signal,
        })
    }

    /// Accepts the next connection, waiting at most `timeout`; `Ok(None)` on
    /// timeout or shutdown.
    fn accept(&mut self, timeout: Duration) -> io::Result<Option<(TcpStream, SocketAddr)>> {
        // Try every listener first: level-triggered readiness may be stale.
        for l in self.listeners {
            match l.accept() {
                Ok((s, peer)) => return Ok(Some((s, peer))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if osprey_rt::net::is_transient_accept_error(&e) => {}
                Err(e) if osprey_rt::net::is_resource_exhausted(&e) => {
                    // Out of descriptors: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(50));
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        if self.shutdown.requested() {
            return Ok(None);
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `iterative`: one connection at a time on the calling thread.
pub(crate) fn run_iterative(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown)?;
    let mut session = Session::new(&shared.config);
    while !shutdown.requested() {
        if let Some((stream, peer)) = acceptor.accept(CHECK_INTERVAL)? {
            session.reset(&shared.config);
            serve_connection(stream, peer, &shared, &mut session, &shutdown);
        }
    }
    Ok(())
}

/// Counts the connection threads alive, so the accept loop can wait for a free
/// slot and shutdown can wait for the last one.
#[derive(Default)]
struct Slots {
    count: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        // The guarded value is a plain counter; a panic cannot leave it torn.
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits while `busy(count)` holds, checking `stop` every CHECK_INTERVAL.
    fn wait_while(&self, busy: impl Fn(usize) -> bool, stop: impl Fn() -> bool) {
        let mut n = self.lock();
        while busy(*n) && !stop() {
            n = self
                .freed
                .wait_timeout(n, CHECK_INTERVAL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Takes a slot; returns how many are taken.
    fn take(&self) -> usize {
        let mut n = self.lock();
        *n += 1;
        *n
    }

    fn give_back(&self) {
        *self.lock() -= 1;
        self.freed.notify_all();
    }
}

/// `threads`: a thread per connection, at most `max_threads` at once; beyond
/// that, connections wait in the listen backlog.
pub(crate) fn run_threads(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown)?;
    let slots = Arc::new(Slots::default());
    let max = shared.config.max_threads.max(1);
    // Each connection thread allocates its session in a glibc arena, which
    // keeps free memory inside it when the thread ends; the accept loop, awake
    // at least every CHECK_INTERVAL, gives it back once the threads are few
    // again (the arenas' tops shrink by themselves: MALLOC_TRIM_THRESHOLD).
    let mut reclaim = Reclaim::new(Instant::now());
    while !shutdown.requested() {
        let live = *slots.lock();
        if reclaim.due(live, Instant::now(), &shared.config) {
            osprey_rt::mem::release_free_memory();
        }
        slots.wait_while(|n| n >= max, || shutdown.requested());
        let Some((stream, peer)) = acceptor.accept(CHECK_INTERVAL)? else {
            continue;
        };
        reclaim.note(slots.take());
        let (shared, shutdown, slot) = (shared.clone(), shutdown.clone(), slots.clone());
        let spawned = std::thread::Builder::new()
            .name("osprey-conn".into())
            .spawn(move || {
                let mut session = Session::new(&shared.config);
                serve_connection(stream, peer, &shared, &mut session, &shutdown);
                slot.give_back();
            });
        if spawned.is_err() {
            slots.give_back();
        }
    }
    // Graceful: in-flight connections finish (they saw the flag) within the grace.
    let until = Instant::now() + shared.config.shutdown_grace;
    slots.wait_while(|n| n > 0, || Instant::now() >= until);
    Ok(())
}

/// `fork`: a process per connection. The parent stays single-threaded (fork
/// copies only the calling thread), closes its copy of each connection and reaps
/// exited children; a child that crashes loses only its own connection.
pub(crate) fn run_fork(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown)?;
    let mut children: HashSet<i32> = HashSet::new();
    let max = shared.config.max_children.max(1);
    let live = AtomicUsize::new(0);
    while !shutdown.requested() {
        process::reap_children(|pid| {
            children.remove(&pid);
        });
        live.store(children.len(), Ordering::Relaxed);
        if children.len() >= max {
            // Leave connections in the backlog until a child exits.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some((stream, peer)) = acceptor.accept(CHECK_INTERVAL)? else {
            continue;
        };
        match process::fork() {
            Ok(Forked::Child) => {
                process::die_with_parent();
                drop(acceptor);
                drop(listeners);
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut session = Session::new(&shared.config);
                    serve_connection(stream, peer, &shared, &mut session, &shutdown);
                }))
                .map_or(1, |()| 0);
                process::exit_child(code);
            }
            Ok(Forked::Parent(pid)) => {
                children.insert(pid);
                drop(stream);
            }
            Err(_) => drop(stream),
        }
    }
    // Graceful: ask every child to finish its request, then wait for them.
    for &pid in &children {
        process::terminate(pid);
    }
    let until = Instant::now() + shared.config.shutdown_grace;
    while !children.is_empty() && Instant::now() < until {
        process::reap_children(|pid| {
            children.remove(&pid);
        });
        std::thread::sleep(Duration::from_millis(10));
    }
    for &pid in &children {
        process::kill(pid);
    }
    while process::wait_child() {}
    Ok(())
}
