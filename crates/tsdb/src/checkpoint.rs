//! WAL checkpoints (`wal/checkpoint.NNNNNNNN/`), as Prometheus's `tsdb/wlog/checkpoint.go`.
//!
//! A checkpoint is a WAL directory holding what is still needed from the segments up to
//! `NNNNNNNN` (and from the previous checkpoint): series records of live series, and samples,
//! tombstones and exemplars at or after the truncation time. Replay reads the newest
//! checkpoint, then the segments after it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::{self, RecordType};
use crate::wlog::reader::{Reader, SegmentReader};
use crate::wlog::{self, Compression, SyncPolicy, Wal, WalOptions};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// What a checkpoint kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Series records read.
    pub total_series: usize,
    /// Series records dropped (series no longer in the head).
    pub dropped_series: usize,
    /// Samples read.
    pub total_samples: usize,
    /// Samples dropped (older than the truncation time).
    pub dropped_samples: usize,
    /// Tombstones read.
    pub total_tombstones: usize,
    /// Tombstones dropped.
    pub dropped_tombstones: usize,
    /// Exemplars read.
    pub total_exemplars: usize,
    /// Exemplars dropped (older than the truncation time).
    pub dropped_exemplars: usize,
    /// Records of kinds this implementation does not rewrite (metadata, native
    /// histograms, unknown types): dropped.
    pub dropped_other_records: usize,
}

/// The path of checkpoint `index` in the WAL directory `dir`.
pub fn checkpoint_dir(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{index:08}"))
}

