//! Build stamps for `promtool --version`: the `prometheus` binary's build script body.

/// The shared body, relative to this package, for cargo's rerun check.
const STAMPS_FILE: &str = "../prometheus/build_stamps.rs";

include!("../prometheus/build_stamps.rs");
