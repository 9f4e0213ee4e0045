//! `--http.config.file` of the commands that talk to a server (`check healthy|ready`,
//! `query ...`, `push metrics`): a loopback server here answers only requests carrying the
//! expected `Authorization` header, so the basic-auth and bearer options of Prometheus's
//! HTTP client configuration are seen to reach it.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ours, text};

/// A loopback HTTP server answering a few Prometheus endpoints when the request carries
/// `auth`, 401 otherwise; it records each request's head and stops by itself after 60 s.
struct AuthServer {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl AuthServer {
    fn start(auth: &str) -> AuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (want, log) = (
            format!("authorization: {auth}").to_lowercase(),
            seen.clone(),
        );
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &want, &log),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        AuthServer { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

fn serve(mut stream: TcpStream, want: &str, log: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if let Ok(mut l) = log.lock() {
        l.push(head.clone());
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let (status, body) = if !head.lines().any(|l| l.trim_end() == want) {
        ("401 Unauthorized", "Unauthorized\n".to_owned())
    } else if path.starts_with("/-/healthy") {
        ("200 OK", "Prometheus Server is Healthy.\n".to_owned())
    } else if path.starts_with("/api/v1/query") {
        (
            "200 OK",
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"x"},"value":[1700000000,"1"]}]}}"#.to_owned(),
        )
    } else if path.starts_with("/api/v1/write") {
        ("204 No Content", String::new())
    } else {
        ("404 Not Found", "404 page not found\n".to_owned())
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn promtool(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(ours())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("promtool runs")
}

/// Basic auth with a relative `password_file` (resolved against the config file's
/// directory, not the working directory), for `check healthy` and `query instant`.
#[test]
fn basic_auth_from_the_http_config_file_reaches_the_server() {
    let server = AuthServer::start("Basic dTpzZWNyZXQ="); // u:secret
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = tmp.path().join("conf");
    std::fs::create_dir(&conf).expect("mkdir");
    std::fs::write(conf.join("pw"), "secret\n").expect("write");
    std::fs::write(
        conf.join("http.yml"),
        "basic_auth:\n  username: u\n  password_file: pw\n",
    )
    .expect("write");
    let cfg = "--http.config.file=conf/http.yml";

    let out = promtool(tmp.path(), &["check", "healthy", "--url", &server.url, cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "  SUCCESS:  Prometheus Server is Healthy.\n\n"
    );
    let out = promtool(tmp.path(), &["check", "healthy", "--url", &server.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("check failed: URL={}, status=401\n", server.url)
    );

    let out = promtool(tmp.path(), &["query", cfg, "instant", &server.url, "up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "up{job=\"x\"} => 1 @[1700000000]\n"
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains("\r\nuser-agent: promtool/")),
        "{requests:?}"
    );
}

/// A bearer token (`authorization.credentials`) for `query` (the flag after the
/// subcommand too) and `push metrics`.
#[test]
fn bearer_credentials_from_the_http_config_file_reach_the_server() {
    let server = AuthServer::start("Bearer t0k3n");
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("http.yml"),
        "authorization:\n  credentials: t0k3n\n",
    )
    .expect("write");
    let cfg = "--http.config.file=http.yml";
    let out = promtool(tmp.path(), &["query", "instant", cfg, &server.url, "up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = promtool(tmp.path(), &["query", "instant", &server.url, "up"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    std::fs::write(tmp.path().join("m.prom"), "some_metric 1\n").expect("write");
    let write_url = format!("{}/api/v1/write", server.url);
    let out = promtool(tmp.path(), &["push", "metrics", cfg, &write_url, "m.prom"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("  SUCCESS: metrics file m.prom pushed"),
        "{}",
        text(&out)
    );
}

/// A user in the server URL is sent as basic authentication, as Go's client does; with an
/// HTTP config file too, promtool refuses as Go's does. Broken config files fail before any
/// request, with Go's fatal message.
#[test]
fn url_credentials_and_broken_config_files() {
    let server = AuthServer::start("Basic dTpzZWNyZXQ=");
    let with_user = server.url.replacen("http://", "http://u:secret@", 1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = promtool(tmp.path(), &["query", "instant", &with_user, "up"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    std::fs::write(tmp.path().join("ok.yml"), "follow_redirects: false\n").expect("write");
    let out = promtool(
        tmp.path(),
        &[
            "query",
            "--http.config.file=ok.yml",
            "instant",
            &with_user,
            "up",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "promtool: error: Cannot set base auth in the server URL and use a http.config.file at the same time\n"
    );

    std::fs::write(
        tmp.path().join("bad.yml"),
        "basic_auth:\n  username: a\nauthorization:\n  credentials: b\n",
    )
    .expect("write");
    let out = promtool(
        tmp.path(),
        &[
            "check",
            "ready",
            "--http.config.file=bad.yml",
            "--url",
            &server.url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "promtool: error: Failed to load HTTP config file: at most one of basic_auth, oauth2 & authorization must be configured\n"
    );
    std::fs::write(
        tmp.path().join("ca.yml"),
        "tls_config:\n  ca_file: missing-ca.pem\n",
    )
    .expect("write");
    let out = promtool(
        tmp.path(),
        &[
            "check",
            "ready",
            "--http.config.file=ca.yml",
            "--url",
            &server.url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("promtool: error: Failed to create a new HTTP round tripper: ")
            && err.contains("missing-ca.pem"),
        "{err}"
    );
    let out = promtool(
        tmp.path(),
        &[
            "check",
            "ready",
            "--http.config.file=nope.yml",
            "--url",
            &server.url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "promtool: error: path 'nope.yml' does not exist, try --help\n"
    );
    std::fs::write(tmp.path().join("r.yml"), "groups: []\n").expect("write");
    let out = promtool(
        tmp.path(),
        &[
            "tsdb",
            "create-blocks-from",
            "rules",
            "--http.config.file=bad.yml",
            "--url",
            &server.url,
            "--start=0",
            "r.yml",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("promtool: error: Failed to load HTTP config file: at most one of"),
        "{}",
        text(&out)
    );
    assert!(
        server.requests().len() == 1,
        "only the first query reached the server: {:?}",
        server.requests()
    );
}

/// `tls_config.ca_file` of the HTTP config file verifies an HTTPS server: `openssl s_server`
/// (answering any GET with its status page) serving upstream's test certificate for
/// 127.0.0.1; without the CA the handshake fails.
#[test]
fn tls_ca_from_the_http_config_file_verifies_an_https_server() {
    let Some(certs) = test_support::testdata_dir("upstream/scrape/testdata") else {
        return;
    };
    if !Path::new("/usr/bin/openssl").is_file() {
        eprintln!("notice: skipping, /usr/bin/openssl not found");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = std::process::Command::new("/usr/bin/openssl")
        .current_dir(&certs)
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
        .args([
            "-cert",
            "server.cer",
            "-key",
            "server.key",
            "-www",
            "-quiet",
        ])
        .args(["-naccept", "3"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl starts");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    // That probe was one of the three connections s_server accepts.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("tls.yml"),
        format!(
            "tls_config:\n  ca_file: {}\n",
            certs.join("ca.cer").display()
        ),
    )
    .expect("write");
    let url = format!("https://127.0.0.1:{port}");
    let out = promtool(
        tmp.path(),
        &[
            "check",
            "healthy",
            "--http.config.file=tls.yml",
            "--url",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("  SUCCESS:  <HTML>"),
        "{}",
        text(&out)
    );
    let out = promtool(tmp.path(), &["check", "healthy", "--url", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        text(&out)
    );
}
