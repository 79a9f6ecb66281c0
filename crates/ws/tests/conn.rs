//! The connection machine against RFC 6455: messages, fragmentation, control
//! frames, UTF-8, the close handshake and its payload rules, the limits.

mod common;

use bytes::Bytes;
use common::*;
use osprey_ws::frame::OpCode;
use osprey_ws::{CloseCode, Event, Fragment, MessageKind, SendError, Settings, State, WebSocket};

fn new_ws() -> WebSocket {
    WebSocket::new(Settings::default())
}

/// Feeds `input`, returns the events and the frames written.
fn run(ws: &mut WebSocket, input: &[u8]) -> (Vec<Event>, Vec<Out>) {
    ws.recv(input);
    (events(ws), take_frames(ws))
}

/// The code of the close frame `input` makes the server send, checking the
/// connection is then closed with a `Failed` event.
fn fails_with(input: &[u8]) -> u16 {
    let mut ws = new_ws();
    let (ev, out) = run(&mut ws, input);
    assert!(ws.is_closed(), "not closed after {input:x?}: {ev:?}");
    assert!(matches!(ev.last(), Some(Event::Failed(_))), "{ev:?}");
    assert_eq!(out.len(), 1, "{out:?}");
    close_code(&out[0])
}

#[test]
fn rfc_5_7_single_frame_masked_hello() {
    let mut ws = new_ws();
    let (ev, out) = run(
        &mut ws,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(ev, vec![Event::Text("Hello".into())]);
    assert!(out.is_empty());
}

#[test]
fn rfc_5_7_fragmented_hello() {
    let mut ws = new_ws();
    let mut input = frame(false, 1, b"Hel");
    input.extend(frame(true, 0, b"lo"));
    let (ev, _) = run(&mut ws, &input);
    assert_eq!(ev, vec![Event::Text("Hello".into())]);
}

#[test]
fn rfc_5_7_ping_is_answered_with_the_same_payload() {
    let mut ws = new_ws();
    ws.recv(&frame(true, 9, b"Hello"));
    assert_eq!(ws.output(), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut ws),
        vec![Event::Ping(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_5_7_lengths_256_and_64k() {
    for len in [256usize, 65536] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut ws = new_ws();
        let (ev, _) = run(&mut ws, &frame(true, 2, &data));
        assert_eq!(ev, vec![Event::Binary(Bytes::from(data.clone()))]);
        // And our encoder writes the RFC's headers.
        ws.send_binary(&data).unwrap();
        let out = ws.take_output();
        if len == 256 {
            assert_eq!(&out[..4], [0x82, 0x7e, 0x01, 0x00]);
        } else {
            assert_eq!(&out[..10], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        }
        assert_eq!(&out[out.len() - len..], &data[..]);
    }
}

#[test]
fn control_frames_between_fragments() {
    let mut ws = new_ws();
    let mut input = frame(false, 1, b"fra");
    input.extend(frame(true, 9, b"p1"));
    input.extend(frame(false, 0, b"gme"));
    input.extend(frame(true, 10, b"unsolicited"));
    input.extend(frame(true, 0, b"nts"));
    let (ev, out) = run(&mut ws, &input);
    assert_eq!(
        ev,
        vec![
            Event::Ping(Bytes::from_static(b"p1")),
            Event::Pong(Bytes::from_static(b"unsolicited")),
            Event::Text("fragments".into()),
        ]
    );
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].op, &out[0].payload[..]), (OpCode::Pong, &b"p1"[..]));
}

#[test]
fn empty_messages_and_frames() {
    let mut ws = new_ws();
    let mut input = frame(true, 1, b"");
    input.extend(frame(true, 2, b""));
    input.extend(frame(false, 1, b""));
    input.extend(frame(false, 0, b""));
    input.extend(frame(true, 0, b""));
    input.extend(frame(true, 9, b""));
    let (ev, out) = run(&mut ws, &input);
    assert_eq!(
        ev,
        vec![
            Event::Text(String::new()),
            Event::Binary(Bytes::new()),
            Event::Text(String::new()),
            Event::Ping(Bytes::new()),
        ]
    );
    assert_eq!(out[0].op, OpCode::Pong);
}

#[test]
fn fragmentation_rules() {
    // A continuation with no message begun.
    assert_eq!(fails_with(&frame(true, 0, b"x")), 1002);
    // A new text frame inside a fragmented message.
    let mut input = frame(false, 1, b"a");
    input.extend(frame(true, 1, b"b"));
    assert_eq!(fails_with(&input), 1002);
    let mut input = frame(false, 2, b"a");
    input.extend(frame(false, 2, b"b"));
    assert_eq!(fails_with(&input), 1002);
    // A fragmented ping.
    assert_eq!(fails_with(&frame(false, 9, b"x")), 1002);
}

#[test]
fn per_frame_violations_close_1002() {
    // Unmasked.
    assert_eq!(fails_with(&[0x81, 0x01, b'a']), 1002);
    // RSV bits with nothing negotiated.
    for rsv in [0x40u8, 0x20, 0x10] {
        assert_eq!(fails_with(&frame_raw(0x81 | rsv, b"a", [1, 2, 3, 4])), 1002);
    }
    // Reserved opcodes.
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(fails_with(&frame(true, op, b"")), 1002);
    }
    // A control frame over 125 bytes.
    assert_eq!(fails_with(&frame(true, 9, &[0; 126])), 1002);
    // Non-minimal length.
    assert_eq!(fails_with(&[0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4]), 1002);
}

