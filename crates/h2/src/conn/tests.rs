//! The connection driven by hand-built client frames: preface, settings,
//! requests, content with flow control, resets, GOAWAY, and every error scope.

use bytes::{Bytes, BytesMut};
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Method, Status};
use proptest::prelude::*;

use super::*;
use crate::frame::{FrameDecoder, Priority, PushPromise, Unknown, MAX_LENGTH};

/// A test client: an HPACK encoder for requests and a decoder for responses.
struct Client {
    enc: hpack::Encoder,
    dec: hpack::Decoder,
}

impl Client {
    fn new() -> Client {
        Client {
            enc: hpack::Encoder::new(4096),
            dec: hpack::Decoder::new(4096, usize::MAX),
        }
    }

    fn block(&mut self, fields: &[(&str, &str)]) -> Bytes {
        let mut out = BytesMut::new();
        self.enc.encode(
            fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut out,
        );
        out.freeze()
    }

    fn headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let b = self.block(fields);
        enc(Frame::Headers(Headers::new(id, b, end_stream, true)))
    }

    fn get(&mut self, id: u32) -> Vec<u8> {
        self.headers(id, GET, true)
    }

    fn decode(&mut self, block: &Bytes) -> Vec<(String, String)> {
        self.dec
            .decode(block)
            .unwrap()
            .fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8(f.name.to_vec()).unwrap(),
                    String::from_utf8(f.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }
}

const GET: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/"),
];

const POST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/upload"),
];

fn enc(f: Frame) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out);
    out
}

fn settings(s: Settings) -> Vec<u8> {
    enc(Frame::Settings(s))
}

fn data(id: u32, bytes: &[u8], end_stream: bool) -> Vec<u8> {
    enc(Frame::Data(Data::new(
        id,
        Bytes::copy_from_slice(bytes),
        end_stream,
    )))
}

fn rst(id: u32, code: ErrorCode) -> Vec<u8> {
    enc(Frame::RstStream(RstStream {
        stream_id: id,
        code,
    }))
}

fn window_update(id: u32, increment: u32) -> Vec<u8> {
    enc(Frame::WindowUpdate(WindowUpdate {
        stream_id: id,
        increment,
    }))
}

fn ping(payload: [u8; 8], ack: bool) -> Vec<u8> {
    enc(Frame::Ping(Ping { ack, payload }))
}

/// Every frame in `bytes`.
fn frames(bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let d = FrameDecoder::new(MAX_LENGTH);
    let mut out = Vec::new();
    while let Some(f) = d.decode(&mut buf).unwrap() {
        out.push(f);
    }
    assert!(buf.is_empty(), "partial frame in output");
    out
}

