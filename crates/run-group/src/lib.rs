//! Run a group of actors and tear them down in a fixed order: github.com/oklog/run for tokio.
//!
//! The Prometheus binary is a set of long-running components (discovery, rule manager, scrape
//! manager, TSDB, web, notifier). Each is registered in a [`Group`] as an *actor*: an
//! `execute` future that runs until it fails or is told to stop, and an `interrupt` that tells
//! it to stop. [`Group::run`] runs all actors concurrently; when the first one returns, it
//! calls every interrupt **one after another, in registration order, awaiting each**, then
//! waits for every actor to return and hands back the first actor's result.
//!
//! The one deliberate change from oklog/run is that an interrupt returns a future that the
//! group awaits. Prometheus's shutdown depends on it: `scrape.Manager.Stop` blocks until every
//! scrape loop has exited, so the TSDB, registered later, closes only after the last sample
//! was appended. Registration order is therefore shutdown order.
//!
//! Main types and functions:
//! - [`Group`]: [`Group::add`] an actor, [`Group::run`] them all;
//! - [`signal_handler`]: an actor that ends the group on SIGINT/SIGTERM with [`Error::Signal`];
//! - [`cancellation_handler`]: an actor that ends the group when a `CancellationToken` is
//!   cancelled (`/-/quit`), with [`Error::Cancelled`];
//! - [`Error`]: the group's own errors, including [`Error::Panicked`] for an actor that
//!   panicked (reported as the group's result, not re-raised; see [`Group::run`]).
//!
//! Each actor's name appears in the logs (`tracing`, level info): "stopping scrape manager"
//! when its interrupt is called and "scrape manager stopped" when its `execute` returns.
//!
//! # Example
//!
//! A group shaped like Prometheus's `main`, with stand-ins for the components. The scrape
//! manager fails here, which ends the group; the interrupts then run in registration order.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! use run_group::{BoxError, Group};
//! use tokio::signal::unix::SignalKind;
//! use tokio_util::sync::CancellationToken;
//!
//! /// Records what happened, in order, so the example can check the shutdown order.
//! #[derive(Clone, Default)]
//! struct Log(Arc<Mutex<Vec<&'static str>>>);
//! impl Log {
//!     fn push(&self, event: &'static str) {
//!         self.0.lock().unwrap().push(event);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let log = Log::default();
//! let mut group: Group = Group::new();
//!
//! // 1. Termination handler: first, so that a signal stops everything else and so that its
//! //    interrupt (which just makes it return) costs nothing when another actor ends the group.
//! let (execute, interrupt) =
//!     run_group::signal_handler(&[SignalKind::interrupt(), SignalKind::terminate()])?;
//! group.add("termination handler", execute, interrupt);
//!
//! // 2. Scrape manager: stopping it waits for every scrape loop to exit (and write its
//! //    staleness markers). It is registered before the TSDB, so it stops before the TSDB
//! //    closes and no append ever reaches a closed database.
//! {
//!     let log = log.clone();
//!     group.add(
//!         "scrape manager",
//!         // A real manager runs until stopped; this one fails at once, ending the group.
//!         async { Err("scrape manager: target channel closed".into()) },
//!         move |_| async move {
//!             // `Manager::stop().await` returns only once every scrape loop has exited.
//!             tokio::task::yield_now().await;
//!             log.push("scrape loops exited");
//!         },
//!     );
//! }
//!
//! // 3. TSDB: closes cleanly once nothing appends any more.
//! {
//!     let closed = CancellationToken::new();
//!     let (close, running, log) = (closed.clone(), closed, log.clone());
//!     group.add(
//!         "TSDB",
//!         async move {
//!             running.cancelled().await; // compaction and retention loop
//!             Ok(())
//!         },
//!         move |_| async move {
//!             log.push("TSDB closed");
//!             close.cancel();
//!         },
//!     );
//! }
//!
//! let result = group.run().await;
//! assert_eq!(result.unwrap_err().to_string(), "scrape manager: target channel closed");
//! assert_eq!(*log.0.lock().unwrap(), ["scrape loops exited", "TSDB closed"]);
//! # Ok(())
//! # }
//! ```

mod actors;
mod error;
mod group;

pub use crate::actors::cancellation_handler;
#[cfg(unix)]
pub use crate::actors::signal_handler;
pub use crate::error::{BoxError, Error};
pub use crate::group::{Execute, Group, Interrupt};
