//! Reading WAL records back from segments (or any byte stream), with Prometheus's corruption
//! rules.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::{
    CorruptionError, FragmentType, PAGE_SIZE, RECORD_HEADER_SIZE, SNAPPY_MASK, ZSTD_MASK,
    list_segments, segment_name,
};
use crate::error::{Error, Result};

/// The largest decompressed record accepted (a record never exceeds a segment, 128 MiB,
/// before compression; this bound only stops damaged data from exhausting memory).
const MAX_RECORD_SIZE: u64 = 256 * 1024 * 1024;

/// A byte source that knows where in the WAL it is, for corruption reports.
pub trait Position {
    /// The directory and index of the segment being read, if the source is a segment file.
    fn segment(&self) -> Option<(&Path, u64)>;
    /// The offset of the next byte in the current segment.
    fn offset(&self) -> u64;
}

impl<T: AsRef<[u8]>> Position for std::io::Cursor<T> {
    fn segment(&self) -> Option<(&Path, u64)> {
        None
    }
    fn offset(&self) -> u64 {
        self.position()
    }
}

/// Reads a range of segment files as one stream, as Go's `segmentBufReader`: a segment whose
/// length is not a multiple of the page size reads as if zero-padded to the page boundary, so
/// a torn last page looks like padding and the reported segment stays the right one.
pub struct SegmentReader {
    segs: Vec<(PathBuf, u64, BufReader<File>)>,
    cur: usize,
    off: u64,
}

impl SegmentReader {
    /// All segments of `dir` whose index is in `first..=last` (`None` = open end).
    ///
    /// # Errors
    /// When the directory or a segment can't be read.
    pub fn open(dir: &Path, first: Option<u64>, last: Option<u64>) -> Result<SegmentReader> {
        let mut files = Vec::new();
        for k in list_segments(dir)? {
            if first.is_some_and(|f| k < f) {
                continue;
            }
            if last.is_some_and(|l| k > l) {
                break;
            }
            files.push((dir.to_path_buf(), k, segment_name(dir, k)));
        }
        SegmentReader::open_files(files)
    }

    /// Segments `first..=last` of `dir` (`None` = open end), segment `first` read from byte
    /// `offset` on (Go's `NewSegmentBufReaderWithOffset`, used after a chunk snapshot).
    /// Positions stay those of the files, so page padding and corruption reports are where
    /// they are on disk.
    ///
    /// # Errors
    /// When the directory or a segment can't be read, or `offset` can't be reached.
    pub fn open_from(
        dir: &Path,
        first: u64,
        offset: u64,
        last: Option<u64>,
    ) -> Result<SegmentReader> {
        let mut r = SegmentReader::open(dir, Some(first), last)?;
        if offset > 0
            && let Some((_, k, f)) = r.segs.first_mut()
            && *k == first
        {
            let path = segment_name(dir, first);
            let skipped = std::io::copy(&mut f.by_ref().take(offset), &mut std::io::sink())
                .map_err(|source| Error::Io {
                    op: "seeking in",
                    path: path.clone(),
                    source,
                })?;
            r.off = skipped;
        }
        Ok(r)
    }

    /// The given `(dir, index, path)` segment files, read in this order.
    ///
    /// # Errors
    /// When a file can't be opened.
    pub fn open_files(files: Vec<(PathBuf, u64, PathBuf)>) -> Result<SegmentReader> {
        let mut segs = Vec::with_capacity(files.len());
        for (dir, k, path) in files {
            let f = File::open(&path).map_err(|source| Error::Io {
                op: "opening",
                path: path.clone(),
                source,
            })?;
            segs.push((dir, k, BufReader::with_capacity(16 * PAGE_SIZE, f)));
        }
        Ok(SegmentReader {
            segs,
            cur: 0,
            off: 0,
        })
    }
}

impl Read for SegmentReader {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some((_, _, r)) = self.segs.get_mut(self.cur) else {
                return Ok(0);
            };
            let n = r.read(b)?;
            self.off += n as u64;
            if n > 0 || b.is_empty() {
                return Ok(n);
            }
            // End of this segment: fake zero padding up to the page boundary.
            let page = PAGE_SIZE as u64;
            if !self.off.is_multiple_of(page) {
                let pad = ((page - self.off % page) as usize).min(b.len());
                b[..pad].fill(0);
                self.off += pad as u64;
                return Ok(pad);
            }
            if self.cur + 1 >= self.segs.len() {
                return Ok(0);
            }
            self.cur += 1;
            self.off = 0;
        }
    }
}

