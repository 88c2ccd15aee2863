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
    /// The vDSO cannot be redirected (the program gets it hidden instead).
    #[error("{0}")]
    Vdso(#[from] crate::vdso::VdsoError),
    /// The child never handed over its listener (it died or the socket closed).
    #[error("the command exited before its seccomp listener was handed over")]
    NoListener,
}

impl ClockwatchError {
    pub(crate) fn last(what: &'static str) -> ClockwatchError {
        ClockwatchError::Sys { what, source: std::io::Error::last_os_error() }
    }
}

/// How an attempt ended when it did not redirect.
#[derive(Debug)]
pub enum Failed {
    /// Nothing the program will notice was changed: hide the vDSO instead.
    Fallback(ClockwatchError),
    /// The program exited or was killed meanwhile (its raw wait status, already reaped).
    Exited(i32),
}

impl From<ClockwatchError> for Failed {
    fn from(e: ClockwatchError) -> Failed {
        Failed::Fallback(e)
    }
}
