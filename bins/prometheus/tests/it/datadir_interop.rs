//! Data-directory interop with a real Prometheus 3.5.3 in server mode, both ways: one server
//! ingests (remote write 2.0: floats, integer and float native histograms with exponential
//! and custom buckets, exemplars, metadata), stops cleanly or by `kill -9`, the other opens
//! the same directory and must serve every series, sample and exemplar the first served.
//! Covers the WAL and mmapped head chunks, the out-of-order WBL, the memory snapshot,
//! persisted blocks with a checkpointed WAL, and tombstones.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prompb::write_v2::{self, SymbolTable};
use serde_json::Value;

use super::{OURS, Prometheus, free_port, now_ms, post, prometheus3, tsdb_path, write_config};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// How the writer stops.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stop {
    /// SIGTERM, waiting for a zero exit.
    Clean,
    /// SIGKILL.
    Kill,
}

/// One server process over a data directory that outlives it; its log goes to a file.
struct Server {
    p: Prometheus,
    log: PathBuf,
    data: PathBuf,
}

impl Server {
    /// Starts `bin` over `data` with `config`, the remote-write receiver, the admin API and
    /// the features both servers need (plus `features`), and waits until it is ready.
    fn start(bin: &str, dir: &Path, data: &Path, config: &str, features: &[&str]) -> Server {
        let port = free_port();
        let config = write_config(dir, port, config);
        let log = dir.join(format!("log-{port}.txt"));
        let mut all = vec![
            "exemplar-storage",
            "metadata-wal-records",
            "native-histograms",
        ];
        all.extend_from_slice(features);
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(tsdb_path(data))
            .arg("--web.enable-remote-write-receiver")
            .arg("--web.enable-admin-api")
            .arg("--storage.tsdb.retention.time=30d")
            .arg(format!("--enable-feature={}", all.join(",")))
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let mut p = Prometheus {
            child,
            port,
            _data: tempfile::tempdir().unwrap(),
        };
        p.wait_ready();
        Server {
            p,
            log,
            data: data.to_owned(),
        }
    }

    /// Its data directory.
    fn data(&self) -> PathBuf {
        self.data.clone()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self, how: Stop) -> String {
        match how {
            Stop::Clean => {
                self.p.signal("TERM");
                let status = self.p.wait_exit(Duration::from_secs(60));
                assert!(status.success(), "{status}\n{}", self.log());
            }
            Stop::Kill => {
                self.p.signal("KILL");
                self.p.wait_exit(Duration::from_secs(60));
            }
        }
        self.log()
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.p.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }

    /// Posts one remote-write 2.0 request; it must be taken whole.
    fn write(&self, req: &write_v2::Request) {
        use prompb::Message as _;
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap();
        let (status, _, answer) = post(
            self.p.port,
            "/api/v1/write",
            "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 2.0.0\r\n",
            &body,
        );
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 204, "{}", &answer[..answer.len().min(2000)]);
    }
}

/// Milliseconds as the API's seconds parameter.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// The series this test writes, one per kind of sample.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter(u32),
    Gauge,
    Hist(u32),
    FloatHist,
    Nhcb,
    FloatNhcb,
}

const KINDS: [Kind; 8] = [
    Kind::Counter(0),
    Kind::Counter(1),
    Kind::Counter(2),
    Kind::Gauge,
    Kind::Hist(0),
    Kind::Hist(1),
    Kind::FloatHist,
    Kind::Nhcb,
];

/// Every kind, custom-bucket float histograms included.
fn kinds() -> impl Iterator<Item = Kind> {
    KINDS.into_iter().chain([Kind::FloatNhcb])
}

impl Kind {
    fn labels(self) -> Vec<(&'static str, String)> {
        let (name, i) = match self {
            Kind::Counter(i) => ("dd_counter_total", Some(i)),
            Kind::Gauge => ("dd_gauge", None),
            Kind::Hist(i) => ("dd_hist", Some(i)),
            Kind::FloatHist => ("dd_fhist", None),
            Kind::Nhcb => ("dd_nhcb", None),
            Kind::FloatNhcb => ("dd_fnhcb", None),
        };
        let mut l = vec![("__name__", name.to_owned())];
        if let Some(i) = i {
            l.push(("i", i.to_string()));
        }
        l.push(("job", "interop".to_owned()));
        l
    }