impl Position for SegmentReader {
    fn segment(&self) -> Option<(&Path, u64)> {
        self.segs.get(self.cur).map(|(d, k, _)| (d.as_path(), *k))
    }
    fn offset(&self) -> u64 {
        self.off
    }
}

/// Reads records from a WAL byte stream.
pub struct Reader<R> {
    rdr: R,
    buf: Box<[u8; PAGE_SIZE]>,
    rec: Vec<u8>,
    compressed: Vec<u8>,
    total: u64,
    cur_type: FragmentType,
    snappy: snap::raw::Decoder,
    done: bool,
}

/// What ended a read step inside the reader.
enum Stop {
    Eof,
    Corrupt(String),
}

impl<R: Read + Position> Reader<R> {
    /// A reader over `rdr`.
    pub fn new(rdr: R) -> Reader<R> {
        // A source opened at an offset (`SegmentReader::open_from`) keeps page boundaries
        // where they are in the file.
        let total = rdr.offset();
        Reader {
            rdr,
            buf: Box::new([0; PAGE_SIZE]),
            rec: Vec::new(),
            compressed: Vec::new(),
            total,
            cur_type: FragmentType::PageTerm,
            snappy: snap::raw::Decoder::new(),
            done: false,
        }
    }

    /// The next record, `Ok(None)` at the end, or the corruption that stops the log. After
    /// an error or the end, every call returns `Ok(None)`.
    ///
    /// # Errors
    /// A [`CorruptionError`] with the position where the damage was detected.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>, CorruptionError> {
        if self.done {
            return Ok(None);
        }
        match self.next_inner() {
            Ok(()) => Ok(Some(&self.rec)),
            Err(Stop::Eof) => {
                self.done = true;
                // The last record would be torn after a crash just before its last fragment
                // reached the disk.
                if matches!(self.cur_type, FragmentType::First | FragmentType::Middle) {
                    return Err(self.corruption("last record is torn".into()));
                }
                Ok(None)
            }
            Err(Stop::Corrupt(msg)) => {
                self.done = true;
                Err(self.corruption(msg))
            }
        }
    }

    /// The segment being read, if reading segment files.
    pub fn segment(&self) -> Option<u64> {
        self.rdr.segment().map(|(_, k)| k)
    }

    /// The offset in the current segment (or stream) after the last record read.
    pub fn offset(&self) -> u64 {
        match self.rdr.segment() {
            Some(_) => self.rdr.offset(),
            None => self.total,
        }
    }

    /// A corruption error at the reader's current position.
    pub fn corruption(&self, msg: String) -> CorruptionError {
        match self.rdr.segment() {
            Some((dir, k)) => CorruptionError {
                dir: Some(dir.to_path_buf()),
                segment: Some(k),
                offset: self.rdr.offset(),
                msg,
            },
            None => CorruptionError {
                dir: None,
                segment: None,
                offset: self.total,
                msg,
            },
        }
    }

    /// Reads exactly `n` bytes into `self.buf[at..at + n]`; `Ok(false)` on a clean EOF before
    /// the first byte.
    fn read_full(&mut self, at: usize, n: usize) -> Result<bool, Stop> {
        let mut got = 0;
        while got < n {
            match self.rdr.read(&mut self.buf[at + got..at + n]) {
                Ok(0) => {
                    if got == 0 {
                        return Ok(false);
                    }
                    return Err(Stop::Corrupt("unexpected end of file".into()));
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Corrupt(format!("read error: {e}"))),
            }
        }
        self.total += n as u64;
        Ok(true)
    }

    fn next_inner(&mut self) -> Result<(), Stop> {
        self.rec.clear();
        self.compressed.clear();
        let mut i = 0usize;
        loop {
            if !self.read_full(0, 1)? {
                return Err(Stop::Eof);
            }
            let hdr0 = self.buf[0];
            self.cur_type = FragmentType::from_header(hdr0);
            let snappy = hdr0 & SNAPPY_MASK != 0;
            let zstd = hdr0 & ZSTD_MASK != 0;

            if self.cur_type == FragmentType::PageTerm {
                // The rest of the page is padding; check that it really is zeros.
                let k = PAGE_SIZE - (self.total % PAGE_SIZE as u64) as usize;
                if k == PAGE_SIZE {
                    continue;
                }
                if !self.read_full(1, k)? {
                    return Err(Stop::Corrupt(
                        "unexpected end of file in page padding".into(),
                    ));
                }
                if self.buf[1..=k].iter().any(|&b| b != 0) {
                    return Err(Stop::Corrupt(
                        "unexpected non-zero byte in padded page".into(),
                    ));
                }
                continue;
            }
            if !self.read_full(1, RECORD_HEADER_SIZE - 1)? {
                return Err(Stop::Corrupt(
                    "unexpected end of file in a fragment header".into(),
                ));
            }
            let length = u16::from_be_bytes([self.buf[1], self.buf[2]]) as usize;
            let crc = u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]);
            if length > PAGE_SIZE - RECORD_HEADER_SIZE {
                return Err(Stop::Corrupt(format!("invalid record size {length}")));
            }
            if length > 0 && !self.read_full(RECORD_HEADER_SIZE, length)? {
                return Err(Stop::Corrupt("unexpected end of file in a fragment".into()));
            }
            let data = &self.buf[RECORD_HEADER_SIZE..RECORD_HEADER_SIZE + length];
            let actual = crc32c::crc32c(data);
            if actual != crc {
                return Err(Stop::Corrupt(format!(
                    "unexpected checksum {actual:x}, expected {crc:x}"
                )));
            }
            validate_fragment(self.cur_type, i)?;
            if snappy && self.cur_type == FragmentType::Full && !data.is_empty() {
                // A whole record in one fragment (the common case): no copy.
                return snappy_into(&mut self.snappy, data, &mut self.rec);
            }
            if snappy || zstd {
                self.compressed.extend_from_slice(data);
            } else {
                self.rec.extend_from_slice(data);
            }
            if matches!(self.cur_type, FragmentType::Full | FragmentType::Last) {
                if snappy && !self.compressed.is_empty() {
                    snappy_into(&mut self.snappy, &self.compressed, &mut self.rec)?;
                } else if zstd && !self.compressed.is_empty() {
                    self.rec.clear();
                    let dec = zstd::stream::read::Decoder::new(&self.compressed[..])
                        .map_err(|e| Stop::Corrupt(format!("zstd: {e}")))?;
                    dec.take(MAX_RECORD_SIZE + 1)
                        .read_to_end(&mut self.rec)
                        .map_err(|e| Stop::Corrupt(format!("zstd: {e}")))?;
                    if self.rec.len() as u64 > MAX_RECORD_SIZE {
                        return Err(Stop::Corrupt("zstd: record too large".into()));
                    }
                }
                return Ok(());
            }
            i += 1;
        }
    }
}

