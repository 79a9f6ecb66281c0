//! The HTTP/2 machine: `osprey_h2::Connection` (the sans-IO protocol) joined
//! to the handler, one [`Request`] per stream.
//!
//! A connection gets this machine when TLS settles ALPN `h2`, or when a
//! cleartext connection opens with the client preface (h2c with prior
//! knowledge, RFC 9113 §3.3); see `conn.rs`. Each request stream (§8.1)
//! becomes a [`Request`] — method, `:path` as the target, `:authority`, the
//! fields, version HTTP/2.0 — and goes to the same handler as HTTP/1.1, with
//! the same [`Plan`]: its body gathered whole (within the body limit: 413
//! beyond) or streamed to the handler ([`BodyFeeder`], the stream's flow
//! control window released as the body moves into the handler's bounded
//! buffer, §6.9), the handler run in place or on the worker pool, its
//! [`Reply`] ready or pending.
//!
//! Streams are independent: a handler on the worker pool, a pending reply or
//! a slow response stream on one holds up no other (a blocking handler always
//! goes to the worker pool here, even in the blocking models, since the
//! connection's thread serves every stream). Response bodies go out one DATA
//! frame at a time per stream, in round robin over the streams that have
//! something to send and the flow-control credit to send it (§5.3: the
//! priority signals are ignored), while the connection's output is below
//! its high-water mark. A file range is read with `pread` one frame at a
//! time, and a streamed body is pulled only when the stream and the
//! connection have send window and the output has room, so a slow reader
//! holds the producer back as over HTTP/1.1.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, Bytes};
use osprey_h2::{Connection, ErrorCode, Event, CONNECTION_SPECIFIC};
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status, Version};
use osprey_web::{
    Body, BodyFeeder, BodyMode, BodySource, HeadSpans, Part, Plan, Reply, Request, Response,
};

use super::{AnyMachine, Cx, Expiry, Machine, Next, Pools};
use crate::buffers::Buffers;
use crate::config::Config;
use crate::service::call_handler;

/// The most response content sent on one stream before the next stream's
/// turn: one DATA frame of the size every peer accepts (RFC 9113 §4.2).
const FRAME: usize = 16 * 1024;

/// Where a handler running on the worker pool leaves its answer: `None`
/// until it is done, then `Some(None)` if it panicked.
type ReplySlot = Arc<Mutex<Option<Option<Response>>>>;

/// Where a stream's request body goes.
enum Sink {
    /// No body, or it is complete.
    None,
    /// Into the request, whole, before the handler runs.
    Whole,
    /// To the handler as it arrives; `backlog` holds what arrived while its
    /// buffer was full (bounded by the stream's receive window, which is not
    /// released for it), `end` the trailers once the client ended the body.
    Stream {
        feeder: BodyFeeder,
        backlog: VecDeque<Bytes>,
        end: Option<HeaderMap>,
    },
    /// Thrown away as it arrives (the handler let go of it, or answered).
    Discard,
}

/// What a stream's reply is doing.
enum Phase {
    /// The body is being gathered; the handler runs when it is complete.
    Gathering,
    /// A blocking handler has the request on the worker pool.
    Handler(ReplySlot),
    /// The handler's reply is pending: polled whenever the waker fires.
    Pending(Reply),
    /// The response head is out; its content goes out in `Outgoing`.
    Sending,
}

/// A response's content still to be sent.
#[derive(Default)]
struct Outgoing {
    parts: VecDeque<Part>,
    source: Option<Box<dyn BodySource>>,
    /// In the round-robin queue.
    queued: bool,
    /// The source returned `Pending`: pulled again after the waker fires.
    waiting: bool,
}

/// One request stream.
struct Stream {
    request: Request,
    plan: Plan,
    /// The body limit in force (the plan's, at most the server's).
    limit: u64,
    /// A HEAD request: the response carries no content (RFC 9110 §9.3.2).
    head: bool,
    sink: Sink,
    received: u64,
    /// Body bytes gathered into `request` (counted in `H2::gathered`).
    gathered: u64,
    phase: Phase,
    out: Outgoing,
}

