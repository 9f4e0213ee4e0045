//! Errors of the test-script parser and runner.

/// Everything that can fail while reading or running a test script.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The script itself is malformed.
    #[error("{file}:{line}: {message}")]
    Script {
        /// The script's name or path.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The script file could not be read.
    #[error("reading test script {path}")]
    Read {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The storage factory could not make a storage.
    #[error("{file}: creating the test storage")]
    Storage {
        /// The script's name or path.
        file: String,
        /// The cause.
        #[source]
        source: storage::Error,
    },
    /// Loading samples into the storage failed.
    #[error("{file}:{line}: loading samples")]
    Load {
        /// The script's name or path.
        file: String,
        /// 1-based line number of the `load` command.
        line: usize,
        /// The cause.
        #[source]
        source: storage::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