fn out_frames(c: &mut Connection) -> Vec<Frame> {
    frames(&c.take_output())
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// A connection past the preface and both SETTINGS exchanges, output and
/// events drained.
fn open(config: Config) -> (Connection, Client) {
    let mut c = Connection::new(config);
    let mut input = PREFACE.to_vec();
    input.extend(settings(Settings::default()));
    input.extend(settings(Settings::ack()));
    c.recv(&input).unwrap();
    c.take_output();
    assert_eq!(events(&mut c), [Event::SettingsAcked]);
    (c, Client::new())
}

fn goaway_code(fs: &[Frame]) -> Option<ErrorCode> {
    fs.iter().find_map(|f| match f {
        Frame::GoAway(g) => Some(g.code),
        _ => None,
    })
}

fn rst_code(fs: &[Frame], id: u32) -> Option<ErrorCode> {
    fs.iter().find_map(|f| match f {
        Frame::RstStream(r) if r.stream_id == id => Some(r.code),
        _ => None,
    })
}

/// Feeds `input` expecting a connection error with `code`.
fn expect_conn_error(c: &mut Connection, input: &[u8], code: ErrorCode) {
    let e = c.recv(input).unwrap_err();
    assert!(e.is_connection(), "{e}");
    assert_eq!(e.code(), code, "{e}");
    let fs = out_frames(c);
    assert_eq!(goaway_code(&fs), Some(code), "{fs:?}");
    assert!(c.should_close());
    // Later input gets the same answer and nothing more is written.
    assert_eq!(c.recv(b"more").unwrap_err(), e);
    assert!(!c.has_output());
}

/// Feeds `input` expecting RST_STREAM `code` on `id` and a live connection.
fn expect_stream_error(c: &mut Connection, input: &[u8], id: u32, code: ErrorCode) -> Vec<Frame> {
    c.recv(input).unwrap();
    let fs = out_frames(c);
    assert_eq!(rst_code(&fs, id), Some(code), "{fs:?}");
    assert_eq!(goaway_code(&fs), None);
    assert!(!c.should_close());
    fs
}

fn hmap(list: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in list {
        m.append(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    m
}

// ----- preface and settings ---------------------------------------------------

#[test]
fn server_preface_then_settings_ack() {
    let mut c = Connection::default();
    let fs = out_frames(&mut c);
    assert_eq!(
        fs,
        [
            Frame::Settings(Settings {
                max_concurrent_streams: Some(100),
                initial_window_size: Some(256 * 1024),
                max_header_list_size: Some(32 * 1024),
                ..Settings::default()
            }),
            Frame::WindowUpdate(WindowUpdate {
                stream_id: 0,
                increment: 1024 * 1024 - 65_535
            }),
        ]
    );
    // The preface may arrive a byte at a time.
    for b in PREFACE.iter() {
        c.recv(&[*b]).unwrap();
    }
    c.recv(&settings(Settings {
        initial_window_size: Some(1000),
        ..Settings::default()
    }))
    .unwrap();
    assert_eq!(out_frames(&mut c), [Frame::Settings(Settings::ack())]);
    assert!(events(&mut c).is_empty());
    c.recv(&settings(Settings::ack())).unwrap();
    assert_eq!(events(&mut c), [Event::SettingsAcked]);
    // An unexpected ACK is ignored.
    c.recv(&settings(Settings::ack())).unwrap();
    assert!(events(&mut c).is_empty());
}

#[test]
fn bad_preface_and_first_frame() {
    let mut c = Connection::default();
    c.take_output();
    expect_conn_error(&mut c, b"GET / HTTP/1.1\r\n\r\n", ErrorCode::PROTOCOL_ERROR);

    let mut c = Connection::default();
    c.take_output();
    let mut input = PREFACE.to_vec();
    input.extend(ping(*b"12345678", false));
    expect_conn_error(&mut c, &input, ErrorCode::PROTOCOL_ERROR);

    let mut c = Connection::default();
    let mut input = PREFACE.to_vec();
    input.extend(settings(Settings::ack()));
    expect_conn_error(&mut c, &input, ErrorCode::PROTOCOL_ERROR);
}

#[test]
fn config_changes_what_is_advertised() {
    let c = Connection::new(Config {
        initial_window_size: 65_535,
        connection_window_size: 65_535,
        header_table_size: 0,
        max_frame_size: 1 << 20,
        enable_connect_protocol: true,
        ..Config::default()
    });
    let fs = frames(c.output());
    assert_eq!(
        fs,
        [Frame::Settings(Settings {
            header_table_size: Some(0),
            max_concurrent_streams: Some(100),
            max_frame_size: Some(1 << 20),
            max_header_list_size: Some(32 * 1024),
            enable_connect_protocol: Some(1),
            ..Settings::default()
        })]
    );
}

#[test]
fn ping_is_answered_and_our_ping_acked() {
    let (mut c, _) = open(Config::default());
    c.recv(&ping(*b"abcdefgh", false)).unwrap();
    assert_eq!(
        out_frames(&mut c),
        [Frame::Ping(Ping {
            ack: true,
            payload: *b"abcdefgh"
        })]
    );
    c.send_ping(*b"12345678").unwrap();
    assert_eq!(
        out_frames(&mut c),
        [Frame::Ping(Ping {
            ack: false,
            payload: *b"12345678"
        })]
    );
    c.recv(&ping(*b"12345678", true)).unwrap();
    assert_eq!(
        events(&mut c),
        [Event::PingAck {
            payload: *b"12345678"
        }]
    );
}

// ----- requests and responses ---------------------------------------------------

#[test]
fn get_request_and_response() {
    let (mut c, mut cl) = open(Config::default());
    let req = cl.headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/index.html?q=1"),
            ("accept", "text/html"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
        ],
        true,
    );
    c.recv(&req).unwrap();
    let ev = events(&mut c);
    let Event::Request {
        stream_id,
        method,
        scheme,
        authority,
        path,
        protocol,
        headers,
        end_stream,
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*stream_id, 1);
    assert_eq!(*method, Method::Get);
    assert_eq!(scheme.as_deref(), Some("https"));
    assert_eq!(authority.as_deref(), Some("example.com"));
    assert_eq!(path.as_deref(), Some("/index.html?q=1"));
    assert_eq!(*protocol, None);
    assert!(*end_stream);
    assert_eq!(headers.get("accept").unwrap().as_bytes(), b"text/html");
    assert_eq!(headers.get("cookie").unwrap().as_bytes(), b"a=1; b=2");
    assert_eq!(c.stream_state(1), StreamState::HalfClosedRemote);
    assert_eq!(c.active_streams(), 1);

    // DATA before the response is refused.
    assert_eq!(c.send_data(1, b"x", false), Err(SendError::NoResponse));
    let h = hmap(&[("Content-Type", "text/plain"), ("X-Thing", "1")]);
    c.send_response(1, Status::OK, &h, false).unwrap();
    assert_eq!(
        c.send_response(1, Status::OK, &h, false),
        Err(SendError::AlreadyResponded)
    );
    assert_eq!(c.send_data(1, b"hello", true), Ok(5));
    assert_eq!(c.stream_state(1), StreamState::Closed);
    assert_eq!(c.active_streams(), 0);
    let fs = out_frames(&mut c);
    assert_eq!(fs.len(), 2);
    let Frame::Headers(h) = &fs[0] else { panic!() };
    assert!(h.end_headers && !h.end_stream);
    assert_eq!(
        cl.decode(&h.fragment),
        [
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), "text/plain".to_string()),
            ("x-thing".to_string(), "1".to_string()),
        ]
    );
    assert_eq!(
        fs[1],
        Frame::Data(Data::new(1, Bytes::from_static(b"hello"), true))
    );
    assert_eq!(
        c.send_data(1, b"more", false),
        Err(SendError::UnknownStream)
    );
}

#[test]
fn interim_response_trailers_and_refused_fields() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    events(&mut c);
    assert_eq!(
        c.send_response(1, Status::CONTINUE, &HeaderMap::new(), true),
        Err(SendError::InvalidStatus)
    );
    assert_eq!(
        c.send_response(1, Status::SWITCHING_PROTOCOLS, &HeaderMap::new(), false),
        Err(SendError::InvalidStatus)
    );
    assert_eq!(
        c.send_trailers(1, &HeaderMap::new()),
        Err(SendError::NoResponse)
    );
    c.send_response(1, Status::from_u16(103).unwrap(), &HeaderMap::new(), false)
        .unwrap();
    for bad in [
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Connection",
    ] {
        let h = hmap(&[(bad, "x")]);
        let e = c.send_response(1, Status::OK, &h, false).unwrap_err();
        assert!(matches!(e, SendError::ForbiddenHeader(_)), "{bad}");
    }
    c.send_response(1, Status::OK, &HeaderMap::new(), false)
        .unwrap();
    c.send_trailers(1, &hmap(&[("grpc-status", "0")])).unwrap();
    assert_eq!(c.stream_state(1), StreamState::Closed);
    let fs = out_frames(&mut c);
    let blocks: Vec<_> = fs
        .iter()
        .map(|f| match f {
            Frame::Headers(h) => (cl.decode(&h.fragment), h.end_stream),
            f => panic!("{f:?}"),
        })
        .collect();
    assert_eq!(blocks[0].0, [(":status".into(), "103".into())]);
    assert_eq!(blocks[1].0, [(":status".into(), "200".into())]);
    assert_eq!(blocks[2], (vec![("grpc-status".into(), "0".into())], true));
}

