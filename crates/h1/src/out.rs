//! The output queue: what is waiting to be written to a connection, as segments.
//!
//! Response heads, chunk-size lines and small bodies are copied into one growing
//! byte buffer; large bodies are kept as their own segments (`&'static` bytes,
//! shared [`Bytes`], or a range of a file) and never copied. The runtime asks for
//! the leading byte segments as `IoSlice`s for one vectored write, or for the
//! leading file range to hand to `sendfile`, then reports how much went out. A
//! batch of pipelined responses therefore leaves in a single `writev`.
//!
//! The queue is generic over the file handle `F`: this crate never opens a file.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

/// Bodies up to this size are copied into the queue's buffer: a memcpy of a few
/// hundred bytes is cheaper than another iovec and keeps small responses in one
/// contiguous run.
pub const COPY_THRESHOLD: usize = 1024;

#[derive(Debug)]
enum Segment<F> {
    /// `buf[start..end]`
    Buffered {
        start: usize,
        end: usize,
    },
    Static(&'static [u8]),
    Shared(Bytes),
    File {
        file: F,
        offset: u64,
        len: u64,
    },
}

impl<F> Segment<F> {
    fn len(&self) -> u64 {
        match self {
            Segment::Buffered { start, end } => (end - start) as u64,
            Segment::Static(b) => b.len() as u64,
            Segment::Shared(b) => b.len() as u64,
            Segment::File { len, .. } => *len,
        }
    }
}

/// The next thing to write, as the runtime sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Pending<'a, F> {
    /// Bytes for `write` / `writev`.
    Bytes(&'a [u8]),
    /// A file range for `sendfile`.
    File {
        /// The file handle.
        file: &'a F,
        /// Where the unwritten part starts.
        offset: u64,
        /// How much is left to send.
        len: u64,
    },
}

/// A queue of outgoing bytes and file ranges, in order.
#[derive(Debug)]
pub struct OutQueue<F> {
    buf: Vec<u8>,
    segments: VecDeque<Segment<F>>,
    /// Bytes of the front segment already written.
    front_written: u64,
    pending: u64,
}

impl<F> Default for OutQueue<F> {
    fn default() -> Self {
        OutQueue::new()
    }
}

impl<F> OutQueue<F> {
    /// An empty queue. It allocates on first use only.
    pub const fn new() -> OutQueue<F> {
        OutQueue {
            buf: Vec::new(),
            segments: VecDeque::new(),
            front_written: 0,
            pending: 0,
        }
    }

    /// Bytes still to be written.
    pub fn len(&self) -> u64 {
        self.pending
    }

    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Copies `bytes` to the end of the queue.
    pub fn write(&mut self, bytes: &[u8]) {
        self.write_with(|buf| buf.extend_from_slice(bytes));
    }

    /// Lets `fill` append to the copy buffer directly, and queues what it
    /// appended as one segment: an encoder writing a head in many small pieces
    /// pays the queue's bookkeeping once.
    #[inline]
    pub fn write_with<R>(&mut self, fill: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let start = self.buf.len();
        let result = fill(&mut self.buf);
        let end = self.buf.len();
        if end > start {
            self.pending += (end - start) as u64;
            match self.segments.back_mut() {
                Some(Segment::Buffered { end: last_end, .. }) if *last_end == start => {
                    *last_end = end
                }
                _ => self.segments.push_back(Segment::Buffered { start, end }),
            }
        }
        result
    }

    /// Queues static bytes, copying them if they are small.
    pub fn push_static(&mut self, bytes: &'static [u8]) {
        if bytes.len() <= COPY_THRESHOLD {
            self.write(bytes);
        } else {
            self.pending += bytes.len() as u64;
            self.segments.push_back(Segment::Static(bytes));
        }
    }

