//! Errors returned by the TSDB.

use std::path::{Path, PathBuf};

/// Everything that can go wrong reading, writing or querying the TSDB.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a file or directory failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done (e.g. "opening", "reading").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A chunk uses an encoding this implementation does not know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// A chunk's bytes are malformed.
    #[error("corrupt chunk: {0}")]
    CorruptChunk(String),
    /// A file on disk is malformed (truncated, bad magic, bad checksum, ...).
    #[error("corrupt {path} at offset {offset}: {msg}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The byte offset where the problem was found.
        offset: u64,
        /// What is wrong.
        msg: String,
    },
    /// A block's `meta.json` is malformed.
    #[error("parsing {path}")]
    Meta {
        /// The meta.json file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A chunk appender was given data it cannot encode (e.g. a full chunk).
    #[error("chunk append: {0}")]
    ChunkAppend(String),
    /// A WAL record is malformed.
    #[error("decoding {kind} record: {msg}")]
    InvalidRecord {
        /// The record kind ("series", "samples", ...).
        kind: &'static str,
        /// What is wrong.
        msg: String,
    },
    /// The write-ahead log is damaged.
    #[error(transparent)]
    WalCorrupt(#[from] crate::wlog::CorruptionError),
    /// Another process holds the data directory's lock file.
    #[error("data directory {0} is locked by another process")]
    Locked(PathBuf),
    /// An append was rejected (out of order, out of bounds, ...).
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// A caller passed an invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The data directory to open read-only does not exist (Go's wording).
    #[error("opening the db dir: stat {}: no such file or directory", .0.display())]
    NoDbDir(PathBuf),
    /// The data directory to open read-only is not a directory.
    #[error("opening the db dir: {} is not a directory", .0.display())]
    NotADbDir(PathBuf),
    /// A block of a read-only data directory failed to open.
    #[error("opening block {}", .dir.display())]
    OpenBlock {
        /// The block's directory.
        dir: PathBuf,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
    /// The WAL of a read-only data directory failed to replay.
    #[error("replaying the WAL of {}", .dir.display())]
    ReplayWal {
        /// The data directory.
        dir: PathBuf,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

/// The TSDB's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps an I/O error of `op` (e.g. "opening") on `path` to [`Error::Io`].
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The chunk encodings' errors keep their meaning (and variant) in tsdb's error.
impl From<chunkenc::Error> for Error {
    fn from(e: chunkenc::Error) -> Error {
        match e {
            chunkenc::Error::UnknownEncoding(b) => Error::UnknownEncoding(b),
            chunkenc::Error::CorruptChunk(m) => Error::CorruptChunk(m),
            chunkenc::Error::ChunkAppend(m) => Error::ChunkAppend(m),
            other => Error::CorruptChunk(other.to_string()),
        }
    }
}
