//! Server state that the binary updates and the web handler reads: readiness, the applied
//! configuration, the outcome of the last reload and the notifications these raise.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::notifications::Notifications;

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
    wal_replay: RwLock<WalReplayStatus>,
    notifications: Arc<Notifications>,
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
    /// When it was raised or last re-raised (ns since the epoch; Prometheus shows it to
    /// the nanosecond).
    pub date_ns: i64,
    /// Whether it still applies (the list only holds active ones).
    pub active: bool,
}

/// Prometheus's notification texts (util/notifications).
pub(crate) const NOTIFY_CONFIG_FAILED: &str = "Configuration reload has failed.";
pub(crate) const NOTIFY_STARTING: &str =
    "Prometheus is starting and replaying the write-ahead log (WAL).";
pub(crate) const NOTIFY_STOPPING: &str =
    "Prometheus is shutting down and gracefully stopping all operations.";

/// Nanoseconds since the epoch of a system time (0 before the epoch).
fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch of a system time (0 before the epoch).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Status {
    /// A not-ready state for a process that started at `start_time`, with the starting-up
    /// notification raised (as Prometheus raises it first thing), taking at most
    /// Prometheus's default of 16 live notification subscribers.
    pub fn new(start_time: SystemTime) -> Status {
        let notifications = Arc::new(Notifications::default());
        notifications.add(NOTIFY_STARTING, unix_nanos(start_time));
        Status {
            readiness: AtomicU8::new(0),
            config: RwLock::new(None),
            reload_success: AtomicBool::new(false),
            last_reload_success_ms: AtomicI64::new(0),
            start_time_ms: unix_millis(start_time),
            wal_replay: RwLock::new(WalReplayStatus::default()),
            notifications,
        }
    }

    /// Sets the readiness. Becoming ready clears the starting-up notification; stopping
    /// raises the shutting-down one (as Prometheus); becoming not ready again (which
    /// Prometheus never does) raises the starting-up one again.
    pub fn set_readiness(&self, r: Readiness) {
        let v = match r {
            Readiness::NotReady => 0,
            Readiness::Ready => 1,
            Readiness::Stopping => 2,
        };
        if self.readiness.swap(v, Ordering::SeqCst) != v {
            let now = unix_nanos(SystemTime::now());
            match r {
                Readiness::NotReady => {
                    self.notifications.delete(NOTIFY_STOPPING);
                    self.notifications.add(NOTIFY_STARTING, now);
                }
                Readiness::Ready => {
                    self.notifications.delete(NOTIFY_STARTING);
                    self.notifications.delete(NOTIFY_STOPPING);
                }
                Readiness::Stopping => self.notifications.add(NOTIFY_STOPPING, now),
            }
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
    /// configuration shown by `/api/v1/status/config` and clears the reload-failed
    /// notification; a failed one keeps the old configuration and raises (or re-dates)
    /// the notification.
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
                self.notifications.delete(NOTIFY_CONFIG_FAILED);
            }
            None => {
                self.reload_success.store(false, Ordering::SeqCst);
                self.notifications.add(NOTIFY_CONFIG_FAILED, unix_nanos(at));
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

    /// The active notifications, in the order they were first raised: while starting up
    /// (WAL replay), while the last configuration reload is failing, and while shutting
    /// down.
    pub fn notifications(&self) -> Vec<Notification> {
        self.notifications.get()
    }

    /// The notifications store, for `/api/v1/notifications/live` subscribers and their
    /// metrics.
    pub fn notifications_store(&self) -> &Arc<Notifications> {
        &self.notifications
    }

    /// Sets `--web.max-notifications-subscribers`.
    pub fn set_max_notification_subscribers(&self, n: usize) {
        self.notifications.set_max_subscribers(n);
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
        assert_eq!(n[0].date_ns, 100_000_000_000);
        status.set_readiness(Readiness::Ready);
        assert!(status.notifications().is_empty());
        let failed_at = UNIX_EPOCH + std::time::Duration::from_secs(200);
        status.record_reload(None, failed_at);
        let n = status.notifications();
        assert_eq!(
            (n.len(), n[0].text, n[0].date_ns),
            (1, NOTIFY_CONFIG_FAILED, 200_000_000_000)
        );
        status.record_reload(Some(Arc::new(config::Config::default())), failed_at);
        assert!(status.notifications().is_empty());
        status.set_readiness(Readiness::Stopping);
        assert_eq!(status.notifications()[0].text, NOTIFY_STOPPING);
    }

    #[test]
    fn shutting_down_while_starting_keeps_both_and_subscribers_see_changes() {
        let status = Status::new(UNIX_EPOCH + std::time::Duration::from_secs(1));
        let mut sub = status
            .notifications_store()
            .subscribe()
            .expect("subscriber");
        status.record_reload(None, UNIX_EPOCH + std::time::Duration::from_secs(2));
        status.set_readiness(Readiness::Stopping);
        let texts: Vec<_> = status.notifications().iter().map(|n| n.text).collect();
        assert_eq!(
            texts,
            [NOTIFY_STARTING, NOTIFY_CONFIG_FAILED, NOTIFY_STOPPING]
        );
        let seen: Vec<_> = std::iter::from_fn(|| sub.try_recv())
            .map(|n| (n.text, n.active))
            .collect();
        assert_eq!(
            seen,
            [
                (NOTIFY_STARTING, true),
                (NOTIFY_CONFIG_FAILED, true),
                (NOTIFY_STOPPING, true)
            ]
        );
        status.record_reload(Some(Arc::new(config::Config::default())), SystemTime::now());
        assert_eq!(
            sub.try_recv().map(|n| (n.text, n.active)),
            Some((NOTIFY_CONFIG_FAILED, false))
        );
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
