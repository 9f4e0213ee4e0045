// Shared body of the `prometheus` and `promtool` build scripts (`include!`d by both, so it
// holds no inner doc comment).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={STAMPS_FILE}");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let git_dir = git(&manifest_dir, &["rev-parse", "--absolute-git-dir"]).map(PathBuf::from);
    if let Some(dir) = &git_dir {
        // HEAD names the branch; the branch's ref (loose or packed) names the revision.
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(head_ref) = git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
            let loose = dir.join(head_ref);
            if loose.exists() {
                println!("cargo:rerun-if-changed={}", loose.display());
            }
        }
        // Only files that exist: cargo reruns the script every build for a missing one.
        let packed = dir.join("packed-refs");
        if packed.exists() {
            println!("cargo:rerun-if-changed={}", packed.display());
        }
    }
    let revision = git_dir
        .as_ref()
        .and_then(|_| git(&manifest_dir, &["rev-parse", "HEAD"]));
    let branch = git_dir
        .as_ref()
        .and_then(|_| git(&manifest_dir, &["rev-parse", "--abbrev-ref", "HEAD"]));
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            let out = Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
        .map(|user| match hostname() {
            Some(host) => format!("{user}@{host}"),
            None => user,
        });
    let date = build_date();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    // Go's build tags (`go build -tags`) have cargo features as their counterpart: the
    // features this package is built with, comma-separated, empty when none (as the
    // `tags` label of `prometheus_build_info` reads).
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    let tags = Some(features.join(","));
    emit("PROMETHEUS_REVISION", revision);
    emit("PROMETHEUS_BRANCH", branch);
    emit("PROMETHEUS_BUILD_USER", user);
    emit("PROMETHEUS_BUILD_DATE", date);
    emit("PROMETHEUS_RUSTC_VERSION", rustc_version);
    emit("PROMETHEUS_BUILD_TAGS", tags);
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}

/// Sets `name` for the compiler: the environment's value if set, else `found`, else "unknown".
fn emit(name: &str, found: Option<String>) {
    println!("cargo:rerun-if-env-changed={name}");
    let value = std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .or(found)
        .unwrap_or_else(|| "unknown".to_owned());
    // A newline would end the cargo directive early.
    let value = value.replace(['\n', '\r'], " ");
    println!("cargo:rustc-env={name}={value}");
}

/// One line of `git ARGS` output run in `dir`, or `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

fn hostname() -> Option<String> {
    let from_file = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    from_file.or_else(|| {
        let out = Command::new("hostname").output().ok()?;
        let host = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (!host.is_empty()).then_some(host)
    })
}

/// Build time as Prometheus stamps it (`20060102-15:04:05`, UTC); `SOURCE_DATE_EPOCH` wins.
fn build_date() -> Option<String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => epoch.trim().parse::<i64>().ok()?,
        Err(_) => i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?,
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}{m:02}{d:02}-{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
