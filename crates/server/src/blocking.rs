//! The blocking models: `iterative`, `threads` and `fork`.
//!
//! Each connection is served start to finish by one thread of control, running
//! the same [`Connection::turn`] as the event loops. Only the waiting differs:
//! the socket stays in blocking mode with a read timeout of [`CHECK_INTERVAL`],
//! so a turn that wants input simply blocks in `read` (one syscall, no poll
//! first), and deadlines and shutdown are noticed at least that often; writes
//! never block (`MSG_DONTWAIT`), and a full send buffer is waited out with
//! `poll(2)` under the write deadline; a connection waiting for a reply or a
//! stream parks its thread until the waker unparks it.

use std::collections::HashSet;
use std::io;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use osprey_rt::date::DateCache;
use osprey_rt::event::{Events, Interest, Poll, SourceFd, Token};
use osprey_rt::io::TcpIo;
use osprey_rt::process::{self, Forked};
use osprey_rt::signals::Shutdown;
use osprey_web::{ConnectionInfo, Timer};

use crate::conn::{Connection, Env, Readiness, Turn};
use crate::machine::{Offload, Pools};
use crate::reclaim::Reclaim;
use crate::service::Service;
use crate::timers::Timers;
use crate::tls::{Reloader, TlsConfig};
use crate::transport::AnyTransport;
use crate::Listener;

/// Longest a blocking read waits before checking timeouts and shutdown.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Wakes a connection's thread: parked waiting for a reply or a response
/// stream, or — once an alarm is set up — waiting for input while another
/// thread may queue output (a WebSocket's `Sender`).
struct ThreadWaker {
    thread: std::thread::Thread,
    /// Set by a wake-up, taken by the connection's loop before it waits.
    woken: AtomicBool,
    /// The writing end of the alarm the loop polls next to its socket.
    alarm: OnceLock<UnixStream>,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(alarm) = self.alarm.get() {
            // Non-blocking: a full alarm already says "woken".
            let _ = (&*alarm).write(&[1]);
        }
        self.thread.unpark();
    }
}

/// The loop's end of a connection's alarm: made the first time the
/// connection waits for input while something holds its waker.
fn alarm_for(waker: &ThreadWaker, rx: &mut Option<UnixStream>) -> Option<()> {
    if rx.is_none() {
        let (r, w) = UnixStream::pair().ok()?;
        r.set_nonblocking(true).ok()?;
        w.set_nonblocking(true).ok()?;
        waker.alarm.set(w).ok()?;
        *rx = Some(r);
    }
    Some(())
}

/// Blocking handlers that stream their body run on the process's shared
/// pool (every other blocking handler runs in place).
struct SharedWorkers<'a>(&'a Service);

impl Offload for SharedWorkers<'_> {
    fn spawn(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), ()> {
        self.0.shared_workers().try_run(job).map_err(|_| ())
    }
}

