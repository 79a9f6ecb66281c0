//! What every connection of a server shares, read-only: the handler and the
//! settings. The models hand it to each loop or thread they start.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use osprey_rt::workers::WorkerPool;

use osprey_web::{Handler, Reply, Request};

use crate::config::Config;

/// The handler and settings of one server.
pub(crate) struct Service {
    pub handler: Arc<dyn Handler>,
    /// `handler.is_blocking()`, asked once: whether any request may need the
    /// worker pool (a router walks its routes to answer).
    pub may_block: bool,
    pub config: Config,
    /// The blocking models' worker threads, for blocking handlers that
    /// stream their request body; started on first use (in a `fork` child,
    /// by the child).
    workers: OnceLock<WorkerPool>,
}

impl Service {
    pub fn new(handler: Arc<dyn Handler>, config: Config) -> Service {
        Service {
            may_block: handler.is_blocking(),
            handler,
            config,
            workers: OnceLock::new(),
        }
    }

    /// A new pool of threads for blocking handlers, sized by the settings.
    pub fn worker_pool(&self) -> WorkerPool {
        WorkerPool::new(
            "osprey-blocking",
            self.config.blocking_threads,
            self.config.blocking_queue,
        )
    }

    /// A worker pool shared by every connection of this process.
    pub fn shared_workers(&self) -> &WorkerPool {
        self.workers.get_or_init(|| self.worker_pool())
    }
}

/// Calls the handler, turning a panic into `None` (the caller answers 500).
pub(crate) fn call_handler(handler: &dyn Handler, request: &mut Request) -> Option<Reply> {
    catch_unwind(AssertUnwindSafe(|| handler.call(request))).ok()
}
