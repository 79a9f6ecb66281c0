//! The HTTP/1.1 machine: `osprey_h1::ServerConn` (the sans-IO protocol)
//! joined to the handler.
//!
//! For each request it parses the head, fills the [`Request`], asks the
//! handler's [`Plan`] (a body limit, whether it blocks, whether it streams the
//! body), then either gathers the body and calls the handler, or calls the
//! handler at once and feeds it the body as it arrives ([`BodyFeeder`], with
//! backpressure: input is consumed only while the body buffer has room). The
//! handler runs in place, or on a worker pool when its plan says it blocks
//! (always so when it also streams its body: this connection's thread must
//! stay free to feed it). Its [`Reply`] is ready, or pending and polled again
//! whenever the connection's waker fires. The response is encoded, and a
//! streamed body is pulled while the output is below its high-water mark.
//! Responses go out in request order (RFC 9112 §9.3.2); the next request is
//! read only once the previous exchange is over.
//!
//! Its exchange state ([`State`]: the parser, the request, the phase) is lent
//! from the thread's pool while a request is under way and given back when
//! the connection is idle, so an idle keep-alive connection holds none.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use osprey_h1::{BodyFraming, BodyLength, EncodeConfig, Event, ProtoError, ServerConn, CONTINUE};
use osprey_proto::{HeaderMap, Status};
use osprey_web::{
    Body, BodyFeeder, BodyMode, BodySource, HeadSpans, Part, Plan, Reply, Request, Response, Timer,
};

use super::raw::Raw;
use super::ws::Ws;
use super::{AnyMachine, Cx, Expiry, Machine, Next, Pools};
use crate::buffers::Buffers;
use crate::config::Config;
use crate::service::call_handler;
use crate::transport::Out;

/// Where a handler running on the worker pool leaves its answer: `None`
/// until it is done, then `Some(None)` if it panicked.
type ReplySlot = Arc<Mutex<Option<Option<Response>>>>;

/// What the exchange under way is doing with its reply.
enum Phase {
    /// No exchange, or its response is complete: read the next request.
    Requests,
    /// A blocking handler has the request on the worker pool.
    Handler(ReplySlot),
    /// The handler's reply is pending: poll it when woken.
    Pending(Reply),
    /// Pulling a response stream.
    Streaming(Box<dyn BodySource>),
    /// A `101` went out: this machine hands the connection to the next one.
    Switched(Option<AnyMachine>),
    /// Flush what is queued, then close.
    Closing,
}

/// Where the body of the request being read goes.
enum BodySink {
    /// No body, or it is complete.
    None,
    /// Into the request, whole, before the handler runs.
    Whole,
    /// To the handler as it arrives.
    Stream(BodyFeeder),
    /// Read and thrown away: the handler answered without it and the rest is
    /// short enough to keep the connection (see `DRAIN_LIMIT`).
    Discard,
}

/// What feeding a streamed body stopped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    /// Needs more input.
    Input,
    /// The consumer's buffer is full: wait for it.
    Full,
    /// Nothing (more) to feed.
    Done,
}

/// The state of one connection's exchanges, lent while a request is under way.
pub(crate) struct State {
    conn: ServerConn,
    request: Request,
    phase: Phase,
    sink: BodySink,
    /// `100 Continue` is owed once the handler starts reading the body.
    continue_due: bool,
    /// When the current request's head began arriving (header timeout).
    request_started: Option<Instant>,
    /// The minimum-rate window of the current body: since when, and the body
    /// bytes received before it. A window restarts when feeding resumes after
    /// the consumer held it up, so a slow consumer is never blamed on the
    /// client.
    body_window: Option<(Instant, u64)>,
    /// Feeding stopped because the consumer's buffer is full.
    body_paused: bool,
    /// What the handler declared about the current request at its head.
    plan: Plan,
    /// The current request asked to switch protocols (RFC 9110 §7.8).
    upgrade_requested: bool,
}