#[test]
fn large_response_head_uses_continuation() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    let big = "x".repeat(40_000);
    let mut h = HeaderMap::new();
    h.append(
        HeaderName::from_static("x-big"),
        HeaderValue::try_from(big.as_str()).unwrap(),
    );
    c.send_response(1, Status::OK, &h, true).unwrap();
    let fs = out_frames(&mut c);
    let mut block = BytesMut::new();
    for (i, f) in fs.iter().enumerate() {
        match f {
            Frame::Headers(h) => {
                assert_eq!(i, 0);
                assert!(!h.end_headers && h.end_stream);
                assert_eq!(h.fragment.len(), 16_384);
                block.extend_from_slice(&h.fragment);
            }
            Frame::Continuation(k) => {
                assert_eq!(k.end_headers, i == fs.len() - 1);
                block.extend_from_slice(&k.fragment);
            }
            f => panic!("{f:?}"),
        }
    }
    assert!(fs.len() >= 3);
    let got = cl.decode(&block.freeze());
    assert_eq!(got[1].1.len(), 40_000);
}

#[test]
fn request_split_over_continuation_frames() {
    let (mut c, mut cl) = open(Config::default());
    let block = cl.block(GET);
    let (a, b) = block.split_at(2);
    let mut input = enc(Frame::Headers(Headers::new(
        1,
        Bytes::copy_from_slice(a),
        true,
        false,
    )));
    input.extend(enc(Frame::Continuation(Continuation {
        stream_id: 1,
        fragment: Bytes::new(),
        end_headers: false,
    })));
    input.extend(enc(Frame::Continuation(Continuation {
        stream_id: 1,
        fragment: Bytes::copy_from_slice(b),
        end_headers: true,
    })));
    c.recv(&input).unwrap();
    assert!(matches!(
        events(&mut c)[..],
        [Event::Request { stream_id: 1, .. }]
    ));
}

#[test]
fn request_content_with_flow_control() {
    let (mut c, mut cl) = open(Config {
        initial_window_size: 100,
        ..Config::default()
    });
    c.recv(&cl.headers(1, POST, false)).unwrap();
    c.recv(&data(1, &[1; 60], false)).unwrap();
    let ev = events(&mut c);
    assert!(
        matches!(&ev[1], Event::Data { stream_id: 1, data, end_stream: false } if data.len() == 60)
    );
    // Nothing goes back until the application releases half a window.
    assert!(!c.has_output());
    c.release_capacity(1, 40);
    assert!(!c.has_output());
    c.release_capacity(1, 20);
    assert_eq!(
        out_frames(&mut c),
        [Frame::WindowUpdate(WindowUpdate {
            stream_id: 1,
            increment: 60
        })]
    );
    // Releasing more than was delivered releases nothing more.
    c.release_capacity(1, 1000);
    assert!(!c.has_output());
    // The window is 100 again: 101 octets is a stream error.
    expect_stream_error(
        &mut c,
        &data(1, &[0; 101], false),
        1,
        ErrorCode::FLOW_CONTROL_ERROR,
    );
    assert_eq!(
        events(&mut c),
        [Event::StreamReset {
            stream_id: 1,
            code: ErrorCode::FLOW_CONTROL_ERROR,
            remote: false
        }]
    );
    // Frames the client sent before seeing the reset are ignored.
    c.recv(&data(1, &[0; 10], true)).unwrap();
    assert!(events(&mut c).is_empty());
}

#[test]
fn padded_data_returns_padding_credit() {
    let (mut c, mut cl) = open(Config {
        initial_window_size: 100,
        ..Config::default()
    });
    c.recv(&cl.headers(1, POST, false)).unwrap();
    let padded = Data {
        stream_id: 1,
        data: Bytes::from_static(b"abc"),
        end_stream: false,
        pad: Some(60),
    };
    c.recv(&enc(Frame::Data(padded))).unwrap();
    // 61 octets of padding credit went back at once.
    assert_eq!(
        out_frames(&mut c),
        [Frame::WindowUpdate(WindowUpdate {
            stream_id: 1,
            increment: 61
        })]
    );
    let ev = events(&mut c);
    assert!(matches!(&ev[1], Event::Data { data, .. } if &data[..] == b"abc"));
}

#[test]
fn connection_window_is_enforced_and_replenished() {
    let (mut c, mut cl) = open(Config {
        connection_window_size: 65_535,
        initial_window_size: 1 << 20,
        ..Config::default()
    });
    c.recv(&cl.headers(1, POST, false)).unwrap();
    for _ in 0..3 {
        c.recv(&data(1, &[0; 16_384], false)).unwrap();
    }
    events(&mut c);
    c.release_capacity(1, 3 * 16_384);
    assert_eq!(
        out_frames(&mut c),
        [Frame::WindowUpdate(WindowUpdate {
            stream_id: 0,
            increment: 3 * 16_384
        })]
    );
    // 16,383 of credit left plus 49,152 returned: 65,535. One more is too many.
    c.recv(&data(1, &[0; 16_384], false)).unwrap();
    c.recv(&data(1, &[0; 16_384], false)).unwrap();
    c.recv(&data(1, &[0; 16_384], false)).unwrap();
    c.recv(&data(1, &[0; 16_383], false)).unwrap();
    expect_conn_error(
        &mut c,
        &data(1, &[0; 1], false),
        ErrorCode::FLOW_CONTROL_ERROR,
    );
}

