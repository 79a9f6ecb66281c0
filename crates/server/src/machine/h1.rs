//! The HTTP/1.1 machine: `osprey_h1::ServerConn` (the sans-IO protocol)
//! joined to the handler.
//!
//! For each request it parses the head, fills the [`Request`], asks the
//! handler's [`Plan`] (a body limit, whether it blocks), gathers the body,
//! calls the handler (in place, or on the worker pool when the plan says it
//! blocks and the model has one), encodes the response and pulls a streamed
//! body while the output is below its high-water mark. Responses go out in
//! request order (RFC 9112 §9.3.2); a request is read only once the previous
//! response has started.
//!
//! Its exchange state ([`State`]: the parser, the request, the phase) is lent
//! from the thread's pool while a request is under way and given back when
//! the connection is idle, so an idle keep-alive connection holds none.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use osprey_h1::{BodyFraming, BodyLength, EncodeConfig, Event, ProtoError, ServerConn, CONTINUE};
use osprey_proto::{HeaderMap, Status};
use osprey_web::{Body, BodySource, Part, Plan, Request, Response};

use super::raw::Raw;
use super::{AnyMachine, Cx, Expiry, Machine, Next, Pools};
use crate::buffers::Buffers;
use crate::config::Config;
use crate::service::call_handler;
use crate::transport::Out;

/// Where a handler running on the worker pool leaves its answer: `None`
/// until it is done, then `Some(None)` if it panicked.
type ReplySlot = Arc<Mutex<Option<Option<Response>>>>;

/// What the exchange under way is doing.
enum Phase {
    /// Reading and answering requests.
    Requests,
    /// A blocking handler has the request on the worker pool.
    Handler(ReplySlot),
    /// Pulling a response stream.
    Streaming(Box<dyn BodySource>),
    /// A `101` went out: this machine hands the connection to the next one.
    Switched(Option<AnyMachine>),
    /// Flush what is queued, then close.
    Closing,
}

/// The state of one connection's exchanges, lent while a request is under way.
pub(crate) struct State {
    conn: ServerConn,
    request: Request,
    phase: Phase,
    /// When the current request's head began arriving (header timeout).
    request_started: Option<Instant>,
    /// When the current request's body began (minimum-rate timeout).
    body_started: Option<Instant>,
    /// What the handler declared about the current request at its head.
    plan: Plan,
    /// The current request asked to switch protocols (RFC 9110 §7.8).
    upgrade_requested: bool,
}

impl State {
    fn new(config: &Config) -> State {
        State {
            conn: ServerConn::new(config.limits),
            request: Request::default(),
            phase: Phase::Requests,
            request_started: None,
            body_started: None,
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
        self.request_started = None;
        self.body_started = None;
        self.plan = Plan::default();
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
            let mut state = cx.pools.h1.take(|| {
                let mut state = State::new(config);
                state.request.set_timer(timer.clone());
                state
            });
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
                        None => return Next::Wait,
                    }
                }
                Phase::Streaming(_) => match pull_stream(st, cx, &mut bufs.out) {
                    Pull::Ended => continue,
                    Pull::Pending => return Next::Wait,
                    Pull::Full => return Next::Write,
                },
                Phase::Switched(_) => return Next::Read,
                Phase::Closing => return Next::Close,
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
                    let path_ok = st.request.fill(
                        head.method.clone(),
                        head.version,
                        &input[..n],
                        (head.target.start, head.target.end),
                        head.fields
                            .iter()
                            .map(|f| [f.name.start, f.name.end, f.value.start, f.value.end]),
                        Some(cx.peer),
                    );
                    st.request_started = None;
                    // A path whose percent-encoding is invalid (bad escape, not
                    // UTF-8, NUL) reaches no handler.
                    if !path_ok {
                        return refuse(st, Status::BAD_REQUEST, cx, &mut bufs.out);
                    }
                    let body = head.body;
                    let expect_continue = head.expect_continue;
                    st.upgrade_requested = head.upgrade.is_some();
                    // The plan matters for a body (its limit) or for a handler
                    // that may have to leave the event loop; a bodiless GET to
                    // a router that never blocks skips the second route walk.
                    st.plan = if body != BodyFraming::Empty
                        || (cx.offload.is_some() && cx.service.may_block)
                    {
                        cx.service.handler.plan(&st.request)
                    } else {
                        Plan::default()
                    };
                    if let (BodyFraming::Length(len), Some(limit)) = (body, st.plan.body_limit) {
                        if len > limit {
                            return refuse(st, Status::CONTENT_TOO_LARGE, cx, &mut bufs.out);
                        }
                    }
                    if body != BodyFraming::Empty {
                        st.body_started = Some(cx.now);
                        // RFC 9110 §10.1.1: the client waits for this before sending.
                        if expect_continue {
                            bufs.out.write(CONTINUE);
                        }
                    }
                }
                Event::Data(range) => {
                    let body = st.request.body_mut();
                    if st
                        .plan
                        .body_limit
                        .is_some_and(|limit| (body.len() + range.len()) as u64 > limit)
                    {
                        // A chunked body over the route's limit.
                        return refuse(st, Status::CONTENT_TOO_LARGE, cx, &mut bufs.out);
                    }
                    body.extend_from_slice(&input[range]);
                }
                Event::End => {
                    bufs.input.consume(n);
                    st.body_started = None;
                    if !st.conn.trailers().is_empty() {
                        let trailers = st.conn.trailers().clone();
                        st.request.set_trailers(trailers);
                    }
                    if st.plan.blocking && cx.offload.is_some() {
                        match offload_handler(st, cx, &mut bufs.out) {
                            Next::Wait => return Next::Wait,
                            _ => continue,
                        }
                    }
                    let response = call_handler(&*cx.service.handler, &mut st.request);
                    respond(st, response, cx, &mut bufs.out);
                    continue;
                }
                Event::Upgraded | Event::Closed => {
                    bufs.input.consume(n);
                    st.phase = Phase::Closing;
                    return Next::Close;
                }
            }
            bufs.input.consume(n);
        }
    }

    fn input_ended(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) {
        let partial = !bufs.input.is_empty();
        let st = self.state(cx);
        match st.conn.read_eof() {
            // A request cut short: answer it only if its head was complete
            // (there is a request to answer); otherwise just close.
            Err(e) if (!st.conn.is_idle() || partial) && st.conn.in_flight() > 0 => {
                st.conn.write_error(&mut bufs.out, e, &encode_config(cx));
                st.phase = Phase::Closing;
            }
            // Nothing more will be read; what was asked is still answered
            // (a half-closed peer still reads), then the connection closes.
            _ if matches!(st.phase, Phase::Requests) && st.conn.should_close() => {
                st.phase = Phase::Closing;
            }
            _ => {}
        }
    }

    fn deadline(&self, config: &Config, bufs: Option<&Buffers>) -> Option<(Instant, Expiry)> {
        let st = self.state.as_deref()?;
        if matches!(st.phase, Phase::Handler(_) | Phase::Streaming(_)) {
            return None;
        }
        if st.conn.is_reading_body() {
            let started = st.body_started?;
            let received = st.request.body().len() as u64;
            let allowance = received / config.min_body_rate.max(1);
            return Some((
                started + config.body_timeout + Duration::from_secs(allowance),
                Expiry::Body,
            ));
        }
        let _ = bufs;
        st.request_started
            .map(|t| (t + config.header_timeout, Expiry::Header))
    }

    fn timed_out(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers, _expiry: Expiry) {
        let st = self.state(cx);
        if !bufs.input.is_empty() || st.conn.is_reading_body() {
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
        self.state
            .as_deref()
            .is_none_or(|st| st.conn.is_idle() && matches!(st.phase, Phase::Requests))
    }

    fn finished(&self) -> bool {
        self.state.as_deref().is_some_and(|st| {
            matches!(st.phase, Phase::Closing)
                || (st.conn.should_close() && matches!(st.phase, Phase::Requests))
        })
    }

    fn is_waiting(&self) -> bool {
        self.state
            .as_deref()
            .is_some_and(|st| matches!(st.phase, Phase::Handler(_) | Phase::Streaming(_)))
    }

    fn handoff(&mut self) -> Option<AnyMachine> {
        match &mut self.state.as_deref_mut()?.phase {
            Phase::Switched(next) => next.take(),
            _ => None,
        }
    }

    fn release(&mut self, pools: &mut Pools) {
        if let Some(mut st) = self.state.take() {
            // A handler still running on the worker pool keeps the slot; the
            // state itself can be reused. Dropping a response stream tells its
            // producer the client is gone.
            st.phase = Phase::Requests;
            pools.h1.give(st);
        }
    }
}