/// Serves one connection until it closes.
pub(crate) fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    tls: Option<&TlsConfig>,
    service: &Service,
    pools: &mut Pools,
    shutdown: &Shutdown,
) {
    let config = &service.config;
    // The send timeout only bounds sendfile, which takes no MSG_DONTWAIT.
    if osprey_rt::net::prepare_stream(&stream).is_err()
        || stream.set_read_timeout(Some(CHECK_INTERVAL)).is_err()
        || stream.set_write_timeout(Some(CHECK_INTERVAL)).is_err()
    {
        return;
    }
    let mut date = DateCache::default();
    let timers = Timers::for_thread();
    let timer = Timer::new(timers.clone());
    let mut due = Vec::new();
    let thread_waker = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
        alarm: OnceLock::new(),
    });
    let make_waker = || Waker::from(thread_waker.clone());
    let mut alarm: Option<UnixStream> = None;
    // Whether the socket is worth reading on the next turn (false after a
    // wait that only the alarm ended).
    let mut readable = true;
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let info = ConnectionInfo::new(local, peer);
    let Ok(transport) = AnyTransport::for_listener(tls, config) else {
        return;
    };
    let mut connection = Connection::new(transport, info, Instant::now());
    let mut draining = false;
    let mut peer_closed = false;
    loop {
        date.refresh();
        timers.fire(Instant::now(), &mut due);
        if shutdown.requested() && !draining {
            draining = true;
            if connection.drain() {
                connection.goodbye(&mut TcpIo(&mut stream));
                break;
            }
        }
        let mut env = Env {
            service,
            date: date.get(),
            now: Instant::now(),
            workers: &mut SharedWorkers(service),
            event_loop: false,
            pools,
            timer: &timer,
            make_waker: &make_waker,
        };
        let mut io = TcpIo(&mut stream);
        let mut ready = Readiness {
            closed: peer_closed,
            readable: std::mem::replace(&mut readable, true),
            ..Readiness::BLOCKING
        };
        let (write, read) = match connection.turn(&mut io, &mut env, &mut ready) {
            Turn::Closed => break,
            Turn::Requeue => continue,
            Turn::Wait { read, write } => (write, read),
        };
        let now = Instant::now();
        let (deadline, _) = connection.deadline(config);
        if now >= deadline {
            env.now = now;
            if connection.expire(&mut io, &mut env, &mut ready) == Turn::Closed {
                break;
            }
            continue;
        }
        let mut wait = (deadline - now).min(CHECK_INTERVAL);
        if let Some(t) = timers.next() {
            wait = wait.min(t.saturating_duration_since(now));
        }
        if write {
            // The client is not taking our output: wait for room (the write
            // deadline drops it if none comes).
            if osprey_rt::net::wait_ready(&stream, true, wait).is_err() {
                break;
            }
        } else if !read {
            // Waiting for a reply or a stream: sleep until its waker fires,
            // then see whether the client went away meanwhile.
            std::thread::park_timeout(wait);
            peer_closed = osprey_rt::net::peer_closed(&stream);
        } else if Arc::strong_count(&thread_waker) > 1
            && alarm_for(&thread_waker, &mut alarm).is_some()
        {
            // Wanting input while another thread may wake the connection:
            // wait for either, so a message queued elsewhere goes out now
            // rather than after the read's timeout.
            if thread_waker.woken.swap(false, Ordering::AcqRel) {
                readable = false;
                continue;
            }
            let rx = alarm.as_ref().expect("made above");
            match osprey_rt::net::wait_readable_or(&stream, rx, wait) {
                Ok((socket, _)) => readable = socket,
                Err(_) => break,
            }
            let mut sink = [0u8; 64];
            while matches!((&*rx).read(&mut sink), Ok(n) if n > 0) {}
            thread_waker.woken.store(false, Ordering::Release);
        }
        // Otherwise the next turn's read blocks (at most CHECK_INTERVAL).
    }
    connection.release(pools, config);
}

/// Waits until a listener is readable or shutdown is requested. Returns the
/// index of a readable listener, or `None` on shutdown.
struct Acceptor<'a> {
    listeners: &'a [Listener],
    poll: Poll,
    events: Events,
    shutdown: &'a Shutdown,
    _signal: osprey_rt::event::UnixStream,
    reloader: Option<Reloader>,
}

/// A connection just accepted, and the TLS configuration of its listener.
struct Accepted<'a> {
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<&'a TlsConfig>,
}

const SIGNAL: Token = Token(usize::MAX);

