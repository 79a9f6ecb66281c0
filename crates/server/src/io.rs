//! Moving bytes between a socket and a session: vectored writes for buffered
//! segments, sendfile for file ranges, partial writes and EINTR handled.

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;

use osprey_h1::{OutQueue, Pending};

/// iovecs per writev: enough for 16 pipelined responses with separate bodies.
const MAX_IOVECS: usize = 64;

/// How a flush ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything queued was written.
    All,
    /// The socket would block: wait until it is writable.
    Blocked,
}

/// Writes as much of `out` as the socket takes. Returns the outcome and the
/// number of bytes written.
pub(crate) fn flush<S: Write + AsFd>(
    out: &mut OutQueue<Arc<File>>,
    socket: &mut S,
) -> io::Result<(Flushed, u64)> {
    let mut written = 0u64;
    loop {
        let result = match out.front() {
            None => return Ok((Flushed::All, written)),
            Some(Pending::File { file, offset, len }) => {
                match osprey_rt::sendfile::sendfile(socket, file, offset, len) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shorter than the response announced",
                        ))
                    }
                    other => other,
                }
            }
            Some(Pending::Bytes(_)) => {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = out.io_slices(&mut slices);
                let written = if out.file_follows(n) {
                    // A head before a sendfile body: one segment, not two.
                    osprey_rt::net::send_vectored_more(socket, &slices[..n])
                } else {
                    socket.write_vectored(&slices[..n])
                };
                match written {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    other => other,
                }
            }
        };
        match result {
            Ok(n) => {
                out.advance(n as u64);
                written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return Ok((Flushed::Blocked, written))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads once into `buf`, retrying on EINTR.
pub(crate) fn read_some<S: Read>(socket: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match socket.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