#[test]
fn send_flow_control_blocks_and_resumes() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&settings(Settings {
        initial_window_size: Some(10),
        ..Settings::default()
    }))
    .unwrap();
    c.recv(&cl.get(1)).unwrap();
    events(&mut c);
    c.send_response(1, Status::OK, &HeaderMap::new(), false)
        .unwrap();
    assert_eq!(c.send_capacity(1), 10);
    assert_eq!(c.send_data(1, &[7; 25], true), Ok(10));
    assert_eq!(c.send_data(1, &[7; 15], true), Ok(0));
    assert_eq!(c.stream_state(1), StreamState::HalfClosedRemote);
    c.recv(&window_update(1, 5)).unwrap();
    assert_eq!(events(&mut c), [Event::SendReady { stream_id: 1 }]);
    assert_eq!(c.send_data(1, &[7; 15], true), Ok(5));
    // Raising the initial window applies to open streams (§6.9.2).
    c.recv(&settings(Settings {
        initial_window_size: Some(20),
        ..Settings::default()
    }))
    .unwrap();
    assert_eq!(events(&mut c), [Event::SendReady { stream_id: 1 }]);
    assert_eq!(c.send_capacity(1), 10);
    assert_eq!(c.send_data(1, &[7; 10], true), Ok(10));
    assert_eq!(c.stream_state(1), StreamState::Closed);
    let fs = out_frames(&mut c);
    let sent: usize = fs
        .iter()
        .map(|f| match f {
            Frame::Data(d) => d.data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 25);
}

#[test]
fn connection_send_window_limits_all_streams() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&settings(Settings {
        initial_window_size: Some(1 << 20),
        max_frame_size: Some(1 << 20),
        ..Settings::default()
    }))
    .unwrap();
    c.recv(&cl.get(1)).unwrap();
    c.recv(&cl.get(3)).unwrap();
    events(&mut c);
    for id in [1, 3] {
        c.send_response(id, Status::OK, &HeaderMap::new(), false)
            .unwrap();
    }
    assert_eq!(c.send_data(1, &vec![0; 70_000], false), Ok(65_535));
    assert_eq!(c.send_data(3, b"x", false), Ok(0));
    c.recv(&window_update(0, 100)).unwrap();
    assert_eq!(
        events(&mut c),
        [
            Event::SendReady { stream_id: 1 },
            Event::SendReady { stream_id: 3 }
        ]
    );
    // A DATA frame never exceeds the peer's max frame size.
    let fs = out_frames(&mut c);
    assert!(fs
        .iter()
        .any(|f| matches!(f, Frame::Data(d) if d.data.len() == 65_535)));
}

#[test]
fn window_overflows() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    expect_stream_error(
        &mut c,
        &window_update(1, MAX_WINDOW),
        1,
        ErrorCode::FLOW_CONTROL_ERROR,
    );
    expect_conn_error(
        &mut c,
        &window_update(0, MAX_WINDOW),
        ErrorCode::FLOW_CONTROL_ERROR,
    );

    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    c.recv(&window_update(1, MAX_WINDOW - 65_535)).unwrap();
    expect_conn_error(
        &mut c,
        &settings(Settings {
            initial_window_size: Some(65_536),
            ..Settings::default()
        }),
        ErrorCode::FLOW_CONTROL_ERROR,
    );
}

// ----- stream errors -------------------------------------------------------------

#[test]
fn malformed_request_is_a_stream_error_only() {
    let (mut c, mut cl) = open(Config::default());
    let bad = cl.headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("connection", "close"),
        ],
        true,
    );
    expect_stream_error(&mut c, &bad, 1, ErrorCode::PROTOCOL_ERROR);
    // The application never heard of stream 1.
    assert!(events(&mut c).is_empty());
    c.recv(&cl.get(3)).unwrap();
    assert!(matches!(
        events(&mut c)[..],
        [Event::Request { stream_id: 3, .. }]
    ));
    for fields in [
        &[(":method", "GET"), (":path", "/")][..],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("Upper", "x"),
        ][..],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            ("te", "gzip"),
        ][..],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/"),
            (":status", "200"),
        ][..],
        &[
            (":method", "CONNECT"),
            (":authority", "a:1"),
            (":protocol", "websocket"),
        ][..],
    ] {
        let id = c.max_seen + 2;
        let h = cl.headers(id, fields, true);
        expect_stream_error(&mut c, &h, id, ErrorCode::PROTOCOL_ERROR);
    }
}

#[test]
fn content_length_is_checked() {
    let (mut c, mut cl) = open(Config::default());
    let mut with_len: Vec<(&str, &str)> = POST.to_vec();
    with_len.push(("content-length", "5"));
    c.recv(&cl.headers(1, &with_len, false)).unwrap();
    c.recv(&data(1, b"abc", false)).unwrap();
    expect_stream_error(&mut c, &data(1, b"", true), 1, ErrorCode::PROTOCOL_ERROR);
    c.recv(&cl.headers(3, &with_len, false)).unwrap();
    expect_stream_error(
        &mut c,
        &data(3, b"abcdef", false),
        3,
        ErrorCode::PROTOCOL_ERROR,
    );
    // HEADERS ending the stream with a non-zero length.
    expect_stream_error(
        &mut c,
        &cl.headers(5, &with_len, true),
        5,
        ErrorCode::PROTOCOL_ERROR,
    );
    // Exactly right.
    c.recv(&cl.headers(7, &with_len, false)).unwrap();
    c.recv(&data(7, b"abcde", true)).unwrap();
    let ev = events(&mut c);
    assert!(matches!(
        ev.last(),
        Some(Event::Data {
            stream_id: 7,
            end_stream: true,
            ..
        })
    ));
}

