//! One server-side HTTP/1.1 connection as a state machine: what has been read,
//! what has been answered, and whether the connection may carry another request.
//!
//! Reading and writing are kept apart, as in hyper's h1: the reader runs ahead
//! of the writer when a client pipelines (RFC 9112 §9.3.2), and the facts each
//! response needs about its request wait in a queue so that responses go out in
//! request order. The caller owns every buffer; the machine returns offsets.
//!
//! ```text
//!  reading:  Head ──head──▶ Body ──end──▶ Head …        (keep-alive)
//!                                  └──end──▶ Closed     (close, or after an error)
//!                                  └──end──▶ Upgraded   (accepted upgrade / CONNECT)
//!  writing:  Idle ──head──▶ Body ──finish──▶ Idle …
//! ```

use std::collections::VecDeque;
use std::ops::Range;

use crate::{ErrorKind, Limits, ProtoError};
use bytes::Bytes;
use osprey_proto::{HeaderMap, Status};

use crate::body::BodyDecoder;
use crate::encode::{self, BodyLength, EncodeConfig, RequestMeta};
use crate::framing::BodyFraming;
use crate::head::{Parsed, RequestHead, RequestParser};
use crate::out::OutQueue;

/// What [`ServerConn::read`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The input holds no complete element yet: read more and call again with
    /// the same bytes plus the new ones.
    Partial,
    /// A request head, now in [`ServerConn::head`]. Its spans refer to the input
    /// of this call, which the caller must keep until it is done with the head.
    Head,
    /// Request body data: this range of the input.
    Data(Range<usize>),
    /// The request body is complete (trailers in [`ServerConn::trailers`]).
    End,
    /// The connection switched protocols: every byte from the input of this call
    /// on belongs to the new protocol.
    Upgraded,
    /// No more requests will be read on this connection.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Head,
    Body,
    Upgraded,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    /// Between responses.
    Idle,
    /// A body framed as this; `Length` counts down.
    Body(BodyFraming),
    /// Nothing more will be written.
    Closed,
    /// The connection was handed to another protocol (101, or 2xx to CONNECT):
    /// it stays open, but no longer speaks HTTP/1.1.
    Upgraded,
}

/// The server side of one HTTP/1.1 connection.
#[derive(Debug)]
pub struct ServerConn {
    parser: RequestParser,
    decoder: BodyDecoder,
    reading: Reading,
    writing: Writing,
    /// Requests read whose responses have not started, oldest first.
    unanswered: VecDeque<RequestMeta>,
    upgrade_accepted: bool,
    /// The handler reads the current request's body as it arrives: an answer
    /// written before the body's end does not stop the reading.
    body_streamed: bool,
    /// False once any exchange has said the connection ends after it.
    keep_alive: bool,
}

impl ServerConn {
    /// A fresh connection enforcing `limits`.
    pub fn new(limits: Limits) -> ServerConn {
        ServerConn {
            parser: RequestParser::new(limits),
            decoder: BodyDecoder::new(BodyFraming::Empty, &limits),
            reading: Reading::Head,
            writing: Writing::Idle,
            unanswered: VecDeque::new(),
            upgrade_accepted: false,
            body_streamed: false,
            keep_alive: true,
        }
    }

    /// Reads the next element from `input`, the unconsumed bytes received so far.
    /// Returns how many bytes of `input` the caller may drop, and the event.
    ///
    /// On an error, answer with [`ServerConn::write_error`], flush and close.
    pub fn read(&mut self, input: &[u8]) -> Result<(usize, Event), ProtoError> {
        match self.reading {
            Reading::Head => match self.parser.parse(input) {
                Ok(Parsed::Partial) => Ok((0, Event::Partial)),
                Ok(Parsed::Complete(len)) => {
                    let head = self.parser.head();
                    self.decoder = BodyDecoder::new(head.body, self.parser.limits());
                    self.unanswered.push_back(RequestMeta::of(head));
                    self.reading = Reading::Body;
                    self.upgrade_accepted = false;
                    self.body_streamed = false;
                    Ok((len, Event::Head))
                }
                Err(e) => Err(self.fail(e)),
            },
            Reading::Body => {
                let step = self.decoder.decode(input).map_err(|e| self.fail(e))?;
                if !step.data.is_empty() {
                    return Ok((step.consumed, Event::Data(step.data)));
                }
                if !step.done {
                    return Ok((step.consumed, Event::Partial));
                }
                self.parser.reset();
                let head = self.parser.head();
                self.reading = if self.upgrade_accepted {
                    Reading::Upgraded
                } else if head.keep_alive && self.keep_alive {
                    Reading::Head
                } else {
                    Reading::Closed
                };
                Ok((step.consumed, Event::End))
            }
            Reading::Upgraded => Ok((0, Event::Upgraded)),
            Reading::Closed => Ok((0, Event::Closed)),
        }
    }

