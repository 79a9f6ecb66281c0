//! A small pool of threads for blocking work, so an event loop never waits on a
//! slow handler.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send>;

/// Fixed threads taking jobs from a bounded queue.
pub struct WorkerPool {
    queue: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// The queue was full: the caller should shed load (503) rather than wait.
#[derive(Debug)]
pub struct QueueFull;

impl WorkerPool {
    /// `threads` workers sharing a queue of at most `queue` waiting jobs.
    pub fn new(name: &str, threads: usize, queue: usize) -> WorkerPool {
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job must not take the worker down.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    })
                    .expect("spawn worker thread")
            })
            .collect();
        WorkerPool {
            queue: Some(tx),
            threads,
        }
    }

    /// Queues a job without blocking.
    pub fn try_run(&self, job: impl FnOnce() + Send + 'static) -> Result<(), QueueFull> {
        match self.queue.as_ref().map(|q| q.try_send(Box::new(job))) {
            Some(Ok(())) => Ok(()),
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                Err(QueueFull)
            }
        }
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // Closing the queue ends each worker after its current job.
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_and_survives_panics() {
        let pool = WorkerPool::new("t", 2, 8);
        let (tx, rx) = mpsc::channel();
        pool.try_run(|| panic!("boom")).unwrap();
        for i in 0..4 {
            let tx = tx.clone();
            pool.try_run(move || tx.send(i).unwrap()).unwrap();
        }
        let mut got: Vec<i32> = (0..4).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
    }
}
