//! The per-connection engine every concurrency model shares.
//!
//! A [`Session`] owns what an *active* connection needs: the HTTP/1.1 machine,
//! the read buffer, the output queue, the request being assembled and the
//! response stream being pulled. It never does I/O itself: a driver (blocking or
//! event loop) appends received bytes with [`Session::input`], calls
//! [`Session::process`], writes the output with [`crate::io::flush`], and asks
//! the session what it is waiting for. Sessions are pooled per thread and handed
//! to connections only while they are active, so an idle keep-alive connection
//! holds no buffers.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use osprey_h1::ProtoError;
use osprey_h1::{BodyLength, EncodeConfig, Event, OutQueue, ServerConn, CONTINUE};
use osprey_proto::Status;
use osprey_web::{Body, BodySource, Handler, Part, Plan, Request, Response};

use crate::config::Config;

/// What the session needs from its environment for one `process` call.
pub(crate) struct Env<'a> {
    pub handler: &'a dyn Handler,
    pub config: &'a Config,
    pub date: &'a [u8],
    /// Whether blocking handlers must be handed off (event-loop models) rather
    /// than called in place (the blocking models, where a connection has its own
    /// thread or process).
    pub offload_blocking: bool,
    /// Whether the handler may block for some request ([`crate::Shared`]).
    pub may_block: bool,
    pub peer: Option<std::net::SocketAddr>,
}

impl<'a> Env<'a> {
    /// The environment for one connection of `shared`'s server.
    pub fn new(
        shared: &'a crate::Shared,
        date: &'a [u8],
        offload_blocking: bool,
        peer: std::net::SocketAddr,
    ) -> Env<'a> {
        Env {
            handler: &*shared.handler,
            config: &shared.config,
            date,
            offload_blocking,
            may_block: shared.may_block,
            peer: Some(peer),
        }
    }

    fn encode_config(&self) -> EncodeConfig<'_> {
        EncodeConfig {
            date: Some(self.date),
            server: self.config.server_name.as_deref().map(str::as_bytes),
        }
    }
}

/// What the session is doing.
pub(crate) enum Phase {
    /// Reading and answering requests.
    Requests,
    /// A blocking handler has the request; wait for its response.
    Handler,
    /// Pulling a response stream.
    Streaming(Box<dyn BodySource>),
    /// Flush what is queued, then close.
    Closing,
}

/// What a `pull_stream` call stopped on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pull {
    /// The stream ended (or failed); the session has moved on.
    Ended,
    /// The source has nothing ready; it will wake the waker.
    Pending,
    /// The output reached the high-water mark: write before pulling more.
    Full,
}

/// What a `process` call stopped on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Needs more input.
    Read,
    /// Output is above the high-water mark or the pipeline is full: write first.
    Write,
    /// A blocking handler must run: take the request with [`Session::take_request`].
    Offload,
    /// Waiting for a handler's response or a stream's waker.
    Wait,
    /// Flush and close.
    Close,
}

pub(crate) struct Session {
    pub h1: ServerConn,
    /// Read buffer; always initialised to its full length. `start..end` holds
    /// received bytes not yet consumed by the parser.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pub out: OutQueue<Arc<File>>,
    request: Request,
    pub phase: Phase,
    /// When the current request's head began arriving (header timeout).
    request_started: Option<Instant>,
    /// When the current request's body began (minimum-rate timeout).
    body_started: Option<Instant>,
    /// What the handler declared about the current request at its head.
    plan: Plan,
}

/// Which timeout a deadline stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The head is not complete in time: 408.
    Header,
    /// The body arrives slower than the minimum rate: 408.
    Body,
    /// The client stopped reading our output: drop it.
    Write,
    /// Nothing under way; a keep-alive (or first-request) wait: close quietly.
    Idle,
}

impl Session {
    pub fn new(config: &Config) -> Session {
        Session {
            h1: ServerConn::new(config.limits),
            buf: vec![0; config.read_buffer],
            start: 0,
            end: 0,
            out: OutQueue::new(),
            request: Request::default(),
            phase: Phase::Requests,
            request_started: None,
            body_started: None,
            plan: Plan::default(),
        }
    }

