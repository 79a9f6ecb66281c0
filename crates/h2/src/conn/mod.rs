//! The server side of an HTTP/2 connection (RFC 9113 §3.4, §5, §6): a state
//! machine fed with the bytes the client sent, producing [`Event`]s for the
//! application and the bytes to send back.
//!
//! Errors are scoped as §5.4 says. A stream error resets that stream
//! (RST_STREAM) and the connection goes on; a connection error queues GOAWAY
//! with the last stream processed and its code, [`Connection::recv`] returns
//! it, and from then on the connection only waits to have its output written
//! and to be closed.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use osprey_proto::{HeaderMap, Status};

use crate::error::{Error, ErrorCode};
use crate::frame::{
    self, Continuation, Data, Frame, FrameDecoder, FrameHeader, GoAway, Headers, Ping,
    PrioritySpec, RstStream, Settings, WindowUpdate, MAX_WINDOW, MIN_MAX_FRAME_SIZE,
};
use crate::hpack;
use crate::limits::Config;
use crate::preface::{detect_preface, PrefaceMatch, PREFACE};

mod event;
mod flow;
mod message;
mod stream;
#[cfg(test)]
mod tests;

pub use event::{Event, SendError};
pub use message::CONNECTION_SPECIFIC;
pub use stream::State as StreamState;

use flow::Window;
use stream::{State, Stream};

/// The window every flow-control window starts with (RFC 9113 §6.9.2), and
/// the connection window until a WINDOW_UPDATE changes it.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// The HPACK table size each side assumes until SETTINGS say otherwise
/// (RFC 9113 §6.5.2).
const DEFAULT_HEADER_TABLE_SIZE: u32 = 4096;

/// Payload of the PING that ends the first phase of a graceful shutdown.
const DRAIN_PING: [u8; 8] = *b"h2-drain";

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the 24 octets of the client preface (§3.4).
    Preface,
    /// Preface read; the next frame must be the client's SETTINGS (§3.4).
    FirstSettings,
    /// Running.
    Open,
    /// A connection error happened, or the application ended it.
    Closed,
}

/// Graceful shutdown (§6.8): the first GOAWAY announces the end without
/// naming a last stream; the second, sent once a PING round trip proves the
/// client has seen the first, names the real last stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    /// Not shutting down.
    No,
    /// GOAWAY(2^31-1) and the PING sent; waiting for the PING's ACK.
    Announced,
    /// The final GOAWAY is sent: streams above `last` are ignored.
    Final { last: u32 },
}

/// How a stream we no longer keep ended, remembered for a while so late
/// frames on it get the answer §5.1 gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// We reset it or ignored it (after GOAWAY): its frames are ignored, as
    /// §5.4.2 asks for frames that were in flight.
    Ignored,
    /// Both sides ended it, or the client reset it: frames on it are errors
    /// of type STREAM_CLOSED.
    Closed,
}

/// A field block being received over HEADERS and CONTINUATION frames (§4.3).
#[derive(Debug)]
struct Partial {
    stream_id: u32,
    end_stream: bool,
    priority: Option<PrioritySpec>,
    block: BytesMut,
}

/// A server-side HTTP/2 connection. See the crate documentation for the
/// loop that drives it.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    phase: Phase,
    input: BytesMut,
    output: BytesMut,
    events: VecDeque<Event>,
    frames: FrameDecoder,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    /// Open and half-closed streams; closed ones are removed.
    streams: BTreeMap<u32, Stream>,
    /// Streams recently ended, and how (bounded by
    /// `Config::reset_streams_remembered`).
    ended: VecDeque<(u32, Ended)>,
    /// Highest client stream id seen: every lower id is closed or in use
    /// (§5.1.1).
    max_seen: u32,
    /// Highest stream id accepted for processing: GOAWAY's Last-Stream-ID.
    last_accepted: u32,
    partial: Option<Partial>,
    conn_send: Window,
    conn_recv: Window,
    /// Connection credit released by the application, not yet sent back.
    conn_release_pending: u32,
    peer_initial_window: u32,
    peer_max_frame_size: u32,
    /// The peer's SETTINGS_MAX_HEADER_LIST_SIZE (advisory, §6.5.2).
    peer_max_header_list: Option<u32>,
    /// Our SETTINGS frames not yet acknowledged.
    settings_unacked: u32,
    local_settings_acked: bool,
    peer_resets: u32,
    local_resets: u32,
    pending_control: usize,
    idle_control: u32,
    empty_frames: u32,
    shutdown: Shutdown,
    peer_goaway: bool,
    error: Option<Error>,
}

