//! The WAL watcher: tails WAL segments through a [`WalSource`] and feeds a [`QueueManager`]
//! (Prometheus's `tsdb/wlog/watcher.go`, with the file access behind a trait).

use std::sync::Arc;
use std::time::Duration;

use model::{Labels, Timestamp};
use tokio_util::sync::CancellationToken;

use super::histogram::HistogramSample;
use super::queue::QueueManager;
use crate::{Error, Result, SeriesRef};

/// A decoded WAL record, as far as remote write cares.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    /// Series declarations: reference and labels.
    Series(Vec<(SeriesRef, Labels)>),
    /// Float samples: series reference, timestamp, value.
    Samples(Vec<(SeriesRef, Timestamp, f64)>),
    /// Exemplars: series reference, timestamp, value, the exemplar's labels.
    Exemplars(Vec<(SeriesRef, Timestamp, f64, Labels)>),
    /// Native histogram samples with integer counts (records 7 and 9): series reference,
    /// timestamp, histogram.
    Histograms(Vec<(SeriesRef, Timestamp, model::Histogram)>),
    /// Native histogram samples with float counts (records 8 and 10).
    FloatHistograms(Vec<(SeriesRef, Timestamp, model::FloatHistogram)>),
    /// Series metadata (record 6, written with `--enable-feature=metadata-wal-records`):
    /// series reference and metadata.
    Metadata(Vec<(SeriesRef, crate::Metadata)>),
    /// Anything else (tombstones, ...): skipped.
    Other,
}

/// Read access to a WAL directory. The binary implements it over `tsdb::wlog` (this crate
/// must not depend on the TSDB); tests use an in-memory fake. Calls block (file I/O): the
/// watcher makes them on tokio's blocking pool.
pub trait WalSource: Send + 'static {
    /// The first and last segment indexes present, or `None` while there is no segment.
    fn segments(&mut self) -> Result<Option<(u64, u64)>>;

    /// The newest checkpoint, named by the last segment it covers (`checkpoint.NNNNNNNN`).
    fn last_checkpoint(&mut self) -> Result<Option<u64>>;

    /// Every record of checkpoint `index`.
    fn read_checkpoint(&mut self, index: u64) -> Result<Vec<WalRecord>>;

    /// The complete records of segment `index` that start at byte `offset` or later, and the
    /// offset just after the last of them. A record still being written at the end of the
    /// segment is not returned (it is read by a later call). A segment that no longer exists
    /// is an error.
    fn read_segment(&mut self, index: u64, offset: u64) -> Result<(Vec<WalRecord>, u64)>;
}

/// Watcher tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct WatcherOptions {
    /// How often the live segment is polled for new records once read to its end.
    pub poll_interval: Duration,
    /// Samples at or before this time are not sent (Prometheus: the time the watcher started,
    /// so a restart does not resend the whole WAL). `Timestamp::MIN` sends everything.
    pub start_timestamp: Timestamp,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            poll_interval: Duration::from_millis(100),
            start_timestamp: Timestamp::MIN,
        }
    }
}

/// Tails a WAL into one queue. See [`Watcher::run`].
pub struct Watcher {
    source: Arc<parking_lot::Mutex<Box<dyn WalSource>>>,
    queue: QueueManager,
    opts: WatcherOptions,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("queue", &self.queue)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher reading `source` into `queue`.
    pub fn new(source: Box<dyn WalSource>, queue: QueueManager, opts: WatcherOptions) -> Watcher {
        Watcher {
            source: Arc::new(parking_lot::Mutex::new(source)),
            queue,
            opts,
        }
    }

