//! The scrape loop's append step for benchmarks (`benches/scrape_loop.rs`); not a stable API.

use config::ScrapeConfig;
use model::{Labels, Timestamp};
use storage::Appender;

use crate::Result;
use crate::scrape::{Cache, LoopOptions, append};

/// One target's scrape cache and its job's settings, as a scrape loop holds them.
#[derive(Debug)]
pub struct AppendLoop {
    options: LoopOptions,
    cache: Cache,
    target: Labels,
}

impl AppendLoop {
    /// A loop of job `cfg` for a target with the labels `target`.
    ///
    /// # Errors
    /// As [`crate::Manager::apply_config`] for the job's HTTP client settings.
    pub fn new(cfg: &ScrapeConfig, target: Labels) -> Result<AppendLoop> {
        Ok(AppendLoop {
            options: LoopOptions::new(cfg, 0, &crate::Options::default())?,
            cache: Cache::default(),
            target,
        })
    }

    /// Parses `body` and appends it to `app` at `t` as one scrape does (labels, cache,
    /// staleness, limits); returns the samples added.
    ///
    /// # Errors
    /// The scrape's error (parse errors, limits, storage failures).
    pub fn append(
        &mut self,
        app: &mut dyn Appender,
        body: &[u8],
        content_type: &str,
        t: Timestamp,
    ) -> Result<u64> {
        let (stats, res, _) = append(
            app,
            body,
            content_type,
            t,
            &self.target,
            &self.options,
            &mut self.cache,
        );
        res.map(|()| stats.added)
    }
}