/// What sending a stream's next piece did.
enum Step {
    /// Sent a frame; more is ready.
    More,
    /// Out of flow-control credit: `Event::SendReady` resumes it.
    Blocked,
    /// The source has nothing now: its waker resumes it.
    Waiting,
    /// The stream's response is complete (or was reset).
    Done,
}

/// The HTTP/2 machine of one connection.
pub(crate) struct H2 {
    conn: Connection,
    streams: BTreeMap<u32, Stream>,
    /// Streams with content ready and credit to send it: round robin.
    ready: VecDeque<u32>,
    /// A request head laid out for `Request::fill`.
    head: Vec<u8>,
    /// File content read for one DATA frame.
    scratch: Vec<u8>,
    /// Whole bodies held by all streams (`Config::h2_gathered_bodies`).
    gathered: u64,
    /// When the connection last had no stream (the idle timeout's start).
    idle_since: Instant,
    /// The connection ends once its output is written.
    closing: bool,
}

impl H2 {
    /// A connection whose preface is (or will be) in the input; `now` starts
    /// its idle clock.
    pub fn new(config: &Config, now: Instant) -> H2 {
        H2 {
            conn: Connection::new(config.h2.clone()),
            streams: BTreeMap::new(),
            ready: VecDeque::new(),
            head: Vec::new(),
            scratch: Vec::new(),
            gathered: 0,
            idle_since: now,
            closing: false,
        }
    }

    /// Moves what the protocol wrote into the connection's output queue.
    fn flush(&mut self, bufs: &mut Buffers) {
        if self.conn.has_output() {
            bufs.out.push_shared(self.conn.take_output());
        }
    }

    fn queue(&mut self, id: u32) {
        if let Some(st) = self.streams.get_mut(&id) {
            if !st.out.queued {
                st.out.queued = true;
                self.ready.push_back(id);
            }
        }
    }

    /// Forgets a stream (its reply, feeder and body are dropped: a pending
    /// reply is cancelled, a body consumer told the body failed).
    fn forget(&mut self, id: u32) {
        if let Some(st) = self.streams.remove(&id) {
            self.gathered -= st.gathered;
            if let Sink::Stream { feeder, .. } = &st.sink {
                feeder.fail(std::io::ErrorKind::ConnectionAborted);
            }
        }
        if self.streams.is_empty() {
            // (The idle clock restarts at the next `process`.)
            self.ready.clear();
        }
    }

