//! The connection machine (RFC 6455 §5–§7): bytes from the client in, events
//! and bytes for the client out.
//!
//! ```text
//!            close() ──▶ Closing ── peer's close ──▶ Closed
//!   Open ──┤
//!            peer's close (echoed) / protocol error (close sent) ──▶ Closed
//! ```
//!
//! [`WebSocket::recv`] decodes frames as they arrive and applies the rules
//! that span frames: fragmentation (§5.4) with control frames in between, UTF-8
//! of text messages checked across fragments as the bytes come (§8.1), the
//! size limits, the close handshake (§7.1) and ping/pong (§5.5.2, §5.5.3).
//! What the application should see is queued as [`Event`]s; what the client
//! must be sent (pongs, close frames, the application's messages) is appended
//! to one output buffer. With permessage-deflate negotiated (RFC 7692), data
//! messages flagged RSV1 are inflated as they arrive, in bounded pieces, and
//! our messages compressed.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{parse_close_payload, truncate_reason, CloseCode};
use crate::deflate::{Codec, DeflateParams};
use crate::error::{ProtocolError, SendError};
use crate::frame::MAX_CONTROL_PAYLOAD;
use crate::frame::{encode_frame, encode_message, FrameDecoder, FrameHeader, Mask, OpCode, Step};
use crate::limits::Settings;
use crate::utf8::Utf8Validator;

/// The type of a data message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }
}

/// A piece of a data message, in streaming mode ([`Settings::streaming`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The message's type.
    pub kind: MessageKind,
    /// The next bytes of the message (unmasked, decompressed). For text they
    /// are always whole UTF-8 characters: a character split across frames is
    /// held back until complete.
    pub data: Bytes,
    /// The last piece of the message.
    pub fin: bool,
}

impl Fragment {
    /// The piece as text, for a text message.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            MessageKind::Text => std::str::from_utf8(&self.data).ok(),
            MessageKind::Binary => None,
        }
    }
}

/// What happened on the connection, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text message.
    Text(String),
    /// A whole binary message.
    Binary(Bytes),
    /// The next piece of a data message (streaming mode only).
    Fragment(Fragment),
    /// A ping; the pong with the same payload is already queued (§5.5.2).
    Ping(Bytes),
    /// A pong, answered or not (§5.5.3: an unsolicited pong is allowed and
    /// needs no answer).
    Pong(Bytes),
    /// The client's close frame: its code (`None` for an empty close frame,
    /// which applications usually report as 1005) and reason. If we had not
    /// sent a close frame yet, the answer echoing the code is queued (§5.5.1).
    /// The connection is now closed.
    Close {
        /// The code, if the frame had one.
        code: Option<CloseCode>,
        /// The reason, possibly empty.
        reason: String,
    },
    /// We failed the connection (§7.1.7): the client broke the protocol or a
    /// limit. A close frame with the error's code is queued, unless we had
    /// sent one already. The connection is now closed.
    Failed(ProtocolError),
}

/// Where the close handshake stands (RFC 6455 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the client's: its data frames are
    /// dropped, nothing but the close is answered.
    Closing,
    /// The close handshake is complete, or the connection failed: write what
    /// is left of the output, then close the transport.
    Closed,
}

/// A data message being received.
#[derive(Debug)]
struct Incoming {
    kind: MessageKind,
    /// RSV1 was set on its first frame: the payload is deflated (RFC 7692 §6).
    compressed: bool,
    /// Bytes delivered so far (after decompression).
    size: usize,
    /// Payload bytes received so far (before decompression).
    wire: u64,
    /// The message so far (not in streaming mode).
    buf: Vec<u8>,
    utf8: Utf8Validator,
}

/// The frame being received.
#[derive(Clone, Copy, Debug)]
enum Frame {
    /// A control frame: its payload gathers in `control`.
    Control(OpCode),
    /// A frame of the data message in `incoming`.
    Data { fin: bool },
    /// A data frame we read past (after our close frame).
    Skip { fin: bool },
}

/// Chunks the message buffer grows by at most before the data is there: a
/// header announcing 16 MiB should not reserve 16 MiB.
const RESERVE_AHEAD: usize = 64 * 1024;

/// Compressed or streamed payload is unmasked this many bytes at a time, so
/// the buffer for it stays small whatever the caller hands to `recv`.
const UNMASK_CHUNK: usize = 4096;