#[test]
fn trailers() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.headers(1, POST, false)).unwrap();
    c.recv(&data(1, b"abc", false)).unwrap();
    c.recv(&cl.headers(1, &[("x-checksum", "123")], true))
        .unwrap();
    let ev = events(&mut c);
    assert_eq!(
        ev[2],
        Event::Trailers {
            stream_id: 1,
            headers: hmap(&[("x-checksum", "123")])
        }
    );
    assert_eq!(c.stream_state(1), StreamState::HalfClosedRemote);
    // Trailers without END_STREAM, and trailers with a pseudo-header.
    c.recv(&cl.headers(3, POST, false)).unwrap();
    expect_stream_error(
        &mut c,
        &cl.headers(3, &[("x", "y")], false),
        3,
        ErrorCode::PROTOCOL_ERROR,
    );
    c.recv(&cl.headers(5, POST, false)).unwrap();
    expect_stream_error(
        &mut c,
        &cl.headers(5, &[(":path", "/")], true),
        5,
        ErrorCode::PROTOCOL_ERROR,
    );
    // HEADERS after the request ended: STREAM_CLOSED.
    expect_stream_error(
        &mut c,
        &cl.headers(1, &[("x", "y")], true),
        1,
        ErrorCode::STREAM_CLOSED,
    );
}

#[test]
fn data_after_end_stream_and_on_closed_streams() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    expect_stream_error(&mut c, &data(1, b"x", false), 1, ErrorCode::STREAM_CLOSED);
    // Stream 3 ends normally on both sides; DATA on it is a stream error
    // (after which its frames are ignored, as for any stream we reset)...
    c.recv(&cl.get(3)).unwrap();
    c.send_response(3, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    c.take_output();
    expect_stream_error(&mut c, &data(3, b"x", false), 3, ErrorCode::STREAM_CLOSED);
    c.recv(&cl.get(3)).unwrap();
    assert!(!c.has_output());
    // ...and HEADERS on such a stream is a connection error STREAM_CLOSED
    // (§5.1 "closed").
    c.recv(&cl.get(5)).unwrap();
    c.send_response(5, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    c.take_output();
    expect_conn_error(&mut c, &cl.get(5), ErrorCode::STREAM_CLOSED);
}

#[test]
fn concurrent_stream_limit_refuses() {
    let (mut c, mut cl) = open(Config {
        max_concurrent_streams: 1,
        ..Config::default()
    });
    c.recv(&cl.get(1)).unwrap();
    expect_stream_error(&mut c, &cl.get(3), 3, ErrorCode::REFUSED_STREAM);
    c.send_response(1, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    c.recv(&cl.get(5)).unwrap();
    let ev = events(&mut c);
    assert!(matches!(
        ev.last(),
        Some(Event::Request { stream_id: 5, .. })
    ));
}

#[test]
fn header_list_too_large_gets_431() {
    let (mut c, mut cl) = open(Config {
        max_header_list_size: 200,
        ..Config::default()
    });
    let big = "v".repeat(300);
    let mut fields: Vec<(&str, &str)> = POST.to_vec();
    fields.push(("x-big", &big));
    c.recv(&cl.headers(1, &fields, false)).unwrap();
    let fs = out_frames(&mut c);
    let Frame::Headers(h) = &fs[0] else {
        panic!("{fs:?}")
    };
    assert!(h.end_stream);
    assert_eq!(cl.decode(&h.fragment), [(":status".into(), "431".into())]);
    assert_eq!(rst_code(&fs, 1), Some(ErrorCode::NO_ERROR));
    assert!(events(&mut c).is_empty());
    // The HPACK state is intact: the next request decodes.
    c.recv(&data(1, b"late", true)).unwrap();
    c.recv(&cl.get(3)).unwrap();
    assert!(matches!(
        events(&mut c)[..],
        [Event::Request { stream_id: 3, .. }]
    ));
}

#[test]
fn peer_reset_is_reported() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.headers(1, POST, false)).unwrap();
    c.recv(&rst(1, ErrorCode::CANCEL)).unwrap();
    let ev = events(&mut c);
    assert_eq!(
        ev[1],
        Event::StreamReset {
            stream_id: 1,
            code: ErrorCode::CANCEL,
            remote: true
        }
    );
    assert_eq!(
        c.send_response(1, Status::OK, &HeaderMap::new(), true),
        Err(SendError::UnknownStream)
    );
    // A second RST on the closed stream is ignored.
    c.recv(&rst(1, ErrorCode::CANCEL)).unwrap();
    assert!(!c.has_output());
}

#[test]
fn application_reset() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.headers(1, POST, false)).unwrap();
    events(&mut c);
    c.reset(1, ErrorCode::CANCEL).unwrap();
    assert_eq!(
        out_frames(&mut c),
        [Frame::RstStream(RstStream {
            stream_id: 1,
            code: ErrorCode::CANCEL
        })]
    );
    assert!(events(&mut c).is_empty());
    assert_eq!(c.reset(1, ErrorCode::CANCEL), Err(SendError::UnknownStream));
    c.recv(&data(1, b"in flight", true)).unwrap();
    assert!(!c.has_output());
}

#[test]
fn priority_rules() {
    let (mut c, mut cl) = open(Config::default());
    // PRIORITY is accepted, even for an idle stream, and ignored.
    let p = |id, dep| {
        enc(Frame::Priority(Priority {
            stream_id: id,
            spec: PrioritySpec {
                exclusive: false,
                dependency: dep,
                weight: 16,
            },
        }))
    };
    c.recv(&p(9, 1)).unwrap();
    assert!(!c.has_output());
    // Self-dependency in PRIORITY and in HEADERS: stream errors.
    c.recv(&cl.get(1)).unwrap();
    expect_stream_error(&mut c, &p(1, 1), 1, ErrorCode::PROTOCOL_ERROR);
    let block = cl.block(GET);
    let mut h = Headers::new(3, block, true, true);
    h.priority = Some(PrioritySpec {
        exclusive: true,
        dependency: 3,
        weight: 0,
    });
    expect_stream_error(
        &mut c,
        &enc(Frame::Headers(h)),
        3,
        ErrorCode::PROTOCOL_ERROR,
    );
    // Wrong size on a used stream: a stream error FRAME_SIZE_ERROR.
    let mut raw = p(5, 1);
    c.recv(&cl.get(5)).unwrap();
    raw[2] = 4;
    raw.pop();
    expect_stream_error(&mut c, &raw, 5, ErrorCode::FRAME_SIZE_ERROR);
}

