//! What the supervisor did, counted: which path each program's clock took and how
//! many reads reached the supervisor (tests check the fast path is the one used;
//! `clockwatch-run --stats` prints them).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Live counters, shared by the tracer and the answering thread.
#[derive(Debug, Default)]
pub struct Counts {
    /// Programs whose vDSO clock functions were redirected to the stub.
    pub redirected: AtomicU64,
    /// Programs whose vDSO was hidden, the redirection having failed first.
    pub fallbacks: AtomicU64,
    /// Programs whose vDSO was hidden (fallbacks included).
    pub hidden: AtomicU64,
    /// Wall-clock reads answered by the supervisor (system calls).
    pub reads: AtomicU64,
    /// Whether the kernel took SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP.
    pub sync_wake_up: AtomicBool,
}

/// A snapshot of [`Counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub redirected: u64,
    pub fallbacks: u64,
    pub hidden: u64,
    pub reads: u64,
    pub sync_wake_up: bool,
}

impl Counts {
    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            redirected: get(&self.redirected),
            fallbacks: get(&self.fallbacks),
            hidden: get(&self.hidden),
            reads: get(&self.reads),
            sync_wake_up: self.sync_wake_up.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "clockwatch: redirected {} hidden {} fallbacks {} reads {} sync_wake_up {}",
            self.redirected, self.hidden, self.fallbacks, self.reads, self.sync_wake_up as u8
        )
    }
}