    fn metadata(self) -> (write_v2::metadata::MetricType, &'static str, &'static str) {
        use write_v2::metadata::MetricType;
        match self {
            Kind::Counter(_) => (MetricType::Counter, "Requests served.", ""),
            Kind::Gauge => (MetricType::Gauge, "A temperature.", "celsius"),
            Kind::Hist(_) | Kind::Nhcb => (MetricType::Histogram, "Latency.", "seconds"),
            Kind::FloatHist | Kind::FloatNhcb => (MetricType::Gaugehistogram, "Queue sizes.", ""),
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Kind::Counter(_) | Kind::Gauge)
    }

    /// Whether sample `k` carries an exemplar.
    fn exemplar_at(self, k: i64) -> bool {
        matches!(self, Kind::Counter(0) | Kind::Hist(0)) && k % 10 == 3
    }
}

/// The float value of sample `k`: counters with a reset, a gauge through special values
/// (a stale marker included).
fn float_value(kind: Kind, k: i64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let kf = k as f64;
    match kind {
        Kind::Counter(2) if k >= 150 => (kf - 150.0) * 0.5,
        Kind::Counter(i) => f64::from(i) * 1e6 + kf * 1.5,
        _ => match k % 11 {
            0 => 0.1 * kf,
            1 => -3.25,
            2 => 1e300,
            3 => 5e-324,
            4 => f64::NAN,
            5 => f64::INFINITY,
            6 => f64::NEG_INFINITY,
            7 => 0.0,
            8 if k % 7 == 1 => f64::from_bits(0x7ff0_0000_0000_0002),
            9 => -kf / 3.0,
            _ => kf * 1e-9,
        },
    }
}

/// How many of the gauge's samples `ks` are stale markers (which range selectors skip).
fn stale_markers(ks: &[i64]) -> usize {
    ks.iter()
        .filter(|&&k| model::value::is_stale_nan(float_value(Kind::Gauge, k)))
        .count()
}

/// Delta-encodes absolute bucket counts as remote write carries them.
fn deltas(counts: &[i64]) -> Vec<i64> {
    let mut prev = 0;
    counts
        .iter()
        .map(|&c| {
            let d = c - prev;
            prev = c;
            d
        })
        .collect()
}

fn span(offset: i32, length: u32) -> prompb::BucketSpan {
    prompb::BucketSpan { offset, length }
}

/// The histogram of sample `k` at `t`.
fn histogram(kind: Kind, k: i64, t: i64) -> prompb::Histogram {
    use prompb::histogram::{Count, ResetHint, ZeroCount};
    #[allow(clippy::cast_precision_loss)]
    let kf = k as f64;
    match kind {
        Kind::Hist(i) => {
            // A counter reset at 200 for the first; a new bucket from 100 on.
            let k = if i == 0 && k >= 200 { k - 200 } else { k };
            let mut pos = vec![k + 1, 2 * k + 1];
            let mut spans = vec![span(0, 2)];
            if k >= 100 {
                pos.push(k - 99);
                spans = vec![span(0, 2), span(3, 1)];
            }
            let neg = vec![k];
            let zero = k / 2;
            let count = pos.iter().sum::<i64>() + neg.iter().sum::<i64>() + zero;
            #[allow(clippy::cast_precision_loss)]
            let sum = k as f64 * 1.25;
            prompb::Histogram {
                count: Some(Count::CountInt(count.try_into().unwrap())),
                zero_count: Some(ZeroCount::ZeroCountInt(zero.try_into().unwrap())),
                zero_threshold: 0.001,
                sum,
                schema: if i == 0 { 0 } else { 3 },
                positive_spans: spans,
                positive_deltas: deltas(&pos),
                negative_spans: vec![span(-1, 1)],
                negative_deltas: deltas(&neg),
                timestamp: t,
                ..Default::default()
            }
        }
        Kind::FloatHist => {
            let pos = [(k % 7) as f64 * 0.5, 1.5, (k % 3) as f64];
            let neg = [0.25 * (k % 5) as f64];
            let zero = 0.125;
            prompb::Histogram {
                count: Some(Count::CountFloat(
                    pos.iter().sum::<f64>() + neg.iter().sum::<f64>() + zero,
                )),
                zero_count: Some(ZeroCount::ZeroCountFloat(zero)),
                zero_threshold: 1e-128,
                sum: kf.sin() * 10.0,
                schema: 2,
                positive_spans: vec![span(-2, 3)],
                positive_counts: pos.to_vec(),
                negative_spans: vec![span(4, 1)],
                negative_counts: neg.to_vec(),
                reset_hint: ResetHint::Gauge.into(),
                timestamp: t,
                ..Default::default()
            }
        }
        Kind::Nhcb => {
            let pos = [k, k, 2 * k, 1, k];
            prompb::Histogram {
                count: Some(Count::CountInt(pos.iter().sum::<i64>().try_into().unwrap())),
                zero_count: Some(ZeroCount::ZeroCountInt(0)),
                sum: kf * 0.7,
                schema: -53,
                positive_spans: vec![span(0, 5)],
                positive_deltas: deltas(&pos),
                custom_values: vec![0.1, 0.5, 1.0, 5.0],
                timestamp: t,
                ..Default::default()
            }
        }
        Kind::FloatNhcb => {
            let pos = [0.5 * kf, 1.0, (k % 4) as f64];
            prompb::Histogram {
                count: Some(Count::CountFloat(pos.iter().sum())),
                zero_count: Some(ZeroCount::ZeroCountFloat(0.0)),
                sum: kf * 0.3,
                schema: -53,
                positive_spans: vec![span(0, 3)],
                positive_counts: pos.to_vec(),
                custom_values: vec![1.0, 10.0],
                reset_hint: ResetHint::Gauge.into(),
                timestamp: t,
                ..Default::default()
            }
        }
        Kind::Counter(_) | Kind::Gauge => unreachable!("float series"),
    }
}

