//! Shared by `difftest` and the benches: builds, the benchmark block, server processes (ours, Prometheus 2.42, VictoriaMetrics) on loopback and a tiny HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// Prometheus 2.42 as Debian ships it.
pub(crate) const UPSTREAM_BIN: &str = "/usr/bin/prometheus";

/// The Prometheus 3 that `difftest` also compares with: Debian's package (the same registry
/// as 2.42), fetched once into `target/peers/` and unpacked there, not installed, so that
/// `/usr/bin/prometheus` stays 2.42. The pinned file is checked by its SHA-256; when the
/// archive has moved on to a newer 3.x build, [`prometheus3`] takes that one and says so.
pub(crate) const PROMETHEUS3_DEB: &str = "prometheus_3.5.3+ds1-6_amd64.deb";
const PROMETHEUS3_SHA256: &str = "593bcced02d8082688ea034dfc543848ad145c5f793aae5aad756c4dbdfa98da";
const DEBIAN: &str = "http://deb.debian.org/debian";

/// The path of a Prometheus 3 binary: `PROMETHEUS3_BIN` if set, else Debian's package
/// (see [`PROMETHEUS3_DEB`]) unpacked under `target/peers/` (fetched with curl on first use).
pub(crate) fn prometheus3() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("PROMETHEUS3_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let peers = workspace_root().join("target/peers");
    let bin = |deb: &str| {
        peers
            .join(deb.trim_end_matches(".deb"))
            .join("usr/bin/prometheus")
    };
    if bin(PROMETHEUS3_DEB).is_file() {
        return Ok(bin(PROMETHEUS3_DEB));
    }
    std::fs::create_dir_all(&peers).with_context(|| format!("creating {}", peers.display()))?;
    let pinned = peers.join(PROMETHEUS3_DEB);
    let pool = format!("{DEBIAN}/pool/main/p/prometheus");
    let deb = if fetch(&format!("{pool}/{PROMETHEUS3_DEB}"), &pinned).is_ok() {
        let sum = run_stdout(Command::new("sha256sum").arg(&pinned))?;
        if !sum.starts_with(PROMETHEUS3_SHA256) {
            bail!(
                "{} has SHA-256 {}, expected {PROMETHEUS3_SHA256}",
                pinned.display(),
                sum.split_whitespace().next().unwrap_or("?")
            );
        }
        PROMETHEUS3_DEB.to_string()
    } else {
        // Debian's pool keeps a file only while a suite lists it: find unstable's build.
        let index = peers.join("Packages.xz");
        fetch(
            &format!("{DEBIAN}/dists/sid/main/binary-amd64/Packages.xz"),
            &index,
        )?;
        let text = run_stdout(Command::new("xz").arg("-dc").arg(&index))?;
        let file = text
            .split("\n\n")
            .find(|stanza| stanza.lines().any(|l| l == "Package: prometheus"))
            .and_then(|stanza| stanza.lines().find_map(|l| l.strip_prefix("Filename: ")))
            .context("Debian unstable lists no prometheus package")?;
        let name = file.rsplit('/').next().unwrap_or(file).to_string();
        if !name.starts_with("prometheus_3.") {
            bail!("Debian unstable's prometheus is {name}, not a 3.x build");
        }
        println!("note: {PROMETHEUS3_DEB} is gone from Debian's archive; using {name}");
        fetch(&format!("{DEBIAN}/{file}"), &peers.join(&name))?;
        name
    };
    let dir = peers.join(deb.trim_end_matches(".deb"));
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(peers.join(&deb))
        .arg(&dir)
        .status()
        .context("running dpkg-deb")?;
    if !status.success() || !bin(&deb).is_file() {
        bail!("unpacking {deb} into {} failed", dir.display());
    }
    Ok(bin(&deb))
}

/// The first line `bin --version` prints, without the build details after it.
pub(crate) fn version_line(bin: &Path) -> Result<String> {
    let out = run_stdout(Command::new(bin).arg("--version"))?;
    let line = out.lines().next().unwrap_or_default();
    Ok(line
        .split(" (")
        .next()
        .unwrap_or(line)
        .replace(", version", ""))
}

