//! Errors returned while loading a configuration.

use std::path::PathBuf;

/// Why a configuration could not be loaded. Messages are Prometheus's
/// (`parsing YAML file X: ...`), with the YAML line where go-yaml prints one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read (`open prometheus.yml: no such file or directory`, as Go's
    /// `os.ReadFile` words it).
    #[error("{}", go_io_error("open", path, error))]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (part of this error's message, not a source).
        error: std::io::Error,
    },
    /// The YAML was malformed, had an unknown or duplicate field, a value of the wrong type,
    /// or failed a check made while reading one block.
    #[error("parsing YAML file {}: {error}", file_name(path))]
    Yaml {
        /// The file, `None` for a config given as a string.
        path: Option<PathBuf>,
        /// The YAML error, with its position (part of this error's message, not a source).
        error: crate::yaml::Error,
    },
    /// A check across blocks failed (duplicate job names, a timeout above its interval, …).
    #[error("parsing YAML file {}: {message}", file_name(path))]
    Invalid {
        /// The file, `None` for a config given as a string.
        path: Option<PathBuf>,
        /// What is wrong, naming the job or block.
        message: String,
    },
    /// A file of `scrape_config_files` could not be read or holds invalid jobs, or a pattern
    /// is malformed (what Go's `GetScrapeConfigs` reports: `"/abs/jobs.yml": <why>`).
    #[error("{message}")]
    ScrapeConfigFile {
        /// The file (absolute) or the pattern.
        path: PathBuf,
        /// The whole message, file included.
        message: String,
    },
    /// The configuration is not allowed in agent mode.
    #[error("field {field} is not allowed in agent mode")]
    AgentMode {
        /// The offending top-level field.
        field: &'static str,
    },
}

fn file_name(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<string>".to_string(),
    }
}

impl Error {
    /// The YAML line of the error, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Yaml { error, .. } => error.line,
            _ => None,
        }
    }

    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Read { path, .. } => Some(path),
            Error::Yaml { path, .. } | Error::Invalid { path, .. } => path.as_deref(),
            Error::ScrapeConfigFile { path, .. } => Some(path),
            Error::AgentMode { .. } => None,
        }
    }
}

/// An I/O error as Go's `os` package words it: `open PATH: no such file or directory`.
pub(crate) fn go_io_error(op: &str, path: &std::path::Path, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_string(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error ") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    };
    format!("{op} {}: {why}", path.display())
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
