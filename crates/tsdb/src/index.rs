//! The index file of a block (formats v1 and v2): reading and writing.
//!
//! Layout (Go's `tsdb/index/index.go`; the upstream format doc still says version 1):
//! `magic 0xBAAAD700 | version | symbols | series (16-byte aligned in v2) | label indices |
//! postings | label offset table | postings offset table | TOC`. Sections carry a length and a
//! CRC32-C; the TOC (six big-endian u64 offsets and a CRC) is the last 52 bytes.
//!
//! Version differences: in v1 a symbol reference and a series reference are byte offsets
//! into the file; in v2 a symbol reference is the symbol's index in the sorted table and a
//! series reference is its offset divided by 16.

pub(crate) mod encoding;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model::Labels;

use crate::block::mmap::MappedFile;
use crate::error::{Error, Result};
use encoding::{Corrupt, DResult, Decbuf, section_at, uvarint_section_at};

pub use writer::IndexWriter;

/// The magic number at the start of an index file.
pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Index format version 1 (Prometheus 2.0 – 2.8).
pub const FORMAT_V1: u8 = 1;
/// Index format version 2 (what Prometheus writes).
pub const FORMAT_V2: u8 = 2;
const HEADER_LEN: usize = 5;
const TOC_LEN: usize = 6 * 8 + 4;
const SERIES_BYTE_ALIGN: u64 = 16;

/// Where each section of an index starts (the table of contents at the end of the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Toc {
    /// The symbol table.
    pub symbols: u64,
    /// The first series entry.
    pub series: u64,
    /// The first label index (unused by readers).
    pub label_indices: u64,
    /// The label offset table (unused by readers).
    pub label_indices_table: u64,
    /// The first postings list.
    pub postings: u64,
    /// The postings offset table.
    pub postings_table: u64,
}

/// A chunk of a series as the index records it: its time range and where it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkMeta {
    /// Timestamp of the chunk's first sample.
    pub min_time: i64,
    /// Timestamp of the chunk's last sample (inclusive).
    pub max_time: i64,
    /// Where the chunk is stored: `segment index << 32 | byte offset` in a block.
    pub chunk_ref: u64,
}

enum Data {
    Mapped(MappedFile),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// Reads a block's index. Every read is bounds- and checksum-checked: corrupt data gives an
/// [`Error::Corrupt`] naming the file and offset.
pub struct IndexReader {
    path: PathBuf,
    data: Data,
    version: u8,
    toc: Toc,
    /// The symbol table, decoded and checked once at open.
    symbols: Symbols,
    /// Label name -> (label value, offset of its postings list), sorted by value.
    postings: BTreeMap<String, Vec<(String, u64)>>,
}

impl std::fmt::Debug for IndexReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexReader")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("toc", &self.toc)
            .finish_non_exhaustive()
    }
}

impl IndexReader {
    /// Opens (memory-maps) the index file at `path`.
    pub fn open(path: &Path) -> Result<IndexReader> {
        let data = MappedFile::open(path)?;
        IndexReader::new(Data::Mapped(data), path.to_path_buf())
    }

    /// The bytes the decoded symbol table takes in memory (its text and per-symbol
    /// offsets; Prometheus's `prometheus_tsdb_symbol_table_size_bytes` sums this over the
    /// loaded blocks).
    pub fn symbol_table_size(&self) -> u64 {
        let s = &self.symbols;
        (s.text.len() + 4 * (s.ends.len() + s.offsets.len())) as u64
    }

    /// Reads an index held in memory; `path` only names it in errors.
    pub fn from_bytes(data: Vec<u8>, path: &Path) -> Result<IndexReader> {
        IndexReader::new(Data::Owned(data), path.to_path_buf())
    }

    fn new(data: Data, path: PathBuf) -> Result<IndexReader> {
        let mut r = IndexReader {
            path,
            data,
            version: 0,
            toc: Toc::default(),
            symbols: Symbols::default(),
            postings: BTreeMap::new(),
        };
        r.load().map_err(|c| c.in_file(&r.path))?;
        Ok(r)
    }