#[test]
fn text_utf8_is_checked_early_across_fragments() {
    // A code point split across frames is fine.
    let euro = "€".as_bytes();
    let mut ws = new_ws();
    let mut input = frame(false, 1, &euro[..1]);
    input.extend(frame(false, 0, &euro[1..2]));
    input.extend(frame(true, 0, &euro[2..]));
    assert_eq!(run(&mut ws, &input).0, vec![Event::Text("€".into())]);

    // Invalid in the first fragment: failed before the rest arrives.
    for bad in [
        &b"\xc0\xaf"[..],        // overlong
        b"\xe0\x80\xaf",         // overlong, 3 bytes
        b"\xed\xa0\x80",         // surrogate
        b"\xf4\x90\x80\x80",     // > U+10FFFF
        b"\xf8\x88\x80\x80\x80", // 5-byte form
        b"\x80",                 // lone continuation
    ] {
        let mut ws = new_ws();
        let (ev, out) = run(&mut ws, &frame(false, 1, bad));
        assert!(ws.is_closed(), "{bad:x?}");
        assert!(matches!(ev[..], [Event::Failed(_)]), "{ev:?}");
        assert_eq!(close_code(&out[0]), 1007, "{bad:x?}");
    }
    // Invalid at the second byte of a frame that is still arriving.
    let mut ws = new_ws();
    let whole = frame(true, 1, b"ab\xed\xa0\x80cdefgh");
    ws.recv(&whole[..6 + 4]);
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1007);
    // Truncated at the end of the message: only the end can tell.
    let mut ws = new_ws();
    let mut input = frame(false, 1, b"a\xe2\x82");
    ws.recv(&input);
    assert!(!ws.is_closed());
    input = frame(true, 0, b"");
    ws.recv(&input);
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1007);
    // Binary messages are not checked.
    let mut ws = new_ws();
    assert_eq!(
        run(&mut ws, &frame(true, 2, b"\xff")).0,
        vec![Event::Binary(Bytes::from_static(b"\xff"))]
    );
}

#[test]
fn close_is_echoed_and_ends_the_connection() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut ws = new_ws();
        let (ev, out) = run(&mut ws, &frame(true, 8, &close_payload(code, b"bye")));
        assert_eq!(
            ev,
            vec![Event::Close {
                code: Some(CloseCode(code)),
                reason: "bye".into()
            }]
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload, code.to_be_bytes());
        assert!(ws.is_closed());
        assert_eq!(ws.state(), State::Closed);
        assert_eq!(ws.send_text("late"), Err(SendError::Closed));
    }
    // An empty close is answered with an empty close.
    let mut ws = new_ws();
    let (ev, out) = run(&mut ws, &frame(true, 8, b""));
    assert_eq!(
        ev,
        vec![Event::Close {
            code: None,
            reason: String::new()
        }]
    );
    assert_eq!(out[0].payload, b"");
    // A 123-byte reason is fine.
    let mut ws = new_ws();
    let reason = vec![b'r'; 123];
    let (ev, _) = run(&mut ws, &frame(true, 8, &close_payload(1000, &reason)));
    assert!(matches!(&ev[0], Event::Close { reason: r, .. } if r.len() == 123));
}

#[test]
fn close_payload_rules() {
    // Length 1.
    assert_eq!(fails_with(&frame(true, 8, b"\x03")), 1002);
    // Codes that may not be sent.
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            fails_with(&frame(true, 8, &close_payload(code, b""))),
            1002,
            "{code}"
        );
    }
    // A reason that is not UTF-8.
    assert_eq!(
        fails_with(&frame(true, 8, &close_payload(1000, b"\xce\xba\xe1\xbd"))),
        1007
    );
    // Over 125 bytes.
    assert_eq!(
        fails_with(&frame(true, 8, &close_payload(1000, &[b'a'; 124]))),
        1002
    );
}

