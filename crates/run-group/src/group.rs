//! The [`Group`]: run actors concurrently, interrupt them in order when the first returns.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::task::{Id, JoinError, JoinSet};

use crate::Error;

/// A boxed `execute` future, as the ready-made actors return it.
pub type Execute<E> = BoxFuture<'static, Result<(), E>>;

/// A boxed `interrupt`, as the ready-made actors return it and as the group stores it.
pub type Interrupt<E> = Box<dyn FnOnce(&Result<(), E>) -> BoxFuture<'static, ()> + Send>;

struct Actor<E> {
    name: String,
    execute: Execute<E>,
    interrupt: Interrupt<E>,
}

/// A set of actors, each an `execute` future and an `interrupt` that makes it return.
///
/// Register actors with [`add`](Group::add), then [`run`](Group::run) them. Registration order
/// is shutdown order: when the first actor returns, the interrupts run one after another in
/// the order the actors were added, each awaited before the next starts.
///
/// `E` is the actors' error type. It must be able to hold this crate's [`Error`], through
/// which the group reports a panicking actor: [`BoxError`](crate::BoxError) and
/// `anyhow::Error` both can.
pub struct Group<E = crate::BoxError> {
    actors: Vec<Actor<E>>,
}

impl<E> Group<E> {
    /// An empty group. Running it returns `Ok(())` at once.
    pub fn new() -> Self {
        Self { actors: Vec::new() }
    }

    /// Adds an actor named `name` (used in log lines and errors).
    ///
    /// `execute` runs, as its own tokio task, until it fails or is told to stop; it must
    /// return soon after `interrupt` has run. `interrupt` is called exactly once, with the
    /// result that ended the group, whether or not this actor's `execute` has already
    /// returned (it may even be the actor that ended the group), so it must be safe to call
    /// at any time. The future it returns is awaited before the next actor's interrupt is
    /// called: a blocking stop (wait until every scrape loop has exited) belongs in that
    /// future.
    pub fn add<X, I, F>(&mut self, name: impl Into<String>, execute: X, interrupt: I)
    where
        X: Future<Output = Result<(), E>> + Send + 'static,
        I: FnOnce(&Result<(), E>) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.actors.push(Actor {
            name: name.into(),
            execute: Box::pin(execute),
            interrupt: Box::new(move |result| Box::pin(interrupt(result))),
        });
    }

    /// The number of actors added so far.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether no actor has been added.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}

impl<E> Group<E>
where
    E: From<Error> + fmt::Display + Send + 'static,
{
    /// Runs every actor concurrently until the first one returns, interrupts them all in
    /// registration order, waits for every actor to return, and returns the first actor's
    /// result.
    ///
    /// - An actor whose `execute` panics ends the group as if it had returned
    ///   `Err(Error::Panicked { actor, message }.into())`: the interrupts see that error and
    ///   `run` returns it once every actor has stopped. The panic is not re-raised, so the
    ///   teardown (closing the TSDB) always completes and the caller decides how to exit.
    /// - An interrupt that panics is logged, and the following interrupts still run. If the
    ///   first actor had returned `Ok(())`, `run` returns [`Error::InterruptPanicked`]
    ///   instead, so the panic is never lost.
    /// - An actor that ignores its interrupt keeps `run` waiting: like oklog/run, the group
    ///   leaves timeouts to the caller.
    ///
    /// Must be called within a tokio runtime (the actors are spawned as tasks). Dropping the
    /// returned future aborts the actors' tasks.
    pub async fn run(self) -> Result<(), E> {
        if self.actors.is_empty() {
            return Ok(());
        }

        let mut tasks = JoinSet::new();
        let mut index_of: HashMap<Id, usize> = HashMap::with_capacity(self.actors.len());
        let mut names = Vec::with_capacity(self.actors.len());
        let mut interrupts = Vec::with_capacity(self.actors.len());
        for (index, actor) in self.actors.into_iter().enumerate() {
            let handle = tasks.spawn(actor.execute);
            index_of.insert(handle.id(), index);
            names.push(actor.name);
            interrupts.push(actor.interrupt);
        }
        let mut running = names.len();

        let first = tasks
            .join_next_with_id()
            .await
            .expect("the set holds one task per actor and none has been joined yet");
        running -= 1;
        let (first_index, result) = exit(&names, &index_of, first);
        let first_name = &names[first_index];
        tracing::debug!(actor = %first_name, "stopping all actors");

        // Interrupt in registration order, awaiting each interrupt before starting the next,
        // while still collecting (and logging) actors that return in the meantime.
        let mut interrupt_panic = None;
        for (name, interrupt) in names.iter().zip(interrupts) {
            tracing::debug!(actor = %name, "stopping {name}");
            let mut stopping =
                pin!(AssertUnwindSafe(async { interrupt(&result).await }).catch_unwind());
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut stopping => {
                        if let Err(payload) = outcome {
                            let message = panic_message(payload.as_ref());
                            tracing::error!(actor = %name, "interrupt of {name} panicked: {message}");
                            interrupt_panic.get_or_insert(Error::InterruptPanicked {
                                actor: name.clone(),
                                message,
                            });
                        }
                        break;
                    }
                    Some(joined) = tasks.join_next_with_id(), if running > 0 => {
                        running -= 1;
                        // Only the first result counts, as in oklog/run; `exit` logs the rest.
                        let _ = exit(&names, &index_of, joined);
                    }
                }
            }
        }

        while let Some(joined) = tasks.join_next_with_id().await {
            let _ = exit(&names, &index_of, joined);
        }

        match (result, interrupt_panic) {
            (Ok(()), Some(panic)) => Err(panic.into()),
            (result, _) => result,
        }
    }
}