    fn fail(&mut self, e: ProtoError) -> ProtoError {
        self.reading = Reading::Closed;
        self.keep_alive = false;
        e
    }

    /// The client closed its side. Returns an error when it did so in the middle
    /// of a request (the server may answer 400 if the head was complete).
    pub fn read_eof(&mut self) -> Result<(), ProtoError> {
        let was = self.reading;
        self.reading = Reading::Closed;
        match was {
            Reading::Body => self.decoder.eof(),
            _ => Ok(()),
        }
    }

    /// The head of the request being read (valid after [`Event::Head`]).
    pub fn head(&self) -> &RequestHead {
        self.parser.head()
    }

    /// Trailer fields of the last chunked request body.
    pub fn trailers(&self) -> &HeaderMap {
        self.decoder.trailers()
    }

    /// Switches protocols after the current request's body: the next
    /// [`ServerConn::read`] returns [`Event::Upgraded`]. Call after
    /// [`Event::Head`] for an upgrade (or CONNECT) the server accepts, and answer
    /// with 101 (or 2xx to CONNECT).
    pub fn accept_upgrade(&mut self) {
        self.upgrade_accepted = true;
    }

    /// Whether the connection is between exchanges: no request being read, none
    /// awaiting or receiving its response. (Bytes of a next head may be waiting
    /// in the caller's buffer; the machine has not consumed them.)
    pub fn is_idle(&self) -> bool {
        self.reading == Reading::Head && self.unanswered.is_empty() && self.writing == Writing::Idle
    }

    /// Whether a request body is being read.
    pub fn is_reading_body(&self) -> bool {
        self.reading == Reading::Body && !self.decoder.is_done()
    }

    /// Body bytes of the current request still to come, when its length is
    /// known (`Content-Length`); `Some(0)` once it is complete.
    pub fn body_remaining(&self) -> Option<u64> {
        self.decoder.remaining()
    }

    /// Body bytes of the current request received so far.
    pub fn body_received(&self) -> u64 {
        self.decoder.received()
    }

    /// Says that the handler reads the current request's body as it arrives
    /// (call after [`Event::Head`]): a response written before the body's end
    /// then does not end the reading, so request and response can stream at
    /// once. If the body is abandoned, call [`ServerConn::abandon_body`].
    pub fn stream_body(&mut self) {
        self.body_streamed = true;
    }

    /// The rest of the current request's body will not be read: nothing after
    /// it can be trusted as a next request, so the connection closes once the
    /// responses due are written (RFC 9112 §9.6 allows closing after an
    /// early response; the caller closes gracefully).
    pub fn abandon_body(&mut self) {
        if self.reading == Reading::Body && !self.decoder.is_done() {
            self.keep_alive = false;
            self.reading = Reading::Closed;
        }
    }

    /// Makes the machine fresh for a new connection, keeping its allocations.
    pub fn reset(&mut self) {
        self.parser.reset();
        self.decoder = BodyDecoder::new(BodyFraming::Empty, self.parser.limits());
        self.reading = Reading::Head;
        self.writing = Writing::Idle;
        self.unanswered.clear();
        self.upgrade_accepted = false;
        self.body_streamed = false;
        self.keep_alive = true;
    }

