//! `sendfile(2)`: file bytes to a socket inside the kernel.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// Largest single sendfile call. Linux transfers at most 0x7ffff000 bytes per
/// call anyway; a smaller bound keeps one connection from monopolising a loop
/// turn with a giant file.
pub const MAX_SENDFILE_CHUNK: usize = 1 << 20;

/// Sends up to `len` bytes of `file` from `offset` to `socket`. Returns the
/// number sent, which may be less than asked (the socket buffer filled); 0 means
/// the file ended early. `WouldBlock` on a non-blocking socket means try later.
pub fn sendfile(socket: &impl AsFd, file: &File, offset: u64, len: u64) -> io::Result<usize> {
    let count = len.min(MAX_SENDFILE_CHUNK as u64) as usize;
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
    loop {
        // SAFETY: both descriptors are open for the duration of the call (we hold
        // borrows of their owners); `off` is a valid, aligned off_t the kernel
        // updates; sendfile does not touch our memory otherwise.
        let n = unsafe {
            libc::sendfile(
                socket.as_fd().as_raw_fd(),
                file.as_raw_fd(),
                &mut off,
                count,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Files that cannot be mmapped/spliced (some filesystems, pipes).
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
                return fallback(socket, file, offset, count)
            }
            _ => return Err(e),
        }
    }
}

/// pread + send for files sendfile cannot take. Reads into a stack buffer: this
/// path is rare, so no buffer is kept around for it.
fn fallback(socket: &impl AsFd, file: &File, offset: u64, count: usize) -> io::Result<usize> {
    let mut buf = [0u8; 16 * 1024];
    let want = count.min(buf.len());
    let n = read_at(file, &mut buf[..want], offset)?;
    if n == 0 {
        return Ok(0);
    }
    socket2::SockRef::from(socket)
        .send_with_flags(&buf[..n], libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
}

/// Reads file bytes at `offset` without moving the descriptor's position
/// (`pread`): descriptors are shared between connections and threads by the
/// open-file cache, so a seek followed by a read could interleave with
/// another's. Retries on EINTR; returns 0 at the end of the file.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    use std::io::Read;

    #[test]
    fn sends_a_file_range() {
        let path = std::env::temp_dir().join(format!("osprey-sendfile-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(sendfile(&server, &file, 3, 4).unwrap(), 4);
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"3456");
        std::fs::remove_file(path).unwrap();
    }
}
