//! Remote write and remote read over Prometheus's protobuf + snappy HTTP protocol (feature
//! `remote`), mirroring Prometheus's `storage/remote`.
//!
//! Sending side:
//! - [`QueueManager`]: one per `remote_write` endpoint. It applies external labels and
//!   `write_relabel_configs` to series, shards samples by series over `min_shards..=max_shards`
//!   tasks (resharding with throughput), batches them by `max_samples_per_send` and
//!   `batch_send_deadline`, and POSTs snappy-compressed [`prompb::WriteRequest`]s (or, with
//!   [`WriteOptions::protobuf_message`] = [`WriteProtoMsg::V2`], remote write 2.0
//!   [`prompb::write_v2::Request`]s, checking the receiver's written counts), retrying with
//!   exponential backoff on 5xx, 429 (with `retry_on_http_429`) and transport errors.
//! - [`Watcher`]: tails the WAL through a [`WalSource`] (implemented by the binary over the
//!   TSDB's WAL, so this crate stays free of `tsdb`), turning series records into the queue's
//!   ref -> labels map and sample records into queued samples. A receiver that is down only
//!   stalls the watcher: the data waits in the WAL.
//! - [`MetadataWatcher`]: every `metadata_config.send_interval`, sends what a
//!   [`MetadataSource`] (the binary's scrape manager) knows of metric families in
//!   metadata-only 1.0 requests; 2.0 queues instead send each series' metadata from the
//!   WAL's metadata records (`--enable-feature=metadata-wal-records`) with its samples.
//! - [`RemoteWriteMetrics`]: the `prometheus_remote_storage_*` counters, as plain atomics.
//! - [`AppendedMetrics`]: what comes in (Go's `timestampTracker`): wraps the appenders of
//!   local storage and counts the samples, histograms and exemplars of each commit, and the
//!   newest timestamp (`prometheus_remote_storage_{samples,histograms,exemplars}_in_total`,
//!   `prometheus_remote_storage_highest_timestamp_in_seconds`).
//!
//! Receiving side (what `web` mounts): [`append_write_body`] for `/api/v1/write` (reads the
//! protobuf in place; [`decode_write_request`] + [`append_write_request`] for callers holding
//! messages; [`parse_content_type`] picks 1.0 or 2.0 from the `Content-Type`, and
//! [`append_write_v2_body`] appends a 2.0 request, returning the status and the
//! [`WriteStats`] for the `X-Prometheus-Remote-Write-*-Written` headers; the `*_with`
//! variants take the [`ReceiverOptions`]: created-timestamp zero samples and the counters
//! Prometheus's handler registers), and
//! [`decode_read_request`] + [`serve_read_with`] ([`ReadLimits`]; the [`ReadAnswer`] is
//! SAMPLES or STREAMED_XOR_CHUNKS frames, [`negotiate_response_type`]) for `/api/v1/read`;
//! [`otlp`] for Prometheus's OTLP metrics receiver
//! (`/api/v1/otlp/v1/metrics`: [`otlp::decode_otlp_request`], [`otlp::append_otlp_request`],
//! [`otlp::encode_otlp_response`]).
//!
//! Remote read client: [`RemoteRead`] is a [`crate::Queryable`] that sends a
//! [`prompb::ReadRequest`] for each `select`, accepting streamed XOR chunks (frames read by
//! [`ChunkedReader`], written by [`write_frame`]) before SAMPLES.

mod chunked;
mod codec;
mod histogram;
mod http;
pub mod otlp;
mod queue;
mod read;
mod tracker;
mod watcher;
mod wire;
mod write_v2;
mod xorchunk;

pub use chunked::{ChunkedReader, DEFAULT_CHUNKED_READ_LIMIT, STREAMED_CONTENT_TYPE, write_frame};
pub use codec::{
    ReceiverOptions, append_encoded_write_request, append_encoded_write_request_with,
    append_write_body, append_write_body_with, append_write_request, decode_read_request,
    decode_snappy, decode_write_request, encode_read_request, encode_read_response, encode_snappy,
    encode_write_request, labels_from_proto, labels_to_proto, matchers_from_proto,
    matchers_to_proto, receiver_text, write_response_status,
};
pub use histogram::{
    HistogramSample, float_histogram_from_proto, float_histogram_to_proto, histogram_from_proto,
    histogram_to_proto, is_float_histogram,
};
pub use http::USER_AGENT;
pub use queue::{
    MetadataOptions, MetadataSource, MetadataWatcher, MetricMetadata, QueueManager, QueueOptions,
    RemoteWriteMetrics, SENT_BATCH_DURATION_BUCKETS, WriteOptions,
};
#[doc(hidden)]
pub use queue::{bench_build_and_encode, bench_build_and_encode_v2};
pub use read::{
    ReadAnswer, ReadLimits, ReadOptions, RemoteRead, negotiate_response_type, serve_read,
    serve_read_with,
};
pub use tracker::AppendedMetrics;
pub use watcher::{WalRecord, WalSource, Watcher, WatcherOptions};
pub use write_v2::{
    PROTOBUF_CONTENT_TYPE, VERSION_HEADER, WRITTEN_EXEMPLARS_HEADER, WRITTEN_HISTOGRAMS_HEADER,
    WRITTEN_SAMPLES_HEADER, WriteProtoMsg, WriteStats, WriteV2Outcome, append_write_v2_body,
    append_write_v2_body_with, append_write_v2_request, append_write_v2_request_with,
    decode_write_v2_request, encode_write_v2_request, parse_content_type,
};
pub use xorchunk::{decode as decode_xor_chunk, encode as encode_xor_chunk};
