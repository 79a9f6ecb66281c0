//! Processes: fork a child per connection, reap the children, leave cleanly.
//!
//! `fork` in a multi-threaded process copies only the calling thread; a lock
//! another thread held stays locked forever in the child. The fork model's parent
//! therefore never starts a thread, and this module documents that contract
//! rather than enforcing it.

use std::io;

/// Which side of a fork we are on.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    /// The parent, with the child's pid.
    Parent(libc::pid_t),
    /// The child.
    Child,
}

/// Forks the process. Call only from a single-threaded process (see the module
/// docs).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the hazard is
    // other threads' locks, which the caller rules out by being single-threaded.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Collects every child that has exited, without blocking, calling `exited`
/// with each pid. Returns how many.
pub fn reap_children(mut exited: impl FnMut(libc::pid_t)) -> usize {
    let mut reaped = 0;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the exit status into our valid c_int.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return reaped;
        }
        exited(pid);
        reaped += 1;
    }
}

/// Sends signal `sig` to process `pid`.
pub fn send_signal(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers; a stale pid at worst fails with ESRCH.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks a child to finish and exit (SIGTERM).
pub fn terminate(pid: libc::pid_t) {
    let _ = send_signal(pid, libc::SIGTERM);
}

/// Ends a child at once (SIGKILL).
pub fn kill(pid: libc::pid_t) {
    let _ = send_signal(pid, libc::SIGKILL);
}

/// Waits for one child to exit, blocking; `false` when there are none.
pub fn wait_child() -> bool {
    let mut status = 0;
    // SAFETY: as in reap_children.
    unsafe { libc::waitpid(-1, &mut status, 0) > 0 }
}

/// Ends a forked child at once with `code`, without running the parent's
/// destructors or atexit handlers, which belong to the parent.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// Makes a forked child die with its parent (Linux `PR_SET_PDEATHSIG`), so that
/// killing the server never leaves orphaned connection handlers behind.
pub fn die_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number; no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_and_reap() {
        // The test harness is multi-threaded; the child only calls _exit, which
        // takes no locks, so this is safe here.
        match fork().unwrap() {
            Forked::Child => exit_child(0),
            Forked::Parent(pid) => {
                assert!(pid > 0);
                assert!(wait_child());
                assert_eq!(reap_children(|_| {}), 0);
            }
        }
    }
}
