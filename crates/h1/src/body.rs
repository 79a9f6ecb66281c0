//! Body decoders: Content-Length, chunked (RFC 9112 §7.1) and close-delimited.
//!
//! A decoder never copies body bytes: each [`BodyDecoder::decode`] call returns a
//! range of its input that is body data. The chunked decoder keeps its position
//! inside a chunk-size line byte by byte, so like the head parser it can be fed
//! any split of the input and never looks at a byte twice.
//!
//! Strictness, each an error that ends the connection:
//! - chunk sizes are hex digits only: no sign, no `0x`, no leading whitespace, and
//!   whitespace after the digits only before a `;` extension (the BWS of §7.1.1);
//! - a size too big for u64, or a chunk line longer than `max_chunk_line`;
//! - chunk data must be followed by CR LF exactly; LF alone is refused as in heads;
//! - the body may not exceed `max_body` (413), checked when each size is read, so
//!   a huge chunk is refused before its data arrives;
//! - trailer fields follow the head's field rules and are bounded in size and
//!   count (431).

use std::ops::Range;

use crate::{ErrorKind, Limits, ProtoError};
use osprey_proto::chars::FIELD_VALUE;
use osprey_proto::{HeaderMap, HeaderName, HeaderValue};

use crate::field::parse_field_line;
use crate::framing::BodyFraming;
use crate::scan::{LineError, Lines};

/// What one [`BodyDecoder::decode`] call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used up: the caller drops them from its buffer.
    pub consumed: usize,
    /// Body data, as a range of the input (within `..consumed`); may be empty.
    pub data: Range<usize>,
    /// The body is complete; what follows `consumed` is the next message.
    pub done: bool,
}

/// Incremental decoder for one message body.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    kind: Kind,
    max_body: u64,
    received: u64,
    trailers: HeaderMap,
}

#[derive(Clone, Debug)]
enum Kind {
    Done,
    Length(u64),
    Chunked(Box<Chunked>),
    UntilClose,
}

#[derive(Clone, Debug)]
struct Chunked {
    state: State,
    /// Value of the size being read, then bytes left in the current chunk.
    size: u64,
    digits: usize,
    line_len: usize,
    max_chunk_line: usize,
    max_trailer: usize,
    max_trailers: usize,
    trailer_buf: Vec<u8>,
    trailer_lines: Lines,
    trailers: HeaderMap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size,
    /// Whitespace after the size: only a `;` extension may follow (BWS).
    SizeSpace,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Trailer,
    Done,
}