/// Remote-write 2.0 requests carrying samples `ks` (at `base + k * step`) of every series of
/// `kinds`, `batch` sample slots a request, in order; with exemplars and metadata when
/// `extras`.
fn requests(
    kinds: &[Kind],
    base: i64,
    step: i64,
    ks: &[i64],
    batch: usize,
    extras: bool,
) -> Vec<write_v2::Request> {
    ks.chunks(batch)
        .map(|ks| {
            let mut symbols = SymbolTable::new();
            let timeseries = kinds
                .iter()
                .map(|&kind| {
                    let mut ts = write_v2::TimeSeries::default();
                    let labels = kind.labels();
                    symbols.symbolize_labels(
                        labels.iter().map(|(n, v)| (*n, v.as_str())),
                        &mut ts.labels_refs,
                    );
                    for &k in ks {
                        let t = base + k * step;
                        if kind.is_float() {
                            ts.samples.push(write_v2::Sample {
                                value: float_value(kind, k),
                                timestamp: t,
                            });
                        } else {
                            ts.histograms.push(histogram(kind, k, t));
                        }
                        if extras && kind.exemplar_at(k) {
                            let mut ex = write_v2::Exemplar {
                                #[allow(clippy::cast_precision_loss)]
                                value: k as f64 / 8.0,
                                timestamp: t,
                                ..Default::default()
                            };
                            symbols.symbolize_labels(
                                [("trace_id", format!("{k:016x}").as_str())],
                                &mut ex.labels_refs,
                            );
                            ts.exemplars.push(ex);
                        }
                    }
                    if extras {
                        let (typ, help, unit) = kind.metadata();
                        ts.metadata = Some(write_v2::Metadata {
                            r#type: typ.into(),
                            help_ref: symbols.symbolize(help),
                            unit_ref: symbols.symbolize(unit),
                        });
                    }
                    ts
                })
                .collect();
            write_v2::Request {
                symbols: symbols.take_symbols(),
                timeseries,
            }
        })
        .collect()
}

/// What a server serves of the test's series over `[start, end]`: `/api/v1/series`, every
/// raw sample (a range selector over the whole span), `/api/v1/query_range` at `step`, and
/// `/api/v1/query_exemplars` over `exemplars` (when given).
#[derive(Debug, PartialEq)]
struct Served {
    series: Vec<String>,
    raw: BTreeMap<String, Value>,
    range: BTreeMap<String, Value>,
    exemplars: Vec<String>,
}