impl State {
    fn new(config: &Config, timer: &Timer) -> State {
        let mut request = Request::default();
        request.set_timer(timer.clone());
        State {
            conn: ServerConn::new(config.limits),
            request,
            phase: Phase::Requests,
            sink: BodySink::None,
            continue_due: false,
            request_started: None,
            body_window: None,
            body_paused: false,
            plan: Plan::default(),
            upgrade_requested: false,
        }
    }

    /// Fresh for a new exchange sequence, keeping allocations; a body buffer
    /// that grew for a large upload is freed.
    fn reset(&mut self) {
        self.conn.reset();
        if self.request.body_mut().capacity() > 64 * 1024 {
            *self.request.body_mut() = Vec::new();
        }
        self.phase = Phase::Requests;
        self.sink = BodySink::None;
        self.continue_due = false;
        self.request_started = None;
        self.body_window = None;
        self.body_paused = false;
        self.plan = Plan::default();
        self.upgrade_requested = false;
    }

    /// Whether an exchange's reply is still to come or still going out.
    fn replying(&self) -> bool {
        matches!(
            self.phase,
            Phase::Handler(_) | Phase::Pending(_) | Phase::Streaming(_)
        )
    }
}

/// The HTTP/1.1 machine of one connection.
#[derive(Default)]
pub(crate) struct H1 {
    state: Option<Box<State>>,
}

fn encode_config<'a>(cx: &Cx<'a>) -> EncodeConfig<'a> {
    EncodeConfig {
        date: Some(cx.date),
        server: cx.config().server_name.as_deref().map(str::as_bytes),
    }
}

impl H1 {
    fn state(&mut self, cx: &mut Cx<'_>) -> &mut State {
        let config = cx.config();
        let timer = cx.timer;
        self.state.get_or_insert_with(|| {
            let mut state = cx.pools.h1.take(|| State::new(config, timer));
            state.reset();
            state
        })
    }
}

