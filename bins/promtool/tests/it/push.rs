//! `promtool push metrics`: a text-format file remote-written to a real Prometheus 2.42
//! (with its receiver on) and read back; a failing endpoint exits 1 with the server's status.

use super::{ours, run, text};

#[test]
fn pushed_samples_are_queryable_in_prometheus_2_42() {
    let Some(server) =
        super::query::spawn_prometheus_with(None, false, &["--web.enable-remote-write-receiver"])
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("push.prom");
    std::fs::write(
        &file,
        "# HELP pushed_thing_total X.\n# TYPE pushed_thing_total counter\n\
         pushed_thing_total{k=\"v\",job=\"mine\"} 7\n",
    )
    .expect("write");
    let file = file.to_str().expect("UTF-8");
    let write_url = format!("{}/api/v1/write", server.url);
    let out = run(
        ours(),
        &["push", "metrics", "--label=env=test", &write_url, file],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Parsing metrics file {file}\n  SUCCESS: metrics file {file} pushed to remote write.\n"
        )
    );
    let got = run(
        ours(),
        &["query", "instant", &server.url, "pushed_thing_total"],
    );
    let got = String::from_utf8_lossy(&got.stdout).into_owned();
    // `--label` replaced the default job=promtool; the sample's own job became exported_job.
    assert!(
        got.starts_with("pushed_thing_total{env=\"test\", exported_job=\"mine\", k=\"v\"} => 7 @["),
        "{got}"
    );
    let out = run(
        ours(),
        &[
            "push",
            "metrics",
            &format!("{}/api/v1/nope", server.url),
            file,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("  FAILED: server returned HTTP status 404 Not Found: "),
        "{}",
        text(&out)
    );
}
