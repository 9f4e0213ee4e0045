//! Prometheus's notifications store (util/notifications): the active notifications, the live subscribers of `/api/v1/notifications/live` and their server-sent-events body.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Frame;
use tokio::sync::mpsc;

use crate::json;
use crate::status::Notification;
use crate::timefmt::{GoTime, format_rfc3339};

/// How many notifications wait for a slow subscriber before further ones are dropped
/// (Go's channel of 10).
const SUBSCRIBER_BUFFER: usize = 10;

/// Prometheus's default `--web.max-notifications-subscribers`.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 16;

/// The active notifications and their live subscribers, with Prometheus's
/// `prometheus_api_notification_*` counts.
///
/// Adding a notification that is there already re-dates it; every addition and deletion
/// is sent to every subscriber without waiting (a subscriber whose buffer is full misses
/// it, counted as dropped).
#[derive(Debug)]
pub struct Notifications {
    state: Mutex<State>,
    max_subscribers: AtomicUsize,
    sent: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Active notifications, in the order they were first added.
    list: Vec<Notification>,
    subscribers: HashMap<u64, mpsc::Sender<Notification>>,
    next_id: u64,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications::new(DEFAULT_MAX_SUBSCRIBERS)
    }
}

impl Notifications {
    /// An empty store taking at most `max_subscribers` live subscribers.
    pub fn new(max_subscribers: usize) -> Notifications {
        Notifications {
            state: Mutex::default(),
            max_subscribers: AtomicUsize::new(max_subscribers),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets `--web.max-notifications-subscribers` (those already subscribed stay).
    pub fn set_max_subscribers(&self, n: usize) {
        self.max_subscribers.store(n, Ordering::Relaxed);
    }

    /// Raises `text` dated `date_ns` (nanoseconds since the epoch), or re-dates it when it is active already; either
    /// way subscribers are sent it.
    pub fn add(&self, text: &'static str, date_ns: i64) {
        let mut state = self.state();
        let n = match state.list.iter_mut().find(|n| n.text == text) {
            Some(n) => {
                n.date_ns = date_ns;
                n.clone()
            }
            None => {
                let n = Notification {
                    text,
                    date_ns,
                    active: true,
                };
                state.list.push(n.clone());
                n
            }
        };
        self.send(&state, &n);
    }

    /// Removes `text` when it is active, sending subscribers it as no longer active.
    pub fn delete(&self, text: &str) {
        let mut state = self.state();
        let Some(i) = state.list.iter().position(|n| n.text == text) else {
            return;
        };
        let mut n = state.list.remove(i);
        n.active = false;
        self.send(&state, &n);
    }

    /// Go's `notifySubscribers`: counts every attempt as sent, and those that found a full
    /// buffer (or a subscriber going away) also as dropped.
    fn send(&self, state: &State, n: &Notification) {
        for tx in state.subscribers.values() {
            self.sent.fetch_add(1, Ordering::Relaxed);
            if tx.try_send(n.clone()).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The active notifications, in the order they were raised first.
    pub fn get(&self) -> Vec<Notification> {
        self.state().list.clone()
    }

    /// Subscribes to the notifications, the active ones first; `None` when
    /// `max_subscribers` are subscribed already. Dropping the subscription unsubscribes.
    pub fn subscribe(self: &Arc<Self>) -> Option<Subscription> {
        let mut state = self.state();
        if state.subscribers.len() >= self.max_subscribers.load(Ordering::Relaxed) {
            return None;
        }
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        for n in &state.list {
            // The list holds at most three notifications: they fit the fresh buffer.
            let _ = tx.try_send(n.clone());
        }
        let id = state.next_id;
        state.next_id += 1;
        state.subscribers.insert(id, tx);
        Some(Subscription {
            id,
            rx,
            store: Arc::clone(self),
        })
    }

    /// Ends every subscription: each subscriber still receives what was sent to it, then
    /// its stream ends (the server calls it when it shuts down).
    pub fn close_subscriptions(&self) {
        self.state().subscribers.clear();
    }

    /// `prometheus_api_notification_active_subscribers`.
    pub fn active_subscribers(&self) -> usize {
        self.state().subscribers.len()
    }

    /// `prometheus_api_notification_updates_sent_total`: every attempt to send a
    /// subscriber a notification, the dropped ones included (as Prometheus counts).
    pub fn updates_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// `prometheus_api_notification_updates_dropped_total`: notifications a subscriber
    /// missed because its buffer was full.
    pub fn updates_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// One live subscriber: receives the notifications as they are added and deleted.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    rx: mpsc::Receiver<Notification>,
    store: Arc<Notifications>,
}

impl Subscription {
    /// The next notification; `None` once the store closed the subscription.
    pub async fn recv(&mut self) -> Option<Notification> {
        self.rx.recv().await
    }

    /// The next notification if one is waiting.
    pub fn try_recv(&mut self) -> Option<Notification> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.store.state().subscribers.remove(&self.id);
    }
}

/// A notification as Prometheus's JSON encodes it:
/// `{"text":"...","date":"2024-01-01T00:00:00Z","active":true}`.
pub(crate) fn write_json(out: &mut String, n: &Notification) {
    out.push_str("{\"text\":");
    json::write_str(out, n.text);
    out.push_str(",\"date\":");
    json::write_str(
        out,
        &format_rfc3339(GoTime::unix(
            n.date_ns.div_euclid(1_000_000_000),
            n.date_ns.rem_euclid(1_000_000_000),
        )),
    );
    out.push_str(if n.active {
        ",\"active\":true}"
    } else {
        ",\"active\":false}"
    });
}

/// One server-sent event: `data: <json>\n\n`.
fn event(n: &Notification) -> Bytes {
    let mut out = String::from("data: ");
    write_json(&mut out, n);
    out.push_str("\n\n");
    Bytes::from(out)
}

/// Called with the bytes a stream sent when it ends (the handler counts the request then,
/// as Prometheus's instrumentation does when its handler returns).
pub(crate) type EndHook = Box<dyn FnOnce(u64) + Send>;

/// A subscription being answered: what it sent so far, and whom to tell when it ends.
struct Live {
    sub: Subscription,
    sent: u64,
    on_end: Option<EndHook>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(hook) = self.on_end.take() {
            hook(self.sent);
        }
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("sub", &self.sub)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// The body of `/api/v1/notifications/live`: one event per notification, each written
/// out at once, until the subscription ends or the client goes away (dropping the body
/// unsubscribes).
#[derive(Debug)]
pub(crate) struct EventStream(Live);

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let live = &mut self.0;
        live.sub.rx.poll_recv(cx).map(|n| {
            n.map(|n| {
                let data = event(&n);
                live.sent += data.len() as u64;
                Ok(Frame::data(data))
            })
        })
    }
}

/// A subscription the handler attaches to its (empty) answer of
/// `/api/v1/notifications/live`, for the server to stream (see [`into_served`]). A
/// response extension must be `Clone`; the subscription is taken out once.
#[derive(Debug, Clone)]
pub(crate) struct LiveStream(Arc<Mutex<Option<Live>>>);

impl LiveStream {
    pub(crate) fn new(sub: Subscription) -> LiveStream {
        LiveStream(Arc::new(Mutex::new(Some(Live {
            sub,
            sent: 0,
            on_end: None,
        }))))
    }

    /// Calls `hook` with the bytes sent once the stream ends (or, never served, is
    /// dropped).
    pub(crate) fn on_end(&self, hook: EndHook) {
        if let Some(live) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            live.on_end = Some(hook);
        }
    }
}

/// The body the server sends: the handler's whole answer, or a notifications stream.
pub(crate) type ServedBody = Either<Full<Bytes>, EventStream>;

/// Turns the handler's answer into what the server sends: the answer as it is, unless it
/// carries a [`LiveStream`], whose events then become the body. Ordinary answers pass
/// without allocating (an answer without extensions is checked by one pointer test).
#[inline]
pub(crate) fn into_served(mut resp: http::Response<Full<Bytes>>) -> http::Response<ServedBody> {
    if resp.extensions().is_empty() {
        return resp.map(Either::Left);
    }
    let live = resp
        .extensions_mut()
        .remove::<LiveStream>()
        .and_then(|l| l.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    match live {
        None => resp.map(Either::Left),
        Some(live) => resp.map(|_| Either::Right(EventStream(live))),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::status::{NOTIFY_CONFIG_FAILED, NOTIFY_STARTING, NOTIFY_STOPPING};

    fn texts(v: &[Notification]) -> Vec<(&'static str, i64, bool)> {
        v.iter().map(|n| (n.text, n.date_ns, n.active)).collect()
    }

    #[test]
    fn add_redates_and_delete_removes() {
        let store = Notifications::default();
        store.add(NOTIFY_STARTING, 1);
        store.add(NOTIFY_CONFIG_FAILED, 2);
        store.add(NOTIFY_STARTING, 3);
        assert_eq!(
            texts(&store.get()),
            [(NOTIFY_STARTING, 3, true), (NOTIFY_CONFIG_FAILED, 2, true)]
        );
        store.delete(NOTIFY_STARTING);
        store.delete(NOTIFY_STOPPING);
        assert_eq!(texts(&store.get()), [(NOTIFY_CONFIG_FAILED, 2, true)]);
        // Nobody listened: nothing was sent.
        assert_eq!((store.updates_sent(), store.updates_dropped()), (0, 0));
    }

    #[test]
    fn subscribers_get_the_active_ones_first_then_every_change() {
        let store = Arc::new(Notifications::default());
        store.add(NOTIFY_STARTING, 1);
        let mut sub = store.subscribe().expect("room for a subscriber");
        assert_eq!(store.active_subscribers(), 1);
        store.add(NOTIFY_CONFIG_FAILED, 2);
        store.add(NOTIFY_CONFIG_FAILED, 3);
        store.delete(NOTIFY_CONFIG_FAILED);
        let got: Vec<_> = std::iter::from_fn(|| sub.try_recv()).collect();
        assert_eq!(
            texts(&got),
            [
                (NOTIFY_STARTING, 1, true),
                (NOTIFY_CONFIG_FAILED, 2, true),
                (NOTIFY_CONFIG_FAILED, 3, true),
                (NOTIFY_CONFIG_FAILED, 3, false),
            ]
        );
        // The initial ones are not counted as updates, as in Prometheus.
        assert_eq!(store.updates_sent(), 3);
        drop(sub);
        assert_eq!(store.active_subscribers(), 0);
        store.add(NOTIFY_STOPPING, 4);
        assert_eq!(store.updates_sent(), 3);
    }

    #[test]
    fn a_full_buffer_drops_and_counts_both() {
        let store = Arc::new(Notifications::default());
        let mut slow = store.subscribe().expect("subscriber");
        for i in 0..12 {
            store.add(NOTIFY_CONFIG_FAILED, i);
        }
        assert_eq!((store.updates_sent(), store.updates_dropped()), (12, 2));
        let got: Vec<_> = std::iter::from_fn(|| slow.try_recv()).collect();
        assert_eq!(got.len(), SUBSCRIBER_BUFFER);
        assert_eq!(got[9].date_ns, 9);
    }

    #[test]
    fn subscribers_are_limited() {
        let store = Arc::new(Notifications::new(2));
        let a = store.subscribe().expect("first");
        let _b = store.subscribe().expect("second");
        assert!(store.subscribe().is_none());
        drop(a);
        let _c = store.subscribe().expect("a freed place");
        store.set_max_subscribers(0);
        assert!(store.subscribe().is_none());
        assert_eq!(store.active_subscribers(), 2);
    }

    #[tokio::test]
    async fn the_event_stream_writes_server_sent_events_until_closed() {
        let store = Arc::new(Notifications::default());
        store.add(NOTIFY_CONFIG_FAILED, 1_500_000_001);
        let sub = store.subscribe().expect("subscriber");
        let mut resp = http::Response::new(Full::new(Bytes::new()));
        let live = LiveStream::new(sub);
        let ended = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&ended);
        live.on_end(Box::new(move |sent| seen.store(sent, Ordering::Relaxed)));
        resp.extensions_mut().insert(live);
        let mut body = into_served(resp).into_body();
        let first = body.frame().await.expect("a frame").expect("infallible");
        let first = first.into_data().expect("data");
        let mut sent = first.len();
        assert_eq!(
            first,
            "data: {\"text\":\"Configuration reload has failed.\",\"date\":\"1970-01-01T00:00:01.500000001Z\",\"active\":true}\n\n"
        );
        store.delete(NOTIFY_CONFIG_FAILED);
        store.close_subscriptions();
        let second = body.frame().await.expect("a frame").expect("infallible");
        let second = second.into_data().expect("data");
        sent += second.len();
        assert!(second.ends_with(b"\"active\":false}\n\n"));
        assert!(body.frame().await.is_none());
        assert_eq!(ended.load(Ordering::Relaxed), 0);
        drop(body);
        assert_eq!(ended.load(Ordering::Relaxed), sent as u64);
    }

    #[tokio::test]
    async fn ordinary_answers_pass_unchanged() {
        let resp = http::Response::new(Full::new(Bytes::from_static(b"ok")));
        let body = into_served(resp).into_body();
        assert!(matches!(body, Either::Left(_)));
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(bytes, "ok");
    }
}
