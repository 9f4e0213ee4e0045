//! A background thread that runs a task every interval until it is stopped (the compactor's
//! and the agent truncator's loop).

use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the thread of a [`Periodic`] is asked to do before its interval is over.
#[derive(Debug, Default)]
struct Asked {
    stop: bool,
    wake: bool,
}

type Shared = Arc<(Mutex<Asked>, Condvar)>;

/// Runs a task every interval on its own thread; stopping (or dropping) it wakes the thread
/// at once and waits for a task in progress to finish. A [`Waker`] runs the task early.
#[derive(Debug)]
pub(crate) struct Periodic {
    shared: Shared,
    handle: Option<JoinHandle<()>>,
}

/// Asks a [`Periodic`] to run its task now rather than at the end of its interval (as
/// Go's `compactc` does for the compactor). Wakes while a task runs are merged into one run
/// right after it; wakes after the thread stopped do nothing.
#[derive(Debug, Clone)]
pub(crate) struct Waker(Shared);

impl Waker {
    /// Runs the task soon (the interval starts again after it).
    pub(crate) fn wake(&self) {
        let (lock, cv) = &*self.0;
        if let Ok(mut a) = lock.lock() {
            a.wake = true;
        }
        cv.notify_all();
    }
}

impl Periodic {
    /// Starts a thread that waits `interval` (or a wake), runs `task`, and so on, until
    /// stopped or until `task` breaks.
    pub(crate) fn spawn<F>(interval: Duration, mut task: F) -> Periodic
    where
        F: FnMut() -> ControlFlow<()> + Send + 'static,
    {
        Periodic::spawn_with_backoff(interval, move || task().map_continue(|()| Duration::ZERO))
    }

    /// [`Periodic::spawn`] for a task that may ask for a pause: after it continues with a
    /// non-zero duration, the thread first waits that long, wakes or not (a wake meanwhile
    /// runs the task right after it), as Go's `DB.run` backs off after a failed compaction.
    pub(crate) fn spawn_with_backoff<F>(interval: Duration, mut task: F) -> Periodic
    where
        F: FnMut() -> ControlFlow<(), Duration> + Send + 'static,
    {
        let shared: Shared = Arc::default();
        let signal = Arc::clone(&shared);
        let handle = std::thread::spawn(move || {
            let (lock, cv) = &*signal;
            let mut backoff = Duration::ZERO;
            loop {
                let Ok(guard) = lock.lock() else { return };
                let Ok((guard, _)) = cv.wait_timeout_while(guard, backoff, |a| !a.stop) else {
                    return;
                };
                let Ok((mut guard, _)) =
                    cv.wait_timeout_while(guard, interval, |a| !a.stop && !a.wake)
                else {
                    return;
                };
                if guard.stop {
                    return;
                }
                guard.wake = false;
                drop(guard);
                match task() {
                    ControlFlow::Break(()) => return,
                    ControlFlow::Continue(pause) => backoff = pause,
                }
            }
        });
        Periodic {
            shared,
            handle: Some(handle),
        }
    }

    /// A handle that runs the task early.
    pub(crate) fn waker(&self) -> Waker {
        Waker(Arc::clone(&self.shared))
    }

    /// Stops the thread and waits for it (a second call does nothing).
    pub(crate) fn stop(&mut self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut a) = lock.lock() {
            a.stop = true;
        }
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn runs_until_stopped_or_broken() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let mut p = Periodic::spawn(Duration::from_millis(1), move || {
            if counter.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        // The task breaks after its third run; joining waits for that.
        let h = p.handle.take().unwrap();
        h.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        p.stop();

        // Stopping wakes the thread before the interval is over; the task never runs.
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let mut p = Periodic::spawn(Duration::from_secs(3600), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            ControlFlow::Continue(())
        });
        p.stop();
        p.stop();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_wake_runs_the_task_before_the_interval_is_over() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut p = Periodic::spawn(Duration::from_secs(3600), move || {
            let _ = tx.send(());
            ControlFlow::Continue(())
        });
        let waker = p.waker();
        for _ in 0..2 {
            waker.wake();
            rx.recv().expect("the task ran after the wake");
        }
        p.stop();
        // After the stop a wake runs nothing.
        waker.wake();
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_backoff_holds_wakes_until_it_is_over_and_a_stop_ends_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut p = Periodic::spawn_with_backoff(Duration::from_secs(3600), move || {
            let _ = tx.send(());
            ControlFlow::Continue(Duration::from_secs(3600))
        });
        let waker = p.waker();
        waker.wake();
        rx.recv().expect("the task ran after the wake");
        // Backing off for an hour: the wake is kept, not run.
        waker.wake();
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "a wake ran the task during its backoff"
        );
        // The stop does not wait for the backoff.
        p.stop();
        assert!(rx.try_recv().is_err());

        // A short backoff: the wake kept during it runs the task right after.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut p = Periodic::spawn_with_backoff(Duration::from_secs(3600), move || {
            let _ = tx.send(());
            ControlFlow::Continue(Duration::from_millis(50))
        });
        let waker = p.waker();
        waker.wake();
        rx.recv().expect("the task ran after the wake");
        waker.wake();
        rx.recv().expect("the task ran after the backoff");
        p.stop();
    }
}