#[test]
fn window_update_of_zero() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    let mut raw = window_update(1, 1);
    raw[12] = 0;
    expect_stream_error(&mut c, &raw, 1, ErrorCode::PROTOCOL_ERROR);
    let mut raw = window_update(0, 1);
    raw[12] = 0;
    expect_conn_error(&mut c, &raw, ErrorCode::PROTOCOL_ERROR);
}

// ----- connection errors ------------------------------------------------------------

fn conn_error_after_open(input: Vec<u8>, code: ErrorCode) {
    let (mut c, _) = open(Config::default());
    expect_conn_error(&mut c, &input, code);
}

#[test]
fn connection_errors() {
    let mut cl = Client::new();
    // Even stream id; lower id than one used; stream 0.
    conn_error_after_open(cl.get(2), ErrorCode::PROTOCOL_ERROR);
    let mut cl = Client::new();
    let mut two = cl.get(5);
    two.extend(cl.get(3));
    conn_error_after_open(two, ErrorCode::PROTOCOL_ERROR);
    conn_error_after_open(
        b"\x00\x00\x01\x01\x05\x00\x00\x00\x00\x82".to_vec(),
        ErrorCode::PROTOCOL_ERROR,
    );
    // Frames on idle streams.
    conn_error_after_open(data(1, b"x", false), ErrorCode::PROTOCOL_ERROR);
    conn_error_after_open(rst(1, ErrorCode::CANCEL), ErrorCode::PROTOCOL_ERROR);
    conn_error_after_open(window_update(1, 1), ErrorCode::PROTOCOL_ERROR);
    // PUSH_PROMISE from a client.
    conn_error_after_open(
        enc(Frame::PushPromise(PushPromise {
            stream_id: 1,
            promised_id: 2,
            fragment: Bytes::new(),
            end_headers: true,
            pad: None,
        })),
        ErrorCode::PROTOCOL_ERROR,
    );
    // A bad HPACK block.
    conn_error_after_open(
        enc(Frame::Headers(Headers::new(
            1,
            Bytes::from_static(b"\x80"),
            true,
            true,
        ))),
        ErrorCode::COMPRESSION_ERROR,
    );
    // A frame over SETTINGS_MAX_FRAME_SIZE.
    let mut big = data(1, &[0; 16_385], false);
    big.truncate(9);
    conn_error_after_open(big, ErrorCode::FRAME_SIZE_ERROR);
    // SETTINGS rules.
    conn_error_after_open(
        b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x01".to_vec(),
        ErrorCode::PROTOCOL_ERROR,
    );
    conn_error_after_open(
        b"\x00\x00\x01\x04\x01\x00\x00\x00\x00\x00".to_vec(),
        ErrorCode::FRAME_SIZE_ERROR,
    );
    conn_error_after_open(
        b"\x00\x00\x08\x06\x00\x00\x00\x00\x01abcdefgh".to_vec(),
        ErrorCode::PROTOCOL_ERROR,
    );
}

#[test]
fn continuation_sequence_rules() {
    let mut cl = Client::new();
    let start = |cl: &mut Client| {
        let b = cl.block(GET);
        enc(Frame::Headers(Headers::new(1, b, true, false)))
    };
    // Anything between HEADERS and its CONTINUATION.
    let mut input = start(&mut cl);
    input.extend(ping(*b"12345678", false));
    conn_error_after_open(input, ErrorCode::PROTOCOL_ERROR);
    // Even an unknown frame type (§5.5).
    let mut cl = Client::new();
    let mut input = start(&mut cl);
    input.extend(enc(Frame::Unknown(Unknown {
        kind: 0xee,
        flags: 0,
        stream_id: 0,
        payload: Bytes::new(),
    })));
    conn_error_after_open(input, ErrorCode::PROTOCOL_ERROR);
    // CONTINUATION for another stream.
    let mut cl = Client::new();
    let mut input = start(&mut cl);
    input.extend(enc(Frame::Continuation(Continuation {
        stream_id: 3,
        fragment: Bytes::new(),
        end_headers: true,
    })));
    conn_error_after_open(input, ErrorCode::PROTOCOL_ERROR);
    // CONTINUATION with no field block open.
    conn_error_after_open(
        enc(Frame::Continuation(Continuation {
            stream_id: 1,
            fragment: Bytes::new(),
            end_headers: true,
        })),
        ErrorCode::PROTOCOL_ERROR,
    );
    // A block growing past the bound.
    let (mut c, mut cl) = open(Config {
        max_header_block_size: 1000,
        ..Config::default()
    });
    c.recv(&start(&mut cl)).unwrap();
    let chunk = || {
        enc(Frame::Continuation(Continuation {
            stream_id: 1,
            fragment: Bytes::from(vec![0x82; 400]),
            end_headers: false,
        }))
    };
    c.recv(&chunk()).unwrap();
    c.recv(&chunk()).unwrap();
    expect_conn_error(&mut c, &chunk(), ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn unknown_frames_are_ignored() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&enc(Frame::Unknown(Unknown {
        kind: 0xee,
        flags: 0xff,
        stream_id: 7,
        payload: Bytes::from_static(b"whatever"),
    })))
    .unwrap();
    c.recv(&cl.get(1)).unwrap();
    assert!(matches!(
        events(&mut c)[..],
        [Event::Request { stream_id: 1, .. }]
    ));
}

// ----- abuse bounds -------------------------------------------------------------------

