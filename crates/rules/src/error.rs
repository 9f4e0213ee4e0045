//! Errors of rule loading and evaluation, worded as Prometheus words them.

/// Everything that can fail in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error about one file: the file name, then what went wrong in it.
    #[error("{file}: {source}")]
    File {
        /// The rule file.
        file: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// The file could not be read.
    #[error("{0}")]
    Read(String),
    /// The file is not valid YAML, or has fields of the wrong type or unknown fields.
    #[error("{0}")]
    Yaml(String),
    /// A group-level problem (empty or repeated name, bad group label), with the YAML
    /// position of the group when it applies.
    #[error("{}{message}", position_prefix(*.position, None))]
    Group {
        /// 1-based line and column of the group, when known.
        position: Option<(u64, u64)>,
        /// What is wrong.
        message: String,
    },
    /// A problem with one rule (Go's `rulefmt.Error`).
    #[error("{0}")]
    Rule(Box<RuleProblem>),
    /// A rule's query failed or returned something that is not a vector.
    #[error("{0}")]
    Query(String),
    /// A rule evaluation produced an unusable result (duplicate series, limit exceeded).
    #[error("{0}")]
    Eval(String),
    /// Appending a rule's result to storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Loading new rule files failed; the running rules stay as they were.
    #[error("error loading rules, previous rule set restored")]
    LoadRules(Vec<Error>),
}

/// A problem with one rule of a rule file: `[L:C: [L:C: ]]group "G", rule N, "NAME": MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// The group's name.
    pub group: String,
    /// 1-based index of the rule in its group.
    pub index: usize,
    /// The rule's alert or record name.
    pub name: String,
    /// Position of the offending YAML node (`(0, 0)` when the node is absent).
    pub position: Option<(u64, u64)>,
    /// Position of a second node involved (record and alert both set).
    pub alt_position: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}group {:?}, rule {}, {:?}: {}",
            position_prefix(self.position, self.alt_position),
            self.group,
            self.index,
            self.name,
            self.message
        )
    }
}

fn position_prefix(position: Option<(u64, u64)>, alt: Option<(u64, u64)>) -> String {
    match (position, alt) {
        (Some((l, c)), Some((l2, c2))) => format!("{l}:{c}: {l2}:{c2}: "),
        (Some((l, c)), None) => format!("{l}:{c}: "),
        _ => String::new(),
    }
}

impl Error {
    /// The same error prefixed with the file it is about (`FILE: ...`), as Go's
    /// `rulefmt.ParseFile` reports errors.
    pub fn in_file(self, file: &str) -> Error {
        Error::File {
            file: file.to_string(),
            source: Box::new(self),
        }
    }
}

impl From<promql::Error> for Error {
    fn from(e: promql::Error) -> Error {
        Error::Query(e.to_string())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
