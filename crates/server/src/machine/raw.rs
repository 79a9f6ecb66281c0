//! The machine for a byte protocol a handler switched to with `101`
//! ([`osprey_web::Upgraded`]): the connection's bytes go to it as they
//! arrive, starting with those that came in the same read as the upgrade
//! request, and what it writes goes out through the same transport.

use std::time::Instant;

use osprey_web::Upgraded;

use super::{AnyMachine, Cx, Expiry, Machine, Next, Pools};
use crate::buffers::Buffers;
use crate::config::Config;

/// A connection handed to an [`Upgraded`] protocol.
pub(crate) struct Raw {
    protocol: Box<dyn Upgraded>,
    /// What the protocol wrote during one call, before it is queued.
    scratch: Vec<u8>,
    closing: bool,
}

impl Raw {
    pub fn new(protocol: Box<dyn Upgraded>) -> Raw {
        Raw {
            protocol,
            scratch: Vec::new(),
            closing: false,
        }
    }

    fn queue(&mut self, bufs: &mut Buffers) {
        if !self.scratch.is_empty() {
            bufs.out.write(&self.scratch);
            self.scratch.clear();
        }
    }
}

impl Machine for Raw {
    fn process(&mut self, cx: &mut Cx<'_>, bufs: &mut Buffers) -> Next {
        if self.closing {
            return Next::Close;
        }
        // A peer that does not read our output is not fed more input.
        if bufs.out.len() as usize >= cx.config().output_high_water {
            return Next::Write;
        }
        if !bufs.input.is_empty() {
            let n = bufs.input.len();
            self.closing = !self.protocol.on_data(bufs.input.data(), &mut self.scratch);
            bufs.input.consume(n);
            self.queue(bufs);
        }
        if self.closing {
            Next::Close
        } else {
            Next::Read
        }
    }

    fn input_ended(&mut self, _: &mut Cx<'_>, bufs: &mut Buffers) {
        self.protocol.on_eof(&mut self.scratch);
        self.queue(bufs);
        self.closing = true;
    }

    fn deadline(&self, _: &Config) -> Option<(Instant, Expiry)> {
        None
    }

    fn timed_out(&mut self, _: &mut Cx<'_>, _: &mut Buffers, _: Expiry) {
        self.closing = true;
    }

    fn drain(&mut self) {
        // A byte protocol has no message boundary to stop at: shutdown closes
        // it once its output is written.
        self.closing = true;
    }

    fn is_idle(&self) -> bool {
        !self.closing
    }

    fn finished(&self) -> bool {
        self.closing
    }

    fn handoff(&mut self) -> Option<AnyMachine> {
        None
    }

    fn release(&mut self, _: &mut Pools, _: &Config) {}
}
