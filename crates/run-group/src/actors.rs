//! Ready-made actors: a signal handler and a cancellation-token watcher.

use std::future::ready;

use tokio_util::sync::CancellationToken;

use crate::{Error, Execute, Interrupt};

/// An actor that ends when `token` is cancelled, returning [`Error::Cancelled`], or returns
/// `Ok(())` when interrupted.
///
/// The interrupt cancels a child of `token`, never `token` itself, so stopping the group does
/// not cancel anything else that watches the caller's token (as Go's `run.ContextHandler`
/// cancels only its own derived context). Use it for `/-/quit`-style shutdown requests: the
/// HTTP handler cancels the token and the whole group stops.
pub fn cancellation_handler<E>(token: CancellationToken) -> (Execute<E>, Interrupt<E>)
where
    E: From<Error> + Send + 'static,
{
    let stop = token.child_token();
    let interrupt = stop.clone();
    let execute = async move {
        stop.cancelled().await;
        if token.is_cancelled() {
            Err(Error::Cancelled.into())
        } else {
            Ok(())
        }
    };
    (
        Box::pin(execute),
        Box::new(move |_: &Result<(), E>| {
            interrupt.cancel();
            Box::pin(ready(()))
        }),
    )
}

#[cfg(unix)]
pub use self::unix::signal_handler;

#[cfg(unix)]
pub(crate) use self::unix::signal_name;

#[cfg(unix)]
mod unix {
    use std::future::{poll_fn, ready};
    use std::task::Poll;

    use futures::future::BoxFuture;
    use tokio::signal::unix::{Signal, SignalKind, signal};
    use tokio_util::sync::CancellationToken;

    use crate::{Error, Execute, Interrupt};

