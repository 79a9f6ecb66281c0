//! Response bodies: nothing, bytes, a file range, or a stream.
//!
//! A stream is a [`BodySource`] the server *pulls* from, and only when the
//! connection's output is below its high-water mark: a slow client slows the
//! producer instead of growing a buffer. A source that has nothing ready returns
//! `Poll::Pending` and wakes the waker it was given when it has; the server then
//! resumes that connection, even when the producer is another thread
//! ([`Body::channel`]).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// A source of body bytes pulled by the server.
pub trait BodySource: Send + 'static {
    /// The next piece: `Ready(Some(Ok(bytes)))`, `Ready(None)` at the end, or
    /// `Pending` after arranging for `cx.waker()` to be woken when more is ready.
    /// An error aborts the response (the connection is closed, so the client sees
    /// an incomplete body rather than a wrong one).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>;

    /// The total length, when known in advance: the response then gets a
    /// `Content-Length` instead of chunked coding.
    fn len_hint(&self) -> Option<u64> {
        None
    }
}

/// A range of an open file, sent with `sendfile` where the platform allows.
#[derive(Clone, Debug)]
pub struct FileBody {
    /// The open file (shared, so a cache can hand out the same descriptor).
    pub file: Arc<File>,
    /// First byte to send.
    pub offset: u64,
    /// Number of bytes to send.
    pub len: u64,
}

/// One piece of a [`Body::Parts`] body.
#[derive(Clone, Debug)]
pub enum Part {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file range (sendfile).
    File(FileBody),
}

impl Part {
    /// The piece's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File(f) => f.len,
        }
    }

    /// Whether the piece is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response body.
#[derive(Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// Bytes in memory (`&'static` or shared: never copied for large bodies).
    Bytes(Bytes),
    /// A file range.
    File(FileBody),
    /// Bytes and file ranges sent one after another, files with sendfile (a
    /// `multipart/byteranges` reply, RFC 9110 §14.6).
    Parts(Vec<Part>),
    /// A stream of unknown or hinted length.
    Stream(Box<dyn BodySource>),
    /// After a `101` head, the protocol that takes the connection over (see
    /// [`Response::upgrade`](crate::Response::upgrade)).
    Upgrade(Box<dyn crate::Upgraded>),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            Body::File(fb) => write!(f, "Body::File({} bytes at {})", fb.len, fb.offset),
            Body::Parts(p) => write!(f, "Body::Parts({} parts)", p.len()),
            Body::Stream(_) => f.write_str("Body::Stream"),
            Body::Upgrade(_) => f.write_str("Body::Upgrade"),
        }
    }
}

impl Body {
    /// A whole file.
    pub fn file(file: File) -> io::Result<Body> {
        let len = file.metadata()?.len();
        Ok(Body::File(FileBody {
            file: Arc::new(file),
            offset: 0,
            len,
        }))
    }

    /// A stream from a source.
    pub fn stream(source: impl BodySource) -> Body {
        Body::Stream(Box::new(source))
    }

    /// A stream from an iterator; each item is ready at once, so it is pulled as
    /// fast as the client reads.
    pub fn from_pieces<I>(pieces: I) -> Body
    where
        I: Iterator<Item = Bytes> + Send + 'static,
    {
        struct Iter<I>(I);
        impl<I: Iterator<Item = Bytes> + Send + 'static> BodySource for Iter<I> {
            fn poll_next(&mut self, _: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
                Poll::Ready(self.0.next().map(Ok))
            }
        }
        Body::stream(Iter(pieces))
    }

    /// A stream fed from another thread through a channel holding at most
    /// `capacity` pieces: [`BodySender::send`] blocks while it is full, so the
    /// producer runs at the client's pace.
    pub fn channel(capacity: usize) -> (BodySender, Body) {
        let shared = Arc::new(Shared {
            state: Mutex::new(ChannelState {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                finished: false,
                error: None,
                receiver_gone: false,
                waker: None,
            }),
            space: Condvar::new(),
        });
        (
            BodySender {
                shared: shared.clone(),
            },
            Body::stream(Receiver { shared }),
        )
    }

    /// The length when it is known before sending.
    pub fn len_hint(&self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File(f) => Some(f.len),
            Body::Parts(p) => Some(p.iter().map(Part::len).sum()),
            Body::Stream(s) => s.len_hint(),
            Body::Upgrade(_) => None,
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(Bytes::from(v))
    }
}

struct ChannelState {
    queue: VecDeque<Bytes>,
    capacity: usize,
    finished: bool,
    error: Option<io::Error>,
    receiver_gone: bool,
    waker: Option<Waker>,
}

struct Shared {
    state: Mutex<ChannelState>,
    space: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelState> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending half of [`Body::channel`]. Dropping it ends the body.
pub struct BodySender {
    shared: Arc<Shared>,
}

/// The response was abandoned (the client went away); stop producing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError;

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the response body is no longer wanted")
    }
}

impl std::error::Error for SendError {}

impl BodySender {
    /// Queues a piece, blocking while the channel is full.
    pub fn send(&self, piece: Bytes) -> Result<(), SendError> {
        let mut state = self.shared.lock();
        while state.queue.len() >= state.capacity && !state.receiver_gone {
            state = self
                .shared
                .space
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if state.receiver_gone {
            return Err(SendError);
        }
        state.queue.push_back(piece);
        if let Some(w) = state.waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Ends the body with an error: the server aborts the response.
    pub fn abort(self, error: io::Error) {
        self.shared.lock().error = Some(error);
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.finished = true;
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }
}

struct Receiver {
    shared: Arc<Shared>,
}

impl BodySource for Receiver {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let mut state = self.shared.lock();
        if let Some(piece) = state.queue.pop_front() {
            self.shared.space.notify_one();
            return Poll::Ready(Some(Ok(piece)));
        }
        if let Some(e) = state.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if state.finished {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.lock().receiver_gone = true;
        self.shared.space.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(body: &mut Body, waker: &Waker) -> Poll<Option<io::Result<Bytes>>> {
        let Body::Stream(s) = body else {
            panic!("not a stream")
        };
        s.poll_next(&mut Context::from_waker(waker))
    }

    #[test]
    fn channel_wakes_the_consumer_and_ends() {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let (tx, mut body) = Body::channel(2);
        assert!(poll(&mut body, &waker).is_pending());
        let producer = std::thread::spawn(move || {
            for i in 0..5u8 {
                tx.send(Bytes::from(vec![i])).unwrap();
            }
        });
        let mut got = vec![];
        loop {
            match poll(&mut body, &waker) {
                Poll::Ready(Some(Ok(b))) => got.extend_from_slice(&b),
                Poll::Ready(None) => break,
                Poll::Ready(Some(Err(e))) => panic!("{e}"),
                Poll::Pending => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(counter.0.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn sender_learns_the_receiver_is_gone() {
        let (tx, body) = Body::channel(1);
        tx.send(Bytes::from_static(b"a")).unwrap();
        drop(body);
        assert_eq!(tx.send(Bytes::from_static(b"b")), Err(SendError));
    }

    #[test]
    fn length_hints() {
        assert_eq!(Body::Empty.len_hint(), Some(0));
        assert_eq!(Body::from("abc").len_hint(), Some(3));
        assert_eq!(Body::from_pieces(std::iter::empty()).len_hint(), None);
    }
}
