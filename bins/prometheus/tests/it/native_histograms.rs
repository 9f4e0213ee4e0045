//! Native histograms end to end: pushed over remote write into our server, served by
//! `/api/v1/query` and `/api/v1/query_range` as Prometheus's JSON (compared byte for byte with
//! a real Prometheus 2.42 given the same push, when installed), and recorded by a recording
//! rule as a histogram series that PromQL reads back.

use std::path::Path;
use std::time::Duration;

use super::{
    OURS, Prometheus, REAL, free_port, histogram_5, label, now_ms, post_write, real_installed,
    snappy, wait_for, write_config,
};

const RULES: &str = "groups:\n  - name: hist\n    interval: 1s\n    rules:\n      - record: job:rw_hist:sum\n        expr: sum by (job) (rw_hist)\n";

/// The pushed histogram as Prometheus's API writes it: count 5, sum 2.5, zero bucket 1,
/// buckets (0.5,1] 1 and (1,2] 3.
const HIST_JSON: &str = r#"{"count":"5","sum":"2.5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","3"]]}"#;

/// Starts `bin` on a fresh data directory with `config` and `extra` flags.
fn spawn(bin: &str, dir: &Path, config: &str, extra: &[&str]) -> Prometheus {
    let port = free_port();
    let file = write_config(dir, port, config);
    Prometheus::ready(bin, &file, port, extra)
}

/// The write request: one integer native histogram of `rw_hist{job="e2e"}` at `t`.
fn write_request(t: i64) -> Vec<u8> {
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", "rw_hist"), label("job", "e2e")],
            histograms: vec![histogram_5(t)],
            ..Default::default()
        }],
        ..Default::default()
    };
    snappy(&req)
}

#[test]
fn remote_written_histograms_are_queried_and_recorded_as_prometheus_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n",
        dir.path().join("rules.yml").display()
    );
    let ours = spawn(
        OURS,
        dir.path(),
        &config,
        &["--web.enable-remote-write-receiver"],
    );
    // A whole second, a little in the past, so the instant query's time prints plainly.
    let t_s = now_ms() / 1000 - 2;
    let t_ms = t_s * 1000;
    let body = write_request(t_ms);
    let (status, answer) = post_write(ours.port, &body);
    assert_eq!(status, 204, "{answer}");

    let queries = [
        format!("/api/v1/query?query=rw_hist&time={t_s}"),
        format!("/api/v1/query?query=histogram_count%28rw_hist%29&time={t_s}"),
        format!("/api/v1/query?query=histogram_sum%28rw_hist%29&time={t_s}"),
        format!(
            "/api/v1/query_range?query=rw_hist&start={t_s}&end={}&step=1",
            t_s + 1
        ),
    ];
    let answers: Vec<String> = queries
        .iter()
        .map(|q| {
            let (status, body) = ours.get(q);
            assert_eq!(status, 200, "{q}: {body}");
            body
        })
        .collect();
    assert_eq!(
        answers[0],
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"rw_hist","job":"e2e"}},"histogram":[{t_s},{HIST_JSON}]}}]}}}}"#
        )
    );
    assert_eq!(
        answers[1],
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"job":"e2e"}},"value":[{t_s},"5"]}}]}}}}"#
        )
    );
    assert_eq!(
        answers[3],
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"__name__":"rw_hist","job":"e2e"}},"histograms":[[{t_s},{HIST_JSON}],[{},{HIST_JSON}]]}}]}}}}"#,
            t_s + 1
        )
    );

    // The recording rule sums the histogram into a histogram series of its own.
    let recorded = wait_for(
        &ours,
        "/api/v1/query?query=job%3Arw_hist%3Asum",
        &[r#""histogram":["#],
        Duration::from_secs(30),
    );
    assert!(
        recorded.contains(r#"{"metric":{"__name__":"job:rw_hist:sum","job":"e2e"},"histogram":["#)
            && recorded.contains(&format!(",{HIST_JSON}]}}]")),
        "{recorded}"
    );
    let (_, count) = ours.get("/api/v1/query?query=histogram_count%28job%3Arw_hist%3Asum%29");
    assert!(
        count.contains(r#"{"metric":{"job":"e2e"},"value":["#) && count.contains(r#","5"]}"#),
        "{count}"
    );

    // A real Prometheus given the same push answers the same bytes.
    if !real_installed() {
        return;
    }
    let real = spawn(
        REAL,
        dir.path(),
        &config,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let (status, answer) = post_write(real.port, &body);
    assert_eq!(status, 204, "{answer}");
    for (q, ours) in queries.iter().zip(&answers) {
        let (status, theirs) = real.get(q);
        assert_eq!(status, 200, "{q}: {theirs}");
        assert_eq!(ours, &theirs, "{q}");
    }
    // Its recording rule records the same histogram: read both at one time.
    wait_for(
        &real,
        "/api/v1/query?query=job%3Arw_hist%3Asum",
        &[r#""histogram":["#],
        Duration::from_secs(30),
    );
    // A second after now: both servers hold an evaluation before it.
    let at = now_ms() / 1000 + 1;
    let q = format!("/api/v1/query?query=job%3Arw_hist%3Asum&time={at}");
    let (_, theirs) = real.get(&q);
    let (_, mine) = ours.get(&q);
    assert_eq!(
        mine,
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"job:rw_hist:sum","job":"e2e"}},"histogram":[{at},{HIST_JSON}]}}]}}}}"#
        )
    );
    assert_eq!(mine, theirs);
}
