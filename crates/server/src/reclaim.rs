//! Giving memory back after a burst.
//!
//! A burst of connections grows the heap (each active connection holds
//! buffers of about 17 KiB, more for a large head); when it is over the memory
//! is free but glibc keeps it, so the resident size stays at the peak. A
//! [`Reclaim`] watches how many connections (or connection threads) are
//! progress and says when the server has gone from busy to quiet, at most once
//! per `Config::memory_trim_interval`; the caller then frees what it keeps for
//! reuse beyond a quiet server's needs and calls
//! `osprey_rt::mem::release_free_memory`.

use std::time::Instant;

use crate::config::Config;

pub(crate) struct Reclaim {
    /// Most in progress at once since memory was last given back.
    peak: usize,
    /// Not before this instant.
    next: Instant,
}

impl Reclaim {
    pub fn new(now: Instant) -> Reclaim {
        Reclaim { peak: 0, next: now }
    }

    /// Notes that `active` are in progress.
    pub fn note(&mut self, active: usize) {
        self.peak = self.peak.max(active);
    }

    /// Whether the server went quiet after being busy: `active` is at most
    /// `quiet_connections` and more were in progress since the last time.
    fn went_quiet(&self, active: usize, config: &Config) -> bool {
        self.peak > config.quiet_connections && active <= config.quiet_connections
    }

    /// Whether to give memory back now; if so, the next time needs a new burst
    /// and an interval.
    pub fn due(&mut self, active: usize, now: Instant, config: &Config) -> bool {
        self.note(active);
        if !self.went_quiet(active, config) || now < self.next {
            return false;
        }
        self.peak = active;
        self.next = now + config.memory_trim_interval;
        true
    }

    /// When [`Reclaim::due`] will say yes if nothing changes (the server went
    /// quiet within the interval): an event loop must wake up then.
    pub fn pending(&self, active: usize, config: &Config) -> Option<Instant> {
        self.went_quiet(active, config).then_some(self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn busy_then_quiet_once_per_interval() {
        let config = Config::default();
        let t0 = Instant::now();
        let mut r = Reclaim::new(t0);
        // Never busy: nothing to give back.
        assert!(!r.due(3, t0, &config));
        assert_eq!(r.pending(3, &config), None);
        // Busy: not while it lasts.
        r.note(500);
        assert!(!r.due(200, t0, &config));
        // Quiet: now, once.
        assert!(r.due(2, t0, &config));
        assert!(!r.due(2, t0 + Duration::from_secs(5), &config));
        // Another burst within the interval waits for its end.
        r.note(100);
        let soon = t0 + Duration::from_millis(100);
        assert!(!r.due(0, soon, &config));
        let next = t0 + config.memory_trim_interval;
        assert_eq!(r.pending(0, &config), Some(next));
        assert!(r.due(0, next, &config));
        assert_eq!(r.pending(0, &config), None);
    }
}
