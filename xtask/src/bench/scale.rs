//! `bench --scale`: 20k series x 481 samples by remote write into ours, Prometheus 2.42 and VictoriaMetrics; ingest rate, RSS per series and two 2h range queries, timed and cross-checked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::{latencies, memory_row, mib, ms, pause, push, put_series, ratio, stored_samples};
use crate::servers::{self, Case, Server, UPSTREAM_BIN, VICTORIA_BIN};

/// Series pushed: `COUNTERS` counters and `HISTOGRAMS` classic histograms of `LES` buckets.
pub(super) const SERIES: usize = COUNTERS + HISTOGRAMS * LES.len();
/// Samples per series, `INTERVAL_MS` apart (2h).
pub(super) const SAMPLES: usize = 481;
/// Concurrent remote-write senders.
pub(super) const SENDERS: usize = 4;
const INTERVAL_MS: i64 = 15_000;
const COUNTERS: usize = 16_000;
const HISTOGRAMS: usize = 400;
const LES: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
/// Values agree when within this relative difference.
const TOLERANCE: f64 = 1e-6;

/// The two timed queries: a plain `rate` over one metric name (800 series) and a
/// quantile over all 4000 bucket series.
const QUERIES: [(&str, &str); 2] = [
    ("rate", "rate(rw_metric_0[5m])"),
    (
        "histogram_quantile",
        "histogram_quantile(0.9, sum by (le) (rate(rw_latency_seconds_bucket[5m])))",
    ),
];

/// One pushed series: a counter, or one bucket of a classic histogram.
enum Series {
    Counter(usize),
    Bucket { histogram: usize, bucket: usize },
}

impl Series {
    /// The `i`th of the `SERIES` series: counters first, then the buckets.
    fn nth(i: usize) -> Series {
        if i < COUNTERS {
            Series::Counter(i)
        } else {
            let b = i - COUNTERS;
            Series::Bucket {
                histogram: b / LES.len(),
                bucket: b % LES.len(),
            }
        }
    }

    /// Its labels, sorted by name.
    fn labels(&self) -> Vec<(&'static str, String)> {
        match *self {
            Series::Counter(c) => vec![
                ("__name__", format!("rw_metric_{}", c % 20)),
                ("instance", format!("host-{}", c / 200)),
                ("job", "loadgen".to_string()),
                ("series", c.to_string()),
            ],
            Series::Bucket { histogram, bucket } => vec![
                ("__name__", "rw_latency_seconds_bucket".to_string()),
                ("handler", format!("/api/{}", histogram % 10)),
                ("instance", format!("host-{}", histogram / 10)),
                ("job", "loadgen".to_string()),
                ("le", LES[bucket].to_string()),
            ],
        }
    }

    /// The value before the first sample: far enough from zero that no window's
    /// extrapolation reaches zero (where 2.42 and 3.x cap it differently).
    fn start(&self) -> f64 {
        match *self {
            Series::Counter(_) => 1000.0,
            Series::Bucket { bucket, .. } => 1000.0 * (bucket + 1) as f64,
        }
    }

    /// How much the series grows at `step`: uneven (a hash of the series and step), so that
    /// a window holding other samples gives another rate, also summed over the histograms;
    /// cumulative over the buckets of a histogram.
    fn increment(&self, step: usize) -> f64 {
        match *self {
            Series::Counter(c) => (mix(c as u64, step as u64) % 11) as f64,
            Series::Bucket { histogram, bucket } => (0..=bucket)
                .map(|m| (mix((histogram * LES.len() + m) as u64, step as u64) % 4) as f64)
                .sum(),
        }
    }
}

/// A few rounds of multiply-xorshift over `a` and `b` (splitmix64's finaliser).
fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_add(0x632b_e59b_d9b4_e019);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The pushed data: `SERIES` series of `SAMPLES` samples from `base`, `INTERVAL_MS` apart.
pub(super) struct Workload {
    /// The first sample's timestamp (ms, a multiple of the interval).
    pub(super) base: i64,
}

