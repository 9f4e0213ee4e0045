//! `promtool query analyze`: Go's `analyze.go`. Asks a server how the buckets of classic or
//! native histograms change from sample to sample over `--duration` (changed buckets, their
//! total delta, populated buckets) and prints per-series statistics, their distribution over
//! all series, and how often each number of changed buckets occurred.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail};

use crate::gofmt::format_duration_ms;
use crate::http::ApiClient;
use crate::value::{MatrixSeries, Metric, QueryValue, metric_string, parse_query_data};

/// Per-series statistics (Go's `statistics`).
#[derive(Debug, Clone, PartialEq)]
struct Stats {
    min_changed: i64,
    max_changed: i64,
    min_delta: i64,
    max_delta: i64,
    min_pop: i64,
    max_pop: i64,
    total: i64,
    avg_changed: f64,
    avg_delta: f64,
    avg_pop: f64,
}

impl Stats {
    fn new(total: i64) -> Stats {
        Stats {
            min_changed: i64::MAX,
            max_changed: 0,
            min_delta: i64::MAX,
            max_delta: 0,
            min_pop: i64::MAX,
            max_pop: 0,
            total,
            avg_changed: 0.0,
            avg_delta: 0.0,
            avg_pop: 0.0,
        }
    }

    fn step(&mut self, changed: i64, delta: i64, pop: i64) {
        self.min_changed = self.min_changed.min(changed);
        self.max_changed = self.max_changed.max(changed);
        self.min_delta = self.min_delta.min(delta);
        self.max_delta = self.max_delta.max(delta);
        self.min_pop = self.min_pop.min(pop);
        self.max_pop = self.max_pop.max(pop);
    }

    fn text(&self) -> String {
        format!(
            "Bucket stats (min/avg/max) - number of buckets changed: {}/{:.3}/{} total delta of changed buckets: {}/{:.3}/{} number of populated buckets: {}/{:.3}/{}. total number of buckets: {}",
            self.min_changed,
            self.avg_changed,
            self.max_changed,
            self.min_delta,
            self.avg_delta,
            self.max_delta,
            self.min_pop,
            self.avg_pop,
            self.max_pop,
            self.total
        )
    }
}

/// A running min/avg/max (Go's `distribution`).
#[derive(Debug, Clone)]
struct Distribution {
    min: i64,
    max: i64,
    count: i64,
    avg: f64,
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            min: i64::MAX,
            max: 0,
            count: 0,
            avg: 0.0,
        }
    }
}

impl Distribution {
    #[allow(clippy::cast_precision_loss)]
    fn update(&mut self, n: i64) {
        self.min = self.min.min(n);
        self.max = self.max.max(n);
        self.count += 1;
        self.avg += n as f64 / self.count as f64 - self.avg / self.count as f64;
    }

    fn text(&self) -> String {
        format!("min/avg/max: {}/{:.3}/{}", self.min, self.avg, self.max)
    }
}

/// Distributions of the per-series statistics (Go's `metaStatistics`).
#[derive(Debug, Default)]
struct Meta {
    d: [Distribution; 10],
}

impl Meta {
    #[allow(clippy::cast_possible_truncation)]
    fn update(&mut self, s: &Stats) {
        let values = [
            s.min_changed,
            s.avg_changed as i64,
            s.max_changed,
            s.min_delta,
            s.avg_delta as i64,
            s.max_delta,
            s.min_pop,
            s.avg_pop as i64,
            s.max_pop,
            s.total,
        ];
        for (d, v) in self.d.iter_mut().zip(values) {
            d.update(v);
        }
    }

    fn text(&self) -> String {
        let names = [
            "minChanged",
            "avgChanged",
            "maxChanged",
            "minDelta",
            "avgDelta",
            "maxDelta",
            "minPop",
            "avgPop",
            "maxPop",
            "total",
        ];
        let mut out = String::new();
        for (name, d) in names.iter().zip(&self.d) {
            out.push_str(&format!("{name} - {}\n", d.text()));
        }
        out.push_str(&format!("count - {}", self.d[0].count));
        out
    }
}

/// What `query analyze` was asked.
pub(crate) struct AnalyzeArgs<'a> {
    pub(crate) server: &'a str,
    pub(crate) metric_type: &'a str,
    pub(crate) duration_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) matchers: &'a [String],
}

/// Runs the analysis and returns the exit code.
pub(crate) fn run(args: &AnalyzeArgs<'_>) -> u8 {
    match analyze(args) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{e:#}");
            1
        }
    }
}

/// Whether `s` has `_sum` followed by a word boundary (Go's `_sum\b`).
fn sum_suffix_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    s.match_indices("_sum").map(|(i, _)| i).find(|&i| {
        b.get(i + 4)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
    })
}