    /// Reads the protocol's events and acts on them.
    fn events(&mut self, cx: &mut Cx<'_>) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Request {
                    stream_id,
                    method,
                    authority,
                    path,
                    headers,
                    end_stream,
                    ..
                } => self.request(cx, stream_id, method, authority, path, headers, end_stream),
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                } => self.data(cx, stream_id, data, end_stream.then(HeaderMap::new)),
                Event::Trailers { stream_id, headers } => {
                    self.data(cx, stream_id, Bytes::new(), Some(headers))
                }
                Event::StreamReset { stream_id, .. } => self.forget(stream_id),
                Event::SendReady { stream_id } => self.queue(stream_id),
                Event::GoAway { .. } | Event::PingAck { .. } | Event::SettingsAcked => {}
            }
        }
    }

    /// A new request stream (RFC 9113 §8.3.1): a `Request` for the handler.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        cx: &mut Cx<'_>,
        id: u32,
        method: Method,
        authority: Option<String>,
        path: Option<String>,
        headers: HeaderMap,
        end_stream: bool,
    ) {
        let config = cx.config();
        let mut request = Request::default();
        request.set_timer(cx.timer.clone());
        // The head as `Request::fill` takes it: the target, the authority,
        // then each field's name and value. Handlers written for HTTP/1.1
        // look for `host`: it is added from `:authority` (§8.3.1).
        let head = &mut self.head;
        head.clear();
        let target = path.as_deref().unwrap_or("");
        head.extend_from_slice(target.as_bytes());
        let target = (0, head.len() as u32);
        let authority = authority.map(|a| {
            let start = head.len() as u32;
            head.extend_from_slice(a.as_bytes());
            (start, head.len() as u32)
        });
        let mut fields = Vec::with_capacity(headers.len() + 1);
        let mut field = |head: &mut Vec<u8>, name: &[u8], value: &[u8]| {
            let n = head.len() as u32;
            head.extend_from_slice(name);
            let v = head.len() as u32;
            head.extend_from_slice(value);
            fields.push([n, v, v, head.len() as u32]);
        };
        if let (Some((s, e)), false) = (authority, headers.contains("host")) {
            let value = head[s as usize..e as usize].to_vec();
            field(head, b"host", &value);
        }
        for (name, value) in headers.iter() {
            field(head, name.as_bytes(), value.as_bytes());
        }
        let path_ok = request.fill(
            method.clone(),
            Version::Http2,
            head,
            HeadSpans {
                target,
                authority,
                upgrade: None,
            },
            fields.into_iter(),
            Some(cx.connection),
        );
        let mut st = Stream {
            request,
            plan: Plan::default(),
            limit: config.limits.max_body,
            head: method == Method::Head,
            // Content still to come when the request is refused is thrown
            // away (and the stream reset once answered).
            sink: if end_stream {
                Sink::None
            } else {
                Sink::Discard
            },
            received: 0,
            gathered: 0,
            phase: Phase::Gathering,
            out: Outgoing::default(),
        };
        // CONNECT (no `:path`, §8.5) is not served; a path whose
        // percent-encoding is invalid reaches no handler.
        let mut refused = if path.is_none() {
            Some(Status::NOT_IMPLEMENTED)
        } else if !path_ok {
            Some(Status::BAD_REQUEST)
        } else {
            None
        };
        if refused.is_none() {
            st.plan = cx.service.handler.plan(&mut st.request);
            if let Some(limit) = st.plan.body_limit {
                st.limit = st.limit.min(limit);
            }
            let declared = headers
                .get("content-length")
                .and_then(|v| v.to_str()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > st.limit) {
                refused = Some(Status::CONTENT_TOO_LARGE);
            }
        }
        self.streams.insert(id, st);
        if let Some(status) = refused {
            return self.refuse(cx, id, status);
        }
        let st = self.streams.get_mut(&id).expect("inserted above");
        st.sink = Sink::None;
        if end_stream {
            self.dispatch(cx, id);
        } else if st.plan.body == BodyMode::Stream {
            let (feeder, body) = BodyFeeder::new(config.body_buffer, cx.waker().clone());
            st.request.set_body_stream(body);
            st.sink = Sink::Stream {
                feeder,
                backlog: VecDeque::new(),
                end: None,
            };
            self.dispatch(cx, id);
        } else {
            st.sink = Sink::Whole;
        }
    }

    /// Request content (or, with `end`, its end and trailers) on a stream.
    fn data(&mut self, cx: &mut Cx<'_>, id: u32, data: Bytes, end: Option<HeaderMap>) {
        let len = data.len();
        let Some(st) = self.streams.get_mut(&id) else {
            // A stream already answered: nobody wants its content.
            self.conn.release_capacity(id, len);
            return;
        };
        st.received += len as u64;
        if st.received > st.limit && !matches!(st.sink, Sink::Discard | Sink::None) {
            // Over the body limit: 413 if the answer has not begun.
            if let Sink::Stream { feeder, .. } = &st.sink {
                feeder.fail(std::io::ErrorKind::InvalidData);
            }
            st.sink = Sink::Discard;
            self.conn.release_capacity(id, len);
            if !matches!(st.phase, Phase::Sending) {
                self.refuse(cx, id, Status::CONTENT_TOO_LARGE);
            }
            return;
        }
        if matches!(st.sink, Sink::Whole) {
            let bound = cx.config().h2_gathered_bodies.max(st.limit);
            if self.gathered + len as u64 > bound {
                // The connection holds enough bodies: this request was not
                // processed and may be retried (RFC 9113 §8.7).
                let _ = self.conn.reset(id, ErrorCode::REFUSED_STREAM);
                return self.forget(id);
            }
            self.gathered += len as u64;
            st.gathered += len as u64;
        }
        match &mut st.sink {
            Sink::Whole => {
                st.request.body_mut().extend_from_slice(&data);
                self.conn.release_capacity(id, len);
                if let Some(trailers) = end {
                    st.sink = Sink::None;
                    if !trailers.is_empty() {
                        st.request.set_trailers(trailers);
                    }
                    self.dispatch(cx, id);
                }
            }
            Sink::Stream {
                backlog, end: e, ..
            } => {
                if !data.is_empty() {
                    backlog.push_back(data);
                }
                if end.is_some() {
                    *e = end;
                }
                self.feed(id);
            }
            Sink::None | Sink::Discard => self.conn.release_capacity(id, len),
        }
    }

    /// Moves a streamed body's backlog into its consumer's buffer while it
    /// has room, releasing flow-control credit for what moved.
    fn feed(&mut self, id: u32) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        let Sink::Stream {
            feeder,
            backlog,
            end,
        } = &mut st.sink
        else {
            return;
        };
        if feeder.dropped() {
            // The handler will not read the rest: drop it, and credit it so
            // the client can finish sending (or is reset once answered).
            let held: usize = backlog.iter().map(Bytes::len).sum();
            st.sink = Sink::Discard;
            self.conn.release_capacity(id, held);
            return;
        }
        while feeder.has_room() {
            let Some(piece) = backlog.pop_front() else {
                break;
            };
            feeder.push(&piece);
            self.conn.release_capacity(id, piece.len());
        }
        if backlog.is_empty() {
            if let Some(trailers) = end.take() {
                feeder.end(trailers);
                st.sink = Sink::None;
            }
        }
    }

    /// Calls the handler for a stream's request: on the worker pool when its
    /// plan says it blocks (even in the blocking models: this thread serves
    /// every stream), else in place.
    fn dispatch(&mut self, cx: &mut Cx<'_>, id: u32) {
        let st = self.streams.get_mut(&id).expect("dispatched stream");
        if st.plan.blocking {
            let waker = cx.waker().clone();
            let slot: ReplySlot = Arc::default();
            let mut request = std::mem::take(&mut st.request);
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
                Err(()) => self.respond(
                    cx,
                    id,
                    Some(Response::status_text(Status::SERVICE_UNAVAILABLE)),
                ),
            }
            return;
        }
        match call_handler(&*cx.service.handler, &mut st.request) {
            None => self.respond(cx, id, None),
            Some(reply) => match reply.into_ready() {
                Ok(response) => self.respond(cx, id, Some(response)),
                Err(pending) => st.phase = Phase::Pending(pending),
            },
        }
    }

    /// Answers a request the handler does not see (or no longer may answer).
    fn refuse(&mut self, cx: &mut Cx<'_>, id: u32, status: Status) {
        if let Some(st) = self.streams.get_mut(&id) {
            // A reply under way is dropped (cancelled).
            st.phase = Phase::Gathering;
        }
        self.respond(cx, id, Some(Response::status_text(status)));
    }

    /// Sends a response head and queues its content; `None` (the handler
    /// panicked) is a 500 on this stream only.
    fn respond(&mut self, cx: &mut Cx<'_>, id: u32, response: Option<Response>) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        let mut response =
            response.unwrap_or_else(|| Response::status_text(Status::INTERNAL_SERVER_ERROR));
        if response.status == Status::SWITCHING_PROTOCOLS
            || matches!(response.body, Body::Upgrade(_))
        {
            // §8.6: no 101 in HTTP/2; a handler that switches protocols
            // only works over HTTP/1.1.
            response = Response::status_text(Status::INTERNAL_SERVER_ERROR);
        }
        st.phase = Phase::Sending;
        let status = response.status;
        // RFC 9110 §6.4.1: HEAD, 204 and 304 responses carry no content.
        let bodiless = st.head || status == Status::NO_CONTENT || status == Status::NOT_MODIFIED;
        let body = std::mem::take(&mut response.body);
        let headers = response_fields(&response.headers, &body, status, cx);
        let body = if bodiless { Body::Empty } else { body };
        let empty = matches!(body, Body::Empty) || body.len_hint() == Some(0);
        if self
            .conn
            .send_response(id, status, &headers, empty)
            .is_err()
        {
            let _ = self.conn.reset(id, ErrorCode::INTERNAL_ERROR);
            return self.forget(id);
        }
        let st = self.streams.get_mut(&id).expect("present above");
        match body {
            Body::Empty | Body::Upgrade(_) => {}
            Body::Bytes(b) => st.out.parts.push_back(Part::Bytes(b)),
            Body::File(f) => st.out.parts.push_back(Part::File(f)),
            Body::Parts(parts) => st.out.parts.extend(parts),
            Body::Stream(s) => st.out.source = Some(s),
        }
        if empty {
            st.out = Outgoing::default();
            self.complete(id);
        } else {
            self.queue(id);
        }
    }

    /// A stream's response is complete: a request body still arriving is
    /// not wanted (RST_STREAM NO_ERROR, §8.1), and the stream is forgotten.
    fn complete(&mut self, id: u32) {
        let Some(st) = self.streams.get(&id) else {
            return;
        };
        if !matches!(st.sink, Sink::None)
            && self.conn.stream_state(id) != osprey_h2::StreamState::Closed
        {
            let _ = self.conn.reset(id, ErrorCode::NO_ERROR);
        }
        if let Some(mut st) = self.streams.remove(&id) {
            self.gathered -= st.gathered;
            // A streamed body its handler never took is not wanted.
            drop(st.request.body_stream());
        }
        if self.streams.is_empty() {
            self.ready.clear();
        }
    }

    /// Polls what waits for a waker: handlers on the worker pool, pending
    /// replies, response sources, body consumers.
    fn poll_streams(&mut self, cx: &mut Cx<'_>) {
        let waker = cx.waker().clone();
        let mut context = Context::from_waker(&waker);
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.feed(id);
            let Some(st) = self.streams.get_mut(&id) else {
                continue;
            };
            match &mut st.phase {
                Phase::Gathering => {}
                Phase::Handler(slot) => {
                    let done = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(response) = done {
                        self.respond(cx, id, response);
                    }
                }
                Phase::Pending(reply) => {
                    match catch_unwind(AssertUnwindSafe(|| reply.poll(&mut context))) {
                        Ok(Poll::Pending) => {}
                        Ok(Poll::Ready(response)) => self.respond(cx, id, Some(response)),
                        Err(_) => self.respond(cx, id, None),
                    }
                }
                Phase::Sending => {
                    if st.out.waiting {
                        st.out.waiting = false;
                        self.queue(id);
                    }
                }
            }
        }
    }

    /// Sends response content, one frame per stream in turn, while the
    /// output is below `high_water`. Returns whether it stopped on a full
    /// output.
    fn pump(&mut self, waker: &Waker, bufs: &Buffers, high_water: usize) -> bool {
        let mut context = Context::from_waker(waker);
        while let Some(id) = self.ready.pop_front() {
            if bufs.out.len() as usize + self.conn.output().len() >= high_water {
                self.ready.push_front(id);
                return true;
            }
            let step = match self.streams.get_mut(&id) {
                Some(st) => {
                    st.out.queued = false;
                    send_piece(&mut self.conn, &mut self.scratch, id, st, &mut context)
                }
                None => continue,
            };
            match step {
                Step::More => self.queue(id),
                Step::Blocked => {}
                Step::Waiting => {
                    if let Some(st) = self.streams.get_mut(&id) {
                        st.out.waiting = true;
                    }
                }
                Step::Done => self.complete(id),
            }
        }
        false
    }
}

