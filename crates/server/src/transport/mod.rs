//! Transports: a connection's byte pipe between the socket and its protocol
//! machine.
//!
//! The driver never writes a response to a socket itself: it hands the output
//! queue to the connection's [`Transport`], which moves bytes through an
//! [`Io`] (the socket from `osprey-rt`, or an in-memory pipe in tests). Plain TCP passes bytes
//! through untouched; TLS holds ciphertext on both sides of rustls's sans-IO
//! API. Whether file segments leave through `sendfile` is a property
//! of the transport: one that cannot (TLS, or a test pipe) reads them in
//! bounded chunks ([`FILE_CHUNK`]) with `pread`, under the same backpressure
//! as any other output, because a chunk is read only when the socket has taken
//! the previous one.
//!
//! Plugging in a transport: implement [`Transport`] and add a variant to
//! [`AnyTransport`]; the driver and the machines do not change. [`tls::Tls`]
//! is the second one.

pub(crate) mod tls;

use std::fs::File;
use std::io::{self, IoSlice};
use std::sync::Arc;

use osprey_h1::{OutQueue, Pending};
use osprey_web::TlsInfo;

use crate::config::Config;
use crate::tls::TlsConfig;
pub(crate) use osprey_rt::io::Io;

/// iovecs per write: enough for 16 pipelined responses with separate bodies.
const MAX_IOVECS: usize = 64;

/// iovecs for a short queue.
const FEW_IOVECS: usize = 4;

/// Largest piece of a file read into memory at once by a transport that
/// cannot use `sendfile`.
pub(crate) const FILE_CHUNK: usize = 64 * 1024;

/// The output queue every machine writes into: bytes and file ranges.
pub(crate) type Out = OutQueue<Arc<File>>;

/// How a write attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued was written.
    All,
    /// The socket took what it could: wait until it is writable.
    Blocked,
}

/// What a connection's byte pipe does.
pub(crate) trait Transport {
    /// Moves the transport's own opening exchange (a TLS handshake) as far
    /// as it goes without waiting: `Ok(true)` once it is complete (at once
    /// for plain TCP). No machine runs before. An `InvalidData` error means
    /// the peer was told why (an alert): linger, then close.
    fn handshake(&mut self, _io: &mut dyn Io) -> io::Result<bool> {
        Ok(true)
    }

    /// Whether the opening exchange is still under way (it has its own
    /// deadline).
    fn is_handshaking(&self) -> bool {
        false
    }

    /// What the TLS handshake settled, once complete; `None` for cleartext.
    fn tls_info(&self) -> Option<TlsInfo> {
        None
    }

