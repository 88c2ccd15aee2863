use std::path::PathBuf;

/// What can go wrong setting up or running the clock supervisor.
#[derive(Debug, thiserror::Error)]
pub enum ClockwatchError {
    /// A system call failed; `what` names the step.
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused to attach (Yama ptrace_scope, a container profile, another tracer).
    #[error("cannot trace pid {pid} (ptrace refused: {source}); check /proc/sys/kernel/yama/ptrace_scope and the container's seccomp/AppArmor profile")]
    PtraceRefused {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    /// The stack at an exec stop did not hold a well-formed auxiliary vector.
    #[error("pid {pid}: no auxiliary vector found on the stack at exec")]
    NoAuxv { pid: i32 },
    /// Reading or writing another process's memory failed.
    #[error("{}: {source}", path.display())]
    Mem {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The child never handed over its listener (it died or the socket closed).
    #[error("the command exited before its seccomp listener was handed over")]
    NoListener,
}

impl ClockwatchError {
    pub(crate) fn last(what: &'static str) -> ClockwatchError {
        ClockwatchError::Sys { what, source: std::io::Error::last_os_error() }
    }
}
