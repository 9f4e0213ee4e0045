//! A background thread that runs a task every interval until it is stopped (the compactor's
//! and the agent truncator's loop).

use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs a task every interval on its own thread; stopping (or dropping) it wakes the thread
/// at once and waits for a task in progress to finish.
#[derive(Debug)]
pub(crate) struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Starts a thread that waits `interval`, runs `task`, and so on, until stopped or until
    /// `task` breaks.
    pub(crate) fn spawn<F>(interval: Duration, mut task: F) -> Periodic
    where
        F: FnMut() -> ControlFlow<()> + Send + 'static,
    {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let (lock, cv) = &*signal;
            loop {
                let Ok(guard) = lock.lock() else { return };
                let Ok((guard, _)) = cv.wait_timeout_while(guard, interval, |s| !*s) else {
                    return;
                };
                if *guard {
                    return;
                }
                drop(guard);
                if task().is_break() {
                    return;
                }
            }
        });
        Periodic {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread and waits for it (a second call does nothing).
    pub(crate) fn stop(&mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut s) = lock.lock() {
            *s = true;
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
}
