//! Property tests: any split of a valid client stream gives the same events
//! and output (an echo server's replies included) as the stream in one piece; random bytes never panic the
//! decoder, the machine or the header parsers; the incremental UTF-8
//! validator agrees with `std::str::from_utf8` whatever the split.

mod common;

use bytes::Bytes;
use common::*;
use flate2::{Compress, Compression, FlushCompress};
use osprey_ws::deflate::negotiate;
use osprey_ws::frame::{FrameDecoder, Step};
use osprey_ws::utf8::Utf8Validator;
use osprey_ws::{DeflateSettings, Event, Settings, State, WebSocket};
use proptest::prelude::*;

/// One thing a client sends.
#[derive(Clone, Debug)]
enum Msg {
    Text(String, usize),
    Binary(Vec<u8>, usize),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (".{0,40}", 1usize..20).prop_map(|(s, f)| Msg::Text(s, f)),
        (proptest::collection::vec(any::<u8>(), 0..300), 1usize..400)
            .prop_map(|(b, f)| Msg::Binary(b, f)),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Msg::Ping),
        proptest::collection::vec(any::<u8>(), 0..126).prop_map(Msg::Pong),
    ]
}

fn compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut input = data;
    loop {
        out.reserve(256);
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    // RFC 7692 §7.2.1: an empty message right after a flush gives no
    // output; the empty stored block it should end with leaves `00`.
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    } else {
        out.push(0);
    }
    out
}

/// The client's bytes for `msgs` (data messages cut into frames of `frag`
/// bytes, compressed when `deflate`), a close at the end if `close`, and the
/// events the server should report.
fn client_stream(msgs: &[Msg], deflate: bool, close: bool) -> (Vec<u8>, Vec<Event>) {
    let mut c = Compress::new_with_window_bits(Compression::fast(), false, 15);
    let mut wire = Vec::new();
    let mut expect = Vec::new();
    for m in msgs {
        let (op, data, frag) = match m {
            Msg::Text(s, f) => {
                expect.push(Event::Text(s.clone()));
                (1, s.as_bytes().to_vec(), *f)
            }
            Msg::Binary(b, f) => {
                expect.push(Event::Binary(Bytes::from(b.clone())));
                (2, b.clone(), *f)
            }
            Msg::Ping(p) => {
                wire.extend(frame(true, 9, p));
                expect.push(Event::Ping(Bytes::from(p.clone())));
                continue;
            }
            Msg::Pong(p) => {
                wire.extend(frame(true, 10, p));
                expect.push(Event::Pong(Bytes::from(p.clone())));
                continue;
            }
        };
        let payload = if deflate {
            compress(&mut c, &data)
        } else {
            data
        };
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(frag).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let fin = i + 1 == chunks.len();
            let opcode = if i == 0 { op } else { 0 };
            if deflate && i == 0 {
                wire.extend(frame_rsv1(fin, opcode, chunk));
            } else {
                wire.extend(frame(fin, opcode, chunk));
            }
        }
    }
    if close {
        wire.extend(frame(true, 8, &close_payload(1000, b"done")));
        expect.push(Event::Close {
            code: Some(osprey_ws::CloseCode::NORMAL),
            reason: "done".into(),
        });
    }
    (wire, expect)
}

fn new_ws(deflate: bool) -> WebSocket {
    let params = deflate
        .then(|| {
            let offer = osprey_ws::extension::parse_extensions([&b"permessage-deflate"[..]]);
            negotiate(&offer.unwrap(), &DeflateSettings::default())
        })
        .flatten();
    WebSocket::with_deflate(Settings::default(), params)
}