    /// Prepares a pooled session for a new connection.
    pub fn reset(&mut self, config: &Config) {
        self.h1.reset();
        self.start = 0;
        self.end = 0;
        self.out.clear();
        self.release_grown(config);
        self.phase = Phase::Requests;
        self.request_started = None;
        self.body_started = None;
    }

    /// Frees buffers that grew for a large message, so that the pool holds
    /// sessions of the common size: the read buffer beyond `read_buffer` (a
    /// large head), the output buffer beyond the high-water mark, a request
    /// holding more than `read_buffer` + 64 KiB (a large head or body; a small
    /// POST body's buffer is kept for the next one). Buffers holding data are
    /// kept.
    pub fn release_grown(&mut self, config: &Config) {
        if self.buf.len() > config.read_buffer && self.start == self.end {
            self.buf = vec![0; config.read_buffer];
            self.start = 0;
            self.end = 0;
        }
        if self.out.buffer_capacity() > config.output_high_water {
            self.out.release_buffer();
        }
        if self.request.reusable_capacity() > config.read_buffer + 64 * 1024 {
            self.request = Request::default();
        }
    }

    /// The next deadline and what it is for; `None` when the session is idle
    /// (the driver applies the keep-alive timeout) or waiting on a handler or
    /// a stream producer.
    pub fn deadline(&self, config: &Config, last_progress: Instant) -> Option<(Instant, Expiry)> {
        if !self.out.is_empty() {
            return Some((last_progress + config.write_timeout, Expiry::Write));
        }
        if matches!(self.phase, Phase::Handler | Phase::Streaming(_)) {
            return None;
        }
        if self.h1.is_reading_body() {
            let started = self.body_started.unwrap_or(last_progress);
            let allowance = self.request.body().len() as u64 / config.min_body_rate.max(1);
            return Some((
                started + config.body_timeout + Duration::from_secs(allowance),
                Expiry::Body,
            ));
        }
        self.request_started
            .map(|t| (t + config.header_timeout, Expiry::Header))
    }

    /// Whether the connection could give this session back to the pool: nothing
    /// buffered in either direction and no exchange under way.
    pub fn is_idle(&self) -> bool {
        self.start == self.end
            && self.out.is_empty()
            && self.h1.is_idle()
            && matches!(self.phase, Phase::Requests)
    }

    /// Unparsed input bytes held.
    pub fn buffered_input(&self) -> usize {
        self.end - self.start
    }

    /// Room to read into. The unparsed tail moves to the front when the buffer's
    /// end is reached (parser offsets are relative to the tail, so they stay
    /// valid), and the buffer grows only while a head needs it, up to `max_head`.
    /// An empty slice means the buffer is full: the parser refuses such a head.
    pub fn read_space(&mut self, config: &Config) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let limit = config.limits.max_head + config.read_buffer;
                let grown = (self.buf.len() * 2).clamp(config.read_buffer, limit);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the space from `read_space`.
    pub fn commit_read(&mut self, n: usize) {
        self.end += n;
    }

    /// The peer closed its side.
    pub fn input_eof(&mut self, env: &Env<'_>) {
        let partial = self.buffered_input() > 0;
        match self.h1.read_eof() {
            // A request cut short: answer it only if its head was complete (there
            // is a request to answer); otherwise just close.
            Err(e) if (!self.h1.is_idle() || partial) && self.h1.in_flight() > 0 => {
                self.h1.write_error(&mut self.out, e, &env.encode_config());
            }
            _ => {}
        }
        self.phase = Phase::Closing;
    }