#[test]
fn rapid_reset_is_bounded() {
    let (mut c, mut cl) = open(Config {
        max_peer_resets: 5,
        ..Config::default()
    });
    let mut id = 1;
    for _ in 0..5 {
        c.recv(&cl.get(id)).unwrap();
        c.recv(&rst(id, ErrorCode::CANCEL)).unwrap();
        id += 2;
    }
    // A stream served to the end earns one back.
    c.recv(&cl.get(id)).unwrap();
    c.send_response(id, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    id += 2;
    c.recv(&cl.get(id)).unwrap();
    c.recv(&rst(id, ErrorCode::CANCEL)).unwrap();
    id += 2;
    c.take_output();
    let mut input = cl.get(id);
    input.extend(rst(id, ErrorCode::CANCEL));
    expect_conn_error(&mut c, &input, ErrorCode::ENHANCE_YOUR_CALM);
}

#[test]
fn local_resets_are_bounded() {
    let (mut c, mut cl) = open(Config {
        max_local_resets: 3,
        ..Config::default()
    });
    let bad = [(":method", "GET")];
    for id in [1, 3, 5] {
        c.recv(&cl.headers(id, &bad, true)).unwrap();
    }
    expect_conn_error(
        &mut c,
        &cl.headers(7, &bad, true),
        ErrorCode::ENHANCE_YOUR_CALM,
    );
}

#[test]
fn ping_and_settings_floods() {
    // Replies not taken by the caller.
    let (mut c, _) = open(Config {
        max_pending_control: 10,
        ..Config::default()
    });
    let mut input = Vec::new();
    for _ in 0..11 {
        input.extend(ping(*b"12345678", false));
    }
    let e = c.recv(&input).unwrap_err();
    assert_eq!(e.code(), ErrorCode::ENHANCE_YOUR_CALM);

    // Control frames without useful work, even when replies are taken.
    let (mut c, mut cl) = open(Config {
        max_idle_control_frames: 20,
        ..Config::default()
    });
    // open() sent one SETTINGS already.
    for _ in 0..9 {
        c.recv(&settings(Settings::default())).unwrap();
        c.recv(&ping(*b"12345678", false)).unwrap();
        c.take_output();
    }
    c.recv(&ping(*b"12345678", false)).unwrap();
    // A request starts the count over.
    c.recv(&cl.get(1)).unwrap();
    for _ in 0..20 {
        c.recv(&ping(*b"12345678", false)).unwrap();
        c.take_output();
    }
    expect_conn_error(
        &mut c,
        &settings(Settings::default()),
        ErrorCode::ENHANCE_YOUR_CALM,
    );
}

#[test]
fn empty_frame_floods() {
    let (mut c, mut cl) = open(Config {
        max_empty_frames: 10,
        ..Config::default()
    });
    c.recv(&cl.headers(1, POST, false)).unwrap();
    for _ in 0..10 {
        c.recv(&data(1, b"", false)).unwrap();
    }
    expect_conn_error(&mut c, &data(1, b"", false), ErrorCode::ENHANCE_YOUR_CALM);

    let (mut c, mut cl) = open(Config {
        max_empty_frames: 10,
        ..Config::default()
    });
    let b = cl.block(GET);
    c.recv(&enc(Frame::Headers(Headers::new(1, b, true, false))))
        .unwrap();
    let empty = enc(Frame::Continuation(Continuation {
        stream_id: 1,
        fragment: Bytes::new(),
        end_headers: false,
    }));
    for _ in 0..10 {
        c.recv(&empty).unwrap();
    }
    expect_conn_error(&mut c, &empty, ErrorCode::ENHANCE_YOUR_CALM);
}

// ----- shutdown ----------------------------------------------------------------------------

#[test]
fn graceful_goaway_in_two_steps() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    c.go_away_graceful();
    let fs = out_frames(&mut c);
    assert_eq!(
        fs,
        [
            Frame::GoAway(GoAway {
                last_stream_id: MAX_WINDOW,
                code: ErrorCode::NO_ERROR,
                debug_data: Bytes::new()
            }),
            Frame::Ping(Ping {
                ack: false,
                payload: DRAIN_PING
            }),
        ]
    );
    // Streams the client opened before seeing the GOAWAY are still served.
    c.recv(&cl.get(3)).unwrap();
    c.recv(&ping(DRAIN_PING, true)).unwrap();
    assert_eq!(
        out_frames(&mut c),
        [Frame::GoAway(GoAway {
            last_stream_id: 3,
            code: ErrorCode::NO_ERROR,
            debug_data: Bytes::new()
        })]
    );
    let ev = events(&mut c);
    assert_eq!(ev.len(), 2, "no PingAck for our own drain PING: {ev:?}");
    // Stream 5 came too late: ignored, and its content too.
    c.recv(&cl.headers(5, POST, false)).unwrap();
    c.recv(&data(5, b"x", true)).unwrap();
    assert!(events(&mut c).is_empty());
    assert!(!c.should_close());
    c.send_response(1, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    assert!(!c.should_close());
    c.send_response(3, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    assert!(c.should_close());
}

#[test]
fn immediate_goaway() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    c.go_away(ErrorCode::NO_ERROR);
    assert_eq!(
        out_frames(&mut c),
        [Frame::GoAway(GoAway {
            last_stream_id: 1,
            code: ErrorCode::NO_ERROR,
            debug_data: Bytes::new()
        })]
    );
    assert!(!c.should_close());
    c.go_away(ErrorCode::INTERNAL_ERROR);
    assert_eq!(
        goaway_code(&out_frames(&mut c)),
        Some(ErrorCode::INTERNAL_ERROR)
    );
    assert!(c.should_close());
    assert_eq!(
        c.send_response(1, Status::OK, &HeaderMap::new(), true),
        Err(SendError::ConnectionClosed)
    );
}

#[test]
fn client_goaway() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    events(&mut c);
    c.recv(&enc(Frame::GoAway(GoAway {
        last_stream_id: 0,
        code: ErrorCode::NO_ERROR,
        debug_data: Bytes::from_static(b"bye"),
    })))
    .unwrap();
    assert_eq!(
        events(&mut c),
        [Event::GoAway {
            last_stream_id: 0,
            code: ErrorCode::NO_ERROR,
            debug_data: Bytes::from_static(b"bye")
        }]
    );
    assert!(!c.should_close());
    c.send_response(1, Status::OK, &HeaderMap::new(), true)
        .unwrap();
    assert!(c.should_close());
}

