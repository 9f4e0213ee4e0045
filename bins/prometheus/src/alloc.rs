//! glibc malloc tuning: fixed trim and mmap thresholds, and a background thread that hands freed pages back to the kernel (as Go's scavenger does).
//!
//! With glibc's defaults a server like this one keeps most of what it ever freed: each
//! thread that allocates gets one of up to 8 arenas per core, freeing one large (mmapped)
//! buffer raises the mmap threshold to its size and the trim threshold to twice that (so
//! arenas then keep megabytes of free memory at their top for good), and free memory
//! between live chunks only goes back with `malloc_trim`. Measured with `cargo xtask bench`:
//! after the query run 0.5 MiB of 46 MiB of arena memory was in use, after the
//! remote-write push 19 of 78 MiB.
//!
//! The thread trims when the process's anonymous resident memory grew by 2 MiB since the
//! last trim (checked every second: a burst of work such as a remote-write push or a run of
//! queries ended, or live data grew, when a trim finds little to return and costs little)
//! and every 10 s in any case. Malloc's own statistics are no such signal: its free-byte
//! count includes pages a trim already returned (and a check once a second rarely sees the
//! short dip of a query's allocations), and its in-use count includes mmapped buffers never
//! touched. With them the bench's run of small queries ended with 12-16 MiB of anonymous
//! RSS of which 0.5 MiB was in use. Trimming only every 10 s left the RSS right after a
//! push at 72-94 MiB where 25 MiB of it was in use. A trim of such arenas takes well under
//! a millisecond.
//!
//! The arena count is capped at two per core (glibc's default is eight). Queries run on
//! tokio's blocking threads and on the engine's per-query worker threads, so with glibc's
//! cap every new thread opened another arena and each kept its own partly used pages, which
//! no trim returns: after the bench's query run 9-10 MiB of anonymous RSS stayed after a
//! trim with the default cap, 4-5 MiB with two per core (1 MiB in use). One arena per core
//! made the remote-write receiver's threads contend (`cargo xtask bench`: 1.21M instead of
//! 1.37M samples/s); two per core cost 0-7% of ingest in runs on a loaded machine, within
//! its noise, for 15 MiB less RSS after the 9.6M-sample push.
//!
//! A user who configures malloc through the environment (`GLIBC_TUNABLES` with
//! `glibc.malloc.*`, or `MALLOC_ARENA_MAX` and the other `MALLOC_*` variables) keeps exactly
//! that configuration; the trimming thread runs in any case.

use std::time::Duration;

/// Free memory at the top of an arena above this goes back to the kernel on `free`.
const TRIM_THRESHOLD: usize = 2 << 20;
/// Allocations of at least this size are mmapped (and unmapped when freed), so large
/// query and request buffers neither stay in nor fragment the arenas.
const MMAP_THRESHOLD: usize = 1 << 20;
/// Malloc arenas per core.
const ARENAS_PER_CORE: usize = 2;
/// How often the background thread looks at how much memory malloc holds free.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// It returns free memory when the anonymous resident memory grew by this much since the
/// last trim (a burst of work ended, such as a remote-write push or queries)...
const GROWTH_TRIGGER: usize = 2 << 20;
/// ...and at least this often in any case (pages freed and reused since are dirty again).
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// The environment variables through which glibc's malloc can be configured.
const MALLOC_ENV: [&str; 6] = [
    "MALLOC_ARENA_MAX",
    "MALLOC_ARENA_TEST",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
];

/// Whether `env` configures glibc's malloc (then [`init`] leaves the settings alone).
fn user_configured<'a>(mut env: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    env.any(|(k, v)| {
        MALLOC_ENV.contains(&k) || (k == "GLIBC_TUNABLES" && v.contains("glibc.malloc."))
    })
}