    /// Stops reading further requests (graceful shutdown): the connection closes
    /// once the responses already due are written.
    pub fn stop_reading(&mut self) {
        self.keep_alive = false;
        if self.reading == Reading::Head {
            self.reading = Reading::Closed;
        }
        if self.writing == Writing::Idle && self.unanswered.is_empty() {
            self.writing = Writing::Closed;
        }
    }

    /// Requests read but not yet answered: the pipeline depth.
    pub fn in_flight(&self) -> usize {
        self.unanswered.len()
    }

    /// Whether a response handed the connection to another protocol: the
    /// caller passes the socket and the bytes after the request to it.
    pub fn is_upgraded(&self) -> bool {
        self.writing == Writing::Upgraded
    }

    /// Whether the connection should be closed once the output is flushed.
    pub fn should_close(&self) -> bool {
        self.writing == Writing::Closed
            || (self.reading == Reading::Closed
                && self.unanswered.is_empty()
                && self.writing == Writing::Idle)
    }

    /// Writes the head of the response to the oldest unanswered request and
    /// returns the framing its body needs. Interim 1xx responses (other than 101)
    /// leave that request unanswered.
    pub fn write_head<F>(
        &mut self,
        out: &mut OutQueue<F>,
        status: Status,
        fields: &HeaderMap,
        body: BodyLength,
        config: &EncodeConfig<'_>,
    ) -> Result<encode::Framing, ProtoError> {
        if self.writing != Writing::Idle {
            return Err(ProtoError::local(ErrorKind::IncompleteMessage));
        }
        let mut meta = *self
            .unanswered
            .front()
            .ok_or(ProtoError::local(ErrorKind::BadStartLine))?;
        let interim = status.is_informational() && status != Status::SWITCHING_PROTOCOLS;
        if !interim {
            self.unanswered.pop_front();
            // Answering a request whose body is still unread: the rest of that
            // body would be taken for the next request, so close instead
            // (RFC 9110 §10.1.1 allows either; closing is the one without guesses).
            if self.reading == Reading::Body
                && !self.body_streamed
                && self.unanswered.is_empty()
                && !self.decoder.is_done()
            {
                meta.keep_alive = false;
                self.reading = Reading::Closed;
            }
        }
        meta.keep_alive &= self.keep_alive;
        let framing = encode::encode_head(out, &meta, status, fields, body, config);
        if !interim {
            if !framing.keep_alive {
                self.keep_alive = false;
            }
            self.writing = match framing.body {
                BodyFraming::Empty => self.after_response(),
                BodyFraming::Tunnel => Writing::Upgraded,
                b => Writing::Body(b),
            };
        }
        Ok(framing)
    }

    fn after_response(&self) -> Writing {
        if self.keep_alive {
            Writing::Idle
        } else {
            Writing::Closed
        }
    }

    /// Queues body bytes of the current response (copied when small).
    pub fn write_body<F>(&mut self, out: &mut OutQueue<F>, data: &[u8]) -> Result<(), ProtoError> {
        self.body_segment(out, data.len() as u64, |out| out.write(data))
    }

    /// Queues shared body bytes of the current response without copying big ones.
    pub fn write_body_shared<F>(
        &mut self,
        out: &mut OutQueue<F>,
        data: Bytes,
    ) -> Result<(), ProtoError> {
        self.body_segment(out, data.len() as u64, |out| out.push_shared(data))
    }

    /// Queues a file range as body of the current response, for sendfile.
    pub fn write_body_file<F>(
        &mut self,
        out: &mut OutQueue<F>,
        file: F,
        offset: u64,
        len: u64,
    ) -> Result<(), ProtoError> {
        self.body_segment(out, len, |out| out.push_file(file, offset, len))
    }

