//! Memory-mapped head chunks (`chunks_head/`), in the format of Prometheus's
//! `tsdb/chunks/head_chunks.go`.
//!
//! A file (`000001`, six digits) starts with an 8-byte header (magic `0x0130BC91`, version 1,
//! 3 bytes of padding) followed by chunks:
//!
//! ```text
//! series ref (u64 BE) | mint (i64 BE) | maxt (i64 BE) | encoding (1 B) | data length (uvarint)
//! | data | CRC32-Castagnoli of everything before it in this chunk (u32 BE)
//! ```
//!
//! A chunk reference is `file index << 32 | offset of the chunk`. A series ref, mint and maxt
//! all zero mark the end of the data (Prometheus preallocates files with zeros).
//!
//! Complete files are memory-mapped read-only; the file being written is read with
//! positioned reads, and its newest chunks are served from the write buffer.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::RwLock;

use crate::error::{Error, Result, io_err};

/// The magic number at the start of a head chunk file.
pub const MAGIC_HEAD_CHUNKS: u32 = 0x0130_BC91;
/// The size of a head chunk file's header.
pub const HEADER_SIZE: usize = 8;
/// The maximum size of a head chunk file.
pub const MAX_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// The largest per-chunk overhead: series ref, mint, maxt, encoding, length (5 B), CRC.
const MAX_META_SIZE: usize = 8 + 8 + 8 + 1 + 5 + 4;
/// Bytes buffered before a write to the file.
const WRITE_BUFFER_SIZE: usize = 1024 * 1024;
/// The bit Prometheus sets in the encoding byte of out-of-order head chunks.
const OOO_ENCODING_FLAG: u8 = 0b1000_0000;

/// A chunk as found while iterating the files at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// The head series ref the chunk belongs to.
    pub series_ref: u64,
    /// The chunk reference (file << 32 | offset).
    pub chunk_ref: u64,
    /// First timestamp.
    pub mint: i64,
    /// Last timestamp.
    pub maxt: i64,
    /// Number of samples (from the chunk's first two bytes).
    pub num_samples: u16,
    /// Whether Prometheus marked it as an out-of-order chunk.
    pub ooo: bool,
}

/// Damage in a head chunk file: chunks from this file on must be discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadChunkCorruption {
    /// The file index.
    pub file: u64,
    /// What is wrong.
    pub msg: String,
}

struct MappedFile {
    map: Option<memmap2::Mmap>,
    maxt: i64,
}

impl MappedFile {
    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

struct CurFile {
    seq: u64,
    path: PathBuf,
    file: File,
    /// Bytes in the file plus the buffer.
    size: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_start: u64,
    maxt: i64,
}

struct Inner {
    files: BTreeMap<u64, MappedFile>,
    cur: Option<CurFile>,
    closed: bool,
}

/// Writes full head chunks to `chunks_head/` and reads them back.
pub struct ChunkDiskMapper {
    dir: PathBuf,
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for ChunkDiskMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkDiskMapper")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn file_name(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:06}"))
}

fn map_file(path: &Path) -> Result<Option<memmap2::Mmap>> {
    let f = File::open(path).map_err(io_err("opening", path))?;
    let len = f
        .metadata()
        .map_err(io_err("reading metadata of", path))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: head chunk files are complete when mapped: this process never writes to a
    // mapped file again, and deletes it only after dropping the map. The data directory's
    // lock file keeps other TSDB processes out; a foreign process modifying the file would
    // break this, as it would for Prometheus.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io_err("memory-mapping", path))?;
    Ok(Some(map))
}