#[test]
fn connection_error_names_last_stream() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&cl.get(1)).unwrap();
    c.recv(&cl.get(3)).unwrap();
    c.take_output();
    let _ = c.recv(&cl.get(4));
    let fs = out_frames(&mut c);
    assert_eq!(
        fs,
        [Frame::GoAway(GoAway {
            last_stream_id: 3,
            code: ErrorCode::PROTOCOL_ERROR,
            debug_data: Bytes::new()
        })]
    );
    assert_eq!(c.error().map(Error::code), Some(ErrorCode::PROTOCOL_ERROR));
}

#[test]
fn extended_connect_when_enabled() {
    let fields = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/chat"),
        ("sec-websocket-version", "13"),
    ];
    let (mut c, mut cl) = open(Config {
        enable_connect_protocol: true,
        ..Config::default()
    });
    c.recv(&cl.headers(1, &fields, false)).unwrap();
    let ev = events(&mut c);
    assert!(
        matches!(&ev[0], Event::Request { method: Method::Connect, protocol: Some(p), .. } if p == "websocket")
    );
    let (mut c, mut cl) = open(Config::default());
    expect_stream_error(
        &mut c,
        &cl.headers(1, &fields, false),
        1,
        ErrorCode::PROTOCOL_ERROR,
    );
}

#[test]
fn sensitive_response_fields_are_never_indexed() {
    let (mut c, mut cl) = open(Config {
        sensitive_headers: vec!["x-token".into()],
        ..Config::default()
    });
    c.recv(&cl.get(1)).unwrap();
    c.send_response(
        1,
        Status::OK,
        &hmap(&[("X-Token", "secret"), ("X-Other", "v")]),
        true,
    )
    .unwrap();
    let fs = out_frames(&mut c);
    let Frame::Headers(h) = &fs[0] else { panic!() };
    let b = cl.dec.decode(&h.fragment).unwrap();
    assert!(b.fields[1].never_indexed);
    assert!(!b.fields[2].never_indexed);
}

// ----- properties ------------------------------------------------------------------------------

fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![Just(0u32), Just(1), Just(3), Just(2), 0..10u32];
    let payload = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (id.clone(), payload.clone(), any::<bool>()).prop_map(|(i, p, e)| data(i, &p, e)),
        (id.clone(), any::<bool>(), any::<bool>()).prop_map(|(i, es, eh)| {
            let mut cl = Client::new();
            let b = cl.block(GET);
            enc(Frame::Headers(Headers::new(i, b, es, eh)))
        }),
        (id.clone(), payload.clone(), any::<bool>()).prop_map(|(i, p, eh)| enc(
            Frame::Continuation(Continuation {
                stream_id: i,
                fragment: Bytes::from(p),
                end_headers: eh
            })
        )),
        (id.clone(), any::<u32>()).prop_map(|(i, c)| rst(i, ErrorCode(c))),
        (id.clone(), 0..=MAX_WINDOW).prop_map(|(i, n)| {
            let mut f = window_update(i, 1);
            f[9..13].copy_from_slice(&n.to_be_bytes());
            f
        }),
        (any::<[u8; 8]>(), any::<bool>()).prop_map(|(p, a)| ping(p, a)),
        (
            proptest::option::of(0..100_000u32),
            proptest::option::of(0..5000u32)
        )
            .prop_map(|(w, t)| settings(Settings {
                initial_window_size: w,
                header_table_size: t,
                ..Settings::default()
            })),
        (any::<u8>(), any::<u8>(), id, payload).prop_map(|(k, fl, i, p)| {
            let mut f = Vec::new();
            FrameHeader {
                length: p.len() as u32,
                kind: k,
                flags: fl,
                stream_id: i,
            }
            .encode(&mut f);
            f.extend(p);
            f
        }),
    ]
}

proptest! {
    #[test]
    fn random_bytes_after_preface_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..512),
        split in 1usize..64,
    ) {
        let mut c = Connection::default();
        let mut input = PREFACE.to_vec();
        input.extend(settings(Settings::default()));
        input.extend(raw);
        for chunk in input.chunks(split) {
            if c.recv(chunk).is_err() {
                break;
            }
        }
        while c.poll_event().is_some() {}
        let _ = frames(&c.take_output());
    }

    #[test]
    fn random_frame_sequences_never_panic(
        seq in proptest::collection::vec(arb_frame(), 0..40),
        respond in any::<bool>(),
    ) {
        let (mut c, _) = open(Config {
            max_concurrent_streams: 3,
            initial_window_size: 50,
            ..Config::default()
        });
        for f in seq {
            if c.recv(&f).is_err() {
                prop_assert!(c.should_close());
                break;
            }
            while let Some(ev) = c.poll_event() {
                match ev {
                    Event::Request { stream_id, .. } if respond => {
                        let _ = c.send_response(stream_id, Status::OK, &HeaderMap::new(), false);
                        let _ = c.send_data(stream_id, b"hello", true);
                    }
                    Event::Data { stream_id, data, .. } => {
                        c.release_capacity(stream_id, data.len());
                    }
                    _ => {}
                }
            }
            // Whatever we write is well-formed.
            let _ = frames(&c.take_output());
        }
    }
}

#[test]
fn want_send_reports_send_ready_without_data() {
    let (mut c, mut cl) = open(Config::default());
    c.recv(&settings(Settings {
        initial_window_size: Some(0),
        ..Settings::default()
    }))
    .unwrap();
    c.recv(&cl.get(1)).unwrap();
    events(&mut c);
    c.send_response(1, Status::OK, &HeaderMap::new(), false)
        .unwrap();
    assert_eq!(c.send_capacity(1), 0);
    // Nothing was attempted: a WINDOW_UPDATE reports nothing...
    c.recv(&window_update(1, 5)).unwrap();
    assert_eq!(events(&mut c), []);
    assert_eq!(c.send_data(1, &[7; 5], false), Ok(5));
    // ...unless the application said it waits for room (RFC 9113 §6.9).
    c.want_send(1);
    c.recv(&window_update(1, 5)).unwrap();
    assert_eq!(events(&mut c), [Event::SendReady { stream_id: 1 }]);
}
