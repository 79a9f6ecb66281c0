//! Timer queues for pending replies ([`osprey_web::Timer`]): one per event
//! loop, one per connection thread in the blocking models. Either way a
//! sleeping reply holds no thread of its own: the loop (or the connection's
//! thread) includes the earliest timer in how long it waits, and wakes the
//! due wakers when it wakes up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::thread::Thread;
use std::time::Instant;

use osprey_rt::event::Waker as MioWaker;
use osprey_web::{TimerHeap, TimerQueue};

/// How the keeper of a queue is told that a new, earlier deadline was filed
/// (from another thread, or from its own — then it just looks once more).
enum Rouse {
    /// An event loop: its mio waker.
    Loop(Arc<MioWaker>),
    /// A blocking connection thread: unpark it.
    Thread(Thread),
}

/// A timer heap kept by one thread.
pub(crate) struct Timers {
    heap: Mutex<TimerHeap>,
    /// Whether the heap may hold a timer: the keeper looks at it after every
    /// wait, and most of the time there is none (no lock then).
    armed: AtomicBool,
    rouse: Rouse,
}

impl Timers {
    /// The queue of the event loop woken by `waker`.
    pub fn for_loop(waker: Arc<MioWaker>) -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            armed: AtomicBool::new(false),
            rouse: Rouse::Loop(waker),
        })
    }

    /// The queue of the current (blocking connection) thread.
    pub fn for_thread() -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            armed: AtomicBool::new(false),
            rouse: Rouse::Thread(std::thread::current()),
        })
    }

    fn heap(&self) -> std::sync::MutexGuard<'_, TimerHeap> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest deadline filed.
    pub fn next(&self) -> Option<Instant> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        self.heap().next()
    }

    /// Wakes every waker due at `now` (the keeper calls this after waiting).
    pub fn fire(&self, now: Instant, scratch: &mut Vec<Waker>) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        {
            let mut heap = self.heap();
            heap.due(now, scratch);
            self.armed.store(!heap.is_empty(), Ordering::Release);
        }
        scratch.drain(..).for_each(Waker::wake);
    }
}

impl TimerQueue for Timers {
    fn wake_at(&self, deadline: Instant, waker: Waker) {
        let earliest = {
            let mut heap = self.heap();
            let earliest = heap.push(deadline, waker);
            self.armed.store(true, Ordering::Release);
            earliest
        };
        // Only a deadline earlier than what the keeper sleeps towards
        // changes its wait. (From the keeper's own thread this costs one
        // needless wake-up; such registrations are rare.)
        if earliest {
            match &self.rouse {
                Rouse::Loop(w) => {
                    let _ = w.wake();
                }
                Rouse::Thread(t) => t.unpark(),
            }
        }
    }
}
