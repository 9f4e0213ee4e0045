//! `promtool debug metrics|pprof`: the archive of a real Prometheus 2.42's `/metrics` (the
//! same listing as the real promtool's), and a loud failure where pprof endpoints are missing.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;

use super::{ours, text};

/// The `(name, mode, size)` of each file of a `.tar.gz`, and the first file's content.
fn tar_entries(path: &std::path::Path) -> (Vec<(String, String, usize)>, Vec<u8>) {
    let gz = std::fs::read(path).expect("archive written");
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .expect("gzip");
    let mut out = Vec::new();
    let mut first = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let h = &tar[at..at + 512];
        let field = |r: std::ops::Range<usize>| {
            String::from_utf8_lossy(&h[r])
                .trim_end_matches(['\0', ' '])
                .to_owned()
        };
        let size = usize::from_str_radix(&field(124..136), 8).expect("octal size");
        if out.is_empty() {
            first = tar[at + 512..at + 512 + size].to_vec();
        }
        out.push((field(0..100), field(100..108), size));
        at += 512 + size.div_ceil(512) * 512;
    }
    (out, first)
}

#[test]
fn debug_metrics_archives_the_servers_metrics() {
    let Some(server) = super::query::spawn_prometheus(None, false) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(ours())
        .args(["debug", "metrics", &server.url])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "collecting: {}/metrics\nCompiling debug information complete, all files written in \"debug.tar.gz\".\n",
            server.url
        )
    );
    let (entries, metrics) = tar_entries(&dir.path().join("debug.tar.gz"));
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].0.as_str(), entries[0].1.as_str()),
        ("metrics.txt", "0000666")
    );
    assert!(String::from_utf8_lossy(&metrics).contains("\nprometheus_build_info{"));
}

#[test]
fn debug_pprof_fails_loudly_without_pprof_endpoints() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
            );
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(ours())
        .args(["debug", "pprof", &format!("http://{addr}")])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(&format!(
            "error completing debug command: http://{addr}/debug/pprof/profile?seconds=30 returned HTTP status 404 (the server offers no Go pprof endpoints)"
        )),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("debug.tar.gz").exists());
}
