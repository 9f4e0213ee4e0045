//! The PromQL test-script language of Prometheus's `promql/promqltest` package, and a runner
//! that executes scripts against a [`promql::Engine`] and any storage.
//!
//! A script is a sequence of commands: `load <step>` followed by series lines
//! (`metric{a="b"} 0+10x100`), `clear`, and `eval instant at <t> <query>` or
//! `eval range from <t0> to <t1> step <s> <query>` followed by the expected result
//! (series lines, a bare number for a scalar, `expect ...` lines for failures, warnings, info
//! notes, ordering, strings and range vectors).
//!
//! Main items: [`run_file`] and [`run_script`] (both take a [`StorageFactory`], so that the
//! same scripts run on `storage::MemStorage` ([`mem_storage`]) and on the TSDB head
//! ([`tsdb_storage`])), [`FileResult`], and
//! [`test_engine`] (the engine options Prometheus's own tests use). Series values may be
//! native histograms in the `{{...}}` notation (with its `xN`, `+{{..}}xN` and `-{{..}}xN`
//! expansions), loaded with `append_histogram` and compared as Go's
//! `compareNativeHistogram` does; `load_with_nhcb` also loads classic histogram series as
//! native histograms with custom buckets.

#![warn(missing_docs)]

mod error;
mod nhcb;
mod run;
pub mod script;

pub use error::{Error, Result};
pub use run::{
    Failure, FileResult, Skip, StorageFactory, TestStorage, almost_equal, mem_storage, run_file,
    run_script, test_engine, tsdb_storage,
};