/// The checkpoints in `dir`, sorted by index.
///
/// # Errors
/// When the directory can't be read.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|source| Error::Io {
        op: "listing",
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(idx) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !idx.bytes().all(|b| b.is_ascii_digit()) || idx.is_empty() {
            continue;
        }
        if let Ok(i) = idx.parse::<u64>()
            && e.path().is_dir()
        {
            out.push((i, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest checkpoint of `dir`, if any.
///
/// # Errors
/// When the directory can't be read.
pub fn last_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    Ok(list_checkpoints(dir)?.pop())
}

/// Deletes the checkpoints with an index below `max_index`.
///
/// # Errors
/// On I/O errors.
pub fn delete_checkpoints(dir: &Path, max_index: u64) -> Result<()> {
    for (i, path) in list_checkpoints(dir)? {
        if i >= max_index {
            break;
        }
        fs::remove_dir_all(&path).map_err(|source| Error::Io {
            op: "deleting",
            path,
            source,
        })?;
    }
    Ok(())
}

/// Deletes leftover temporary checkpoints (from a crash during checkpointing).
pub fn delete_temp_checkpoints(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TMP_SUFFIX))
        {
            // Best effort: a leftover only costs disk space and is retried next time.
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `checkpoint.{last}` from the previous checkpoint and segments `first..=last` of the
/// WAL in `dir`: series records for which `keep(ref)` holds, samples and exemplars at or
/// after `mint`, and tombstones ending at or after `mint`. The checkpoint is built in a
/// temporary directory and renamed into place, so a crash never leaves a partial one.
///
/// # Errors
/// On I/O errors, or when the segments read are damaged (repair is not possible here: the
/// head would not know which series records are lost).
pub fn checkpoint(
    dir: &Path,
    first: u64,
    last: u64,
    keep: &dyn Fn(u64) -> bool,
    mint: i64,
    compression: Compression,
) -> Result<CheckpointStats> {
    let mut files = Vec::new();
    let mut from = first;
    if let Some((idx, cp)) = last_checkpoint(dir)? {
        if first > idx + 1 {
            return Err(Error::InvalidArgument(format!(
                "unexpected gap to the last checkpoint {idx} in {}: asked from segment {first}",
                dir.display()
            )));
        }
        from = idx + 1;
        for k in wlog::list_segments(&cp)? {
            files.push((cp.clone(), k, wlog::segment_name(&cp, k)));
        }
    }
    for k in wlog::list_segments(dir)? {
        if k >= from && k <= last {
            files.push((dir.to_path_buf(), k, wlog::segment_name(dir, k)));
        }
    }
    delete_temp_checkpoints(dir);
    let final_dir = checkpoint_dir(dir, last);
    let tmp = PathBuf::from(format!("{}{TMP_SUFFIX}", final_dir.display()));
    let result = write_checkpoint(files, &tmp, keep, mint, compression);
    let stats = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(|source| Error::Io {
            op: "deleting",
            path: final_dir.clone(),
            source,
        })?;
    }
    fs::rename(&tmp, &final_dir).map_err(|source| Error::Io {
        op: "renaming",
        path: tmp.clone(),
        source,
    })?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(stats)
}

fn write_checkpoint(
    files: Vec<(PathBuf, u64, PathBuf)>,
    tmp: &Path,
    keep: &dyn Fn(u64) -> bool,
    mint: i64,
    compression: Compression,
) -> Result<CheckpointStats> {
    let mut stats = CheckpointStats::default();
    let mut cp = Wal::open(
        tmp,
        WalOptions {
            compression,
            sync: SyncPolicy::OnSegmentClose,
            ..WalOptions::default()
        },
    )?;
    let mut r = Reader::new(SegmentReader::open_files(files)?);
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut batch_bytes = 0;
    let (mut series, mut samples, mut stones) = (Vec::new(), Vec::new(), Vec::new());
    let mut exemplars = Vec::new();
    // The newest metadata of each kept series, written as one record at the end (as Go).
    let mut metadata: std::collections::BTreeMap<u64, record::RefMetadata> =
        std::collections::BTreeMap::new();
    let mut md = Vec::new();
    loop {
        let rec = match r.next_record() {
            Ok(Some(rec)) => rec,
            Ok(None) => break,
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        match RecordType::of(rec) {
            RecordType::Series => {
                series.clear();
                record::decode_series(rec, &mut series)?;
                let n = series.len();
                series.retain(|s| keep(s.series_ref));
                stats.total_series += n;
                stats.dropped_series += n - series.len();
                if !series.is_empty() {
                    record::encode_series(&series, &mut out);
                }
            }
            RecordType::Samples | RecordType::SamplesV2 => {
                samples.clear();
                record::decode_samples(rec, &mut samples)?;
                let n = samples.len();
                samples.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - samples.len();
                if !samples.is_empty() {
                    record::encode_samples(&samples, &mut out);
                }
            }
            RecordType::Tombstones => {
                stones.clear();
                record::decode_tombstones(rec, &mut stones)?;
                let n = stones.len();
                stones.retain(|s| s.maxt >= mint);
                stats.total_tombstones += n;
                stats.dropped_tombstones += n - stones.len();
                if !stones.is_empty() {
                    record::encode_tombstones(&stones, &mut out);
                }
            }
            RecordType::Exemplars => {
                exemplars.clear();
                record::decode_exemplars(rec, &mut exemplars)?;
                let n = exemplars.len();
                exemplars.retain(|e| e.t >= mint);
                stats.total_exemplars += n;
                stats.dropped_exemplars += n - exemplars.len();
                if !exemplars.is_empty() {
                    record::encode_exemplars(&exemplars, &mut out);
                }
            }
            RecordType::HistogramSamples => {
                let mut hs = Vec::new();
                record::decode_histogram_samples(rec, &mut hs)?;
                let n = hs.len();
                hs.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - hs.len();
                // Custom-bucket histograms keep their own record type (9), as Prometheus
                // writes them.
                let custom = rec.first() == Some(&9);
                if !hs.is_empty() {
                    record::encode_histogram_samples(&hs, custom, &mut out);
                }
            }
            RecordType::FloatHistogramSamples => {
                let mut hs = Vec::new();
                record::decode_float_histogram_samples(rec, &mut hs)?;
                let n = hs.len();
                hs.retain(|s| s.t >= mint);
                stats.total_samples += n;
                stats.dropped_samples += n - hs.len();
                let custom = rec.first() == Some(&10);
                if !hs.is_empty() {
                    record::encode_float_histogram_samples(&hs, custom, &mut out);
                }
            }
            RecordType::Metadata => {
                md.clear();
                record::decode_metadata(rec, &mut md)?;
                for m in md.drain(..) {
                    if keep(m.series_ref) {
                        metadata.insert(m.series_ref, m);
                    }
                }
            }
            _ => stats.dropped_other_records += 1,
        }
        if out.is_empty() {
            continue;
        }
        batch_bytes += out.len();
        batch.push(out);
        if batch_bytes > 1024 * 1024 {
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            cp.log(&refs)?;
            batch.clear();
            batch_bytes = 0;
        }
    }
    if !metadata.is_empty() {
        let md: Vec<record::RefMetadata> = metadata.into_values().collect();
        let mut out = Vec::new();
        record::encode_metadata(&md, &mut out);
        batch.push(out);
    }
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    cp.log(&refs)?;
    cp.close()?;
    if let Ok(d) = fs::File::open(tmp) {
        let _ = d.sync_all();
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RefFloatHistogramSample, RefHistogramSample, RefSeries};
    use crate::wlog::reader::{Reader, SegmentReader};
    use model::histogram::CUSTOM_BUCKETS_SCHEMA;
    use model::{Histogram, Labels};

    #[test]
    fn histogram_records_are_kept_from_mint_with_their_types() {
        let dir = tempfile::tempdir().unwrap();
        let h = |t: i64, schema: i32| RefHistogramSample {
            series_ref: 1,
            t,
            h: Histogram {
                schema,
                count: 1,
                custom_values: if schema == CUSTOM_BUCKETS_SCHEMA {
                    vec![1.0]
                } else {
                    Vec::new()
                },
                ..Histogram::default()
            },
        };
        {
            let mut w = Wal::open(dir.path(), WalOptions::default()).unwrap();
            let mut recs: Vec<Vec<u8>> = vec![Vec::new(); 4];
            record::encode_series(
                &[RefSeries {
                    series_ref: 1,
                    labels: Labels::from_pairs([("a", "b")]),
                }],
                &mut recs[0],
            );
            record::encode_histogram_samples(&[h(5, 0), h(50, 0)], false, &mut recs[1]);
            record::encode_histogram_samples(&[h(60, CUSTOM_BUCKETS_SCHEMA)], true, &mut recs[2]);
            let f = RefFloatHistogramSample {
                series_ref: 1,
                t: 7,
                fh: h(7, 0).h.to_float(),
            };
            record::encode_float_histogram_samples(&[f], false, &mut recs[3]);
            let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
            w.log(&refs).unwrap();
            w.close().unwrap();
        }
        let stats = checkpoint(dir.path(), 0, 0, &|_| true, 10, Compression::None).unwrap();
        assert_eq!((stats.total_samples, stats.dropped_samples), (4, 2));
        let (_, cp) = last_checkpoint(dir.path()).unwrap().expect("a checkpoint");
        let mut r = Reader::new(SegmentReader::open(&cp, None, None).unwrap());
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            let mut hs = Vec::new();
            if matches!(RecordType::of(rec), RecordType::HistogramSamples) {
                record::decode_histogram_samples(rec, &mut hs).unwrap();
            }
            got.push((rec[0], hs.iter().map(|s| s.t).collect::<Vec<_>>()));
        }
        assert_eq!(got, [(1, vec![]), (7, vec![50]), (9, vec![60])]);
    }
}
