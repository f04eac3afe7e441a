use std::fmt;

/// What went wrong, independent of any wire protocol. Front-ends map each kind to their own
/// code and status (for docker: `trove_formats::docker::errors`); nothing below a front-end
/// picks an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Invalid,
    DigestMismatch,
    RangeNotSatisfiable,
    Unauthenticated,
    Forbidden,
    /// A routing rule refused the path.
    Blocked {
        rule: String,
    },
    Unsupported,
    Upstream,
    Unavailable,
    /// The blob store keeps less free space than `[storage] min_free_bytes`: new uploads are
    /// refused early (HTTP 507) rather than failing half-way on a full disk.
    InsufficientStorage,
    Internal,
}

impl ErrorKind {
    /// Every kind, for tests that walk error tables.
    pub fn all() -> Vec<ErrorKind> {
        use ErrorKind::*;
        vec![
            NotFound,
            AlreadyExists,
            Invalid,
            DigestMismatch,
            RangeNotSatisfiable,
            Unauthenticated,
            Forbidden,
            Blocked { rule: "r".into() },
            Unsupported,
            Upstream,
            Unavailable,
            InsufficientStorage,
            Internal,
        ]
    }

    /// A stable machine-readable name, used in logs and the admin API.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Invalid => "invalid",
            ErrorKind::DigestMismatch => "digest_mismatch",
            ErrorKind::RangeNotSatisfiable => "range_not_satisfiable",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Blocked { .. } => "blocked",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::InsufficientStorage => "insufficient_storage",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The one error type that crosses crate boundaries.
pub struct Error {
    pub kind: ErrorKind,
    pub msg: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
            source: None,
        }
    }
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, msg)
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, msg)
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, msg)
    }
    /// An I/O failure below the protocol layer: always internal, with the cause kept for logs.
    pub fn io(context: &str, e: std::io::Error) -> Self {
        Self::internal(format!("{context}: {e}")).with_source(e)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.msg)?;
        if let Some(s) = &self.source {
            write!(f, " (caused by: {s})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