/// Maps one joined task to (actor index, result), logging that the actor stopped.
fn exit<E>(
    names: &[String],
    index_of: &HashMap<Id, usize>,
    joined: Result<(Id, Result<(), E>), JoinError>,
) -> (usize, Result<(), E>)
where
    E: From<Error> + fmt::Display,
{
    let index_for = |id: Id| {
        *index_of
            .get(&id)
            .expect("every task in the set was spawned by `run`, which recorded its id")
    };
    match joined {
        Ok((id, result)) => {
            let index = index_for(id);
            let name = &names[index];
            match &result {
                Ok(()) => tracing::debug!(actor = %name, "{name} stopped"),
                Err(err) => tracing::debug!(actor = %name, err = %err, "{name} stopped"),
            }
            (index, result)
        }
        Err(err) => {
            let index = index_for(err.id());
            let actor = names[index].clone();
            let error = if err.is_panic() {
                let message = panic_message(err.into_panic().as_ref());
                tracing::error!(actor = %actor, "{actor} panicked: {message}");
                Error::Panicked { actor, message }
            } else {
                tracing::error!(actor = %actor, "{actor} was aborted");
                Error::Aborted { actor }
            };
            (index, Err(error.into()))
        }
    }
}

/// The message of a panic payload, as the default panic hook would print it.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

