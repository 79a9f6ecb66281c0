//! permessage-deflate through the handshake and the connection machine
//! (RFC 7692): negotiation in the response, compressed messages both ways,
//! fragmentation, context takeover, RSV1 rules.

mod common;

use bytes::Bytes;
use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Version};
use osprey_ws::frame::OpCode;
use osprey_ws::{DeflateSettings, Event, Handshake, MessageKind, Settings, WebSocket};

fn handshake(extensions: &str) -> Handshake {
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Extensions", extensions),
    ] {
        h.append(
            HeaderName::try_from(n).unwrap(),
            HeaderValue::try_from(v).unwrap(),
        );
    }
    Handshake::from_http1(&Method::Get, Version::Http11, &h).unwrap()
}

fn accept(extensions: &str, settings: Settings) -> (HeaderMap, WebSocket) {
    let a = handshake(extensions).accept(&settings, None);
    (a.headers, a.socket)
}

fn ext_header(h: &HeaderMap) -> Option<String> {
    h.get("sec-websocket-extensions")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// What a client's compressor would send: raw deflate, sync flush, tail cut.
fn client_compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut input = data;
    loop {
        out.reserve(1024);
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap();
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// What a client's decompressor makes of our compressed payload.
fn client_inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    let mut rest = &input[..];
    loop {
        out.reserve(64 * 1024);
        let before = d.total_in();
        d.decompress_vec(rest, &mut out, FlushDecompress::Sync)
            .unwrap();
        rest = &rest[(d.total_in() - before) as usize..];
        if rest.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    out
}

#[test]
fn negotiated_in_the_handshake() {
    let (h, ws) = accept(
        "permessage-deflate; client_no_context_takeover; client_max_window_bits",
        Settings::default(),
    );
    assert_eq!(ext_header(&h).as_deref(), Some("permessage-deflate"));
    assert!(ws.is_compressed());
    let (h, ws) = accept(
        "x-unknown, permessage-deflate; bogus, permessage-deflate",
        Settings::default(),
    );
    assert_eq!(ext_header(&h).as_deref(), Some("permessage-deflate"));
    assert!(ws.is_compressed());
    let (h, ws) = accept("permessage-deflate; bogus", Settings::default());
    assert_eq!(ext_header(&h), None);
    assert!(!ws.is_compressed());
    let off = Settings {
        deflate: DeflateSettings {
            enabled: false,
            ..DeflateSettings::default()
        },
        ..Settings::default()
    };
    let (h, ws) = accept("permessage-deflate", off);
    assert_eq!(ext_header(&h), None);
    assert!(!ws.is_compressed());
}

#[test]
fn rfc_7692_examples_through_the_machine() {
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    // §7.2.3.1: "Hello" compressed, one frame.
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    ws.recv(&frame_rsv1(true, 1, &hello));
    // §7.2.3.2: the same message again, referring back to the first.
    ws.recv(&frame_rsv1(true, 1, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    // §7.2.3.1: the compressed "Hello" in two fragments, RSV1 on the first.
    ws.recv(&frame_rsv1(false, 1, &hello[..3]));
    ws.recv(&frame(true, 0, &hello[3..]));
    // An uncompressed message on the same connection.
    ws.recv(&frame(true, 1, b"plain"));
    assert_eq!(
        events(&mut ws),
        vec![
            Event::Text("Hello".into()),
            Event::Text("Hello".into()),
            Event::Text("Hello".into()),
            Event::Text("plain".into()),
        ]
    );
    assert!(!ws.is_closed());
}

#[test]
fn empty_compressed_messages() {
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // §7.2.3.6: the empty message as one 00 octet...
    ws.recv(&frame_rsv1(true, 1, &[0x00]));
    // ...and as nothing at all, which some senders do: both leave the
    // inflater ready for the next message.
    ws.recv(&frame_rsv1(true, 1, b""));
    ws.recv(&frame_rsv1(false, 2, b""));
    ws.recv(&frame(true, 0, b""));
    ws.recv(&frame_rsv1(true, 1, &hello));
    assert_eq!(
        events(&mut ws),
        vec![
            Event::Text(String::new()),
            Event::Text(String::new()),
            Event::Binary(Bytes::new()),
            Event::Text("Hello".into()),
        ]
    );
    // We send it as 00, with RSV1, whatever came before.
    let settings = Settings {
        deflate: DeflateSettings {
            min_size: 0,
            ..DeflateSettings::default()
        },
        ..Settings::default()
    };
    let (_, mut ws) = accept("permessage-deflate", settings);
    ws.send_text("").unwrap();
    ws.send_text("").unwrap();
    let out = take_frames(&mut ws);
    assert!(out.iter().all(|o| o.rsv1 && o.payload == [0x00]), "{out:?}");
}

#[test]
fn rsv1_rules_under_permessage_deflate() {
    // RSV1 on a continuation frame.
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    ws.recv(&frame(false, 1, b"a"));
    ws.recv(&frame_rsv1(true, 0, b"b"));
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1002);
    // RSV1 on a control frame.
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    ws.recv(&frame_rsv1(true, 9, b""));
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1002);
    // Garbage where deflate data should be.
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    ws.recv(&frame_rsv1(true, 2, &[0xff; 8]));
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1007);
    // Compressed text that inflates to invalid UTF-8.
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
    ws.recv(&frame_rsv1(
        true,
        1,
        &client_compress(&mut c, b"ok \xed\xa0\x80"),
    ));
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1007);
}