    fn load(&mut self) -> DResult<()> {
        let b: &[u8] = &self.data;
        if b.len() < HEADER_LEN + TOC_LEN {
            return Err(Corrupt::new(
                0,
                format!("index of {} bytes is too short for header and TOC", b.len()),
            ));
        }
        let mut h = Decbuf::new(&b[..HEADER_LEN], 0);
        let magic = h.be32("magic")?;
        if magic != MAGIC_INDEX {
            return Err(Corrupt::new(
                0,
                format!("invalid index magic {magic:#010x}"),
            ));
        }
        let version = h.byte("version")?;
        if !(1..=3).contains(&version) {
            return Err(Corrupt::new(
                4,
                format!("unknown index format version {version}"),
            ));
        }
        self.version = version;
        self.toc = read_toc(b)?;
        let toc = self.toc;
        for (name, off) in [
            ("symbols", toc.symbols),
            ("series", toc.series),
            ("postings", toc.postings),
            ("postings offset table", toc.postings_table),
        ] {
            if off as usize > b.len() - TOC_LEN {
                return Err(Corrupt::new(
                    (b.len() - TOC_LEN) as u64,
                    format!("TOC points the {name} section past the end ({off})"),
                ));
            }
        }
        // Symbols: decoded and UTF-8-checked once here, so that reading a series only
        // slices them (v2 refers to them by index, v1 by file offset).
        let mut symbols = Symbols::default();
        if toc.symbols != 0 {
            let mut d = section_at(b, toc.symbols, "symbol table")?;
            let count = d.be32("symbol count")?;
            // Every symbol takes at least its one-byte length.
            let count_hint = (count as usize).min(d.remaining());
            symbols
                .text
                .reserve(d.remaining().saturating_sub(count_hint));
            symbols.ends.reserve(count_hint);
            let mut last: Option<&str> = None;
            for _ in 0..count {
                let off = d.offset();
                let s = d.uvarint_str("symbol")?;
                if version >= FORMAT_V2 {
                    if last.is_some_and(|l| l >= s) {
                        return Err(Corrupt::new(off, "symbols are not sorted"));
                    }
                    last = Some(s);
                } else {
                    symbols.offsets.push(
                        u32::try_from(off).map_err(|_| Corrupt::new(off, "symbol beyond 4 GiB"))?,
                    );
                }
                symbols.text.push_str(s);
                symbols.ends.push(
                    u32::try_from(symbols.text.len())
                        .map_err(|_| Corrupt::new(off, "symbol table larger than 4 GiB"))?,
                );
            }
        }
        // The postings offset table, held in memory whole.
        let mut postings: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        if toc.postings_table != 0 {
            let mut d = section_at(b, toc.postings_table, "postings offset table")?;
            let count = d.be32("postings offset count")?;
            for _ in 0..count {
                let at = d.offset();
                let keys = d.uvarint("postings offset key count")?;
                if keys != 2 {
                    return Err(Corrupt::new(
                        at,
                        format!("postings offset entry has {keys} keys, want 2"),
                    ));
                }
                let name = d.uvarint_str("label name")?;
                let value = d.uvarint_str("label value")?;
                let off = d.uvarint("postings offset")?;
                postings
                    .entry(name.to_string())
                    .or_default()
                    .push((value.to_string(), off));
            }
        }
        if version == FORMAT_V1 {
            // v1 tables are not guaranteed to be sorted.
            for values in postings.values_mut() {
                values.sort();
            }
        }
        self.symbols = symbols;
        self.postings = postings;
        Ok(())
    }

    /// The file this index was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index format version (1 or 2).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The table of contents.
    pub fn toc(&self) -> Toc {
        self.toc
    }

    fn corrupt(&self, c: Corrupt) -> Error {
        c.in_file(&self.path)
    }

    /// Every symbol of the symbol table, in stored order (sorted in v2).
    pub fn symbols(&self) -> Result<Vec<String>> {
        Ok((0..self.symbols.ends.len())
            .filter_map(|i| self.symbols.get(i))
            .map(str::to_string)
            .collect())
    }