impl Served {
    fn read(s: &Server, start: i64, end: i64, step: i64, exemplars: Option<(i64, i64)>) -> Served {
        let sel = model::strutil::query_escape(r#"{__name__=~"dd_.+"}"#);
        let v = s.get_json(&format!(
            "/api/v1/series?match[]={sel}&start={}&end={}",
            seconds(start),
            seconds(end)
        ));
        let mut series: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        series.sort();
        let matrix = |v: &Value| -> BTreeMap<String, Value> {
            v["data"]["result"]
                .as_array()
                .unwrap_or_else(|| panic!("a matrix: {v}"))
                .iter()
                .map(|r| {
                    let mut rest = r.clone();
                    let metric = rest.as_object_mut().unwrap().remove("metric").unwrap();
                    (metric.to_string(), rest)
                })
                .collect()
        };
        let query = model::strutil::query_escape(&format!(
            r#"{{__name__=~"dd_.+"}}[{}ms]"#,
            end - start + 1
        ));
        let raw = matrix(&s.get_json(&format!(
            "/api/v1/query?query={query}&time={}",
            seconds(end)
        )));
        let range = matrix(&s.get_json(&format!(
            "/api/v1/query_range?query={sel}&start={}&end={}&step={}",
            seconds(start),
            seconds(end),
            seconds(step)
        )));
        let exemplars = match exemplars {
            None => Vec::new(),
            Some((from, to)) => {
                let v = s.get_json(&format!(
                    "/api/v1/query_exemplars?query={sel}&start={}&end={}",
                    seconds(from),
                    seconds(to)
                ));
                let mut out: Vec<String> = v["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(Value::to_string)
                    .collect();
                out.sort();
                out
            }
        };
        Served {
            series,
            raw,
            range,
            exemplars,
        }
    }

    /// How many raw samples (floats and histograms) there are.
    fn samples(&self) -> usize {
        self.raw
            .values()
            .map(|r| {
                r.get("values")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
                    + r.get("histograms")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
            })
            .sum()
    }

    fn exemplar_count(&self) -> usize {
        self.exemplars
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e).unwrap()["exemplars"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum()
    }

    /// Panics naming the first difference.
    fn assert_same(&self, other: &Served, what: &str) {
        assert_eq!(self.series, other.series, "{what}: series differ");
        assert_eq!(
            self.raw.keys().collect::<Vec<_>>(),
            other.raw.keys().collect::<Vec<_>>(),
            "{what}: raw series differ"
        );
        for (k, v) in &self.raw {
            assert!(
                v == &other.raw[k],
                "{what}: raw samples of {k} differ: {}",
                difference(v, &other.raw[k])
            );
        }
        assert_eq!(
            self.range.keys().collect::<Vec<_>>(),
            other.range.keys().collect::<Vec<_>>(),
            "{what}: query_range series differ"
        );
        for (k, v) in &self.range {
            assert!(
                v == &other.range[k],
                "{what}: query_range of {k} differs: {}",
                difference(v, &other.range[k])
            );
        }
        assert_eq!(self.exemplars, other.exemplars, "{what}: exemplars differ");
    }
}

/// The samples only one of two matrix entries has (at most 10 each way).
fn difference(a: &Value, b: &Value) -> String {
    let points = |v: &Value| -> std::collections::BTreeSet<String> {
        ["values", "histograms"]
            .iter()
            .filter_map(|k| v.get(*k)?.as_array())
            .flatten()
            .map(Value::to_string)
            .collect()
    };
    let (pa, pb) = (points(a), points(b));
    let only = |x: &std::collections::BTreeSet<String>, y: &std::collections::BTreeSet<String>| {
        let d: Vec<&String> = x.difference(y).collect();
        format!("{} {:?}", d.len(), &d[..d.len().min(10)])
    };
    format!(
        "only before: {}; only after: {}",
        only(&pa, &pb),
        only(&pb, &pa)
    )
}

/// The WAL and snapshot problems either server logs while opening a directory.
fn assert_clean_open(log: &str, who: &str) {
    for line in log.lines() {
        let lower = line.to_lowercase();
        // Out-of-order samples make overlapping blocks, which Prometheus notes (and merges).
        if lower.contains("overlapping blocks found") {
            continue;
        }
        let bad = lower.contains("level=error")
            || (lower.contains("level=warn")
                && [
                    "wal",
                    "wbl",
                    "snapshot",
                    "chunk",
                    "block",
                    "tombstone",
                    "corrupt",
                    "repair",
                ]
                .iter()
                .any(|w| lower.contains(w)));
        assert!(!bad, "{who} complained while opening: {line}\n{log}");
    }
}

/// The two servers of a switch: `(name, binary)` of the writer, then of the reader.
fn pairs(p3: &str) -> [[(&'static str, String); 2]; 2] {
    [
        [
            ("prometheus 3.5.3", p3.to_owned()),
            ("ours", OURS.to_owned()),
        ],
        [
            ("ours", OURS.to_owned()),
            ("prometheus 3.5.3", p3.to_owned()),
        ],
    ]
}

/// A base time `hours_ago` hours back, on a two-hour boundary (as blocks are).
fn aligned_base(hours_ago: i64) -> i64 {
    let t = now_ms() - hours_ago * HOUR;
    t - t.rem_euclid(2 * HOUR)
}

/// One switch between two servers over one data directory.
struct Switch<'a> {
    writer: &'a (&'static str, String),
    reader: &'a (&'static str, String),
    config: &'a str,
    features: &'a [&'a str],
    stop: Stop,
    /// Start, end and step of the compared range, in ms.
    window: (i64, i64, i64),
    /// The range of `/api/v1/query_exemplars`, if any.
    exemplars: Option<(i64, i64)>,
}