    fn body_segment<F>(
        &mut self,
        out: &mut OutQueue<F>,
        len: u64,
        push: impl FnOnce(&mut OutQueue<F>),
    ) -> Result<(), ProtoError> {
        match &mut self.writing {
            // HEAD, 204, 304: the body is dropped, as the head promised.
            Writing::Idle | Writing::Closed => Ok(()),
            // After a handover the bytes belong to the new protocol.
            Writing::Upgraded => {
                push(out);
                Ok(())
            }
            Writing::Body(BodyFraming::Length(left)) => {
                if len > *left {
                    return Err(ProtoError::local(ErrorKind::BadContentLength));
                }
                *left -= len;
                push(out);
                Ok(())
            }
            Writing::Body(BodyFraming::Chunked) => {
                if len > 0 {
                    encode::chunk_start(out, len);
                    push(out);
                    encode::chunk_end(out);
                }
                Ok(())
            }
            Writing::Body(_) => {
                push(out);
                Ok(())
            }
        }
    }

    /// Ends the current response body; `trailers` go out with a chunked body and
    /// are dropped otherwise. A `Content-Length` body must be complete.
    pub fn finish_body<F>(
        &mut self,
        out: &mut OutQueue<F>,
        trailers: &HeaderMap,
    ) -> Result<(), ProtoError> {
        match self.writing {
            Writing::Body(BodyFraming::Length(left)) if left > 0 => {
                // The head promised more: the only honest ending is a close.
                self.writing = Writing::Closed;
                return Err(ProtoError::local(ErrorKind::IncompleteMessage));
            }
            Writing::Body(BodyFraming::Chunked) => encode::chunked_finish(out, trailers),
            Writing::Body(BodyFraming::UntilClose) => {
                self.keep_alive = false;
            }
            _ => {}
        }
        if self.writing != Writing::Closed && self.writing != Writing::Upgraded {
            self.writing = self.after_response();
        }
        Ok(())
    }

    /// Writes the canned reply to a protocol error; the connection then closes.
    pub fn write_error<F>(
        &mut self,
        out: &mut OutQueue<F>,
        error: ProtoError,
        config: &EncodeConfig<'_>,
    ) {
        self.write_canned(out, error.status(), config);
    }

    /// Writes a canned closing reply (408, 500, 503 ...) in place of whatever
    /// response was due; the connection then closes.
    pub fn write_canned<F>(
        &mut self,
        out: &mut OutQueue<F>,
        status: Status,
        config: &EncodeConfig<'_>,
    ) {
        encode::encode_canned(out, status, config);
        self.unanswered.clear();
        self.reading = Reading::Closed;
        self.writing = Writing::Closed;
        self.keep_alive = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::EncodeConfig;

    /// Reads the head of `input` on a fresh connection, says its body is
    /// streamed, answers `status` at once, and returns the connection and
    /// the bytes after the head.
    fn answered_early(input: &[u8], status: Status) -> (ServerConn, &[u8]) {
        let mut conn = ServerConn::new(Limits::default());
        let (n, event) = conn.read(input).unwrap();
        assert_eq!(event, Event::Head);
        conn.stream_body();
        let mut out: OutQueue<()> = OutQueue::new();
        conn.write_head(
            &mut out,
            status,
            &HeaderMap::new(),
            BodyLength::Empty,
            &EncodeConfig::default(),
        )
        .unwrap();
        (conn, &input[n..])
    }

    #[test]
    fn an_answer_before_the_end_of_a_streamed_body_keeps_reading_it() {
        let (mut conn, rest) = answered_early(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc",
            Status::OK,
        );
        assert_eq!(conn.read(rest).unwrap(), (3, Event::Data(0..3)));
        assert_eq!(conn.body_remaining(), Some(3));
        assert_eq!(conn.read(b"def").unwrap(), (3, Event::Data(0..3)));
        assert_eq!(conn.read(b"").unwrap(), (0, Event::End));
        assert!(
            !conn.should_close(),
            "the body was read: the connection lives on"
        );
    }

    #[test]
    fn an_abandoned_body_closes_the_connection() {
        let (mut conn, _) = answered_early(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n",
            Status::UNAUTHORIZED,
        );
        assert!(!conn.should_close());
        conn.abandon_body();
        assert!(conn.should_close());
        assert_eq!(conn.read(b"abcdef").unwrap(), (0, Event::Closed));
    }
}