    /// Runs the blocking source call `f` on tokio's blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn WalSource) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let source = self.source.clone();
        tokio::task::spawn_blocking(move || f(source.lock().as_mut()))
            .await
            .map_err(Error::backend)?
    }

    /// Reads the checkpoint (series only) and returns the segment to continue from.
    async fn load_checkpoint(&mut self, first_segment: u64) -> Result<(Option<u64>, u64)> {
        let Some(ck) = self.call(|s| s.last_checkpoint()).await? else {
            return Ok((None, first_segment));
        };
        let (name, url) = (self.queue.name(), self.queue.url());
        let dir = checkpoint_name(ck);
        tracing::debug!(remote_name = %name, url = %url, dir = %dir, "Reading checkpoint");
        let records = self.call(move |s| s.read_checkpoint(ck)).await?;
        for rec in records {
            match rec {
                WalRecord::Series(series) => self.queue.store_series(&series, ck),
                WalRecord::Metadata(md) => self.queue.store_metadata(&md),
                _ => {}
            }
        }
        self.queue.series_reset(ck);
        tracing::debug!(remote_name = %self.queue.name(), url = %self.queue.url(), checkpoint = %dir,
            "Read series references from checkpoint");
        Ok((Some(ck), (ck + 1).max(first_segment)))
    }

    /// Feeds records to the queue; `false` once the queue is stopping. Exemplars and native
    /// histograms are sent only from segments at or after the last one that existed when the
    /// watcher started (`tail`), as Prometheus skips them while replaying older segments;
    /// histograms also only after the start timestamp, like samples.
    async fn process(&self, records: Vec<WalRecord>, segment: u64, tail: bool) -> bool {
        for rec in records {
            match rec {
                WalRecord::Series(series) => self.queue.store_series(&series, segment),
                // Kept with the series, like series records, whether tailing or not.
                WalRecord::Metadata(md) => self.queue.store_metadata(&md),
                WalRecord::Samples(mut samples) => {
                    let start = self.opts.start_timestamp;
                    samples.retain(|&(_, t, _)| t > start);
                    if !samples.is_empty() && !self.queue.append(&samples).await {
                        return false;
                    }
                }
                WalRecord::Exemplars(exemplars) => {
                    // Not filtered by time: an exemplar's own timestamp may be older than
                    // the watcher's start.
                    if tail && !self.queue.append_exemplars(&exemplars).await {
                        return false;
                    }
                }
                WalRecord::Histograms(hs) => {
                    let hs = self.histograms(
                        tail,
                        hs.into_iter()
                            .map(|(r, t, h)| (r, t, HistogramSample::Int(h))),
                    );
                    if !hs.is_empty() && !self.queue.append_histograms(hs).await {
                        return false;
                    }
                }
                WalRecord::FloatHistograms(hs) => {
                    let hs = self.histograms(
                        tail,
                        hs.into_iter()
                            .map(|(r, t, h)| (r, t, HistogramSample::Float(h))),
                    );
                    if !hs.is_empty() && !self.queue.append_histograms(hs).await {
                        return false;
                    }
                }
                WalRecord::Other => {}
            }
        }
        true
    }

    /// The histograms of a record that are sent: none outside the tail, none at or before
    /// the start timestamp.
    fn histograms(
        &self,
        tail: bool,
        hs: impl Iterator<Item = (SeriesRef, Timestamp, HistogramSample)>,
    ) -> Vec<(SeriesRef, Timestamp, HistogramSample)> {
        if !tail {
            return Vec::new();
        }
        let start = self.opts.start_timestamp;
        hs.filter(|&(_, t, _)| t > start).collect()
    }

    /// Follows the WAL until `stop` is cancelled or the queue stops: the checkpoint first (for
    /// series), then every segment from the one after it, tailing the newest. When a new
    /// checkpoint appears, its series are reloaded and older series forgotten; when the
    /// segment being read was deleted by a WAL truncation, reading resumes after the checkpoint.
    ///
    /// While the queue is full (the receiver is down), reading pauses: nothing is lost as long
    /// as the WAL still holds the data.
    pub async fn run(mut self, stop: CancellationToken) -> Result<()> {
        let poll = self.opts.poll_interval;
        let (first, last_at_start) = loop {
            if let Some(range) = self.call(|s| s.segments()).await? {
                break range;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = stop.cancelled() => return Ok(()),
            }
        };
        let (name, url) = (self.queue.name().to_owned(), self.queue.url().to_owned());
        tracing::info!(remote_name = %name, url = %url, queue = %name, "Replaying WAL");
        let replay_start = std::time::Instant::now();
        let mut replaying = true;
        let (mut checkpoint, mut segment) = self.load_checkpoint(first).await?;
        tracing::debug!(remote_name = %name, url = %url,
            lastCheckpoint = %checkpoint.map(checkpoint_name).unwrap_or_default(),
            checkpointIndex = checkpoint.unwrap_or(0), currentSegment = segment,
            lastSegment = last_at_start, "Tailing WAL");
        tracing::debug!(remote_name = %name, url = %url, currentSegment = segment, "Processing segment");
        let mut offset = 0u64;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let read = self.call(move |s| s.read_segment(segment, offset)).await;
            let (records, next) = match read {
                Ok(r) => r,
                Err(err) => {
                    // The segment may have been truncated away: restart after the checkpoint.
                    let range = self.call(|s| s.segments()).await?;
                    match range {
                        Some((first, _)) if first > segment => {
                            tracing::warn!(
                                segment,
                                first,
                                "WAL segment gone, resuming from the checkpoint"
                            );
                            (checkpoint, segment) = self.load_checkpoint(first).await?;
                            offset = 0;
                            continue;
                        }
                        _ => return Err(err),
                    }
                }
            };
            let got_records = !records.is_empty();
            if !self
                .process(records, segment, segment >= last_at_start)
                .await
            {
                return Ok(());
            }
            offset = next;
            if got_records {
                continue;
            }
            // At the end of this segment: move on if a newer one exists (the writer finished
            // this one before creating it, so one more read picks up any last records).
            let last = self
                .call(|s| s.segments())
                .await?
                .map_or(segment, |(_, l)| l);
            if last > segment {
                let records = match self.call(move |s| s.read_segment(segment, offset)).await {
                    Ok((records, _)) => records,
                    // Truncated away since: the read at the top of the loop fails again and
                    // resumes after the checkpoint (or reports an error that persists).
                    Err(_) => continue,
                };
                if !self
                    .process(records, segment, segment >= last_at_start)
                    .await
                {
                    return Ok(());
                }
                segment += 1;
                offset = 0;
                tracing::debug!(remote_name = %name, url = %url, currentSegment = segment, "Processing segment");
                continue;
            }
            if replaying {
                // Caught up with the WAL as it was: from here on, tailing.
                replaying = false;
                let elapsed = replay_start.elapsed().as_nanos();
                tracing::info!(remote_name = %name, url = %url,
                    duration = model::strconv::format_go_duration(i128::try_from(elapsed).unwrap_or(i128::MAX)),
                    "Done replaying WAL");
            }
            let ck = self.call(|s| s.last_checkpoint()).await?;
            if ck.is_some() && ck != checkpoint {
                tracing::debug!(remote_name = %name, url = %url,
                    new = %ck.map(checkpoint_name).unwrap_or_default(), currentSegment = segment,
                    "New checkpoint detected");
                let first = self
                    .call(|s| s.segments())
                    .await?
                    .map_or(segment, |(f, _)| f);
                let (new_ck, _) = self.load_checkpoint(first).await?;
                checkpoint = new_ck;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
}

/// A checkpoint's directory name (`checkpoint.00000012`), as the watcher's lines name it.
fn checkpoint_name(index: u64) -> String {
    format!("checkpoint.{index:08}")
}