/// What a switch leaves: what the reader served, its log, the directory.
struct Switched {
    served: Served,
    log: String,
    _dir: tempfile::TempDir,
    data: PathBuf,
    what: String,
}

impl Switch<'_> {
    /// The writer ingests through `ingest`, is read, stops as `stop`; the reader opens the
    /// directory, must serve the same, and stops cleanly.
    fn run(&self, ingest: &dyn Fn(&Server)) -> Switched {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (start, end, step) = self.window;
        let what = format!("{} -> {} ({:?})", self.writer.0, self.reader.0, self.stop);
        let w = Server::start(
            &self.writer.1,
            dir.path(),
            &data,
            self.config,
            self.features,
        );
        ingest(&w);
        let before = Served::read(&w, start, end, step, self.exemplars);
        assert!(before.samples() > 0, "{what}: nothing ingested");
        w.stop(self.stop);
        let r = Server::start(
            &self.reader.1,
            dir.path(),
            &data,
            self.config,
            self.features,
        );
        let after = Served::read(&r, start, end, step, self.exemplars);
        let log = r.stop(Stop::Clean);
        assert_clean_open(&log, self.reader.0);
        before.assert_same(&after, &what);
        Switched {
            served: after,
            log,
            _dir: dir,
            data,
            what,
        }
    }
}

/// Opens `data` with this crate's TSDB and checks every series' metadata as written.
fn assert_metadata(data: &Path, what: &str) {
    let db = tsdb::Db::open(
        data,
        tsdb::Options::default().with_retention(30 * 24 * HOUR),
    )
    .unwrap_or_else(|e| panic!("{what}: opening {}: {e}", data.display()));
    for kind in kinds() {
        let labels = model::Labels::from_pairs(kind.labels().iter().map(|(n, v)| (*n, v.as_str())));
        let (typ, help, unit) = kind.metadata();
        let want = storage::Metadata {
            metric_type: storage::MetricType::from_wal_code(u8::try_from(i32::from(typ)).unwrap()),
            unit: unit.to_owned(),
            help: help.to_owned(),
        };
        assert_eq!(
            db.head().series_metadata(&labels),
            Some(want),
            "{what}: metadata of {labels}"
        );
    }
    db.close().unwrap();
}

/// Scenarios 1 and 2: floats, histograms, exemplars and metadata in the head (WAL and
/// mmapped head chunks), after a clean stop and after `kill -9`, both ways.
#[test]
fn head_wal_and_mmapped_chunks_pass_both_ways() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(8);
    let step = 30_000;
    // 300 samples a series: two and a half hours, several head chunks, all but the last
    // mmapped.
    let ks: Vec<i64> = (0..300).collect();
    let reqs = requests(&kinds().collect::<Vec<_>>(), base, step, &ks, 50, true);
    let end = base + 299 * step;
    for [writer, reader] in pairs(&p3) {
        for stop in [Stop::Clean, Stop::Kill] {
            let done = Switch {
                writer: &writer,
                reader: &reader,
                config: CONFIG,
                features: &[],
                stop,
                window: (base, end, step),
                exemplars: Some((base, end)),
            }
            .run(&|s| reqs.iter().for_each(|r| s.write(r)));
            let served = &done.served;
            assert_eq!(served.series.len(), 9);
            assert_eq!(served.samples(), 9 * 300 - stale_markers(&ks));
            assert_eq!(served.exemplar_count(), 60);
            assert_metadata(&done.data, &done.what);
        }
    }
}

const CONFIG: &str = "global:\n  scrape_interval: 1h\n";

