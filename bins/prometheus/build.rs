//! Build script: records what `--version`, `/api/v1/status/buildinfo` and
//! `prometheus_build_info` show, as Go's `-ldflags -X` stamps do for Prometheus. The body is
//! `build_stamps.rs`, which `promtool`'s build script includes too. It never fails the build:
//! what it cannot find reads "unknown".
//!
//! Sets `PROMETHEUS_REVISION`, `PROMETHEUS_BRANCH` (from git when building in a checkout),
//! `PROMETHEUS_BUILD_USER` (`user@host`), `PROMETHEUS_BUILD_DATE` (`YYYYMMDD-HH:MM:SS` UTC, or
//! `SOURCE_DATE_EPOCH`), `PROMETHEUS_RUSTC_VERSION` (`rustc -V`, shown where Prometheus
//! shows its Go version) and `PROMETHEUS_BUILD_TAGS` (the enabled cargo features, Go's build
//! tags; empty when none). Each one already set in the environment wins over what the
//! script finds.

/// The shared body, relative to this package, for cargo's rerun check.
const STAMPS_FILE: &str = "build_stamps.rs";

include!("build_stamps.rs");
