//! Sockets: listeners with the options a server needs, and accepted streams.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog. The kernel caps it at `net.core.somaxconn` (4096 on current
/// Linux); asking for more costs nothing and lets bursts queue instead of being
/// refused.
pub const DEFAULT_BACKLOG: i32 = 4096;

/// How a listener is opened.
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// `SO_REUSEPORT`: several sockets (one per event loop) on the same address,
    /// with the kernel spreading connections among them.
    pub reuse_port: bool,
    /// Pending-connection queue length.
    pub backlog: i32,
    /// Non-blocking mode, for event loops.
    pub nonblocking: bool,
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions {
            reuse_port: false,
            backlog: DEFAULT_BACKLOG,
            nonblocking: false,
        }
    }
}

/// Opens a listening TCP socket on `addr`. `SO_REUSEADDR` is always set, so a
/// restarted server can bind while old connections sit in TIME_WAIT. An IPv6
/// address listens on IPv6 only: list `0.0.0.0` and `[::]` both to get both.
pub fn listen(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(options.nonblocking)?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

/// Prepares an accepted connection: `TCP_NODELAY` (a response goes out at once
/// instead of waiting up to 40 ms for Nagle and delayed ACKs).
pub fn prepare_stream(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// Whether an accept error means the process or system is out of descriptors
/// (EMFILE, ENFILE) or memory: the listener stays readable, so accepting must
/// pause instead of spinning.
pub fn is_resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an accept error concerns only the one connection being accepted (it
/// was reset before we got to it) and the next accept may succeed.
pub fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

/// Raises the soft limit on open files to the hard limit and returns the new
/// soft limit. A server holding 50,000 connections needs more than the usual
/// default of 1024.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid, properly aligned struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the valid struct we pass; raising the soft limit
        // up to the hard limit is always permitted.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Waits until `socket` is readable (`write == false`) or writable, at most
/// `timeout`. Returns whether it became ready; a signal interrupting the wait
/// counts as not ready, so the caller re-checks its deadlines.
///
/// The blocking models use this instead of `SO_RCVTIMEO`/`SO_SNDTIMEO`: a
/// blocking write with a send timeout returns a partial count whenever the
/// kernel takes a few more bytes into a growing send buffer, so a client that
/// stopped reading never looks stalled. Writability (as epoll reports it) means
/// real room, the same rule the event loops apply.
pub fn wait_ready(socket: &impl AsFd, write: bool, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: if write { libc::POLLOUT } else { libc::POLLIN },
        revents: 0,
    };
    // Round up so that a sub-millisecond wait does not become a busy poll.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: we pass one valid, initialised pollfd and its count; poll only
    // writes its revents field.
    match unsafe { libc::poll(&mut pfd, 1, ms) } {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        // Ready, or an error/hang-up the next read or write will report.
        _ => Ok(true),
    }
}

/// Waits until `socket` or `alarm` is readable (`poll(2)`, level-triggered),
/// at most `timeout`; says which are. A blocking model that waits for input
/// while another thread may wake the connection (a WebSocket's send queue)
/// waits on its socket and on an alarm its waker writes to.
pub fn wait_readable_or(
    socket: &impl AsFd,
    alarm: &impl AsFd,
    timeout: Duration,
) -> io::Result<(bool, bool)> {
    let mut pfds = [
        libc::pollfd {
            fd: socket.as_fd().as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        },
        libc::pollfd {
            fd: alarm.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: two valid, initialised pollfds and their count; poll only
    // writes their revents fields.
    match unsafe { libc::poll(pfds.as_mut_ptr(), 2, ms) } {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok((false, false))
            } else {
                Err(e)
            }
        }
        0 => Ok((false, false)),
        // An error or hang-up counts as readable: the next read reports it.
        _ => Ok((pfds[0].revents != 0, pfds[1].revents != 0)),
    }
}

/// Whether the peer has ended its side of `socket` (or the connection
/// failed), without reading: `poll` for `POLLRDHUP`, not waiting. A blocking
/// model checks this while it waits for something other than the socket.
pub fn peer_closed(socket: &impl AsFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid, initialised pollfd and its count; a zero timeout
    // never waits; poll only writes revents.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    ready > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

/// Writes to a socket without ever blocking, even when the socket is in
/// blocking mode (`MSG_DONTWAIT`), and without SIGPIPE (`MSG_NOSIGNAL`). The
/// blocking models read with blocking calls (one syscall per read) but write
/// through this, so a full send buffer shows up as `WouldBlock` and the caller
/// waits for writability with [`wait_ready`] under its own deadline.
#[derive(Debug)]
pub struct DontWait<'a>(pub &'a TcpStream);

const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

impl io::Write for DontWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self.0).send_with_flags(buf, SEND_FLAGS)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        socket2::SockRef::from(self.0).send_vectored_with_flags(bufs, SEND_FLAGS)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for DontWait<'_> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Writes `bufs` with `MSG_MORE`: the kernel holds back a partial segment
/// for the data that follows, as `TCP_CORK` would for one call. Used when a
/// file body sent with `sendfile` follows a response head, so that head and
/// the first file bytes leave in one TCP segment instead of the head alone
/// (TCP_NODELAY would push it at once). Never blocks and never raises
/// SIGPIPE, like [`DontWait`].
pub fn send_vectored_more(socket: &impl AsFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    socket2::SockRef::from(socket).send_vectored_with_flags(bufs, SEND_FLAGS | libc::MSG_MORE)
}

/// Sets the soft limit on open files (tests use it to provoke EMFILE).
pub fn set_fd_limit(soft: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: setrlimit reads the valid struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resident set size of this process in bytes (from /proc/self/statm).
pub fn rss_bytes() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc/self/statm"))?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * page.max(4096) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_reports_the_bound_port_and_reuse_port_shares_it() {
        let opts = ListenOptions {
            reuse_port: true,
            ..ListenOptions::default()
        };
        let a = listen("127.0.0.1:0".parse().unwrap(), opts).unwrap();
        let addr = a.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let b = listen(addr, opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the same address is refused.
        assert!(listen(addr, ListenOptions::default()).is_err());
    }

    #[test]
    fn ipv6_listener() {
        // Some CI sandboxes have no IPv6 loopback; that is not our failure.
        if let Ok(l) = listen("[::1]:0".parse().unwrap(), ListenOptions::default()) {
            assert!(l.local_addr().unwrap().is_ipv6());
        }
    }

    #[test]
    fn fd_limit_and_rss() {
        assert!(raise_fd_limit().unwrap() >= 1024);
        assert!(rss_bytes().unwrap() > 0);
    }
}
