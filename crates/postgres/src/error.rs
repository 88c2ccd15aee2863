use std::io;
use std::path::PathBuf;

/// Everything that can go wrong, with enough context to show the user as is.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No directory with `postgres` and `initdb` was found.
    #[error(
        "PostgreSQL server binaries (postgres, initdb) not found; searched:\n{}\n\
         Install the server (Debian/Ubuntu: `apt-get install postgresql`, \
         Fedora: `dnf install postgresql-server`, Arch: `pacman -S postgresql`) \
         or pass --postgres-bin DIR / set PG_CONFIG",
        searched.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n")
    )]
    NotFound { searched: Vec<String> },

    /// `--postgres-bin DIR` was given but is unusable.
    #[error("--postgres-bin {}: {reason}", dir.display())]
    BadBinDir { dir: PathBuf, reason: String },

    /// No `psql` next to the server or on the usual paths.
    #[error("psql not found (looked in {}); install the PostgreSQL client (Debian/Ubuntu: `apt-get install postgresql-client`)",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    PsqlNotFound { searched: Vec<PathBuf> },

    /// An operating-system call failed; `context` says what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    /// `initdb` failed while building the template.
    #[error("initdb failed ({status}); its output ends with:\n{tail}")]
    Initdb { status: String, tail: String },

    /// An `--postgres-init` file failed; nothing was cached.
    #[error("--postgres-init {}: {error}", file.display())]
    InitSql { file: PathBuf, error: String },

    /// Bad `--postgres-init` argument (not a file, empty directory, ...).
    #[error("--postgres-init {}: {reason}", path.display())]
    BadInit { path: PathBuf, reason: String },

    /// The server exited or never became ready.
    #[error("postgres failed to start: {reason}; {} ends with:\n{tail}", log.display())]
    Start { reason: String, log: PathBuf, tail: String },

    /// A path cannot be used (socket path too long, directory not traversable, ...).
    #[error("{}: {reason}", path.display())]
    BadPath { path: PathBuf, reason: String },

    /// An evidence query failed (connection refused, a broken stream).
    #[error("querying the server: {0}")]
    Query(String),

    /// Copying or creating cluster files failed.
    #[error(transparent)]
    Fs(#[from] hostfs::Error),

    /// Removing a directory tree (an old data directory, a failed build) left
    /// entries behind.
    #[error(transparent)]
    Remove(#[from] hostfs::RemoveError),

    /// The server did not stop even after SIGKILL was sent.
    #[error("postgres (pid {pid}) did not exit after SIGKILL")]
    StopTimeout { pid: u32 },
}

/// Attaches a description of the attempted operation to an `io::Error`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}

/// `io_err` for nix errors.
pub(crate) fn nix_err(context: impl Into<String>) -> impl FnOnce(nix::Error) -> PgError {
    let context = context.into();
    move |e| PgError::Io { context, source: io::Error::from(e) }
}