impl Workload {
    /// The workload whose last sample is at the latest interval boundary before now.
    pub(super) fn ending_now() -> Result<Workload> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("clock before 1970")?
            .as_millis() as i64;
        Ok(Workload {
            base: now - now % INTERVAL_MS - (SAMPLES as i64 - 1) * INTERVAL_MS,
        })
    }

    /// The last sample's timestamp.
    pub(super) fn last(&self) -> i64 {
        self.base + (SAMPLES as i64 - 1) * INTERVAL_MS
    }

    /// The snappy-compressed remote-write bodies of each sender: one request per step with
    /// one sample of each of its series (every `SENDERS`th one).
    pub(super) fn bodies(&self) -> Result<Vec<Vec<Vec<u8>>>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..SENDERS)
                .map(|sender| scope.spawn(move || self.sender_bodies(sender)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a body encoder panicked"))?
                })
                .collect()
        })
    }

    fn sender_bodies(&self, sender: usize) -> Result<Vec<Vec<u8>>> {
        let series: Vec<Series> = (sender..SERIES).step_by(SENDERS).map(Series::nth).collect();
        let labels: Vec<Vec<u8>> = series
            .iter()
            .map(|s| {
                let l = s.labels();
                let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                super::encode_labels(&pairs)
            })
            .collect();
        let mut values: Vec<f64> = series.iter().map(Series::start).collect();
        let mut enc = snap::raw::Encoder::new();
        let mut req = Vec::new();
        (0..SAMPLES)
            .map(|step| {
                let t = self.base + step as i64 * INTERVAL_MS;
                req.clear();
                for ((s, l), v) in series.iter().zip(&labels).zip(&mut values) {
                    *v += s.increment(step);
                    put_series(&mut req, l, t, *v);
                }
                enc.compress_vec(&req).context("snappy")
            })
            .collect()
    }

    /// The timed range queries: 2h at 15s step, the points 7.5s off the sample grid (so
    /// that 2.x's closed and 3.x's left-open windows hold the same samples).
    fn cases(&self) -> Vec<Case> {
        QUERIES
            .iter()
            .map(|(_, q)| Case::Range {
                query: q.to_string(),
                start: self.base + INTERVAL_MS / 2,
                end: self.base + INTERVAL_MS / 2 + 7_200_000,
                step: INTERVAL_MS,
            })
            .collect()
    }
}

/// What one server did.
pub(super) struct Outcome {
    pub(super) name: &'static str,
    /// Samples per second over the push.
    pub(super) rate: f64,
    /// The server's CPU seconds during the push.
    pub(super) cpu: f64,
    pub(super) rss_empty: u64,
    pub(super) rss_pushed: u64,
    /// Samples a `count_over_time` query counts after the push.
    pub(super) stored: u64,
    /// Median latency per query.
    medians: Vec<Duration>,
    errors: usize,
    /// Each query's answer (series key -> points), or why there is none.
    answers: Vec<Result<Matrix, String>>,
}

/// The scale phase's result: per server (ours, 2.42, then VictoriaMetrics when installed),
/// plus `/proc` memory rows for the report.
pub(super) struct Scale {
    pub(super) outcomes: Vec<Outcome>,
    pub(super) breakdown: String,
    runs: usize,
    bodies_took: Duration,
}

