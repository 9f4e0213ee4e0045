//! Prints every sample of the persistent blocks of a data directory, one per line as
//! `promtool tsdb dump` does (`{labels} value timestamp_ms`), then a summary per block.
//!
//! Run: `cargo run -p tsdb --example dump_blocks -- /path/to/data [mint maxt]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;

use model::{MatchType, Matcher};
use storage::{Querier, ValueType};
use tsdb::block::{Block, block_dirs};
use tsdb::querier::BlockQuerier;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: dump_blocks DATA_DIR [MINT MAXT]")?,
    );
    let mint: i64 = args.next().map_or(Ok(i64::MIN), |s| s.parse())?;
    let maxt: i64 = args.next().map_or(Ok(i64::MAX), |s| s.parse())?;
    // Every series has a metric name; `=~".+"` on it selects them all.
    let all = [Matcher::new(MatchType::RegexMatch, "__name__", ".+")?];
    for d in block_dirs(&dir)? {
        let block = Block::open(&d)?;
        let meta = block.meta().clone();
        let q = BlockQuerier::new(Arc::new(block), mint, maxt);
        let mut set = q.select(true, None, &all);
        let (mut series, mut samples) = (0u64, 0u64);
        while let Some(s) = set.next() {
            let s = s?;
            series += 1;
            let mut it = s.iterator();
            while it.next() == ValueType::Float {
                let (t, v) = it.at();
                println!("{} {v} {t}", s.labels());
                samples += 1;
            }
            if let Some(e) = it.err() {
                return Err(format!("reading {}: {e}", s.labels()).into());
            }
        }
        eprintln!(
            "block {} [{}, {}) level {}: {series} series, {samples} samples",
            meta.ulid, meta.min_time, meta.max_time, meta.compaction.level
        );
    }
    Ok(())
}
