//! A hashed timing wheel: one entry per connection, resets in O(1).
//!
//! Each connection keeps its own deadline; the wheel only remembers *which*
//! connections to look at in each tick. Moving a deadline later costs nothing —
//! the old entry fires early, sees the deadline has not come, and re-files itself.
//! Moving it earlier adds an entry under a new generation number, and the old one
//! is dropped when it fires. Expiry never scans all connections, only the slots
//! whose tick has passed.

use std::time::{Duration, Instant};

/// Number of slots; with 100 ms ticks the wheel spans 51.2 s, and longer
/// deadlines simply go round more than once.
const SLOTS: usize = 512;

/// The wheel. Keys and generations are the caller's (a slab index and a
/// counter it bumps when a deadline moves earlier).
#[derive(Debug)]
pub struct TimerWheel {
    tick: Duration,
    start: Instant,
    /// The next tick to process.
    next_tick: u64,
    slots: Vec<Vec<(usize, u32)>>,
    spare: Vec<(usize, u32)>,
    entries: usize,
}

impl TimerWheel {
    /// A wheel with ticks of `tick`, starting at `now`.
    pub fn new(tick: Duration, now: Instant) -> TimerWheel {
        TimerWheel {
            tick,
            start: now,
            next_tick: 0,
            slots: vec![Vec::new(); SLOTS],
            spare: Vec::new(),
            entries: 0,
        }
    }

    fn tick_of(&self, t: Instant) -> u64 {
        let nanos = t.saturating_duration_since(self.start).as_nanos();
        (nanos / self.tick.as_nanos()) as u64
    }

    /// Files `key` (at generation `gen`) to be looked at once `deadline` has
    /// passed. Rounded up to the next tick, never early.
    pub fn insert(&mut self, key: usize, gen: u32, deadline: Instant) {
        let tick = (self.tick_of(deadline) + 1).max(self.next_tick);
        self.slots[(tick % SLOTS as u64) as usize].push((key, gen));
        self.entries += 1;
    }

    /// Number of entries filed (stale ones included).
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is filed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// How long an event loop may sleep before the next tick needs processing;
    /// `None` when nothing is filed.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.entries == 0 {
            return None;
        }
        let next = self.start + self.tick * self.next_tick as u32;
        Some(next.saturating_duration_since(now))
    }

    /// Processes every tick up to `now`, calling `due(key, gen)` for each entry.
    /// `due` returns `Some(deadline)` to re-file the entry (the deadline moved
    /// later) or `None` to drop it (it fired, or it was stale).
    pub fn advance(&mut self, now: Instant, mut due: impl FnMut(usize, u32) -> Option<Instant>) {
        let now_tick = self.tick_of(now);
        while self.next_tick <= now_tick {
            let slot = (self.next_tick % SLOTS as u64) as usize;
            self.next_tick += 1;
            if self.slots[slot].is_empty() {
                continue;
            }
            // Swap the slot out so `due`'s re-filing can push into it.
            let mut batch =
                std::mem::replace(&mut self.slots[slot], std::mem::take(&mut self.spare));
            self.entries -= batch.len();
            for (key, gen) in batch.drain(..) {
                if let Some(deadline) = due(key, gen) {
                    self.insert(key, gen, deadline);
                }
            }
            self.spare = batch;
            // A wheel far behind (a long sleep) need not visit empty rounds.
            if self.entries == 0 {
                self.next_tick = self.next_tick.max(now_tick + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_deadline_never_before() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(Duration::from_millis(100), t0);
        w.insert(1, 0, t0 + Duration::from_millis(250));
        w.insert(2, 0, t0 + Duration::from_secs(120)); // more than one turn away
        let mut fired = vec![];
        let deadline_of = |k: usize| match k {
            1 => t0 + Duration::from_millis(250),
            _ => t0 + Duration::from_secs(120),
        };
        for ms in (0..=121_000).step_by(50) {
            let now = t0 + Duration::from_millis(ms);
            w.advance(now, |k, _| {
                if deadline_of(k) <= now {
                    fired.push((k, ms));
                    None
                } else {
                    Some(deadline_of(k))
                }
            });
        }
        assert_eq!(fired.len(), 2);
        assert!(fired[0] == (1, 300) || fired[0] == (1, 350), "{fired:?}");
        assert!(
            fired[1].0 == 2 && fired[1].1 >= 120_000 && fired[1].1 <= 120_200,
            "{fired:?}"
        );
        assert!(w.is_empty());
    }

    #[test]
    fn timeout_rounds_up_to_the_next_tick() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(Duration::from_millis(100), t0);
        assert_eq!(w.timeout(t0), None);
        w.insert(7, 3, t0 + Duration::from_millis(10));
        w.advance(t0, |_, _| panic!("not due yet"));
        assert_eq!(w.timeout(t0), Some(Duration::from_millis(100)));
        let mut seen = None;
        w.advance(t0 + Duration::from_millis(200), |k, g| {
            seen = Some((k, g));
            None
        });
        assert_eq!(seen, Some((7, 3)));
    }
}