/// Sets the thresholds (unless the environment configures malloc) and
/// starts the trimming thread. Call first thing in `main`, before other threads exist.
pub(crate) fn init() {
    let env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    if !user_configured(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        glibc::configure(TRIM_THRESHOLD, MMAP_THRESHOLD);
        glibc::cap_arenas(ARENAS_PER_CORE * cores);
    }
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".to_string())
        .spawn(|| {
            let mut trimmer = Trimmer::new(std::time::Instant::now(), glibc::anon_resident_bytes());
            loop {
                std::thread::sleep(CHECK_INTERVAL);
                let now = std::time::Instant::now();
                if trimmer.due(now, glibc::anon_resident_bytes()) {
                    glibc::trim();
                    trimmer.trimmed(now, glibc::anon_resident_bytes());
                }
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(err = %err, "Could not start the memory trimming thread");
    }
}

/// When to trim: the anonymous resident memory grew by [`GROWTH_TRIGGER`] bytes since the
/// last trim, or [`TRIM_INTERVAL`] passed.
#[derive(Debug)]
struct Trimmer {
    last: std::time::Instant,
    /// The anonymous resident bytes right after the last trim (or their low point since).
    base: usize,
}

impl Trimmer {
    fn new(now: std::time::Instant, anon: usize) -> Trimmer {
        Trimmer {
            last: now,
            base: anon,
        }
    }

    /// Whether to trim now that `anon` bytes of anonymous memory are resident.
    fn due(&mut self, now: std::time::Instant, anon: usize) -> bool {
        // Less than after the last trim (memory went back without one): the new floor.
        self.base = self.base.min(anon);
        anon - self.base >= GROWTH_TRIGGER || now.duration_since(self.last) >= TRIM_INTERVAL
    }

    fn trimmed(&mut self, now: std::time::Instant, anon: usize) {
        self.last = now;
        self.base = anon;
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    /// Fixed thresholds (setting them also turns off glibc's raising of both after large
    /// frees).
    #[allow(unsafe_code)]
    pub(super) fn configure(trim_threshold: usize, mmap_threshold: usize) {
        let clamp = |v: usize| c_int::try_from(v).unwrap_or(c_int::MAX);
        for (param, value) in [
            (libc::M_TRIM_THRESHOLD, clamp(trim_threshold)),
            (libc::M_MMAP_THRESHOLD, clamp(mmap_threshold)),
        ] {
            // SAFETY: mallopt only changes malloc parameters, is thread-safe and takes
            // plain integers; it returns 0 for a value it rejects (then the default stays).
            if unsafe { libc::mallopt(param, value) } == 0 {
                tracing::debug!(param, value, "mallopt rejected a setting");
            }
        }
    }

    /// At most `arenas` malloc arenas (threads beyond share them). Call before other
    /// threads exist.
    #[allow(unsafe_code)]
    pub(super) fn cap_arenas(arenas: usize) {
        let value = c_int::try_from(arenas.max(1)).unwrap_or(c_int::MAX);
        // SAFETY: as in `configure`.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, value) } == 0 {
            tracing::debug!(value, "mallopt rejected the arena cap");
        }
    }

    /// Resident anonymous bytes: resident minus file-backed pages of `/proc/self/statm`
    /// (pages: size resident shared ...); 0 when it cannot be read.
    pub(super) fn anon_resident_bytes() -> usize {
        statm_anon().unwrap_or(0)
    }

    #[allow(unsafe_code)]
    fn statm_anon() -> Option<usize> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut fields = statm.split_whitespace().skip(1);
        let resident: usize = fields.next()?.parse().ok()?;
        let shared: usize = fields.next()?.parse().ok()?;
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        Some(resident.saturating_sub(shared) * page)
    }

    /// Returns the free pages of every arena to the kernel.
    #[allow(unsafe_code)]
    pub(super) fn trim() {
        let t0 = std::time::Instant::now();
        // SAFETY: malloc_trim takes each arena's lock itself and only releases memory
        // that no live allocation uses.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::trace!(released, took = ?t0.elapsed(), "malloc_trim");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    /// Not glibc: nothing to configure.
    pub(super) fn configure(_trim_threshold: usize, _mmap_threshold: usize) {}

    /// Not glibc: nothing to cap.
    pub(super) fn cap_arenas(_arenas: usize) {}

    /// Not glibc: nothing to trim.
    pub(super) fn trim() {}

    /// Not glibc: nothing to watch.
    pub(super) fn anon_resident_bytes() -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malloc_settings_in_the_environment_are_left_alone() {
        let none: [(&str, &str); 2] = [("PATH", "/usr/bin"), ("GLIBC_TUNABLES", "glibc.rtld.x=1")];
        assert!(!user_configured(none.into_iter()));
        assert!(user_configured([("MALLOC_ARENA_MAX", "4")].into_iter()));
        assert!(user_configured(
            [("GLIBC_TUNABLES", "glibc.rtld.x=1:glibc.malloc.arena_max=2")].into_iter()
        ));
    }

    #[test]
    fn trims_after_growth_or_after_the_interval() {
        let t0 = std::time::Instant::now();
        let base = 3 * GROWTH_TRIGGER;
        let mut t = Trimmer::new(t0, base);
        // Less than the trigger more than after the last trim.
        assert!(!t.due(t0 + CHECK_INTERVAL, base + GROWTH_TRIGGER - 1));
        // Less (memory went back without a trim): the new floor.
        assert!(!t.due(t0 + 2 * CHECK_INTERVAL, base - GROWTH_TRIGGER));
        assert!(t.due(t0 + 3 * CHECK_INTERVAL, base));
        t.trimmed(t0 + 3 * CHECK_INTERVAL, base);
        // Memory that stays where the trim left it does not trim again...
        assert!(!t.due(t0 + 4 * CHECK_INTERVAL, base));
        // ...until the interval has passed.
        assert!(t.due(t0 + 3 * CHECK_INTERVAL + TRIM_INTERVAL, base));
    }

    fn rss_anon_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("RssAnon line")
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn trimming_returns_freed_memory_between_live_chunks() {
        glibc::configure(TRIM_THRESHOLD, MMAP_THRESHOLD);
        // 96 MiB in 64 KiB chunks (below the mmap threshold, so inside an arena); every
        // 16th stays alive, so the freed ones lie between live chunks and no top trim
        // can return them.
        let mut chunks: Vec<Vec<u8>> = (0..1536).map(|i| vec![i as u8; 64 << 10]).collect();
        let kept: Vec<Vec<u8>> = chunks.iter_mut().step_by(16).map(std::mem::take).collect();
        drop(chunks);
        let before = rss_anon_kib();
        glibc::trim();
        let after = rss_anon_kib();
        assert!(
            before.saturating_sub(after) > 48 << 10,
            "RssAnon {before} KiB before malloc_trim, {after} KiB after"
        );
        assert_eq!(kept.len(), 96);
        assert!(kept.iter().enumerate().all(|(i, c)| c[0] == (i * 16) as u8));
    }
}
