//! Property tests: the parser's result never depends on how input is split, and
//! what the encoder writes, the parser reads back unchanged.

use osprey_h1::Limits;
use osprey_h1::{
    chunk_end, chunk_start, chunked_finish, BodyDecoder, BodyFraming, BodyLength, EncodeConfig,
    Event, OutQueue, Parsed, RequestContext, ResponseParser, ServerConn,
};
use osprey_proto::{HeaderMap, HeaderName, HeaderValue, Status};
use proptest::prelude::*;

/// One generated request and what the parser must report for it.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    target: String,
    fields: Vec<(String, String)>,
    body: Body,
    close: bool,
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Chunks (non-empty), with an extension on some, and trailers.
    Chunked(Vec<Vec<u8>>, Vec<(String, String)>),
}

impl Req {
    fn data(&self) -> Vec<u8> {
        match &self.body {
            Body::None => vec![],
            Body::Length(b) => b.clone(),
            Body::Chunked(chunks, _) => chunks.concat(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "{} {} HTTP/1.1\r\nHost: example.com\r\n",
                self.method, self.target
            )
            .as_bytes(),
        );
        for (n, v) in &self.fields {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        match &self.body {
            Body::None => out.extend_from_slice(b"\r\n"),
            Body::Length(b) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Body::Chunked(chunks, trailers) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for (i, c) in chunks.iter().enumerate() {
                    let ext = if i % 2 == 1 { ";ext=\"v\"" } else { "" };
                    out.extend_from_slice(format!("{:X}{ext}\r\n", c.len()).as_bytes());
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                for (n, v) in trailers {
                    out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

fn field() -> impl Strategy<Value = (String, String)> {
    // X- prefix keeps generated names clear of the framing fields.
    ("X-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", "[ -~]{0,40}")
        .prop_map(|(n, v)| (n, v.trim().to_string()))
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        prop::collection::vec(any::<u8>(), 1..300).prop_map(Body::Length),
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..100), 0..5),
            prop::collection::vec(field(), 0..3)
        )
            .prop_map(|(c, t)| Body::Chunked(c, t)),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(vec![
            "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND",
        ]),
        "/[A-Za-z0-9/._~%?=&-]{0,60}",
        prop::collection::vec(field(), 0..8),
        body(),
    )
        .prop_map(|(method, target, fields, body)| Req {
            method,
            target,
            fields,
            body,
            close: false,
        })
}

/// A pipelined stream: the last request may say `Connection: close`.
fn stream() -> impl Strategy<Value = (Vec<Req>, Vec<u8>)> {
    (prop::collection::vec(request(), 1..6), any::<bool>()).prop_map(|(mut reqs, close)| {
        reqs.last_mut().unwrap().close = close;
        let mut bytes = Vec::new();
        for r in &reqs {
            r.encode(&mut bytes);
        }
        (reqs, bytes)
    })
}

/// What the connection reported for one request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    method: String,
    target: Vec<u8>,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    trailers: Vec<(String, Vec<u8>)>,
    keep_alive: bool,
}

/// Feeds `input` to a server connection in pieces cut at `cuts`.
fn read_all(input: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort();
    let mut conn = ServerConn::new(Limits::default());
    let mut seen: Vec<Seen> = Vec::new();
    let mut pos = 0;
    for &avail in &ends {
        loop {
            let buf = &input[..avail];
            let (n, event) = conn.read(&buf[pos..]).expect("valid input");
            match event {
                Event::Partial => {
                    pos += n;
                    break;
                }
                Event::Head => {
                    let h = conn.head();
                    let b = &buf[pos..pos + n];
                    seen.push(Seen {
                        method: h.method.to_string(),
                        target: h.target(b).to_vec(),
                        fields: h
                            .headers(b)
                            .map(|(n, v)| (n.to_vec(), v.to_vec()))
                            .collect(),
                        body: vec![],
                        trailers: vec![],
                        keep_alive: h.keep_alive,
                    });
                }
                Event::Data(r) => seen
                    .last_mut()
                    .unwrap()
                    .body
                    .extend_from_slice(&buf[pos..][r]),
                Event::End => {
                    seen.last_mut().unwrap().trailers = conn
                        .trailers()
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                        .collect()
                }
                Event::Closed | Event::Upgraded => {
                    pos += n;
                    break;
                }
            }
            pos += n;
        }
    }
    assert_eq!(pos, input.len(), "every byte consumed");
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any split of a valid pipelined stream gives the same requests, and they are
    /// the requests that were sent.
    #[test]
    fn every_split_parses_the_same((reqs, bytes) in stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let whole = read_all(&bytes, &[]);
        let split = read_all(&bytes, &cuts);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(whole.len(), reqs.len());
        for (r, s) in reqs.iter().zip(&whole) {
            prop_assert_eq!(&s.method, r.method);
            prop_assert_eq!(&s.target, r.target.as_bytes());
            prop_assert_eq!(&s.body, &r.data());
            prop_assert_eq!(s.keep_alive, !r.close);
            for (n, v) in &r.fields {
                prop_assert!(s.fields.contains(&(n.as_bytes().to_vec(), v.as_bytes().to_vec())));
            }
            if let Body::Chunked(_, trailers) = &r.body {
                let expect: Vec<_> = trailers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())).collect();
                prop_assert_eq!(&s.trailers, &expect);
            }
        }
    }

    /// One byte at a time is the worst split; it must agree too.
    #[test]
    fn one_byte_at_a_time((_, bytes) in stream()) {
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(read_all(&bytes, &[]), read_all(&bytes, &cuts));
    }
}