/// Hands the request to the worker pool; its answer comes back through the
/// reply slot and the connection's waker. A saturated pool sheds the request
/// with 503 rather than queueing without bound.
fn offload_handler(st: &mut State, cx: &mut Cx<'_>, out: &mut Out) -> Next {
    let waker = cx.waker().clone();
    let slot: ReplySlot = Arc::default();
    let mut request = std::mem::take(&mut st.request);
    let handler = cx.service.handler.clone();
    let done = slot.clone();
    let job = Box::new(move || {
        let response = call_handler(&*handler, &mut request);
        *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(response);
        waker.wake();
    });
    let spawned = match cx.offload.as_deref_mut() {
        Some(offload) => offload.spawn(job),
        None => Err(()),
    };
    match spawned {
        Ok(()) => {
            st.phase = Phase::Handler(slot);
            Next::Wait
        }
        Err(()) => {
            respond(
                st,
                Some(Response::status_text(Status::SERVICE_UNAVAILABLE)),
                cx,
                out,
            );
            Next::Write
        }
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
                st.phase = if done.is_err() || st.conn.should_close() {
                    Phase::Closing
                } else {
                    Phase::Requests
                };
                return Pull::Ended;
            }
        }
    }
    Pull::Full
}

/// Writes a response (from a handler, possibly offloaded): head, then body or
/// the start of a stream.
fn respond(st: &mut State, response: Option<Response>, cx: &Cx<'_>, out: &mut Out) {
    let Some(response) = response else {
        // The handler panicked: 500, and this connection closes.
        st.conn
            .write_canned(out, Status::INTERNAL_SERVER_ERROR, &encode_config(cx));
        st.phase = Phase::Closing;
        return;
    };
    if response.status == Status::SWITCHING_PROTOCOLS {
        return switch(st, response, cx, out);
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
    st.phase = Phase::Requests;
    // HEAD, 204 and 304 carry no body (RFC 9110 §6.4.1): drop it unread
    // rather than pulling a stream only to discard it.
    let body = if framing.body == BodyFraming::Empty {
        Body::Empty
    } else {
        response.body
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
    if written
        .and_then(|()| st.conn.finish_body(out, &HeaderMap::new()))
        .is_err()
        || st.conn.should_close()
    {
        st.phase = Phase::Closing;
    }
}

/// Writes a `101` and hands the connection to the protocol in its body —
/// only when the request asked to upgrade (RFC 9110 §15.2.2: a server never
/// switches to a protocol the client did not offer). Anything else is the
/// handler's mistake: 500.
fn switch(st: &mut State, response: Response, cx: &Cx<'_>, out: &mut Out) {
    let Body::Upgrade(protocol) = response.body else {
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
        Ok(_) => st.phase = Phase::Switched(Some(AnyMachine::Raw(Raw::new(protocol)))),
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
