//! Writing an index file in format v2.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use model::Labels;

use super::encoding::Encbuf;
use super::{ChunkMeta, FORMAT_V2, MAGIC_INDEX, SERIES_BYTE_ALIGN, Toc};
use crate::error::{Error, Result};

/// Builds an index (format v2) in memory and writes it out with [`IndexWriter::finish`].
///
/// Series must be added in label order (as Prometheus requires), with every label name and
/// value among the symbols given to [`IndexWriter::new`].
#[derive(Debug)]
pub struct IndexWriter {
    buf: Encbuf,
    toc: Toc,
    symbols: BTreeMap<String, u32>,
    last_series: Option<Labels>,
    /// (name, value) -> series references.
    postings: BTreeMap<(String, String), Vec<u32>>,
    all: Vec<u32>,
}

impl IndexWriter {
    /// Starts an index whose symbol table holds `symbols` (deduplicated and sorted here).
    pub fn new(symbols: impl IntoIterator<Item = String>) -> Result<IndexWriter> {
        let set: BTreeSet<String> = symbols.into_iter().collect();
        let mut buf = Encbuf::default();
        buf.put_be32(MAGIC_INDEX);
        buf.put_byte(FORMAT_V2);
        let mut toc = Toc {
            symbols: buf.len() as u64,
            ..Toc::default()
        };
        // The symbol table: len | count | uvarint-prefixed strings | CRC over count+strings.
        let mut body = Encbuf::default();
        body.put_be32(u32::try_from(set.len()).map_err(|_| {
            Error::InvalidArgument(format!("{} symbols do not fit an index", set.len()))
        })?);
        let mut symbols = BTreeMap::new();
        for (i, s) in set.into_iter().enumerate() {
            body.put_uvarint_str(&s);
            symbols.insert(s, i as u32);
        }
        put_section(&mut buf, &body.b)?;
        toc.series = buf.len() as u64;
        Ok(IndexWriter {
            buf,
            toc,
            symbols,
            last_series: None,
            postings: BTreeMap::new(),
            all: Vec::new(),
        })
    }

    fn symbol(&self, s: &str) -> Result<u32> {
        self.symbols.get(s).copied().ok_or_else(|| {
            Error::InvalidArgument(format!("symbol {s:?} is not in the symbol table"))
        })
    }

    /// Adds a series with its chunks (sorted by time, non-overlapping); returns its
    /// reference.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<u64> {
        if let Some(last) = &self.last_series
            && labels <= last
        {
            return Err(Error::InvalidArgument(format!(
                "series {labels} added out of order after {last}"
            )));
        }
        for (i, c) in chunks.iter().enumerate() {
            if c.max_time < c.min_time {
                return Err(Error::InvalidArgument(format!(
                    "chunk of {labels} has max time {} before min time {}",
                    c.max_time, c.min_time
                )));
            }
            if i > 0 && c.min_time <= chunks[i - 1].max_time {
                return Err(Error::InvalidArgument(format!(
                    "chunks of {labels} overlap or are unsorted at min time {}",
                    c.min_time
                )));
            }
        }
        // Pad to 16 bytes: the reference is the offset / 16.
        while !(self.buf.len() as u64).is_multiple_of(SERIES_BYTE_ALIGN) {
            self.buf.put_byte(0);
        }
        let off = self.buf.len() as u64;
        let id = u32::try_from(off / SERIES_BYTE_ALIGN)
            .map_err(|_| Error::InvalidArgument("index exceeds 64 GiB".to_string()))?;
        let mut body = Encbuf::default();
        body.put_uvarint(labels.len() as u64);
        for (name, value) in labels.iter() {
            body.put_uvarint(u64::from(self.symbol(name)?));
            body.put_uvarint(u64::from(self.symbol(value)?));
            self.postings
                .entry((name.to_string(), value.to_string()))
                .or_default()
                .push(id);
        }
        body.put_uvarint(chunks.len() as u64);
        if let Some(first) = chunks.first() {
            body.put_varint(first.min_time);
            body.put_uvarint((first.max_time - first.min_time) as u64);
            body.put_uvarint(first.chunk_ref);
            let (mut t0, mut ref0) = (first.max_time, first.chunk_ref as i64);
            for c in &chunks[1..] {
                body.put_uvarint((c.min_time - t0) as u64);
                body.put_uvarint((c.max_time - c.min_time) as u64);
                body.put_varint(c.chunk_ref as i64 - ref0);
                t0 = c.max_time;
                ref0 = c.chunk_ref as i64;
            }
        }
        self.buf.put_uvarint(body.len() as u64);
        self.buf.b.extend_from_slice(&body.b);
        self.buf.put_be32(crc32c::crc32c(&body.b));
        self.all.push(id);
        self.last_series = Some(labels.clone());
        Ok(u64::from(id))
    }

    /// Writes the postings, the offset tables and the TOC, and returns the index bytes.
    pub fn into_bytes(mut self) -> Result<Vec<u8>> {
        // No label indices are written (readers have not used them since v2), only an
        // empty label offset table, so that every TOC entry points at a valid section.
        self.toc.label_indices = self.buf.len() as u64;
        while !self.buf.len().is_multiple_of(4) {
            self.buf.put_byte(0);
        }
        self.toc.postings = self.buf.len() as u64;
        let mut table = Encbuf::default();
        let all = std::mem::take(&mut self.all);
        let postings = std::mem::take(&mut self.postings);
        let lists = std::iter::once((("".to_string(), "".to_string()), all)).chain(postings);
        let mut count = 0u32;
        for ((name, value), refs) in lists {
            while !self.buf.len().is_multiple_of(4) {
                self.buf.put_byte(0);
            }
            table.put_uvarint(2);
            table.put_uvarint_str(&name);
            table.put_uvarint_str(&value);
            table.put_uvarint(self.buf.len() as u64);
            count += 1;
            let mut body = Encbuf::default();
            body.put_be32(refs.len() as u32);
            for r in refs {
                body.put_be32(r);
            }
            put_section(&mut self.buf, &body.b)?;
        }
        self.toc.label_indices_table = self.buf.len() as u64;
        let mut empty = Encbuf::default();
        empty.put_be32(0);
        put_section(&mut self.buf, &empty.b)?;

        self.toc.postings_table = self.buf.len() as u64;
        let mut body = Encbuf::default();
        body.put_be32(count);
        body.b.extend_from_slice(&table.b);
        put_section(&mut self.buf, &body.b)?;

        let mut toc = Encbuf::default();
        for v in [
            self.toc.symbols,
            self.toc.series,
            self.toc.label_indices,
            self.toc.label_indices_table,
            self.toc.postings,
            self.toc.postings_table,
        ] {
            toc.put_be64(v);
        }
        let crc = crc32c::crc32c(&toc.b);
        toc.put_be32(crc);
        self.buf.b.extend_from_slice(&toc.b);
        Ok(self.buf.b)
    }

    /// Finishes the index and writes it to `path` (fsynced).
    pub fn finish(self, path: &Path) -> Result<()> {
        let bytes = self.into_bytes()?;
        crate::block::write_file_synced(path, &bytes)
    }
}

fn put_section(buf: &mut Encbuf, body: &[u8]) -> Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| Error::InvalidArgument("index section exceeds 4 GiB".to_string()))?;
    buf.put_be32(len);
    buf.b.extend_from_slice(body);
    buf.put_be32(crc32c::crc32c(body));
    Ok(())
}
