//! Errors produced by the group itself and by the ready-made actors.

/// What ended an actor or the group, when the cause is the group's machinery rather than the
/// actor's own code.
///
/// Actors return their own error type `E`; the group needs `E: From<Error>` so that it can
/// report a panic (and the ready-made actors their reasons) through the same channel. Both
/// [`BoxError`](crate::BoxError) and `anyhow::Error` satisfy this.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`signal_handler`](crate::signal_handler) actor received one of its signals.
    #[cfg(unix)]
    #[error("received signal {}", crate::actors::signal_name(*.0))]
    Signal(tokio::signal::unix::SignalKind),

    /// Registering a handler for a signal failed (for example, outside a tokio runtime).
    #[cfg(unix)]
    #[error("installing a handler for signal {}", crate::actors::signal_name(*.signal))]
    SignalSetup {
        /// The signal that could not be handled.
        signal: tokio::signal::unix::SignalKind,
        /// Why registering failed.
        #[source]
        source: std::io::Error,
    },

    /// The token watched by a [`cancellation_handler`](crate::cancellation_handler) actor was
    /// cancelled.
    #[error("cancellation requested")]
    Cancelled,

    /// An actor's `execute` future panicked. It counts as that actor's exit.
    #[error("actor {actor:?} panicked: {message}")]
    Panicked {
        /// The name the actor was registered under.
        actor: String,
        /// The panic message (the payload, when it is a string).
        message: String,
    },

    /// An actor's `interrupt` panicked. The remaining interrupts still ran.
    #[error("interrupt of actor {actor:?} panicked: {message}")]
    InterruptPanicked {
        /// The name the actor was registered under.
        actor: String,
        /// The panic message (the payload, when it is a string).
        message: String,
    },

    /// An actor's task was aborted from outside the group (the tokio runtime shut down).
    #[error("actor {actor:?} was aborted")]
    Aborted {
        /// The name the actor was registered under.
        actor: String,
    },
}

/// A boxed error, a convenient `E` for a [`Group`](crate::Group) when the caller has no
/// error type of its own.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