#[test]
fn nothing_is_read_after_the_close() {
    // Autobahn 7.1.6: data, close, ping back to back: the message is
    // delivered, the close answered, the ping not.
    let mut ws = new_ws();
    let mut input = frame(true, 1, b"Hello World!");
    input.extend(frame(true, 8, &close_payload(1000, b"")));
    input.extend(frame(true, 9, b""));
    input.extend(frame(true, 0xf, b""));
    let (ev, out) = run(&mut ws, &input);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0], Event::Text("Hello World!".into()));
    assert_eq!(out.len(), 1);
    assert_eq!(close_code(&out[0]), 1000);
}

#[test]
fn our_close_then_theirs() {
    let mut ws = new_ws();
    ws.close(CloseCode::GOING_AWAY, "shutting down").unwrap();
    assert_eq!(ws.state(), State::Closing);
    let out = take_frames(&mut ws);
    assert_eq!(close_code(&out[0]), 1001);
    assert_eq!(&out[0].payload[2..], b"shutting down");
    assert_eq!(ws.send_text("x"), Err(SendError::Closed));
    assert_eq!(ws.send_ping(b""), Err(SendError::Closed));
    assert_eq!(ws.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
    // Data, fragmented data and pings while closing are read past; the close
    // completes the handshake and is not answered again.
    let mut input = frame(true, 1, b"ignored");
    input.extend(frame(false, 2, b"also"));
    input.extend(frame(true, 9, b"no pong"));
    input.extend(frame(true, 0, b"ignored"));
    input.extend(frame(true, 8, &close_payload(1001, b"")));
    let (ev, out) = run(&mut ws, &input);
    assert_eq!(
        ev,
        vec![Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: String::new()
        }]
    );
    assert!(out.is_empty());
    assert!(ws.is_closed());
}

#[test]
fn close_rejects_codes_that_may_not_be_sent() {
    let mut ws = new_ws();
    assert_eq!(
        ws.close(CloseCode::NO_STATUS, ""),
        Err(SendError::InvalidCloseCode)
    );
    assert_eq!(
        ws.close(CloseCode(1006), ""),
        Err(SendError::InvalidCloseCode)
    );
    assert_eq!(ws.state(), State::Open);
    // A long reason is cut to fit.
    ws.close(CloseCode::NORMAL, &"é".repeat(100)).unwrap();
    let out = take_frames(&mut ws);
    assert!(out[0].payload.len() <= 125);
    assert!(std::str::from_utf8(&out[0].payload[2..]).is_ok());
}

#[test]
fn limits_close_1009() {
    let settings = Settings {
        max_message: 10,
        max_frame: 8,
        ..Settings::default()
    };
    // One frame over the frame limit: refused from its header.
    let mut ws = WebSocket::new(settings);
    ws.recv(&frame(true, 2, &[0; 9])[..2]);
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1009);
    // Fragments adding up past the message limit.
    let mut ws = WebSocket::new(settings);
    let mut input = frame(false, 2, &[0; 6]);
    input.extend(frame(true, 0, &[0; 5]));
    ws.recv(&input);
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1009);
    // Exactly at the limit is fine.
    let mut ws = WebSocket::new(settings);
    let mut input = frame(false, 2, &[0; 5]);
    input.extend(frame(true, 0, &[0; 5]));
    ws.recv(&input);
    assert_eq!(
        events(&mut ws),
        vec![Event::Binary(Bytes::from(vec![0; 10]))]
    );
}

#[test]
fn input_after_failure_is_ignored() {
    let mut ws = new_ws();
    ws.recv(&[0x81, 0x01, b'a']);
    assert!(ws.is_closed());
    let _ = events(&mut ws);
    let _ = ws.take_output();
    ws.recv(&frame(true, 1, b"more"));
    assert!(events(&mut ws).is_empty());
    assert!(!ws.has_output());
}

#[test]
fn sending() {
    let mut ws = new_ws();
    ws.send_text("Hello").unwrap();
    assert_eq!(ws.output(), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    ws.advance_output(2);
    assert_eq!(ws.output(), b"Hello");
    ws.advance_output(5);
    ws.send_ping(b"p").unwrap();
    ws.send_pong(b"q").unwrap();
    assert_eq!(ws.send_ping(&[0; 126]), Err(SendError::ControlTooLong));
    let out = take_frames(&mut ws);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].op, out[1].op), (OpCode::Ping, OpCode::Pong));

    // Fragments with a ping in between; no other message meanwhile.
    ws.send_fragment(MessageKind::Text, b"Hel", false).unwrap();
    ws.send_ping(b"").unwrap();
    assert_eq!(ws.send_text("x"), Err(SendError::MessageInProgress));
    assert_eq!(
        ws.send_fragment(MessageKind::Binary, b"x", true),
        Err(SendError::KindMismatch)
    );
    ws.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    let out = take_frames(&mut ws);
    let summary: Vec<(OpCode, bool, &[u8])> =
        out.iter().map(|o| (o.op, o.fin, &o.payload[..])).collect();
    assert_eq!(
        summary,
        vec![
            (OpCode::Text, false, &b"Hel"[..]),
            (OpCode::Ping, true, b""),
            (OpCode::Continuation, true, b"lo"),
        ]
    );
    ws.send_text("x").unwrap();
}

