//! Reloading certificates without a restart: on SIGHUP, and when a
//! certificate or key file changes on disk.
//!
//! The server's control thread (the accept loop of a blocking model, or the
//! thread that waits for the event loops) calls [`Reloader::tick`] often; at
//! most every `Config::tls_reload_check` it looks at the files' metadata (a `stat` per
//! file: nothing is read unless something changed), and at once when SIGHUP
//! arrived. No thread of its own: the `fork` model's parent must stay
//! single-threaded. A reload that fails is reported with one line and the
//! configuration in use is kept; the same broken files are not reported
//! again until they change. It also keeps the session-ticket keys warm
//! (`TlsConfig::warm_tickets`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{TlsConfig, TlsError};

/// Watches the TLS configurations of a server's listeners.
pub(crate) struct Reloader {
    /// Each configuration once, however many listeners share it.
    configs: Vec<TlsConfig>,
    sighup: Option<Arc<AtomicBool>>,
    interval: Duration,
    next_check: Instant,
}

impl Reloader {
    /// `None` when no listener speaks TLS. `sighup` is raised by the signal,
    /// when the server installed signal handlers.
    pub fn new(
        configs: &[&TlsConfig],
        sighup: Option<Arc<AtomicBool>>,
        interval: Duration,
    ) -> Option<Reloader> {
        let mut unique: Vec<TlsConfig> = Vec::new();
        for &c in configs {
            if !unique.iter().any(|u| u.same(c)) {
                unique.push(c.clone());
            }
        }
        (!unique.is_empty()).then(|| Reloader {
            configs: unique,
            sighup,
            interval,
            next_check: Instant::now() + interval,
        })
    }

    /// How often [`Reloader::tick`] wants to be called.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reloads what SIGHUP asked for or what changed on disk.
    pub fn tick(&mut self, now: Instant) {
        let forced = self
            .sighup
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::SeqCst));
        if !forced && now < self.next_check {
            return;
        }
        self.next_check = now + self.interval;
        for config in &self.configs {
            config.warm_tickets();
            let outcome = if forced {
                Some(config.reload())
            } else {
                config.reload_if_changed()
            };
            report(config, outcome);
        }
    }
}

fn report(config: &TlsConfig, outcome: Option<Result<(), TlsError>>) {
    match outcome {
        None => {}
        Some(Ok(())) => {
            let files: Vec<String> = config
                .files()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            eprintln!("osprey: tls: reloaded {}", files.join(", "));
        }
        Some(Err(e)) => {
            eprintln!("osprey: tls: reload refused, the certificates in use are kept: {e}")
        }
    }
}