impl ChunkDiskMapper {
    /// Opens `dir` (creating it), maps the existing files and checks their headers. A last
    /// file without a complete header (a crash while it was created) is deleted, as
    /// Prometheus's `repairLastChunkFile` does: it holds no chunk.
    ///
    /// # Errors
    /// On I/O errors, bad headers or missing files in the sequence.
    pub fn open(dir: &Path) -> Result<ChunkDiskMapper> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let mut seqs = Vec::new();
        for e in fs::read_dir(dir).map_err(io_err("listing", dir))? {
            let e = e.map_err(io_err("listing", dir))?;
            if let Some(seq) = e
                .file_name()
                .to_str()
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        if let Some(&last) = seqs.last()
            && last_file_has_no_header(&file_name(dir, last))?
        {
            let path = file_name(dir, last);
            fs::remove_file(&path).map_err(io_err("deleting", &path))?;
            seqs.pop();
        }
        let mut files = BTreeMap::new();
        for (i, &seq) in seqs.iter().enumerate() {
            if i > 0 && seqs[i - 1] + 1 != seq {
                return Err(Error::Corrupt {
                    path: file_name(dir, seq),
                    offset: 0,
                    msg: format!(
                        "head chunk files are not sequential: {} then {seq}",
                        seqs[i - 1]
                    ),
                });
            }
            let path = file_name(dir, seq);
            let map = map_file(&path)?;
            let b = map.as_deref().unwrap_or(&[]);
            if b.len() < HEADER_SIZE {
                return Err(Error::Corrupt {
                    path,
                    offset: 0,
                    msg: "head chunk file is shorter than its header".into(),
                });
            }
            let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if magic != MAGIC_HEAD_CHUNKS {
                return Err(Error::Corrupt {
                    path,
                    offset: 0,
                    msg: format!("invalid magic number {magic:x}"),
                });
            }
            if b[4] != 1 {
                return Err(Error::Corrupt {
                    path,
                    offset: 4,
                    msg: format!("invalid head chunk format version {}", b[4]),
                });
            }
            // Unknown until iterated: never truncated before that.
            files.insert(
                seq,
                MappedFile {
                    map,
                    maxt: i64::MAX,
                },
            );
        }
        Ok(ChunkDiskMapper {
            dir: dir.to_path_buf(),
            inner: RwLock::new(Inner {
                files,
                cur: None,
                closed: false,
            }),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Calls `f` for every chunk of the files found at open, in file order, and records each
    /// file's maximum time (for [`ChunkDiskMapper::truncate`]). Stops at the first damage.
    ///
    /// # Errors
    /// The corruption found; chunks before it were passed to `f`.
    pub fn iterate_all_chunks(
        &self,
        mut f: impl FnMut(ChunkMeta),
    ) -> std::result::Result<(), HeadChunkCorruption> {
        let mut inner = self.inner.write();
        for (&seq, file) in inner.files.iter_mut() {
            let b = file.map.as_deref().unwrap_or(&[]);
            let end = b.len();
            let mut idx = HEADER_SIZE;
            let corrupt = |msg: String| HeadChunkCorruption { file: seq, msg };
            let mut maxt_file = i64::MIN;
            while idx < end {
                if end - idx < MAX_META_SIZE && b[idx..end].iter().all(|&x| x == 0) {
                    break;
                }
                if end - idx < 8 + 8 + 8 + 1 + 1 {
                    return Err(corrupt(format!(
                        "head chunk file has {} unread bytes, too few for a chunk header",
                        end - idx
                    )));
                }
                let start = idx;
                let be = |at: usize| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&b[at..at + 8]);
                    u64::from_be_bytes(a)
                };
                let series_ref = be(idx);
                let mint = be(idx + 8) as i64;
                let maxt = be(idx + 16) as i64;
                if series_ref == 0 && mint == 0 && maxt == 0 {
                    break;
                }
                idx += 24;
                let enc = b[idx];
                idx += 1;
                let Some((len, n)) = uvarint(&b[idx..end.min(idx + 5)]) else {
                    return Err(corrupt(format!("bad chunk length at offset {idx}")));
                };
                idx += n;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len < 2 || idx.saturating_add(len).saturating_add(4) > end {
                    return Err(corrupt(format!(
                        "chunk at offset {start} of {len} bytes runs past the end of the file"
                    )));
                }
                let num_samples = u16::from_be_bytes([b[idx], b[idx + 1]]);
                idx += len;
                let want = u32::from_be_bytes([b[idx], b[idx + 1], b[idx + 2], b[idx + 3]]);
                let got = crc32c::crc32c(&b[start..idx]);
                if want != got {
                    return Err(corrupt(format!(
                        "checksum mismatch at offset {start}: expected {want:x}, actual {got:x}"
                    )));
                }
                idx += 4;
                maxt_file = maxt_file.max(maxt);
                f(ChunkMeta {
                    series_ref,
                    chunk_ref: (seq << 32) | start as u64,
                    mint,
                    maxt,
                    num_samples,
                    ooo: enc & OOO_ENCODING_FLAG != 0,
                });
            }
            file.maxt = maxt_file;
        }
        Ok(())
    }

    /// Deletes the file with the corruption and every later one (Prometheus's
    /// `DeleteCorrupted`); their chunks are rebuilt from the WAL.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn delete_from(&self, file: u64) -> Result<()> {
        let mut inner = self.inner.write();
        // Newest first: a crash part way leaves the files in sequence, which the next open
        // needs (a gap is fatal there, as in Prometheus).
        let doomed: Vec<u64> = inner.files.range(file..).rev().map(|(&k, _)| k).collect();
        for seq in doomed {
            inner.files.remove(&seq);
            let path = file_name(&self.dir, seq);
            fs::remove_file(&path).map_err(io_err("deleting", &path))?;
        }
        Ok(())
    }