impl<E> Default for Group<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> fmt::Debug for Group<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field(
                "actors",
                &self.actors.iter().map(|a| &a.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::future::ready;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::BoxError;

    /// A shared, ordered record of what the actors and interrupts did.
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<String>>>);

    impl Events {
        fn push(&self, event: impl Into<String>) {
            self.0.lock().unwrap().push(event.into());
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    /// Adds an actor that runs until interrupted, then returns `result`. Its interrupt records
    /// "interrupt NAME" and the result it was given.
    fn add_waiting(group: &mut Group<BoxError>, events: &Events, name: &'static str) {
        let token = CancellationToken::new();
        let (stop, events) = (token.clone(), events.clone());
        group.add(
            name,
            async move {
                token.cancelled().await;
                Err(format!("{name} interrupted").into())
            },
            move |result: &Result<(), BoxError>| {
                events.push(format!("interrupt {name} saw {result:?}"));
                stop.cancel();
                ready(())
            },
        );
    }

    #[test]
    fn no_actors_returns_ok_at_once_even_without_a_runtime() {
        let group: Group<BoxError> = Group::new();
        assert!(group.is_empty());
        futures::executor::block_on(group.run()).expect("empty group is Ok");
    }

    #[tokio::test]
    async fn first_result_wins_and_interrupts_run_in_registration_order() {
        let events = Events::default();
        let mut group: Group<BoxError> = Group::new();
        add_waiting(&mut group, &events, "a");
        {
            let events = events.clone();
            group.add(
                "b",
                async { Err("b failed".into()) },
                move |result: &Result<(), BoxError>| {
                    events.push(format!("interrupt b saw {result:?}"));
                    ready(())
                },
            );
        }
        add_waiting(&mut group, &events, "c");
        assert_eq!(group.len(), 3);

        let err = group.run().await.expect_err("b's error is the result");
        assert_eq!(err.to_string(), "b failed");
        assert_eq!(
            events.take(),
            [
                r#"interrupt a saw Err("b failed")"#,
                r#"interrupt b saw Err("b failed")"#,
                r#"interrupt c saw Err("b failed")"#,
            ]
        );
    }

    #[tokio::test]
    async fn first_ok_wins_over_later_errors() {
        let events = Events::default();
        let mut group: Group<BoxError> = Group::new();
        add_waiting(&mut group, &events, "a");
        group.add("done", async { Ok(()) }, |_| ready(()));
        add_waiting(&mut group, &events, "c");
        group.run().await.expect("the first actor returned Ok");
        assert_eq!(
            events.take(),
            ["interrupt a saw Ok(())", "interrupt c saw Ok(())"]
        );
    }

    #[tokio::test]
    async fn each_interrupt_runs_exactly_once() {
        let calls: Arc<[AtomicUsize; 4]> = Arc::default();
        let mut group: Group<BoxError> = Group::new();
        for i in 0..4 {
            let token = CancellationToken::new();
            let (stop, calls) = (token.clone(), calls.clone());
            group.add(
                format!("actor {i}"),
                async move {
                    // Actor 2 returns on its own; the others wait for their interrupt.
                    if i != 2 {
                        token.cancelled().await;
                    }
                    Ok(())
                },
                move |_| {
                    calls[i].fetch_add(1, Ordering::SeqCst);
                    stop.cancel();
                    ready(())
                },
            );
        }
        group.run().await.expect("all actors return Ok");
        let counts: Vec<usize> = calls.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(counts, [1, 1, 1, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_interrupt_is_awaited_before_the_next_one_starts() {
        let events = Events::default();
        let mut group: Group<BoxError> = Group::new();
        group.add("trigger", async { Ok(()) }, |_| ready(()));
        for name in ["scrape manager", "TSDB"] {
            let token = CancellationToken::new();
            let (stop, events) = (token.clone(), events.clone());
            group.add(
                name,
                async move {
                    token.cancelled().await;
                    Ok(())
                },
                move |_| async move {
                    events.push(format!("stopping {name}"));
                    // Like scrape.Manager.Stop: takes a while, and returns only when done.
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    stop.cancel();
                    events.push(format!("{name} stop returned"));
                },
            );
        }
        group.run().await.expect("trigger returned Ok");
        assert_eq!(
            events.take(),
            [
                "stopping scrape manager",
                "scrape manager stop returned",
                "stopping TSDB",
                "TSDB stop returned",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_waits_for_actors_that_take_time_to_stop() {
        let finished = Arc::new(AtomicBool::new(false));
        let mut group: Group<BoxError> = Group::new();
        group.add("trigger", async { Ok(()) }, |_| ready(()));
        let token = CancellationToken::new();
        let (stop, done) = (token.clone(), finished.clone());
        group.add(
            "slow",
            async move {
                token.cancelled().await;
                // Flushing after the interrupt returned: `run` must still wait for this.
                tokio::time::sleep(Duration::from_secs(60)).await;
                done.store(true, Ordering::SeqCst);
                Err("slow actor's late error is not the result".into())
            },
            move |_| {
                stop.cancel();
                ready(())
            },
        );
        group.run().await.expect("trigger's Ok is the result");
        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn panicking_actor_ends_the_group_and_is_reported_with_its_name() {
        let events = Events::default();
        let mut group: Group<BoxError> = Group::new();
        add_waiting(&mut group, &events, "a");
        group.add(
            "boom",
            async {
                let n = 42;
                if n == 42 {
                    panic!("kaboom {n}");
                }
                Ok(())
            },
            |_| ready(()),
        );
        add_waiting(&mut group, &events, "c");

        let err = group.run().await.expect_err("a panic is an error");
        assert_eq!(err.to_string(), r#"actor "boom" panicked: kaboom 42"#);
        match err.downcast_ref::<Error>() {
            Some(Error::Panicked { actor, message }) => {
                assert_eq!(actor, "boom");
                assert_eq!(message, "kaboom 42");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let seen = events.take();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("interrupt a saw Err(Panicked"),
            "{seen:?}"
        );
        assert!(
            seen[1].starts_with("interrupt c saw Err(Panicked"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn panicking_interrupt_does_not_stop_the_teardown() {
        let events = Events::default();
        let mut group: Group<BoxError> = Group::new();
        group.add("trigger", async { Ok(()) }, |_| ready(()));
        group.add("bad", async { Ok(()) }, |_| -> std::future::Ready<()> {
            panic!("interrupt exploded")
        });
        add_waiting(&mut group, &events, "c");
        let err = group
            .run()
            .await
            .expect_err("the interrupt panic is reported");
        assert_eq!(
            err.to_string(),
            r#"interrupt of actor "bad" panicked: interrupt exploded"#
        );
        assert_eq!(events.take(), ["interrupt c saw Ok(())"]);
    }

    #[tokio::test]
    async fn panicking_interrupt_does_not_replace_the_first_error() {
        let mut group: Group<BoxError> = Group::new();
        group.add("trigger", async { Err("first".into()) }, |_| ready(()));
        group.add("bad", async { Ok(()) }, |_| async { panic!("later") });
        let err = group.run().await.expect_err("first error");
        assert_eq!(err.to_string(), "first");
    }

    #[tokio::test(start_paused = true)]
    async fn actors_run_concurrently() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut group: Group<BoxError> = Group::new();
        // "waiter" can only return if "sender" runs while it waits.
        group.add(
            "waiter",
            async move {
                rx.await.map_err(|_| "sender gone")?;
                Ok(())
            },
            |_| ready(()),
        );
        let token = CancellationToken::new();
        let stop = token.clone();
        group.add(
            "sender",
            async move {
                tx.send(()).map_err(|()| "waiter gone")?;
                token.cancelled().await;
                Ok(())
            },
            move |_| {
                stop.cancel();
                ready(())
            },
        );
        // With the clock paused, a deadlock shows up as an elapsed timeout at once instead of
        // a hung test.
        tokio::time::timeout(Duration::from_secs(3600), group.run())
            .await
            .expect("actors ran concurrently")
            .expect("waiter returned Ok");
    }
}
