use std::path::PathBuf;

/// Why a run could not be prepared, started or read back. Context and
/// cause are kept apart (`source`), so a caller printing the chain prints
/// each once.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    /// Bad input: the message names the value and what to do instead.
    #[error("{0}")]
    Invalid(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Reaper(#[from] hostfs::ReaperError),
    #[error(transparent)]
    Postgres(#[from] throwaway_pg::PgError),
    #[error("{context}")]
    PostgresContext {
        context: String,
        #[source]
        source: throwaway_pg::PgError,
    },
    #[error("{context}")]
    SandboxContext {
        context: String,
        #[source]
        source: sandbox::SandboxError,
    },
    #[error("the run request on descriptor {fd} is not valid JSON")]
    Request {
        fd: i32,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: not a run report", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunsError {
    let context = context.into();
    move |source| RunsError::Io { context, source }
}

/// An error and its causes on one line, `a: b: c` (as anyhow's `{:#}`).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}
