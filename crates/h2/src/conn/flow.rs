//! Flow-control windows (RFC 9113 §5.2, §6.9).
//!
//! A window is signed: §6.9.2 lets a SETTINGS_INITIAL_WINDOW_SIZE change push
//! a stream's send window below zero, and the sender then waits for enough
//! WINDOW_UPDATE credit to climb back above it. It may never exceed 2^31-1
//! (§6.9.1).

use crate::frame::MAX_WINDOW;

/// One flow-control window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window(i64);

/// A window passed 2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl Window {
    /// A window of `n` octets.
    pub fn new(n: i64) -> Window {
        Window(n)
    }

    /// The raw value (may be negative).
    pub fn get(self) -> i64 {
        self.0
    }

    /// Octets that may be sent now (0 when the window is negative).
    pub fn available(self) -> u32 {
        self.0.clamp(0, MAX_WINDOW as i64) as u32
    }

    /// Uses `n` octets of credit. The caller has checked it fits.
    pub fn consume(&mut self, n: u32) {
        self.0 -= n as i64;
    }

    /// Adds credit (WINDOW_UPDATE) or applies a SETTINGS change (negative
    /// allowed). §6.9.1: a sender "MUST NOT allow a flow-control window to
    /// exceed 2^31-1 octets".
    pub fn adjust(&mut self, delta: i64) -> Result<(), Overflow> {
        let n = self.0 + delta;
        if n > MAX_WINDOW as i64 {
            return Err(Overflow);
        }
        self.0 = n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let mut w = Window::new(65_535);
        w.consume(65_535);
        assert_eq!(w.available(), 0);
        w.adjust(-100).unwrap();
        assert_eq!((w.get(), w.available()), (-100, 0));
        w.adjust(MAX_WINDOW as i64 + 100).unwrap();
        assert_eq!(w.available(), MAX_WINDOW);
        assert_eq!(w.adjust(1), Err(Overflow));
    }
}
