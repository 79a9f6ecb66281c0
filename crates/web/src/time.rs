//! Timers for pending replies: wait on the server's own loop, holding no
//! thread.
//!
//! A [`Timer`] is a handle to whoever keeps time for the connection: the
//! server installs its event loop's timer queue (or, in the blocking models,
//! the connection thread's) into every request ([`crate::Request::timer`]).
//! A request built outside a server (tests, direct calls) gets a shared
//! background timer thread instead, so the same handler works anywhere.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Something that wakes wakers at instants: a server's loop, or a thread.
pub trait TimerQueue: Send + Sync + 'static {
    /// Wakes `waker` once `deadline` has passed (never early).
    fn wake_at(&self, deadline: Instant, waker: Waker);
}

/// A handle for sleeping inside a pending reply.
#[derive(Clone)]
pub struct Timer(Arc<dyn TimerQueue>);

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Timer")
    }
}

impl Default for Timer {
    /// The shared background timer thread (started on first use).
    fn default() -> Timer {
        static FALLBACK: OnceLock<Arc<ThreadQueue>> = OnceLock::new();
        Timer(FALLBACK.get_or_init(ThreadQueue::start).clone())
    }
}

impl Timer {
    /// A timer over `queue` (the server's).
    pub fn new(queue: Arc<dyn TimerQueue>) -> Timer {
        Timer(queue)
    }

    /// A future that completes after `duration`.
    pub fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(Instant::now() + duration)
    }

    /// A future that completes once `deadline` has passed.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            queue: self.0.clone(),
            registered: None,
        }
    }
}

/// See [`Timer::sleep`].
pub struct Sleep {
    deadline: Instant,
    queue: Arc<dyn TimerQueue>,
    /// The waker last handed to the queue.
    registered: Option<Waker>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            self.queue.wake_at(self.deadline, cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// An entry of a timer heap: earliest first, then in order of arrival.
pub(crate) struct Entry {
    pub deadline: Instant,
    pub seq: u64,
    pub waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// A timer heap: what a server's loop (or a thread) keeps its timers in.
#[derive(Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl fmt::Debug for TimerHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHeap")
            .field("len", &self.heap.len())
            .finish()
    }
}

impl TimerHeap {
    /// Files `waker` for `deadline`; returns whether it is now the earliest
    /// (the keeper may have to shorten its sleep).
    pub fn push(&mut self, deadline: Instant, waker: Waker) -> bool {
        self.seq += 1;
        let earliest = self.next().is_none_or(|t| deadline < t);
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            waker,
        }));
        earliest
    }

    /// The earliest deadline filed.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Removes the wakers due at `now` and returns them, earliest first.
    pub fn due(&mut self, now: Instant, into: &mut Vec<Waker>) {
        while self.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
            if let Some(Reverse(e)) = self.heap.pop() {
                into.push(e.waker);
            }
        }
    }

    /// Number of timers filed.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is filed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// The fallback keeper: one background thread sleeping until the earliest
/// deadline.
struct ThreadQueue {
    heap: Mutex<TimerHeap>,
    changed: Condvar,
}

impl ThreadQueue {
    fn start() -> Arc<ThreadQueue> {
        let queue = Arc::new(ThreadQueue {
            heap: Mutex::default(),
            changed: Condvar::new(),
        });
        let keeper = queue.clone();
        std::thread::Builder::new()
            .name("osprey-timer".into())
            .spawn(move || keeper.run())
            .expect("spawn the timer thread");
        queue
    }

    fn run(&self) {
        let mut due = Vec::new();
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            heap.due(now, &mut due);
            if !due.is_empty() {
                drop(heap);
                due.drain(..).for_each(Waker::wake);
                heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            heap = match heap.next() {
                Some(t) => {
                    self.changed
                        .wait_timeout(heap, t.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(heap).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

impl TimerQueue for ThreadQueue {
    fn wake_at(&self, deadline: Instant, waker: Waker) {
        let earliest = self
            .heap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(deadline, waker);
        if earliest {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn the_fallback_timer_wakes_in_order() {
        let timer = Timer::default();
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        for ms in [30u64, 10, 20] {
            let (timer, tx) = (timer.clone(), tx.clone());
            std::thread::spawn(move || {
                Reply::pending(async move {
                    timer.sleep(Duration::from_millis(ms)).await;
                    tx.send(ms).unwrap();
                    "done"
                })
                .wait();
            });
        }
        let order: Vec<u64> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(order, [10, 20, 30]);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
