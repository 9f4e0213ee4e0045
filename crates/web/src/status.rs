//! Server state that the binary updates and the web handler reads: readiness, the applied
//! configuration and the outcome of the last reload.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether the server answers queries (Go's `web.ReadyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Starting: the TSDB is opening or the configuration is not applied yet.
    NotReady,
    /// Serving.
    Ready,
    /// Shutting down.
    Stopping,
}

/// Shared, thread-safe server state. The binary writes it; `/-/ready`, the API's readiness
/// gate, `/api/v1/status/*` and `/metrics` read it.
#[derive(Debug)]
pub struct Status {
    readiness: AtomicU8,
    config: RwLock<Option<Arc<config::Config>>>,
    reload_success: AtomicBool,
    last_reload_success_ms: AtomicI64,
    start_time_ms: i64,
}

/// Milliseconds since the epoch of a system time (0 before the epoch).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Status {
    /// A not-ready state for a process that started at `start_time`.
    pub fn new(start_time: SystemTime) -> Status {
        Status {
            readiness: AtomicU8::new(0),
            config: RwLock::new(None),
            reload_success: AtomicBool::new(false),
            last_reload_success_ms: AtomicI64::new(0),
            start_time_ms: unix_millis(start_time),
        }
    }

    /// Sets the readiness.
    pub fn set_readiness(&self, r: Readiness) {
        let v = match r {
            Readiness::NotReady => 0,
            Readiness::Ready => 1,
            Readiness::Stopping => 2,
        };
        self.readiness.store(v, Ordering::SeqCst);
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        match self.readiness.load(Ordering::SeqCst) {
            0 => Readiness::NotReady,
            1 => Readiness::Ready,
            _ => Readiness::Stopping,
        }
    }

    /// Records a configuration load or reload attempt. A successful one replaces the
    /// configuration shown by `/api/v1/status/config`; a failed one keeps the old.
    pub fn record_reload(&self, outcome: Option<Arc<config::Config>>, at: SystemTime) {
        match outcome {
            Some(cfg) => {
                *self
                    .config
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cfg);
                self.reload_success.store(true, Ordering::SeqCst);
                self.last_reload_success_ms
                    .store(unix_millis(at), Ordering::SeqCst);
            }
            None => self.reload_success.store(false, Ordering::SeqCst),
        }
    }

    /// The configuration in effect, once one was applied.
    pub fn config(&self) -> Option<Arc<config::Config>> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether the last load or reload succeeded.
    pub fn last_reload_successful(&self) -> bool {
        self.reload_success.load(Ordering::SeqCst)
    }

    /// When the configuration was last applied successfully (ms since the epoch; 0 never).
    pub fn last_reload_success_ms(&self) -> i64 {
        self.last_reload_success_ms.load(Ordering::SeqCst)
    }

    /// When the process started (ms since the epoch).
    pub fn start_time_ms(&self) -> i64 {
        self.start_time_ms
    }
}