/// Scenario 3: out-of-order samples (floats and histograms) in the WBL and in mmapped
/// out-of-order head chunks, both ways.
#[test]
fn out_of_order_wbl_passes_both_ways() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(8);
    let step = 30_000;
    let ks: Vec<i64> = (0..300).collect();
    let kinds: Vec<Kind> = kinds().collect();
    let in_order = requests(&kinds, base, step, &ks, 50, true);
    // 200 a series between the in-order ones, newest first, within the 2h window.
    let late: Vec<i64> = (100..300).rev().collect();
    let ooo = requests(&kinds, base + step / 2, step, &late, 40, false);
    let config = format!("{CONFIG}storage:\n  tsdb:\n    out_of_order_time_window: 2h\n");
    let end = base + 299 * step + step / 2;
    for [writer, reader] in pairs(&p3) {
        for stop in [Stop::Clean, Stop::Kill] {
            let done = Switch {
                writer: &writer,
                reader: &reader,
                config: &config,
                features: &[],
                stop,
                window: (base, end, step / 2),
                exemplars: Some((base, end)),
            }
            .run(&|s| {
                in_order.iter().for_each(|r| s.write(r));
                ooo.iter().for_each(|r| s.write(r));
            });
            let late_stale = stale_markers(&late);
            assert_eq!(
                done.served.samples(),
                9 * 500 - stale_markers(&ks) - late_stale,
                "{}",
                done.what
            );
            assert!(done.data.join("wbl").is_dir(), "{}", done.what);
        }
    }
}

/// Scenario 4: `memory-snapshot-on-shutdown`: the chunk snapshot one writes, the other
/// loads (and says so), both ways.
#[test]
fn memory_snapshot_passes_both_ways() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(8);
    let step = 30_000;
    let ks: Vec<i64> = (0..300).collect();
    let reqs = requests(&kinds().collect::<Vec<_>>(), base, step, &ks, 50, true);
    let end = base + 299 * step;
    for [writer, reader] in pairs(&p3) {
        let done = Switch {
            writer: &writer,
            reader: &reader,
            config: CONFIG,
            features: &["memory-snapshot-on-shutdown"],
            stop: Stop::Clean,
            window: (base, end, step),
            exemplars: Some((base, end)),
        }
        .run(&|s| reqs.iter().for_each(|r| s.write(r)));
        assert_eq!(done.served.samples(), 9 * 300 - stale_markers(&ks));
        assert_eq!(done.served.exemplar_count(), 60);
        assert!(
            done.log.to_lowercase().contains("chunk snapshot loaded"),
            "{}: the reader did not load the snapshot:\n{}",
            done.what,
            done.log
        );
    }
}

/// The newest end of the blocks in `data` (`i64::MIN` when none).
fn blocks_maxt(data: &Path) -> i64 {
    std::fs::read_dir(data)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("meta.json")).ok())
                .filter_map(|m| serde_json::from_str::<Value>(&m).ok()?["maxTime"].as_i64())
                .max()
                .unwrap_or(i64::MIN)
        })
        .unwrap_or(i64::MIN)
}

/// The newest WAL segment of `data` (each truncation starts a new one).
fn newest_segment(data: &Path) -> u64 {
    std::fs::read_dir(data.join("wal")).map_or(0, |d| {
        d.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .max()
            .unwrap_or(0)
    })
}

/// Whether the WAL of `data` has a checkpoint.
fn has_checkpoint(data: &Path) -> bool {
    std::fs::read_dir(data.join("wal")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint."))
    })
}

