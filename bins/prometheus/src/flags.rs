//! Command-line flags with Prometheus's names and defaults, validated into [`Settings`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{ArgAction, Parser};

/// Raw flags, spelled exactly as Prometheus's (cmd/prometheus/main.go).
///
/// Boolean flags take an optional value, so both `--web.enable-lifecycle` and
/// `--web.enable-lifecycle=false` work.
#[derive(Debug, Parser)]
#[command(
    name = "prometheus",
    about = "The Prometheus monitoring server",
    disable_version_flag = true
)]
pub(crate) struct Flags {
    /// Show application version.
    #[arg(long = "version")]
    pub(crate) version: bool,

    /// Prometheus configuration file path.
    #[arg(long = "config.file", default_value = "prometheus.yml")]
    config_file: PathBuf,

    /// Address to listen on for UI, API, and telemetry. Can be repeated.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    listen_addresses: Vec<String>,

    /// EXPERIMENTAL: Path to configuration file that can enable TLS or authentication.
    #[arg(long = "web.config.file", default_value = "")]
    web_config_file: String,

    /// Maximum duration before timing out read of the request, and closing idle connections.
    #[arg(long = "web.read-timeout", default_value = "5m")]
    read_timeout: String,

    /// Maximum number of simultaneous connections across all listeners.
    #[arg(long = "web.max-connections", default_value_t = 512)]
    max_connections: i64,

    /// The largest `limit` a search API request may ask for (0: no cap; the web handler
    /// reads it from the flag values).
    #[arg(long = "web.search.max-limit", default_value_t = 10_000)]
    search_max_limit: i64,

    /// Regex for CORS origin. It is fully anchored.
    #[arg(long = "web.cors.origin", default_value = ".*")]
    cors_origin: String,

    /// Path to the console template directory (consoles are not served by this server).
    #[arg(long = "web.console.templates")]
    console_templates: Option<String>,

    /// Path to the console library directory (consoles are not served by this server).
    #[arg(long = "web.console.libraries")]
    console_libraries: Option<String>,

    /// Document title of Prometheus instance.
    #[arg(long = "web.page-title")]
    page_title: Option<String>,

    /// The URL under which Prometheus is externally reachable (for example, if Prometheus is
    /// served via a reverse proxy). If the URL has a path portion, it will be used to prefix
    /// all HTTP endpoints served by Prometheus.
    #[arg(long = "web.external-url", default_value = "")]
    external_url: String,

    /// Prefix for the internal routes of web endpoints. Defaults to path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", default_value = "")]
    route_prefix: String,

    /// Enable shutdown and reload via HTTP request.
    #[arg(long = "web.enable-lifecycle", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    enable_lifecycle: bool,

    /// Enable API endpoints for admin control actions.
    #[arg(long = "web.enable-admin-api", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    enable_admin_api: bool,

    /// Enable API endpoint accepting remote write requests.
    #[arg(long = "web.enable-remote-write-receiver", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    enable_remote_write_receiver: bool,

    /// Enable API endpoint accepting OTLP write requests.
    #[arg(long = "web.enable-otlp-receiver", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    enable_otlp_receiver: bool,

    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    tsdb_path: PathBuf,

    /// How long to retain samples in storage. If neither this flag nor
    /// "storage.tsdb.retention.size" is set, the retention time defaults to 15d.
    #[arg(long = "storage.tsdb.retention.time")]
    retention_time: Option<String>,

    /// Maximum number of bytes that can be stored for blocks. A unit is required, supported
    /// units: B, KB, MB, GB, TB, PB, EB. Ex: "512MB". Based on powers-of-2, so 1KB is 1024B.
    #[arg(long = "storage.tsdb.retention.size")]
    retention_size: Option<String>,

    /// Do not create lockfile in data directory.
    #[arg(long = "storage.tsdb.no-lockfile", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    no_lockfile: bool,

    /// Minimum duration of a data block before being persisted. For use in testing.
    #[arg(
        long = "storage.tsdb.min-block-duration",
        default_value = "2h",
        hide = true
    )]
    min_block_duration: String,

    /// Maximum duration compacted blocks may span. For use in testing. (Defaults to 10% of
    /// the retention period.)
    #[arg(long = "storage.tsdb.max-block-duration", hide = true)]
    max_block_duration: Option<String>,

    /// Target number of samples per chunk.
    #[arg(
        long = "storage.tsdb.samples-per-chunk",
        default_value_t = 120,
        hide = true
    )]
    samples_per_chunk: usize,

    /// Compression algorithm for the tsdb WAL.
    #[arg(long = "storage.tsdb.wal-compression-type", default_value = "snappy", hide = true,
          value_parser = ["snappy", "zstd"])]
    wal_compression_type: String,

    /// Compress the tsdb WAL.
    #[arg(long = "storage.tsdb.wal-compression", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true", hide = true)]
    wal_compression: bool,

    /// Base path for metrics storage (agent mode).
    #[arg(long = "storage.agent.path")]
    agent_path: Option<PathBuf>,

    /// Run Prometheus in 'Agent mode'.
    #[arg(long = "agent", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true")]
    agent: bool,

    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m")]
    query_timeout: String,

    /// Maximum number of samples a single query can load into memory.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    query_max_samples: i64,

    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    query_max_concurrency: i64,

    /// The maximum lookback duration for retrieving metrics during expression evaluations.
    #[arg(long = "query.lookback-delta", default_value = "5m")]
    lookback_delta: String,

    /// Comma separated feature names to enable.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    enable_feature: Vec<String>,

    /// Sets the upper limit for the random compaction delay, specified as a percentage of
    /// the head chunk range. 100 means the compaction can be delayed by up to the entire
    /// head chunk range. Only effective when the delayed-compaction feature flag is enabled.
    #[arg(
        long = "storage.tsdb.delayed-compaction.max-percent",
        default_value_t = 10,
        hide = true
    )]
    compaction_delay_max_percent: i64,

    /// How long to wait flushing sample on shutdown or config reload.
    #[arg(long = "storage.remote.flush-deadline", default_value = "1m")]
    remote_flush_deadline: String,

    /// Maximum overall number of samples to return via the remote read interface, in a
    /// single query. 0 means no limit. This limit is ignored for streamed response types.
    #[arg(
        long = "storage.remote.read-sample-limit",
        default_value_t = 50_000_000
    )]
    remote_read_sample_limit: usize,

    /// Maximum number of concurrent remote read calls. 0 means no limit.
    #[arg(long = "storage.remote.read-concurrent-limit", default_value_t = 10)]
    remote_read_concurrent_limit: usize,

    /// Maximum number of bytes in a single frame for streaming remote read response types
    /// before marshalling. Note that client might have limit on frame size as well. 1MB as
    /// recommended by protobuf by default.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        default_value_t = 1_048_576
    )]
    remote_read_max_bytes: usize,

    /// Max time to tolerate prometheus outage for restoring "for" state of alert.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h")]
    rules_outage_tolerance: String,

    /// Minimum duration between alert and restored "for" state. This is maintained only for
    /// alerts with configured "for" time greater than grace period.
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m")]
    rules_grace_period: String,

    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m")]
    rules_resend_delay: String,

    /// Global concurrency limit for independent rules that can run concurrently. When set,
    /// "query.max-concurrency" may need to be adjusted accordingly.
    #[arg(long = "rules.max-concurrent-evals", default_value_t = 4)]
    rules_max_concurrent: u64,

    /// The capacity of the queue for pending Alertmanager notifications.
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        default_value_t = 10_000
    )]
    am_queue_capacity: usize,

    /// Send any outstanding Alertmanager notifications when shutting down. If false, any
    /// outstanding Alertmanager notifications will be dropped when shutting down.
    #[arg(
        long = "alertmanager.drain-notification-queue-on-shutdown",
        default_value = "true",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    am_drain: bool,

    /// Adjust scrape timestamps by up to `scrape.timestamp-tolerance` to align them to the
    /// intended schedule. See prometheus/prometheus#7846 for more
    /// context. Experimental. This flag will be removed in a future release.
    #[arg(long = "scrape.adjust-timestamps", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true", hide = true)]
    scrape_adjust: bool,

    /// Timestamp tolerance. See prometheus/prometheus#7846 for
    /// more context. Experimental. This flag will be removed in a future release.
    #[arg(
        long = "scrape.timestamp-tolerance",
        default_value = "2ms",
        hide = true
    )]
    scrape_tolerance: String,

    /// Interval used by scrape manager to throttle target groups updates.
    #[arg(
        long = "scrape.discovery-reload-interval",
        default_value = "5s",
        hide = true
    )]
    scrape_reload_interval: String,

    /// Path to static asset directory, available at /user.
    #[arg(long = "web.user-assets", value_name = "PATH")]
    user_assets: Option<String>,

    /// Path to static asset/templates directory.
    // Debian's Prometheus 3.5.3 has it (upstream does not): its `static/` is served at
    // `/classic/static/`. The built-in UI embeds its own assets.
    #[arg(long = "web.local-assets", default_value = DEFAULT_LOCAL_ASSETS)]
    local_assets: String,

    /// Maximum number of subscribers to the notifications stream.
    #[arg(long = "web.max-notifications-subscribers", default_value_t = 16)]
    max_notification_subscribers: usize,

    /// Number of alerts sent in one batch to the Alertmanager (at most 0: the default, as
    /// Go's notifier takes it).
    #[arg(long = "alertmanager.notification-batch-size", default_value_t = notifier::DEFAULT_MAX_BATCH_SIZE as i64,
          allow_negative_numbers = true)]
    am_batch_size: i64,

    /// Automatically set GOMAXPROCS to match Linux container CPU quota.
    #[arg(long = "auto-gomaxprocs", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    auto_gomaxprocs: bool,

    /// Automatically set GOMEMLIMIT to match Linux container or system memory limit.
    #[arg(long = "auto-gomemlimit", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    auto_gomemlimit: bool,

    /// The ratio of reserved GOMEMLIMIT memory to the detected maximum container or system
    /// memory.
    #[arg(long = "auto-gomemlimit.ratio", default_value_t = 0.9)]
    auto_gomemlimit_ratio: f64,

    /// Specifies the interval for checking and automatically reloading the Prometheus
    /// configuration file upon detecting changes.
    #[arg(long = "config.auto-reload-interval", default_value = "30s")]
    auto_reload_interval: String,

    /// Allow compaction of overlapping blocks. If set to false, TSDB stops vertical
    /// compaction and leaves overlapping blocks there.
    #[arg(long = "storage.tsdb.allow-overlapping-compaction", action = ArgAction::Set,
          num_args = 0..=1, default_value_t = true, default_missing_value = "true", hide = true)]
    allow_overlapping_compaction: bool,

    /// Size of the queue through which head chunks are written to the disk to be m-mapped,
    /// 0 disables the queue completely. Experimental.
    #[arg(
        long = "storage.tsdb.head-chunks-write-queue-size",
        default_value_t = 0,
        hide = true
    )]
    head_chunks_write_queue_size: i64,

    /// Max size for a single chunk segment file of a block. Example: 512MB.
    #[arg(
        long = "storage.tsdb.max-block-chunk-segment-size",
        default_value = "0B",
        hide = true
    )]
    max_block_chunk_segment_size: String,

    /// Size at which to split the tsdb WAL segment files. Example: 100MB.
    #[arg(
        long = "storage.tsdb.wal-segment-size",
        default_value = "0B",
        hide = true
    )]
    wal_segment_size: String,

    /// List of the remote write protobuf messages to accept when receiving the remote writes.
    /// Supported values: prometheus.WriteRequest, io.prometheus.write.v2.Request
    #[arg(
        long = "web.remote-write-receiver.accepted-protobuf-messages",
        action = ArgAction::Append,
        default_values_t = ["prometheus.WriteRequest".to_owned(), "io.prometheus.write.v2.Request".to_owned()]
    )]
    rw_messages: Vec<String>,

    /// Compress the agent WAL. If false, the --storage.agent.wal-compression-type flag is
    /// ignored.
    #[arg(long = "storage.agent.wal-compression", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    agent_wal_compression: Option<bool>,

    /// Compression algorithm for the agent WAL, used when --storage.agent.wal-compression is
    /// true.
    #[arg(long = "storage.agent.wal-compression-type", hide = true,
          value_parser = ["snappy", "zstd"])]
    agent_wal_compression_type: Option<String>,

    /// Size at which to split WAL segment files. Example: 100MB
    #[arg(long = "storage.agent.wal-segment-size", hide = true)]
    agent_segment_size: Option<String>,

    /// The frequency at which to truncate the WAL and remove old data.
    #[arg(long = "storage.agent.wal-truncate-frequency", hide = true)]
    agent_truncate_frequency: Option<String>,

    /// Minimum age samples may be before being considered for deletion when the WAL is
    /// truncated
    #[arg(long = "storage.agent.retention.min-time")]
    agent_min_time: Option<String>,

    /// Maximum age samples may be before being forcibly deleted when the WAL is truncated
    #[arg(long = "storage.agent.retention.max-time")]
    agent_max_time: Option<String>,

    /// Do not create lockfile in data directory.
    #[arg(long = "storage.agent.no-lockfile", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    agent_no_lockfile: Option<bool>,

    /// Only log messages with the given severity or above. One of: [debug, info, warn, error]
    #[arg(long = "log.level", default_value = "info",
          value_parser = ["debug", "info", "warn", "error"])]
    log_level: String,

    /// Output format of log messages. One of: [logfmt, json]
    #[arg(long = "log.format", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    log_format: String,

    /// The flags given on the command line (see [`Flags::parse_args`]).
    #[arg(skip)]
    explicit: Explicit,
}

