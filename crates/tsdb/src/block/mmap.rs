//! Read-only memory maps of block files.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The bytes of a file, memory-mapped read-only (an empty file maps to an empty slice).
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Maps `path` read-only.
    pub(crate) fn open(path: &Path) -> Result<MappedFile> {
        let file = File::open(path).map_err(|source| Error::Io {
            op: "opening",
            path: path.to_path_buf(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                op: "reading metadata of",
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if len == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: block files (index, chunk segments) are immutable once written: Prometheus
        // and this crate write a block into a temporary directory and rename it into place,
        // and never write to a block's files again; they are only deleted, which leaves an
        // existing mapping valid on Unix. So the mapped bytes do not change while mapped.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
            op: "memory-mapping",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(MappedFile { map: Some(map) })
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
