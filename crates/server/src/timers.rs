//! Timer queues for pending replies ([`osprey_web::Timer`]): one per event
//! loop, one per connection thread in the blocking models. Either way a
//! sleeping reply holds no thread of its own: the loop (or the connection's
//! thread) includes the earliest timer in how long it waits, and wakes the
//! due wakers when it wakes up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::thread::{Thread, ThreadId};
use std::time::Instant;

use osprey_rt::event::Waker as MioWaker;
use osprey_web::{TimerHeap, TimerQueue};

/// How the keeper of a queue is told that a new, earlier deadline was filed
/// from another thread.
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
    keeper: ThreadId,
    rouse: Rouse,
}

impl Timers {
    /// The queue of the event loop running on the current thread.
    pub fn for_loop(waker: Arc<MioWaker>) -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            armed: AtomicBool::new(false),
            keeper: std::thread::current().id(),
            rouse: Rouse::Loop(waker),
        })
    }

    /// The queue of the current (blocking connection) thread.
    pub fn for_thread() -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            armed: AtomicBool::new(false),
            keeper: std::thread::current().id(),
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
        // The keeper computes its next wait after every turn; only a deadline
        // filed from elsewhere, earlier than what it sleeps towards, needs it
        // woken.
        if earliest && std::thread::current().id() != self.keeper {
            match &self.rouse {
                Rouse::Loop(w) => {
                    let _ = w.wake();
                }
                Rouse::Thread(t) => t.unpark(),
            }
        }
    }
}