impl Connection {
    /// A connection configured by `config`. Our SETTINGS (the server preface,
    /// §3.4) and the connection window's first WINDOW_UPDATE are already in
    /// the output.
    pub fn new(config: Config) -> Connection {
        let max_frame_size = config
            .max_frame_size
            .clamp(MIN_MAX_FRAME_SIZE, frame::MAX_LENGTH);
        let connection_window = config
            .connection_window_size
            .clamp(DEFAULT_WINDOW, MAX_WINDOW);
        let mut c = Connection {
            frames: FrameDecoder::new(max_frame_size),
            // Until our SETTINGS are acknowledged the client may assume the
            // default table size (§6.5.2), so allow at least that.
            decoder: hpack::Decoder::new(
                config.header_table_size.max(DEFAULT_HEADER_TABLE_SIZE) as usize,
                config.max_header_list_size as usize,
            ),
            encoder: hpack::Encoder::new(config.encoder_table_size as usize),
            phase: Phase::Preface,
            input: BytesMut::new(),
            output: BytesMut::new(),
            events: VecDeque::new(),
            streams: BTreeMap::new(),
            ended: VecDeque::new(),
            max_seen: 0,
            last_accepted: 0,
            partial: None,
            conn_send: Window::new(DEFAULT_WINDOW as i64),
            conn_recv: Window::new(connection_window as i64),
            conn_release_pending: 0,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame_size: MIN_MAX_FRAME_SIZE,
            peer_max_header_list: None,
            settings_unacked: 1,
            local_settings_acked: false,
            peer_resets: 0,
            local_resets: 0,
            pending_control: 0,
            idle_control: 0,
            empty_frames: 0,
            shutdown: Shutdown::No,
            peer_goaway: false,
            error: None,
            config,
        };
        c.config.max_frame_size = max_frame_size;
        c.config.connection_window_size = connection_window;
        c.config.initial_window_size = c.config.initial_window_size.min(MAX_WINDOW);
        let cfg = &c.config;
        let settings = Settings {
            header_table_size: (cfg.header_table_size != DEFAULT_HEADER_TABLE_SIZE)
                .then_some(cfg.header_table_size),
            max_concurrent_streams: Some(cfg.max_concurrent_streams),
            initial_window_size: (cfg.initial_window_size != DEFAULT_WINDOW)
                .then_some(cfg.initial_window_size),
            max_frame_size: (max_frame_size != MIN_MAX_FRAME_SIZE).then_some(max_frame_size),
            max_header_list_size: Some(cfg.max_header_list_size),
            enable_connect_protocol: cfg.enable_connect_protocol.then_some(1),
            ..Settings::default()
        };
        settings.encode(&mut c.output);
        if connection_window > DEFAULT_WINDOW {
            WindowUpdate {
                stream_id: 0,
                increment: connection_window - DEFAULT_WINDOW,
            }
            .encode(&mut c.output);
        }
        c
    }

    // ----- input -----------------------------------------------------------

    /// Feeds bytes received from the client. Events become available through
    /// [`poll_event`](Self::poll_event) and replies through
    /// [`take_output`](Self::take_output).
    ///
    /// `Err` is a connection error (§5.4.1): GOAWAY is already queued; write
    /// the output and close. Later calls return the same error.
    pub fn recv(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.phase == Phase::Closed {
            return Ok(());
        }
        self.input.extend_from_slice(bytes);
        match self.process() {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = match e {
                    Error::Stream { code, reason, .. } => Error::conn(code, reason),
                    e => e,
                };
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn process(&mut self) -> Result<(), Error> {
        loop {
            match self.phase {
                Phase::Closed => {
                    self.input.clear();
                    return Ok(());
                }
                Phase::Preface => match detect_preface(&self.input) {
                    PrefaceMatch::Yes => {
                        self.input.advance(PREFACE.len());
                        self.phase = Phase::FirstSettings;
                    }
                    PrefaceMatch::NeedMore => return Ok(()),
                    // §3.4: "Clients and servers MUST treat an invalid
                    // connection preface as a connection error of type
                    // PROTOCOL_ERROR."
                    PrefaceMatch::No => {
                        return Err(Error::conn(
                            ErrorCode::PROTOCOL_ERROR,
                            "invalid connection preface",
                        ))
                    }
                },
                Phase::FirstSettings | Phase::Open => {
                    let frame = match self.frames.decode(&mut self.input) {
                        Ok(Some(f)) => f,
                        Ok(None) => return Ok(()),
                        // A stream-scoped size rule broken inside a field
                        // block is still an interleaved frame (§4.3).
                        Err(Error::Stream {
                            stream_id,
                            code,
                            reason,
                        }) if self.partial.is_none() && self.phase == Phase::Open => {
                            self.stream_error(stream_id, code, reason)?;
                            continue;
                        }
                        Err(Error::Stream { .. }) => {
                            return Err(Error::conn(
                                ErrorCode::PROTOCOL_ERROR,
                                "invalid frame inside a field block",
                            ))
                        }
                        Err(e) => return Err(e),
                    };
                    if self.phase == Phase::FirstSettings {
                        // §3.4: the preface "MUST be followed by a SETTINGS
                        // frame".
                        if !matches!(&frame, Frame::Settings(s) if !s.ack) {
                            return Err(Error::conn(
                                ErrorCode::PROTOCOL_ERROR,
                                "first frame is not SETTINGS",
                            ));
                        }
                        self.phase = Phase::Open;
                    }
                    self.handle(frame)?;
                }
            }
        }
    }

    fn handle(&mut self, frame: Frame) -> Result<(), Error> {
        if let Some(p) = &self.partial {
            // §4.3: a field block "MUST be transmitted as a contiguous
            // sequence of frames, with no interleaved frames of any other type
            // or from any other stream".
            if !matches!(&frame, Frame::Continuation(c) if c.stream_id == p.stream_id) {
                return Err(Error::conn(
                    ErrorCode::PROTOCOL_ERROR,
                    "frame interleaved in a field block",
                ));
            }
        }
        match frame {
            Frame::Data(d) => self.on_data(d),
            Frame::Headers(h) => self.on_headers(h),
            Frame::Continuation(c) => self.on_continuation(c),
            // §5.3.2: priority signals may be ignored; decoding has checked
            // the self-dependency rule (§5.3.1).
            Frame::Priority(_) => self.count_idle_control(),
            Frame::RstStream(r) => self.on_rst_stream(r),
            Frame::Settings(s) => self.on_settings(s),
            // §8.4: "A client cannot push. Thus, servers MUST treat the
            // receipt of a PUSH_PROMISE frame as a connection error of type
            // PROTOCOL_ERROR."
            Frame::PushPromise(_) => Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "PUSH_PROMISE from a client",
            )),
            Frame::Ping(p) => self.on_ping(p),
            Frame::GoAway(g) => {
                self.peer_goaway = true;
                self.events.push_back(Event::GoAway {
                    last_stream_id: g.last_stream_id,
                    code: g.code,
                    debug_data: g.debug_data,
                });
                Ok(())
            }
            Frame::WindowUpdate(w) => self.on_window_update(w),
            // §5.5: unknown frame types are ignored.
            Frame::Unknown(_) => self.count_idle_control(),
        }
    }