#[test]
fn messages_both_ways_with_and_without_context_takeover() {
    // Under the 32 KiB window, so a repeat can refer to the previous one.
    let text: String = (0..700)
        .map(|i| format!("line {i} of some text; "))
        .collect();
    assert!(text.len() < 32 * 1024);
    for (offer, takeover) in [
        ("permessage-deflate", Some(true)),
        (
            "permessage-deflate; server_no_context_takeover",
            Some(false),
        ),
        // A 256-byte window cannot reach the previous message.
        (
            "permessage-deflate; server_max_window_bits=8; client_max_window_bits=9",
            None,
        ),
    ] {
        let (h, mut ws) = accept(offer, Settings::default());
        let ext = ext_header(&h).unwrap();
        assert!(ws.is_compressed(), "{offer}");
        let mut client_c = Compress::new_with_window_bits(Compression::default(), false, 9);
        let mut client_d = Decompress::new_with_window_bits(false, 15);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            // Client to server, in three fragments.
            let z = client_compress(&mut client_c, text.as_bytes());
            let third = z.len() / 3;
            ws.recv(&frame_rsv1(false, 1, &z[..third]));
            ws.recv(&frame(false, 0, &z[third..2 * third]));
            ws.recv(&frame(true, 0, &z[2 * third..]));
            assert_eq!(events(&mut ws), vec![Event::Text(text.clone())], "{offer}");
            // Server to client.
            ws.send_text(&text).unwrap();
            let out = take_frames(&mut ws);
            assert_eq!(out.len(), 1);
            assert!(out[0].rsv1 && out[0].fin && out[0].op == OpCode::Text);
            sizes.push(out[0].payload.len());
            assert_eq!(
                client_inflate(&mut client_d, &out[0].payload),
                text.as_bytes(),
                "{ext}"
            );
        }
        // With context takeover the repeats cost next to nothing.
        match takeover {
            Some(true) => assert!(sizes[1] < sizes[0] / 4, "{offer}: {sizes:?}"),
            Some(false) => assert_eq!(sizes[1], sizes[0], "{offer}"),
            None => {}
        }
    }
}