    /// Reads received bytes, decrypted if the transport encrypts, into `buf`.
    /// `Ok(0)` means the peer ended its side; `WouldBlock` that nothing (or no
    /// plaintext yet) is there.
    fn read(&mut self, io: &mut dyn Io, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes as much of `out` as the socket takes. Returns how it ended and
    /// how many bytes of `out` went out (progress, for the write timeout).
    fn write(&mut self, io: &mut dyn Io, out: &mut Out) -> io::Result<(Flushed, u64)>;

    /// Whether the transport holds bytes of its own still to be written
    /// (encrypted records, handshake messages).
    fn has_pending_output(&self) -> bool {
        false
    }

    /// Says goodbye in the transport's own terms before the socket closes
    /// (TLS: close_notify), best effort: the connection is ending anyway.
    fn goodbye(&mut self, _io: &mut dyn Io) {}

    /// Ends our output cleanly (TLS: close_notify first), then the socket's
    /// sending side.
    fn close_write(&mut self, io: &mut dyn Io) -> io::Result<()> {
        io.shutdown_write()
    }
}

/// Plain TCP: bytes pass through; files go out with `sendfile` unless the
/// socket cannot, in which case they are read in chunks.
#[derive(Debug, Default)]
pub(crate) struct Plain {
    /// Bytes of a file segment read but not yet written (only without
    /// `sendfile`).
    chunk: Vec<u8>,
    /// Whether `sendfile` was refused once; then every file is copied.
    no_sendfile: bool,
}

impl Plain {
    /// A plain transport that copies file segments instead of using
    /// `sendfile` (for tests of the copying path).
    #[cfg(test)]
    pub(crate) fn copying() -> Plain {
        Plain {
            chunk: Vec::new(),
            no_sendfile: true,
        }
    }
}

impl Transport for Plain {
    fn read(&mut self, io: &mut dyn Io, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match io.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn write(&mut self, io: &mut dyn Io, out: &mut Out) -> io::Result<(Flushed, u64)> {
        let mut written = 0u64;
        loop {
            let result = match out.front() {
                None => return Ok((Flushed::All, written)),
                Some(Pending::File { file, offset, len }) if !self.no_sendfile => {
                    match io.sendfile(file, offset, len) {
                        Ok(0) => return Err(file_too_short()),
                        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                            self.no_sendfile = true;
                            continue;
                        }
                        other => other,
                    }
                }
                Some(Pending::File { file, offset, len }) => {
                    // Read one chunk (kept until the socket takes all of it:
                    // the file could change under us, so never re-read).
                    if self.chunk.is_empty() {
                        let want = len.min(FILE_CHUNK as u64) as usize;
                        self.chunk.resize(want, 0);
                        let n = osprey_rt::sendfile::read_at(file, &mut self.chunk, offset)?;
                        if n == 0 {
                            self.chunk.clear();
                            return Err(file_too_short());
                        }
                        self.chunk.truncate(n);
                    }
                    match io.write_vectored(&[IoSlice::new(&self.chunk)], false) {
                        Ok(n) => {
                            self.chunk.drain(..n);
                            Ok(n)
                        }
                        other => other,
                    }
                }
                // Small queues (the usual response, or a batch of pipelined
                // ones, copied into one segment) do not pay for setting up
                // the full iovec array.
                Some(Pending::Bytes(_)) if out.segment_count() <= FEW_IOVECS => {
                    write_bytes::<FEW_IOVECS>(io, out, self.no_sendfile)
                }
                Some(Pending::Bytes(_)) => write_bytes::<MAX_IOVECS>(io, out, self.no_sendfile),
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    out.advance(n as u64);
                    written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Ok((Flushed::Blocked, written))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// One vectored write of the leading byte segments, at most `N` of them.
#[inline]
fn write_bytes<const N: usize>(io: &mut dyn Io, out: &Out, no_sendfile: bool) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); N];
    let n = out.io_slices(&mut slices);
    // A head before a sendfile body: one segment, not two.
    let more = !no_sendfile && out.file_follows(n);
    io.write_vectored(&slices[..n], more)
}

pub(crate) fn file_too_short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "file shorter than the response announced",
    )
}

/// Every transport a connection can have.
#[derive(Debug)]
pub(crate) enum AnyTransport {
    /// Plain TCP.
    Plain(Plain),
    /// TLS over TCP (boxed: rustls's state is large, and most connections
    /// of a cleartext listener should not pay for it).
    Tls(Box<tls::Tls>),
}

impl Default for AnyTransport {
    fn default() -> AnyTransport {
        AnyTransport::Plain(Plain::default())
    }
}

impl AnyTransport {
    /// The transport of a connection accepted on a listener with this TLS
    /// configuration (or none): TLS uses the certificates current now.
    pub fn for_listener(tls: Option<&TlsConfig>, config: &Config) -> io::Result<AnyTransport> {
        Ok(match tls {
            None => AnyTransport::default(),
            Some(tls) => {
                AnyTransport::Tls(Box::new(tls::Tls::new(tls.current(), config.tls_buffer)?))
            }
        })
    }
}

macro_rules! each {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTransport::Plain($t) => $e,
            AnyTransport::Tls($t) => $e,
        }
    };
}

impl Transport for AnyTransport {
    #[inline]
    fn handshake(&mut self, io: &mut dyn Io) -> io::Result<bool> {
        each!(self, t => t.handshake(io))
    }

    #[inline]
    fn is_handshaking(&self) -> bool {
        each!(self, t => t.is_handshaking())
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        each!(self, t => t.tls_info())
    }

    #[inline]
    fn read(&mut self, io: &mut dyn Io, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, t => t.read(io, buf))
    }

    #[inline]
    fn write(&mut self, io: &mut dyn Io, out: &mut Out) -> io::Result<(Flushed, u64)> {
        each!(self, t => t.write(io, out))
    }

    #[inline]
    fn has_pending_output(&self) -> bool {
        each!(self, t => t.has_pending_output())
    }

    fn goodbye(&mut self, io: &mut dyn Io) {
        each!(self, t => t.goodbye(io))
    }

    fn close_write(&mut self, io: &mut dyn Io) -> io::Result<()> {
        each!(self, t => t.close_write(io))
    }
}