    fn on_headers(&mut self, h: Headers) -> Result<(), Error> {
        if h.fragment.len() > self.config.max_header_block_size {
            return Err(calm("field block too large"));
        }
        if h.end_headers {
            return self.on_block(h.stream_id, h.fragment, h.end_stream, h.priority);
        }
        if h.fragment.is_empty() {
            self.count_empty()?;
        }
        self.partial = Some(Partial {
            stream_id: h.stream_id,
            end_stream: h.end_stream,
            priority: h.priority,
            block: BytesMut::from(&h.fragment[..]),
        });
        Ok(())
    }

    fn on_continuation(&mut self, c: Continuation) -> Result<(), Error> {
        // §6.10: a CONTINUATION not preceded by HEADERS, PUSH_PROMISE or
        // CONTINUATION without END_HEADERS is a connection error.
        let Some(p) = self.partial.as_mut() else {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without a field block",
            ));
        };
        if p.block.len() + c.fragment.len() > self.config.max_header_block_size {
            return Err(calm("field block too large"));
        }
        p.block.extend_from_slice(&c.fragment);
        if !c.end_headers {
            if c.fragment.is_empty() {
                self.count_empty()?;
            }
            return Ok(());
        }
        let Some(p) = self.partial.take() else {
            return Ok(());
        };
        self.on_block(p.stream_id, p.block.freeze(), p.end_stream, p.priority)
    }

    /// A complete field block on `id`: a new request, or trailers.
    fn on_block(
        &mut self,
        id: u32,
        block: Bytes,
        end_stream: bool,
        priority: Option<PrioritySpec>,
    ) -> Result<(), Error> {
        // Decoded first, whatever becomes of the stream: the HPACK table must
        // see every block (§4.3).
        let decoded = self.decoder.decode(&block)?;
        // §5.1.1: "Streams initiated by a client MUST use odd-numbered stream
        // identifiers."
        if id % 2 == 0 {
            return Err(Error::conn(
                ErrorCode::PROTOCOL_ERROR,
                "even stream id from a client",
            ));
        }
        if self.streams.contains_key(&id) {
            return self.on_trailers(id, decoded, end_stream);
        }
        if id <= self.max_seen {
            return match self.ended(id) {
                Some(Ended::Ignored) => Ok(()),
                // §5.1 "closed": frames after END_STREAM are a connection
                // error of type STREAM_CLOSED.
                Some(Ended::Closed) => Err(Error::conn(
                    ErrorCode::STREAM_CLOSED,
                    "HEADERS on a closed stream",
                )),
                // §5.1.1: a new stream id "MUST be numerically greater than
                // all streams that the initiating endpoint has opened";
                // "an unexpected stream identifier" is a PROTOCOL_ERROR.
                None => Err(Error::conn(
                    ErrorCode::PROTOCOL_ERROR,
                    "stream id lower than one already used",
                )),
            };
        }
        self.max_seen = id;
        if let Shutdown::Final { last } = self.shutdown {
            // §6.8: after GOAWAY, streams above its last id are ignored.
            if id > last {
                self.remember(id, Ended::Ignored);
                return Ok(());
            }
        }
        if let Some(p) = priority {
            if let Err(Error::Stream { code, reason, .. }) = p.check(id) {
                return self.stream_error(id, code, reason);
            }
        }
        if decoded.too_large {
            return self.refuse_too_large(id, end_stream);
        }
        // §5.1.2: beyond SETTINGS_MAX_CONCURRENT_STREAMS, "a stream error of
        // type PROTOCOL_ERROR or REFUSED_STREAM"; REFUSED_STREAM tells the
        // client it may retry.
        if self.streams.len() >= self.config.max_concurrent_streams as usize {
            return self.stream_error(id, ErrorCode::REFUSED_STREAM, "too many concurrent streams");
        }
        let head = match message::request(decoded.fields, self.config.enable_connect_protocol) {
            Ok(h) => h,
            // §8.1.1: a malformed request is a stream error PROTOCOL_ERROR.
            Err(reason) => return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, reason),
        };
        if end_stream && head.content_length.is_some_and(|n| n != 0) {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, "content-length mismatch");
        }
        let mut stream = Stream::new(
            State::Idle.recv_headers(end_stream),
            self.peer_initial_window as i64,
            self.local_initial_window() as i64,
        );
        stream.content_length = head.content_length;
        self.streams.insert(id, stream);
        self.last_accepted = id;
        self.progress();
        self.events.push_back(Event::Request {
            stream_id: id,
            method: head.method,
            scheme: head.scheme,
            authority: head.authority,
            path: head.path,
            protocol: head.protocol,
            headers: head.headers,
            end_stream,
        });
        Ok(())
    }

    fn on_trailers(
        &mut self,
        id: u32,
        decoded: hpack::Block,
        end_stream: bool,
    ) -> Result<(), Error> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // §5.1 half-closed (remote): frames other than WINDOW_UPDATE,
        // PRIORITY and RST_STREAM are a stream error STREAM_CLOSED.
        if !stream.state.can_recv() {
            return self.stream_error(id, ErrorCode::STREAM_CLOSED, "HEADERS after END_STREAM");
        }
        // §8.1: a HEADERS frame after the header section that does not end
        // the stream makes the request malformed.
        if !end_stream {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, "trailers without END_STREAM");
        }
        if decoded.too_large {
            return self.stream_error(id, ErrorCode::ENHANCE_YOUR_CALM, "trailers too large");
        }
        if stream.content_length.is_some_and(|n| n != stream.received) {
            return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, "content-length mismatch");
        }
        let headers = match message::trailers(decoded.fields) {
            Ok(h) => h,
            Err(reason) => return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, reason),
        };
        stream.state = stream.state.recv_end_stream();
        self.progress();
        self.events.push_back(Event::Trailers {
            stream_id: id,
            headers,
        });
        self.close_if_done(id);
        Ok(())
    }

    /// A request whose fields exceed SETTINGS_MAX_HEADER_LIST_SIZE: answered
    /// 431 (RFC 6585 §5) on its stream, then, if the client is still sending,
    /// RST_STREAM NO_ERROR (§8.1: a complete early response lets the server
    /// stop the request "without error").
    fn refuse_too_large(&mut self, id: u32, end_stream: bool) -> Result<(), Error> {
        self.count_local_reset()?;
        let mut block = BytesMut::new();
        self.encoder
            .encode([(&b":status"[..], &b"431"[..], false)], &mut block);
        self.write_block(id, block.freeze(), true);
        if !end_stream {
            RstStream {
                stream_id: id,
                code: ErrorCode::NO_ERROR,
            }
            .encode(&mut self.output);
        }
        self.remember(id, Ended::Ignored);
        self.count_pending_control()
    }

    fn on_data(&mut self, d: Data) -> Result<(), Error> {
        let id = d.stream_id;
        let flow = d.flow_len();
        // §6.9: DATA counts against the connection window whatever becomes of
        // it; exceeding it is a connection error FLOW_CONTROL_ERROR (§6.9.1).
        if flow as i64 > self.conn_recv.get() {
            return Err(Error::conn(
                ErrorCode::FLOW_CONTROL_ERROR,
                "DATA beyond the connection window",
            ));
        }
        self.conn_recv.consume(flow);
        let Some(stream) = self.streams.get_mut(&id) else {
            // Nobody will consume it: give the credit back.
            self.release_connection(flow);
            if id > self.max_seen {
                // §5.1 idle: only HEADERS and PRIORITY may arrive.
                return Err(Error::conn(
                    ErrorCode::PROTOCOL_ERROR,
                    "DATA on an idle stream",
                ));
            }
            if self.ended(id) == Some(Ended::Ignored) {
                return Ok(());
            }
            // §5.1 "closed": after RST_STREAM, a stream error STREAM_CLOSED.
            return self.stream_error(id, ErrorCode::STREAM_CLOSED, "DATA on a closed stream");
        };
        if !stream.state.can_recv() {
            self.release_connection(flow);
            return self.stream_error(id, ErrorCode::STREAM_CLOSED, "DATA after END_STREAM");
        }
        // §6.9.1: beyond the stream window is a stream error.
        if flow as i64 > stream.recv.get() {
            self.release_connection(flow);
            return self.stream_error(
                id,
                ErrorCode::FLOW_CONTROL_ERROR,
                "DATA beyond the stream window",
            );
        }
        stream.recv.consume(flow);
        let len = d.data.len() as u32;
        stream.received += len as u64;
        // §8.1.1: content-length must equal the content received.
        if let Some(cl) = stream.content_length {
            if stream.received > cl || (d.end_stream && stream.received != cl) {
                self.release_connection(flow);
                return self.stream_error(id, ErrorCode::PROTOCOL_ERROR, "content-length mismatch");
            }
        }
        stream.unreleased += len;
        if d.end_stream {
            stream.state = stream.state.recv_end_stream();
        }
        // Padding never reaches the application: its credit returns now.
        let padding = flow - len;
        if padding > 0 {
            self.release_stream(id, padding);
        }
        if len == 0 && !d.end_stream {
            self.count_empty()?;
        } else if len > 0 {
            self.progress();
        }
        self.events.push_back(Event::Data {
            stream_id: id,
            data: d.data,
            end_stream: d.end_stream,
        });
        self.close_if_done(id);
        Ok(())
    }

    fn on_rst_stream(&mut self, r: RstStream) -> Result<(), Error> {
        let Some(stream) = self.streams.remove(&r.stream_id) else {
            // §6.4: RST_STREAM on an idle stream is a connection error.
            if r.stream_id > self.max_seen {
                return Err(Error::conn(
                    ErrorCode::PROTOCOL_ERROR,
                    "RST_STREAM on an idle stream",
                ));
            }
            return Ok(());
        };
        self.release_connection(stream.unreleased);
        self.remember(r.stream_id, Ended::Closed);
        self.events.push_back(Event::StreamReset {
            stream_id: r.stream_id,
            code: r.code,
            remote: true,
        });
        // CVE-2023-44487: a stream reset before its response ended is work
        // started for nothing. Past the budget, the connection goes.
        if stream.state.can_send() {
            self.peer_resets += 1;
            if self.peer_resets > self.config.max_peer_resets {
                return Err(calm("too many streams reset by the client"));
            }
        }
        Ok(())
    }

    fn on_settings(&mut self, s: Settings) -> Result<(), Error> {
        if s.ack {
            if self.settings_unacked > 0 {
                self.settings_unacked -= 1;
                if !self.local_settings_acked {
                    self.apply_local_settings();
                }
                self.events.push_back(Event::SettingsAcked);
            }
            return Ok(());
        }
        self.count_idle_control()?;
        if let Some(n) = s.header_table_size {
            self.encoder.set_max_table_size(n as usize);
        }
        if let Some(n) = s.initial_window_size {
            // §6.9.2: the change applies to every stream's send window, which
            // may go negative; past 2^31-1 is a connection FLOW_CONTROL_ERROR.
            let delta = n as i64 - self.peer_initial_window as i64;
            for stream in self.streams.values_mut() {
                if stream.send.adjust(delta).is_err() {
                    return Err(Error::conn(
                        ErrorCode::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE overflows a window",
                    ));
                }
            }
            self.peer_initial_window = n;
            if delta > 0 {
                self.wake_blocked();
            }
        }
        if let Some(n) = s.max_frame_size {
            self.peer_max_frame_size = n;
        }
        if let Some(n) = s.max_header_list_size {
            self.peer_max_header_list = Some(n);
        }
        // §6.5.3: "Upon receiving a SETTINGS frame ... the receiver MUST
        // immediately ... send a SETTINGS frame with the ACK flag set".
        Settings::ack().encode(&mut self.output);
        self.count_pending_control()
    }

    /// Our SETTINGS are acknowledged: values that could only be relied on
    /// from now on take effect (§6.5.3).
    fn apply_local_settings(&mut self) {
        let before = self.local_initial_window();
        self.local_settings_acked = true;
        self.decoder
            .set_max_table_size(self.config.header_table_size as usize);
        let delta = self.local_initial_window() as i64 - before as i64;
        if delta != 0 {
            for stream in self.streams.values_mut() {
                // Only shrinks here (see local_initial_window); cannot overflow.
                let _ = stream.recv.adjust(delta);
            }
        }
    }

    /// The receive window a new stream starts with. Before our SETTINGS are
    /// acknowledged the client may still count from 65,535 (§6.9.2), so a
    /// smaller advertised value is applied only after the ACK.
    fn local_initial_window(&self) -> u32 {
        if self.local_settings_acked {
            self.config.initial_window_size
        } else {
            self.config.initial_window_size.max(DEFAULT_WINDOW)
        }
    }

    fn on_ping(&mut self, p: Ping) -> Result<(), Error> {
        if p.ack {
            if p.payload == DRAIN_PING && self.shutdown == Shutdown::Announced {
                self.final_goaway(ErrorCode::NO_ERROR);
            } else {
                self.events.push_back(Event::PingAck { payload: p.payload });
            }
            return Ok(());
        }
        self.count_idle_control()?;
        // §6.7: "Receivers of a PING frame that does not include an ACK flag
        // MUST send a PING frame with the ACK flag set in response, with an
        // identical frame payload."
        Ping {
            ack: true,
            payload: p.payload,
        }
        .encode(&mut self.output);
        self.count_pending_control()
    }

    fn on_window_update(&mut self, w: WindowUpdate) -> Result<(), Error> {
        if w.stream_id == 0 {
            // §6.9.1: past 2^31-1 on the connection is a connection error.
            if self.conn_send.adjust(w.increment as i64).is_err() {
                return Err(Error::conn(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "connection window above 2^31-1",
                ));
            }
            self.wake_blocked();
            return Ok(());
        }
        let conn_open = self.conn_send.available() > 0;
        let Some(stream) = self.streams.get_mut(&w.stream_id) else {
            if w.stream_id > self.max_seen {
                return Err(Error::conn(
                    ErrorCode::PROTOCOL_ERROR,
                    "WINDOW_UPDATE on an idle stream",
                ));
            }
            // A closed stream: §6.9 says such updates may arrive; ignored.
            return Ok(());
        };
        // §6.9.1: past 2^31-1 on a stream is a stream error.
        if stream.send.adjust(w.increment as i64).is_err() {
            return self.stream_error(
                w.stream_id,
                ErrorCode::FLOW_CONTROL_ERROR,
                "stream window above 2^31-1",
            );
        }
        if stream.blocked && conn_open && stream.send.available() > 0 && stream.state.can_send() {
            stream.blocked = false;
            self.events.push_back(Event::SendReady {
                stream_id: w.stream_id,
            });
        }
        Ok(())
    }

    /// Reports every blocked stream that can send again.
    fn wake_blocked(&mut self) {
        if self.conn_send.available() == 0 {
            return;
        }
        for (&id, s) in self.streams.iter_mut() {
            if s.blocked && s.send.available() > 0 && s.state.can_send() {
                s.blocked = false;
                self.events.push_back(Event::SendReady { stream_id: id });
            }
        }
    }

    // ----- errors and abuse bounds ----------------------------------------

    /// A stream error (§5.4.2): RST_STREAM with `code`. Never on an idle
    /// stream (§6.4 forbids RST_STREAM there), where it becomes a connection
    /// error instead.
    fn stream_error(
        &mut self,
        id: u32,
        code: ErrorCode,
        reason: &'static str,
    ) -> Result<(), Error> {
        if id > self.max_seen {
            return Err(Error::conn(code, reason));
        }
        self.count_local_reset()?;
        self.reset_stream(id, code);
        self.count_pending_control()
    }

    /// Sends RST_STREAM and forgets the stream, reporting it to the
    /// application if it knew the stream.
    fn reset_stream(&mut self, id: u32, code: ErrorCode) {
        RstStream {
            stream_id: id,
            code,
        }
        .encode(&mut self.output);
        if let Some(s) = self.streams.remove(&id) {
            self.release_connection(s.unreleased);
            self.events.push_back(Event::StreamReset {
                stream_id: id,
                code,
                remote: false,
            });
        }
        self.remember(id, Ended::Ignored);
    }

    fn remember(&mut self, id: u32, how: Ended) {
        if self.config.reset_streams_remembered == 0 {
            return;
        }
        if self.ended.len() >= self.config.reset_streams_remembered {
            self.ended.pop_front();
        }
        self.ended.push_back((id, how));
    }

    fn ended(&self, id: u32) -> Option<Ended> {
        self.ended
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|(_, h)| *h)
    }

    fn count_local_reset(&mut self) -> Result<(), Error> {
        self.local_resets += 1;
        if self.local_resets > self.config.max_local_resets {
            return Err(calm("too many streams reset for client errors"));
        }
        Ok(())
    }

    fn count_pending_control(&mut self) -> Result<(), Error> {
        self.pending_control += 1;
        if self.pending_control > self.config.max_pending_control {
            return Err(calm("client does not read the replies to its frames"));
        }
        Ok(())
    }

    fn count_idle_control(&mut self) -> Result<(), Error> {
        self.idle_control += 1;
        if self.idle_control > self.config.max_idle_control_frames {
            return Err(calm("too many control frames"));
        }
        Ok(())
    }

    fn count_empty(&mut self) -> Result<(), Error> {
        self.empty_frames += 1;
        if self.empty_frames > self.config.max_empty_frames {
            return Err(calm("too many empty frames"));
        }
        Ok(())
    }

    /// The client did something useful: the flood counters start over.
    fn progress(&mut self) {
        self.idle_control = 0;
        self.empty_frames = 0;
    }

    /// A connection error (§5.4.1): GOAWAY with the last stream processed and
    /// the code; the connection is closed.
    fn fail(&mut self, e: Error) {
        if self.phase != Phase::Closed {
            GoAway {
                last_stream_id: self.last_accepted,
                code: e.code(),
                debug_data: Bytes::new(),
            }
            .encode(&mut self.output);
        }
        self.phase = Phase::Closed;
        self.streams.clear();
        self.partial = None;
        self.input.clear();
        self.error = Some(e);
    }

    // ----- flow control: what the application consumed ---------------------

    /// The application consumed `n` octets of content received on
    /// `stream_id`: the client may send that much more. WINDOW_UPDATE frames
    /// go out once half a window has been released, not for every call.
    /// Content of streams that are closed or reset needs no release.
    pub fn release_capacity(&mut self, stream_id: u32, n: usize) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let n = (n.min(u32::MAX as usize) as u32).min(stream.unreleased);
        stream.unreleased -= n;
        self.release_stream(stream_id, n);
    }

    /// Returns `n` octets of credit on a stream and on the connection.
    fn release_stream(&mut self, id: u32, n: u32) {
        let threshold = (self.config.initial_window_size / 2).max(1);
        if let Some(s) = self.streams.get_mut(&id) {
            // A stream the client has ended needs no more credit.
            if s.state.can_recv() {
                s.release_pending += n;
                if s.release_pending >= threshold {
                    let inc = s.release_pending;
                    s.release_pending = 0;
                    // Never above the advertised window, so never past 2^31-1.
                    let _ = s.recv.adjust(inc as i64);
                    WindowUpdate {
                        stream_id: id,
                        increment: inc,
                    }
                    .encode(&mut self.output);
                }
            }
        }
        self.release_connection(n);
    }

    fn release_connection(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        self.conn_release_pending += n;
        let threshold = (self.config.connection_window_size / 2).max(1);
        if self.conn_release_pending >= threshold {
            let inc = self.conn_release_pending;
            self.conn_release_pending = 0;
            let _ = self.conn_recv.adjust(inc as i64);
            WindowUpdate {
                stream_id: 0,
                increment: inc,
            }
            .encode(&mut self.output);
        }
    }

    /// Removes a stream both sides have ended; it completed normally, which
    /// earns back one unit of each reset budget.
    fn close_if_done(&mut self, id: u32) {
        if self
            .streams
            .get(&id)
            .is_some_and(|s| s.state == State::Closed)
        {
            if let Some(s) = self.streams.remove(&id) {
                self.release_connection(s.unreleased);
            }
            self.remember(id, Ended::Closed);
            self.peer_resets = self.peer_resets.saturating_sub(1);
            self.local_resets = self.local_resets.saturating_sub(1);
        }
    }

    // ----- output -----------------------------------------------------------

    fn check_open(&self) -> Result<(), SendError> {
        if self.phase == Phase::Closed {
            Err(SendError::ConnectionClosed)
        } else {
            Ok(())
        }
    }

    fn sendable(&self, id: u32) -> Result<&Stream, SendError> {
        self.check_open()?;
        let s = self.streams.get(&id).ok_or(SendError::UnknownStream)?;
        if !s.state.can_send() {
            return Err(SendError::StreamClosed);
        }
        Ok(s)
    }

    /// Sends the response head on `stream_id`: `:status` and `headers`
    /// (names lowercased, §8.2.1). An interim 1xx response may precede the
    /// final one. Connection-specific fields are refused (§8.2.2).
    pub fn send_response(
        &mut self,
        stream_id: u32,
        status: Status,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let s = self.sendable(stream_id)?;
        if s.responded {
            return Err(SendError::AlreadyResponded);
        }
        let interim = status.is_informational();
        // §8.6: 101 "is not applicable to HTTP/2"; §8.1: an interim
        // response cannot end the stream.
        if status == Status::SWITCHING_PROTOCOLS || (interim && end_stream) {
            return Err(SendError::InvalidStatus);
        }
        let block = self.encode_fields(Some(status), headers)?;
        self.write_block(stream_id, block, end_stream);
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.responded |= !interim;
        }
        if end_stream {
            self.end_local(stream_id);
        }
        Ok(())
    }

    /// Sends trailers, ending the stream (§8.1: no pseudo-header fields).
    pub fn send_trailers(&mut self, stream_id: u32, headers: &HeaderMap) -> Result<(), SendError> {
        let s = self.sendable(stream_id)?;
        if !s.responded {
            return Err(SendError::NoResponse);
        }
        let block = self.encode_fields(None, headers)?;
        self.write_block(stream_id, block, true);
        self.end_local(stream_id);
        Ok(())
    }

    /// Sends as much of `data` as flow control allows now, returning how many
    /// octets were taken. `end_stream` ends the stream only if all of `data`
    /// was taken. When fewer were taken, [`Event::SendReady`] reports when to
    /// try the rest.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        let s = self.sendable(stream_id)?;
        if !s.responded {
            return Err(SendError::NoResponse);
        }
        let room = s.send.available().min(self.conn_send.available()) as usize;
        let n = data.len().min(room);
        let end = end_stream && n == data.len();
        let max = self.peer_max_frame_size as usize;
        let mut chunks = data[..n].chunks(max).peekable();
        if n == 0 && end {
            self.write_data(stream_id, &[], true);
        }
        while let Some(chunk) = chunks.next() {
            self.write_data(stream_id, chunk, end && chunks.peek().is_none());
        }
        self.conn_send.consume(n as u32);
        if let Some(s) = self.streams.get_mut(&stream_id) {
            s.send.consume(n as u32);
            s.blocked = n < data.len();
        }
        if end {
            self.end_local(stream_id);
        }
        Ok(n)
    }

    /// The application has content for `stream_id` but
    /// [`send_capacity`](Self::send_capacity) is 0 (it does not read a file
    /// or pull a stream it could not send): report [`Event::SendReady`] when
    /// a WINDOW_UPDATE makes room (RFC 9113 §6.9), as after a short
    /// `send_data`.
    pub fn want_send(&mut self, stream_id: u32) {
        if let Some(s) = self.streams.get_mut(&stream_id) {
            if s.state.can_send() && s.responded {
                s.blocked = true;
            }
        }
    }

    /// Octets `send_data` would take now on `stream_id`.
    pub fn send_capacity(&self, stream_id: u32) -> usize {
        self.streams.get(&stream_id).map_or(0, |s| {
            s.send.available().min(self.conn_send.available()) as usize
        })
    }

    /// Resets a stream (RST_STREAM with `code`, e.g. CANCEL or NO_ERROR after
    /// a complete early response). No event is reported for it.
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) -> Result<(), SendError> {
        self.check_open()?;
        if !self.streams.contains_key(&stream_id) {
            return Err(SendError::UnknownStream);
        }
        let known = self.events.len();
        self.reset_stream(stream_id, code);
        self.events.truncate(known);
        Ok(())
    }

    /// Sends a PING; its ACK is reported as [`Event::PingAck`].
    pub fn send_ping(&mut self, payload: [u8; 8]) -> Result<(), SendError> {
        self.check_open()?;
        Ping {
            ack: false,
            payload,
        }
        .encode(&mut self.output);
        Ok(())
    }

    /// Starts a graceful shutdown (§6.8): GOAWAY with Last-Stream-ID 2^31-1
    /// and a PING now; when the PING's ACK shows the client has seen it, a
    /// second GOAWAY with the real last stream. Streams up to it are served to
    /// the end; [`should_close`](Self::should_close) says when all are done.
    pub fn go_away_graceful(&mut self) {
        if self.phase == Phase::Closed || self.shutdown != Shutdown::No {
            return;
        }
        GoAway {
            last_stream_id: MAX_WINDOW,
            code: ErrorCode::NO_ERROR,
            debug_data: Bytes::new(),
        }
        .encode(&mut self.output);
        Ping {
            ack: false,
            payload: DRAIN_PING,
        }
        .encode(&mut self.output);
        self.shutdown = Shutdown::Announced;
    }

    /// Sends GOAWAY at once with the last stream processed. With NO_ERROR the
    /// open streams are still served; with any other code the connection is
    /// closed now.
    pub fn go_away(&mut self, code: ErrorCode) {
        if self.phase == Phase::Closed {
            return;
        }
        if code == ErrorCode::NO_ERROR {
            if !matches!(self.shutdown, Shutdown::Final { .. }) {
                self.final_goaway(code);
            }
        } else {
            self.fail(Error::conn(code, "closed by the application"));
        }
    }

    fn final_goaway(&mut self, code: ErrorCode) {
        GoAway {
            last_stream_id: self.last_accepted,
            code,
            debug_data: Bytes::new(),
        }
        .encode(&mut self.output);
        self.shutdown = Shutdown::Final {
            last: self.last_accepted,
        };
    }

    /// Encodes `:status` (if any) and `headers` as one field block.
    fn encode_fields(
        &mut self,
        status: Option<Status>,
        headers: &HeaderMap,
    ) -> Result<Bytes, SendError> {
        let mut names: Vec<Cow<'_, [u8]>> = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            if !message::response_field_allowed(name, value) {
                return Err(SendError::ForbiddenHeader(name.clone()));
            }
            // §8.2.1: field names are sent in lowercase; most already are.
            let raw = name.as_bytes();
            names.push(if raw.iter().any(u8::is_ascii_uppercase) {
                Cow::Owned(raw.to_ascii_lowercase())
            } else {
                Cow::Borrowed(raw)
            });
        }
        let digits = status.map(|s| s.digits());
        let sensitive = &self.config.sensitive_headers;
        let fields = digits
            .iter()
            .map(|d| (&b":status"[..], &d[..], false))
            .chain(headers.iter().zip(&names).map(|((_, v), n)| {
                let s = sensitive.iter().any(|x| x.as_bytes() == &n[..]);
                (&n[..], v.as_bytes(), s)
            }));
        let mut block = BytesMut::new();
        self.encoder.encode(fields, &mut block);
        Ok(block.freeze())
    }

    /// Writes a field block as HEADERS and as many CONTINUATION frames as
    /// the peer's SETTINGS_MAX_FRAME_SIZE requires (§4.3).
    fn write_block(&mut self, id: u32, block: Bytes, end_stream: bool) {
        let max = self.peer_max_frame_size as usize;
        let mut rest = block;
        let first = rest.split_to(rest.len().min(max));
        Headers::new(id, first, end_stream, rest.is_empty()).encode(&mut self.output);
        while !rest.is_empty() {
            let part = rest.split_to(rest.len().min(max));
            Continuation {
                stream_id: id,
                fragment: part,
                end_headers: rest.is_empty(),
            }
            .encode(&mut self.output);
        }
    }

    fn write_data(&mut self, id: u32, chunk: &[u8], end_stream: bool) {
        FrameHeader {
            length: chunk.len() as u32,
            kind: frame::kind::DATA,
            flags: if end_stream {
                frame::flags::END_STREAM
            } else {
                0
            },
            stream_id: id,
        }
        .encode(&mut self.output);
        self.output.put_slice(chunk);
    }

    /// This side sent END_STREAM on `id`.
    fn end_local(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.state = s.state.send_end_stream();
        }
        self.close_if_done(id);
    }

    /// The bytes to write to the client, taken out of the connection.
    pub fn take_output(&mut self) -> Bytes {
        self.pending_control = 0;
        self.output.split().freeze()
    }

    /// The bytes waiting to be written, without taking them; pair with
    /// [`advance_output`](Self::advance_output).
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Drops the first `n` bytes of the output once they are written.
    pub fn advance_output(&mut self, n: usize) {
        self.output.advance(n.min(self.output.len()));
        if self.output.is_empty() {
            self.pending_control = 0;
        }
    }

    /// Whether there is output to write.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    // ----- state ------------------------------------------------------------

    /// Whether the connection is done: after a connection error, or once a
    /// GOAWAY (ours or the client's) is out and no stream is left. Write the
    /// remaining output, then close.
    pub fn should_close(&self) -> bool {
        self.phase == Phase::Closed
            || ((matches!(self.shutdown, Shutdown::Final { .. }) || self.peer_goaway)
                && self.streams.is_empty())
    }

    /// The connection error that closed the connection, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Open and half-closed streams.
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// The state of a stream: Idle for ids never used, Closed for ids used
    /// and finished.
    pub fn stream_state(&self, stream_id: u32) -> StreamState {
        match self.streams.get(&stream_id) {
            Some(s) => s.state,
            None if stream_id > self.max_seen => State::Idle,
            None => State::Closed,
        }
    }

    /// The peer's SETTINGS_MAX_HEADER_LIST_SIZE, if it sent one (advisory).
    pub fn peer_max_header_list_size(&self) -> Option<u32> {
        self.peer_max_header_list
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Default for Connection {
    fn default() -> Connection {
        Connection::new(Config::default())
    }
}

fn calm(reason: &'static str) -> Error {
    Error::conn(ErrorCode::ENHANCE_YOUR_CALM, reason)
}