#[test]
fn small_messages_go_uncompressed_and_fragments_compressed() {
    let (_, mut ws) = accept("permessage-deflate", Settings::default());
    ws.send_text("tiny").unwrap();
    let out = take_frames(&mut ws);
    assert!(!out[0].rsv1);
    assert_eq!(out[0].payload, b"tiny");

    // A message sent in pieces: RSV1 on the first frame, one deflate stream.
    ws.send_fragment(MessageKind::Binary, &[1; 1000], false)
        .unwrap();
    ws.send_ping(b"between").unwrap();
    ws.send_fragment(MessageKind::Binary, &[2; 1000], false)
        .unwrap();
    ws.send_fragment(MessageKind::Binary, &[3; 1000], true)
        .unwrap();
    let out = take_frames(&mut ws);
    let flags: Vec<(OpCode, bool, bool)> = out.iter().map(|o| (o.op, o.rsv1, o.fin)).collect();
    assert_eq!(
        flags,
        vec![
            (OpCode::Binary, true, false),
            (OpCode::Ping, false, true),
            (OpCode::Continuation, false, false),
            (OpCode::Continuation, false, true),
        ]
    );
    let mut all = Vec::new();
    for o in out.iter().filter(|o| o.op != OpCode::Ping) {
        all.extend_from_slice(&o.payload);
    }
    let mut d = Decompress::new_with_window_bits(false, 15);
    let mut expect = vec![1; 1000];
    expect.extend([2; 1000]);
    expect.extend([3; 1000]);
    assert_eq!(client_inflate(&mut d, &all), expect);

    // Automatic fragmentation of a compressed message.
    let (_, mut ws) = accept(
        "permessage-deflate",
        Settings {
            send_fragment: 10,
            ..Settings::default()
        },
    );
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 31 % 256) as u8).collect();
    ws.send_binary(&data).unwrap();
    let out = take_frames(&mut ws);
    assert!(out.len() > 1);
    assert!(out[0].rsv1 && out[1..].iter().all(|o| !o.rsv1));
    let all: Vec<u8> = out.iter().flat_map(|o| o.payload.clone()).collect();
    let mut d = Decompress::new_with_window_bits(false, 15);
    assert_eq!(client_inflate(&mut d, &all), data);
}

#[test]
fn client_no_context_takeover_resets_our_inflater() {
    let settings = Settings {
        deflate: DeflateSettings {
            client_no_context_takeover: true,
            ..DeflateSettings::default()
        },
        ..Settings::default()
    };
    let (h, mut ws) = accept("permessage-deflate", settings);
    assert_eq!(
        ext_header(&h).as_deref(),
        Some("permessage-deflate; client_no_context_takeover")
    );
    // A client honouring it resets between messages.
    for _ in 0..3 {
        let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
        ws.recv(&frame_rsv1(
            true,
            2,
            &client_compress(&mut c, b"same again"),
        ));
    }
    assert_eq!(
        events(&mut ws),
        vec![Event::Binary(Bytes::from_static(b"same again")); 3]
    );
}

#[test]
fn streaming_mode_inflates_in_pieces() {
    let settings = Settings {
        streaming: true,
        ..Settings::default()
    };
    let (_, mut ws) = accept("permessage-deflate", settings);
    let data = vec![b'z'; 100_000];
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
    ws.recv(&frame_rsv1(true, 1, &client_compress(&mut c, &data)));
    let ev = events(&mut ws);
    assert!(ev.len() > 2, "delivered in pieces: {}", ev.len());
    let mut got = Vec::new();
    for e in &ev {
        let Event::Fragment(f) = e else {
            panic!("{e:?}")
        };
        assert!(f.data.len() <= osprey_ws::limits::INFLATE_CHUNK);
        got.extend_from_slice(&f.data);
    }
    assert_eq!(got, data);
}

#[test]
fn limit_applies_to_the_inflated_size() {
    let settings = Settings {
        max_message: 1000,
        ..Settings::default()
    };
    let (_, mut ws) = accept("permessage-deflate", settings);
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 15);
    ws.recv(&frame_rsv1(true, 2, &client_compress(&mut c, &[0; 1000])));
    assert_eq!(
        events(&mut ws),
        vec![Event::Binary(Bytes::from(vec![0; 1000]))]
    );
    ws.recv(&frame_rsv1(true, 2, &client_compress(&mut c, &[0; 1001])));
    assert!(ws.is_closed());
    assert_eq!(close_code(&take_frames(&mut ws)[0]), 1009);
}
