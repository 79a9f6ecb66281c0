//! The socket interface the server's transports write through, and its
//! implementation for TCP streams.
//!
//! [`Io`] is the whole surface a connection needs from a socket: read, a
//! vectored write that never blocks or raises SIGPIPE, `sendfile`, and
//! shutting down the sending side. The server's tests implement it with an
//! in-memory pipe, so the connection driver is tested without sockets; a
//! completion-based backend (io_uring) can implement it over buffers it owns,
//! with `WouldBlock` meaning "submitted, the completion will wake you".

use std::fs::File;
use std::io::{self, IoSlice, Read};
use std::os::fd::AsFd;

/// A connected byte stream.
pub trait Io {
    /// Reads into `buf`: `Ok(0)` at end of input; `WouldBlock` when nothing
    /// arrived (now, or within a blocking socket's read timeout).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `bufs` without blocking; `more` says more bytes follow at
    /// once, so the kernel may hold a partial segment back for them.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize>;
    /// Sends file bytes inside the kernel; `Unsupported` when this stream
    /// cannot.
    fn sendfile(&mut self, file: &File, offset: u64, len: u64) -> io::Result<usize>;
    /// Ends our sending side (FIN); the peer may still send.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

/// A TCP stream (std's, blocking with a read timeout, or mio's, non-blocking)
/// as an [`Io`].
#[derive(Debug)]
pub struct TcpIo<'a, S>(pub &'a mut S);

const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

impl<S: Read + AsFd> Io for TcpIo<'_, S> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    #[inline]
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
        // MSG_DONTWAIT: the blocking models' sockets are in blocking mode for
        // reads, but a write must never wait (a full send buffer is waited
        // out with a poll under the write deadline). MSG_MORE: a head before
        // a sendfile body leaves in one segment with the first file bytes.
        let flags = if more {
            SEND_FLAGS | libc::MSG_MORE
        } else {
            SEND_FLAGS
        };
        socket2::SockRef::from(&*self.0).send_vectored_with_flags(bufs, flags)
    }

    #[inline]
    fn sendfile(&mut self, file: &File, offset: u64, len: u64) -> io::Result<usize> {
        crate::sendfile::sendfile(&*self.0, file, offset, len)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write)
    }
}