impl Machine for H1 {
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next {
        let config = cx.config();
        let st = self.state(cx);
        loop {
            // The body of the current request, to the handler that streams it.
            let feed = match st.sink {
                BodySink::None => Feed::Done,
                BodySink::Whole | BodySink::Stream(_) | BodySink::Discard => {
                    let feed = feed_body(st, cx, bufs);
                    if matches!(st.phase, Phase::Closing) {
                        return Next::Close;
                    }
                    feed
                }
            };
            // Waiting for something other than the socket, unless the body
            // still wants input.
            let wait = if feed == Feed::Input {
                Next::Read
            } else {
                Next::Wait
            };
            match &mut st.phase {
                Phase::Requests => {}
                Phase::Handler(slot) => {
                    let done = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    match done {
                        Some(response) => {
                            st.phase = Phase::Requests;
                            respond(st, response, cx, &mut bufs.out);
                            continue;
                        }
                        None => return wait,
                    }
                }
                Phase::Pending(reply) => {
                    let mut context = Context::from_waker(cx.waker());
                    match catch_unwind(AssertUnwindSafe(|| reply.poll(&mut context))) {
                        // A consumer on this thread may just have pulled:
                        // feed it (or invite the body) now rather than on
                        // the wake-up it sent.
                        Ok(Poll::Pending) if consumer_moved(st, feed) => continue,
                        Ok(Poll::Pending) => return wait,
                        Ok(Poll::Ready(response)) => {
                            st.phase = Phase::Requests;
                            respond(st, Some(response), cx, &mut bufs.out);
                        }
                        Err(_) => {
                            st.phase = Phase::Requests;
                            respond(st, None, cx, &mut bufs.out);
                        }
                    }
                    continue;
                }
                Phase::Streaming(_) => match pull_stream(st, cx, &mut bufs.out) {
                    Pull::Ended => continue,
                    Pull::Pending => return wait,
                    Pull::Full => return Next::Write,
                },
                Phase::Switched(_) => return Next::Read,
                Phase::Closing => return Next::Close,
            }
            // The response is complete. A body its handler streams may still
            // be arriving: finish it before the next request.
            match feed {
                Feed::Input => return Next::Read,
                Feed::Full => return Next::Wait,
                Feed::Done => {}
            }
            if bufs.out.len() as usize >= config.output_high_water
                || st.conn.in_flight() >= config.max_pipeline
            {
                return Next::Write;
            }
            let input = bufs.input.data();
            let (n, event) = match st.conn.read(input) {
                Ok(r) => r,
                Err(e) => {
                    fail(st, e, cx, &mut bufs.out);
                    return Next::Close;
                }
            };
            match event {
                Event::Partial => {
                    if !input.is_empty()
                        && st.request_started.is_none()
                        && !st.conn.is_reading_body()
                    {
                        st.request_started = Some(cx.now);
                    }
                    bufs.input.consume(n);
                    return Next::Read;
                }
                Event::Head => {
                    let head = st.conn.head();
                    let span = |s: osprey_h1::Span| (s.start, s.end);
                    let path_ok = st.request.fill(
                        head.method.clone(),
                        head.version,
                        &input[..n],
                        HeadSpans {
                            target: span(head.target),
                            authority: head.authority.map(span),
                            upgrade: head.upgrade.map(span),
                        },
                        head.fields
                            .iter()
                            .map(|f| [f.name.start, f.name.end, f.value.start, f.value.end]),
                        Some(cx.connection),
                    );
                    st.request_started = None;
                    let body = head.body;
                    let expect_continue = head.expect_continue;
                    st.upgrade_requested = head.upgrade.is_some();
                    bufs.input.consume(n);
                    // A path whose percent-encoding is invalid (bad escape, not
                    // UTF-8, NUL) reaches no handler.
                    if !path_ok {
                        return refuse(st, Status::BAD_REQUEST, cx, &mut bufs.out);
                    }
                    // The plan matters for a body (its limit, how it is read)
                    // or for a handler that may have to leave the event loop;
                    // a bodiless GET to a router that never blocks skips it.
                    st.plan = if body != BodyFraming::Empty
                        || (!cx.blocking_in_place && cx.service.may_block)
                    {
                        cx.service.handler.plan(&mut st.request)
                    } else {
                        Plan::default()
                    };
                    if let (BodyFraming::Length(len), Some(limit)) = (body, st.plan.body_limit) {
                        if len > limit {
                            return refuse(st, Status::CONTENT_TOO_LARGE, cx, &mut bufs.out);
                        }
                    }
                    if body == BodyFraming::Empty {
                        // The handler runs at the End that follows at once.
                        continue;
                    }
                    st.body_window = Some((cx.now, 0));
                    st.body_paused = false;
                    if st.plan.body == BodyMode::Stream {
                        let (feeder, stream) =
                            BodyFeeder::new(config.body_buffer, cx.waker().clone());
                        st.request.set_body_stream(stream);
                        st.sink = BodySink::Stream(feeder);
                        st.conn.stream_body();
                        // RFC 9110 §10.1.1: invited only once the handler reads.
                        st.continue_due = expect_continue;
                        dispatch(st, cx, &mut bufs.out);
                    } else {
                        st.sink = BodySink::Whole;
                        // RFC 9110 §10.1.1: the client waits for this before sending.
                        if expect_continue {
                            bufs.out.write(CONTINUE);
                        }
                    }
                    continue;
                }
                Event::End => {
                    // A request without a body: the handler runs now.
                    bufs.input.consume(n);
                    dispatch(st, cx, &mut bufs.out);
                    continue;
                }
                // A body is read by `feed_body`, into the sink its head chose.
                Event::Data(_) | Event::Upgraded | Event::Closed => {
                    bufs.input.consume(n);
                    st.phase = Phase::Closing;
                    return Next::Close;
                }
            }
        }
    }

