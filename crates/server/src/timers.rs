//! Timer queues for pending replies ([`osprey_web::Timer`]): one per event
//! loop, one per connection thread in the blocking models. Either way a
//! sleeping reply holds no thread of its own: the loop (or the connection's
//! thread) includes the earliest timer in how long it waits, and wakes the
//! due wakers when it wakes up.

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
    keeper: ThreadId,
    rouse: Rouse,
}

impl Timers {
    /// The queue of the event loop running on the current thread.
    pub fn for_loop(waker: Arc<MioWaker>) -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            keeper: std::thread::current().id(),
            rouse: Rouse::Loop(waker),
        })
    }

    /// The queue of the current (blocking connection) thread.
    pub fn for_thread() -> Arc<Timers> {
        Arc::new(Timers {
            heap: Mutex::default(),
            keeper: std::thread::current().id(),
            rouse: Rouse::Thread(std::thread::current()),
        })
    }

    fn heap(&self) -> std::sync::MutexGuard<'_, TimerHeap> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest deadline filed.
    pub fn next(&self) -> Option<Instant> {
        self.heap().next()
    }

    /// Wakes every waker due at `now` (the keeper calls this after waiting).
    pub fn fire(&self, now: Instant, scratch: &mut Vec<Waker>) {
        self.heap().due(now, scratch);
        scratch.drain(..).for_each(Waker::wake);
    }
}

impl TimerQueue for Timers {
    fn wake_at(&self, deadline: Instant, waker: Waker) {
        let earliest = self.heap().push(deadline, waker);
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
