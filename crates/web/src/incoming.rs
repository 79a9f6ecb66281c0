//! Request bodies as they arrive: pulled by the handler from a bounded buffer
//! the server fills.
//!
//! A route that streams its body (see [`crate::streaming`]) is called as soon
//! as the request head is in, and takes the body with
//! [`crate::Request::body_stream`]. The server copies received bytes into the
//! body's buffer only while it is below its capacity; when it is full the
//! connection stops reading its socket, so a fast client is held back by TCP
//! flow control and an upload of any size costs the buffer, not its size. The
//! first pull is also the server's cue to send `100 Continue` (RFC 9110
//! §10.1.1) to a client that asked for it: a handler that answers without
//! reading (a 401, a 413) never invites the body.
//!
//! A body is read asynchronously inside a pending reply
//! ([`RequestBody::chunk`]) or, by a handler marked blocking (it runs on a
//! worker thread), with [`std::io::Read`].

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use osprey_proto::HeaderMap;

struct State {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    capacity: usize,
    /// All of the body has been received.
    ended: bool,
    /// The body was cut short (the client went away, or broke the framing).
    failed: Option<io::ErrorKind>,
    trailers: HeaderMap,
    /// The consumer pulled at least once (send `100 Continue`).
    wanted: bool,
    /// The consumer is gone: the rest of the body is not wanted.
    dropped: bool,
    /// The server's connection, woken when the consumer makes room, first
    /// pulls, or goes away.
    producer: Option<Waker>,
    /// The consumer, woken when bytes (or the end) arrive.
    consumer: Option<Waker>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled with the consumer waker, for blocking reads.
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data: a panic while holding the lock leaves nothing torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request body being received; see the module documentation.
pub struct RequestBody {
    shared: Arc<Shared>,
    /// Bytes of a chunk not yet returned by a blocking `read`.
    partial: Bytes,
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestBody")
    }
}

impl RequestBody {
    /// The next piece of the body: `Some(Ok(bytes))`, `None` at its end, or
    /// `Some(Err(_))` if it was cut short (the client went away or broke the
    /// framing; the server answers that itself).
    pub async fn chunk(&mut self) -> Option<io::Result<Bytes>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The body collected whole, refused with an error once it exceeds
    /// `limit` bytes.
    pub async fn collect(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(piece) = self.chunk().await {
            let piece = piece?;
            if all.len() + piece.len() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request body larger than the limit",
                ));
            }
            all.extend_from_slice(&piece);
        }
        Ok(all)
    }

    /// Polls for the next piece (see [`RequestBody::chunk`]).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if !self.partial.is_empty() {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.partial))));
        }
        let mut state = self.shared.lock();
        match take_piece(&mut state) {
            Taken::Piece(piece, waker) => {
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Ready(Some(Ok(piece)))
            }
            Taken::End => Poll::Ready(None),
            Taken::Failed(kind) => Poll::Ready(Some(Err(kind.into()))),
            Taken::Nothing(waker) => {
                if !state
                    .consumer
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.consumer = Some(cx.waker().clone());
                }
                drop(state);
                if let Some(w) = waker {
                    w.wake();
                }
                Poll::Pending
            }
        }
    }

    /// Trailer fields of a chunked body, once it has ended.
    pub fn trailers(&self) -> HeaderMap {
        self.shared.lock().trailers.clone()
    }
}

/// Takes the next piece under the lock; the producer's waker comes back when
/// it should be woken (room was made, or this is the first pull).
fn take_piece(state: &mut State) -> Taken {
    let first = !state.wanted;
    state.wanted = true;
    let was_full = state.buffered >= state.capacity;
    if let Some(piece) = state.chunks.pop_front() {
        state.buffered -= piece.len();
        let wake = first || (was_full && state.buffered < state.capacity);
        return Taken::Piece(piece, wake.then(|| state.producer.clone()).flatten());
    }
    if let Some(kind) = state.failed {
        return Taken::Failed(kind);
    }
    if state.ended {
        return Taken::End;
    }
    Taken::Nothing(first.then(|| state.producer.clone()).flatten())
}

enum Taken {
    Piece(Bytes, Option<Waker>),
    End,
    Failed(io::ErrorKind),
    Nothing(Option<Waker>),
}

