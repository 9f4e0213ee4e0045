//! Native histograms end to end: pushed over remote write into our server, served by
//! `/api/v1/query` and `/api/v1/query_range` as Prometheus's JSON (compared byte for byte with
//! a real Prometheus 2.42 given the same push, when installed), and recorded by a recording
//! rule as a histogram series that PromQL reads back.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use prompb::Message as _;

use super::{Prometheus, free_port};

const RULES: &str = "groups:\n  - name: hist\n    interval: 1s\n    rules:\n      - record: job:rw_hist:sum\n        expr: sum by (job) (rw_hist)\n";

/// The pushed histogram as Prometheus's API writes it: count 5, sum 2.5, zero bucket 1,
/// buckets (0.5,1] 1 and (1,2] 3.
const HIST_JSON: &str = r#"{"count":"5","sum":"2.5","buckets":[[3,"-0.001","0.001","1"],[0,"0.5","1","1"],[0,"1","2","3"]]}"#;

/// Starts `bin` on a fresh data directory with `config` and `extra` flags.
fn spawn(bin: &Path, dir: &Path, config: &str, extra: &[&str]) -> Prometheus {
    let port = free_port();
    let file = dir.join(format!("prometheus-{port}.yml"));
    std::fs::write(&file, config).unwrap();
    let data = tempfile::tempdir().unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", file.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", data.path().display()))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    let mut p = Prometheus {
        child,
        port,
        _data: data,
    };
    p.wait_ready();
    p
}

/// POSTs a snappy-compressed remote-write body; returns (status, body).
fn post_write(port: u16, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

fn label(name: &str, value: &str) -> prompb::Label {
    prompb::Label {
        name: name.into(),
        value: value.into(),
    }
}

/// The write request: one integer native histogram of `rw_hist{job="e2e"}` at `t`.
fn write_request(t: i64) -> Vec<u8> {
    let req = prompb::WriteRequest {
        timeseries: vec![prompb::TimeSeries {
            labels: vec![label("__name__", "rw_hist"), label("job", "e2e")],
            histograms: vec![prompb::Histogram {
                count: Some(prompb::histogram::Count::CountInt(5)),
                zero_count: Some(prompb::histogram::ZeroCount::ZeroCountInt(1)),
                zero_threshold: 0.001,
                sum: 2.5,
                schema: 0,
                positive_spans: vec![prompb::BucketSpan {
                    offset: 0,
                    length: 2,
                }],
                positive_deltas: vec![1, 2],
                timestamp: t,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// Polls `path` on `p` until the body contains `want`, for at most `limit`.
fn wait_for(p: &Prometheus, path: &str, want: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let (_, body) = p.get(path);
        if body.contains(want) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {want}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
        Path::new(env!("CARGO_BIN_EXE_prometheus")),
        dir.path(),
        &config,
        &["--web.enable-remote-write-receiver"],
    );
    // A whole second, a little in the past, so the instant query's time prints plainly.
    let now_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t_s = now_s - 2;
    let t_ms = i64::try_from(t_s * 1000).unwrap();
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
        r#""histogram":["#,
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
    let real = Path::new("/usr/bin/prometheus");
    if !real.exists() {
        eprintln!(
            "skipping the comparison: {} is not installed",
            real.display()
        );
        return;
    }
    let real = spawn(
        real,
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
        r#""histogram":["#,
        Duration::from_secs(30),
    );
    // A second after now: both servers hold an evaluation before it.
    let at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
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