/// Sends the next piece of a stream's response: at most one DATA frame.
fn send_piece(
    conn: &mut Connection,
    scratch: &mut Vec<u8>,
    id: u32,
    st: &mut Stream,
    context: &mut Context<'_>,
) -> Step {
    loop {
        let out = &mut st.out;
        // The last piece carries END_STREAM.
        let last = out.parts.len() == 1 && out.source.is_none();
        let cap = conn.send_capacity(id);
        match out.parts.front_mut() {
            Some(Part::Bytes(b)) if b.is_empty() => {
                out.parts.pop_front();
            }
            Some(Part::File(f)) if f.len == 0 => {
                out.parts.pop_front();
            }
            Some(_) if cap == 0 => {
                conn.want_send(id);
                return Step::Blocked;
            }
            Some(Part::Bytes(b)) => {
                let take = b.len().min(FRAME).min(cap);
                let end = last && take == b.len();
                match conn.send_data(id, &b[..take], end) {
                    Ok(n) => b.advance(n),
                    Err(_) => return Step::Done,
                }
                if b.is_empty() {
                    out.parts.pop_front();
                }
                return if end { Step::Done } else { Step::More };
            }
            Some(Part::File(f)) => {
                let want = (f.len.min(FRAME as u64) as usize).min(cap);
                scratch.resize(want, 0);
                let read = osprey_rt::sendfile::read_at(&f.file, &mut scratch[..want], f.offset);
                let n = match read {
                    Ok(n) if n > 0 => n,
                    // The file is shorter than announced, or unreadable:
                    // the response cannot be completed.
                    _ => {
                        let _ = conn.reset(id, ErrorCode::INTERNAL_ERROR);
                        return Step::Done;
                    }
                };
                let end = last && n as u64 == f.len;
                match conn.send_data(id, &scratch[..n], end) {
                    Ok(sent) => {
                        f.offset += sent as u64;
                        f.len -= sent as u64;
                    }
                    Err(_) => return Step::Done,
                }
                if f.len == 0 {
                    out.parts.pop_front();
                }
                return if end { Step::Done } else { Step::More };
            }
            None => {
                let Some(source) = &mut out.source else {
                    // Everything was sent but END_STREAM: an empty DATA.
                    let _ = conn.send_data(id, &[], true);
                    return Step::Done;
                };
                // Pulled only when the windows allow sending what it gives.
                if cap == 0 {
                    conn.want_send(id);
                    return Step::Blocked;
                }
                match catch_unwind(AssertUnwindSafe(|| source.poll_next(context))) {
                    Ok(Poll::Pending) => return Step::Waiting,
                    Ok(Poll::Ready(Some(Ok(piece)))) => out.parts.push_back(Part::Bytes(piece)),
                    Ok(Poll::Ready(None)) => out.source = None,
                    // The producer failed: the client sees the stream reset,
                    // never a truncated body that looks complete.
                    Ok(Poll::Ready(Some(Err(_)))) | Err(_) => {
                        let _ = conn.reset(id, ErrorCode::INTERNAL_ERROR);
                        return Step::Done;
                    }
                }
            }
        }
    }
}

