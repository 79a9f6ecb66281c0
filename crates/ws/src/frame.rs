//! WebSocket frames (RFC 6455 §5): an incremental decoder for client frames and
//! an encoder for server frames.
//!
//! The decoder takes bytes in any split and never buffers a payload: it reads
//! a header (2 to 14 bytes, kept across calls), then hands out the payload as
//! the slices of input it arrives in, still masked, each with the [`Mask`]
//! that undoes it. Every per-frame rule of §5.2 is checked here, as early as
//! the bytes allow; the rules that span frames (fragmentation, UTF-8, close)
//! belong to the connection machine.

use bytes::BufMut;

use crate::error::ProtocolError;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 §5.2, §11.8). The reserved values 3–7 and
/// 0xB–0xF are refused by the decoder, so they have no variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: the next fragment of a message (§5.4).
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close (§5.5.1).
    Close,
    /// 0x9: ping (§5.5.2).
    Ping,
    /// 0xA: pong (§5.5.3).
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, `None` for a reserved one.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last fragment of a message (§5.2 FIN).
    pub fin: bool,
    /// RSV1: "compressed" under permessage-deflate (RFC 7692 §6).
    pub rsv1: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key (§5.3); client frames always carry one.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

/// A masking key turned to a position in the payload: byte `i` of the slice
/// it comes with is XORed with `key[i % 4]` (RFC 6455 §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mask(pub [u8; 4]);

impl Mask {
    /// The key for bytes starting `offset` bytes into the payload.
    fn at(key: [u8; 4], offset: u64) -> Mask {
        let mut k = key;
        k.rotate_left((offset % 4) as usize);
        Mask(k)
    }

    /// The mask for the bytes `n` further into the payload.
    pub fn advance(self, n: usize) -> Mask {
        let mut k = self.0;
        k.rotate_left(n % 4);
        Mask(k)
    }

    /// Unmasks (or masks: XOR is its own inverse) `data` in place, eight bytes
    /// at a time.
    pub fn apply(self, data: &mut [u8]) {
        let k = self.0;
        let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
        let mut words = data.chunks_exact_mut(8);
        for w in &mut words {
            let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ wide;
            w.copy_from_slice(&v.to_ne_bytes());
        }
        // Each word is a multiple of 4 bytes, so the tail starts at key[0].
        for (i, b) in words.into_remainder().iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }

    /// Appends `data` unmasked to `out`.
    pub fn unmask_into(self, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(data);
        self.apply(&mut out[start..]);
    }
}

/// What the decoder found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// All input is consumed and more is needed.
    Need,
    /// A complete, valid frame header. The payload follows.
    Header(FrameHeader),
    /// The next piece of the payload, as received (masked), with the mask
    /// that undoes it.
    Payload(&'a [u8], Mask),
    /// The current frame's payload is complete (also right after the header of
    /// an empty frame).
    End,
}

/// What the decoder reads next.
#[derive(Clone, Copy, Debug)]
enum State {
    /// A header, `have` bytes of it in `head`.
    Header,
    /// The payload of `header`, `done` bytes of it seen.
    Payload { header: FrameHeader, done: u64 },
}

/// An incremental decoder of client-to-server frames.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    head: [u8; 14],
    have: usize,
    max_frame: u64,
    rsv1_allowed: bool,
    require_mask: bool,
}

impl FrameDecoder {
    /// A decoder refusing payloads over `max_frame` bytes (1009). Client
    /// frames must be masked; RSV1 is refused until
    /// [`FrameDecoder::allow_rsv1`].
    pub fn new(max_frame: u64) -> FrameDecoder {
        FrameDecoder {
            state: State::Header,
            head: [0; 14],
            have: 0,
            max_frame,
            rsv1_allowed: false,
            require_mask: true,
        }
    }

    /// Accept RSV1 on the first frame of data messages: a negotiated
    /// extension (permessage-deflate, RFC 7692 §6) gives it a meaning.
    pub fn allow_rsv1(&mut self, allowed: bool) {
        self.rsv1_allowed = allowed;
    }

    /// Accept unmasked frames (for decoding our own output in tests, or frames
    /// from a server).
    pub fn accept_unmasked(&mut self) {
        self.require_mask = false;
    }