/// Blocking reads, for handlers that run on a worker thread (marked
/// blocking). Reading on an event loop's thread would stall every other
/// connection on it: use [`RequestBody::chunk`] in a pending reply there.
impl io::Read for RequestBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.partial.is_empty() {
            let mut state = self.shared.lock();
            loop {
                match take_piece(&mut state) {
                    Taken::Piece(piece, waker) => {
                        drop(state);
                        if let Some(w) = waker {
                            w.wake();
                        }
                        self.partial = piece;
                        break;
                    }
                    Taken::End => return Ok(0),
                    Taken::Failed(kind) => return Err(kind.into()),
                    Taken::Nothing(waker) => {
                        if let Some(w) = waker {
                            drop(state);
                            w.wake();
                            state = self.shared.lock();
                            continue;
                        }
                        state = self
                            .shared
                            .arrived
                            .wait(state)
                            .unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        }
        let n = buf.len().min(self.partial.len());
        buf[..n].copy_from_slice(&self.partial[..n]);
        let _ = self.partial.split_to(n);
        Ok(n)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.dropped = true;
            state.chunks.clear();
            state.buffered = 0;
            state.producer.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The server's end of a [`RequestBody`].
#[doc(hidden)]
pub struct BodyFeeder {
    shared: Arc<Shared>,
}

impl fmt::Debug for BodyFeeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BodyFeeder")
    }
}

impl BodyFeeder {
    /// A body buffer holding up to `capacity` bytes (a push may overshoot it
    /// by one piece), and its consumer end. `producer` is woken when the
    /// consumer first pulls, makes room, or goes away.
    pub fn new(capacity: usize, producer: Waker) -> (BodyFeeder, RequestBody) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                buffered: 0,
                capacity: capacity.max(1),
                ended: false,
                failed: None,
                trailers: HeaderMap::new(),
                wanted: false,
                dropped: false,
                producer: Some(producer),
                consumer: None,
            }),
            arrived: Condvar::new(),
        });
        (
            BodyFeeder {
                shared: shared.clone(),
            },
            RequestBody {
                shared,
                partial: Bytes::new(),
            },
        )
    }

    /// Whether the consumer has pulled at least once.
    pub fn wanted(&self) -> bool {
        self.shared.lock().wanted
    }

    /// Whether the consumer is gone.
    pub fn dropped(&self) -> bool {
        self.shared.lock().dropped
    }

    /// Whether the buffer can take more.
    pub fn has_room(&self) -> bool {
        let state = self.shared.lock();
        state.buffered < state.capacity || state.dropped
    }

    /// Appends received body bytes (ignored once the consumer is gone).
    pub fn push(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let waker = {
            let mut state = self.shared.lock();
            if state.dropped {
                return;
            }
            state.buffered += data.len();
            state.chunks.push_back(Bytes::copy_from_slice(data));
            state.consumer.take()
        };
        self.shared.arrived.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The body is complete.
    pub fn end(&self, trailers: HeaderMap) {
        self.finish(|state| {
            state.ended = true;
            state.trailers = trailers;
        });
    }

    /// The body was cut short.
    pub fn fail(&self, kind: io::ErrorKind) {
        self.finish(|state| state.failed = Some(kind));
    }

    fn finish(&self, f: impl FnOnce(&mut State)) {
        let waker = {
            let mut state = self.shared.lock();
            f(&mut state);
            state.consumer.take()
        };
        self.shared.arrived.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for BodyFeeder {
    fn drop(&mut self) {
        // A feeder dropped before the end: the connection is gone.
        let open = {
            let state = self.shared.lock();
            !state.ended && state.failed.is_none()
        };
        if open {
            self.fail(io::ErrorKind::ConnectionAborted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn backpressure_and_wakeups() {
        let producer = Arc::new(Count(AtomicUsize::new(0)));
        let (feeder, mut body) = BodyFeeder::new(10, Waker::from(producer.clone()));
        assert!(!feeder.wanted());
        feeder.push(b"0123456789");
        assert!(!feeder.has_room(), "full at capacity");
        let mut first = [0u8; 4];
        assert_eq!(body.read(&mut first).unwrap(), 4);
        assert!(feeder.wanted());
        assert!(feeder.has_room(), "the piece was taken out");
        // Woken once for the first pull (which also made room).
        assert_eq!(producer.0.load(Ordering::SeqCst), 1);
        feeder.push(b"ab");
        feeder.end(HeaderMap::new());
        let mut rest = Vec::new();
        body.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"456789ab");
    }

    #[test]
    fn async_consumer_and_failure() {
        let (feeder, mut body) = BodyFeeder::new(1024, Waker::noop().clone());
        let reader = std::thread::spawn(move || {
            Reply::pending(async move {
                let mut got = Vec::new();
                while let Some(piece) = body.chunk().await {
                    match piece {
                        Ok(p) => got.extend_from_slice(&p),
                        Err(e) => return format!("{} then {:?}", got.len(), e.kind()),
                    }
                }
                "ended".to_string()
            })
            .wait()
        });
        feeder.push(b"abc");
        drop(feeder);
        let r = reader.join().unwrap();
        assert_eq!(
            r.body.len_hint(),
            Some("3 then ConnectionAborted".len() as u64)
        );
    }

    #[test]
    fn a_dropped_consumer_tells_the_producer() {
        let producer = Arc::new(Count(AtomicUsize::new(0)));
        let (feeder, body) = BodyFeeder::new(4, Waker::from(producer.clone()));
        feeder.push(b"abcdef");
        drop(body);
        assert!(feeder.dropped());
        assert!(feeder.has_room(), "nothing is buffered for a gone consumer");
        assert_eq!(producer.0.load(Ordering::SeqCst), 1);
    }
}