fn analyze(args: &AnalyzeArgs<'_>) -> anyhow::Result<String> {
    let native = match args.metric_type {
        "nativehistograms" => true,
        "classichistograms" => false,
        other => {
            bail!("analyze type is {other}, must be 'classichistograms' or 'nativehistograms'")
        }
    };
    let client = ApiClient::new(args.server, Vec::new())?;
    let dur = format_duration_ms(args.duration_ms);
    let query = |q: &str| -> anyhow::Result<QueryValue> {
        let params = [
            ("query", q.to_owned()),
            ("time", crate::gofmt::format_f(args.end_ms as f64 / 1000.0)),
        ];
        let (data, _) = client.api("/query", &params, true)?;
        parse_query_data(&data)
    };
    let mut out = String::new();
    let mut meta = Meta::default();
    let mut histo: BTreeMap<i64, i64> = BTreeMap::new();
    if native {
        for m in args.matchers {
            let QueryValue::Matrix(series) = query(&format!("{m}[{dur}]"))? else {
                bail!("query of buckets resulted in non-Matrix");
            };
            for s in &series {
                let Some(stats) = native_stats(s, &mut histo) else {
                    continue;
                };
                out.push_str(&format!("{}={}\n", metric_string(&s.0), stats.text()));
                meta.update(&stats);
            }
        }
    } else {
        for m in args.matchers {
            if sum_suffix_at(m).is_none() {
                bail!(
                    "every classic histogram matcher must have a '_sum' suffix in the metric name, but the matcher '{m}' does not"
                );
            }
        }
        for m in args.matchers {
            let QueryValue::Vector(samples) = query(&format!("last_over_time({m}[{dur}])"))? else {
                bail!("query for metrics resulted in non-Vector");
            };
            for (metric, _, _) in &samples {
                let mut lbs: Metric = metric.clone();
                let name = lbs.remove("__name__").unwrap_or_default();
                let bucket_name = match sum_suffix_at(&name) {
                    Some(i) => format!("{}_bucket{}", &name[..i], &name[i + 4..]),
                    None => name.clone(),
                };
                let pairs: Vec<String> = lbs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                let sel = format!("{bucket_name}{{{}}}[{dur}]", pairs.join(","));
                let QueryValue::Matrix(mut matrix) = query(&sel)? else {
                    bail!("query of buckets resulted in non-Matrix");
                };
                let Some(stats) = classic_stats(&mut matrix, &mut histo)? else {
                    continue;
                };
                out.push_str(&format!("{sel}={}\n", stats.text()));
                meta.update(&stats);
            }
        }
    }
    out.push_str(&meta.text());
    out.push('\n');
    // Go prints its unexported histogram type with %v: `&{map[k:v ...]}`, keys sorted.
    let counts: Vec<String> = histo.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    out.push_str(&format!("&{{map[{}]}}\n", counts.join(" ")));
    Ok(out)
}

