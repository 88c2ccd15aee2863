//! Errors of the sandbox library.

use std::io;

/// Why a sandbox could not be created or run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel refused to create the namespaces.
    #[error("cannot create namespaces ({flags}): {source}{hint}")]
    Namespaces {
        flags: String,
        source: nix::Error,
        /// A sentence naming the likely host cause, or empty.
        hint: String,
    },
    /// Setting up inside the sandbox failed (mounts, network, ...).
    #[error("sandbox set-up failed: {0}")]
    Setup(String),
    /// A system call on the supervisor side failed.
    #[error("{what}: {source}")]
    Sys { what: String, source: nix::Error },
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// PID 1 of the sandbox died without reporting (a bug, or it was killed).
    #[error("the sandbox's init process ended without a report ({0})")]
    InitLost(String),
    /// The caller must run the sandbox from a single-threaded process.
    #[error("sandbox::run must be called from a single-threaded process (this one has {0} threads)")]
    Threaded(usize),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The start gate closed before releasing the command: it never ran.
    #[error("the run was cancelled before the command started")]
    Cancelled,
}

impl SandboxError {
    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        SandboxError::Sys { what: what.into(), source }
    }
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        SandboxError::Io { what: what.into(), source }
    }
}

/// Attach a description to a nix error, for set-up steps inside the sandbox
/// (they travel to the supervisor as text).
pub(crate) trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, String>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {}", what(), e.desc()))
    }
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {}", what(), e))
    }
}