/// Decompresses a snappy record into `out`.
fn snappy_into(dec: &mut snap::raw::Decoder, src: &[u8], out: &mut Vec<u8>) -> Result<(), Stop> {
    let n = snap::raw::decompress_len(src).map_err(|e| Stop::Corrupt(format!("snappy: {e}")))?;
    // Snappy cannot expand data more than about 21 times, so a larger claim is damage (and
    // must not make us allocate gigabytes).
    if n > src.len() * 24 + 64 {
        return Err(Stop::Corrupt(format!("snappy: implausible length {n}")));
    }
    out.resize(n, 0);
    dec.decompress(src, out)
        .map_err(|e| Stop::Corrupt(format!("snappy: {e}")))?;
    Ok(())
}

fn validate_fragment(typ: FragmentType, i: usize) -> Result<(), Stop> {
    let msg = match typ {
        FragmentType::Full if i != 0 => "unexpected full record",
        FragmentType::First if i != 0 => "unexpected first record, dropping buffer",
        FragmentType::Middle if i == 0 => "unexpected middle record, dropping buffer",
        FragmentType::Last if i == 0 => "unexpected last record, dropping buffer",
        FragmentType::Invalid(t) => {
            return Err(Stop::Corrupt(format!("unexpected record type {t}")));
        }
        _ => return Ok(()),
    };
    Err(Stop::Corrupt(msg.into()))
}

/// Reads every record of a byte slice (a whole segment, or fuzz input); returns the records
/// and the corruption that stopped reading, if any.
pub fn read_all(data: &[u8]) -> (Vec<Vec<u8>>, Option<CorruptionError>) {
    let mut r = Reader::new(std::io::Cursor::new(data));
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(rec)) => out.push(rec.to_vec()),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}