/// The response's fields for HTTP/2: connection-specific ones dropped
/// (RFC 9113 §8.2.2), `date`, `server` and `content-length` added.
fn response_fields(headers: &HeaderMap, body: &Body, status: Status, cx: &Cx<'_>) -> HeaderMap {
    let mut fields = HeaderMap::with_capacity(headers.len() + 3);
    for (name, value) in headers.iter() {
        let specific = CONNECTION_SPECIFIC.iter().any(|c| name.is(c))
            || (name.is("te") && !value.as_bytes().eq_ignore_ascii_case(b"trailers"))
            || name.is("content-length");
        if !specific {
            fields.append(name.clone(), value.clone());
        }
    }
    let mut add = |name: &str, value: HeaderValue| {
        if !fields.contains(name) {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                fields.append(name, value);
            }
        }
    };
    if let Ok(date) = HeaderValue::from_bytes(cx.date) {
        add("date", date);
    }
    if let Some(server) = &cx.config().server_name {
        if let Ok(value) = HeaderValue::from_bytes(server.as_bytes()) {
            add("server", value);
        }
    }
    // A 304 describes the selected representation, a 204 has no content.
    let counted = status != Status::NOT_MODIFIED && status != Status::NO_CONTENT;
    if let (Some(n), true) = (body.len_hint(), counted) {
        add("content-length", HeaderValue::from_u64(n));
    } else if let (Some(v), false) = (headers.get("content-length"), counted) {
        add("content-length", v.clone());
    }
    fields
}

