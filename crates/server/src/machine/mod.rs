//! Protocol machines: what a connection speaks.
//!
//! A connection holds exactly one machine. The driver gives it the received
//! bytes and an output queue ([`Buffers`]) and asks it to make progress
//! ([`Machine::process`]); the machine parses, dispatches requests to the
//! handler, pulls response bodies, and says what it needs next ([`Next`]). It
//! never sees a socket, a transport or a clock other than the `now` of its
//! [`Cx`], so it is tested with bytes alone.
//!
//! A machine may hand the connection to another one ([`Machine::handoff`]):
//! HTTP/1.1 does after a `101 Switching Protocols`, leaving the bytes it has
//! not consumed in the input buffer for the new machine.
//!
//! Plugging in a protocol: implement [`Machine`] and add a variant to
//! [`AnyMachine`].

pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod raw;
pub(crate) mod ws;

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use osprey_web::{ConnectionInfo, Timer};

use crate::buffers::{Buffers, Pool};
use crate::config::Config;
use crate::service::Service;

/// What a `process` call stopped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Needs more input.
    Read,
    /// Output is above the high-water mark (or the pipeline is full): write
    /// before anything else.
    Write,
    /// Waiting for something other than the socket: a handler's reply, a
    /// response stream, a request-body consumer. Its waker will fire.
    Wait,
    /// Flush the output, then close.
    Close,
}

/// Which timeout a deadline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A message head is not complete in time: 408.
    Header,
    /// A body arrives slower than the minimum rate: 408.
    Body,
    /// A clock of the machine's own (a WebSocket's ping): the connection
    /// goes on unless the machine finishes.
    Timer,
}

impl Expiry {
    /// Whether the connection ends once the machine has answered the expiry.
    pub(crate) fn ends_connection(self) -> bool {
        !matches!(self, Expiry::Timer)
    }
}

/// Runs a blocking job off the current thread.
pub(crate) trait Offload {
    /// Queues `job`; an error means the pool is saturated (answer 503).
    fn spawn(&mut self, job: Box<dyn FnOnce() + Send>) -> Result<(), ()>;
}

/// Per-thread stocks of what machines lend to active connections.
#[derive(Default)]
pub(crate) struct Pools {
    /// Read buffers and output queues.
    pub buffers: Pool<Buffers>,
    /// HTTP/1.1 exchange state.
    pub h1: Pool<h1::State>,
}

impl Pools {
    /// Keeps at most `keep` of each kind (a loop gone quiet after a burst).
    pub fn truncate(&mut self, keep: usize) {
        self.buffers.truncate(keep);
        self.h1.truncate(keep);
    }
}

/// What a machine may use during one call: the server's service, the time of
/// this turn, the connection's waker, and the thread's pools.
pub(crate) struct Cx<'a> {
    pub service: &'a Service,
    /// The `Date` header value for this second.
    pub date: &'a [u8],
    /// The time of this turn of the driver.
    pub now: Instant,
    /// The connection's addresses (and, over TLS, its handshake).
    pub connection: &'a Arc<ConnectionInfo>,
    /// Worker threads for blocking handlers.
    pub workers: &'a mut dyn Offload,
    /// Whether blocking handlers run in place (the blocking models, where a
    /// connection has its own thread or process) — except those that stream
    /// their request body, which this thread must keep feeding.
    pub blocking_in_place: bool,
    pub pools: &'a mut Pools,
    /// The timer queue of this thread (installed into requests).
    pub timer: &'a Timer,
    waker: &'a mut Option<Waker>,
    make_waker: &'a dyn Fn() -> Waker,
}