/// The server side of one WebSocket connection, sans-IO.
///
/// See the crate documentation for the loop the server runs around it.
#[derive(Debug)]
pub struct WebSocket {
    settings: Settings,
    decoder: FrameDecoder,
    frame: Option<Frame>,
    control: Vec<u8>,
    incoming: Option<Incoming>,
    /// Unmasked payload on its way to the streaming output.
    scratch: Vec<u8>,
    events: VecDeque<Event>,
    /// Input received but not decoded yet: what followed the frame that gave
    /// the last event (see [`WebSocket::recv`]).
    pending: BytesMut,
    out: BytesMut,
    state: State,
    /// The type of the message we are sending in fragments, if one is open,
    /// and whether it is compressed.
    sending: Option<(MessageKind, bool)>,
    /// permessage-deflate, when negotiated.
    codec: Option<Codec>,
}

impl WebSocket {
    /// A connection with `settings` and no extension, right after the
    /// handshake's response.
    pub fn new(settings: Settings) -> WebSocket {
        WebSocket::with_deflate(settings, None)
    }

    /// A connection with permessage-deflate as negotiated by
    /// [`crate::deflate::negotiate`] (`None`: not negotiated). This is what
    /// [`crate::Handshake::accept`] builds.
    pub fn with_deflate(settings: Settings, deflate: Option<DeflateParams>) -> WebSocket {
        let mut decoder = FrameDecoder::new(settings.max_frame);
        // RFC 6455 §5.2: RSV1 is refused unless an extension gives it a
        // meaning; permessage-deflate does (RFC 7692 §6).
        decoder.allow_rsv1(deflate.is_some());
        WebSocket {
            settings,
            decoder,
            frame: None,
            control: Vec::new(),
            incoming: None,
            scratch: Vec::new(),
            events: VecDeque::new(),
            pending: BytesMut::new(),
            out: BytesMut::new(),
            state: State::Open,
            sending: None,
            codec: deflate.map(|p| Codec::new(p, &settings.deflate)),
        }
    }

    /// Whether permessage-deflate is in use.
    pub fn is_compressed(&self) -> bool {
        self.codec.is_some()
    }

    /// Feeds bytes received from the client. They are all taken, but decoded
    /// only up to the frame that gives the next event: the rest is kept and
    /// decoded by [`WebSocket::poll_event`] once the events before it are
    /// taken. So whatever the application sends in reply to an event (an
    /// echo, say) goes out before anything the later frames cause (a pong, or
    /// the close frame of a protocol error further on), as if each frame had
    /// arrived alone. Call `poll_event` until it returns `None` after each
    /// `recv`. Input after the connection closed is ignored.
    pub fn recv(&mut self, input: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if !self.pending.is_empty() || !self.events.is_empty() {
            // Earlier input or events come first.
            self.pending.extend_from_slice(input);
            return;
        }
        let n = self.decode(input);
        if self.state != State::Closed && n < input.len() {
            self.pending.extend_from_slice(&input[n..]);
        }
    }

