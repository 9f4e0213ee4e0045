//! Chunk segment files (`chunks/000001`, ...) of a persistent block: reading and writing.
//!
//! A segment is `magic 0x85BD40DD (4B) | version 1 (1B) | padding (3B)` followed by chunks,
//! each `len uvarint | encoding (1B) | data (len B) | CRC32-C of encoding+data (4B)`. A chunk
//! reference is `segment index << 32 | offset`, where the segment index counts the block's
//! segment files in name order from 0 (so `000001` is index 0).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::mmap::MappedFile;
use crate::chunkenc::{Encoding, XorChunk, XorIterator};
use crate::error::{Error, Result};
use crate::index::encoding::read_uvarint;

mod direct_io;

/// The magic number at the start of a chunk segment file.
pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// The chunk segment format version.
pub const CHUNKS_FORMAT_V1: u8 = 1;
/// The size of a segment's header.
pub const SEGMENT_HEADER_SIZE: usize = 8;
/// The size at which Prometheus starts a new segment file.
pub const DEFAULT_MAX_SEGMENT_SIZE: u64 = 512 * 1024 * 1024;
/// The longest a chunk's length field may be (Go's `binary.MaxVarintLen32`).
const MAX_CHUNK_LEN_FIELD: usize = 5;

/// Packs a segment index and offset into a chunk reference.
pub fn chunk_ref(segment: u32, offset: u32) -> u64 {
    (u64::from(segment) << 32) | u64::from(offset)
}

/// The name of segment file number `n` (1-based): six digits.
pub fn segment_file_name(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}"))
}

/// The bytes of one chunk inside a memory-mapped segment; cheap to clone, `'static`.
#[derive(Debug, Clone)]
pub struct ChunkBytes {
    file: Arc<MappedFile>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for ChunkBytes {
    fn as_ref(&self) -> &[u8] {
        &self.file[self.start..self.end]
    }
}

/// A chunk read from a segment: its encoding and bytes.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    /// The encoding byte.
    pub encoding: u8,
    /// The chunk's data.
    pub data: ChunkBytes,
}

impl StoredChunk {
    /// An iterator over the float samples of an XOR chunk; other encodings are an error
    /// (see [`StoredChunk::any_iterator`]).
    pub fn iterator(&self) -> Result<XorIterator<ChunkBytes>> {
        match Encoding::from_u8(self.encoding)? {
            Encoding::Xor => Ok(XorIterator::new(self.data.clone())),
            other => Err(Error::CorruptChunk(format!(
                "chunk encoding {other} is not a float chunk"
            ))),
        }
    }

    /// An iterator over the samples of a chunk of any encoding (floats or native
    /// histograms).
    pub fn any_iterator(&self) -> Result<crate::chunkenc::ChunkIterator<ChunkBytes>> {
        match Encoding::from_u8(self.encoding)? {
            Encoding::None => Err(Error::CorruptChunk("chunk encoding none".into())),
            enc => Ok(crate::chunkenc::ChunkIterator::new(enc, self.data.clone())),
        }
    }

    /// The chunk as an [`XorChunk`] (copies the bytes).
    pub fn to_xor(&self) -> Result<XorChunk> {
        Ok(crate::chunkenc::chunk_from_data(
            self.encoding,
            self.data.as_ref().to_vec(),
        )?)
    }
}

/// Reads the chunk segments of a block.
#[derive(Debug)]
pub struct ChunkReader {
    segments: Vec<(PathBuf, Arc<MappedFile>)>,
}