    /// Queues shared bytes, copying them if they are small.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.len() <= COPY_THRESHOLD {
            self.write(&bytes);
        } else {
            self.pending += bytes.len() as u64;
            self.segments.push_back(Segment::Shared(bytes));
        }
    }

    /// Queues `len` bytes of `file` starting at `offset`.
    pub fn push_file(&mut self, file: F, offset: u64, len: u64) {
        if len > 0 {
            self.pending += len;
            self.segments.push_back(Segment::File { file, offset, len });
        }
    }

    /// The first pending piece.
    pub fn front(&self) -> Option<Pending<'_, F>> {
        let skip = self.front_written;
        self.segments.front().map(|s| match s {
            Segment::File { file, offset, len } => Pending::File {
                file,
                offset: offset + skip,
                len: len - skip,
            },
            _ => Pending::Bytes(&self.bytes_of(s)[skip as usize..]),
        })
    }

    fn bytes_of<'a>(&'a self, s: &'a Segment<F>) -> &'a [u8] {
        match s {
            Segment::Buffered { start, end } => &self.buf[*start..*end],
            Segment::Static(b) => b,
            Segment::Shared(b) => b,
            Segment::File { .. } => &[],
        }
    }

    /// Fills `slices` with the leading byte segments, stopping at a file segment
    /// or when `slices` is full. Returns how many were filled; 0 means the front
    /// is a file (see [`OutQueue::front`]) or the queue is empty.
    pub fn io_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, s) in self.segments.iter().enumerate() {
            if n == slices.len() || matches!(s, Segment::File { .. }) {
                break;
            }
            let bytes = self.bytes_of(s);
            let bytes = if i == 0 {
                &bytes[self.front_written as usize..]
            } else {
                bytes
            };
            slices[n] = IoSlice::new(bytes);
            n += 1;
        }
        n
    }

    /// Number of segments queued (a writer sizes its iovec array by it).
    #[inline]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Whether a file range comes right after the first `n` segments (the
    /// ones [`OutQueue::io_slices`] returned `n` slices for): the caller can
    /// then ask the kernel to hold the bytes back for the file's first bytes.
    pub fn file_follows(&self, n: usize) -> bool {
        matches!(self.segments.get(n), Some(Segment::File { .. }))
    }

    /// Records that `n` bytes from the front were written.
    pub fn advance(&mut self, mut n: u64) {
        assert!(n <= self.pending, "advanced past the end of the queue");
        self.pending -= n;
        while n > 0 {
            let left = self.segments[0].len() - self.front_written;
            if n < left {
                self.front_written += n;
                return;
            }
            n -= left;
            self.front_written = 0;
            self.segments.pop_front();
        }
        if self.segments.is_empty() {
            // Everything went out: reuse the buffer from the start.
            self.buf.clear();
            self.front_written = 0;
        }
    }

    /// Drops everything pending (the connection is being closed).
    pub fn clear(&mut self) {
        self.segments.clear();
        self.buf.clear();
        self.front_written = 0;
        self.pending = 0;
    }

    /// Capacity held by the copy buffer, for memory accounting.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees the copy buffer when the queue is empty, so an idle connection holds
    /// no output memory.
    pub fn release_buffer(&mut self) {
        if self.segments.is_empty() {
            self.buf = Vec::new();
            self.segments = VecDeque::new();
        }
    }

    /// Everything pending as one vector of bytes, file segments replaced by
    /// `read_file`. For tests and for byte-exact comparisons.
    pub fn to_bytes_with(&self, mut read_file: impl FnMut(&F, u64, u64) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pending as usize);
        for (i, s) in self.segments.iter().enumerate() {
            let skip = if i == 0 { self.front_written } else { 0 };
            match s {
                Segment::File { file, offset, len } => {
                    out.extend_from_slice(&read_file(file, offset + skip, len - skip))
                }
                _ => out.extend_from_slice(&self.bytes_of(s)[skip as usize..]),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_small_writes_and_keeps_big_segments() {
        let mut q: OutQueue<&str> = OutQueue::new();
        q.write(b"head ");
        q.push_static(b"small");
        static BIG: [u8; 2000] = [b'x'; 2000];
        q.push_static(&BIG);
        q.write(b" tail");
        q.push_file("f", 10, 5);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(&*slices[0], b"head small");
        assert_eq!(slices[1].len(), 2000);
        assert_eq!(&*slices[2], b" tail");
        assert!(q.file_follows(n), "the file comes right after the slices");
        assert!(!q.file_follows(n - 1));
        assert_eq!(q.len(), 10 + 2000 + 5 + 5);

        q.advance(12);
        assert_eq!(q.front(), Some(Pending::Bytes(&BIG[2..])));
        q.advance(1998 + 5 + 2);
        assert_eq!(
            q.front(),
            Some(Pending::File {
                file: &"f",
                offset: 12,
                len: 3
            })
        );
        q.advance(3);
        assert!(q.is_empty());
        assert_eq!(q.front(), None);
    }

    #[test]
    fn flattens_for_tests() {
        let mut q: OutQueue<u8> = OutQueue::new();
        q.write(b"a");
        q.push_file(7, 0, 2);
        q.write(b"b");
        assert_eq!(
            q.to_bytes_with(|f, _, len| vec![b'0' + f; len as usize]),
            b"a77b"
        );
    }
}