    /// Decodes from `input`: returns how many bytes were consumed and what
    /// they held. Call again with the rest until [`Step::Need`].
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), ProtocolError> {
        match self.state {
            State::Header => self.header(input),
            State::Payload { header, done } => {
                let left = header.len - done;
                if left == 0 {
                    self.state = State::Header;
                    return Ok((0, Step::End));
                }
                if input.is_empty() {
                    return Ok((0, Step::Need));
                }
                let n = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                let mask = Mask::at(header.mask.unwrap_or([0; 4]), done);
                self.state = State::Payload {
                    header,
                    done: done + n as u64,
                };
                Ok((n, Step::Payload(&input[..n], mask)))
            }
        }
    }

    /// Whether the current frame's payload is all read and the next
    /// [`FrameDecoder::step`] gives [`Step::End`] without needing input.
    pub fn end_due(&self) -> bool {
        matches!(self.state, State::Payload { header, done } if done == header.len)
    }

    /// Whether the decoder is between frames (no header or payload begun).
    pub fn at_frame_boundary(&self) -> bool {
        matches!(self.state, State::Header) && self.have == 0
    }

    fn header<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Step<'a>), ProtocolError> {
        let mut used = 0;
        // The first two bytes decide everything else, so their rules are
        // checked before the extended length and the mask arrive.
        while self.have < 2 {
            let Some(&b) = input.get(used) else {
                return Ok((used, Step::Need));
            };
            self.head[self.have] = b;
            self.have += 1;
            used += 1;
            if self.have == 1 {
                self.check_first(b)?;
            } else {
                self.check_second(b)?;
            }
        }
        let len7 = self.head[1] & 0x7f;
        let masked = self.head[1] & 0x80 != 0;
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let total = 2 + ext + if masked { 4 } else { 0 };
        let take = (total - self.have).min(input.len() - used);
        self.head[self.have..self.have + take].copy_from_slice(&input[used..used + take]);
        self.have += take;
        used += take;
        // The extended length is checked as soon as it is complete, before
        // the mask (§5.2: minimal encoding; the 64-bit form's top bit is 0).
        if self.have < 2 + ext {
            return Ok((used, Step::Need));
        }
        let len = match ext {
            0 => u64::from(len7),
            2 => {
                let l = u64::from(u16::from_be_bytes([self.head[2], self.head[3]]));
                if l < 126 {
                    return Err(ProtocolError::protocol("non-minimal 16-bit payload length"));
                }
                l
            }
            _ => {
                let mut b = [0; 8];
                b.copy_from_slice(&self.head[2..10]);
                let l = u64::from_be_bytes(b);
                if l >> 63 != 0 {
                    return Err(ProtocolError::protocol(
                        "64-bit payload length with the top bit set",
                    ));
                }
                if l <= 0xffff {
                    return Err(ProtocolError::protocol("non-minimal 64-bit payload length"));
                }
                l
            }
        };
        if len > self.max_frame {
            return Err(ProtocolError::too_big("frame too large"));
        }
        if self.have < total {
            return Ok((used, Step::Need));
        }
        let mask = masked.then(|| {
            let m = 2 + ext;
            [
                self.head[m],
                self.head[m + 1],
                self.head[m + 2],
                self.head[m + 3],
            ]
        });
        let b0 = self.head[0];
        let header = FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            // Checked in check_first.
            opcode: OpCode::from_u8(b0 & 0x0f).unwrap_or(OpCode::Binary),
            mask,
            len,
        };
        self.have = 0;
        self.state = State::Payload { header, done: 0 };
        Ok((used, Step::Header(header)))
    }

    /// FIN, RSV1-3 and the opcode (§5.2).
    fn check_first(&self, b: u8) -> Result<(), ProtocolError> {
        let Some(op) = OpCode::from_u8(b & 0x0f) else {
            return Err(ProtocolError::protocol("reserved opcode"));
        };
        // §5.2: RSV2 and RSV3 have no meaning without an extension defining
        // them, and we negotiate none that does.
        if b & 0x30 != 0 {
            return Err(ProtocolError::protocol("reserved bits set"));
        }
        if b & 0x40 != 0 {
            if !self.rsv1_allowed {
                return Err(ProtocolError::protocol("reserved bits set"));
            }
            // RFC 7692 §6.1: only the first frame of a data message may carry
            // the "compressed" bit; control frames are never compressed.
            if op.is_control() || op == OpCode::Continuation {
                return Err(ProtocolError::protocol(
                    "RSV1 set on a control or continuation frame",
                ));
            }
        }
        // §5.5: control frames are never fragmented.
        if op.is_control() && b & 0x80 == 0 {
            return Err(ProtocolError::protocol("fragmented control frame"));
        }
        Ok(())
    }

    /// MASK and the 7-bit length (§5.1, §5.5).
    fn check_second(&self, b: u8) -> Result<(), ProtocolError> {
        // §5.1: "a server MUST close the connection upon receiving a frame
        // that is not masked" (with 1002, §7.4.1).
        if self.require_mask && b & 0x80 == 0 {
            return Err(ProtocolError::protocol("unmasked client frame"));
        }
        let op = OpCode::from_u8(self.head[0] & 0x0f);
        if op.is_some_and(OpCode::is_control) && (b & 0x7f) as usize > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::protocol(
                "control frame payload over 125 bytes",
            ));
        }
        Ok(())
    }
}