    /// The next event, oldest first. When none is queued, decodes more of
    /// the input kept by [`WebSocket::recv`].
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() && !self.pending.is_empty() {
            let mut input = std::mem::take(&mut self.pending);
            let n = self.decode(&input);
            input.advance(n);
            if self.state == State::Closed {
                input.clear();
            }
            if input.is_empty() && input.capacity() > RESERVE_AHEAD {
                // Do not keep a large read's buffer for the connection's life.
                input = BytesMut::new();
            }
            self.pending = input;
        }
        self.events.pop_front()
    }

    /// Whether input is kept undecoded until the queued events are taken.
    pub fn has_pending_input(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Decodes `input` until an event is queued, the input is used up or the
    /// connection closes; returns how many bytes were used (all of them once
    /// closed: the rest is ignored).
    fn decode(&mut self, mut input: &[u8]) -> usize {
        let total = input.len();
        // A frame whose payload is complete is ended even after an event: its
        // end needs no input, and may be the end of a message.
        while self.state != State::Closed && (self.events.is_empty() || self.decoder.end_due()) {
            let step = match self.decoder.step(input) {
                Ok((n, step)) => {
                    input = &input[n..];
                    step
                }
                Err(e) => {
                    self.fail(e);
                    break;
                }
            };
            let r = match step {
                Step::Need => break,
                Step::Header(h) => self.on_header(h),
                Step::Payload(p, mask) => self.on_payload(p, mask),
                Step::End => self.on_frame_end(),
            };
            if let Err(e) = r {
                self.fail(e);
            }
        }
        if self.state == State::Closed {
            total
        } else {
            total - input.len()
        }
    }

    /// The bytes waiting to be written to the client.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of [`WebSocket::output`] were written.
    pub fn advance_output(&mut self, n: usize) {
        self.out.advance(n);
    }

    /// Takes all the bytes waiting to be written, without copying.
    pub fn take_output(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// Whether there is output to write.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Where the close handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection is over: once the output is written, the server
    /// closes the transport (RFC 6455 §7.1.1: the server closes TCP first).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The settings this connection runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    // ---- receiving -------------------------------------------------------

    fn on_header(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        if h.opcode.is_control() {
            self.control.clear();
            self.frame = Some(Frame::Control(h.opcode));
            return Ok(());
        }
        // §5.4: a message is one start frame (text or binary) and zero or
        // more continuations, and control frames only may come in between.
        let start = h.opcode != OpCode::Continuation;
        match (&self.incoming, start) {
            (Some(_), true) => {
                return Err(ProtocolError::protocol(
                    "new data frame inside a fragmented message",
                ))
            }
            (None, false) => return Err(ProtocolError::protocol("continuation without a message")),
            _ => {}
        }
        if self.state == State::Closing {
            // §7.1.4 / §5.5.1: after sending a close frame we wait for the
            // client's, reading past data frames without looking into them
            // (their framing still has to be followed).
            self.incoming = (!h.fin).then(|| Incoming {
                kind: MessageKind::Binary,
                compressed: false,
                size: 0,
                wire: 0,
                buf: Vec::new(),
                utf8: Utf8Validator::new(),
            });
            self.frame = Some(Frame::Skip { fin: h.fin });
            return Ok(());
        }
        let max = self.settings.max_message;
        let (so_far, compressed) = match &self.incoming {
            Some(m) => (m.size, m.compressed),
            None => (0, h.rsv1),
        };
        // An uncompressed frame's length tells its contribution to the
        // message: refuse an oversized message before reading it. A
        // compressed one is checked as it inflates.
        if !compressed && so_far as u64 + h.len > max as u64 {
            return Err(ProtocolError::too_big("message too large"));
        }
        if start {
            let kind = if h.opcode == OpCode::Text {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            self.incoming = Some(Incoming {
                kind,
                compressed,
                size: 0,
                wire: 0,
                buf: Vec::new(),
                utf8: Utf8Validator::new(),
            });
        }
        if !self.settings.streaming && !compressed {
            if let Some(m) = &mut self.incoming {
                let ahead = usize::try_from(h.len)
                    .unwrap_or(usize::MAX)
                    .min(RESERVE_AHEAD);
                reserve_within(&mut m.buf, ahead, max);
            }
        }
        self.frame = Some(Frame::Data { fin: h.fin });
        Ok(())
    }

    fn on_payload(&mut self, p: &[u8], mask: Mask) -> Result<(), ProtocolError> {
        match self.frame {
            Some(Frame::Control(_)) => {
                mask.unmask_into(p, &mut self.control);
                Ok(())
            }
            Some(Frame::Data { .. }) => {
                let Some(m) = &mut self.incoming else {
                    return Ok(());
                };
                m.wire += p.len() as u64;
                if m.compressed || self.settings.streaming {
                    // Unmasked a bounded piece at a time into a small buffer,
                    // then inflated or handed on as is.
                    let (settings, events) = (&self.settings, &mut self.events);
                    let mut mask = mask;
                    for piece in p.chunks(UNMASK_CHUNK) {
                        self.scratch.clear();
                        mask.unmask_into(piece, &mut self.scratch);
                        mask = mask.advance(piece.len());
                        match &mut self.codec {
                            Some(codec) if m.compressed => codec
                                .inflate(&self.scratch, &mut |b| deliver(m, b, settings, events))?,
                            _ => deliver(m, &self.scratch, settings, events)?,
                        }
                    }
                    Ok(())
                } else {
                    // Unmask straight into the message, then check what came.
                    reserve_within(&mut m.buf, p.len(), self.settings.max_message);
                    let start = m.buf.len();
                    mask.unmask_into(p, &mut m.buf);
                    m.size += p.len();
                    if m.kind == MessageKind::Text {
                        m.utf8
                            .feed(&m.buf[start..])
                            .map_err(|_| ProtocolError::invalid_payload("invalid UTF-8 in text"))?;
                    }
                    Ok(())
                }
            }
            Some(Frame::Skip { .. }) | None => Ok(()),
        }
    }

    fn on_frame_end(&mut self) -> Result<(), ProtocolError> {
        match self.frame.take() {
            Some(Frame::Control(op)) => self.on_control(op),
            Some(Frame::Data { fin: true }) => self.finish_message(),
            Some(Frame::Skip { fin }) => {
                if fin {
                    self.incoming = None;
                }
                Ok(())
            }
            Some(Frame::Data { fin: false }) | None => Ok(()),
        }
    }

    fn finish_message(&mut self) -> Result<(), ProtocolError> {
        let Some(mut m) = self.incoming.take() else {
            return Ok(());
        };
        // RFC 7692 §7.2.3.6: an empty message compresses to at least one
        // octet; some senders still send none. The tail alone would leave
        // our inflater inside a stored block, so an empty compressed payload
        // is taken as the empty message it means.
        if m.compressed && m.wire > 0 {
            let (settings, events) = (&self.settings, &mut self.events);
            if let Some(codec) = &mut self.codec {
                codec.finish_inflate(&mut |b| deliver(&mut m, b, settings, events))?;
            }
        }
        // §8.1: a text message must be whole UTF-8 at its end too (a code
        // point cut short by the last frame).
        if m.kind == MessageKind::Text && m.utf8.finish().is_err() {
            return Err(ProtocolError::invalid_payload("invalid UTF-8 in text"));
        }
        let event = if self.settings.streaming {
            Event::Fragment(Fragment {
                kind: m.kind,
                data: Bytes::new(),
                fin: true,
            })
        } else {
            match m.kind {
                MessageKind::Text => match String::from_utf8(m.buf) {
                    Ok(s) => Event::Text(s),
                    Err(_) => return Err(ProtocolError::invalid_payload("invalid UTF-8 in text")),
                },
                MessageKind::Binary => Event::Binary(Bytes::from(m.buf)),
            }
        };
        self.events.push_back(event);
        Ok(())
    }

    fn on_control(&mut self, op: OpCode) -> Result<(), ProtocolError> {
        match op {
            // §5.5.2: answer with a pong carrying the same payload, "as soon
            // as practical"; not after our close frame (§5.5.1), when pings
            // and pongs are read past.
            OpCode::Ping if self.state == State::Open => {
                encode_frame(&mut self.out, true, false, OpCode::Pong, &self.control);
                let payload = Bytes::copy_from_slice(&self.control);
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::Pong if self.state == State::Open => {
                let payload = Bytes::copy_from_slice(&self.control);
                self.events.push_back(Event::Pong(payload));
            }
            OpCode::Close => {
                let frame = parse_close_payload(&self.control)?;
                // §5.5.1: answer a close with a close (unless ours is already
                // out), echoing the status code.
                if self.state == State::Open {
                    let mut payload = [0; 2];
                    let len = match &frame {
                        Some(f) => {
                            payload = f.code.0.to_be_bytes();
                            2
                        }
                        None => 0,
                    };
                    encode_frame(&mut self.out, true, false, OpCode::Close, &payload[..len]);
                }
                self.state = State::Closed;
                self.incoming = None;
                let (code, reason) = match frame {
                    Some(f) => (Some(f.code), f.reason),
                    None => (None, String::new()),
                };
                self.events.push_back(Event::Close { code, reason });
            }
            // Data opcodes never reach here.
            _ => {}
        }
        Ok(())
    }

    /// Fails the connection (§7.1.7): a close frame with the error's code
    /// (unless ours is already out), then closed.
    fn fail(&mut self, e: ProtocolError) {
        if self.state == State::Open {
            write_close(&mut self.out, e.code, e.reason);
        }
        self.state = State::Closed;
        self.incoming = None;
        self.frame = None;
        self.events.push_back(Event::Failed(e));
    }

    // ---- sending ---------------------------------------------------------

    fn check_send(&self) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        Ok(())
    }

    /// Queues a text message (split per [`Settings::send_fragment`]).
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message (split per [`Settings::send_fragment`]).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(MessageKind::Binary, data)
    }

    fn send_message(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        self.check_send()?;
        let fragment = self.settings.send_fragment;
        match &mut self.codec {
            // RFC 7692 §6: compression is chosen per message; small ones go
            // out as they are.
            Some(codec) if codec.worth_compressing(data.len()) => {
                let mut z = Vec::new();
                codec.compress(data, true, &mut z);
                // §6.1: RSV1 on the first frame only.
                encode_message(&mut self.out, kind.opcode(), true, &z, fragment);
            }
            _ => encode_message(&mut self.out, kind.opcode(), false, data, fragment),
        }
        Ok(())
    }

    /// Queues the next piece of a message sent in fragments (§5.4): the first
    /// call starts a message of `kind`, each later one continues it, and the
    /// one with `fin` ends it. Control frames (ping, pong, close) may be sent
    /// in between; other messages may not. For text, the pieces together must
    /// be UTF-8; one piece may end inside a character.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        let (opcode, compressed) = match self.sending {
            Some((k, _)) if k != kind => return Err(SendError::KindMismatch),
            Some((_, c)) => (OpCode::Continuation, c),
            // A message sent in pieces is compressed whenever we can: its
            // size is not known up front.
            None => (kind.opcode(), self.codec.is_some()),
        };
        match &mut self.codec {
            Some(codec) if compressed => {
                let mut z = Vec::new();
                codec.compress(data, fin, &mut z);
                let rsv1 = opcode != OpCode::Continuation;
                encode_frame(&mut self.out, fin, rsv1, opcode, &z);
            }
            _ => encode_frame(&mut self.out, fin, false, opcode, data),
        }
        self.sending = (!fin).then_some((kind, compressed));
        Ok(())
    }

    /// Queues a ping (at most 125 bytes of payload, §5.5.2).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong, a one-way heartbeat (§5.5.3).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, op: OpCode, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        encode_frame(&mut self.out, true, false, op, payload);
        Ok(())
    }

    /// Starts the close handshake (§7.1.2): queues a close frame with `code`
    /// and `reason` (cut to 123 bytes on a character boundary). From now on
    /// the client's data is dropped and the connection is closed when its
    /// close frame arrives. The server should bound that wait with a timer of
    /// its own and close the transport when it expires.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        write_close(&mut self.out, code, reason);
        self.state = State::Closing;
        self.sending = None;
        Ok(())
    }
}

