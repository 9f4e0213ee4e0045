//! The chunk encodings' one error type.

/// What can go wrong reading or appending a chunk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk uses an encoding this implementation does not know.
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    /// A chunk's bytes are malformed.
    #[error("corrupt chunk: {0}")]
    CorruptChunk(String),
    /// A chunk appender was given data it cannot encode (e.g. a full chunk).
    #[error("chunk append: {0}")]
    ChunkAppend(String),
}

/// The chunk encodings' result type.
pub type Result<T> = std::result::Result<T, Error>;
