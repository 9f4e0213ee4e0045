//! A real Prometheus 2.42 on a loopback port for the interop tests, and the protobuf
//! writer their remote-write requests are built with.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REAL: &str = "/usr/bin/prometheus";

/// Whether `/usr/bin/prometheus` is there (a notice when not; a failure under `CI`).
pub(crate) fn have_prometheus() -> bool {
    if Path::new(REAL).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{REAL} is not installed (package prometheus)"
    );
    eprintln!("notice: skipping, {REAL} is not installed");
    false
}

/// A Prometheus 2.42 on a loopback port over a data directory, its log in a file next to
/// it; killed when dropped.
pub(crate) struct Real {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Real {
    /// Starts Prometheus 2.42 on `data` with `args` (flags beyond config, address and
    /// path) and waits until it is ready.
    pub(crate) fn start(data: &Path, args: &[&str]) -> Real {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = data.with_extension("yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
        let log = data.with_extension("log");
        let child = Command::new(REAL)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut r = Real { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = r.http("GET", "/-/ready", &[], b"") {
                return r;
            }
            if let Some(status) = r.child.try_wait().unwrap() {
                panic!(
                    "prometheus 2.42 exited early with {status}: {}",
                    r.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "prometheus 2.42 never became ready: {}",
                r.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What Prometheus 2.42 logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One HTTP/1.0 request: the status and body, `None` when the connection failed.
    pub(crate) fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        let (head, body) = raw.split_once("\r\n\r\n")?;
        Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
    }

    /// The JSON answer of a GET that must answer 200.
    pub(crate) fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.http("GET", path, &[], b"").expect("answered");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Posts a snappy remote-write 1.0 request, which must be accepted.
    pub(crate) fn remote_write(&self, snappy_body: &[u8]) {
        let (status, body) = self
            .http(
                "POST",
                "/api/v1/write",
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Content-Encoding", "snappy"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ],
                snappy_body,
            )
            .expect("remote write answered");
        assert!(status / 100 == 2, "remote write: {status} {body}");
    }

    /// Stops Prometheus 2.42 with SIGTERM (so that it writes what it writes at shutdown)
    /// and asserts a clean exit.
    pub(crate) fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "prometheus 2.42 exited with {status}: {}",
                    self.log_text()
                );
                return;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("prometheus 2.42 did not exit");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A timestamp in ms as the seconds Prometheus's API takes (`1.250`).
pub(crate) fn secs(t: i64) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}

/// Protobuf writing for remote-write requests (prompb's WriteRequest), by hand so that
/// the bytes Prometheus 2.42 receives do not depend on the code under test.
pub(crate) mod proto {
    pub(crate) fn varint(out: &mut Vec<u8>, mut x: u64) {
        while x >= 0x80 {
            out.push((x as u8) | 0x80);
            x >>= 7;
        }
        out.push(x as u8);
    }

    pub(crate) fn field(out: &mut Vec<u8>, num: u32, wire: u8) {
        varint(out, (u64::from(num) << 3) | u64::from(wire));
    }

    pub(crate) fn bytes_field(out: &mut Vec<u8>, num: u32, b: &[u8]) {
        field(out, num, 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }

    /// A `double` field.
    pub(crate) fn f64_field(out: &mut Vec<u8>, num: u32, v: f64) {
        field(out, num, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// A `uint64`/`int64` field (two's complement, as protobuf's int64).
    pub(crate) fn u64_field(out: &mut Vec<u8>, num: u32, v: u64) {
        field(out, num, 0);
        varint(out, v);
    }

    /// Labels as repeated `Label { name = 1; value = 2 }` messages in field `num`.
    pub(crate) fn labels(out: &mut Vec<u8>, num: u32, labels: &model::Labels) {
        for (n, v) in labels.iter() {
            let mut l = Vec::new();
            bytes_field(&mut l, 1, n.as_bytes());
            bytes_field(&mut l, 2, v.as_bytes());
            bytes_field(out, num, &l);
        }
    }

    /// A float `Sample { value = 1; timestamp = 2 }` in field `num`.
    pub(crate) fn sample(out: &mut Vec<u8>, num: u32, t: i64, v: f64) {
        let mut s = Vec::new();
        f64_field(&mut s, 1, v);
        u64_field(&mut s, 2, t as u64);
        bytes_field(out, num, &s);
    }

    /// A whole request of `timeseries` (each a `TimeSeries` message), snappy-compressed.
    pub(crate) fn request(timeseries: &[Vec<u8>]) -> Vec<u8> {
        let mut req = Vec::new();
        for ts in timeseries {
            bytes_field(&mut req, 1, ts);
        }
        snap::raw::Encoder::new().compress_vec(&req).unwrap()
    }
}