    #[inline(always)]
    fn lookup_symbol(&self, r: u32) -> DResult<&str> {
        let found = if self.version == FORMAT_V1 {
            // v1 refers to a symbol by the file offset of its entry.
            self.symbols
                .offsets
                .binary_search(&r)
                .ok()
                .and_then(|i| self.symbols.get(i))
        } else {
            self.symbols.get(r as usize)
        };
        match found {
            Some(s) => Ok(s),
            None => Err(self.unknown_symbol(r)),
        }
    }

    #[cold]
    fn unknown_symbol(&self, r: u32) -> Corrupt {
        Corrupt::new(
            0,
            format!(
                "unknown symbol reference {r} ({} symbols)",
                self.symbols.ends.len()
            ),
        )
    }

    /// The label offset table (a legacy section that Prometheus still reads in v1 tools):
    /// each indexed label name with the offset of its label index. Empty when absent.
    pub fn label_indices_table(&self) -> Result<Vec<(String, u64)>> {
        if self.toc.label_indices_table == 0 {
            return Ok(Vec::new());
        }
        let read = || -> DResult<Vec<(String, u64)>> {
            let mut d = section_at(
                &self.data,
                self.toc.label_indices_table,
                "label offset table",
            )?;
            let count = d.be32("label offset count")?;
            let mut out = Vec::new();
            for _ in 0..count {
                let at = d.offset();
                let keys = d.uvarint("label offset key count")?;
                if keys != 1 {
                    return Err(Corrupt::new(
                        at,
                        format!("label offset entry has {keys} keys, want 1"),
                    ));
                }
                let name = d.uvarint_str("label name")?.to_string();
                out.push((name, d.uvarint("label index offset")?));
            }
            Ok(out)
        };
        read().map_err(|c| self.corrupt(c))
    }

    /// The values stored in the label index at `off` (a legacy section listing a label
    /// name's values as symbol references).
    pub fn label_index(&self, off: u64) -> Result<Vec<String>> {
        let read = || -> DResult<Vec<String>> {
            let mut d = section_at(&self.data, off, "label index")?;
            let names = d.be32("label index name count")?;
            if names != 1 {
                return Err(Corrupt::new(
                    off,
                    format!("label index covers {names} names, only 1 is supported"),
                ));
            }
            let entries = d.be32("label index entry count")?;
            let mut out = Vec::new();
            for _ in 0..entries {
                let at = d.offset();
                let r = d.be32("label value reference")?;
                let v = self.lookup_symbol(r).map_err(|c| Corrupt::new(at, c.msg))?;
                out.push(v.to_string());
            }
            Ok(out)
        };
        read().map_err(|c| self.corrupt(c))
    }

    /// The label names of the block (sorted).
    pub fn label_names(&self) -> Vec<String> {
        self.postings
            .keys()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect()
    }