/// Waits until `done` holds of the data directory of `s`.
fn wait_for_dir(s: &Server, what: &str, done: impl Fn(&Path) -> bool) {
    let data = s.data();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done(&data) {
        assert!(
            Instant::now() < deadline,
            "never {what}: {:?}\n{}",
            Command::new("find")
                .arg(&data)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned()),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Scenario 5: persisted blocks (head compactions, a WAL checkpoint: Prometheus checkpoints
/// only from the fourth truncation on) and tombstones of `delete_series` in blocks and head,
/// both ways.
#[test]
fn blocks_checkpoints_and_tombstones_pass_both_ways() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(14);
    let step = 60_000;
    // Nine and a half hours: four 2h blocks (some merged), the rest in the head.
    let n = 570;
    let ks: Vec<i64> = (0..n).collect();
    let kinds: Vec<Kind> = kinds().collect();
    // Four phases, each ending past the next 2h boundary plus an hour, so that four head
    // compactions truncate the WAL four times.
    let phases: Vec<Vec<write_v2::Request>> = [0..182, 182..302, 302..422, 422..542, 542..n]
        .into_iter()
        .map(|r| {
            requests(
                &kinds,
                base,
                step,
                &ks[r.start as usize..r.end as usize],
                30,
                true,
            )
        })
        .collect();
    let end = base + (n - 1) * step;
    for [writer, reader] in pairs(&p3) {
        let done = Switch {
            writer: &writer,
            reader: &reader,
            config: CONFIG,
            features: &[],
            stop: Stop::Clean,
            window: (base, end, step),
            // Checkpoints keep only the exemplars of the head's range.
            exemplars: Some((base + 8 * HOUR + 30 * MINUTE, end)),
        }
        .run(&|s| {
            for (i, phase) in (0..).zip(&phases) {
                let segment = newest_segment(&s.data());
                phase.iter().for_each(|r| s.write(r));
                if i < 4 {
                    // One block and one WAL truncation per phase (Prometheus truncates once
                    // per compaction run, however many blocks the run writes).
                    let maxt = base + (i + 1) * 2 * HOUR;
                    wait_for_dir(s, &format!("a block up to {maxt}"), |d| {
                        blocks_maxt(d) >= maxt
                    });
                    wait_for_dir(s, "a WAL truncation", |d| newest_segment(d) > segment);
                }
            }
            wait_for_dir(s, "a WAL checkpoint", has_checkpoint);
            for (m, range) in [
                (
                    r#"dd_counter_total{i="1"}"#,
                    Some((base + HOUR, base + 9 * HOUR)),
                ),
                ("dd_gauge", None),
                (
                    r#"dd_hist{i="1"}"#,
                    Some((base + 30 * MINUTE, base + 90 * MINUTE)),
                ),
            ] {
                let mut path = format!(
                    "/api/v1/admin/tsdb/delete_series?match[]={}",
                    model::strutil::query_escape(m)
                );
                if let Some((from, to)) = range {
                    path.push_str(&format!("&start={}&end={}", seconds(from), seconds(to)));
                }
                let (status, _, body) = post(s.p.port, &path, "", b"");
                // Prometheus answers 204; ours 200 with `{"status":"success"}`, as the
                // OpenAPI description has it.
                assert!(
                    status == 204 || status == 200,
                    "{status} {}",
                    String::from_utf8_lossy(&body)
                );
            }
        });
        // The gauge's samples are gone (its series is still listed, by both), and the
        // deleted ranges (both ends included).
        assert_eq!(done.served.series.len(), 9, "{}", done.what);
        assert_eq!(done.served.raw.len(), 8, "{}", done.what);
        assert_eq!(done.served.samples(), 8 * 570 - 481 - 61, "{}", done.what);
        assert_metadata(&done.data, &done.what);
    }
}

/// One hop of a [`chain`]: a server opens the directory (serving what the previous hop
/// served), ingests, and stops.
struct Hop<'a> {
    server: &'a (&'static str, String),
    ingest: &'a dyn Fn(&Server),
    stop: Stop,
}