    /// Writes a full chunk; returns its reference.
    ///
    /// # Errors
    /// On I/O errors, or after [`ChunkDiskMapper::close`].
    pub fn write_chunk(
        &self,
        series_ref: u64,
        mint: i64,
        maxt: i64,
        encoding: u8,
        data: &[u8],
    ) -> Result<u64> {
        let mut inner = self.inner.write();
        if inner.closed {
            return Err(Error::InvalidArgument(
                "the head chunk mapper is closed".into(),
            ));
        }
        let need = (data.len() + MAX_META_SIZE) as u64;
        let cut = match &inner.cur {
            None => true,
            Some(c) => c.size + need > MAX_FILE_SIZE,
        };
        if cut {
            self.cut(&mut inner)?;
        }
        let cur = inner
            .cur
            .as_mut()
            .expect("cut always leaves a current head chunk file");
        let chunk_ref = (cur.seq << 32) | cur.size;
        let start = cur.buf.len();
        cur.buf.extend_from_slice(&series_ref.to_be_bytes());
        cur.buf.extend_from_slice(&mint.to_be_bytes());
        cur.buf.extend_from_slice(&maxt.to_be_bytes());
        cur.buf.push(encoding);
        crate::record::put_uvarint(&mut cur.buf, data.len() as u64);
        cur.buf.extend_from_slice(data);
        let crc = crc32c::crc32c(&cur.buf[start..]);
        cur.buf.extend_from_slice(&crc.to_be_bytes());
        cur.size += (cur.buf.len() - start) as u64;
        cur.maxt = cur.maxt.max(maxt);
        if cur.buf.len() >= WRITE_BUFFER_SIZE {
            flush(cur)?;
        }
        Ok(chunk_ref)
    }

