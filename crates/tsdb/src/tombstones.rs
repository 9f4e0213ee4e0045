//! The tombstones file of a block: deleted time ranges per series.
//!
//! Format (Go's `tsdb/tombstones`): `magic 0x0130BA30 (4B) | version 1 (1B) | entries | CRC32-C`
//! where each entry is `series ref uvarint | mint varint | maxt varint`, and the CRC covers the
//! entries but not the version byte.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::index::encoding::{Decbuf, Encbuf};

/// The magic number at the start of a tombstones file.
pub const MAGIC_TOMBSTONE: u32 = 0x0130_BA30;
/// The tombstones format version.
pub const TOMBSTONE_FORMAT_V1: u8 = 1;
/// The tombstones file name inside a block.
pub const TOMBSTONES_FILENAME: &str = "tombstones";

/// A closed time interval `[mint, maxt]` (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

impl Interval {
    /// Whether `t` lies in the interval.
    pub fn contains(&self, t: i64) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// Adds `n` to sorted, non-overlapping intervals, merging overlapping or adjacent ones.
pub fn add_interval(ivs: &mut Vec<Interval>, n: Interval) {
    ivs.push(n);
    ivs.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(ivs.len());
    for iv in ivs.drain(..) {
        match out.last_mut() {
            Some(last) if iv.mint <= last.maxt.saturating_add(1) => {
                last.maxt = last.maxt.max(iv.maxt);
            }
            _ => out.push(iv),
        }
    }
    *ivs = out;
}

/// The deleted intervals of a block's series, by series reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    map: BTreeMap<u64, Vec<Interval>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Tombstones {
        Tombstones::default()
    }

    /// Marks `iv` of series `r` deleted.
    pub fn add(&mut self, r: u64, iv: Interval) {
        add_interval(self.map.entry(r).or_default(), iv);
    }

    /// The deleted intervals of series `r` (sorted, non-overlapping).
    pub fn get(&self, r: u64) -> &[Interval] {
        self.map.get(&r).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every series with tombstones and its intervals.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[Interval])> {
        self.map.iter().map(|(r, v)| (*r, v.as_slice()))
    }

    /// The number of intervals.
    pub fn total(&self) -> usize {
        self.map.values().map(Vec::len).sum()
    }

    /// Whether there are no tombstones.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Encodes the file contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encbuf::default();
        e.put_be32(MAGIC_TOMBSTONE);
        e.put_byte(TOMBSTONE_FORMAT_V1);
        for (r, ivs) in &self.map {
            for iv in ivs {
                e.put_uvarint(*r);
                e.put_varint(iv.mint);
                e.put_varint(iv.maxt);
            }
        }
        let crc = crc32c::crc32c(&e.b[5..]);
        e.put_be32(crc);
        e.b
    }

    /// Decodes a tombstones file's contents; `path` names it in errors.
    pub fn decode(b: &[u8], path: &Path) -> Result<Tombstones> {
        let corrupt = |offset: u64, msg: String| Error::Corrupt {
            path: path.to_path_buf(),
            offset,
            msg,
        };
        if b.len() < 9 {
            return Err(corrupt(
                0,
                format!("tombstones file of {} bytes is too short", b.len()),
            ));
        }
        let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if magic != MAGIC_TOMBSTONE {
            return Err(corrupt(
                0,
                format!("invalid tombstones magic {magic:#010x}"),
            ));
        }
        if b[4] != TOMBSTONE_FORMAT_V1 {
            return Err(corrupt(4, format!("unknown tombstones format {}", b[4])));
        }
        let body = &b[5..b.len() - 4];
        let crc_at = b.len() - 4;
        let stored = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
        let computed = crc32c::crc32c(body);
        if stored != computed {
            return Err(corrupt(
                crc_at as u64,
                format!(
                    "tombstones checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                ),
            ));
        }
        let mut d = Decbuf::new(body, 5);
        let mut t = Tombstones::new();
        while !d.is_empty() {
            let r = d.uvarint("series reference").map_err(|c| c.in_file(path))?;
            let mint = d.varint("interval start").map_err(|c| c.in_file(path))?;
            let maxt = d.varint("interval end").map_err(|c| c.in_file(path))?;
            t.add(r, Interval { mint, maxt });
        }
        Ok(t)
    }

    /// Reads `dir/tombstones`; a missing file means no tombstones.
    pub fn read(dir: &Path) -> Result<Tombstones> {
        let path = dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(b) => Tombstones::decode(&b, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::new()),
            Err(source) => Err(Error::Io {
                op: "reading",
                path,
                source,
            }),
        }
    }

    /// Writes `dir/tombstones` (through a temporary file, fsynced, renamed into place).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(TOMBSTONES_FILENAME);
        let tmp = dir.join(format!("{TOMBSTONES_FILENAME}.tmp"));
        crate::block::write_file_synced(&tmp, &self.encode())?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
            op: "renaming",
            path,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_when_overlapping_or_adjacent() {
        let mut ivs = Vec::new();
        add_interval(&mut ivs, Interval { mint: 10, maxt: 20 });
        add_interval(&mut ivs, Interval { mint: 30, maxt: 40 });
        add_interval(&mut ivs, Interval { mint: 21, maxt: 25 });
        assert_eq!(
            ivs,
            vec![
                Interval { mint: 10, maxt: 25 },
                Interval { mint: 30, maxt: 40 }
            ]
        );
        add_interval(
            &mut ivs,
            Interval {
                mint: i64::MIN,
                maxt: 35,
            },
        );
        assert_eq!(
            ivs,
            vec![Interval {
                mint: i64::MIN,
                maxt: 40
            }]
        );
    }

    #[test]
    fn round_trips_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Tombstones::read(dir.path()).unwrap().is_empty());
        let mut t = Tombstones::new();
        t.add(
            16,
            Interval {
                mint: -5,
                maxt: 100,
            },
        );
        t.add(32, Interval { mint: 7, maxt: 9 });
        t.write(dir.path()).unwrap();
        assert_eq!(Tombstones::read(dir.path()).unwrap(), t);
        // An empty tombstones file is 9 bytes, like Prometheus's.
        assert_eq!(Tombstones::new().encode().len(), 9);
        let mut b = t.encode();
        let n = b.len();
        b[n - 6] ^= 1;
        let err = Tombstones::decode(&b, Path::new("x/tombstones")).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        assert!(Tombstones::decode(&b[..4], Path::new("t")).is_err());
    }
}