/// Go's `calcClassicBucketStatistics`; `None` when there is not enough data.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn classic_stats(
    matrix: &mut [MatrixSeries],
    histo: &mut BTreeMap<i64, i64>,
) -> anyhow::Result<Option<Stats>> {
    let n = matrix.len();
    if n == 0 || matrix[0].1.len() < 2 {
        return Ok(None);
    }
    let samples = matrix[0].1.len();
    let le = |s: &MatrixSeries| {
        s.0.get("le")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    matrix.sort_by(|a, b| le(a).total_cmp(&le(b)));
    let counts_at = |i: usize| -> anyhow::Result<Vec<i64>> {
        let mut counts = vec![0i64; n];
        let first = matrix[0]
            .1
            .get(i)
            .ok_or_else(|| anyhow!("matrix result is not time aligned"))?;
        counts[0] = first.1 as i64;
        for b in 1..n {
            let cur = matrix[b].1.get(i);
            let prev = matrix[b - 1].1.get(i);
            match (cur, prev) {
                (Some(c), Some(p)) if c.0 == p.0 => counts[b] = (c.1 - p.1) as i64,
                _ => bail!("matrix result is not time aligned"),
            }
        }
        Ok(counts)
    };
    let mut stats = Stats::new(n as i64);
    let mut prev = counts_at(0)?;
    let (mut sum_changed, mut total_delta, mut total_pop) = (0i64, 0i64, 0i64);
    for i in 1..samples {
        let cur = counts_at(i)?;
        let pop = cur.iter().filter(|&&c| c != 0).count() as i64;
        let mut changed = 0;
        let mut delta = 0;
        for (c, p) in cur.iter().zip(&prev) {
            if c != p {
                changed += 1;
                delta += (c - p).abs();
            }
        }
        *histo.entry(changed).or_default() += 1;
        sum_changed += changed;
        total_delta += delta;
        total_pop += pop;
        stats.step(changed, delta, pop);
        prev = cur;
    }
    let steps = (samples - 1) as f64;
    stats.avg_changed = sum_changed as f64 / steps;
    stats.avg_delta = total_delta as f64 / steps;
    stats.avg_pop = total_pop as f64 / steps;
    Ok(Some(stats))
}

/// Go's `calcNativeBucketStatistics`; `None` for a float series or a single histogram.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn native_stats(series: &MatrixSeries, histo: &mut BTreeMap<i64, i64>) -> Option<Stats> {
    let hs = &series.2;
    if hs.len() < 2 {
        return None;
    }
    type Bounds = (i32, u64, u64);
    let buckets = |h: &crate::value::SampleHistogram| -> HashMap<Bounds, f64> {
        h.buckets
            .iter()
            .flatten()
            .map(|b| {
                (
                    (b.boundaries, b.upper.to_bits(), b.lower.to_bits()),
                    b.count,
                )
            })
            .collect()
    };
    let mut overall: std::collections::HashSet<Bounds> = std::collections::HashSet::new();
    let mut prev = buckets(&hs[0].1);
    overall.extend(prev.keys().copied());
    let mut stats = Stats::new(0);
    let (mut sum_changed, mut total_delta, mut total_pop) = (0i64, 0i64, 0i64);
    for (_, h) in &hs[1..] {
        let cur = buckets(h);
        overall.extend(cur.keys().copied());
        let pop = h.buckets.as_ref().map_or(0, Vec::len) as i64;
        let mut changed = 0;
        let mut delta = 0;
        for (b, c) in &cur {
            match prev.get(b) {
                None => {
                    changed += 1;
                    delta += *c as i64;
                }
                Some(p) if p != c => {
                    changed += 1;
                    delta += (p - c).abs() as i64;
                }
                Some(_) => {}
            }
        }
        for (b, p) in &prev {
            if !cur.contains_key(b) {
                changed += 1;
                delta += *p as i64;
            }
        }
        *histo.entry(changed).or_default() += 1;
        sum_changed += changed;
        total_delta += delta;
        total_pop += pop;
        stats.step(changed, delta, pop);
        prev = cur;
    }
    let steps = (hs.len() - 1) as f64;
    stats.avg_changed = sum_changed as f64 / steps;
    stats.avg_delta = total_delta as f64 / steps;
    stats.avg_pop = total_pop as f64 / steps;
    stats.total = overall.len() as i64;
    Some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(le: &str, values: &[f64]) -> MatrixSeries {
        let mut m = Metric::new();
        m.insert("le".to_owned(), le.to_owned());
        let floats = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 1000, *v))
            .collect();
        (m, floats, Vec::new())
    }

    #[test]
    fn classic_bucket_changes() {
        // Cumulative buckets over three samples: the second step moves one observation.
        let mut matrix = vec![
            bucket("+Inf", &[3.0, 4.0, 4.0]),
            bucket("0.5", &[1.0, 2.0, 2.0]),
            bucket("1", &[2.0, 3.0, 3.0]),
        ];
        let mut histo = BTreeMap::new();
        let stats = classic_stats(&mut matrix, &mut histo)
            .expect("aligned")
            .expect("enough data");
        assert_eq!((stats.min_changed, stats.max_changed), (0, 1));
        assert_eq!((stats.min_pop, stats.max_pop, stats.total), (3, 3, 3));
        assert_eq!(histo, BTreeMap::from([(0, 1), (1, 1)]));
        assert_eq!(
            stats.text(),
            "Bucket stats (min/avg/max) - number of buckets changed: 0/0.500/1 total delta of changed buckets: 0/0.500/1 number of populated buckets: 3/3.000/3. total number of buckets: 3"
        );
        let mut meta = Meta::default();
        meta.update(&stats);
        assert!(
            meta.text()
                .ends_with("total - min/avg/max: 3/3.000/3\ncount - 1")
        );
    }

    #[test]
    fn native_bucket_changes() {
        use crate::value::{HistogramBucket, SampleHistogram};
        let b = |lower: f64, upper: f64, count: f64| HistogramBucket {
            boundaries: 0,
            lower,
            upper,
            count,
        };
        let h = |buckets: Vec<HistogramBucket>| SampleHistogram {
            count: 0.0,
            sum: 0.0,
            buckets: Some(buckets),
        };
        let series: MatrixSeries = (
            Metric::new(),
            Vec::new(),
            vec![
                (0, h(vec![b(0.0, 1.0, 1.0)])),
                (1000, h(vec![b(0.0, 1.0, 2.0), b(1.0, 2.0, 1.0)])),
            ],
        );
        let mut histo = BTreeMap::new();
        let stats = native_stats(&series, &mut histo).expect("two histograms");
        assert_eq!(
            (
                stats.max_changed,
                stats.max_delta,
                stats.max_pop,
                stats.total
            ),
            (2, 2, 2, 2)
        );
        assert_eq!(histo, BTreeMap::from([(2, 1)]));
        let floats: MatrixSeries = (Metric::new(), vec![(0, 1.0), (1, 2.0)], Vec::new());
        assert!(native_stats(&floats, &mut histo).is_none());
    }

    #[test]
    fn sum_suffix_needs_a_word_boundary() {
        assert_eq!(sum_suffix_at("x_sum"), Some(1));
        assert_eq!(sum_suffix_at("x_sum{a=\"b\"}"), Some(1));
        assert_eq!(sum_suffix_at("x_summary"), None);
    }
}
