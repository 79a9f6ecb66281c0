//! Shutdown signals: SIGTERM and SIGINT as a flag and as readable pipes; and
//! SIGHUP, the conventional "reload your configuration", as a flag.
//!
//! A signal handler may do almost nothing safely. signal-hook's handlers only
//! set an atomic flag and write a byte to a pipe; each event loop registers the
//! read end of its own pipe, so a signal wakes every loop at once, and blocking
//! code checks the flag.

use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Shutdown requested by SIGTERM, SIGINT or code.
#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    signals: bool,
    /// Write ends of every pipe handed out, for [`Shutdown::request`].
    notifiers: Arc<Mutex<Vec<StdUnixStream>>>,
}

impl Shutdown {
    /// Installs handlers for SIGTERM and SIGINT that request shutdown.
    pub fn install() -> io::Result<Shutdown> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [SIGTERM, SIGINT] {
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(Shutdown {
            flag,
            signals: true,
            notifiers: Arc::default(),
        })
    }

    /// Shutdown on request from code only (for servers inside tests or apps).
    pub fn manual() -> Shutdown {
        Shutdown {
            flag: Arc::new(AtomicBool::new(false)),
            signals: false,
            notifiers: Arc::default(),
        }
    }

    /// Whether shutdown was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Requests shutdown and wakes every pipe.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let notifiers = self.notifiers.lock().unwrap_or_else(|e| e.into_inner());
        for mut n in notifiers.iter() {
            // A full pipe already means "wake up".
            let _ = n.write(&[1]);
        }
    }

    /// A non-blocking stream that becomes readable when shutdown is requested.
    /// Register it with an event loop; one per loop.
    pub fn pipe(&self) -> io::Result<mio::net::UnixStream> {
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        if self.signals {
            for sig in [SIGTERM, SIGINT] {
                signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            }
        }
        self.notifiers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(write);
        if self.requested() {
            self.request();
        }
        Ok(mio::net::UnixStream::from_std(read))
    }
}

/// A flag raised by every SIGHUP from now on (and no longer the default
/// action, which would end the process). Whoever polls it lowers it with
/// `swap(false)`.
pub fn reload_requests() -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, flag.clone())?;
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn request_wakes_pipes() {
        let s = Shutdown::manual();
        let mut pipe = s.pipe().unwrap();
        let mut b = [0u8; 1];
        assert!(pipe.read(&mut b).is_err()); // nothing yet (WouldBlock)
        s.request();
        assert!(s.requested());
        assert_eq!(pipe.read(&mut b).unwrap(), 1);
    }
}
