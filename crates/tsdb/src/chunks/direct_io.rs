//! Writing a chunk segment with direct I/O (`O_DIRECT`, bypassing the page cache), as
//! Prometheus's `use-uncached-io` feature does for the blocks its compactor writes.
//!
//! Direct I/O needs aligned buffers, lengths and file offsets. The segment header leaves
//! the file at offset 8, so the bytes up to the first aligned offset go through an
//! ordinary descriptor; from there on whole aligned buffers are written through a second
//! descriptor opened with `O_DIRECT`. The last buffer is padded with zeros to the alignment
//! and the file is truncated back to its real length afterwards, so the segment ends up
//! byte for byte what the buffered writer produces.
//!
//! As in Prometheus 3.5, the alignment comes from `statx(STATX_DIOALIGN)` (4096 bytes when
//! the kernel does not report it), a filesystem that reports no direct I/O support is an
//! error, and so is one refusing to open the file with `O_DIRECT`: the block write fails
//! (there is no fallback to cached writes).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Go's buffer size for a segment being written (8 MiB).
const BUFFER_SIZE: usize = 8 * 1024 * 1024;
/// Go's alignment when `statx` cannot tell.
const DEFAULT_ALIGNMENT: usize = 4096;

/// The alignments direct I/O needs on a file, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alignment {
    /// Of the memory buffers.
    pub(crate) memory: usize,
    /// Of the file offsets and the lengths written.
    pub(crate) offset: usize,
}

impl Alignment {
    /// The file's direct I/O alignment as `statx(STATX_DIOALIGN)` reports it; Go's 4096
    /// bytes when the kernel does not report it; an error when the filesystem has no direct
    /// I/O.
    #[cfg(target_os = "linux")]
    pub(crate) fn of(file: &File) -> std::io::Result<Alignment> {
        use std::os::fd::AsRawFd;
        // SAFETY: an all-zero `statx` is a valid value of this plain C struct.
        #[allow(unsafe_code)]
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC;
        // SAFETY: the descriptor is open for the duration of the call, the path is a valid
        // NUL-terminated empty string (AT_EMPTY_PATH: the descriptor itself is examined) and
        // `stx` is a valid, writable `statx`.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::statx(
                file.as_raw_fd(),
                c"".as_ptr(),
                flags,
                libc::STATX_DIOALIGN,
                &raw mut stx,
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOSYS) {
                return Ok(Alignment::DEFAULT);
            }
            return Err(err);
        }
        if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
            return Ok(Alignment::DEFAULT);
        }
        if stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "direct IO is unsupported: kernel may be old or the file may be on an unsupported FS",
            ));
        }
        Ok(Alignment {
            memory: stx.stx_dio_mem_align as usize,
            offset: stx.stx_dio_offset_align as usize,
        })
    }

    /// Direct I/O exists only on Linux here, as in Prometheus.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn of(_file: &File) -> std::io::Result<Alignment> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "direct IO is not supported on this platform",
        ))
    }

    const DEFAULT: Alignment = Alignment {
        memory: DEFAULT_ALIGNMENT,
        offset: DEFAULT_ALIGNMENT,
    };
}

/// A buffered writer of one segment file that writes through `O_DIRECT` once the file
/// offset is aligned.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    path: PathBuf,
    /// The segment as created (cached writes): the bytes before the first aligned offset.
    cached: File,
    /// The segment opened again with `O_DIRECT`, once the offset is aligned.
    direct: Option<File>,
    /// Over-allocated so that `buf[start..start + cap]` is memory-aligned.
    buf: Vec<u8>,
    start: usize,
    cap: usize,
    /// Bytes buffered.
    n: usize,
    /// Bytes of the file written so far (its length without the buffer).
    pos: u64,
    /// Bytes still to write through `cached` to reach an aligned offset.
    gap: usize,
    align: Alignment,
}

impl DirectWriter {
    /// A writer continuing `file` (at `path`, `written` bytes long, its cursor at the end)
    /// with the file's own alignment.
    pub(crate) fn new(file: File, path: &Path, written: u64) -> std::io::Result<DirectWriter> {
        let align = Alignment::of(&file)?;
        DirectWriter::with_alignment(file, path, written, align)
    }

    /// [`DirectWriter::new`] with a given alignment (tests use a coarser one than the
    /// filesystem's).
    pub(crate) fn with_alignment(
        file: File,
        path: &Path,
        written: u64,
        align: Alignment,
    ) -> std::io::Result<DirectWriter> {
        let memory = align.memory.max(1);
        let offset = align.offset.max(1);
        let cap = BUFFER_SIZE.div_ceil(offset) * offset;
        let buf = vec![0u8; cap + memory];
        let start = buf.as_ptr().align_offset(memory);
        if start >= memory {
            return Err(std::io::Error::other("cannot create an aligned block"));
        }
        let off = usize::try_from(written % offset as u64).expect("below the alignment");
        let mut w = DirectWriter {
            path: path.to_path_buf(),
            cached: file,
            direct: None,
            buf,
            start,
            cap,
            n: 0,
            pos: written,
            gap: (offset - off) % offset,
            align: Alignment { memory, offset },
        };
        if w.gap == 0 {
            w.enable_direct()?;
        }
        Ok(w)
    }