/// Makes room for `add` more bytes in a message buffer, growing it by
/// doubling as `Vec` does but never past `max` (the message limit) unless
/// the bytes need it: a message at the limit takes the limit, not twice it.
fn reserve_within(buf: &mut Vec<u8>, add: usize, max: usize) {
    let need = buf.len().saturating_add(add);
    if need > buf.capacity() {
        let target = need
            .max(buf.capacity().saturating_mul(2))
            .min(max.max(need));
        buf.reserve_exact(target - buf.len());
    }
}

/// Appends a close frame (§5.5.1): the code in network order, then the
/// reason.
fn write_close(out: &mut BytesMut, code: CloseCode, reason: &str) {
    let reason = truncate_reason(reason);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode_frame(out, true, false, OpCode::Close, &payload);
}

/// Hands the next bytes of a message on (unmasked, inflated): counted
/// against the size limit, checked as UTF-8 for text, then appended to the
/// message or, in streaming mode, queued as a [`Fragment`] of whole
/// characters.
fn deliver(
    m: &mut Incoming,
    data: &[u8],
    settings: &Settings,
    events: &mut VecDeque<Event>,
) -> Result<(), ProtocolError> {
    m.size += data.len();
    if m.size > settings.max_message {
        return Err(ProtocolError::too_big("message too large"));
    }
    if !settings.streaming {
        if m.kind == MessageKind::Text {
            m.utf8
                .feed(data)
                .map_err(|_| ProtocolError::invalid_payload("invalid UTF-8 in text"))?;
        }
        reserve_within(&mut m.buf, data.len(), settings.max_message);
        m.buf.extend_from_slice(data);
        return Ok(());
    }
    let bytes = match m.kind {
        MessageKind::Binary => Bytes::copy_from_slice(data),
        MessageKind::Text => {
            let mut whole = m.utf8.pending_bytes().to_vec();
            whole.extend_from_slice(data);
            m.utf8
                .feed(data)
                .map_err(|_| ProtocolError::invalid_payload("invalid UTF-8 in text"))?;
            whole.truncate(whole.len() - m.utf8.pending());
            Bytes::from(whole)
        }
    };
    if !bytes.is_empty() {
        events.push_back(Event::Fragment(Fragment {
            kind: m.kind,
            data: bytes,
            fin: false,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_buffers_grow_by_doubling_up_to_the_limit() {
        let max = 1 << 20;
        let mut buf = Vec::new();
        let mut caps = Vec::new();
        while buf.len() < max {
            let add = 1000.min(max - buf.len());
            reserve_within(&mut buf, add, max);
            buf.resize(buf.len() + add, 0);
            if caps.last() != Some(&buf.capacity()) {
                caps.push(buf.capacity());
            }
        }
        // Doubling (amortised), and the last step stops at the limit.
        assert!(caps.len() < 20, "{caps:?}");
        assert_eq!(buf.capacity(), max, "{caps:?}");
        // Bytes that need more than the limit still fit (the caller then
        // fails the message).
        reserve_within(&mut buf, 10, max);
        assert!(buf.capacity() >= max + 10);
    }
}