/// Long names of the flags given on the command line (not defaulted), filled by
/// [`Flags::parse_args`]: Prometheus refuses server-only flags in agent mode only when set.
#[derive(Debug, Default, Clone)]
pub(crate) struct Explicit(Vec<String>);

impl Explicit {
    fn has(&self, prefix: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(String::as_str)
            .filter(move |f| f.starts_with(prefix))
    }
}

/// Agent mode's storage settings (`--agent`).
#[derive(Debug, Clone)]
pub(crate) struct AgentSettings {
    /// `--storage.agent.path`.
    pub(crate) path: PathBuf,
    pub(crate) options: tsdb::agent::Options,
}

/// A flag that belongs to the other mode (server or agent); Prometheus exits with 3.
#[derive(Debug)]
pub(crate) struct ModeError(String);

impl std::fmt::Display for ModeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModeError {}

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `time=... level=INFO source=main.rs:12 msg=...`
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Validated settings the server is built from.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) config_file: PathBuf,
    pub(crate) listen_addresses: Vec<String>,
    pub(crate) route_prefix: String,
    /// `--web.cors.origin` unless it is the default `.*`.
    pub(crate) cors_origin: Option<model::Matcher>,
    pub(crate) serve: web::ServeOptions,
    pub(crate) scrape: scrape::Options,
    /// The external URL's scheme and host, for targets' `globalUrl`.
    pub(crate) global_url: web::GlobalUrlOptions,
    pub(crate) enable_lifecycle: bool,
    pub(crate) enable_admin_api: bool,
    /// `--web.max-notifications-subscribers`.
    pub(crate) max_notification_subscribers: usize,
    /// `--web.enable-remote-write-receiver`.
    pub(crate) enable_remote_write_receiver: bool,
    /// `--web.remote-write-receiver.accepted-protobuf-messages`.
    pub(crate) remote_write_messages: Vec<storage::remote::WriteProtoMsg>,
    /// `--web.enable-otlp-receiver`.
    pub(crate) enable_otlp_receiver: bool,
    /// The `--enable-feature`s of the push receivers.
    pub(crate) receiver_features: web::ReceiverFeatures,
    /// `--storage.remote.flush-deadline`: how long queues may flush on shutdown or reload.
    pub(crate) remote_flush_deadline: std::time::Duration,
    /// `--storage.remote.read-{sample-limit,concurrent-limit,max-bytes-in-frame}`.
    pub(crate) remote_read_limits: storage::remote::ReadLimits,
    pub(crate) tsdb_path: PathBuf,
    pub(crate) tsdb: tsdb::db::Options,
    /// `--enable-feature=exemplar-storage`: exemplars are stored (sized from
    /// `storage.exemplars.max_exemplars`, resized on reload).
    pub(crate) enable_exemplar_storage: bool,
    /// `--agent`: run the WAL-only agent storage instead of the TSDB.
    pub(crate) agent: Option<AgentSettings>,
    /// The external URL (`--web.external-url` or `http://<hostname>:<port>`), without a
    /// trailing slash: alerts' generator URLs and templates' `$externalURL`.
    pub(crate) external_url: String,
    /// `--rules.alert.*`.
    pub(crate) rules: RulesSettings,
    /// `--alertmanager.*`.
    pub(crate) notifier: notifier::Options,
    /// The retention as `/api/v1/status/runtimeinfo` shows it.
    pub(crate) retention_text: String,
    /// Neither retention flag was given, so the default time retention applies.
    pub(crate) retention_defaulted: bool,
    pub(crate) engine: promql::EngineOpts,
    pub(crate) log_level: tracing::Level,
    pub(crate) log_format: LogFormat,
    /// Every flag with its value, for `/api/v1/status/flags`.
    pub(crate) flag_values: BTreeMap<String, String>,
    /// Features enabled with `--enable-feature` that change nothing in this server.
    pub(crate) noop_features: Vec<String>,
    /// `--enable-feature=auto-reload-config`: check the configuration files this often
    /// (`--config.auto-reload-interval`) and reload when they changed.
    pub(crate) auto_reload: Option<std::time::Duration>,
    /// Features named in `--enable-feature` that Prometheus does not know either.
    pub(crate) unknown_features: Vec<String>,
    /// Deprecated features that still take effect, with Prometheus's warning.
    pub(crate) feature_warnings: Vec<String>,
    /// What Prometheus logs (at info) for the features enabled.
    pub(crate) feature_infos: Vec<String>,
}

/// The rule manager's flags.
#[derive(Debug, Clone)]
pub(crate) struct RulesSettings {
    pub(crate) outage_tolerance: std::time::Duration,
    pub(crate) for_grace_period: std::time::Duration,
    pub(crate) resend_delay: std::time::Duration,
    /// `--enable-feature=concurrent-rule-eval`: at most this many rules evaluated beside
    /// their groups (`--rules.max-concurrent-evals`).
    pub(crate) concurrent_evals: Option<usize>,
}