/// Feeds `wire` cut at `cuts` (sorted positions) to an echo server (every
/// message sent back as it is taken), returns events and output.
fn feed(deflate: bool, wire: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<u8>) {
    let mut ws = new_ws(deflate);
    let mut last = 0;
    let mut ev = Vec::new();
    for &c in cuts.iter().chain(std::iter::once(&wire.len())) {
        let c = c.clamp(last, wire.len());
        ws.recv(&wire[last..c]);
        last = c;
        while let Some(e) = ws.poll_event() {
            match &e {
                Event::Text(t) => ws.send_text(t).unwrap(),
                Event::Binary(b) => ws.send_binary(b).unwrap(),
                _ => {}
            }
            ev.push(e);
        }
    }
    (ev, ws.take_output().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_events(
        msgs in proptest::collection::vec(msg(), 0..12),
        deflate in any::<bool>(),
        close in any::<bool>(),
        mut cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let (wire, expect) = client_stream(&msgs, deflate, close);
        let whole = feed(deflate, &wire, &[]);
        prop_assert_eq!(&whole.0, &expect);
        let mut positions: Vec<usize> = cuts.drain(..).map(|i| i.index(wire.len() + 1)).collect();
        positions.sort_unstable();
        let split = feed(deflate, &wire, &positions);
        prop_assert_eq!(&split, &whole);
        // One byte at a time.
        let every: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(&feed(deflate, &wire, &every), &whole);
    }

    #[test]
    fn random_bytes_never_panic_the_machine(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        deflate in any::<bool>(),
        streaming in any::<bool>(),
        chunk in 1usize..64,
    ) {
        let params = deflate.then(|| {
            let offer = osprey_ws::extension::parse_extensions([&b"permessage-deflate"[..]]);
            negotiate(&offer.unwrap(), &DeflateSettings::default())
        }).flatten();
        let settings = Settings { streaming, max_message: 4096, max_frame: 2048, ..Settings::default() };
        let mut ws = WebSocket::with_deflate(settings, params);
        for piece in data.chunks(chunk) {
            ws.recv(piece);
        }
        let ev = events(&mut ws);
        // A failure or a close is the last event and closes the connection.
        for (i, e) in ev.iter().enumerate() {
            if matches!(e, Event::Failed(_) | Event::Close { .. }) {
                prop_assert_eq!(i, ev.len() - 1);
                prop_assert_eq!(ws.state(), State::Closed);
            }
        }
        // Whatever we wrote is well-formed frames.
        let _ = read_frames(&ws.take_output());
    }

    #[test]
    fn random_bytes_never_panic_the_decoder(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        rsv1 in any::<bool>(),
    ) {
        let mut d = FrameDecoder::new(1 << 20);
        d.allow_rsv1(rsv1);
        let mut input = &data[..];
        while let Ok((n, step)) = d.step(input) {
            input = &input[n..];
            if step == Step::Need {
                prop_assert!(input.is_empty());
                break;
            }
        }
    }

    #[test]
    fn random_extension_headers_never_panic(s in "[ -~]{0,80}") {
        let _ = osprey_ws::extension::parse_extensions([s.as_bytes()]);
    }

    #[test]
    fn utf8_validator_agrees_with_std(
        data in proptest::collection::vec(prop_oneof![
            any::<u8>(),
            0x80u8..0xc0,
            Just(0xe0u8), Just(0xedu8), Just(0xf0u8), Just(0xf4u8)
        ], 0..64),
        mut cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut positions: Vec<usize> = cuts.drain(..).map(|i| i.index(data.len() + 1)).collect();
        positions.sort_unstable();
        let mut v = Utf8Validator::new();
        let mut last = 0;
        let mut ok = true;
        for &c in positions.iter().chain(std::iter::once(&data.len())) {
            if v.feed(&data[last..c]).is_err() {
                ok = false;
                // Failing early is right only if no continuation of the
                // prefix could be valid: std agrees the prefix is broken.
                let e = std::str::from_utf8(&data[..c]).unwrap_err();
                prop_assert!(e.error_len().is_some());
                break;
            }
            last = c;
        }
        if ok {
            ok = v.finish().is_ok();
        }
        prop_assert_eq!(ok, std::str::from_utf8(&data).is_ok());
    }
}
