//! Test-side helpers shared by every crate's tests (never a normal dependency).
//!
//! The upstream Prometheus test data and the files a real Prometheus 2.42 wrote live outside
//! the repository, in `../shared/testdata` (see its `SOURCE.md`). Tests find that folder
//! through [`testdata_dir`], which applies the project's rule:
//!
//! - `PROMETHEUS_TESTDATA` names the folder; without it, `../shared/testdata` relative to the
//!   workspace root is used;
//! - when the folder is absent, the test prints a notice and skips ([`testdata_dir`] returns
//!   `None`), unless the `CI` environment variable is set, in which case it panics so that a
//!   CI run can never pass by silently testing nothing.
//!
//! ```
//! if let Some(dir) = test_support::testdata_dir("upstream/config/testdata") {
//!     assert!(dir.is_dir());
//! }
//! ```

use std::path::{Path, PathBuf};

/// The workspace root: the directory holding the top-level `Cargo.toml`.
pub fn workspace_dir() -> PathBuf {
    // CARGO_WORKSPACE_DIR is set by .cargo/config.toml for every cargo invocation; the
    // fallback walks up from this crate's manifest (crates/test-support).
    match std::env::var_os("CARGO_WORKSPACE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

/// The root of the shared test data (`$PROMETHEUS_TESTDATA`, default `../shared/testdata`
/// beside the workspace), whether or not it exists.
pub fn testdata_root() -> PathBuf {
    match std::env::var_os("PROMETHEUS_TESTDATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_dir().join("../shared/testdata"),
    }
}

/// A folder below the shared test data root, or `None` (after printing a notice) when it is
/// absent and `CI` is not set.
///
/// # Panics
/// When the folder is absent and the `CI` environment variable is set.
pub fn testdata_dir(relative: &str) -> Option<PathBuf> {
    let dir = testdata_root().join(relative);
    if dir.exists() {
        return Some(dir);
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(
        !ci,
        "test data {} is missing and CI is set: set PROMETHEUS_TESTDATA to the shared testdata folder",
        dir.display()
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "notice: skipping, test data {} not found (set PROMETHEUS_TESTDATA)",
            dir.display()
        );
    }
    None
}

/// A file or folder of the project's own `testdata/` directory.
pub fn project_testdata(relative: &str) -> PathBuf {
    workspace_dir().join("testdata").join(relative)
}

/// Whether an executable is on `PATH` (for tests that drive a real peer such as Debian's
/// `promtool`).
pub fn have_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Debian's Alertmanager binary (package `prometheus-alertmanager`).
pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// A real Alertmanager on a free loopback port with one receiver that does nothing; killed
/// (and its directory removed) when dropped.
pub struct Alertmanager {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts [`ALERTMANAGER`], or returns `None` after a notice when it is not installed.
    ///
    /// # Panics
    /// When it is not installed and `CI` is set, or when it cannot be started.
    pub fn start() -> Option<Alertmanager> {
        if !Path::new(ALERTMANAGER).is_file() {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "{ALERTMANAGER} is required when CI is set (Debian package prometheus-alertmanager)"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("notice: skipping, {ALERTMANAGER} is not installed");
            }
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory for the Alertmanager");
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: blackhole\nreceivers:\n- name: blackhole\n",
        )
        .expect("writing the Alertmanager's configuration");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting the Alertmanager");
        Some(Alertmanager {
            child,
            addr,
            _dir: dir,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file and directory below `dir` with its size, sorted: compare two listings to
/// assert that something left a directory untouched.
///
/// # Panics
/// When the directory cannot be read (a broken test setup).
pub fn dir_listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .expect("reading a test directory")
            .flatten()
        {
            let m = e.metadata().expect("metadata of a test file");
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len()));
        }
    }
    out.sort();
    out
}