/// Downloads `url` into `to` with curl.
fn fetch(url: &str, to: &Path) -> Result<()> {
    println!("== fetching {url}");
    let status = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "-o"])
        .arg(to)
        .arg(url)
        .status()
        .context("running curl")?;
    if !status.success() {
        bail!("downloading {url} failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its standard output.
fn run_stdout(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?} printed no UTF-8"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

/// Builds our server and the block writer example (release) and returns their paths.
/// `XTASK_OURS_BIN` names a server binary to use instead of building one (a debug build,
/// say, where a release build of the whole server is not wanted).
pub(crate) fn build() -> Result<(PathBuf, PathBuf)> {
    let release = workspace_root().join("target/release");
    let given = std::env::var_os("XTASK_OURS_BIN").map(PathBuf::from);
    for (args, artifact) in [
        (
            &[
                "build",
                "--release",
                "-p",
                "prometheus",
                "--bin",
                "prometheus",
            ][..],
            release.join("prometheus"),
        ),
        (
            &[
                "build",
                "--release",
                "-p",
                "tsdb",
                "--example",
                "bench_block",
            ][..],
            release.join("examples/bench_block"),
        ),
    ] {
        if given.is_some() && args.contains(&"prometheus") {
            continue;
        }
        println!("== cargo {}", args.join(" "));
        let status = cargo().args(args).status().context("running cargo build")?;
        if !status.success() {
            // Other work in progress may break the tree for a while; an earlier build is
            // still worth comparing, as long as the output says so.
            if artifact.is_file() && std::env::var_os("XTASK_STRICT_BUILD").is_none() {
                println!(
                    "warning: cargo {} failed; using the existing {} (set XTASK_STRICT_BUILD to refuse)",
                    args.join(" "),
                    artifact.display()
                );
                continue;
            }
            bail!("cargo {} failed", args.join(" "));
        }
    }
    Ok((
        given.unwrap_or_else(|| release.join("prometheus")),
        release.join("examples/bench_block"),
    ))
}

/// Start of the benchmark block (aligned to 2h), as the example's default.
pub(crate) const BLOCK_START: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
/// End of the benchmark block (exclusive).
pub(crate) const BLOCK_END: i64 = BLOCK_START + 7_200_000;

/// The work directory under `target/`, emptied.
pub(crate) fn fresh_dir(name: &str) -> Result<PathBuf> {
    let dir = workspace_root().join("target").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Writes the block into `work/block` and copies it into `work/<server>` for each of `servers`.
/// Returns the block directory (inside `work/block`).
pub(crate) fn prepare_data(block_writer: &Path, work: &Path, servers: &[&str]) -> Result<PathBuf> {
    prepare_data_with(block_writer, work, servers, &[])
}

/// [`prepare_data`] with `extra` arguments for the block writer after DATA_DIR and
/// START_MS (difftest's `native-histograms`).
pub(crate) fn prepare_data_with(
    block_writer: &Path,
    work: &Path,
    servers: &[&str],
    extra: &[&str],
) -> Result<PathBuf> {
    let src = work.join("block");
    let out = Command::new(block_writer)
        .arg(&src)
        .arg(BLOCK_START.to_string())
        .args(extra)
        .output()
        .with_context(|| format!("running {}", block_writer.display()))?;
    if !out.status.success() {
        bail!(
            "block writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let mut block = None;
    for e in std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let e = e?;
        if e.path().join("meta.json").is_file() {
            block = Some(e.path());
        }
    }
    let block = block.context("the block writer wrote no block")?;
    let name = block.file_name().context("block dir name")?;
    for d in servers {
        copy_dir(&block, &work.join(d).join(name))?;
    }
    Ok(block)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Total size of the files under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let md = e.metadata()?;
        n += if md.is_dir() {
            dir_bytes(&e.path())?
        } else {
            md.len()
        };
    }
    Ok(n)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// VictoriaMetrics as Debian ships it.
pub(crate) const VICTORIA_BIN: &str = "/usr/bin/victoria-metrics";

/// A server child process, killed (and reaped) on drop.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) addr: String,
    /// Whether this is Debian's Prometheus 2.42 (which takes the 2.x spelling of a case).
    pub(crate) upstream: bool,
    /// Whether this is VictoriaMetrics (its queries carry `nocache=1`).
    pub(crate) victoria: bool,
    child: Child,
}

impl Server {
    /// Starts `bin` on a free loopback port serving `data`, scraping nothing, and waits
    /// (at most 60s) until `/-/ready` answers 200.
    pub(crate) fn start(
        name: &'static str,
        bin: &Path,
        data: &Path,
        extra: &[&str],
    ) -> Result<Server> {
        Server::start_with_config(name, bin, data, extra, |_| {
            "global:\n  scrape_interval: 1m\n".to_string()
        })
    }

    /// Like [`Server::start`], with the configuration file made by `config` from the
    /// server's own `host:port` (so that it can scrape itself).
    pub(crate) fn start_with_config(
        name: &'static str,
        bin: &Path,
        data: &Path,
        extra: &[&str],
        config_text: impl FnOnce(&str) -> String,
    ) -> Result<Server> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let config = data.join("prometheus.yml");
        std::fs::create_dir_all(data)?;
        std::fs::write(&config, config_text(&addr))
            .with_context(|| format!("writing {}", config.display()))?;
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--storage.tsdb.retention.time=100y".to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        Server::spawn(name, bin, &args, addr, data, "/-/ready")
    }

    /// Starts VictoriaMetrics (single node) on a free loopback port storing into `data`,
    /// with its response cache off and new samples searchable at once (no 30s latency
    /// offset), and waits until `/health` answers 200.
    pub(crate) fn start_victoria(name: &'static str, data: &Path) -> Result<Server> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        std::fs::create_dir_all(data)?;
        let args = [
            format!("-storageDataPath={}", data.display()),
            format!("-httpListenAddr={addr}"),
            "-retentionPeriod=100y".to_string(),
            "-search.disableCache".to_string(),
            "-search.latencyOffset=0s".to_string(),
        ];
        Server::spawn(name, Path::new(VICTORIA_BIN), &args, addr, data, "/health")
    }

    /// Runs `bin args` (output into `data.log`) and waits (at most 60s) until `ready`
    /// answers 200 on `addr`.
    fn spawn(
        name: &'static str,
        bin: &Path,
        args: &[String],
        addr: String,
        data: &Path,
        ready: &str,
    ) -> Result<Server> {
        let log = std::fs::File::create(data.with_extension("log"))?;
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut server = Server {
            name,
            addr,
            upstream: bin == Path::new(UPSTREAM_BIN),
            victoria: bin == Path::new(VICTORIA_BIN),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                bail!(
                    "{name} exited during startup ({status}): {}",
                    log.lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("no output")
                );
            }
            if let Ok((200, _)) = request(&server.addr, "GET", ready, None) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("{name} not ready after 60s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS in bytes from /proc/PID/status.
    pub(crate) fn rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("VmRSS value")?
            .parse()?;
        Ok(kb * 1024)
    }

    /// POSTs a form to `path` and returns (status, body).
    pub(crate) fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, Vec<u8>)> {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect();
        request(
            &self.addr,
            "POST",
            path,
            Some((
                "application/x-www-form-urlencoded",
                &[],
                body.join("&").as_bytes(),
            )),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding for form values.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request body: content type, extra headers, bytes.
pub(crate) type Body<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8]);

/// POSTs one snappy-compressed remote-write 1.0 request to `addr`'s `/api/v1/write`;
/// fails unless it is answered with a 2xx.
pub(crate) fn remote_write(addr: &str, snappy_body: &[u8]) -> Result<()> {
    let (status, resp) = request(
        addr,
        "POST",
        "/api/v1/write",
        Some((
            "application/x-protobuf",
            &[
                ("Content-Encoding", "snappy"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            snappy_body,
        )),
    )?;
    if !(200..300).contains(&status) {
        bail!(
            "remote write to {addr} answered {status}: {}",
            String::from_utf8_lossy(&resp)
        );
    }
    Ok(())
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); returns status and
/// body (Content-Length, chunked, or until close). Times out after 2 minutes.
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<Body<'_>>,
) -> Result<(u16, Vec<u8>)> {
    let (status, _, out) = match body {
        Some((ctype, headers, bytes)) => {
            let mut all = vec![("Content-Type", ctype)];
            all.extend_from_slice(headers);
            exchange(addr, method, path, &all, Some(bytes))?
        }
        None => exchange(addr, method, path, &[], None)?,
    };
    Ok((status, out))
}

/// Response headers: lower-case names, trimmed values, in order.
pub(crate) type Headers = Vec<(String, String)>;

/// One HTTP/1.1 request on a fresh connection (`Connection: close`) with the given headers;
/// a body is sent with its Content-Length. Returns status, headers and body
/// (Content-Length, chunked, or until close). Times out after 2 minutes.
pub(crate) fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<(u16, Headers, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(bytes) = body {
        head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
    }
    head.push_str("\r\n");
    let mut msg = head.into_bytes();
    if let Some(bytes) = body {
        msg.extend_from_slice(bytes);
    }
    stream.write_all(&msg)?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .context("malformed status line")?
        .parse()
        .context("malformed status code")?;
    let (headers, mut out) = read_head_and_body(&mut r)?;
    let framed = headers.iter().any(|(k, v)| {
        k == "content-length" || (k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    });
    if !framed {
        r.read_to_end(&mut out)?;
    }
    Ok((status, headers, out))
}

/// Reads header lines up to the blank line, then the body by Content-Length or chunked
/// encoding (empty when neither is given: the caller decides whether to read to close).
pub(crate) fn read_head_and_body<R: BufRead>(r: &mut R) -> Result<(Headers, Vec<u8>)> {
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .context("chunk size")?;
            if size == 0 {
                line.clear();
                r.read_line(&mut line)?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = get("content-length") {
        let n: usize = n.parse().context("content-length")?;
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok((headers, body))
}

/// Our server's binary, built first unless `no_build` (a debug build, or release with
/// `release`).
pub(crate) fn our_binary(no_build: bool, release: bool) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let mut args = vec!["build", "-p", "prometheus", "--bin", "prometheus"];
    if release {
        args.push("--release");
    }
    if !no_build {
        println!("== cargo {}", args.join(" "));
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(&args)
            .current_dir(workspace_root())
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build failed");
        }
    }
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("prometheus"))
}

/// Finds Prometheus 3 ([`prometheus3`]) and prints which two servers a diff task compares;
/// returns Prometheus 3's binary.
pub(crate) fn announce_peers(ours: &Path) -> Result<PathBuf> {
    let theirs = prometheus3()?;
    println!("== ours {}", ours.display());
    println!("== {} ({})", version_line(&theirs)?, theirs.display());
    Ok(theirs)
}

/// The lines of `testdata/<task>/known-differences.txt` (no comments, no blanks; none when
/// the file is absent).
pub(crate) fn load_known(task: &str) -> Result<Vec<String>> {
    let path = workspace_root().join(format!("testdata/{task}/known-differences.txt"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Formats milliseconds as the API's float seconds.
pub(crate) fn api_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One query case: an instant query at `time`, or a range query. `query` is the line of
/// queries.txt: the expression, or `EXPR => EXPR_2X` where Prometheus 2.42 spells the same
/// query differently (a function renamed in 3.x).
#[derive(Clone, Debug)]
pub(crate) enum Case {
    Instant {
        query: String,
        time: i64,
    },
    Range {
        query: String,
        start: i64,
        end: i64,
        step: i64,
    },
}

impl Case {
    /// The case as written in queries.txt (both spellings when they differ).
    pub(crate) fn query(&self) -> &str {
        match self {
            Case::Instant { query, .. } | Case::Range { query, .. } => query,
        }
    }

    /// The same evaluation times with the single expression `query` (for both servers).
    pub(crate) fn with_query(&self, query: &str) -> Case {
        let mut c = self.clone();
        match &mut c {
            Case::Instant { query: q, .. } | Case::Range { query: q, .. } => {
                *q = query.to_string();
            }
        }
        c
    }

    /// The expression sent to `server`.
    pub(crate) fn expr_for(&self, server: &Server) -> &str {
        match self.query().split_once(" => ") {
            Some((_, old)) if server.upstream => old.trim(),
            Some((new, _)) => new.trim(),
            None => self.query(),
        }
    }

    /// Short description: `instant@T` or `range[S,E,step]`, relative to the block start.
    pub(crate) fn kind(&self) -> String {
        match self {
            Case::Instant { time, .. } => {
                format!("instant @start+{}s", (time - BLOCK_START) as f64 / 1000.0)
            }
            Case::Range {
                start, end, step, ..
            } => format!(
                "range start+{}s..start+{}s step {}s",
                (start - BLOCK_START) as f64 / 1000.0,
                (end - BLOCK_START) as f64 / 1000.0,
                *step as f64 / 1000.0
            ),
        }
    }

    /// Sends the case to `server`; returns (status, body).
    pub(crate) fn run(&self, server: &Server) -> Result<(u16, Vec<u8>)> {
        let query = self.expr_for(server);
        match self {
            Case::Instant { time, .. } => server.post_form(
                "/api/v1/query",
                &[("query", query), ("time", &api_time(*time))],
            ),
            Case::Range {
                start, end, step, ..
            } => {
                let (start, end, step) = (api_time(*start), api_time(*end), api_time(*step));
                let mut form = vec![
                    ("query", query),
                    ("start", &start),
                    ("end", &end),
                    ("step", &step),
                ];
                if server.victoria {
                    form.push(("nocache", "1"));
                }
                server.post_form("/api/v1/query_range", &form)
            }
        }
    }
}

/// Reads `testdata/difftest/queries.txt`: one PromQL expression a line (`#` comments), or
/// `EXPR => EXPR_2X` for a query Prometheus 2.42 spells differently.
/// Each expression gives two instant cases (between samples, and 30 minutes later) and
/// one range case.
pub(crate) fn load_cases() -> Result<Vec<Case>> {
    let path = workspace_root().join("testdata/difftest/queries.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases = Vec::new();
    for line in text.lines() {
        let q = line.trim();
        if q.is_empty() || q.starts_with('#') {
            continue;
        }
        // Evaluation times fall between the 15s sample grid (7.5s off it), so that the
        // 2.x closed and 3.x left-open windows hold the same samples; step 61s keeps the
        // range query's points off the grid too.
        for time in [
            BLOCK_START + 3_600_000 + 7_500,
            BLOCK_START + 5_400_000 + 7_500,
        ] {
            cases.push(Case::Instant {
                query: q.to_string(),
                time,
            });
        }
        cases.push(Case::Range {
            query: q.to_string(),
            start: BLOCK_START + 600_000 + 7_500,
            end: BLOCK_END + 600_000,
            step: 61_000,
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one canned answer per connection and returns what each request was.
    fn serve(answers: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr").to_string();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().expect("accept");
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                r.read_line(&mut line).expect("request line");
                let (headers, body) = read_head_and_body(&mut r).expect("request");
                let mut req = line.into_bytes();
                for (k, v) in headers {
                    req.extend_from_slice(format!("{k}: {v}\n").as_bytes());
                }
                req.extend_from_slice(&body);
                seen.push(req);
                r.into_inner().write_all(answer.as_bytes()).expect("answer");
            }
            seen
        });
        (addr, handle)
    }

    #[test]
    fn exchange_reads_every_framing_and_request_sends_type_and_length() {
        let (addr, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcdef",
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\n\r\nuntil close",
        ]);
        let (status, headers, body) =
            exchange(&addr, "GET", "/x", &[("Accept", "text/plain")], None).expect("first");
        assert_eq!((status, body.as_slice()), (200, &b"abc"[..]));
        assert!(headers.contains(&("x-a".into(), "b".into())));
        let (status, body) = request(
            &addr,
            "POST",
            "/y",
            Some(("application/x-protobuf", &[("X-V", "2")], b"hi")),
        )
        .expect("second");
        assert_eq!((status, body.as_slice()), (201, &b"abc"[..]));
        let (status, _, body) = exchange(&addr, "POST", "/z", &[], Some(b"")).expect("third");
        assert_eq!((status, body.as_slice()), (404, &b"until close"[..]));
        let seen: Vec<String> = server
            .join()
            .expect("server thread")
            .into_iter()
            .map(|r| String::from_utf8(r).expect("utf-8"))
            .collect();
        assert!(seen[0].starts_with("GET /x HTTP/1.1"), "{}", seen[0]);
        assert!(seen[0].contains("accept: text/plain\n"), "{}", seen[0]);
        assert!(!seen[0].contains("content-length"), "{}", seen[0]);
        assert!(seen[1].contains("content-type: application/x-protobuf\n"));
        assert!(seen[1].contains("x-v: 2\n"));
        assert!(seen[1].ends_with("content-length: 2\nhi"), "{}", seen[1]);
        assert!(seen[2].ends_with("content-length: 0\n"), "{}", seen[2]);
    }
}