    /// Parses buffered input and answers complete requests until it must wait.
    pub fn process(&mut self, env: &Env<'_>) -> Next {
        loop {
            match self.phase {
                Phase::Requests => {}
                Phase::Handler => return Next::Wait,
                Phase::Streaming(_) => return Next::Wait,
                Phase::Closing => return Next::Close,
            }
            if self.out.len() as usize >= env.config.output_high_water
                || self.h1.in_flight() >= env.config.max_pipeline
            {
                return Next::Write;
            }
            let input = &self.buf[self.start..self.end];
            let (n, event) = match self.h1.read(input) {
                Ok(r) => r,
                Err(e) => {
                    self.fail(e, env);
                    return Next::Close;
                }
            };
            match event {
                Event::Partial => {
                    if !input.is_empty()
                        && self.request_started.is_none()
                        && !self.h1.is_reading_body()
                    {
                        self.request_started = Some(Instant::now());
                    }
                    self.start += n;
                    return Next::Read;
                }
                Event::Head => {
                    let head = self.h1.head();
                    let bytes = &input[..n];
                    let path_ok = self.request.fill(
                        head.method.clone(),
                        head.version,
                        bytes,
                        (head.target.start, head.target.end),
                        head.fields
                            .iter()
                            .map(|f| [f.name.start, f.name.end, f.value.start, f.value.end]),
                        env.peer,
                    );
                    self.request_started = None;
                    // A path whose percent-encoding is invalid (bad escape, not
                    // UTF-8, NUL) reaches no handler.
                    if !path_ok {
                        return self.refuse(Status::BAD_REQUEST, env);
                    }
                    let body = head.body;
                    // The plan matters for a body (its limit) or for a handler
                    // that may have to leave the event loop; a bodiless GET to
                    // a router that never blocks skips the second route walk.
                    self.plan = if body != osprey_h1::BodyFraming::Empty
                        || (env.offload_blocking && env.may_block)
                    {
                        env.handler.plan(&self.request)
                    } else {
                        Plan::default()
                    };
                    if let (osprey_h1::BodyFraming::Length(len), Some(limit)) =
                        (body, self.plan.body_limit)
                    {
                        if len > limit {
                            return self.refuse(Status::CONTENT_TOO_LARGE, env);
                        }
                    }
                    if body != osprey_h1::BodyFraming::Empty {
                        self.body_started = Some(Instant::now());
                        // RFC 9110 §10.1.1: the client waits for this before sending.
                        if head.expect_continue {
                            self.out.write(CONTINUE);
                        }
                    }
                }
                Event::Data(range) => {
                    let body = self.request.body_mut();
                    if self
                        .plan
                        .body_limit
                        .is_some_and(|limit| (body.len() + range.len()) as u64 > limit)
                    {
                        // A chunked body over the route's limit.
                        return self.refuse(Status::CONTENT_TOO_LARGE, env);
                    }
                    body.extend_from_slice(&input[range]);
                }
                Event::End => {
                    self.start += n;
                    self.body_started = None;
                    if !self.h1.trailers().is_empty() {
                        self.request.set_trailers(self.h1.trailers().clone());
                    }
                    if env.offload_blocking && self.plan.blocking {
                        self.phase = Phase::Handler;
                        return Next::Offload;
                    }
                    let response = call_handler(env.handler, &mut self.request);
                    self.respond(response, env);
                    continue;
                }
                Event::Upgraded | Event::Closed => {
                    self.start += n;
                    self.phase = Phase::Closing;
                    return Next::Close;
                }
            }
            self.start += n;
        }
    }

    /// The request a blocking handler should run on (after [`Next::Offload`]).
    pub fn take_request(&mut self) -> Request {
        std::mem::take(&mut self.request)
    }