    fn cut(&self, inner: &mut Inner) -> Result<()> {
        self.finalize_current(inner)?;
        let seq = inner
            .files
            .keys()
            .next_back()
            .map_or(1, |&k| k + 1)
            .max(inner.cur.as_ref().map_or(0, |c| c.seq + 1));
        let path = file_name(&self.dir, seq);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err("creating", &path))?;
        let mut header = [0u8; HEADER_SIZE];
        header[..4].copy_from_slice(&MAGIC_HEAD_CHUNKS.to_be_bytes());
        header[4] = 1;
        file.write_all(&header).map_err(io_err("writing", &path))?;
        inner.cur = Some(CurFile {
            seq,
            path,
            file,
            size: HEADER_SIZE as u64,
            buf: Vec::new(),
            buf_start: HEADER_SIZE as u64,
            maxt: i64::MIN,
        });
        Ok(())
    }

    /// Flushes, fsyncs and maps the current file, which then becomes read-only.
    fn finalize_current(&self, inner: &mut Inner) -> Result<()> {
        let Some(mut cur) = inner.cur.take() else {
            return Ok(());
        };
        flush(&mut cur)?;
        cur.file.sync_all().map_err(io_err("syncing", &cur.path))?;
        drop(cur.file);
        let map = map_file(&cur.path)?;
        inner.files.insert(
            cur.seq,
            MappedFile {
                map,
                maxt: cur.maxt,
            },
        );
        Ok(())
    }

    /// Reads chunk `chunk_ref`: its encoding byte and data.
    ///
    /// # Errors
    /// When the reference points nowhere or the chunk is damaged.
    pub fn chunk(&self, chunk_ref: u64) -> Result<(u8, Vec<u8>)> {
        let inner = self.inner.read();
        let seq = chunk_ref >> 32;
        let off = chunk_ref & 0xffff_ffff;
        let corrupt = |msg: String| Error::Corrupt {
            path: file_name(&self.dir, seq),
            offset: off,
            msg,
        };
        if let Some(cur) = inner.cur.as_ref().filter(|c| c.seq == seq) {
            if off >= cur.size {
                return Err(corrupt(
                    "head chunk reference past the end of the file".into(),
                ));
            }
            let mut head = [0u8; MAX_META_SIZE];
            let avail = ((cur.size - off) as usize).min(MAX_META_SIZE);
            read_cur(cur, off, &mut head[..avail]).map_err(io_err("reading", &cur.path))?;
            let (total, data_at, len) = parse_chunk_len(&head[..avail])
                .ok_or_else(|| corrupt("bad chunk header".into()))?;
            if off + total as u64 > cur.size {
                return Err(corrupt("chunk runs past the end of the file".into()));
            }
            let mut all = vec![0u8; total];
            read_cur(cur, off, &mut all).map_err(io_err("reading", &cur.path))?;
            return check_chunk(&all, data_at, len).map_err(corrupt);
        }
        let file = inner
            .files
            .get(&seq)
            .ok_or_else(|| corrupt("head chunk file does not exist".into()))?;
        let b = file.bytes();
        let off = usize::try_from(off).unwrap_or(usize::MAX);
        if off >= b.len() {
            return Err(corrupt(
                "head chunk reference past the end of the file".into(),
            ));
        }
        let rest = &b[off..];
        let (total, data_at, len) = parse_chunk_len(&rest[..rest.len().min(MAX_META_SIZE)])
            .ok_or_else(|| corrupt("bad chunk header".into()))?;
        if total > rest.len() {
            return Err(corrupt("chunk runs past the end of the file".into()));
        }
        check_chunk(&rest[..total], data_at, len).map_err(corrupt)
    }

    /// Deletes complete files whose chunks all end before `mint`, oldest first, stopping at
    /// the first file that is still needed; cuts a new file when the current one holds
    /// chunks, so that it can be deleted later.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn truncate(&self, mint: i64) -> Result<()> {
        let mut inner = self.inner.write();
        if inner
            .cur
            .as_ref()
            .is_some_and(|c| c.size > HEADER_SIZE as u64)
        {
            self.cut(&mut inner)?;
        }
        let cur_seq = inner.cur.as_ref().map(|c| c.seq);
        let mut doomed = Vec::new();
        for (&seq, f) in &inner.files {
            if Some(seq) == cur_seq || f.maxt >= mint {
                break;
            }
            doomed.push(seq);
        }
        for seq in doomed {
            inner.files.remove(&seq);
            let path = file_name(&self.dir, seq);
            fs::remove_file(&path).map_err(io_err("deleting", &path))?;
        }
        Ok(())
    }

    /// Flushes the write buffer to the file (not fsynced).
    ///
    /// # Errors
    /// On I/O errors.
    pub fn flush(&self) -> Result<()> {
        let mut inner = self.inner.write();
        match inner.cur.as_mut() {
            Some(cur) => flush(cur),
            None => Ok(()),
        }
    }

    /// The size in bytes of the chunk files.
    pub fn size(&self) -> u64 {
        let inner = self.inner.read();
        inner
            .files
            .values()
            .map(|f| f.bytes().len() as u64)
            .sum::<u64>()
            + inner.cur.as_ref().map_or(0, |c| c.size)
    }

    /// Flushes and fsyncs the current file; later writes fail.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn close(&self) -> Result<()> {
        let mut inner = self.inner.write();
        if inner.closed {
            return Ok(());
        }
        if let Some(cur) = inner.cur.as_mut() {
            flush(cur)?;
            cur.file.sync_all().map_err(io_err("syncing", &cur.path))?;
        }
        inner.closed = true;
        Ok(())
    }
}