/// Runs `hops` one after another over one data directory: each server must serve what the
/// one before it served just before it stopped. Returns what the last one served.
fn chain(hops: &[Hop<'_>], config: &str, window: (i64, i64, i64)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (start, end, step) = window;
    let mut prev: Option<(Served, String)> = None;
    for hop in hops {
        let s = Server::start(&hop.server.1, dir.path(), &data, config, &[]);
        if let Some((before, what)) = &prev {
            let now = Served::read(&s, start, end, step, None);
            before.assert_same(&now, &format!("{what} -> {}", hop.server.0));
            assert_clean_open(&s.log(), hop.server.0);
        }
        (hop.ingest)(&s);
        let served = Served::read(&s, start, end, step, None);
        prev = Some((served, format!("{} ({:?})", hop.server.0, hop.stop)));
        s.stop(hop.stop);
    }
    prev.expect("at least one hop").0
}

/// An upgrade and a rollback on a live directory, both ways round: each server continues
/// the other's head, compacts it (in-order and out-of-order samples) into blocks next to the
/// other's blocks, deletes series, and hands the directory back.
#[test]
fn upgrade_then_rollback_keeps_every_sample() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(14);
    let step = 60_000;
    let n = 570;
    let ks: Vec<i64> = (0..n).collect();
    let kinds: Vec<Kind> = kinds().collect();
    let in_order = |r: std::ops::Range<usize>| requests(&kinds, base, step, &ks[r], 30, true);
    // Late samples half a step after in-order ones, within the hour's window.
    let late = |r: std::ops::Range<i64>| {
        let ks: Vec<i64> = r.rev().collect();
        requests(&kinds, base + step / 2, step, &ks, 30, false)
    };
    let phases = [
        (in_order(0..150), late(100..140)),
        (in_order(150..302), late(260..300)),
        (in_order(302..422), late(380..420)),
        (in_order(422..570), late(530..569)),
    ];
    let ingest = |i: usize| {
        let (a, b) = &phases[i];
        move |s: &Server| {
            a.iter().chain(b).for_each(|r| s.write(r));
            if i > 0 {
                let maxt = base + (i as i64 + 1) * 2 * HOUR;
                wait_for_dir(s, &format!("a block up to {maxt}"), |d| {
                    blocks_maxt(d) >= maxt
                });
            }
            if i == 2 {
                let m = model::strutil::query_escape(r#"dd_counter_total{i="2"}"#);
                let path = format!(
                    "/api/v1/admin/tsdb/delete_series?match[]={m}&start={}&end={}",
                    seconds(base + HOUR),
                    seconds(base + 5 * HOUR)
                );
                let (status, _, body) = post(s.p.port, &path, "", b"");
                assert!(status / 100 == 2, "{}", String::from_utf8_lossy(&body));
            }
        }
    };
    let config = format!("{CONFIG}storage:\n  tsdb:\n    out_of_order_time_window: 1h\n");
    let end = base + (n - 1) * step + step / 2;
    let (i0, i1, i2, i3) = (ingest(0), ingest(1), ingest(2), ingest(3));
    for [a, b] in pairs(&p3) {
        let served = chain(
            &[
                Hop {
                    server: &a,
                    ingest: &i0,
                    stop: Stop::Kill,
                },
                Hop {
                    server: &b,
                    ingest: &i1,
                    stop: Stop::Clean,
                },
                Hop {
                    server: &a,
                    ingest: &i2,
                    stop: Stop::Clean,
                },
                Hop {
                    server: &b,
                    ingest: &i3,
                    stop: Stop::Kill,
                },
                Hop {
                    server: &a,
                    ingest: &|_| {},
                    stop: Stop::Clean,
                },
            ],
            &config,
            (base, end, step / 2),
        );
        assert_eq!(served.series.len(), 9, "{} first", a.0);
        let late_ks: Vec<i64> = [100..140, 260..300, 380..420, 530..569]
            .into_iter()
            .flatten()
            .collect();
        // The deletion covers the in-order samples 60..=300 and the late ones of 100..140
        // and 260..300 of one series.
        let deleted = 241 + 40 + 40;
        assert_eq!(
            served.samples(),
            9 * (ks.len() + late_ks.len()) - deleted - stale_markers(&ks) - stale_markers(&late_ks),
            "{} first",
            a.0
        );
    }
}

/// `storage.tsdb.out_of_order_time_window` follows config reloads, as in Prometheus 3.5.3:
/// both servers refuse a late sample, then take it once a reload turned the window on.
#[test]
fn the_out_of_order_window_follows_config_reloads() {
    let Some(p3) = prometheus3() else { return };
    let base = aligned_base(2);
    let on_time = requests(&[Kind::Counter(0)], base, 60_000, &[10], 1, false);
    let late = requests(&[Kind::Counter(0)], base, 60_000, &[5], 1, false);
    for bin in [p3.as_str(), OURS] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s = Server::start(bin, dir.path(), &data, CONFIG, &[]);
        s.write(&on_time[0]);
        let post_late = || {
            use prompb::Message as _;
            let body = snap::raw::Encoder::new()
                .compress_vec(&late[0].encode_to_vec())
                .unwrap();
            post(
                s.p.port,
                "/api/v1/write",
                "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 2.0.0\r\n",
                &body,
            )
            .0
        };
        assert_eq!(post_late(), 400, "{bin}");
        let config = dir.path().join(format!("prometheus-{}.yml", s.p.port));
        std::fs::write(
            &config,
            format!("{CONFIG}storage:\n  tsdb:\n    out_of_order_time_window: 1h\n"),
        )
        .unwrap();
        s.p.signal("HUP");
        let deadline = Instant::now() + Duration::from_secs(30);
        while post_late() != 204 {
            assert!(Instant::now() < deadline, "{bin}: the reload did not apply");
            std::thread::sleep(Duration::from_millis(100));
        }
        let served = Served::read(&s, base, base + 10 * 60_000, 60_000, None);
        assert_eq!(served.samples(), 2, "{bin}");
        s.stop(Stop::Clean);
    }
}