    /// Writes a response (from a handler, possibly offloaded): head, then body or
    /// the start of a stream.
    pub fn respond(&mut self, response: Option<Response>, env: &Env<'_>) {
        let Some(response) = response else {
            // The handler panicked: 500, and this connection closes.
            self.h1.write_canned(
                &mut self.out,
                Status::INTERNAL_SERVER_ERROR,
                &env.encode_config(),
            );
            self.phase = Phase::Closing;
            return;
        };
        let length = match response.body.len_hint() {
            Some(0) => BodyLength::Empty,
            Some(n) => BodyLength::Known(n),
            None => BodyLength::Unknown,
        };
        let config = env.encode_config();
        let framing = match self.h1.write_head(
            &mut self.out,
            response.status,
            &response.headers,
            length,
            &config,
        ) {
            Ok(f) => f,
            Err(e) => {
                self.fail(e, env);
                return;
            }
        };
        self.phase = Phase::Requests;
        // HEAD, 204 and 304 carry no body (RFC 9110 §6.4.1): drop it unread
        // rather than pulling a stream only to discard it.
        let body = if framing.body == osprey_h1::BodyFraming::Empty {
            Body::Empty
        } else {
            response.body
        };
        let written = match body {
            Body::Empty => Ok(()),
            Body::Bytes(b) => self.h1.write_body_shared(&mut self.out, b),
            Body::File(f) => self
                .h1
                .write_body_file(&mut self.out, f.file, f.offset, f.len),
            Body::Parts(parts) => parts.into_iter().try_for_each(|part| match part {
                Part::Bytes(b) => self.h1.write_body_shared(&mut self.out, b),
                Part::File(f) => self
                    .h1
                    .write_body_file(&mut self.out, f.file, f.offset, f.len),
            }),
            Body::Stream(s) => {
                self.phase = Phase::Streaming(s);
                return;
            }
        };
        match written.and_then(|()| {
            self.h1
                .finish_body(&mut self.out, &osprey_proto::HeaderMap::new())
        }) {
            Ok(()) => {}
            Err(_) => self.phase = Phase::Closing,
        }
        if self.h1.should_close() {
            self.phase = Phase::Closing;
        }
    }

    /// Pulls the response stream while the output is below the high-water mark.
    pub fn pull_stream(&mut self, waker: &Waker, env: &Env<'_>) -> Pull {
        let Phase::Streaming(source) = &mut self.phase else {
            return Pull::Ended;
        };
        let mut cx = Context::from_waker(waker);
        while (self.out.len() as usize) < env.config.output_high_water {
            match source.poll_next(&mut cx) {
                Poll::Pending => return Pull::Pending,
                Poll::Ready(Some(Ok(piece))) => {
                    if self.h1.write_body_shared(&mut self.out, piece).is_err() {
                        // More bytes than the announced length: cut it off.
                        self.phase = Phase::Closing;
                        return Pull::Ended;
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    // The producer failed: close without the final chunk so the
                    // client sees a truncated body, never a wrong complete one.
                    self.phase = Phase::Closing;
                    return Pull::Ended;
                }
                Poll::Ready(None) => {
                    let done = self
                        .h1
                        .finish_body(&mut self.out, &osprey_proto::HeaderMap::new());
                    self.phase = if done.is_err() || self.h1.should_close() {
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

    /// Answers the request being read with `status` and closes: its body (if
    /// any) is not read, so nothing after it can be trusted as a next request.
    fn refuse(&mut self, status: Status, env: &Env<'_>) -> Next {
        self.h1
            .write_canned(&mut self.out, status, &env.encode_config());
        self.phase = Phase::Closing;
        Next::Close
    }

    fn fail(&mut self, e: ProtoError, env: &Env<'_>) {
        if e.fault() == osprey_h1::Fault::Remote {
            self.h1.write_error(&mut self.out, e, &env.encode_config());
        }
        self.phase = Phase::Closing;
    }

    /// Answers 408 if a request is partly received, then closes (timeout).
    pub fn timed_out(&mut self, env: &Env<'_>) {
        if self.buffered_input() > 0 || self.h1.is_reading_body() {
            self.h1
                .write_canned(&mut self.out, Status::REQUEST_TIMEOUT, &env.encode_config());
        }
        self.phase = Phase::Closing;
    }

    /// Graceful shutdown: finish what is under way, read nothing new.
    pub fn drain(&mut self) {
        self.h1.stop_reading();
        if self.h1.should_close() && matches!(self.phase, Phase::Requests) {
            self.phase = Phase::Closing;
        }
    }

    /// Whether the connection is done once the output is flushed.
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Closing)
            || (self.h1.should_close() && matches!(self.phase, Phase::Requests))
    }
}

/// Calls the handler, turning a panic into `None` (the caller answers 500).
pub(crate) fn call_handler(handler: &dyn Handler, request: &mut Request) -> Option<Response> {
    catch_unwind(AssertUnwindSafe(|| handler.call(request))).ok()
}