/// Appends a frame header (RFC 6455 §5.2) with the shortest length encoding.
/// Server frames are not masked (§5.1), so `mask` is for tests and clients.
pub fn encode_header<B: BufMut>(
    out: &mut B,
    fin: bool,
    rsv1: bool,
    opcode: OpCode,
    len: u64,
    mask: Option<[u8; 4]>,
) {
    let b0 = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.as_u8();
    out.put_u8(b0);
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.put_u8(m | len as u8);
    } else if len <= 0xffff {
        out.put_u8(m | 126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(m | 127);
        out.put_u64(len);
    }
    if let Some(k) = mask {
        out.put_slice(&k);
    }
}

/// Appends a whole unmasked frame.
pub fn encode_frame<B: BufMut>(out: &mut B, fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) {
    encode_header(out, fin, rsv1, opcode, payload.len() as u64, None);
    out.put_slice(payload);
}

/// Appends a message as frames of at most `fragment` payload bytes each (one
/// frame when `fragment` is 0 or the payload fits): the first frame carries
/// `opcode` and `rsv1`, the rest are continuations (§5.4).
pub fn encode_message<B: BufMut>(
    out: &mut B,
    opcode: OpCode,
    rsv1: bool,
    payload: &[u8],
    fragment: usize,
) {
    if fragment == 0 || payload.len() <= fragment {
        encode_frame(out, true, rsv1, opcode, payload);
        return;
    }
    let mut chunks = payload.chunks(fragment).peekable();
    let mut first = true;
    while let Some(chunk) = chunks.next() {
        let fin = chunks.peek().is_none();
        let op = if first { opcode } else { OpCode::Continuation };
        encode_frame(out, fin, rsv1 && first, op, chunk);
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;

    /// Decodes every frame of `input` at once: headers with unmasked payloads.
    fn decode_all(
        d: &mut FrameDecoder,
        mut input: &[u8],
    ) -> Result<Vec<(FrameHeader, Vec<u8>)>, ProtocolError> {
        let mut frames = Vec::new();
        let mut cur: Option<(FrameHeader, Vec<u8>)> = None;
        loop {
            let (n, step) = d.step(input)?;
            input = &input[n..];
            match step {
                Step::Need => return Ok(frames),
                Step::Header(h) => cur = Some((h, Vec::new())),
                Step::Payload(p, m) => m.unmask_into(p, &mut cur.as_mut().unwrap().1),
                Step::End => frames.push(cur.take().unwrap()),
            }
        }
    }

    fn masked(fin: bool, op: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_header(&mut v, fin, false, op, payload.len() as u64, Some(key));
        let start = v.len();
        v.extend_from_slice(payload);
        Mask(key).apply(&mut v[start..]);
        v
    }

    #[test]
    fn rfc_5_7_single_frame_masked_text() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let frames = decode_all(&mut FrameDecoder::new(1 << 20), &wire).unwrap();
        assert_eq!(frames.len(), 1);
        let (h, p) = &frames[0];
        assert!(h.fin && !h.rsv1);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(p, b"Hello");
        assert_eq!(
            masked(true, OpCode::Text, b"Hello", [0x37, 0xfa, 0x21, 0x3d]),
            wire
        );
    }

    #[test]
    fn rfc_5_7_unmasked_examples_encode_byte_for_byte() {
        let mut v = Vec::new();
        encode_frame(&mut v, true, false, OpCode::Text, b"Hello");
        assert_eq!(v, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        // A fragmented unmasked text message.
        let mut v = Vec::new();
        encode_message(&mut v, OpCode::Text, false, b"Hello", 3);
        assert_eq!(v, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
        // Unmasked ping, and the masked pong answering it.
        let mut v = Vec::new();
        encode_frame(&mut v, true, false, OpCode::Ping, b"Hello");
        assert_eq!(v, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let pong = masked(true, OpCode::Pong, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            pong,
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // 256 bytes of binary data in a single unmasked frame.
        let mut v = Vec::new();
        encode_header(&mut v, true, false, OpCode::Binary, 256, None);
        assert_eq!(v, [0x82, 0x7e, 0x01, 0x00]);
        // 64 KiB.
        let mut v = Vec::new();
        encode_header(&mut v, true, false, OpCode::Binary, 65536, None);
        assert_eq!(v, [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn rfc_5_7_examples_decode_unmasked_when_allowed() {
        let mut d = FrameDecoder::new(1 << 20);
        d.accept_unmasked();
        let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        let frames = decode_all(&mut d, &wire).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!((frames[0].0.fin, frames[0].0.opcode), (false, OpCode::Text));
        assert_eq!(frames[0].1, b"Hel");
        assert_eq!(
            (frames[1].0.fin, frames[1].0.opcode),
            (true, OpCode::Continuation)
        );
        assert_eq!(frames[1].1, b"lo");
        let mut big = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        big.extend(std::iter::repeat_n(7u8, 65536));
        let frames = decode_all(&mut d, &big).unwrap();
        assert_eq!(frames[0].0.len, 65536);
        assert_eq!(frames[0].1.len(), 65536);
    }

    #[test]
    fn masked_lengths_and_every_split() {
        let key = [1, 2, 3, 4];
        for len in [0usize, 1, 125, 126, 127, 256, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let wire = masked(true, OpCode::Binary, &payload, key);
            for split in [1, 2, 3, 5, 7, 13, 4096] {
                let mut d = FrameDecoder::new(1 << 20);
                let mut got = Vec::new();
                let mut ended = false;
                for piece in wire.chunks(split) {
                    let mut input = piece;
                    loop {
                        let (n, step) = d.step(input).unwrap();
                        input = &input[n..];
                        match step {
                            Step::Need => break,
                            Step::Header(h) => assert_eq!(h.len, len as u64),
                            Step::Payload(p, m) => m.unmask_into(p, &mut got),
                            Step::End => ended = true,
                        }
                    }
                }
                assert!(ended, "len {len} split {split}");
                assert_eq!(got, payload, "len {len} split {split}");
            }
        }
    }

    fn first_error(wire: &[u8]) -> Option<ProtocolError> {
        let mut d = FrameDecoder::new(1 << 20);
        decode_all(&mut d, wire).err()
    }

    #[test]
    fn per_frame_rules() {
        let proto = |r: Option<ProtocolError>| r.map(|e| e.code);
        let p = Some(CloseCode::PROTOCOL_ERROR);
        // Unmasked client frame.
        assert_eq!(proto(first_error(&[0x81, 0x00])), p);
        // RSV1, RSV2, RSV3 without an extension.
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(proto(first_error(&[0x81 | rsv])), p, "{rsv:x}");
        }
        // Reserved opcodes: refused on the first byte alone.
        for op in [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(proto(first_error(&[0x80 | op])), p, "{op:x}");
        }
        // Fragmented control frames, and control payloads over 125.
        assert_eq!(proto(first_error(&[0x09])), p);
        assert_eq!(proto(first_error(&[0x89, 0x80 | 126])), p);
        assert_eq!(proto(first_error(&[0x88, 0x80 | 127])), p);
        assert_eq!(
            first_error(&masked(true, OpCode::Ping, &[0; 125], [9; 4])),
            None
        );
        // Non-minimal lengths.
        assert_eq!(proto(first_error(&[0x82, 0xfe, 0x00, 0x7d])), p);
        assert_eq!(
            proto(first_error(&[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff])),
            p
        );
        // The 64-bit length's top bit.
        assert_eq!(
            proto(first_error(&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0])),
            p
        );
        // Over the frame limit: 1009 from the length alone.
        let mut d = FrameDecoder::new(1000);
        let e = decode_all(&mut d, &[0x82, 0xfe, 0x03, 0xe9]).unwrap_err();
        assert_eq!(e.code, CloseCode::TOO_BIG);
    }

    #[test]
    fn rsv1_only_where_permessage_deflate_allows_it() {
        let mut d = FrameDecoder::new(1 << 20);
        d.allow_rsv1(true);
        assert!(decode_all(&mut d, &[0xc1, 0x80, 0, 0, 0, 0]).is_ok());
        let mut d = FrameDecoder::new(1 << 20);
        d.allow_rsv1(true);
        assert!(decode_all(&mut d, &[0xc0]).is_err());
        let mut d = FrameDecoder::new(1 << 20);
        d.allow_rsv1(true);
        assert!(decode_all(&mut d, &[0xc9]).is_err());
    }

    #[test]
    fn unmask_matches_bytewise_at_every_offset() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..100u8).collect();
        for off in 0..8u64 {
            let mut fast = data.clone();
            Mask::at(key, off).apply(&mut fast);
            let slow: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[((i as u64 + off) % 4) as usize])
                .collect();
            assert_eq!(fast, slow, "offset {off}");
        }
    }
}
