//! Test helpers shared by the integration tests: a client's frame builder
//! and a reader for the server's output frames.

#![allow(dead_code)]

use osprey_ws::frame::{encode_header, FrameDecoder, Mask, OpCode, Step};
use osprey_ws::{Event, WebSocket};

/// A masked client frame with a raw first byte's parts.
pub fn frame_raw(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    // Encode with a placeholder opcode, then put the real first byte in.
    encode_header(
        &mut v,
        true,
        false,
        OpCode::Binary,
        payload.len() as u64,
        Some(key),
    );
    v[0] = b0;
    let start = v.len();
    v.extend_from_slice(payload);
    Mask(key).apply(&mut v[start..]);
    v
}

/// A masked client frame.
pub fn frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    frame_raw((u8::from(fin) << 7) | op, payload, [0x12, 0x34, 0x56, 0x78])
}

/// A masked compressed (RSV1) client frame.
pub fn frame_rsv1(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    frame_raw(
        (u8::from(fin) << 7) | 0x40 | op,
        payload,
        [0xa1, 0xb2, 0xc3, 0xd4],
    )
}

/// A close frame's payload.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A server frame read back: opcode, FIN, RSV1, payload.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Out {
    pub op: OpCode,
    pub fin: bool,
    pub rsv1: bool,
    pub payload: Vec<u8>,
}

/// Decodes every frame of the server's output (unmasked, RSV1 allowed).
pub fn read_frames(mut bytes: &[u8]) -> Vec<Out> {
    let mut d = FrameDecoder::new(u64::MAX >> 1);
    d.accept_unmasked();
    d.allow_rsv1(true);
    let mut out = Vec::new();
    let mut cur: Option<Out> = None;
    loop {
        let (n, step) = d.step(bytes).expect("server output decodes");
        bytes = &bytes[n..];
        match step {
            Step::Need => break,
            Step::Header(h) => {
                cur = Some(Out {
                    op: h.opcode,
                    fin: h.fin,
                    rsv1: h.rsv1,
                    payload: Vec::new(),
                })
            }
            Step::Payload(p, m) => m.unmask_into(p, &mut cur.as_mut().unwrap().payload),
            Step::End => out.push(cur.take().unwrap()),
        }
    }
    assert!(bytes.is_empty());
    out
}

/// Takes the output of `ws` as frames.
pub fn take_frames(ws: &mut WebSocket) -> Vec<Out> {
    let b = ws.take_output();
    read_frames(&b)
}

/// Drains the events of `ws`.
pub fn events(ws: &mut WebSocket) -> Vec<Event> {
    std::iter::from_fn(|| ws.poll_event()).collect()
}

/// The close code of a close frame read back.
pub fn close_code(o: &Out) -> u16 {
    assert_eq!(o.op, OpCode::Close);
    u16::from_be_bytes([o.payload[0], o.payload[1]])
}
