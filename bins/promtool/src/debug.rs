//! `promtool debug metrics|pprof|all SERVER`: Go's debug commands. Fetches the server's
//! `/metrics` (and, for `pprof`/`all`, Go's `/debug/pprof/*` profiles, gunzipped as Go's
//! `profile.WriteUncompressed` leaves them) into `debug.tar.gz` in the working directory.
//!
//! Our Prometheus serves no Go pprof endpoints: against it `pprof` and `all` fail on the first
//! profile with its HTTP status, saying so, rather than archiving error pages.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::http::ApiClient;

/// The archive every debug command writes (Go's `debug.tar.gz`).
const TARBALL: &str = "debug.tar.gz";

/// The `debug` subcommands.
#[derive(Subcommand)]
pub(crate) enum DebugCommand {
    /// Fetch profiling debug information.
    Pprof {
        /// Prometheus server to get pprof files from.
        server: String,
    },
    /// Fetch metrics debug information.
    Metrics {
        /// Prometheus server to get metrics from.
        server: String,
    },
    /// Fetch all debug information.
    All {
        /// Prometheus server to get all debug information from.
        server: String,
    },
}

/// One file of the archive: the endpoint, the file name, and whether the body is a
/// (possibly gzipped) profile to store uncompressed.
type Endpoint = (&'static str, &'static str, bool);

const PPROF: &[Endpoint] = &[
    ("/debug/pprof/profile?seconds=30", "cpu.pb", true),
    ("/debug/pprof/block", "block.pb", true),
    ("/debug/pprof/goroutine", "goroutine.pb", true),
    ("/debug/pprof/heap", "heap.pb", true),
    ("/debug/pprof/mutex", "mutex.pb", true),
    ("/debug/pprof/threadcreate", "threadcreate.pb", true),
    ("/debug/pprof/trace?seconds=30", "trace.pb", false),
];

const METRICS: &[Endpoint] = &[("/metrics", "metrics.txt", false)];

/// Runs a `debug` subcommand and returns the exit code.
pub(crate) fn run(cmd: DebugCommand) -> u8 {
    let (server, endpoints): (String, Vec<Endpoint>) = match cmd {
        DebugCommand::Pprof { server } => (server, PPROF.to_vec()),
        DebugCommand::Metrics { server } => (server, METRICS.to_vec()),
        DebugCommand::All { server } => (server, [PPROF, METRICS].concat()),
    };
    match write_archive(&server, &endpoints, std::path::Path::new(TARBALL)) {
        Ok(()) => {
            println!("Compiling debug information complete, all files written in {TARBALL:?}.");
            0
        }
        Err(e) => {
            eprintln!("error completing debug command: {e:#}");
            1
        }
    }
}

fn write_archive(
    server: &str,
    endpoints: &[Endpoint],
    tarball: &std::path::Path,
) -> anyhow::Result<()> {
    let client = ApiClient::new(server, Vec::new())?;
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for (path, name, profile) in endpoints {
        let url = format!("{}{path}", server.trim_end_matches('/'));
        println!("collecting: {url}");
        // CPU profiles and traces take their 30 s on the server.
        let reply = client
            .send(
                hyper::Method::GET,
                &url,
                bytes::Bytes::new(),
                &[],
                Duration::from_secs(90),
            )
            .context("error executing HTTP request")?;
        if reply.status != 200 {
            let hint = if path.starts_with("/debug/pprof") {
                " (the server offers no Go pprof endpoints)"
            } else {
                ""
            };
            bail!("{url} returned HTTP status {}{hint}", reply.status);
        }
        let mut body = reply.body.to_vec();
        if *profile && body.starts_with(&[0x1f, 0x8b]) {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut raw)
                .with_context(|| format!("decompressing the profile from {url}"))?;
            body = raw;
        }
        files.push((name, body));
    }
    let file = std::fs::File::create(tarball)
        .with_context(|| format!("error creating archive {:?}", tarball.display().to_string()))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(&tar(&files))
        .context("error writing into the archive")?;
    gz.finish().context("error writing into the archive")?;
    Ok(())
}

/// A ustar archive of `files` (mode 0666, as Go's `tarGzFileWriter` writes them).
fn tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, body) in files {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
        put(&mut h, 0, &name.as_bytes()[..name.len().min(100)]);
        put(&mut h, 100, b"0000666\0");
        put(&mut h, 108, b"0000000\0");
        put(&mut h, 116, b"0000000\0");
        put(&mut h, 124, format!("{:011o}\0", body.len()).as_bytes());
        put(&mut h, 136, b"00000000000\0");
        put(&mut h, 148, b"        ");
        h[156] = b'0';
        put(&mut h, 257, b"ustar\x0000");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_layout() {
        let t = tar(&[("metrics.txt", b"up 1\n".to_vec())]);
        assert_eq!(t.len(), 512 + 512 + 1024);
        assert_eq!(&t[..11], b"metrics.txt");
        assert_eq!(&t[124..136], b"00000000005\0");
        assert_eq!(&t[257..265], b"ustar\x0000");
        assert_eq!(&t[512..517], b"up 1\n");
        // The checksum counts its own field as spaces.
        let mut h = t[..512].to_vec();
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let field = std::str::from_utf8(&t[148..154]).expect("octal digits");
        assert_eq!(u32::from_str_radix(field, 8), Ok(sum));
    }
}