impl ChunkReader {
    /// Opens every segment file in `dir` (a block's `chunks/` directory).
    pub fn open(dir: &Path) -> Result<ChunkReader> {
        let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
            op: "listing",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files: Vec<(u64, PathBuf)> = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|source| Error::Io {
                op: "listing",
                path: dir.to_path_buf(),
                source,
            })?;
            let name = entry.file_name();
            if let Some(n) = name.to_str().and_then(|s| s.parse::<u64>().ok()) {
                files.push((n, entry.path()));
            }
        }
        files.sort();
        let mut segments = Vec::with_capacity(files.len());
        for (_, path) in files {
            let data = MappedFile::open(&path)?;
            if data.len() < SEGMENT_HEADER_SIZE {
                return Err(Error::Corrupt {
                    path,
                    offset: 0,
                    msg: format!("segment of {} bytes has no header", data.len()),
                });
            }
            let magic = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            if magic != MAGIC_CHUNKS {
                return Err(Error::Corrupt {
                    path,
                    offset: 0,
                    msg: format!("invalid chunk segment magic {magic:#010x}"),
                });
            }
            if data[4] != CHUNKS_FORMAT_V1 {
                return Err(Error::Corrupt {
                    path,
                    offset: 4,
                    msg: format!("unknown chunk segment version {}", data[4]),
                });
            }
            segments.push((path, Arc::new(data)));
        }
        Ok(ChunkReader { segments })
    }

    /// The total size of all segments in bytes.
    pub fn size(&self) -> u64 {
        self.segments.iter().map(|(_, d)| d.len() as u64).sum()
    }

    /// The segment file a chunk reference points into, if it exists.
    pub fn segment_path(&self, r: u64) -> Option<&Path> {
        self.segments
            .get((r >> 32) as usize)
            .map(|(p, _)| p.as_path())
    }

    /// Reads the chunk at `r` (checksum verified).
    pub fn chunk(&self, r: u64) -> Result<StoredChunk> {
        let seg = (r >> 32) as usize;
        let off = (r & 0xffff_ffff) as usize;
        let Some((path, data)) = self.segments.get(seg) else {
            return Err(Error::CorruptChunk(format!(
                "chunk reference {r:#x} names segment {seg}, but the block has {}",
                self.segments.len()
            )));
        };
        let corrupt = |offset: usize, msg: String| Error::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            msg,
        };
        if off < SEGMENT_HEADER_SIZE || off >= data.len() {
            return Err(corrupt(
                off,
                format!(
                    "chunk reference {r:#x} points outside the segment ({} bytes)",
                    data.len()
                ),
            ));
        }
        let field = &data[off..data.len().min(off + MAX_CHUNK_LEN_FIELD)];
        let Some((len, n)) = read_uvarint(field) else {
            return Err(corrupt(off, "invalid chunk length".to_string()));
        };
        let enc_at = off + n;
        let data_start = enc_at + 1;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| data_start.checked_add(l))
            .filter(|&e| e.checked_add(4).is_some_and(|x| x <= data.len()))
            .ok_or_else(|| {
                corrupt(
                    off,
                    format!(
                        "chunk of {len} bytes runs past the end of the segment ({} bytes)",
                        data.len()
                    ),
                )
            })?;
        let stored = u32::from_be_bytes([data[end], data[end + 1], data[end + 2], data[end + 3]]);
        let computed = crc32c::crc32c(&data[enc_at..end]);
        if stored != computed {
            return Err(corrupt(
                end,
                format!(
                    "chunk checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                ),
            ));
        }
        Ok(StoredChunk {
            encoding: data[enc_at],
            data: ChunkBytes {
                file: Arc::clone(data),
                start: data_start,
                end,
            },
        })
    }
}

/// Writes chunks into segment files of a block's `chunks/` directory.
#[derive(Debug)]
pub struct ChunkWriter {
    dir: PathBuf,
    max_segment_size: u64,
    /// The open segment: writer, its 0-based index and the bytes written to it.
    current: Option<(SegmentWriter, PathBuf, u32, u64)>,
    next_seq: u64,
    uncached_io: bool,
}

/// How a segment's bytes reach the file.
#[derive(Debug)]
enum SegmentWriter {
    Cached(BufWriter<File>),
    Direct(Box<direct_io::DirectWriter>),
}

impl SegmentWriter {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            SegmentWriter::Cached(w) => w.write_all(data),
            SegmentWriter::Direct(w) => w.write_all(data),
        }
    }

    /// Writes out the buffer, fsyncs and closes the file.
    fn finish(self) -> std::io::Result<()> {
        match self {
            SegmentWriter::Cached(w) => w.into_inner().map_err(|e| e.into_error())?.sync_all(),
            SegmentWriter::Direct(w) => w.finish(),
        }
    }
}

impl ChunkWriter {
    /// A writer creating `dir` (if needed) and segments of at most 512 MiB.
    pub fn new(dir: &Path) -> Result<ChunkWriter> {
        ChunkWriter::with_segment_size(dir, DEFAULT_MAX_SEGMENT_SIZE)
    }