impl<'a> Acceptor<'a> {
    fn new(
        listeners: &'a [Listener],
        shutdown: &'a Shutdown,
        reloader: Option<Reloader>,
    ) -> io::Result<Acceptor<'a>> {
        let poll = Poll::new()?;
        for (i, l) in listeners.iter().enumerate() {
            l.socket.set_nonblocking(true)?;
            let fd = std::os::fd::AsRawFd::as_raw_fd(&l.socket);
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
            reloader,
        })
    }

    /// Accepts the next connection, waiting at most `timeout`; `Ok(None)` on
    /// timeout or shutdown. Also gives the reloader its turn.
    fn accept(&mut self, timeout: Duration) -> io::Result<Option<Accepted<'a>>> {
        if let Some(r) = &mut self.reloader {
            r.tick(Instant::now());
        }
        // Try every listener first: level-triggered readiness may be stale.
        for l in self.listeners {
            match l.socket.accept() {
                Ok((stream, peer)) => {
                    return Ok(Some(Accepted {
                        stream,
                        peer,
                        tls: l.tls.as_ref(),
                    }))
                }
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
    listeners: Vec<Listener>,
    service: Arc<Service>,
    shutdown: Shutdown,
    reloader: Option<Reloader>,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown, reloader)?;
    let mut pools = Pools::default();
    while !shutdown.requested() {
        if let Some(a) = acceptor.accept(CHECK_INTERVAL)? {
            serve_connection(a.stream, a.peer, a.tls, &service, &mut pools, &shutdown);
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
    listeners: Vec<Listener>,
    service: Arc<Service>,
    shutdown: Shutdown,
    reloader: Option<Reloader>,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown, reloader)?;
    let slots = Arc::new(Slots::default());
    let max = service.config.max_threads.max(1);
    // Each connection thread allocates in a glibc arena of its own, which
    // keeps free memory inside it when the thread ends; the accept loop, awake
    // at least every CHECK_INTERVAL, gives it back once the threads are few
    // again (the arenas' tops shrink by themselves: MALLOC_TRIM_THRESHOLD).
    let mut reclaim = Reclaim::new(Instant::now());
    while !shutdown.requested() {
        let live = *slots.lock();
        if reclaim.due(live, Instant::now(), &service.config) {
            osprey_rt::mem::release_free_memory();
        }
        slots.wait_while(|n| n >= max, || shutdown.requested());
        let Some(Accepted { stream, peer, tls }) = acceptor.accept(CHECK_INTERVAL)? else {
            continue;
        };
        reclaim.note(slots.take());
        let (service, shutdown, slot) = (service.clone(), shutdown.clone(), slots.clone());
        let tls = tls.cloned();
        let spawned = std::thread::Builder::new()
            .name("osprey-conn".into())
            .spawn(move || {
                let tls = tls.as_ref();
                serve_connection(
                    stream,
                    peer,
                    tls,
                    &service,
                    &mut Pools::default(),
                    &shutdown,
                );
                slot.give_back();
            });
        if spawned.is_err() {
            slots.give_back();
        }
    }
    // Graceful: in-flight connections finish (they saw the flag) within the grace.
    let until = Instant::now() + service.config.shutdown_grace;
    slots.wait_while(|n| n > 0, || Instant::now() >= until);
    Ok(())
}

/// `fork`: a process per connection. The parent stays single-threaded (fork
/// copies only the calling thread), closes its copy of each connection and reaps
/// exited children; a child that crashes loses only its own connection.
pub(crate) fn run_fork(
    listeners: Vec<Listener>,
    service: Arc<Service>,
    shutdown: Shutdown,
    reloader: Option<Reloader>,
) -> io::Result<()> {
    let mut acceptor = Acceptor::new(&listeners, &shutdown, reloader)?;
    let mut children: HashSet<i32> = HashSet::new();
    let max = service.config.max_children.max(1);
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
        let Some(Accepted { stream, peer, tls }) = acceptor.accept(CHECK_INTERVAL)? else {
            continue;
        };
        let tls = tls.cloned();
        match process::fork() {
            Ok(Forked::Child) => {
                process::die_with_parent();
                drop(acceptor);
                drop(listeners);
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let tls = tls.as_ref();
                    serve_connection(
                        stream,
                        peer,
                        tls,
                        &service,
                        &mut Pools::default(),
                        &shutdown,
                    );
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
    let until = Instant::now() + service.config.shutdown_grace;
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
