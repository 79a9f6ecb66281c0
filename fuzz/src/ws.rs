//! The property the `websocket` fuzz target checks, for `osprey-ws`'s
//! connection machine. Kept apart from `lib.rs` (the `osprey-h1` properties,
//! which `crates/h1/tests/fuzz_replay.rs` includes) so each crate's replay
//! test builds only what it depends on: the target includes this file with
//! `#[path]`, as `crates/ws/tests/fuzz_replay.rs` does. A failed property is a
//! panic.
//!
//! Input layout: `[cfg] [step] stream…`, the stream being what a client
//! sends after the handshake.
//!
//! - `cfg` bit 0: permessage-deflate negotiated (default offer); bit 1:
//!   streaming mode; bit 2: tight limits (frame 64, message 100 bytes).
//! - `step`: the second run feeds `step + 1` bytes per `recv` call.
//!
//! The stream goes to an echo server (each message sent back as it is
//! taken). Properties: never panics; `Failed` or `Close` is the last event and leaves
//! the machine closed; the output is well-formed server frames (unmasked,
//! control payloads <= 125, RSV1 only with deflate, on a data message's first
//! frame), ending with at most one close frame; and, outside streaming mode,
//! the stream whole and in `step + 1`-byte pieces give the same events and
//! the same output, echoes included.

use osprey_ws::deflate::negotiate;
use osprey_ws::frame::{FrameDecoder, OpCode, Step};
use osprey_ws::{DeflateSettings, Event, Settings, WebSocket};

/// The machine for a `cfg` byte.
pub fn machine(cfg: u8) -> WebSocket {
    let mut settings = Settings {
        streaming: cfg & 2 != 0,
        ..Settings::default()
    };
    if cfg & 4 != 0 {
        settings.max_frame = 64;
        settings.max_message = 100;
    }
    let params = if cfg & 1 != 0 {
        let offer = osprey_ws::extension::parse_extensions([&b"permessage-deflate"[..]])
            .expect("a valid offer");
        negotiate(&offer, &DeflateSettings::default())
    } else {
        None
    };
    WebSocket::with_deflate(settings, params)
}

/// Feeds `stream` `step` bytes at a time; the events and all the output.
pub fn run(cfg: u8, stream: &[u8], step: usize) -> (Vec<Event>, Vec<u8>) {
    let mut ws = machine(cfg);
    let mut events = Vec::new();
    let mut out = Vec::new();
    for piece in stream.chunks(step.max(1)) {
        ws.recv(piece);
        // An echo server: replies interleave with what the frames cause.
        while let Some(e) = ws.poll_event() {
            match &e {
                Event::Text(t) => {
                    let _ = ws.send_text(t);
                }
                Event::Binary(b) => {
                    let _ = ws.send_binary(b);
                }
                _ => {}
            }
            events.push(e);
        }
        out.extend_from_slice(&ws.take_output());
    }
    // Events after the end: none may follow a Close or a Failed.
    if let Some(i) = events
        .iter()
        .position(|e| matches!(e, Event::Close { .. } | Event::Failed(_)))
    {
        assert_eq!(i, events.len() - 1, "events after the end: {events:?}");
        assert!(ws.is_closed(), "ended but not closed");
    }
    check_output(&out, cfg & 1 != 0);
    (events, out)
}

/// The server's output is well-formed frames.
pub fn check_output(mut out: &[u8], deflate: bool) {
    let mut d = FrameDecoder::new(u64::MAX >> 1);
    d.accept_unmasked();
    d.allow_rsv1(true);
    let mut closes = 0;
    loop {
        let (n, step) = d.step(out).expect("our output decodes");
        out = &out[n..];
        match step {
            Step::Need => break,
            Step::Header(h) => {
                assert!(h.mask.is_none(), "server frames are not masked");
                assert!(!h.rsv1 || deflate, "RSV1 without permessage-deflate");
                assert!(
                    !h.rsv1 || matches!(h.opcode, OpCode::Text | OpCode::Binary),
                    "RSV1 on {:?}",
                    h.opcode
                );
                assert_eq!(closes, 0, "a frame after our close");
                if h.opcode == OpCode::Close {
                    closes += 1;
                    assert!(h.len == 0 || h.len >= 2, "close payload of one byte");
                }
            }
            Step::Payload(..) | Step::End => {}
        }
    }
    assert!(out.is_empty(), "output ends inside a frame");
}

/// The fuzz target's entry point.
pub fn websocket(data: &[u8]) {
    let [cfg, step, stream @ ..] = data else {
        return;
    };
    let whole = run(*cfg, stream, stream.len());
    let pieces = run(*cfg, stream, usize::from(*step) + 1);
    if cfg & 2 == 0 {
        assert_eq!(whole, pieces, "the split changed the outcome");
    }
}