/// A response to encode.
#[derive(Clone, Debug)]
struct Resp {
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<Vec<u8>>,
    streamed: bool,
    trailers: Vec<(String, String)>,
}

fn response() -> impl Strategy<Value = Resp> {
    (
        prop::sample::select(vec![
            200u16, 201, 204, 206, 301, 304, 400, 404, 418, 500, 503, 599,
        ]),
        prop::collection::vec(field(), 0..8),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..5),
        any::<bool>(),
        prop::collection::vec(field(), 0..3),
    )
        .prop_map(|(status, fields, body, streamed, trailers)| Resp {
            status,
            fields,
            body,
            streamed,
            trailers,
        })
}

fn header_map(fields: &[(String, String)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in fields {
        m.append(
            HeaderName::try_from(n.as_str()).unwrap(),
            HeaderValue::try_from(v.as_str()).unwrap(),
        );
    }
    m
}

/// Decodes a whole body from `input`, fed in pieces cut at `cuts`.
fn decode_body(framing: BodyFraming, input: &[u8], cuts: &[usize]) -> (Vec<u8>, usize, HeaderMap) {
    let mut d = BodyDecoder::new(framing, &Limits::default());
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
    ends.push(input.len());
    ends.sort();
    let mut data = Vec::new();
    let mut pos = 0;
    for &avail in &ends {
        loop {
            let step = d.decode(&input[pos..avail]).expect("valid body");
            data.extend_from_slice(&input[pos..][step.data.clone()]);
            pos += step.consumed;
            if step.done {
                return (data, pos, d.take_trailers());
            }
            if step.data.is_empty() {
                break;
            }
        }
    }
    if d.eof().is_ok() {
        return (data, pos, d.take_trailers());
    }
    panic!("body incomplete");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// encode → parse gives back the status, the fields and the body.
    #[test]
    fn responses_round_trip(r in response(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut conn = ServerConn::new(Limits::default());
        let req = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        prop_assert_eq!(conn.read(req).unwrap(), (req.len(), Event::Head));
        let status = Status::from_u16(r.status).unwrap();
        let fields = header_map(&r.fields);
        let data: Vec<u8> = r.body.concat();
        let length = if r.streamed { BodyLength::Unknown } else { BodyLength::Known(data.len() as u64) };
        let mut out: OutQueue<()> = OutQueue::new();
        let config = EncodeConfig { date: Some(b"Tue, 24 Nov 2026 08:00:00 GMT"), server: Some(b"osprey") };
        conn.write_head(&mut out, status, &fields, length, &config).unwrap();
        for piece in &r.body {
            conn.write_body(&mut out, piece).unwrap();
        }
        conn.finish_body(&mut out, &header_map(&r.trailers)).unwrap();
        let wire = out.to_bytes_with(|_, _, _| unreachable!());

        let mut parser = ResponseParser::new(Limits::default());
        let ctx = RequestContext { head: false, connect: false };
        let Parsed::Complete(head_len) = parser.parse(&wire, ctx).unwrap() else {
            panic!("incomplete head");
        };
        let head = parser.head();
        prop_assert_eq!(head.status, status);
        let parsed: Vec<(Vec<u8>, Vec<u8>)> = head.headers(&wire).map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        for (n, v) in &r.fields {
            prop_assert!(parsed.contains(&(n.as_bytes().to_vec(), v.as_bytes().to_vec())));
        }
        let (body, used, trailers) = decode_body(head.body, &wire[head_len..], &cuts);
        prop_assert_eq!(head_len + used, wire.len(), "nothing after the response");
        if status.forbids_body() {
            prop_assert!(body.is_empty());
        } else {
            prop_assert_eq!(&body, &data);
            if r.streamed {
                prop_assert_eq!(head.body, BodyFraming::Chunked);
                prop_assert_eq!(trailers, header_map(&r.trailers));
            }
        }
    }

    /// Chunked encoding → chunked decoding, any split, gives the data and trailers.
    #[test]
    fn chunked_round_trip(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..8),
        trailers in prop::collection::vec(field(), 0..4),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        suffix in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut out: OutQueue<()> = OutQueue::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            chunk_start(&mut out, c.len() as u64);
            out.write(c);
            chunk_end(&mut out);
        }
        let trailers = header_map(&trailers);
        chunked_finish(&mut out, &trailers);
        let mut wire = out.to_bytes_with(|_, _, _| unreachable!());
        let body_len = wire.len();
        // Bytes of the next message must be left alone.
        wire.extend_from_slice(&suffix);
        let (data, used, decoded_trailers) = decode_body(BodyFraming::Chunked, &wire, &cuts);
        prop_assert_eq!(data, chunks.concat());
        prop_assert_eq!(used, body_len);
        prop_assert_eq!(decoded_trailers, trailers);
    }
}