/// Starts the servers, pushes the workload into each in turn (the others idle), then
/// times the queries on all of them (taking turns) and fetches their answers.
pub(super) fn compare(
    ours_bin: &Path,
    prom3: Option<&Path>,
    runs: usize,
    hold: Duration,
) -> Result<Scale> {
    let workload = Workload::ending_now()?;
    let t0 = Instant::now();
    let bodies = workload.bodies()?;
    let bodies_took = t0.elapsed();
    let work = servers::fresh_dir("bench/scale")?;
    let flag = ["--web.enable-remote-write-receiver"];
    let mut servers = vec![
        Server::start("ours", ours_bin, &work.join("ours"), &flag)?,
        Server::start(
            "prometheus 2.42",
            Path::new(UPSTREAM_BIN),
            &work.join("upstream"),
            &flag,
        )?,
    ];
    if let Some(bin) = prom3 {
        servers.push(Server::start(
            "prometheus 3",
            bin,
            &work.join("prom3"),
            &flag,
        )?);
    }
    if Path::new(VICTORIA_BIN).is_file() {
        servers.push(Server::start_victoria(
            "victoriametrics",
            &work.join("victoria"),
        )?);
    } else {
        println!("== bench: {VICTORIA_BIN} not installed; comparing ours and 2.42 only");
    }
    let ticks = crate::scrapebench::ticks_per_second();
    let mut outcomes = Vec::new();
    let mut breakdown = String::new();
    for s in &servers {
        println!(
            "== bench: remote write of {SERIES} series x {SAMPLES} samples into {} (pid {})",
            s.name,
            s.pid()
        );
        let rss_empty = s.rss_bytes()?;
        let cpu0 = crate::scrapebench::cpu_seconds(s.pid(), ticks)?;
        let took = push(s, &bodies)?;
        let cpu = crate::scrapebench::cpu_seconds(s.pid(), ticks)? - cpu0;
        let rss_pushed = s.rss_bytes()?;
        breakdown.push_str(&memory_row("after the push", s));
        outcomes.push(Outcome {
            name: s.name,
            rate: (SERIES * SAMPLES) as f64 / took.as_secs_f64(),
            cpu,
            rss_empty,
            rss_pushed,
            stored: 0,
            medians: Vec::new(),
            errors: 0,
            answers: Vec::new(),
        });
    }
    drop(bodies);
    let all: Vec<&Server> = servers.iter().collect();
    pause(hold, &all);
    for (s, o) in servers.iter().zip(&mut outcomes) {
        o.stored = settled_count(s, &workload)?;
    }
    let cases = workload.cases();
    println!(
        "== bench: {} range queries x {runs} runs (+1 warm-up) on each server",
        cases.len()
    );
    let (summary, medians) = latencies(&cases, &all, runs)?;
    for (k, o) in outcomes.iter_mut().enumerate() {
        o.medians = medians.iter().map(|per_server| per_server[k]).collect();
        o.errors = summary[k].errors;
        o.answers = cases.iter().map(|c| answer(c, &servers[k])).collect();
    }
    Ok(Scale {
        outcomes,
        breakdown,
        runs,
        bodies_took,
    })
}