    /// The sorted values of label `name`.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|vs| vs.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// The (value, postings offset) entries of label `name`, sorted by value.
    pub(crate) fn value_entries(&self, name: &str) -> &[(String, u64)] {
        self.postings.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The sorted series references of the series with label `name`=`value`.
    pub fn postings(&self, name: &str, value: &str) -> Result<Vec<u64>> {
        let entries = self.value_entries(name);
        match entries.binary_search_by(|(v, _)| v.as_str().cmp(value)) {
            Ok(i) => self.read_postings(entries[i].1),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// The sorted references of every series in the index.
    pub fn all_postings(&self) -> Result<Vec<u64>> {
        self.postings("", "")
    }

    /// Reads the postings list stored at `off`.
    pub(crate) fn read_postings(&self, off: u64) -> Result<Vec<u64>> {
        let read = || -> DResult<Vec<u64>> {
            let mut d = section_at(&self.data, off, "postings list")?;
            let n = d.be32("postings count")? as usize;
            if d.remaining() < n.saturating_mul(4) {
                return Err(Corrupt::new(
                    d.offset(),
                    format!(
                        "postings list claims {n} entries in {} bytes",
                        d.remaining()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(n);
            let mut last = None;
            for _ in 0..n {
                let at = d.offset();
                let r = u64::from(d.be32("series reference")?);
                if last.is_some_and(|l| l >= r) {
                    return Err(Corrupt::new(at, "postings list is not sorted"));
                }
                last = Some(r);
                out.push(r);
            }
            Ok(out)
        };
        read().map_err(|c| self.corrupt(c))
    }

    /// Reads series `id`: returns its labels and fills `chunks` with its chunk metas.
    pub fn series(&self, id: u64, chunks: &mut Vec<ChunkMeta>) -> Result<Labels> {
        chunks.clear();
        let off = if self.version == FORMAT_V1 {
            id
        } else {
            id.saturating_mul(SERIES_BYTE_ALIGN)
        };
        let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
        let mut read = || -> DResult<()> {
            if off < self.toc.series || off >= self.data.len() as u64 {
                return Err(Corrupt::new(
                    off,
                    format!("series reference {id} out of range"),
                ));
            }
            let mut d = uvarint_section_at(&self.data, off, "series")?;
            let nlabels = d.uvarint("label count")?;
            for _ in 0..nlabels {
                let at = d.offset();
                let n = d.uvarint32("label name reference")?;
                let v = d.uvarint32("label value reference")?;
                let name = self.lookup_symbol(n).map_err(|c| Corrupt::new(at, c.msg))?;
                let value = self.lookup_symbol(v).map_err(|c| Corrupt::new(at, c.msg))?;
                pairs.push((name, value));
            }
            let nchunks = d.uvarint("chunk count")?;
            if nchunks > 0 {
                let min_time = d.varint("chunk min time")?;
                let max_time = min_time.wrapping_add(d.uvarint("chunk max time")? as i64);
                let chunk_ref = d.uvarint("chunk reference")?;
                chunks.push(ChunkMeta {
                    min_time,
                    max_time,
                    chunk_ref,
                });
                let (mut t0, mut ref0) = (max_time, chunk_ref as i64);
                for _ in 1..nchunks {
                    let min_time = t0.wrapping_add(d.uvarint("chunk min time")? as i64);
                    let max_time = min_time.wrapping_add(d.uvarint("chunk max time")? as i64);
                    let r = ref0.wrapping_add(d.varint("chunk reference")?);
                    chunks.push(ChunkMeta {
                        min_time,
                        max_time,
                        chunk_ref: r as u64,
                    });
                    t0 = max_time;
                    ref0 = r;
                }
            }
            Ok(())
        };
        read().map_err(|c| self.corrupt(c))?;
        // Series entries list their labels sorted by name (from_sorted_pairs re-sorts
        // if a foreign writer did not).
        Ok(Labels::from_sorted_pairs(&pairs))
    }
}

/// A decoded symbol table: all symbols concatenated, and where each one ends.
#[derive(Default)]
struct Symbols {
    text: String,
    /// The end of symbol `i` in `text` (it starts where symbol `i - 1` ends).
    ends: Vec<u32>,
    /// v1 only: the file offset of each symbol's entry (increasing), by index.
    offsets: Vec<u32>,
}

impl Symbols {
    #[inline]
    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        // Both ends are boundaries of whole strs pushed at open.
        self.text.get(start..end)
    }
}

fn read_toc(b: &[u8]) -> DResult<Toc> {
    let start = b.len() - TOC_LEN;
    let body = &b[start..b.len() - 4];
    let mut c = Decbuf::new(&b[b.len() - 4..], (b.len() - 4) as u64);
    let want = c.be32("TOC checksum")?;
    let got = crc32c::crc32c(body);
    if want != got {
        return Err(Corrupt::new(
            (b.len() - 4) as u64,
            format!("TOC checksum mismatch: stored {want:#010x}, computed {got:#010x}"),
        ));
    }
    let mut d = Decbuf::new(body, start as u64);
    Ok(Toc {
        symbols: d.be64("TOC")?,
        series: d.be64("TOC")?,
        label_indices: d.be64("TOC")?,
        label_indices_table: d.be64("TOC")?,
        postings: d.be64("TOC")?,
        postings_table: d.be64("TOC")?,
    })
}

#[cfg(test)]
mod tests;