impl Machine for H2 {
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next {
        let high_water = cx.config().output_high_water;
        if !self.closing && !bufs.input.is_empty() {
            // The protocol keeps partial frames itself: all input is taken.
            let result = self.conn.recv(bufs.input.data());
            bufs.input.consume(bufs.input.len());
            if result.is_err() {
                // A connection error: GOAWAY is queued (§5.4.1).
                self.closing = true;
            }
        }
        self.events(cx);
        self.poll_streams(cx);
        let waker = cx.waker().clone();
        let full = self.pump(&waker, bufs, high_water);
        self.flush(bufs);
        if self.streams.is_empty() {
            self.idle_since = cx.now;
        }
        if self.closing || self.conn.should_close() {
            self.closing = true;
            self.streams.clear();
            self.gathered = 0;
            Next::Close
        } else if full || bufs.out.len() as usize >= high_water {
            Next::Write
        } else {
            // Always reading: WINDOW_UPDATE, PING and new streams may come
            // at any time; flow control bounds what request content can.
            Next::Read
        }
    }

    fn input_ended(&mut self, _: &mut Cx<'_>, bufs: &mut Buffers) {
        // The client closed: its streams are cancelled (replies dropped,
        // body consumers told the body failed).
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.forget(id);
        }
        self.closing = true;
        self.flush(bufs);
    }

    fn deadline(&self, config: &Config) -> Option<(Instant, Expiry)> {
        // The idle timeout: no stream for the keep-alive time.
        (self.streams.is_empty() && !self.closing)
            .then(|| (self.idle_since + config.keep_alive_timeout, Expiry::Header))
    }

    fn timed_out(&mut self, _: &mut Cx<'_>, bufs: &mut Buffers, _: Expiry) {
        // Idle: GOAWAY NO_ERROR, then close (§6.8).
        self.conn.go_away(ErrorCode::NO_ERROR);
        self.closing = true;
        self.flush(bufs);
    }

    fn drain(&mut self) {
        // §6.8: GOAWAY(2^31-1) and a PING; the final GOAWAY follows its ACK,
        // and the streams begun before it are served to the end.
        self.conn.go_away_graceful();
    }

    fn is_idle(&self) -> bool {
        self.streams.is_empty() && !self.conn.has_output() && !self.closing
    }

    fn finished(&self) -> bool {
        (self.closing || self.conn.should_close()) && !self.conn.has_output()
    }

    fn watches_eof(&self) -> bool {
        !self.streams.is_empty()
    }

    fn handoff(&mut self) -> Option<AnyMachine> {
        None
    }

    fn release(&mut self, _: &mut Pools, _: &Config) {
        // The protocol's state (HPACK tables, windows, settings) lives as
        // long as the connection: nothing is lent.
    }
}