/// What kingpin says of a command line clap refuses for an unknown flag, a stray argument or
/// a flag without its value (`None`: clap's own answer stands, e.g. `--help`).
pub(crate) fn kingpin_parse_error(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.as_str(),
        _ => return None,
    };
    match err.kind() {
        ErrorKind::UnknownArgument => Some(if let Some(long) = arg.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            format!("unknown long flag '--{name}'")
        } else if let Some(short) = arg.strip_prefix('-').and_then(|s| s.chars().next()) {
            format!("unknown short flag '-{short}'")
        } else {
            format!("unexpected {arg}")
        }),
        ErrorKind::InvalidValue if matches!(err.get(ContextKind::InvalidValue), Some(ContextValue::String(v)) if v.is_empty()) =>
        {
            let name = arg.split_whitespace().next().unwrap_or(arg);
            Some(format!("expected argument for flag '{name}'"))
        }
        _ => None,
    }
}

/// Exits as Prometheus does when kingpin refuses the command line (both lines on stderr,
/// status 1); clap's own answer otherwise.
pub(crate) fn exit_on_parse_error(err: &clap::Error) -> ! {
    let Some(msg) = kingpin_parse_error(err) else {
        err.exit()
    };
    let app = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "prometheus".to_owned());
    eprintln!("Error parsing command line arguments: {msg}");
    eprintln!("{app}: error: {msg}");
    std::process::exit(1)
}

/// `--web.local-assets`'s default in Debian's Prometheus 3.5.3.
const DEFAULT_LOCAL_ASSETS: &str = "/usr/share/prometheus/web/";

/// The default retention when neither time nor size is given (Prometheus's 15d).
const DEFAULT_RETENTION: &str = "15d";

fn duration_flag(flag: &str, value: &str) -> anyhow::Result<model::Duration> {
    model::Duration::parse(value)
        .with_context(|| format!("invalid value {value:?} for flag --{flag}"))
}