#[inline]
fn err(kind: ErrorKind) -> ProtoError {
    ProtoError::remote(kind)
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`. `Empty` and `Tunnel` bodies are
    /// complete from the start.
    pub fn new(framing: BodyFraming, limits: &Limits) -> BodyDecoder {
        let kind = match framing {
            BodyFraming::Empty | BodyFraming::Tunnel | BodyFraming::Length(0) => Kind::Done,
            BodyFraming::Length(n) => Kind::Length(n),
            BodyFraming::UntilClose => Kind::UntilClose,
            BodyFraming::Chunked => Kind::Chunked(Box::new(Chunked {
                state: State::Size,
                size: 0,
                digits: 0,
                line_len: 0,
                max_chunk_line: limits.max_chunk_line,
                max_trailer: limits.max_trailer,
                max_trailers: limits.max_trailers,
                trailer_buf: Vec::new(),
                trailer_lines: Lines::default(),
                trailers: HeaderMap::new(),
            })),
        };
        BodyDecoder {
            kind,
            max_body: limits.max_body,
            received: 0,
            trailers: HeaderMap::new(),
        }
    }

    /// Decodes from `input`, stopping after one run of data, at the end of the
    /// body, or when the input is used up. Call again with the rest of the input
    /// until `done`, or until a step with no data and nothing left to feed.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ProtoError> {
        match &mut self.kind {
            Kind::Done => Ok(Step {
                consumed: 0,
                data: 0..0,
                done: true,
            }),
            Kind::Length(left) => {
                let n = (*left).min(input.len() as u64);
                *left -= n;
                self.received += n;
                let done = *left == 0;
                if done {
                    self.kind = Kind::Done;
                }
                Ok(Step {
                    consumed: n as usize,
                    data: 0..n as usize,
                    done,
                })
            }
            Kind::UntilClose => {
                self.received += input.len() as u64;
                if self.received > self.max_body {
                    return Err(err(ErrorKind::BodyTooLarge));
                }
                Ok(Step {
                    consumed: input.len(),
                    data: 0..input.len(),
                    done: false,
                })
            }
            Kind::Chunked(c) => {
                let step = c.decode(input, self.max_body, &mut self.received)?;
                if step.done {
                    self.trailers = std::mem::take(&mut c.trailers);
                    self.kind = Kind::Done;
                }
                Ok(step)
            }
        }
    }

    /// The peer closed the connection. Fine for a close-delimited body (which is
    /// then complete), an error for any body still expecting bytes.
    pub fn eof(&mut self) -> Result<(), ProtoError> {
        match self.kind {
            Kind::Done => Ok(()),
            Kind::UntilClose => {
                self.kind = Kind::Done;
                Ok(())
            }
            _ => Err(err(ErrorKind::IncompleteMessage)),
        }
    }

    /// Whether the body has been read completely.
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }

    /// Body bytes still to come, when the length is known.
    pub fn remaining(&self) -> Option<u64> {
        match self.kind {
            Kind::Done => Some(0),
            Kind::Length(left) => Some(left),
            _ => None,
        }
    }

    /// Body bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Trailer fields of a chunked body, once it is done (RFC 9110 §6.5). Empty
    /// for other bodies.
    pub fn trailers(&self) -> &HeaderMap {
        &self.trailers
    }

    /// Takes the trailer fields out of the decoder.
    pub fn take_trailers(&mut self) -> HeaderMap {
        std::mem::take(&mut self.trailers)
    }
}

impl Chunked {
    fn decode(
        &mut self,
        input: &[u8],
        max_body: u64,
        received: &mut u64,
    ) -> Result<Step, ProtoError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Size | State::SizeSpace | State::Extension => {
                    // The limit covers size and extensions, not the CR LF.
                    self.line_len += usize::from(b != b'\r');
                    if self.line_len > self.max_chunk_line {
                        return Err(err(ErrorKind::ChunkLineTooLong));
                    }
                    self.size_line_byte(b)?;
                    i += 1;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(err(ErrorKind::BareCr));
                    }
                    i += 1;
                    self.line_len = 0;
                    self.digits = 0;
                    if self.size == 0 {
                        self.state = State::Trailer;
                    } else {
                        // Refuse an oversized body before its data arrives.
                        if received.saturating_add(self.size) > max_body {
                            return Err(err(ErrorKind::BodyTooLarge));
                        }
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let n = self.size.min((input.len() - i) as u64) as usize;
                    self.size -= n as u64;
                    *received += n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok(Step {
                        consumed: i + n,
                        data: i..i + n,
                        done: false,
                    });
                }
                State::DataCr | State::DataLf => {
                    let expected = if self.state == State::DataCr {
                        b'\r'
                    } else {
                        b'\n'
                    };
                    if b != expected {
                        return Err(err(if b == b'\n' {
                            ErrorKind::BareLf
                        } else {
                            ErrorKind::BadChunk
                        }));
                    }
                    self.state = if self.state == State::DataCr {
                        State::DataLf
                    } else {
                        State::Size
                    };
                    i += 1;
                }
                State::Trailer => {
                    i += self.trailer(&input[i..])?;
                }
                State::Done => break,
            }
        }
        Ok(Step {
            consumed: i,
            data: i..i,
            done: self.state == State::Done,
        })
    }

    /// One byte of `chunk-size [ chunk-ext ] CRLF` (RFC 9112 §7.1).
    #[inline]
    fn size_line_byte(&mut self, b: u8) -> Result<(), ProtoError> {
        match (self.state, b) {
            (State::Size, _) if b.is_ascii_hexdigit() => {
                let digit = (b as char).to_digit(16).unwrap_or(0);
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(u64::from(digit)))
                    .ok_or(err(ErrorKind::BadChunk))?;
                self.digits += 1;
            }
            // Everything after the size needs at least one digit before it.
            (State::Size, _) if self.digits == 0 => return Err(err(ErrorKind::BadChunk)),
            (State::Size | State::SizeSpace, b' ' | b'\t') => self.state = State::SizeSpace,
            (State::Size | State::SizeSpace, b';') => self.state = State::Extension,
            (State::Size | State::Extension, b'\r') => self.state = State::SizeLf,
            (_, b'\n') => return Err(err(ErrorKind::BareLf)),
            // Extensions are ignored, but they may only hold field-value bytes.
            (State::Extension, _) if FIELD_VALUE[b as usize] => {}
            _ => return Err(err(ErrorKind::BadChunk)),
        }
        Ok(())
    }

    /// Feeds trailer-section bytes; returns how many of `input` belong to it.
    fn trailer(&mut self, input: &[u8]) -> Result<usize, ProtoError> {
        let before = self.trailer_buf.len();
        let room = (self.max_trailer + 2).saturating_sub(before);
        self.trailer_buf
            .extend_from_slice(&input[..input.len().min(room)]);
        loop {
            // As in heads: a limit already broken before the bad byte wins, so the
            // error does not depend on how the input was split.
            let line = self.trailer_lines.next(&self.trailer_buf).map_err(|e| {
                err(match e {
                    _ if e.at() > self.max_trailer => ErrorKind::TrailerTooLarge,
                    LineError::BareCr(_) => ErrorKind::BareCr,
                    LineError::BareLf(_) => ErrorKind::BareLf,
                    LineError::Control(_) => ErrorKind::BadChunk,
                })
            })?;
            // The limit covers the field lines, not the blank line that ends
            // the section; a CR still waiting for its LF is not counted yet.
            let end = self.trailer_lines.pos;
            let size = match line {
                None => {
                    self.trailer_buf.len() - usize::from(self.trailer_buf.last() == Some(&b'\r'))
                }
                Some((s, e)) if s == e => end - 2,
                Some(_) => end,
            };
            if size > self.max_trailer {
                return Err(err(ErrorKind::TrailerTooLarge));
            }
            match line {
                None => return Ok(self.trailer_buf.len() - before),
                Some((s, e)) if s == e => {
                    self.state = State::Done;
                    self.trailer_buf = Vec::new();
                    return Ok(end - before);
                }
                Some((s, e)) => {
                    if self.trailers.len() == self.max_trailers {
                        return Err(err(ErrorKind::TrailerTooLarge));
                    }
                    let field = parse_field_line(&self.trailer_buf, s, e)?;
                    let bad = |_| err(ErrorKind::BadChunk);
                    let name =
                        HeaderName::from_bytes(field.name.of(&self.trailer_buf)).map_err(bad)?;
                    let value =
                        HeaderValue::from_bytes(field.value.of(&self.trailer_buf)).map_err(bad)?;
                    self.trailers.append(name, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        framing: BodyFraming,
        input: &[u8],
    ) -> Result<(Vec<u8>, usize, bool), ProtoError> {
        let mut d = BodyDecoder::new(framing, &Limits::default());
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let step = d.decode(&input[pos..])?;
            out.extend_from_slice(&input[pos + step.data.start..pos + step.data.end]);
            pos += step.consumed;
            if step.done || (step.data.is_empty() && pos == input.len()) {
                return Ok((out, pos, step.done));
            }
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"5;a=b\r\nhello\r\n6 ;x\r\n world\r\n0\r\nChecksum: abc\r\n\r\nNEXT";
        let mut d = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let step = d.decode(&input[pos..]).unwrap();
            out.extend_from_slice(&input[pos..][step.data.clone()]);
            pos += step.consumed;
            if step.done {
                break;
            }
        }
        assert_eq!(out, b"hello world");
        assert_eq!(&input[pos..], b"NEXT");
        assert_eq!(d.trailers().get("checksum").unwrap().as_bytes(), b"abc");
    }

    #[test]
    fn chunked_errors() {
        let status = |input: &[u8]| {
            decode_all(BodyFraming::Chunked, input)
                .unwrap_err()
                .status()
                .as_u16()
        };
        assert_eq!(status(b"0x5\r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(status(b" 5\r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(status(b"5 \r\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(status(b"5\nhello\r\n0\r\n\r\n"), 400);
        assert_eq!(status(b"5\r\nhelloXX0\r\n\r\n"), 400);
        assert_eq!(status(b"-5\r\n"), 400);
        assert_eq!(status(b"fffffffffffffffff\r\n"), 400);
        assert_eq!(status(b"1000000000\r\n"), 413);
    }

    #[test]
    fn length_and_close() {
        assert_eq!(
            decode_all(BodyFraming::Length(3), b"abcdef").unwrap(),
            (b"abc".to_vec(), 3, true)
        );
        let (data, used, done) = decode_all(BodyFraming::UntilClose, b"abc").unwrap();
        assert_eq!((data.as_slice(), used, done), (&b"abc"[..], 3, false));
        let mut d = BodyDecoder::new(BodyFraming::Length(3), &Limits::default());
        assert_eq!(d.eof().unwrap_err().kind(), ErrorKind::IncompleteMessage);
    }
}