    /// A writer with a custom maximum segment size (chunks larger than it still get a
    /// segment of their own).
    pub fn with_segment_size(dir: &Path, max_segment_size: u64) -> Result<ChunkWriter> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            op: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            max_segment_size,
            current: None,
            next_seq: 1,
            uncached_io: false,
        })
    }

    /// Writes the segments with direct I/O (`O_DIRECT`, Linux only), bypassing the page
    /// cache, as Prometheus's `use-uncached-io` feature does; the files are the same. A
    /// filesystem without direct I/O fails the write, as in Prometheus 3.5.
    #[must_use]
    pub fn with_uncached_io(mut self, on: bool) -> ChunkWriter {
        self.uncached_io = on;
        self
    }

    fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            op: "writing",
            path: path.to_path_buf(),
            source,
        }
    }

    fn cut(&mut self) -> Result<()> {
        self.finish_segment()?;
        let path = segment_file_name(&self.dir, self.next_seq);
        let index = u32::try_from(self.next_seq - 1)
            .map_err(|_| Error::InvalidArgument("too many chunk segments".to_string()))?;
        self.next_seq += 1;
        let file = File::create(&path).map_err(|source| Error::Io {
            op: "creating",
            path: path.clone(),
            source,
        })?;
        let mut header = [0u8; SEGMENT_HEADER_SIZE];
        header[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        header[4] = CHUNKS_FORMAT_V1;
        let w = if self.uncached_io {
            // As Prometheus: the header goes straight to the file, the chunks through the
            // direct I/O writer.
            let mut file = file;
            file.write_all(&header).map_err(|e| Self::io(&path, e))?;
            let w = direct_io::DirectWriter::new(file, &path, SEGMENT_HEADER_SIZE as u64).map_err(
                |source| Error::Io {
                    op: "starting direct I/O on",
                    path: path.clone(),
                    source,
                },
            )?;
            SegmentWriter::Direct(Box::new(w))
        } else {
            let mut w = BufWriter::with_capacity(1 << 20, file);
            w.write_all(&header).map_err(|e| Self::io(&path, e))?;
            SegmentWriter::Cached(w)
        };
        self.current = Some((w, path, index, SEGMENT_HEADER_SIZE as u64));
        Ok(())
    }

    /// Appends a chunk and returns its reference.
    pub fn write_chunk(&mut self, encoding: u8, data: &[u8]) -> Result<u64> {
        let mut len_field = crate::index::encoding::Encbuf::default();
        len_field.put_uvarint(data.len() as u64);
        let total = (len_field.len() + 1 + data.len() + 4) as u64;
        let need_cut = match &self.current {
            None => true,
            Some((_, _, _, size)) => {
                *size > SEGMENT_HEADER_SIZE as u64 && size + total > self.max_segment_size
            }
        };
        if need_cut {
            self.cut()?;
        }
        let (w, path, index, size) = self.current.as_mut().expect("a segment was just cut");
        let offset = u32::try_from(*size)
            .map_err(|_| Error::InvalidArgument("chunk segment exceeds 4 GiB".to_string()))?;
        let mut crc = crc32c::crc32c(&[encoding]);
        crc = crc32c::crc32c_append(crc, data);
        w.write_all(&len_field.b)
            .and_then(|()| w.write_all(&[encoding]))
            .and_then(|()| w.write_all(data))
            .and_then(|()| w.write_all(&crc.to_be_bytes()))
            .map_err(|e| Self::io(path, e))?;
        *size += total;
        Ok(chunk_ref(*index, offset))
    }

    fn finish_segment(&mut self) -> Result<()> {
        if let Some((w, path, _, _)) = self.current.take() {
            w.finish().map_err(|e| Self::io(&path, e))?;
        }
        Ok(())
    }

    /// Flushes and fsyncs the last segment.
    pub fn finish(mut self) -> Result<()> {
        self.finish_segment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_chunks_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("chunks");
        let mut w = ChunkWriter::with_segment_size(&cdir, 64).unwrap();
        let mut refs = Vec::new();
        for i in 0..10u8 {
            let mut c = XorChunk::new();
            for j in 0..i64::from(i) + 1 {
                c.append(j * 1000, f64::from(i)).unwrap();
            }
            refs.push((w.write_chunk(1, c.bytes()).unwrap(), c));
        }
        w.finish().unwrap();
        assert!(cdir.join("000001").exists() && cdir.join("000002").exists());
        assert_eq!(refs[0].0, 8);
        let r = ChunkReader::open(&cdir).unwrap();
        for (cref, c) in &refs {
            let got = r.chunk(*cref).unwrap();
            assert_eq!(got.encoding, 1);
            assert_eq!(got.data.as_ref(), c.bytes());
            assert_eq!(
                got.to_xor().unwrap(),
                XorChunk::from_bytes(c.bytes().to_vec()).unwrap()
            );
        }
        assert!(r.chunk(chunk_ref(99, 8)).is_err());
        assert!(r.chunk(chunk_ref(0, 3)).is_err());
        assert!(r.chunk(chunk_ref(0, 60)).is_err());
    }

    #[test]
    fn flipped_bits_fail_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("chunks");
        let mut w = ChunkWriter::new(&cdir).unwrap();
        let mut c = XorChunk::new();
        c.append(1, 2.0).unwrap();
        let r = w.write_chunk(1, c.bytes()).unwrap();
        w.finish().unwrap();
        let path = cdir.join("000001");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[12] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let err = ChunkReader::open(&cdir).unwrap().chunk(r).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("000001") && msg.contains("checksum"), "{msg}");
    }
}