/// Whether the newest file is shorter than its header or starts with a zero magic number
/// (created, or preallocated, but never written).
fn last_file_has_no_header(path: &Path) -> Result<bool> {
    let f = File::open(path).map_err(io_err("opening", path))?;
    let mut head = Vec::with_capacity(HEADER_SIZE);
    f.take(HEADER_SIZE as u64)
        .read_to_end(&mut head)
        .map_err(io_err("reading", path))?;
    Ok(head.len() < HEADER_SIZE || head[..4] == [0; 4])
}

fn flush(cur: &mut CurFile) -> Result<()> {
    if cur.buf.is_empty() {
        return Ok(());
    }
    cur.file
        .write_all_at(&cur.buf, cur.buf_start)
        .map_err(io_err("writing", &cur.path))?;
    cur.buf_start += cur.buf.len() as u64;
    cur.buf.clear();
    Ok(())
}

/// Reads `out.len()` bytes at `off` of the current file, from the file and/or its buffer.
fn read_cur(cur: &CurFile, off: u64, out: &mut [u8]) -> std::io::Result<()> {
    let end = off + out.len() as u64;
    let mut pos = off;
    if pos < cur.buf_start {
        let n = (cur.buf_start.min(end) - pos) as usize;
        cur.file.read_exact_at(&mut out[..n], pos)?;
        pos += n as u64;
    }
    if pos < end {
        let from = (pos - cur.buf_start) as usize;
        let n = (end - pos) as usize;
        let at = (pos - off) as usize;
        out[at..at + n].copy_from_slice(&cur.buf[from..from + n]);
    }
    Ok(())
}

/// From the first bytes of a chunk: its total size (header, data, CRC), where the data
/// starts, and the data length.
fn parse_chunk_len(head: &[u8]) -> Option<(usize, usize, usize)> {
    if head.len() < 26 {
        return None;
    }
    let (len, n) = uvarint(&head[25..])?;
    let len = usize::try_from(len).ok()?;
    let data_at = 25 + n;
    Some((data_at.checked_add(len)?.checked_add(4)?, data_at, len))
}

