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
    /// When the last reload failed (ms; 0 while the last one succeeded).
    last_reload_failure_ms: AtomicI64,
    /// When the readiness last changed (ms).
    readiness_since_ms: AtomicI64,
    start_time_ms: i64,
    wal_replay: RwLock<WalReplayStatus>,
}

/// Progress of the WAL replay at start-up, in WAL segment numbers (Prometheus's
/// `WALReplayStatus`, served by `/api/v1/status/walreplay`). All zero before the replay
/// starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalReplayStatus {
    /// The first segment to replay.
    pub min: i64,
    /// The last segment to replay.
    pub max: i64,
    /// The segment being replayed (`max` once done).
    pub current: i64,
}

/// A server notification shown by `/api/v1/notifications` (Prometheus's
/// `notifications.Notification`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The message, one of Prometheus's fixed texts.
    pub text: &'static str,
    /// When it was raised (ms since the epoch).
    pub date_ms: i64,
    /// Whether it still applies (the list only holds active ones).
    pub active: bool,
}

/// Prometheus's notification texts (util/notifications).
pub(crate) const NOTIFY_CONFIG_FAILED: &str = "Configuration reload has failed.";
pub(crate) const NOTIFY_STARTING: &str =
    "Prometheus is starting and replaying the write-ahead log (WAL).";
pub(crate) const NOTIFY_STOPPING: &str =
    "Prometheus is shutting down and gracefully stopping all operations.";

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
            last_reload_failure_ms: AtomicI64::new(0),
            readiness_since_ms: AtomicI64::new(unix_millis(start_time)),
            start_time_ms: unix_millis(start_time),
            wal_replay: RwLock::new(WalReplayStatus::default()),
        }
    }

    /// Sets the readiness.
    pub fn set_readiness(&self, r: Readiness) {
        let v = match r {
            Readiness::NotReady => 0,
            Readiness::Ready => 1,
            Readiness::Stopping => 2,
        };
        if self.readiness.swap(v, Ordering::SeqCst) != v {
            self.readiness_since_ms
                .store(unix_millis(SystemTime::now()), Ordering::SeqCst);
        }
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
                self.last_reload_failure_ms.store(0, Ordering::SeqCst);
            }
            None => {
                self.reload_success.store(false, Ordering::SeqCst);
                self.last_reload_failure_ms
                    .store(unix_millis(at), Ordering::SeqCst);
            }
        }
    }

    /// Records the WAL replay's progress (the binary calls it while the TSDB opens).
    pub fn set_wal_replay(&self, status: WalReplayStatus) {
        *self
            .wal_replay
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }

    /// The WAL replay's progress.
    pub fn wal_replay(&self) -> WalReplayStatus {
        *self
            .wal_replay
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The active notifications, as Prometheus raises them: while starting up (WAL
    /// replay), while the last configuration reload is failing, and while shutting down.
    pub fn notifications(&self) -> Vec<Notification> {
        let mut out = Vec::new();
        let since = self.readiness_since_ms.load(Ordering::SeqCst);
        match self.readiness() {
            Readiness::NotReady => out.push(Notification {
                text: NOTIFY_STARTING,
                date_ms: since,
                active: true,
            }),
            Readiness::Stopping => out.push(Notification {
                text: NOTIFY_STOPPING,
                date_ms: since,
                active: true,
            }),
            Readiness::Ready => {}
        }
        let failed = self.last_reload_failure_ms.load(Ordering::SeqCst);
        if failed != 0 {
            out.push(Notification {
                text: NOTIFY_CONFIG_FAILED,
                date_ms: failed,
                active: true,
            });
        }
        out.sort_by_key(|n| n.date_ms);
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_follow_readiness_and_reloads() {
        let start = UNIX_EPOCH + std::time::Duration::from_secs(100);
        let status = Status::new(start);
        let n = status.notifications();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].text, NOTIFY_STARTING);
        assert_eq!(n[0].date_ms, 100_000);
        status.set_readiness(Readiness::Ready);
        assert!(status.notifications().is_empty());
        let failed_at = UNIX_EPOCH + std::time::Duration::from_secs(200);
        status.record_reload(None, failed_at);
        let n = status.notifications();
        assert_eq!(
            (n.len(), n[0].text, n[0].date_ms),
            (1, NOTIFY_CONFIG_FAILED, 200_000)
        );
        status.record_reload(Some(Arc::new(config::Config::default())), failed_at);
        assert!(status.notifications().is_empty());
        status.set_readiness(Readiness::Stopping);
        assert_eq!(status.notifications()[0].text, NOTIFY_STOPPING);
    }

    #[test]
    fn wal_replay_status_is_stored() {
        let status = Status::new(SystemTime::now());
        assert_eq!(status.wal_replay(), WalReplayStatus::default());
        let s = WalReplayStatus {
            min: 1,
            max: 4,
            current: 4,
        };
        status.set_wal_replay(s);
        assert_eq!(status.wal_replay(), s);
    }
}