    fn input_ended(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) {
        let partial = !bufs.input.is_empty();
        let st = self.state(cx);
        let result = st.conn.read_eof();
        if let BodySink::Stream(feeder) = std::mem::replace(&mut st.sink, BodySink::None) {
            if result.is_err() {
                feeder.fail(std::io::ErrorKind::UnexpectedEof);
            } else {
                feeder.end(HeaderMap::new());
            }
        }
        match result {
            // A request cut short: answer it only if its head was complete
            // (there is a request to answer); otherwise just close.
            Err(e) if (!st.conn.is_idle() || partial) && st.conn.in_flight() > 0 => {
                st.conn.write_error(&mut bufs.out, e, &encode_config(cx));
                st.phase = Phase::Closing;
            }
            // A reply still being computed is for a client that went away
            // (as nginx and Go read a FIN here): cancel it by dropping it.
            _ if matches!(st.phase, Phase::Pending(_)) => st.phase = Phase::Closing,
            // Nothing more will be read; what was asked is still answered
            // (a half-closed peer still reads), then the connection closes.
            _ if matches!(st.phase, Phase::Requests) && st.conn.should_close() => {
                st.phase = Phase::Closing;
            }
            _ => {}
        }
    }

    fn watches_eof(&self) -> bool {
        self.state.as_deref().is_some_and(|st| {
            matches!(st.phase, Phase::Pending(_)) && matches!(st.sink, BodySink::None)
        })
    }

    fn deadline(&self, config: &Config) -> Option<(Instant, Expiry)> {
        let st = self.state.as_deref()?;
        if st.conn.is_reading_body() {
            if st.body_paused {
                // Held up by the consumer, not the client.
                return None;
            }
            let (since, before) = st.body_window?;
            let received = st.conn.body_received().saturating_sub(before);
            let allowance = received / config.min_body_rate.max(1);
            return Some((
                since + config.body_timeout + Duration::from_secs(allowance),
                Expiry::Body,
            ));
        }
        if st.replying() {
            return None;
        }
        st.request_started
            .map(|t| (t + config.header_timeout, Expiry::Header))
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers, _expiry: Expiry) {
        let st = self.state(cx);
        if let BodySink::Stream(feeder) = std::mem::replace(&mut st.sink, BodySink::None) {
            feeder.fail(std::io::ErrorKind::TimedOut);
        }
        // 408 when a request is partly received and no response to it has
        // begun: a body still arriving for an unanswered request, or part
        // of a head.
        let owed = if st.conn.is_reading_body() {
            st.conn.in_flight() > 0
        } else {
            !bufs.input.is_empty()
        };
        if owed {
            st.conn
                .write_canned(&mut bufs.out, Status::REQUEST_TIMEOUT, &encode_config(cx));
        }
        st.phase = Phase::Closing;
    }