fn check_chunk(
    all: &[u8],
    data_at: usize,
    len: usize,
) -> std::result::Result<(u8, Vec<u8>), String> {
    let crc_at = data_at + len;
    let want = u32::from_be_bytes([
        all[crc_at],
        all[crc_at + 1],
        all[crc_at + 2],
        all[crc_at + 3],
    ]);
    let got = crc32c::crc32c(&all[..crc_at]);
    if want != got {
        return Err(format!(
            "checksum mismatch: expected {want:x}, actual {got:x}"
        ));
    }
    Ok((all[24] & !OOO_ENCODING_FLAG, all[data_at..crc_at].to_vec()))
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x = 0u64;
    let mut s = 0;
    for (i, &c) in b.iter().enumerate() {
        if i == 10 {
            return None;
        }
        if c < 0x80 {
            return Some((x | u64::from(c) << s, i + 1));
        }
        x |= u64::from(c & 0x7f) << s;
        s += 7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_through_buffer_file_and_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = ChunkDiskMapper::open(dir.path()).expect("open");
        let mut refs = Vec::new();
        for i in 0..50u64 {
            let data: Vec<u8> = (0..(10 + i as usize * 3))
                .map(|j| (i as usize + j) as u8)
                .collect();
            let r = m
                .write_chunk(i + 1, i as i64 * 10, i as i64 * 10 + 9, 1, &data)
                .expect("write");
            refs.push((r, data));
        }
        for (r, data) in &refs {
            assert_eq!(m.chunk(*r).expect("read buffered"), (1, data.clone()));
        }
        m.flush().expect("flush");
        for (r, data) in &refs {
            assert_eq!(m.chunk(*r).expect("read from file"), (1, data.clone()));
        }
        m.close().expect("close");
        drop(m);
        let m = ChunkDiskMapper::open(dir.path()).expect("reopen");
        let mut seen = Vec::new();
        m.iterate_all_chunks(|c| seen.push(c)).expect("iterate");
        assert_eq!(seen.len(), 50);
        for (c, (r, data)) in seen.iter().zip(&refs) {
            assert_eq!(c.chunk_ref, *r);
            assert_eq!(m.chunk(*r).expect("read mapped"), (1, data.clone()));
        }
        assert_eq!(seen[3].series_ref, 4);
        assert_eq!((seen[3].mint, seen[3].maxt), (30, 39));
    }

    #[test]
    fn damaged_chunk_stops_iteration_and_truncate_deletes_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let m = ChunkDiskMapper::open(dir.path()).expect("open");
            m.write_chunk(1, 0, 10, 1, &[0, 1, 2, 3]).expect("write");
            m.write_chunk(2, 0, 10, 1, &[0, 1, 2, 3]).expect("write");
            m.truncate(i64::MIN).expect("cut");
            m.write_chunk(3, 100, 110, 1, &[0, 1, 9]).expect("write");
            m.close().expect("close");
        }
        let p = file_name(dir.path(), 1);
        let mut b = fs::read(&p).expect("read");
        let last = b.len() - 1;
        b[last] ^= 0xff;
        fs::write(&p, &b).expect("write");
        let m = ChunkDiskMapper::open(dir.path()).expect("reopen");
        let mut n = 0;
        let err = m.iterate_all_chunks(|_| n += 1).expect_err("corrupt");
        assert_eq!((n, err.file), (1, 1));
        m.delete_from(err.file).expect("delete");
        assert!(!file_name(dir.path(), 1).exists());
        assert!(!file_name(dir.path(), 2).exists());
    }

    #[test]
    fn a_newest_file_without_a_whole_header_is_deleted_at_open() {
        for keep in [0usize, 1, 4, 7] {
            let dir = tempfile::tempdir().expect("tempdir");
            {
                let m = ChunkDiskMapper::open(dir.path()).expect("open");
                m.write_chunk(1, 0, 10, 1, &[0, 1, 2]).expect("write");
                m.truncate(i64::MIN).expect("cut");
                m.write_chunk(1, 20, 30, 1, &[0, 1, 3]).expect("write");
                m.close().expect("close");
            }
            let p = file_name(dir.path(), 2);
            let b = fs::read(&p).expect("read");
            fs::write(&p, &b[..keep]).expect("write");
            let m = ChunkDiskMapper::open(dir.path()).expect("reopen");
            assert!(!p.exists(), "kept {keep} bytes");
            let mut seen = Vec::new();
            m.iterate_all_chunks(|c| seen.push(c.mint))
                .expect("iterate");
            assert_eq!(seen, [0]);
            // The next file takes the deleted one's place.
            let r = m.write_chunk(1, 40, 50, 1, &[0, 1, 4]).expect("write");
            assert_eq!(r >> 32, 2);
        }
        // A zeroed header (a preallocated file never written) too, but a bad magic number in
        // the newest file is not a crash's doing.
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(file_name(dir.path(), 1), [0u8; 64]).expect("write");
        ChunkDiskMapper::open(dir.path()).expect("open");
        assert!(!file_name(dir.path(), 1).exists());
        fs::write(file_name(dir.path(), 1), [1u8; 64]).expect("write");
        let err = ChunkDiskMapper::open(dir.path()).expect_err("bad magic");
        assert!(err.to_string().contains("magic"), "{err}");
    }

    #[test]
    fn truncate_keeps_files_still_needed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = ChunkDiskMapper::open(dir.path()).expect("open");
        m.write_chunk(1, 0, 10, 1, &[0, 1]).expect("write");
        m.truncate(0).expect("cut");
        m.write_chunk(1, 20, 30, 1, &[0, 1]).expect("write");
        m.truncate(15).expect("truncate");
        assert!(!file_name(dir.path(), 1).exists());
        assert!(file_name(dir.path(), 2).exists());
    }
}