#[test]
fn automatic_fragmentation() {
    let mut ws = WebSocket::new(Settings {
        send_fragment: 4,
        ..Settings::default()
    });
    ws.send_binary(b"0123456789").unwrap();
    let out = take_frames(&mut ws);
    let summary: Vec<(OpCode, bool, &[u8])> =
        out.iter().map(|o| (o.op, o.fin, &o.payload[..])).collect();
    assert_eq!(
        summary,
        vec![
            (OpCode::Binary, false, &b"0123"[..]),
            (OpCode::Continuation, false, b"4567"),
            (OpCode::Continuation, true, b"89"),
        ]
    );
}

#[test]
fn streaming_mode_delivers_pieces() {
    let mut ws = WebSocket::new(Settings {
        streaming: true,
        ..Settings::default()
    });
    let euro = "€".as_bytes();
    let mut input = frame(false, 1, &[b'a', euro[0]]);
    input.extend(frame(true, 9, b""));
    input.extend(frame(true, 0, &[euro[1], euro[2], b'b']));
    // Byte by byte: every piece is whole characters.
    for b in &input {
        ws.recv(std::slice::from_ref(b));
    }
    let ev = events(&mut ws);
    let mut text = String::new();
    let mut ended = false;
    for e in &ev {
        match e {
            Event::Fragment(f) => {
                assert_eq!(f.kind, MessageKind::Text);
                text.push_str(f.text().expect("whole characters"));
                ended |= f.fin;
            }
            Event::Ping(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(ended);
    assert_eq!(text, "a€b");
    assert_eq!(
        ev.last(),
        Some(&Event::Fragment(Fragment {
            kind: MessageKind::Text,
            data: Bytes::new(),
            fin: true
        }))
    );
}

/// An echo server's loop: everything handed over at once, each event
/// answered as it is taken.
fn echo(ws: &mut WebSocket, input: &[u8]) -> Vec<Out> {
    ws.recv(input);
    while let Some(e) = ws.poll_event() {
        match e {
            Event::Text(t) => {
                let _ = ws.send_text(&t);
            }
            Event::Binary(b) => {
                let _ = ws.send_binary(&b);
            }
            _ => {}
        }
    }
    take_frames(ws)
}

#[test]
fn replies_go_out_before_what_later_frames_cause() {
    // Autobahn 3.2: a text message, a frame with RSV2, a ping, back to back.
    // The echo of the message goes out, then the close; no pong.
    let mut ws = new_ws();
    let mut input = frame(true, 1, b"Hello, world!");
    input.extend(frame_raw(0x81 | 0x20, b"Hello, world!", [1, 2, 3, 4]));
    input.extend(frame(true, 9, b""));
    let out = echo(&mut ws, &input);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        (out[0].op, &out[0].payload[..]),
        (OpCode::Text, &b"Hello, world!"[..])
    );
    assert_eq!(close_code(&out[1]), 1002);
    assert!(ws.is_closed());
    // Two messages then a ping: echo, echo, pong, in wire order.
    let mut ws = new_ws();
    let mut input = frame(true, 1, b"one");
    input.extend(frame(true, 2, b"two"));
    input.extend(frame(true, 9, b"p"));
    let out = echo(&mut ws, &input);
    let ops: Vec<OpCode> = out.iter().map(|o| o.op).collect();
    assert_eq!(ops, vec![OpCode::Text, OpCode::Binary, OpCode::Pong]);
    assert!(!ws.has_pending_input());
}

#[test]
fn input_is_kept_until_events_are_taken() {
    let mut ws = new_ws();
    let mut input = frame(true, 1, b"a");
    input.extend(frame(true, 1, b"b"));
    ws.recv(&input);
    assert!(ws.has_pending_input());
    // More input while events wait is kept behind it, in order.
    ws.recv(&frame(true, 1, b"c"));
    assert_eq!(
        events(&mut ws),
        vec![
            Event::Text("a".into()),
            Event::Text("b".into()),
            Event::Text("c".into())
        ]
    );
    assert!(!ws.has_pending_input());
}