impl<'a> Cx<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        service: &'a Service,
        date: &'a [u8],
        now: Instant,
        connection: &'a Arc<ConnectionInfo>,
        workers: &'a mut dyn Offload,
        blocking_in_place: bool,
        pools: &'a mut Pools,
        timer: &'a Timer,
        waker: &'a mut Option<Waker>,
        make_waker: &'a dyn Fn() -> Waker,
    ) -> Cx<'a> {
        Cx {
            service,
            date,
            now,
            connection,
            workers,
            blocking_in_place,
            pools,
            timer,
            waker,
            make_waker,
        }
    }

    /// The settings.
    #[inline]
    pub fn config(&self) -> &'a Config {
        &self.service.config
    }

    /// The waker of this connection: whatever it is given to (a response
    /// stream, a pending reply, a worker) makes the driver call `process`
    /// again. Made on first use, then kept for the connection's life.
    pub fn waker(&mut self) -> &Waker {
        let make = self.make_waker;
        self.waker.get_or_insert_with(make)
    }
}

/// The interface between the driver and a protocol.
pub(crate) trait Machine {
    /// Consumes input, dispatches, and fills the output until it must wait.
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next;

    /// The peer ended its sending side; what was received is all there is.
    fn input_ended(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers);

    /// The deadline this machine sets for the peer, if it waits for input
    /// (a head or a body in progress). `None` when it waits for nothing from
    /// the peer, or only for the next message (the connection's idle rule).
    fn deadline(&self, config: &Config) -> Option<(Instant, Expiry)>;

    /// The deadline from [`Machine::deadline`] passed: answer if a message is
    /// partly received (408), then close.
    fn timed_out(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers, expiry: Expiry);

    /// Graceful shutdown: finish what is under way, start nothing new.
    fn drain(&mut self);

    /// Whether nothing is under way: the connection may give its buffers and
    /// state back and wait for the peer's next message.
    fn is_idle(&self) -> bool;

    /// Whether the connection is done once its output is flushed.
    fn finished(&self) -> bool;

    /// Whether the peer ending its side now means it went away, so the driver
    /// should look for that even though the machine wants no input (a reply
    /// computed for a client that closed is cancelled).
    fn watches_eof(&self) -> bool {
        false
    }

    /// The machine that takes the connection over, if this one has finished
    /// by handing it on (after a protocol switch).
    fn handoff(&mut self) -> Option<AnyMachine>;

    /// Gives lent state back to the pools (the connection is idle or closing).
    fn release(&mut self, pools: &mut Pools, config: &Config);
}

/// Every machine a connection can hold (WebSocket joins here).
pub(crate) enum AnyMachine {
    /// HTTP/1.1.
    H1(h1::H1),
    /// HTTP/2 (boxed: its protocol state is large).
    H2(Box<h2::H2>),
    /// A byte protocol a handler switched to with `101` (boxed: an idle
    /// connection's machine should cost a pointer).
    Raw(Box<raw::Raw>),
    /// A WebSocket session (after the `101` of an accepted handshake).
    Ws(Box<ws::Ws>),
}

macro_rules! each {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyMachine::H1($m) => $e,
            AnyMachine::H2($m) => $e,
            AnyMachine::Raw($m) => $e,
            AnyMachine::Ws($m) => $e,
        }
    };
}

impl Machine for AnyMachine {
    #[inline]
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next {
        each!(self, m => m.process(cx, bufs))
    }
    fn input_ended(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) {
        each!(self, m => m.input_ended(cx, bufs))
    }
    #[inline]
    fn deadline(&self, config: &Config) -> Option<(Instant, Expiry)> {
        each!(self, m => m.deadline(config))
    }
    fn timed_out(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers, expiry: Expiry) {
        each!(self, m => m.timed_out(cx, bufs, expiry))
    }
    fn drain(&mut self) {
        each!(self, m => m.drain())
    }
    #[inline]
    fn is_idle(&self) -> bool {
        each!(self, m => m.is_idle())
    }
    #[inline]
    fn finished(&self) -> bool {
        each!(self, m => m.finished())
    }
    #[inline]
    fn watches_eof(&self) -> bool {
        each!(self, m => m.watches_eof())
    }
    #[inline]
    fn handoff(&mut self) -> Option<AnyMachine> {
        each!(self, m => m.handoff())
    }
    #[inline]
    fn release(&mut self, pools: &mut Pools, config: &Config) {
        each!(self, m => m.release(pools, config))
    }
}
