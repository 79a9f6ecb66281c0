//! What every connection of a server shares, read-only: the handler and the
//! settings. The models hand it to each loop or thread they start.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use osprey_web::{Handler, Request, Response};

use crate::config::Config;

/// The handler and settings of one server.
pub(crate) struct Service {
    pub handler: Arc<dyn Handler>,
    /// `handler.is_blocking()`, asked once: whether any request may need the
    /// worker pool (a router walks its routes to answer).
    pub may_block: bool,
    pub config: Config,
}

impl Service {
    pub fn new(handler: Arc<dyn Handler>, config: Config) -> Service {
        Service {
            may_block: handler.is_blocking(),
            handler,
            config,
        }
    }
}

/// Calls the handler, turning a panic into `None` (the caller answers 500).
pub(crate) fn call_handler(handler: &dyn Handler, request: &mut Request) -> Option<Response> {
    catch_unwind(AssertUnwindSafe(|| handler.call(request))).ok()
}