    fn drain(&mut self) {
        if let Some(st) = self.state.as_deref_mut() {
            st.conn.stop_reading();
            if st.conn.should_close() && matches!(st.phase, Phase::Requests) {
                st.phase = Phase::Closing;
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.state.as_deref().is_none_or(|st| {
            st.conn.is_idle()
                && matches!(st.phase, Phase::Requests)
                && matches!(st.sink, BodySink::None)
        })
    }

    fn finished(&self) -> bool {
        self.state.as_deref().is_some_and(|st| {
            matches!(st.phase, Phase::Closing)
                || (st.conn.should_close()
                    && matches!(st.phase, Phase::Requests)
                    && !matches!(st.sink, BodySink::Stream(_)))
        })
    }

    fn handoff(&mut self) -> Option<AnyMachine> {
        match &mut self.state.as_deref_mut()?.phase {
            Phase::Switched(next) => next.take(),
            _ => None,
        }
    }

    fn release(&mut self, pools: &mut Pools, config: &Config) {
        if let Some(mut st) = self.state.take() {
            // Dropping a pending reply, a response stream or a body feeder
            // tells whoever produces or consumes it that the client is gone.
            // A handler still running on the worker pool keeps only its slot.
            st.phase = Phase::Requests;
            st.sink = BodySink::None;
            drop(st.request.body_stream());
            // A request that grew for a large head or body is not kept: the
            // pool holds exchanges of the common size.
            if st.request.reusable_capacity() <= config.read_buffer + 64 * 1024 {
                pools.h1.give(st, config.session_pool);
            }
        }
    }
}

/// Reads the body of the current request into its sink — the request itself
/// (a whole body, then the handler is called), a streaming handler's buffer
/// while it has room (sending an owed `100 Continue` once the handler pulls,
/// and handling a handler that let go of it), or nowhere (draining).
fn feed_body(st: &mut State, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Feed {
    loop {
        match &st.sink {
            BodySink::None => return Feed::Done,
            BodySink::Whole | BodySink::Discard => {}
            BodySink::Stream(feeder) => {
                if feeder.dropped() {
                    // The handler will not read the rest: drain a short
                    // remainder to keep the connection, else close after the
                    // answer.
                    let remaining = st.conn.body_remaining();
                    if remaining.is_some_and(|r| r <= cx.config().drain_limit) && !st.continue_due {
                        st.sink = BodySink::Discard;
                    } else {
                        st.conn.abandon_body();
                        st.sink = BodySink::None;
                        return Feed::Done;
                    }
                    continue;
                }
                if st.continue_due && feeder.wanted() {
                    st.continue_due = false;
                    bufs.out.write(CONTINUE);
                }
                if !feeder.has_room() {
                    st.body_paused = true;
                    return Feed::Full;
                }
                if st.body_paused {
                    // The consumer made room: a new rate window starts now.
                    st.body_paused = false;
                    st.body_window = Some((cx.now, st.conn.body_received()));
                }
            }
        }
        let input = bufs.input.data();
        let (n, event) = match st.conn.read(input) {
            Ok(r) => r,
            Err(e) => {
                if let BodySink::Stream(feeder) = &st.sink {
                    feeder.fail(std::io::ErrorKind::InvalidData);
                }
                st.sink = BodySink::None;
                // A response not yet begun can still say why; otherwise the
                // connection just ends.
                if st.conn.in_flight() > 0 {
                    fail(st, e, cx, &mut bufs.out);
                } else {
                    st.phase = Phase::Closing;
                }
                return Feed::Done;
            }
        };
        match event {
            Event::Data(range) => {
                let discarding = matches!(st.sink, BodySink::Discard);
                if !discarding
                    && st
                        .plan
                        .body_limit
                        .is_some_and(|limit| st.conn.body_received() > limit)
                {
                    // A chunked body over the route's limit.
                    if let BodySink::Stream(feeder) = &st.sink {
                        feeder.fail(std::io::ErrorKind::InvalidData);
                    }
                    st.sink = BodySink::None;
                    st.conn.abandon_body();
                    if st.conn.in_flight() > 0 {
                        refuse(st, Status::CONTENT_TOO_LARGE, cx, &mut bufs.out);
                    } else {
                        st.phase = Phase::Closing;
                    }
                    return Feed::Done;
                }
                match &st.sink {
                    BodySink::Stream(feeder) => feeder.push(&input[range]),
                    BodySink::Whole => st.request.body_mut().extend_from_slice(&input[range]),
                    _ => {}
                }
                bufs.input.consume(n);
            }
            Event::End => {
                bufs.input.consume(n);
                let trailers = st.conn.trailers();
                match std::mem::replace(&mut st.sink, BodySink::None) {
                    BodySink::Stream(feeder) => feeder.end(trailers.clone()),
                    BodySink::Whole => {
                        if !trailers.is_empty() {
                            let trailers = trailers.clone();
                            st.request.set_trailers(trailers);
                        }
                        // The whole body is in: the handler runs now.
                        st.body_window = None;
                        dispatch(st, cx, &mut bufs.out);
                        return Feed::Done;
                    }
                    _ => {}
                }
                st.body_window = None;
                return Feed::Done;
            }
            Event::Partial => {
                bufs.input.consume(n);
                return Feed::Input;
            }
            // Not while a body is being read.
            Event::Head | Event::Upgraded | Event::Closed => {
                st.sink = BodySink::None;
                return Feed::Done;
            }
        }
    }
}

/// Whether the body's consumer made progress since `feed` stopped: it first
/// pulled (a `100 Continue` is owed now) or made room in a full buffer.
fn consumer_moved(st: &State, feed: Feed) -> bool {
    match &st.sink {
        BodySink::Stream(feeder) => {
            (st.continue_due && feeder.wanted()) || (feed == Feed::Full && feeder.has_room())
        }
        _ => false,
    }
}

/// Calls the handler for the request just read: in place, or on the worker
/// pool when its plan says it blocks and this model has loops to protect (or
/// it streams its body, which this thread must keep feeding).
#[inline(always)]
fn dispatch(st: &mut State, cx: &mut Cx<'_>, out: &mut Out) {
    let streamed = matches!(st.sink, BodySink::Stream(_));
    if st.plan.blocking && (!cx.blocking_in_place || streamed) {
        return offload_handler(st, cx, out);
    }
    match call_handler(&*cx.service.handler, &mut st.request) {
        None => respond(st, None, cx, out),
        Some(reply) => match reply.into_ready() {
            Ok(mut response) => respond_with(st, &mut response, cx, out),
            Err(pending) => st.phase = Phase::Pending(pending),
        },
    }
}

/// Hands the request to the worker pool; its answer comes back through the
/// reply slot and the connection's waker. A saturated pool sheds the request
/// with 503 rather than queueing without bound.
fn offload_handler(st: &mut State, cx: &mut Cx<'_>, out: &mut Out) {
    let waker = cx.waker().clone();
    let slot: ReplySlot = Arc::default();
    let mut request = std::mem::take(&mut st.request);
    st.request.set_timer(cx.timer.clone());
    let handler = cx.service.handler.clone();
    let done = slot.clone();
    let job = Box::new(move || {
        // A worker may wait for a pending reply: it has nothing else to do.
        let response = call_handler(&*handler, &mut request)
            .and_then(|reply| catch_unwind(AssertUnwindSafe(|| reply.wait())).ok());
        *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(response);
        waker.wake();
    });
    match cx.workers.spawn(job) {
        Ok(()) => st.phase = Phase::Handler(slot),
        Err(()) => respond(
            st,
            Some(Response::status_text(Status::SERVICE_UNAVAILABLE)),
            cx,
            out,
        ),
    }
}

/// What a `pull_stream` call stopped on.
enum Pull {
    /// The stream ended (or failed); the exchange has moved on.
    Ended,
    /// The source has nothing ready; it will wake the waker.
    Pending,
    /// The output reached the high-water mark: write before pulling more.
    Full,
}

/// Pulls the response stream while the output is below the high-water mark.
fn pull_stream(st: &mut State, cx: &mut Cx<'_>, out: &mut Out) -> Pull {
    let high_water = cx.config().output_high_water;
    let Phase::Streaming(source) = &mut st.phase else {
        return Pull::Ended;
    };
    let mut context = Context::from_waker(cx.waker());
    while (out.len() as usize) < high_water {
        match source.poll_next(&mut context) {
            Poll::Pending => return Pull::Pending,
            Poll::Ready(Some(Ok(piece))) => {
                if st.conn.write_body_shared(out, piece).is_err() {
                    // More bytes than the announced length: cut it off.
                    st.phase = Phase::Closing;
                    return Pull::Ended;
                }
            }
            Poll::Ready(Some(Err(_))) => {
                // The producer failed: close without the final chunk so the
                // client sees a truncated body, never a wrong complete one.
                st.phase = Phase::Closing;
                return Pull::Ended;
            }
            Poll::Ready(None) => {
                let done = st.conn.finish_body(out, &HeaderMap::new());
                finished(st, done.is_err());
                return Pull::Ended;
            }
        }
    }
    Pull::Full
}

/// A response went out completely: on to the next request, or closing.
#[inline]
fn finished(st: &mut State, failed: bool) {
    if st.plan.body == BodyMode::Stream {
        // A streamed body the handler never took is not wanted.
        drop(st.request.body_stream());
    }
    if failed || st.conn.should_close() {
        st.phase = Phase::Closing;
    } else if !matches!(st.phase, Phase::Requests) {
        st.phase = Phase::Requests;
    }
}

/// Writes a response (from a handler, possibly offloaded): head, then body or
/// the start of a stream; `None` (the handler panicked) is a 500.
fn respond(st: &mut State, response: Option<Response>, cx: &Cx<'_>, out: &mut Out) {
    match response {
        Some(mut response) => respond_with(st, &mut response, cx, out),
        None => {
            // The handler panicked: 500, and this connection closes.
            st.conn
                .write_canned(out, Status::INTERNAL_SERVER_ERROR, &encode_config(cx));
            st.phase = Phase::Closing;
        }
    }
}

/// [`respond`] for a response the handler gave; it is borrowed, not moved
/// (its body is taken), which spares a copy of the response per request.
#[inline(always)]
fn respond_with(st: &mut State, response: &mut Response, cx: &Cx<'_>, out: &mut Out) {
    if response.status == Status::SWITCHING_PROTOCOLS {
        return switch(st, std::mem::take(&mut response.body), cx, out, response);
    }
    let length = match response.body.len_hint() {
        Some(0) => BodyLength::Empty,
        Some(n) => BodyLength::Known(n),
        None => BodyLength::Unknown,
    };
    let framing = match st.conn.write_head(
        out,
        response.status,
        &response.headers,
        length,
        &encode_config(cx),
    ) {
        Ok(f) => f,
        Err(e) => {
            fail(st, e, cx, out);
            return;
        }
    };
    // (The phase is `Requests` here: every caller has set it.)
    // HEAD, 204 and 304 carry no body (RFC 9110 §6.4.1): drop it unread
    // rather than pulling a stream only to discard it.
    let body = std::mem::take(&mut response.body);
    let body = if framing.body == BodyFraming::Empty {
        Body::Empty
    } else {
        body
    };
    let written = match body {
        Body::Empty => Ok(()),
        Body::Bytes(b) => st.conn.write_body_shared(out, b),
        Body::File(f) => st.conn.write_body_file(out, f.file, f.offset, f.len),
        Body::Parts(parts) => parts.into_iter().try_for_each(|part| match part {
            Part::Bytes(b) => st.conn.write_body_shared(out, b),
            Part::File(f) => st.conn.write_body_file(out, f.file, f.offset, f.len),
        }),
        Body::Stream(s) => {
            st.phase = Phase::Streaming(s);
            return;
        }
        // A protocol without its 101: nothing to switch to.
        Body::Upgrade(_) => Ok(()),
    };
    let done = written.and_then(|()| st.conn.finish_body(out, &HeaderMap::new()));
    finished(st, done.is_err());
}

/// Writes a `101` and hands the connection to the protocol in its body —
/// only when the request asked to upgrade (RFC 9110 §15.2.2: a server never
/// switches to a protocol the client did not offer). Anything else is the
/// handler's mistake: 500.
fn switch(st: &mut State, body: Body, cx: &Cx<'_>, out: &mut Out, response: &Response) {
    let Body::Upgrade(protocol) = body else {
        return respond(st, None, cx, out);
    };
    if !st.upgrade_requested {
        return respond(st, None, cx, out);
    }
    match st.conn.write_head(
        out,
        response.status,
        &response.headers,
        BodyLength::Empty,
        &encode_config(cx),
    ) {
        Ok(_) => {
            let mut protocol = protocol;
            // A WebSocket runs as a machine of its own; any other protocol
            // as bytes.
            let next = match protocol.take_websocket() {
                Some(session) => AnyMachine::Ws(Box::new(Ws::new(session, cx.now))),
                None => AnyMachine::Raw(Box::new(Raw::new(protocol))),
            };
            st.phase = Phase::Switched(Some(next));
        }
        Err(e) => fail(st, e, cx, out),
    }
}

/// Answers the request being read with `status` and closes: its body (if
/// any) is not read, so nothing after it can be trusted as a next request.
fn refuse(st: &mut State, status: Status, cx: &Cx<'_>, out: &mut Out) -> Next {
    st.conn.write_canned(out, status, &encode_config(cx));
    st.phase = Phase::Closing;
    Next::Close
}

fn fail(st: &mut State, e: ProtoError, cx: &Cx<'_>, out: &mut Out) {
    if e.fault() == osprey_h1::Fault::Remote {
        st.conn.write_error(out, e, &encode_config(cx));
    }
    st.phase = Phase::Closing;
}
