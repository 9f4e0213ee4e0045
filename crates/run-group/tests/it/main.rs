//! Integration tests that need a process of their own: log capture through `tracing`.
//!
//! `tracing` caches per call site whether anyone listens. With a thread-local subscriber and
//! other tests logging on other threads, that cache can race and drop events, so the test
//! that captures logs lives in this binary, alone.

use std::fmt;
use std::future::ready;
use std::sync::{Arc, Mutex};

use run_group::{BoxError, Group};
use tokio_util::sync::CancellationToken;

/// Collects the message of every event logged on this thread.
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0
            .lock()
            .expect("no test thread panicked while logging")
            .push(message);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

// A current-thread runtime, so that the actors' tasks log on the thread holding the subscriber.
#[tokio::test(flavor = "current_thread")]
async fn logs_name_the_actors() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(logs.clone()));

    let mut group: Group<BoxError> = Group::new();
    group.add("termination handler", async { Ok(()) }, |_| ready(()));
    let token = CancellationToken::new();
    let stop = token.clone();
    group.add(
        "scrape manager",
        async move {
            token.cancelled().await;
            Ok(())
        },
        move |_| {
            stop.cancel();
            ready(())
        },
    );
    group.run().await.expect("first actor returned Ok");

    let logs = logs.lock().unwrap().clone();
    assert_eq!(
        logs,
        [
            "termination handler stopped",
            "stopping all actors",
            "stopping termination handler",
            "stopping scrape manager",
            "scrape manager stopped",
        ]
    );
}