impl Flags {
    /// Checks the flags, refusing those whose feature this server does not have yet, and
    /// derives the settings.
    pub(crate) fn validate(self) -> anyhow::Result<Settings> {
        if self.agent {
            // Go's serverOnlyFlag set: the TSDB, remote read serving, rules, notifier and
            // query engine flags, when given.
            // Listed as Prometheus does: `--name`, in command-line order.
            let server_only: Vec<String> = self
                .explicit
                .has("")
                .filter(|n| {
                    [
                        "storage.tsdb.",
                        "storage.remote.read-",
                        "rules.",
                        "alertmanager.",
                        "query.",
                    ]
                    .iter()
                    .any(|p| n.starts_with(p))
                })
                .map(|n| format!("\"--{n}\""))
                .collect();
            if !server_only.is_empty() {
                return Err(anyhow::Error::new(ModeError(format!(
                    "The following flag(s) can not be used in agent mode: [{}]",
                    server_only.join(" ")
                ))));
            }
        }
        let agent_only: Vec<String> = self
            .explicit
            .has("storage.agent.")
            .map(|n| format!("\"--{n}\""))
            .collect();
        if !self.agent && !agent_only.is_empty() {
            return Err(anyhow::Error::new(ModeError(format!(
                "The following flag(s) can only be used in agent mode: [{}]",
                agent_only.join(" ")
            ))));
        }
        // clap replaces the default when the flag is given, so this is never empty.
        let listen_addresses = self.listen_addresses.clone();

        let mut engine = promql::EngineOpts {
            timeout: duration_flag("query.timeout", &self.query_timeout)?.to_std(),
            lookback_delta: duration_flag("query.lookback-delta", &self.lookback_delta)?.to_std(),
            max_samples: usize::try_from(self.query_max_samples).unwrap_or(0),
            max_concurrency: usize::try_from(self.query_max_concurrency)
                .ok()
                .filter(|n| *n > 0),
            ..promql::EngineOpts::default()
        };

        let mut noop_features = Vec::new();
        let mut unknown_features = Vec::new();
        let mut feature_warnings = Vec::new();
        let mut feature_infos = Vec::new();
        let mut use_uncached_io = false;
        let mut enable_exemplar_storage = false;
        let mut memory_snapshot_on_shutdown = false;
        let mut extra_scrape_metrics = false;
        let mut enable_otlp_receiver = self.enable_otlp_receiver;
        let mut concurrent_rule_eval = false;
        let mut type_and_unit_labels = false;
        let mut created_timestamp_zero_ingestion = false;
        let mut metadata_wal_records = false;
        let mut otlp_native_delta_ingestion = false;
        let mut otlp_delta_to_cumulative = false;
        let mut delayed_compaction = false;
        let mut auto_reload_config = false;
        for feature in self
            .enable_feature
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
        {
            match feature {
                "promql-delayed-name-removal" => engine.enable_delayed_name_removal = true,
                "promql-per-step-stats" => engine.enable_per_step_stats = true,
                "use-start-timestamps" => engine.enable_start_timestamps = true,
                "exemplar-storage" => enable_exemplar_storage = true,
                // The web handler turns the search API on from the flag values.
                "search-api" => {}
                // Experimental functions and syntax are always parsed here.
                "promql-experimental-functions" | "promql-duration-expr" => {
                    noop_features.push(feature.to_owned());
                }
                // Go runtime tuning; there is no Go runtime to tune.
                "auto-gomaxprocs" | "auto-gomemlimit" => noop_features.push(feature.to_owned()),
                // A no-op in Prometheus 3 as well: native histograms are scraped when the
                // `scrape_native_histograms` setting of the configuration is true.
                "native-histograms" => noop_features.push(format!(
                    "{feature} (set scrape_native_histograms in the configuration to scrape native histograms)"
                )),
                // Prometheus 3 makes it the default of the `extra_scrape_metrics` setting.
                "extra-scrape-metrics" => {
                    extra_scrape_metrics = true;
                    feature_warnings.push(format!(
                        "{feature}: this option for --enable-feature is being phased out. It currently changes the default for the extra_scrape_metrics config setting to true, but will become a no-op in a future version. Stop using this option and set extra_scrape_metrics in the config instead."
                    ));
                }
                // The deprecated spelling of --web.enable-otlp-receiver.
                "otlp-write-receiver" => {
                    enable_otlp_receiver = true;
                    feature_warnings.push(format!(
                        "{feature}: this option for --enable-feature is deprecated and turns the OTLP receiver on; use --web.enable-otlp-receiver instead."
                    ));
                }
                // Prometheus 3's fixed behaviour: environment references in external
                // labels are expanded at load, and targets keep the address as configured.
                "expand-external-labels"
                | "no-default-scrape-port"
                | "new-service-discovery-manager" => noop_features.push(format!(
                    "{feature} (always on, as in Prometheus 3)"
                )),
                // Prometheus 3 ignores it too; agent mode has its own flag.
                "agent" => noop_features.push(format!(
                    "{feature} (removed in Prometheus 3: run with --agent for agent mode)"
                )),
                "concurrent-rule-eval" => concurrent_rule_eval = true,
                "auto-reload-config" => auto_reload_config = true,
                "type-and-unit-labels" => type_and_unit_labels = true,
                "delayed-compaction" => {
                    delayed_compaction = true;
                    feature_infos.push("Experimental delayed compaction is enabled.".to_owned());
                }
                "memory-snapshot-on-shutdown" => memory_snapshot_on_shutdown = true,
                "created-timestamp-zero-ingestion" => created_timestamp_zero_ingestion = true,
                "metadata-wal-records" => metadata_wal_records = true,
                "otlp-native-delta-ingestion" => otlp_native_delta_ingestion = true,
                "otlp-deltatocumulative" => otlp_delta_to_cumulative = true,
                "use-uncached-io" => {
                    use_uncached_io = true;
                    feature_infos.push("Experimental Uncached IO is enabled.".to_owned());
                }
                // Prometheus 3.5.3 (Debian's build, which ships no React UI) knows no
                // `old-ui` either; there is one built-in UI here.
                other => unknown_features.push(other.to_owned()),
            }
        }
        if self.auto_gomemlimit_ratio <= 0.0 || self.auto_gomemlimit_ratio > 1.0 {
            bail!("--auto-gomemlimit.ratio must be greater than 0 and less than or equal to 1.");
        }
        // Go runtime tuning: there is no Go runtime (no GOMAXPROCS: the thread pools are
        // sized from the CPUs the cgroup grants; no garbage collector to give a limit to).
        for flag in [
            "auto-gomaxprocs",
            "auto-gomemlimit",
            "auto-gomemlimit.ratio",
        ] {
            if self.explicit.has(flag).any(|f| f == flag) {
                noop_features.push(format!("--{flag} (there is no Go runtime to tune)"));
            }
        }
        if self
            .explicit
            .has("storage.tsdb.head-chunks-write-queue-size")
            .next()
            .is_some()
        {
            noop_features.push(
                "--storage.tsdb.head-chunks-write-queue-size (head chunks are written without Go's queue)"
                    .to_owned(),
            );
        }
        if !self.allow_overlapping_compaction {
            bail!(
                "--storage.tsdb.allow-overlapping-compaction=false: leaving overlapping blocks uncompacted is not available yet in this server"
            );
        }
        let byte_flag = |flag: &str, v: &str| -> anyhow::Result<usize> {
            let size = config::ByteSize::parse(v)
                .map_err(|e| anyhow::anyhow!("invalid value {v:?} for flag --{flag}: {e}"))?;
            Ok(usize::try_from(size.bytes()).unwrap_or(usize::MAX))
        };
        let wal_segment_size = byte_flag("storage.tsdb.wal-segment-size", &self.wal_segment_size)?;
        if wal_segment_size != 0
            && !(10 * 1024 * 1024..=256 * 1024 * 1024).contains(&wal_segment_size)
        {
            bail!("flag 'storage.tsdb.wal-segment-size' must be set between 10MB and 256MB");
        }
        if !wal_segment_size.is_multiple_of(tsdb::wlog::PAGE_SIZE) {
            bail!(
                "--storage.tsdb.wal-segment-size={}: invalid segment size, must be a multiple of {}",
                self.wal_segment_size,
                tsdb::wlog::PAGE_SIZE
            );
        }
        let chunk_segment_size = byte_flag(
            "storage.tsdb.max-block-chunk-segment-size",
            &self.max_block_chunk_segment_size,
        )?;
        if chunk_segment_size != 0 {
            if chunk_segment_size < 1024 * 1024 {
                bail!("flag 'storage.tsdb.max-block-chunk-segment-size' must be set over 1MB");
            }
            bail!(
                "--storage.tsdb.max-block-chunk-segment-size: block chunk segments of another size are not available yet in this server"
            );
        }
        let auto_reload = if auto_reload_config {
            let mut every =
                duration_flag("config.auto-reload-interval", &self.auto_reload_interval)?.to_std();
            if every < std::time::Duration::from_secs(1) {
                feature_warnings.push(format!(
                    "The auto-reload interval ({}) is too short, using 1s",
                    self.auto_reload_interval
                ));
                every = std::time::Duration::from_secs(1);
            }
            Some(every)
        } else {
            None
        };
        if otlp_delta_to_cumulative && otlp_native_delta_ingestion {
            bail!(
                "cannot enable otlp-deltatocumulative and otlp-native-delta-ingestion features at the same time"
            );
        }

        let retention_time = self
            .retention_time
            .as_deref()
            .map(|v| duration_flag("storage.tsdb.retention.time", v))
            .transpose()?;
        let retention_size = self
            .retention_size
            .as_deref()
            .map(|v| {
                config::ByteSize::parse(v).map_err(|e| {
                    anyhow::anyhow!(
                        "invalid value {v:?} for flag --storage.tsdb.retention.size: {e}"
                    )
                })
            })
            .transpose()?;
        let mut tsdb = tsdb::db::Options::default();
        let retention_defaulted = retention_time.is_none() && retention_size.is_none();
        let (time, size) = match (retention_time, retention_size) {
            (None, None) => (
                Some(duration_flag(
                    "storage.tsdb.retention.time",
                    DEFAULT_RETENTION,
                )?),
                None,
            ),
            other => other,
        };
        tsdb.retention_duration = time.map_or(0, model::Duration::as_millis);
        tsdb.max_bytes = size.map_or(0, |s| u64::try_from(s.bytes()).unwrap_or(0));
        // As Prometheus: compacted blocks span at most 10% of the time retention, and 31
        // days (also when only size retention is set).
        let month = 31 * 24 * 3_600_000;
        tsdb.max_block_duration = if tsdb.retention_duration > 0 {
            (tsdb.retention_duration / 10).clamp(tsdb.min_block_duration, month)
        } else {
            month
        };
        tsdb.wal_compression = match (self.wal_compression, self.wal_compression_type.as_str()) {
            (false, _) => tsdb::wlog::Compression::None,
            (true, "zstd") => tsdb::wlog::Compression::Zstd,
            (true, _) => tsdb::wlog::Compression::Snappy,
        };
        tsdb.no_lockfile = self.no_lockfile;
        if wal_segment_size != 0 {
            tsdb.wal_segment_size = wal_segment_size;
        }
        tsdb.enable_memory_snapshot_on_shutdown = memory_snapshot_on_shutdown;
        tsdb.use_uncached_io = use_uncached_io;
        if delayed_compaction {
            tsdb.enable_delayed_compaction = true;
            tsdb.compaction_delay_max_percent = self.compaction_delay_max_percent;
            if !(1..=100).contains(&self.compaction_delay_max_percent) {
                // As Prometheus: warn and use the default.
                tsdb.compaction_delay_max_percent = tsdb::db::DEFAULT_COMPACTION_DELAY_MAX_PERCENT;
                feature_warnings.push(format!(
                    "The --storage.tsdb.delayed-compaction.max-percent should have a value between 1 and 100. Using default {}",
                    tsdb::db::DEFAULT_COMPACTION_DELAY_MAX_PERCENT
                ));
            }
        }
        if enable_exemplar_storage {
            // Prometheus's default until the configuration file says otherwise.
            tsdb.max_exemplars = config::storage::ExemplarsConfig::default().max_exemplars;
        }
        tsdb.samples_per_chunk = self.samples_per_chunk;
        tsdb.min_block_duration =
            duration_flag("storage.tsdb.min-block-duration", &self.min_block_duration)?.as_millis();
        if let Some(max) = &self.max_block_duration {
            tsdb.max_block_duration =
                duration_flag("storage.tsdb.max-block-duration", max)?.as_millis();
        } else if tsdb.max_block_duration < tsdb.min_block_duration {
            tsdb.max_block_duration = tsdb.min_block_duration;
        }
        let retention_text = match (time, size) {
            (Some(t), Some(s)) => format!("{t} or {s}"),
            (Some(t), None) => t.to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => String::new(),
        };

        let route_prefix = route_prefix(&self.route_prefix, &self.external_url)?;
        let cors_origin = if self.cors_origin == ".*" {
            None
        } else {
            Some(
                model::Matcher::new(model::MatchType::RegexMatch, "origin", &self.cors_origin)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "could not compile CORS regex string {:?}: {e}",
                            self.cors_origin
                        )
                    })?,
            )
        };
        let scrape = scrape::Options {
            discovery_reload_interval: duration_flag(
                "scrape.discovery-reload-interval",
                &self.scrape_reload_interval,
            )?
            .to_std(),
            extra_scrape_metrics,
            enable_type_and_unit_labels: type_and_unit_labels,
            enable_created_timestamp_zero_ingestion: created_timestamp_zero_ingestion,
            append_metadata: metadata_wal_records,
            adjust_timestamps: self.scrape_adjust,
            timestamp_tolerance: duration_flag(
                "scrape.timestamp-tolerance",
                &self.scrape_tolerance,
            )?
            .to_std(),
        };
        let global_url = global_url_options(&self.external_url, &listen_addresses[0])?;
        let external_url = format!(
            "{}://{}{}",
            global_url.scheme,
            global_url.host,
            external_url_path(&self.external_url)?.trim_end_matches('/')
        );
        let rules = RulesSettings {
            outage_tolerance: duration_flag(
                "rules.alert.for-outage-tolerance",
                &self.rules_outage_tolerance,
            )?
            .to_std(),
            for_grace_period: duration_flag(
                "rules.alert.for-grace-period",
                &self.rules_grace_period,
            )?
            .to_std(),
            resend_delay: duration_flag("rules.alert.resend-delay", &self.rules_resend_delay)?
                .to_std(),
            concurrent_evals: concurrent_rule_eval
                .then(|| usize::try_from(self.rules_max_concurrent).unwrap_or(usize::MAX)),
        };
        let notifier = notifier::Options {
            queue_capacity: self.am_queue_capacity,
            drain_on_shutdown: self.am_drain,
            max_batch_size: usize::try_from(self.am_batch_size)
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or(notifier::DEFAULT_MAX_BATCH_SIZE),
            ..notifier::Options::default()
        };
        let serve = web::ServeOptions {
            max_connections: usize::try_from(self.max_connections).unwrap_or(0),
            read_timeout: duration_flag("web.read-timeout", &self.read_timeout)?.to_std(),
            web_config_file: (!self.web_config_file.is_empty())
                .then(|| PathBuf::from(&self.web_config_file)),
        };
        for (flag, value) in [
            ("web.console.templates", &self.console_templates),
            ("web.console.libraries", &self.console_libraries),
            ("web.page-title", &self.page_title),
        ] {
            if value.is_some() {
                noop_features.push(format!(
                    "--{flag} (there is no web UI or console in this server yet)"
                ));
            }
        }
        let log_level = match self.log_level.as_str() {
            "debug" => tracing::Level::DEBUG,
            "warn" => tracing::Level::WARN,
            "error" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        };
        let log_format = if self.log_format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Logfmt
        };

        let remote_flush_deadline =
            duration_flag("storage.remote.flush-deadline", &self.remote_flush_deadline)?.to_std();
        let agent = if self.agent {
            Some(self.agent_settings()?)
        } else {
            None
        };
        let mut flag_values = self.values();
        // The TSDB flags show their effective values, as Go's flag values are the settings
        // derived from them: the 15d default retention, the derived block range.
        for (flag, value) in [
            (
                "storage.tsdb.retention.time",
                model::Duration::from_millis(tsdb.retention_duration).to_string(),
            ),
            (
                "storage.tsdb.retention.size",
                config::ByteSize(i64::try_from(tsdb.max_bytes).unwrap_or(i64::MAX)).to_string(),
            ),
            (
                "storage.tsdb.max-block-duration",
                model::Duration::from_millis(tsdb.max_block_duration).to_string(),
            ),
            (
                "storage.tsdb.wal-segment-size",
                config::ByteSize(i64::try_from(wal_segment_size).unwrap_or(i64::MAX)).to_string(),
            ),
        ] {
            // Agent mode derives none of them (and refuses them when given): Go shows the
            // zero values.
            let value = match (&agent, value.ends_with('B')) {
                (None, _) => value,
                (Some(_), true) => "0B".to_owned(),
                (Some(_), false) => "0s".to_owned(),
            };
            flag_values.insert(flag.to_owned(), value);
        }
        // As Go, which stores the derived prefix back into the flag's variable.
        flag_values.insert("web.route-prefix".to_owned(), route_prefix.clone());
        let remote_write_messages = self.remote_write_messages()?;
        Ok(Settings {
            config_file: self.config_file,
            listen_addresses,
            route_prefix,
            cors_origin,
            serve,
            scrape,
            global_url,
            enable_lifecycle: self.enable_lifecycle,
            enable_admin_api: self.enable_admin_api,
            max_notification_subscribers: self.max_notification_subscribers,
            enable_remote_write_receiver: self.enable_remote_write_receiver,
            remote_write_messages,
            enable_otlp_receiver,
            receiver_features: web::ReceiverFeatures {
                created_timestamp_zero_ingestion,
                type_and_unit_labels,
                otlp_native_delta_ingestion,
                otlp_delta_to_cumulative,
            },
            remote_flush_deadline,
            remote_read_limits: storage::remote::ReadLimits {
                sample_limit: self.remote_read_sample_limit,
                concurrent_limit: self.remote_read_concurrent_limit,
                max_bytes_in_frame: self.remote_read_max_bytes,
            },
            tsdb_path: self.tsdb_path,
            tsdb,
            enable_exemplar_storage,
            agent,
            external_url,
            rules,
            notifier,
            retention_text,
            retention_defaulted,
            engine,
            log_level,
            log_format,
            flag_values,
            noop_features,
            auto_reload,
            unknown_features,
            feature_warnings,
            feature_infos,
        })
    }

    /// Parses `args` (the program name first) like [`Parser::parse_from`], also recording
    /// which flags were given explicitly.
    ///
    /// # Errors
    /// As clap's parser: unknown flags, bad values, `--help`.
    pub(crate) fn parse_args<I, T>(args: I) -> Result<Flags, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let command = Flags::command();
        // Kingpin's negation of a boolean flag: `--no-web.enable-lifecycle` is
        // `--web.enable-lifecycle=false` (only for flags that take an optional boolean,
        // and never shadowing a flag that is itself spelled `no-...`).
        let is_bool = |name: &str| {
            command.get_arguments().any(|a| {
                // Our optional-boolean flags: `ArgAction::Set` with 0 or 1 values.
                a.get_long() == Some(name)
                    && matches!(a.get_action(), ArgAction::Set)
                    && a.get_num_args() == Some((0..=1).into())
            })
        };
        let is_flag = |name: &str| command.get_arguments().any(|a| a.get_long() == Some(name));
        let args: Vec<std::ffi::OsString> = args
            .into_iter()
            .map(|a| {
                let a: std::ffi::OsString = a.into();
                match a.to_str().and_then(|s| s.strip_prefix("--no-")) {
                    Some(name) if is_bool(name) && !is_flag(&format!("no-{name}")) => {
                        format!("--{name}=false").into()
                    }
                    _ => a,
                }
            })
            .collect();
        let matches = command.clone().try_get_matches_from(args)?;
        let mut flags = Flags::from_arg_matches(&matches)?;
        // In command-line order, as kingpin runs the pre-actions that list mode errors.
        let mut given: Vec<(usize, String)> = command
            .get_arguments()
            .filter(|a| {
                matches.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            })
            .filter_map(|a| {
                let at = matches.index_of(a.get_id().as_str()).unwrap_or(usize::MAX);
                a.get_long().map(|l| (at, l.to_owned()))
            })
            .collect();
        given.sort();
        flags.explicit = Explicit(given.into_iter().map(|(_, l)| l).collect());
        Ok(flags)
    }

    /// The agent storage settings (`--agent`), defaults as Prometheus's.
    fn agent_settings(&self) -> anyhow::Result<AgentSettings> {
        let millis = |flag: &str, v: &Option<String>| -> anyhow::Result<i64> {
            v.as_deref()
                .map_or(Ok(0), |v| Ok(duration_flag(flag, v)?.as_millis()))
        };
        let truncate_frequency = match &self.agent_truncate_frequency {
            Some(v) => duration_flag("storage.agent.wal-truncate-frequency", v)?.to_std(),
            None => std::time::Duration::ZERO,
        };
        let wal_compression = match (
            self.agent_wal_compression.unwrap_or(true),
            self.agent_wal_compression_type.as_deref(),
        ) {
            (false, _) => tsdb::wlog::Compression::None,
            (true, Some("zstd")) => tsdb::wlog::Compression::Zstd,
            (true, _) => tsdb::wlog::Compression::Snappy,
        };
        let wal_segment_size = match &self.agent_segment_size {
            Some(v) => {
                let size = config::ByteSize::parse(v).map_err(|e| {
                    anyhow::anyhow!(
                        "invalid value {v:?} for flag --storage.agent.wal-segment-size: {e}"
                    )
                })?;
                // Checked when the WAL storage starts (agent::run), as Prometheus does.
                usize::try_from(size.bytes()).unwrap_or(usize::MAX)
            }
            None => 0,
        };
        // Unset values stay zero: the agent storage applies Prometheus's defaults.
        let options = tsdb::agent::Options {
            wal_segment_size,
            wal_compression,
            truncate_frequency,
            min_wal_time: millis("storage.agent.retention.min-time", &self.agent_min_time)?,
            max_wal_time: millis("storage.agent.retention.max-time", &self.agent_max_time)?,
            no_lockfile: self.agent_no_lockfile.unwrap_or(false),
            ..tsdb::agent::Options::default()
        }
        .validated();
        Ok(AgentSettings {
            path: self
                .agent_path
                .clone()
                .unwrap_or_else(|| PathBuf::from("data-agent/")),
            options,
        })
    }

    /// Every flag and its value as text, as Prometheus's `/api/v1/status/flags` lists them.
    /// `--web.remote-write-receiver.accepted-protobuf-messages`, checked as Prometheus does.
    fn remote_write_messages(&self) -> anyhow::Result<Vec<storage::remote::WriteProtoMsg>> {
        let mut out = Vec::new();
        for name in &self.rw_messages {
            let Some(msg) = storage::remote::WriteProtoMsg::from_name(name) else {
                bail!(
                    "--web.remote-write-receiver.accepted-protobuf-messages: unknown remote write protobuf message {name}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                );
            };
            if out.contains(&msg) {
                bail!(
                    "--web.remote-write-receiver.accepted-protobuf-messages: duplicated {name} flag value, got {name} already"
                );
            }
            out.push(msg);
        }
        Ok(out)
    }

    fn values(&self) -> BTreeMap<String, String> {
        let b = |v: bool| v.to_string();
        [
            ("config.file", self.config_file.display().to_string()),
            ("web.listen-address", self.listen_addresses.join(",")),
            ("web.config.file", self.web_config_file.clone()),
            ("web.read-timeout", self.read_timeout.clone()),
            (
                "scrape.discovery-reload-interval",
                self.scrape_reload_interval.clone(),
            ),
            ("web.max-connections", self.max_connections.to_string()),
            ("web.search.max-limit", self.search_max_limit.to_string()),
            ("web.cors.origin", self.cors_origin.clone()),
            (
                "web.console.templates",
                self.console_templates
                    .clone()
                    .unwrap_or_else(|| "consoles".into()),
            ),
            (
                "web.console.libraries",
                self.console_libraries
                    .clone()
                    .unwrap_or_else(|| "console_libraries".into()),
            ),
            (
                "web.page-title",
                self.page_title.clone().unwrap_or_else(|| {
                    "Prometheus Time Series Collection and Processing Server".into()
                }),
            ),
            ("web.external-url", self.external_url.clone()),
            ("web.route-prefix", self.route_prefix.clone()),
            ("web.enable-lifecycle", b(self.enable_lifecycle)),
            ("web.enable-admin-api", b(self.enable_admin_api)),
            (
                "web.enable-remote-write-receiver",
                b(self.enable_remote_write_receiver),
            ),
            (
                "web.remote-write-receiver.accepted-protobuf-messages",
                self.rw_messages.join(","),
            ),
            ("web.enable-otlp-receiver", b(self.enable_otlp_receiver)),
            ("storage.tsdb.path", self.tsdb_path.display().to_string()),
            (
                "storage.tsdb.retention.time",
                self.retention_time.clone().unwrap_or_default(),
            ),
            (
                "storage.tsdb.retention.size",
                self.retention_size.clone().unwrap_or_default(),
            ),
            ("storage.tsdb.wal-compression", b(self.wal_compression)),
            (
                "storage.tsdb.wal-compression-type",
                self.wal_compression_type.clone(),
            ),
            ("storage.tsdb.no-lockfile", b(self.no_lockfile)),
            (
                "storage.tsdb.delayed-compaction.max-percent",
                self.compaction_delay_max_percent.to_string(),
            ),
            (
                "storage.tsdb.min-block-duration",
                self.min_block_duration.clone(),
            ),
            (
                "storage.tsdb.max-block-duration",
                self.max_block_duration.clone().unwrap_or_default(),
            ),
            (
                "storage.tsdb.samples-per-chunk",
                self.samples_per_chunk.to_string(),
            ),
            (
                "storage.agent.path",
                self.agent_path
                    .as_ref()
                    .map_or_else(|| "data-agent/".to_owned(), |p| p.display().to_string()),
            ),
            ("agent", b(self.agent)),
            (
                "storage.agent.wal-compression",
                b(self.agent_wal_compression.unwrap_or(true)),
            ),
            (
                "storage.agent.wal-compression-type",
                self.agent_wal_compression_type
                    .clone()
                    .unwrap_or_else(|| "snappy".into()),
            ),
            (
                "storage.agent.wal-truncate-frequency",
                self.agent_truncate_frequency
                    .clone()
                    .unwrap_or_else(|| "0s".into()),
            ),
            (
                "storage.agent.retention.min-time",
                self.agent_min_time.clone().unwrap_or_else(|| "0s".into()),
            ),
            (
                "storage.agent.retention.max-time",
                self.agent_max_time.clone().unwrap_or_else(|| "0s".into()),
            ),
            (
                "storage.agent.no-lockfile",
                b(self.agent_no_lockfile.unwrap_or(false)),
            ),
            (
                "storage.agent.wal-segment-size",
                self.agent_segment_size
                    .clone()
                    .unwrap_or_else(|| "0B".into()),
            ),
            ("query.timeout", self.query_timeout.clone()),
            (
                "rules.alert.for-outage-tolerance",
                self.rules_outage_tolerance.clone(),
            ),
            (
                "rules.alert.for-grace-period",
                self.rules_grace_period.clone(),
            ),
            ("rules.alert.resend-delay", self.rules_resend_delay.clone()),
            (
                "rules.max-concurrent-evals",
                self.rules_max_concurrent.to_string(),
            ),
            (
                "alertmanager.notification-queue-capacity",
                self.am_queue_capacity.to_string(),
            ),
            (
                "alertmanager.drain-notification-queue-on-shutdown",
                b(self.am_drain),
            ),
            (
                "storage.remote.flush-deadline",
                self.remote_flush_deadline.clone(),
            ),
            (
                "storage.remote.read-sample-limit",
                self.remote_read_sample_limit.to_string(),
            ),
            (
                "storage.remote.read-concurrent-limit",
                self.remote_read_concurrent_limit.to_string(),
            ),
            (
                "storage.remote.read-max-bytes-in-frame",
                self.remote_read_max_bytes.to_string(),
            ),
            ("query.max-samples", self.query_max_samples.to_string()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.lookback-delta", self.lookback_delta.clone()),
            ("enable-feature", self.enable_feature.join(",")),
            ("scrape.adjust-timestamps", b(self.scrape_adjust)),
            ("scrape.timestamp-tolerance", self.scrape_tolerance.clone()),
            (
                "web.user-assets",
                self.user_assets.clone().unwrap_or_default(),
            ),
            ("web.local-assets", self.local_assets.clone()),
            (
                "web.max-notifications-subscribers",
                self.max_notification_subscribers.to_string(),
            ),
            (
                "alertmanager.notification-batch-size",
                self.am_batch_size.to_string(),
            ),
            ("auto-gomaxprocs", b(self.auto_gomaxprocs)),
            ("auto-gomemlimit", b(self.auto_gomemlimit)),
            (
                "auto-gomemlimit.ratio",
                model::strconv::format_float_g(self.auto_gomemlimit_ratio),
            ),
            (
                "config.auto-reload-interval",
                self.auto_reload_interval.clone(),
            ),
            (
                "storage.tsdb.allow-overlapping-compaction",
                b(self.allow_overlapping_compaction),
            ),
            (
                "storage.tsdb.head-chunks-write-queue-size",
                self.head_chunks_write_queue_size.to_string(),
            ),
            (
                "storage.tsdb.max-block-chunk-segment-size",
                self.max_block_chunk_segment_size.clone(),
            ),
            ("log.level", self.log_level.clone()),
            ("log.format", self.log_format.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Prometheus's route prefix: the flag, else the path of the external URL; always `/`
/// followed by the path without surrounding slashes.
fn route_prefix(flag: &str, external_url: &str) -> anyhow::Result<String> {
    let from_url;
    let raw = if flag.is_empty() {
        from_url = external_url_path(external_url)?;
        from_url.as_str()
    } else {
        flag
    };
    Ok(format!("/{}", raw.trim_matches('/')))
}

/// Scheme and host of the external URL: `--web.external-url`, or Prometheus's default
/// `http://<hostname>:<listen port>/`.
fn global_url_options(external_url: &str, listen: &str) -> anyhow::Result<web::GlobalUrlOptions> {
    let (scheme, host) = if external_url.is_empty() {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        let port = listen.rsplit_once(':').map_or("", |(_, p)| p);
        ("http".to_owned(), format!("{hostname}:{port}"))
    } else {
        let Some((scheme, rest)) = external_url.split_once("://") else {
            bail!("parse external URL {external_url:?}: missing scheme (http:// or https://)");
        };
        let host = rest.split('/').next().unwrap_or("");
        (scheme.to_owned(), host.to_owned())
    };
    Ok(web::GlobalUrlOptions {
        listen_address: listen.to_owned(),
        host,
        scheme,
    })
}

/// The path of `--web.external-url` (empty when the flag is unset).
fn external_url_path(url: &str) -> anyhow::Result<String> {
    if url.is_empty() {
        return Ok(String::new());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("parse external URL {url:?}: missing scheme (http:// or https://)");
    };
    if scheme != "http" && scheme != "https" {
        bail!("parse external URL {url:?}: unsupported scheme {scheme:?}");
    }
    Ok(rest
        .find('/')
        .map_or_else(String::new, |i| rest[i..].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Settings> {
        let mut all = vec!["prometheus"];
        all.extend_from_slice(args);
        Flags::parse_args(all)?.validate()
    }

    #[test]
    fn boolean_flags_take_kingpins_no_prefix() {
        let s = parse(&[
            "--no-web.enable-lifecycle",
            "--no-storage.tsdb.wal-compression",
        ])
        .expect("valid");
        assert!(!s.enable_lifecycle);
        assert_eq!(s.tsdb.wal_compression, tsdb::wlog::Compression::None);
        assert_eq!(s.flag_values["storage.tsdb.wal-compression"], "false");
        let s = parse(&["--no-scrape.adjust-timestamps"]).expect("valid");
        assert!(!s.scrape.adjust_timestamps);
        // Only boolean flags have a negation.
        assert!(parse(&["--no-query.timeout"]).is_err());
    }

    #[test]
    fn status_flags_show_every_flag_with_its_effective_value() {
        let s = parse(&[]).expect("defaults");
        for (flag, value) in [
            ("storage.tsdb.retention.time", "15d"),
            ("storage.tsdb.retention.size", "0B"),
            ("storage.tsdb.max-block-duration", "1d12h"),
            ("storage.tsdb.wal-segment-size", "0B"),
            ("storage.tsdb.max-block-chunk-segment-size", "0B"),
            ("storage.tsdb.allow-overlapping-compaction", "true"),
            ("storage.tsdb.head-chunks-write-queue-size", "0"),
            ("scrape.adjust-timestamps", "true"),
            ("scrape.timestamp-tolerance", "2ms"),
            ("alertmanager.notification-batch-size", "256"),
            ("auto-gomaxprocs", "true"),
            ("auto-gomemlimit", "true"),
            ("auto-gomemlimit.ratio", "0.9"),
            ("config.auto-reload-interval", "30s"),
            ("web.max-notifications-subscribers", "16"),
            ("web.user-assets", ""),
            ("web.local-assets", "/usr/share/prometheus/web/"),
        ] {
            assert_eq!(s.flag_values[flag], value, "{flag}");
        }
        assert!(s.scrape.adjust_timestamps);
        assert_eq!(
            s.scrape.timestamp_tolerance,
            std::time::Duration::from_millis(2)
        );
        assert_eq!(s.notifier.max_batch_size, 256);
        assert_eq!(s.auto_reload, None);
        // Size retention alone: no time retention, blocks up to 31 days.
        let s = parse(&["--storage.tsdb.retention.size=1GB"]).expect("valid");
        assert_eq!(s.flag_values["storage.tsdb.retention.time"], "0s");
        assert_eq!(s.flag_values["storage.tsdb.retention.size"], "1GiB");
        assert_eq!(s.flag_values["storage.tsdb.max-block-duration"], "31d");
        let s = parse(&["--storage.tsdb.retention.time=360h"]).expect("valid");
        assert_eq!(s.flag_values["storage.tsdb.retention.time"], "15d");
    }

    #[test]
    fn newer_flags_are_checked_and_applied() {
        let err = parse(&["--auto-gomemlimit.ratio=1.5"]).expect_err("out of range");
        assert!(err.to_string().contains("must be greater than 0"), "{err}");
        let s = parse(&["--no-auto-gomemlimit", "--auto-gomaxprocs=false"]).expect("valid");
        assert_eq!(s.noop_features.len(), 2, "{:?}", s.noop_features);
        let err = parse(&["--storage.tsdb.wal-segment-size=1MB"]).expect_err("too small");
        assert!(err.to_string().contains("between 10MB and 256MB"), "{err}");
        let s = parse(&["--storage.tsdb.wal-segment-size=100MB"]).expect("valid");
        assert_eq!(s.tsdb.wal_segment_size, 100 * 1024 * 1024);
        assert_eq!(s.flag_values["storage.tsdb.wal-segment-size"], "100MiB");
        assert!(parse(&["--storage.tsdb.allow-overlapping-compaction=false"]).is_err());
        assert!(parse(&["--storage.tsdb.max-block-chunk-segment-size=100KB"]).is_err());
        let s = parse(&["--alertmanager.notification-batch-size=64"]).expect("valid");
        assert_eq!(s.notifier.max_batch_size, 64);
        let s = parse(&[
            "--enable-feature=auto-reload-config",
            "--config.auto-reload-interval=500ms",
        ])
        .expect("valid");
        assert_eq!(s.auto_reload, Some(std::time::Duration::from_secs(1)));
        assert!(s.unknown_features.is_empty());
        assert_eq!(s.feature_warnings.len(), 1, "{:?}", s.feature_warnings);
    }

    #[test]
    fn defaults_are_prometheuss() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.config_file, PathBuf::from("prometheus.yml"));
        assert_eq!(s.listen_addresses, ["0.0.0.0:9090"]);
        assert_eq!(s.tsdb_path, PathBuf::from("data/"));
        assert_eq!(s.route_prefix, "/");
        assert_eq!(s.engine.timeout.as_secs(), 120);
        assert_eq!(s.engine.max_samples, 50_000_000);
        assert_eq!(s.engine.max_concurrency, Some(20));
        assert_eq!(s.engine.lookback_delta.as_secs(), 300);
        assert_eq!(s.tsdb.retention_duration, 15 * 24 * 3_600_000);
        assert_eq!(s.retention_text, "15d");
        assert_eq!(s.flag_values["storage.tsdb.path"], "data/");
        assert_eq!(s.flag_values["web.enable-lifecycle"], "false");
        assert_eq!(s.flag_values["web.console.templates"], "consoles");
        assert!(s.cors_origin.is_none());
        assert_eq!(s.serve.max_connections, 512);
        assert_eq!(s.serve.read_timeout.as_secs(), 300);
        assert_eq!(s.tsdb.min_block_duration, 2 * 3_600_000);
        assert_eq!(s.tsdb.wal_compression, tsdb::wlog::Compression::Snappy);
    }

    #[test]
    fn flags_are_spelled_like_prometheus() {
        let s = parse(&[
            "--config.file=x.yml",
            "--web.listen-address=127.0.0.1:1234",
            "--web.enable-lifecycle",
            "--storage.tsdb.path=/tmp/d",
            "--storage.tsdb.retention.size=512MB",
            "--query.timeout=30s",
            "--web.external-url=http://example.com/prom/",
            "--log.format=json",
        ])
        .unwrap();
        assert_eq!(s.listen_addresses, ["127.0.0.1:1234"]);
        assert!(s.enable_lifecycle);
        assert_eq!(s.tsdb.retention_duration, 0);
        assert_eq!(s.tsdb.max_bytes, 512 << 20);
        assert_eq!(s.retention_text, "512MiB");
        assert_eq!(s.engine.timeout.as_secs(), 30);
        assert_eq!(s.route_prefix, "/prom");
        assert_eq!(s.global_url.host, "example.com");
        assert_eq!(s.global_url.scheme, "http");
        assert_eq!(s.log_format, LogFormat::Json);
        let s = parse(&[
            "--web.enable-lifecycle=false",
            "--web.route-prefix=/a/b/",
            "--web.cors.origin=https?://x\\.example",
            "--storage.tsdb.wal-compression-type=zstd",
            "--storage.tsdb.no-lockfile",
            "--web.console.templates=/etc/prometheus/consoles",
        ])
        .unwrap();
        assert!(s.cors_origin.unwrap().matches("https://x.example"));
        assert_eq!(s.tsdb.wal_compression, tsdb::wlog::Compression::Zstd);
        assert!(s.tsdb.no_lockfile);
        assert_eq!(s.noop_features.len(), 1);
        assert!(!s.enable_lifecycle);
        assert_eq!(s.route_prefix, "/a/b");
    }

    #[test]
    fn remote_read_limits_have_prometheus_defaults_and_are_set_by_flags() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.remote_read_limits, storage::remote::ReadLimits::default());
        assert_eq!(s.remote_read_limits.sample_limit, 50_000_000);
        assert_eq!(s.remote_read_limits.concurrent_limit, 10);
        assert_eq!(s.remote_read_limits.max_bytes_in_frame, 1_048_576);
        assert_eq!(
            s.flag_values["storage.remote.read-max-bytes-in-frame"],
            "1048576"
        );
        let s = parse(&[
            "--storage.remote.read-sample-limit=5",
            "--storage.remote.read-concurrent-limit=0",
            "--storage.remote.read-max-bytes-in-frame=4096",
        ])
        .unwrap();
        assert_eq!(
            s.remote_read_limits,
            storage::remote::ReadLimits {
                sample_limit: 5,
                concurrent_limit: 0,
                max_bytes_in_frame: 4096,
            }
        );
    }

    #[test]
    fn exemplar_storage_starts_with_prometheus_default_size() {
        let s = parse(&["--enable-feature=exemplar-storage"]).unwrap();
        assert!(s.enable_exemplar_storage);
        assert_eq!(s.tsdb.max_exemplars, 100_000);
        let s = parse(&[]).unwrap();
        assert!(!s.enable_exemplar_storage);
        assert_eq!(s.tsdb.max_exemplars, 0);
    }

    #[test]
    fn bad_flags_fail_naming_the_flag() {
        let err = parse(&["--storage.agent.path=x"]).unwrap_err().to_string();
        assert!(err.contains("storage.agent.path"), "{err}");
        let err = parse(&["--query.timeout=soon"]).unwrap_err();
        assert!(format!("{err:#}").contains("--query.timeout"), "{err:#}");
    }

    #[test]
    fn last_features_answer_as_prometheus_3_5_3() {
        let s = parse(&["--enable-feature=use-uncached-io,old-ui"]).unwrap();
        assert!(s.tsdb.use_uncached_io);
        assert_eq!(s.feature_infos, ["Experimental Uncached IO is enabled."]);
        // Debian's 3.5.3 (no React UI) does not know `old-ui`: a warning, as Prometheus's.
        assert_eq!(s.unknown_features, ["old-ui"]);
        assert!(!parse(&[]).unwrap().tsdb.use_uncached_io);

        let s = parse(&["--web.user-assets=/srv/u", "--web.local-assets=/srv/l"]).unwrap();
        assert_eq!(s.flag_values["web.user-assets"], "/srv/u");
        assert_eq!(s.flag_values["web.local-assets"], "/srv/l");
    }

    #[test]
    fn refused_command_lines_are_worded_as_kingpin_does() {
        let cases: &[(&[&str], &str)] = &[
            // Unknown to 3.5.3 (3.0's pre-releases had it).
            (
                &["--scrape.name-escaping-scheme=values"],
                "unknown long flag '--scrape.name-escaping-scheme'",
            ),
            (
                &["--scrape.name-escaping-scheme"],
                "unknown long flag '--scrape.name-escaping-scheme'",
            ),
            (&["-x"], "unknown short flag '-x'"),
            (&["foo"], "unexpected foo"),
            (
                &["--web.listen-address"],
                "expected argument for flag '--web.listen-address'",
            ),
        ];
        for (args, want) in cases {
            let mut all = vec!["prometheus"];
            all.extend_from_slice(args);
            let err = Flags::parse_args(all).unwrap_err();
            assert_eq!(
                kingpin_parse_error(&err).as_deref(),
                Some(*want),
                "{args:?}"
            );
        }
        let help = Flags::parse_args(["prometheus", "--help"]).unwrap_err();
        assert_eq!(kingpin_parse_error(&help), None);
    }

    #[test]
    fn memory_snapshot_on_shutdown_turns_on_tsdb_snapshots() {
        assert!(!parse(&[]).unwrap().tsdb.enable_memory_snapshot_on_shutdown);
        let s = parse(&["--enable-feature=exemplar-storage,memory-snapshot-on-shutdown"]).unwrap();
        assert!(s.tsdb.enable_memory_snapshot_on_shutdown);
        assert!(s.enable_exemplar_storage);
    }

    #[test]
    fn a_batch_size_of_at_most_zero_means_the_default_as_in_go() {
        for given in ["0", "-1"] {
            let s = parse(&[&format!("--alertmanager.notification-batch-size={given}")]).unwrap();
            assert_eq!(s.notifier.max_batch_size, notifier::DEFAULT_MAX_BATCH_SIZE);
            assert_eq!(s.flag_values["alertmanager.notification-batch-size"], given);
        }
        let s = parse(&["--alertmanager.notification-batch-size=16"]).unwrap();
        assert_eq!(s.notifier.max_batch_size, 16);
    }

    #[test]
    fn rules_and_alertmanager_flags_have_prometheus_defaults() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.rules.outage_tolerance.as_secs(), 3600);
        assert_eq!(s.rules.for_grace_period.as_secs(), 600);
        assert_eq!(s.rules.resend_delay.as_secs(), 60);
        assert_eq!(s.notifier.queue_capacity, 10_000);
        assert!(s.notifier.drain_on_shutdown);
        assert_eq!(s.flag_values["rules.alert.resend-delay"], "1m");
        let s = parse(&[
            "--rules.alert.resend-delay=2m",
            "--alertmanager.notification-queue-capacity=5",
            "--alertmanager.drain-notification-queue-on-shutdown=false",
            "--web.external-url=https://prom.example/sub/",
        ])
        .unwrap();
        assert_eq!(s.rules.resend_delay.as_secs(), 120);
        assert_eq!(s.notifier.queue_capacity, 5);
        assert!(!s.notifier.drain_on_shutdown);
        assert_eq!(s.external_url, "https://prom.example/sub");
    }

    #[test]
    fn agent_flags_map_to_the_agent_storage() {
        let s = parse(&["--agent"]).unwrap();
        // The TSDB flags keep Go's zero values in agent mode (nothing derives them).
        for (flag, value) in [
            ("storage.tsdb.retention.time", "0s"),
            ("storage.tsdb.retention.size", "0B"),
            ("storage.tsdb.max-block-duration", "0s"),
            ("storage.tsdb.wal-segment-size", "0B"),
            ("web.route-prefix", "/"),
        ] {
            assert_eq!(s.flag_values[flag], value, "{flag}");
        }
        let agent = s.agent.unwrap();
        assert_eq!(agent.path, PathBuf::from("data-agent/"));
        assert_eq!(agent.options, tsdb::agent::Options::default());
        assert_eq!(s.flag_values["storage.agent.wal-compression"], "true");
        assert_eq!(s.flag_values["storage.agent.retention.min-time"], "0s");
        assert!(parse(&[]).unwrap().agent.is_none());

        let s = parse(&[
            "--agent",
            "--storage.agent.path=/tmp/a",
            "--storage.agent.wal-compression=false",
            "--storage.agent.retention.min-time=10m",
            "--storage.agent.retention.max-time=1h",
            "--storage.agent.wal-truncate-frequency=30m",
            "--storage.agent.no-lockfile",
            "--storage.agent.wal-segment-size=1MB",
        ])
        .unwrap();
        let agent = s.agent.unwrap();
        // The size is checked when the WAL storage starts (agent.rs), as in Prometheus.
        assert_eq!(agent.options.wal_segment_size, 1 << 20);
        assert_eq!(agent.path, PathBuf::from("/tmp/a"));
        let o = agent.options;
        assert_eq!(o.wal_compression, tsdb::wlog::Compression::None);
        assert_eq!(o.min_wal_time, 600_000);
        assert_eq!(o.max_wal_time, 3_600_000);
        assert_eq!(o.truncate_frequency.as_secs(), 1800);
        assert!(o.no_lockfile);

        // Server-only flags, when given, are refused in agent mode (exit 3), and the other
        // way round; defaults never count.
        let err = parse(&["--agent", "--storage.tsdb.path=x", "--query.timeout=1m"]).unwrap_err();
        assert!(err.is::<ModeError>());
        assert_eq!(
            err.to_string(),
            "The following flag(s) can not be used in agent mode: [\"--storage.tsdb.path\" \"--query.timeout\"]"
        );
        // Prometheus lists them as given, whatever their declaration order.
        let err = parse(&["--agent", "--query.timeout=1m", "--storage.tsdb.path=x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The following flag(s) can not be used in agent mode: [\"--query.timeout\" \"--storage.tsdb.path\"]"
        );
        let err = parse(&[
            "--storage.agent.no-lockfile",
            "--storage.agent.retention.min-time=1h",
            "--storage.agent.path=x",
        ])
        .unwrap_err();
        assert!(err.is::<ModeError>(), "{err}");
        assert_eq!(
            err.to_string(),
            "The following flag(s) can only be used in agent mode: [\"--storage.agent.no-lockfile\" \"--storage.agent.retention.min-time\" \"--storage.agent.path\"]"
        );
    }

    #[test]
    fn remote_write_receiver_messages() {
        use storage::remote::WriteProtoMsg;
        let s = parse(&[]).unwrap();
        assert_eq!(s.remote_write_messages, WriteProtoMsg::ALL);
        assert_eq!(
            s.flag_values["web.remote-write-receiver.accepted-protobuf-messages"],
            "prometheus.WriteRequest,io.prometheus.write.v2.Request"
        );
        let s = parse(&[
            "--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request",
        ])
        .unwrap();
        assert_eq!(s.remote_write_messages, [WriteProtoMsg::V2]);
        let err =
            parse(&["--web.remote-write-receiver.accepted-protobuf-messages=x.Y"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown remote write protobuf message x.Y"),
            "{err}"
        );
        let flag = "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest";
        let err = parse(&[flag, flag]).unwrap_err();
        assert!(
            err.to_string()
                .contains("duplicated prometheus.WriteRequest"),
            "{err}"
        );
    }

    #[test]
    fn known_noop_and_unknown_features() {
        let s = parse(&[
            "--enable-feature=promql-experimental-functions,foo",
            "--enable-feature=promql-delayed-name-removal,search-api",
            "--enable-feature=promql-per-step-stats",
        ])
        .unwrap();
        assert_eq!(s.noop_features, ["promql-experimental-functions"]);
        assert_eq!(s.unknown_features, ["foo"]);
        assert!(s.engine.enable_delayed_name_removal);
        assert!(s.engine.enable_per_step_stats);
    }

    #[test]
    fn receiver_features_follow_the_flags() {
        assert_eq!(
            parse(&[]).unwrap().receiver_features,
            web::ReceiverFeatures::default()
        );
        let s = parse(&[
            "--enable-feature=created-timestamp-zero-ingestion,type-and-unit-labels,otlp-native-delta-ingestion",
        ])
        .unwrap();
        assert_eq!(
            s.receiver_features,
            web::ReceiverFeatures {
                created_timestamp_zero_ingestion: true,
                type_and_unit_labels: true,
                otlp_native_delta_ingestion: true,
                otlp_delta_to_cumulative: false,
            }
        );
        let s = parse(&["--enable-feature=otlp-deltatocumulative"]).unwrap();
        assert!(s.receiver_features.otlp_delta_to_cumulative);
        let err = parse(&["--enable-feature=otlp-deltatocumulative,otlp-native-delta-ingestion"])
            .unwrap_err();
        assert!(err.to_string().contains("at the same time"), "{err}");
    }

    #[test]
    fn prometheus_3_features_take_effect_or_are_built_in() {
        let s = parse(&[]).unwrap();
        assert!(!s.scrape.extra_scrape_metrics);
        assert!(!s.enable_otlp_receiver);
        assert!(s.feature_warnings.is_empty());

        let s = parse(&["--enable-feature=extra-scrape-metrics,otlp-write-receiver"]).unwrap();
        // The scrape manager's default for jobs that do not set extra_scrape_metrics.
        assert!(s.scrape.extra_scrape_metrics);
        // The deprecated alias of --web.enable-otlp-receiver, with a warning each.
        assert!(s.enable_otlp_receiver);
        assert_eq!(s.feature_warnings.len(), 2);
        assert!(s.feature_warnings[1].contains("--web.enable-otlp-receiver"));
        assert!(s.noop_features.is_empty());
        let s = parse(&["--enable-feature=metadata-wal-records"]).unwrap();
        assert!(s.scrape.append_metadata);
        assert!(!parse(&[]).unwrap().scrape.append_metadata);
        let s = parse(&["--enable-feature=type-and-unit-labels"]).unwrap();
        assert!(s.scrape.enable_type_and_unit_labels);
        assert!(!s.scrape.enable_created_timestamp_zero_ingestion);
        let s = parse(&["--enable-feature=created-timestamp-zero-ingestion"]).unwrap();
        assert!(s.scrape.enable_created_timestamp_zero_ingestion);
        assert!(!s.engine.enable_start_timestamps);
        let s = parse(&["--enable-feature=use-start-timestamps"]).unwrap();
        assert!(s.engine.enable_start_timestamps);

        // Built into Prometheus 3 (and this server): accepted, logged as changing nothing.
        let s = parse(&[
            "--enable-feature=expand-external-labels,no-default-scrape-port,new-service-discovery-manager",
        ])
        .unwrap();
        assert_eq!(
            s.noop_features,
            [
                "expand-external-labels (always on, as in Prometheus 3)",
                "no-default-scrape-port (always on, as in Prometheus 3)",
                "new-service-discovery-manager (always on, as in Prometheus 3)"
            ]
        );
        // As in Prometheus 3, the old feature does not switch agent mode on.
        let s = parse(&["--enable-feature=agent"]).unwrap();
        assert!(s.agent.is_none());
        assert_eq!(s.noop_features.len(), 1);
        assert!(s.unknown_features.is_empty());
    }

    #[test]
    fn concurrent_rule_eval_and_delayed_compaction_set_their_components() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.rules.concurrent_evals, None);
        assert!(!s.tsdb.enable_delayed_compaction);

        let s = parse(&[
            "--enable-feature=concurrent-rule-eval,delayed-compaction",
            "--rules.max-concurrent-evals=7",
            "--storage.tsdb.delayed-compaction.max-percent=50",
        ])
        .unwrap();
        assert_eq!(s.rules.concurrent_evals, Some(7));
        assert!(!s.scrape.enable_type_and_unit_labels);
        assert!(s.tsdb.enable_delayed_compaction);
        assert_eq!(s.tsdb.compaction_delay_max_percent, 50);
        assert!(s.feature_warnings.is_empty());
        // Prometheus 3.5.3 says so at start-up.
        assert_eq!(
            s.feature_infos,
            ["Experimental delayed compaction is enabled."]
        );
        assert_eq!(
            s.flag_values["storage.tsdb.delayed-compaction.max-percent"],
            "50"
        );

        // Out of range: Prometheus warns and uses 10.
        let s = parse(&[
            "--enable-feature=delayed-compaction",
            "--storage.tsdb.delayed-compaction.max-percent=0",
        ])
        .unwrap();
        assert_eq!(s.tsdb.compaction_delay_max_percent, 10);
        assert_eq!(s.feature_warnings.len(), 1);
    }
}
