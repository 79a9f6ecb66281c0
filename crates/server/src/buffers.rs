//! A connection's buffers, and the per-thread pool that lends them.
//!
//! An active connection holds a read buffer and an output queue ([`Buffers`]);
//! an idle one (a keep-alive connection between requests, a connection whose
//! reply is pending with nothing to read or write) gives them back to its
//! thread's [`Pool`], so 10,000 idle connections do not hold 10,000 read
//! buffers. The pool keeps at most `Config::session_pool` of each kind and
//! takes back only buffers of the common size: one that grew for a large head
//! or a long pipeline is dropped, so a burst of large requests leaves no
//! memory behind (and the event loops trim their pools further when they go
//! quiet, see `crate::reclaim`).

use crate::config::Config;
use crate::transport::Out;

/// Received bytes not yet consumed by the machine.
#[derive(Debug)]
pub(crate) struct InBuf {
    /// Always initialised to its full length; `start..end` holds the bytes.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    fn new(size: usize) -> InBuf {
        InBuf {
            buf: vec![0; size],
            start: 0,
            end: 0,
        }
    }

    /// The unconsumed bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Number of unconsumed bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether every received byte was consumed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` leading bytes consumed.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into. The unconsumed tail moves to the front when the end
    /// is reached (machines keep offsets relative to the tail, so they stay
    /// valid), and the buffer grows only while one element (a head) needs it,
    /// up to `limit`. An empty slice means the buffer is full: the machine
    /// refuses an element that large.
    pub fn space(&mut self, initial: usize, limit: usize) -> &mut [u8] {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).clamp(initial, limit.max(initial));
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the slice from [`InBuf::space`].
    #[inline]
    pub fn commit(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    fn capacity(&self) -> usize {
        self.buf.len()
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

/// What an active connection reads into and writes from.
#[derive(Debug)]
pub(crate) struct Buffers {
    /// Received bytes for the machine.
    pub input: InBuf,
    /// Output for the transport.
    pub out: Out,
}

impl Buffers {
    /// The read space with this server's sizes: `read_buffer`, growing up to a
    /// head's limit plus one read.
    #[inline]
    pub fn read_space(&mut self, config: &Config) -> &mut [u8] {
        self.input.space(
            config.read_buffer,
            config.limits.max_head + config.read_buffer,
        )
    }
}

/// Per-thread stock of buffers (and of whatever else a machine lends, see
/// `machine::h1`).
pub(crate) struct Pool<T> {
    // Boxed so lending one to a connection moves a pointer.
    #[allow(clippy::vec_box)]
    items: Vec<Box<T>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Pool<T> {
        Pool { items: Vec::new() }
    }
}

impl<T> Pool<T> {
    /// One item: from the stock, or made by `make`.
    #[inline]
    pub fn take(&mut self, make: impl FnOnce() -> T) -> Box<T> {
        self.items.pop().unwrap_or_else(|| Box::new(make()))
    }

    /// Gives `item` back; kept only while the stock is below `limit`.
    #[inline]
    pub fn give(&mut self, item: Box<T>, limit: usize) {
        if self.items.len() < limit {
            self.items.push(item);
        }
    }

    /// Frees all but `keep` items in stock.
    pub fn truncate(&mut self, keep: usize) {
        self.items.truncate(keep);
        self.items.shrink_to_fit();
    }
}

/// New or pooled buffers for a connection.
pub(crate) fn take_buffers(pool: &mut Pool<Buffers>, config: &Config) -> Box<Buffers> {
    pool.take(|| Buffers {
        input: InBuf::new(config.read_buffer),
        out: Out::new(),
    })
}

/// Returns buffers to the pool, emptied; buffers that grew beyond the common
/// size are freed instead of kept.
pub(crate) fn give_buffers(pool: &mut Pool<Buffers>, mut bufs: Box<Buffers>, config: &Config) {
    if bufs.input.capacity() > config.read_buffer {
        return;
    }
    bufs.input.clear();
    bufs.out.clear();
    if bufs.out.buffer_capacity() > config.read_buffer {
        bufs.out.release_buffer();
    }
    pool.give(bufs, config.session_pool);
}
