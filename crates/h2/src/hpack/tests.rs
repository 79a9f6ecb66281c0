//! RFC 7541 Appendix C, byte for byte in both directions, and properties of
//! the decoder and encoder together.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn pairs(b: &Block) -> Vec<(String, String)> {
    b.fields
        .iter()
        .map(|f| {
            (
                String::from_utf8(f.name.to_vec()).unwrap(),
                String::from_utf8(f.value.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn table(t: &Table) -> Vec<(String, String)> {
    t.iter()
        .map(|(n, v)| {
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

fn own(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// One step of a C.3–C.6 sequence: the encoded block, the fields, the
/// dynamic table after it (newest first) and its size.
struct Step {
    hex: &'static str,
    fields: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

/// Decodes the steps with one decoder, and encodes the fields with one encoder
/// (indexing everything, as the RFC's examples do), checking both byte for byte.
fn run(steps: &[Step], table_size: usize, huffman: bool) {
    let mut dec = Decoder::new(table_size, usize::MAX);
    let mut enc = Encoder::new(table_size);
    // The examples start from a table already at `table_size` (the setting
    // changed before the first block, with no size update shown).
    enc.set_huffman(huffman);
    enc.set_indexing(Indexing::All);
    enc.set_max_table_size(table_size);
    let mut first = true;
    for (i, step) in steps.iter().enumerate() {
        let block = hex(step.hex);
        let got = dec.decode(&block).unwrap();
        assert_eq!(pairs(&got), own(step.fields), "step {i} fields");
        assert!(!got.too_large);
        assert_eq!(table(dec.table()), own(step.table), "step {i} table");
        assert_eq!(dec.table().size(), step.size, "step {i} size");

        let mut out = BytesMut::new();
        enc.encode(
            step.fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            &mut out,
        );
        let out = if first && table_size != 4096 {
            // Our encoder signals the new size; the RFC's example leaves it out.
            let mut pos = 0;
            assert_eq!(out[0] & 0xe0, 0x20);
            integer::decode(&out, &mut pos, 5).unwrap();
            out.split_off(pos)
        } else {
            out
        };
        first = false;
        assert_eq!(out.freeze(), block, "step {i} encoding");
        assert_eq!(
            table(enc.table()),
            own(step.table),
            "step {i} encoder table"
        );
    }
}

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096, usize::MAX);
    let b = d
        .decode(&hex(
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        ))
        .unwrap();
    assert_eq!(pairs(&b), own(&[("custom-key", "custom-header")]));
    assert_eq!(d.table().size(), 55);
    let mut e = Encoder::new(4096);
    e.set_huffman(false);
    let mut out = BytesMut::new();
    e.encode(
        [(&b"custom-key"[..], &b"custom-header"[..], false)],
        &mut out,
    );
    assert_eq!(
        out.freeze(),
        hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")
    );
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096, usize::MAX);
    let b = d
        .decode(&hex("040c 2f73 616d 706c 652f 7061 7468"))
        .unwrap();
    assert_eq!(pairs(&b), own(&[(":path", "/sample/path")]));
    assert!(!b.fields[0].never_indexed);
    assert_eq!(d.table().size(), 0);
    // :path is in NOT_INDEXED, so the sensible encoder makes the same choice.
    let mut e = Encoder::new(4096);
    e.set_huffman(false);
    let mut out = BytesMut::new();
    e.encode([(&b":path"[..], &b"/sample/path"[..], false)], &mut out);
    assert_eq!(out.freeze(), hex("040c 2f73 616d 706c 652f 7061 7468"));
}

#[test]
fn c2_3_never_indexed() {
    let mut d = Decoder::new(4096, usize::MAX);
    let b = d
        .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))
        .unwrap();
    assert_eq!(pairs(&b), own(&[("password", "secret")]));
    assert!(b.fields[0].never_indexed);
    assert_eq!(d.table().size(), 0);
    let mut e = Encoder::new(4096);
    e.set_huffman(false);
    let mut out = BytesMut::new();
    e.encode([(&b"password"[..], &b"secret"[..], true)], &mut out);
    assert_eq!(
        out.freeze(),
        hex("1008 7061 7373 776f 7264 0673 6563 7265 74")
    );
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(4096, usize::MAX);
    let b = d.decode(&hex("82")).unwrap();
    assert_eq!(pairs(&b), own(&[(":method", "GET")]));
    let mut e = Encoder::new(4096);
    let mut out = BytesMut::new();
    e.encode([(&b":method"[..], &b"GET"[..], false)], &mut out);
    assert_eq!(out.freeze(), hex("82"));
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn c3_requests_without_huffman() {
    run(
        &[
            Step {
                hex: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                fields: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                hex: "8286 84be 5808 6e6f 2d63 6163 6865",
                fields: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                hex: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                fields: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
        4096,
        false,
    );
}

#[test]
fn c4_requests_with_huffman() {
    run(
        &[
            Step {
                hex: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                fields: REQ1,
                table: REQ_T1,
                size: 57,
            },
            Step {
                hex: "8286 84be 5886 a8eb 1064 9cbf",
                fields: REQ2,
                table: REQ_T2,
                size: 110,
            },
            Step {
                hex: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                fields: REQ3,
                table: REQ_T3,
                size: 164,
            },
        ],
        4096,
        true,
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RESP_T1: &[(&str, &str)] = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
const RESP_T2: &[(&str, &str)] = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const RESP_T3: &[(&str, &str)] = &[
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

#[test]
fn c5_responses_without_huffman() {
    run(
        &[
            Step {
                hex: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                      2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                      6c65 2e63 6f6d",
                fields: RESP1,
                table: RESP_T1,
                size: 222,
            },
            Step {
                hex: "4803 3330 37c1 c0bf",
                fields: RESP2,
                table: RESP_T2,
                size: 222,
            },
            Step {
                hex: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                      54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                      5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                      3d31",
                fields: RESP3,
                table: RESP_T3,
                size: 215,
            },
        ],
        256,
        false,
    );
}

#[test]
fn c6_responses_with_huffman() {
    run(
        &[
            Step {
                hex: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                      2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                fields: RESP1,
                table: RESP_T1,
                size: 222,
            },
            Step {
                hex: "4883 640e ffc1 c0bf",
                fields: RESP2,
                table: RESP_T2,
                size: 222,
            },
            Step {
                hex: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                      77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                      9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                fields: RESP3,
                table: RESP_T3,
                size: 215,
            },
        ],
        256,
        true,
    );
}

#[test]
fn size_updates() {
    // An update at the start is applied; one after a field is an error; one
    // above the advertised limit is an error.
    let mut d = Decoder::new(4096, usize::MAX);
    d.decode(&hex("3fe1 1f 82")).unwrap(); // 4096 (0x3f e1 1f) then :method GET
    assert_eq!(d.table().max_size(), 4096);
    d.decode(&hex("20")).unwrap();
    assert_eq!(d.table().max_size(), 0);
    assert_eq!(d.decode(&hex("82 20")), Err(HpackError::SizeUpdateNotFirst));
    assert_eq!(
        d.decode(&hex("3fe2 1f")),
        Err(HpackError::SizeUpdateTooLarge)
    );
    // Two updates at the start are fine (§4.2: shrink then grow).
    d.decode(&hex("20 3f e1 1f")).unwrap();
    assert_eq!(d.table().max_size(), 4096);

    // The encoder signals the smallest size then the final one.
    let mut e = Encoder::new(4096);
    e.set_max_table_size(100);
    e.set_max_table_size(2000);
    let mut out = BytesMut::new();
    e.encode([(&b":method"[..], &b"GET"[..], false)], &mut out);
    let mut d = Decoder::new(4096, usize::MAX);
    d.decode(&out.clone().freeze()).unwrap();
    assert_eq!(d.table().max_size(), 2000);
    assert_eq!(&out[..], &hex("3f45 3fb1 0f 82")[..]);
    // Capped by the encoder's own limit.
    let mut e = Encoder::new(1024);
    e.set_max_table_size(65536);
    assert_eq!(e.table().max_size(), 1024);
}

#[test]
fn decoding_errors() {
    let mut d = Decoder::new(4096, usize::MAX);
    assert_eq!(d.decode(&hex("80")), Err(HpackError::InvalidIndex));
    assert_eq!(d.decode(&hex("be")), Err(HpackError::InvalidIndex)); // 62, table empty
    assert_eq!(d.decode(&hex("4085")), Err(HpackError::Truncated));
    assert_eq!(
        d.decode(&hex("00 81 ff 00")),
        Err(HpackError::HuffmanPadding)
    );
    assert_eq!(
        d.decode(&hex("00 84 ff ff ff ff 00")),
        Err(HpackError::HuffmanEos)
    );
    assert_eq!(
        d.decode(&hex("ff ff ff ff ff ff 01")),
        Err(HpackError::IntegerOverflow)
    );
    let e: crate::Error = HpackError::Truncated.into();
    assert_eq!(e.code(), crate::ErrorCode::COMPRESSION_ERROR);
    assert!(e.is_connection());
}

#[test]
fn header_list_size_is_bounded_but_table_kept_in_step() {
    // Limit 100: `:path /` (38 counted) and `:authority` (57) fit, the third
    // field (38) does not.
    let mut d = Decoder::new(4096, 100);
    let b = d
        .decode(&hex(
            "8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d 4003 6162 6303 6465 66",
        ))
        .unwrap();
    assert!(b.too_large);
    assert!(b.fields.is_empty());
    assert_eq!(b.list_size, 38 + 57 + 38);
    // Both literals with indexing were still added to the table.
    assert_eq!(d.table().len(), 2);
    // A later block referring to them decodes normally.
    let b = d.decode(&hex("be")).unwrap();
    assert_eq!(pairs(&b), own(&[("abc", "def")]));
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut e = Encoder::new(4096);
    let mut out = BytesMut::new();
    e.encode(
        [
            (&b"authorization"[..], &b"Basic xyz"[..], false),
            (&b"cookie"[..], &b"a=1"[..], false),
            (&b"cookie"[..], &b"session=0123456789abcdefghij"[..], false),
            (&b"x-secret"[..], &b"v"[..], true),
            (&b"x-plain"[..], &b"v"[..], false),
            (&b"content-length"[..], &b"42"[..], false),
        ],
        &mut out,
    );
    let mut d = Decoder::new(4096, usize::MAX);
    let b = d.decode(&out.freeze()).unwrap();
    let never: Vec<bool> = b.fields.iter().map(|f| f.never_indexed).collect();
    assert_eq!(never, [true, true, false, true, false, false]);
    // Indexed: the long cookie and x-plain only.
    let names: Vec<&[u8]> = e.table().iter().map(|(n, _)| &n[..]).collect();
    assert_eq!(names, [&b"x-plain"[..], b"cookie"]);
    // Repeating a sensitive field never turns into an index reference.
    let mut out = BytesMut::new();
    e.encode([(&b"x-secret"[..], &b"v"[..], true)], &mut out);
    assert_eq!(out[0] & 0xf0, 0x10);
}

#[test]
fn repeated_fields_compress_to_indexes() {
    let mut e = Encoder::new(4096);
    let fields = [
        (&b"content-type"[..], &b"text/html"[..], false),
        (&b"server"[..], &b"osprey"[..], false),
    ];
    let mut first = BytesMut::new();
    e.encode(fields, &mut first);
    let mut second = BytesMut::new();
    e.encode(fields, &mut second);
    assert_eq!(&second[..], &[0xbf, 0xbe]);
    let mut d = Decoder::new(4096, usize::MAX);
    d.decode(&first.freeze()).unwrap();
    let b = d.decode(&second.freeze()).unwrap();
    assert_eq!(
        pairs(&b),
        own(&[("content-type", "text/html"), ("server", "osprey")])
    );
}

fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
    let name = prop_oneof![
        Just(b":status".to_vec()),
        Just(b"content-type".to_vec()),
        Just(b"cookie".to_vec()),
        Just(b"set-cookie".to_vec()),
        "[a-z-]{1,12}".prop_map(String::into_bytes),
    ];
    let value = prop_oneof![
        Just(b"200".to_vec()),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    (name, value, any::<bool>())
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(
        blocks in proptest::collection::vec(proptest::collection::vec(field(), 0..12), 1..6),
        limit in 0usize..5000,
        huffman in any::<bool>(),
        all in any::<bool>(),
        resize in proptest::option::of(0usize..5000),
    ) {
        let mut e = Encoder::new(limit);
        e.set_huffman(huffman);
        e.set_indexing(if all { Indexing::All } else { Indexing::Sensible });
        // The decoder's limit is the peer's setting the encoder obeys.
        let mut d = Decoder::new(resize.unwrap_or(0).max(4096), usize::MAX);
        for (i, block) in blocks.iter().enumerate() {
            if i == 1 {
                if let Some(n) = resize {
                    e.set_max_table_size(n);
                }
            }
            let mut out = BytesMut::new();
            e.encode(block.iter().map(|(n, v, s)| (&n[..], &v[..], *s)), &mut out);
            let got = d.decode(&out.freeze()).unwrap();
            let want: Vec<_> = block.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
            let have: Vec<_> = got.fields.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
            prop_assert_eq!(have, want);
            for (f, (_, _, s)) in got.fields.iter().zip(block) {
                if *s {
                    prop_assert!(f.never_indexed);
                }
            }
            prop_assert_eq!(d.table().size(), e.table().size());
        }
    }

    #[test]
    fn random_blocks_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut d = Decoder::new(4096, 1000);
        let _ = d.decode(&Bytes::from(raw));
        prop_assert!(d.table().size() <= 4096);
    }
}