    /// Opens the segment again with `O_DIRECT`, positioned at the (aligned) end.
    fn enable_direct(&mut self) -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_DIRECT);
        }
        let mut f = opts
            .open(&self.path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot enable Direct IO: {e}")))?;
        f.seek(SeekFrom::Start(self.pos))?;
        self.direct = Some(f);
        Ok(())
    }

    /// Buffers `data`, writing out every buffer that fills up.
    pub(crate) fn write_all(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let k = (self.cap - self.n).min(data.len());
            let at = self.start + self.n;
            self.buf[at..at + k].copy_from_slice(&data[..k]);
            self.n += k;
            data = &data[k..];
            if self.n == self.cap {
                self.flush_full()?;
            }
        }
        Ok(())
    }

    /// Writes the bytes up to the aligned offset through the cached descriptor (then
    /// switches to direct I/O), or the whole (aligned) buffer through the direct one.
    fn flush_full(&mut self) -> std::io::Result<()> {
        if self.gap > 0 {
            self.fill_gap()
        } else {
            let (at, n) = (self.start, self.n);
            self.write_direct(at, n)?;
            self.pos += n as u64;
            self.n = 0;
            Ok(())
        }
    }

    fn fill_gap(&mut self) -> std::io::Result<()> {
        let g = self.gap.min(self.n);
        let at = self.start;
        self.cached.write_all(&self.buf[at..at + g])?;
        self.buf.copy_within(at + g..at + self.n, at);
        self.n -= g;
        self.gap -= g;
        self.pos += g as u64;
        if self.gap == 0 {
            self.enable_direct()?;
        }
        Ok(())
    }

    fn write_direct(&mut self, at: usize, len: usize) -> std::io::Result<()> {
        let f = self
            .direct
            .as_mut()
            .expect("direct I/O is on once the gap is filled");
        f.write_all(&self.buf[at..at + len])
    }

    /// Writes out what is buffered (the last block padded with zeros to the alignment),
    /// truncates the padding off, fsyncs and closes the file.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        if self.gap > 0 && self.n > 0 {
            self.fill_gap()?;
        }
        if self.n > 0 {
            let padded = self.n.div_ceil(self.align.offset) * self.align.offset;
            let at = self.start;
            self.buf[at + self.n..at + padded].fill(0);
            self.write_direct(at, padded)?;
            self.pos += self.n as u64;
            self.n = 0;
            self.cached.set_len(self.pos)?;
        }
        self.cached.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory on the build's disk (a tmpfs may refuse `O_DIRECT`).
    pub(crate) fn disk_tempdir() -> tempfile::TempDir {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        if target.is_dir() {
            tempfile::tempdir_in(target).expect("temp dir under target/")
        } else {
            tempfile::tempdir().expect("temp dir")
        }
    }

    fn write_with(align: Option<Alignment>, pieces: &[Vec<u8>]) -> Vec<u8> {
        let dir = disk_tempdir();
        let path = dir.path().join("000001");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"12345678").unwrap();
        let mut w = match align {
            Some(a) => DirectWriter::with_alignment(f, &path, 8, a).unwrap(),
            None => DirectWriter::new(f, &path, 8).unwrap(),
        };
        for p in pieces {
            w.write_all(p).unwrap();
        }
        w.finish().unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn the_file_holds_exactly_what_was_written() {
        let mut expect = b"12345678".to_vec();
        let pieces: Vec<Vec<u8>> = (0..6000u32)
            .map(|i| {
                let len = (i * 7919 % 6000) as usize;
                (0..len).map(|j| (i as usize + j) as u8).collect()
            })
            .collect();
        for p in &pieces {
            expect.extend_from_slice(p);
        }
        assert!(expect.len() > 2 * BUFFER_SIZE, "crosses buffers");
        assert_eq!(write_with(None, &pieces), expect);
        let coarse = Alignment {
            memory: 8192,
            offset: 8192,
        };
        assert_eq!(write_with(Some(coarse), &pieces), expect);
        // Smaller than the gap to the first aligned offset: direct I/O never starts.
        assert_eq!(
            write_with(None, &[b"abc".to_vec()]),
            b"12345678abc".to_vec()
        );
        // Nothing after the header.
        assert_eq!(write_with(None, &[]), b"12345678".to_vec());
    }

    #[test]
    fn the_filesystem_reports_an_alignment() {
        let dir = disk_tempdir();
        let f = File::create(dir.path().join("f")).unwrap();
        let a = Alignment::of(&f).unwrap();
        assert!(
            a.memory.is_power_of_two() && a.offset.is_power_of_two(),
            "{a:?}"
        );
    }
}