/// The stored-sample count once it stops changing (VictoriaMetrics makes samples
/// searchable after flushing its buffers, asked for here).
fn settled_count(server: &Server, workload: &Workload) -> Result<u64> {
    let want = (SERIES * SAMPLES) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if server.victoria {
            servers::request(&server.addr, "GET", "/internal/force_flush", None)?;
        }
        let n = stored_samples(server, workload.last())?;
        if n >= want || !server.victoria || Instant::now() > deadline {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A range query's answer: series (labels as `k="v",...`) -> (time, value) points.
type Matrix = BTreeMap<String, Vec<(f64, f64)>>;

fn answer(case: &Case, server: &Server) -> Result<Matrix, String> {
    let (status, body) = case.run(server).map_err(|e| format!("{e:#}"))?;
    parse_matrix(status, &body).map_err(|e| format!("{e:#}"))
}

fn parse_matrix(status: u16, body: &[u8]) -> Result<Matrix> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .with_context(|| format!("HTTP {status}: not JSON: {}", String::from_utf8_lossy(body)))?;
    if status != 200 {
        bail!("HTTP {status}: {}", v["error"]);
    }
    let result = v["data"]["result"]
        .as_array()
        .context("no data.result array")?;
    let mut m = Matrix::new();
    for series in result {
        let labels = series["metric"].as_object().context("no metric object")?;
        let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let points = series["values"]
            .as_array()
            .context("no values array")?
            .iter()
            .map(|p| {
                let t = p[0].as_f64().context("point time")?;
                let v = p[1]
                    .as_str()
                    .context("point value")?
                    .parse::<f64>()
                    .context("point value")?;
                Ok((t, v))
            })
            .collect::<Result<Vec<_>>>()?;
        m.insert(key.join(","), points);
    }
    Ok(m)
}

/// How two answers compare: series in each, points compared, and the points that are
/// missing on one side or differ by more than `TOLERANCE` (relative).
#[derive(Debug, PartialEq)]
struct Agreement {
    series: (usize, usize),
    points: usize,
    off: usize,
    max_rel: f64,
}

impl Agreement {
    fn agrees(&self) -> bool {
        self.series.0 == self.series.1 && self.off == 0
    }
}

fn relative_difference(a: f64, b: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

fn agreement(a: &Matrix, b: &Matrix) -> Agreement {
    let mut points = 0;
    let mut off = 0;
    let mut max_rel: f64 = 0.0;
    for (key, pa) in a {
        let Some(pb) = b.get(key) else {
            off += pa.len();
            continue;
        };
        let mut j = 0;
        for &(t, va) in pa {
            points += 1;
            while j < pb.len() && pb[j].0 < t {
                off += 1;
                j += 1;
            }
            match pb.get(j) {
                Some(&(tb, vb)) if tb == t => {
                    let rel = relative_difference(va, vb);
                    max_rel = max_rel.max(rel);
                    if rel > TOLERANCE {
                        off += 1;
                    }
                    j += 1;
                }
                _ => off += 1,
            }
        }
        off += pb.len() - j;
    }
    off += b
        .iter()
        .filter(|(k, _)| !a.contains_key(*k))
        .map(|(_, p)| p.len())
        .sum::<usize>();
    Agreement {
        series: (a.len(), b.len()),
        points,
        off,
        max_rel,
    }
}

fn describe(a: &Result<Matrix, String>, b: &Result<Matrix, String>, theirs: &str) -> String {
    match (a, b) {
        (Err(e), _) => format!("ours failed: {e}"),
        (_, Err(e)) => format!("{theirs} failed: {e}"),
        (Ok(a), Ok(b)) => {
            let g = agreement(a, b);
            if g.agrees() {
                format!(
                    "agree ({} series, {} points, max relative difference {:.1e})",
                    g.series.0, g.points, g.max_rel
                )
            } else {
                format!(
                    "differ: {} vs {} series, {} of our {} points missing or off by more than {TOLERANCE:e} (max relative difference {:.1e})",
                    g.series.0, g.series.1, g.off, g.points, g.max_rel
                )
            }
        }
    }
}

fn kib(b: f64) -> String {
    format!("{:.2} KiB", b / 1024.0)
}

impl Scale {
    /// The report section: one table, then whether the answers agree.
    pub(super) fn markdown(&self) -> Result<String> {
        let o = &self.outcomes;
        let mut md = String::new();
        writeln!(
            md,
            "## Scale: {SERIES} series x {SAMPLES} samples by remote write\n"
        )?;
        writeln!(
            md,
            "{COUNTERS} counters and {HISTOGRAMS} classic histograms x {} buckets, one sample every 15 s for 2h, ending now; {SENDERS} senders, one request per step and sender; the bodies are encoded before the clock starts ({:.1} s). All servers are up at once; each is pushed in turn while the others idle. Queries: 2h range at 15 s step, median of {} runs after one warm-up, servers taking turns; VictoriaMetrics with `-search.disableCache`, `-search.latencyOffset=0s` and `nocache=1`.\n",
            LES.len(),
            self.bodies_took.as_secs_f64(),
            self.runs
        )?;
        let names: Vec<&str> = o.iter().map(|o| o.name).collect();
        let vs_names: Vec<String> = names[1..].iter().map(|n| format!("ours / {n}")).collect();
        writeln!(
            md,
            "| metric | {} | {} |",
            names.join(" | "),
            vs_names.join(" | ")
        )?;
        writeln!(md, "|{}", " --- |".repeat(2 * names.len()))?;
        let row = |md: &mut String,
                   label: &str,
                   value: &dyn Fn(&Outcome) -> f64,
                   show: &dyn Fn(f64) -> String|
         -> Result<()> {
            let v: Vec<f64> = o.iter().map(value).collect();
            let cells: Vec<String> = v.iter().map(|x| show(*x)).collect();
            let vs: Vec<String> = v[1..].iter().map(|t| ratio(v[0], *t)).collect();
            writeln!(
                md,
                "| {label} | {} | {} |",
                cells.join(" | "),
                vs.join(" | ")
            )?;
            Ok(())
        };
        row(&mut md, "remote-write ingest", &|o| o.rate, &|x| {
            format!("{x:.0} samples/s")
        })?;
        row(&mut md, "server CPU during the push", &|o| o.cpu, &|x| {
            format!("{x:.2} s")
        })?;
        row(
            &mut md,
            "RSS before the push",
            &|o| o.rss_empty as f64,
            &|x| mib(x as u64),
        )?;
        row(
            &mut md,
            "RSS after the push",
            &|o| o.rss_pushed as f64,
            &|x| mib(x as u64),
        )?;
        row(
            &mut md,
            "RSS per series after the push",
            &|o| o.rss_pushed as f64 / SERIES as f64,
            &kib,
        )?;
        row(
            &mut md,
            &format!("samples queryable after the push (of {})", SERIES * SAMPLES),
            &|o| o.stored as f64,
            &|x| format!("{x:.0}"),
        )?;
        for (q, (name, query)) in QUERIES.iter().enumerate() {
            row(
                &mut md,
                &format!("{name}: `{query}`"),
                &|o| o.medians.get(q).map_or(0.0, Duration::as_secs_f64),
                &|x| ms(Duration::from_secs_f64(x)),
            )?;
        }
        row(
            &mut md,
            "queries answered with an error",
            &|o| o.errors as f64,
            &|x| format!("{x:.0}"),
        )?;
        writeln!(
            md,
            "\nAnswers (ours vs 2.42 and Prometheus 3 within {TOLERANCE:e} relative; VictoriaMetrics's `rate` does not extrapolate, so it is only reported):\n"
        )?;
        for (q, (name, _)) in QUERIES.iter().enumerate() {
            for other in o.iter().skip(1) {
                writeln!(
                    md,
                    "- {name}, ours vs {}: {}",
                    other.name,
                    describe(&o[0].answers[q], &other.answers[q], other.name)
                )?;
            }
        }
        Ok(md)
    }

    /// Whether ours and 2.42 gave the same answers.
    pub(super) fn ours_agrees_with_upstream(&self) -> bool {
        let o = &self.outcomes;
        (0..QUERIES.len()).all(|q| match (&o[0].answers[q], &o[1].answers[q]) {
            (Ok(a), Ok(b)) => agreement(a, b).agrees(),
            _ => false,
        })
    }
}

/// `bench --scale [--runs N]`: only this phase; writes `target/bench/scale.md`.
pub(super) fn run(
    ours_bin: &Path,
    prom3: Option<&Path>,
    runs: usize,
    hold: Duration,
) -> Result<()> {
    let scale = compare(ours_bin, prom3, runs, hold)?;
    let mut md = scale.markdown()?;
    writeln!(
        md,
        "\nMemory breakdown (from /proc/PID/status):\n\n| phase | server | RssAnon | RssFile | threads |\n| --- | --- | --- | --- | --- |\n{}",
        scale.breakdown
    )?;
    print!("{md}");
    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("scale.md"), &md).context("writing target/bench/scale.md")?;
    println!("\nwritten to target/bench/scale.md");
    if !scale.ours_agrees_with_upstream() {
        bail!("ours and Prometheus 2.42 answered differently (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_every_series_only_grows() {
        for h in [0, 7, HISTOGRAMS - 1] {
            for step in 0..8 {
                let counts: Vec<f64> = (0..LES.len())
                    .map(|b| {
                        Series::Bucket {
                            histogram: h,
                            bucket: b,
                        }
                        .increment(step)
                    })
                    .collect();
                assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
            }
        }
        assert!(matches!(Series::nth(COUNTERS - 1), Series::Counter(c) if c == COUNTERS - 1));
        assert!(matches!(
            Series::nth(SERIES - 1),
            Series::Bucket { histogram, bucket } if histogram == HISTOGRAMS - 1 && bucket == LES.len() - 1
        ));
        assert_eq!(SERIES, 20_000);
    }

    #[test]
    fn answers_compare_point_by_point() {
        let m = |pts: &[(f64, f64)]| Matrix::from([("a=1".to_string(), pts.to_vec())]);
        let a = m(&[(1.0, 1.0), (2.0, f64::NAN)]);
        assert!(agreement(&a, &m(&[(1.0, 1.0 + 1e-9), (2.0, f64::NAN)])).agrees());
        let g = agreement(&a, &m(&[(1.0, 1.1), (3.0, 1.0)]));
        assert_eq!((g.points, g.off), (2, 3));
        assert!(!agreement(&a, &Matrix::new()).agrees());
    }

    #[test]
    fn a_matrix_answer_parses() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"le":"+Inf"},"values":[[1700000000.5,"0.25"],[1700000015.5,"NaN"]]}]}}"#;
        let m = parse_matrix(200, body).expect("parses");
        let p = &m[r#"le="+Inf""#];
        assert_eq!(p[0], (1_700_000_000.5, 0.25));
        assert!(p[1].1.is_nan());
        assert!(parse_matrix(400, br#"{"status":"error","error":"bad"}"#).is_err());
    }
}