    /// An actor that ends with [`Error::Signal`] when the process receives one of `signals`,
    /// or returns `Ok(())` when interrupted.
    ///
    /// The handlers are installed here, before the group runs, so a signal that arrives
    /// between this call and [`Group::run`](crate::Group::run) is not lost. Note that, as with
    /// any tokio signal handler, once a signal has a handler the process no longer takes its
    /// default action (terminating) for it, even after the actor has returned.
    ///
    /// # Errors
    ///
    /// [`Error::SignalSetup`] if a handler cannot be installed, e.g. when called outside a
    /// tokio runtime.
    pub fn signal_handler<E>(signals: &[SignalKind]) -> Result<(Execute<E>, Interrupt<E>), Error>
    where
        E: From<Error> + Send + 'static,
    {
        let mut streams: Vec<(SignalKind, Signal)> = Vec::with_capacity(signals.len());
        for &kind in signals {
            let stream = signal(kind).map_err(|source| Error::SignalSetup {
                signal: kind,
                source,
            })?;
            streams.push((kind, stream));
        }
        let stop = CancellationToken::new();
        let interrupt = stop.clone();
        let execute = async move {
            let received = poll_fn(|cx| {
                for (kind, stream) in &mut streams {
                    // `Ready(None)` means the runtime's signal driver is gone; keep waiting
                    // for the interrupt rather than inventing a signal.
                    if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                        return Poll::Ready(*kind);
                    }
                }
                Poll::Pending
            });
            tokio::select! {
                kind = received => {
                    tracing::warn!(signal = go_signal_text(kind), "Received an OS signal, exiting gracefully...");
                    Err(Error::Signal(kind).into())
                }
                () = stop.cancelled() => Ok(()),
            }
        };
        Ok((
            Box::pin(execute),
            Box::new(move |_: &Result<(), E>| {
                interrupt.cancel();
                Box::pin(ready(())) as BoxFuture<'static, ()>
            }),
        ))
    }

    /// How Go's `syscall.Signal.String` names a signal (`terminated`, `interrupt`), which
    /// Prometheus logs when one stops it; its number when it has no name here.
    pub(crate) fn go_signal_text(kind: SignalKind) -> String {
        let known = [
            (SignalKind::interrupt(), "interrupt"),
            (SignalKind::terminate(), "terminated"),
            (SignalKind::hangup(), "hangup"),
            (SignalKind::quit(), "quit"),
            (SignalKind::user_defined1(), "user defined signal 1"),
            (SignalKind::user_defined2(), "user defined signal 2"),
        ];
        known.iter().find(|(k, _)| *k == kind).map_or_else(
            || format!("signal {}", kind.as_raw_value()),
            |(_, name)| (*name).to_owned(),
        )
    }

    /// The conventional name of a signal (`SIGTERM`), or its number when it has none here.
    pub(crate) fn signal_name(kind: SignalKind) -> String {
        let known = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
            (SignalKind::alarm(), "SIGALRM"),
            (SignalKind::child(), "SIGCHLD"),
            (SignalKind::pipe(), "SIGPIPE"),
            (SignalKind::window_change(), "SIGWINCH"),
            (SignalKind::io(), "SIGIO"),
        ];
        known.iter().find(|(k, _)| *k == kind).map_or_else(
            || format!("signal {}", kind.as_raw_value()),
            |(_, n)| (*n).to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxError, Group};

    #[tokio::test]
    async fn cancellation_handler_ends_the_group_when_the_token_is_cancelled() {
        let token = CancellationToken::new();
        let mut group: Group<BoxError> = Group::new();
        let (execute, interrupt) = cancellation_handler(token.clone());
        group.add("quit handler", execute, interrupt);
        let other = CancellationToken::new();
        let watched = other.clone();
        group.add(
            "worker",
            async move {
                watched.cancelled().await;
                Ok(())
            },
            move |_| {
                other.cancel();
                ready(())
            },
        );
        token.cancel();
        let err = group.run().await.expect_err("cancellation is an error");
        assert!(
            matches!(err.downcast_ref::<Error>(), Some(Error::Cancelled)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn cancellation_handler_interrupt_does_not_cancel_the_callers_token() {
        let token = CancellationToken::new();
        let mut group: Group<BoxError> = Group::new();
        let (execute, interrupt) = cancellation_handler(token.clone());
        group.add("quit handler", execute, interrupt);
        group.add("fails", async { Err("boom".into()) }, |_| ready(()));
        let err = group
            .run()
            .await
            .expect_err("the failing actor ends the group");
        assert_eq!(err.to_string(), "boom");
        assert!(!token.is_cancelled());
    }

    #[cfg(unix)]
    #[test]
    fn signal_names() {
        use tokio::signal::unix::SignalKind;
        assert_eq!(signal_name(SignalKind::terminate()), "SIGTERM");
        assert_eq!(signal_name(SignalKind::interrupt()), "SIGINT");
        assert_eq!(signal_name(SignalKind::from_raw(64)), "signal 64");
        assert_eq!(unix::go_signal_text(SignalKind::terminate()), "terminated");
        assert_eq!(unix::go_signal_text(SignalKind::interrupt()), "interrupt");
        assert_eq!(
            Error::Signal(SignalKind::terminate()).to_string(),
            "received signal SIGTERM"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn signal_handler_returns_when_interrupted() {
        use tokio::signal::unix::SignalKind;
        let mut group: Group<BoxError> = Group::new();
        // SIGUSR2 is never sent by these tests, so only the interrupt can end this actor.
        let (execute, interrupt) =
            signal_handler(&[SignalKind::user_defined2()]).expect("installing handler");
        group.add("termination handler", execute, interrupt);
        group.add("done", async { Ok(()) }, |_| ready(()));
        group.run().await.expect("first actor returned Ok");
    }

    /// Sends SIGTERM to this very test process. That is safe because the actor's handler is
    /// installed (by `signal_handler`) before the signal is sent, and a tokio handler replaces
    /// the default action for the rest of the process's life, so no other test can be
    /// terminated by it.
    #[cfg(unix)]
    #[tokio::test]
    async fn signal_handler_ends_the_group_with_an_error_naming_the_signal() {
        use tokio::signal::unix::SignalKind;
        let mut group: Group<BoxError> = Group::new();
        let (execute, interrupt) =
            signal_handler(&[SignalKind::interrupt(), SignalKind::terminate()])
                .expect("installing handlers");
        group.add("termination handler", execute, interrupt);
        let stop = CancellationToken::new();
        let watched = stop.clone();
        group.add(
            "worker",
            async move {
                watched.cancelled().await;
                Ok(())
            },
            move |_| {
                stop.cancel();
                ready(())
            },
        );
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
        let err = group.run().await.expect_err("a signal ends the group");
        assert_eq!(err.to_string(), "received signal SIGTERM");
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::Signal(kind)) if *kind == SignalKind::terminate()
        ));
    }
}
