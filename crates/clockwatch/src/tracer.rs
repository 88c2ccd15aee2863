//! The ptrace side: follows the command's process tree (forks, clones, execs) and,
//! at every exec of a program the shim cannot reach, redirects or hides its vDSO; at the
//! filter's trace stops of those programs it converts absolute deadlines
//! ([`crate::deadline`]). Other stops are passed through: signals re-injected,
//! group stops kept (PTRACE_LISTEN).

use std::path::Path;
use std::sync::atomic::Ordering;

use clock::reach::Reach;

use crate::error::Failed;
use crate::fake::FakeClock;
use crate::stats::Counts;
use crate::tracees::Tracees;
use crate::ClockwatchError;
use crate::VdsoPath;

const OPTIONS: libc::c_int = libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    // The filter's SECCOMP_RET_TRACE: absolute deadlines to convert.
    | libc::PTRACE_O_TRACESECCOMP
    // Syscall stops (only while the vDSO is redirected) tell themselves apart.
    | libc::PTRACE_O_TRACESYSGOOD
    // If the supervisor dies, the tree dies with it rather than reading the real clock.
    | libc::PTRACE_O_EXITKILL;

/// Whether a program needs its vDSO redirected or hidden: the shim cannot reach it and the reason
/// is its linking (setuid and file-capability programs run without privileges under
/// the filter's no_new_privs, so the shim reaches them after all).
pub fn needs_watch(reach: &Reach) -> bool {
    match reach {
        Reach::Static | Reach::Go | Reach::Musl => true,
        Reach::Script { interpreter_reach, .. } => needs_watch(interpreter_reach),
        Reach::Dynamic | Reach::Setuid | Reach::FileCaps | Reach::NotElf => false,
    }
}

/// Attaches to `pid` (stopped or blocked before its exec).
pub fn seize(pid: i32) -> Result<(), ClockwatchError> {
    // SAFETY: plain ptrace request; the kernel checks permissions.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, OPTIONS as usize) };
    if r != 0 {
        return Err(ClockwatchError::PtraceRefused { pid, source: std::io::Error::last_os_error() });
    }
    Ok(())
}

fn cont(pid: i32, request: libc::c_uint, sig: i32) {
    // SAFETY: resumes a stopped tracee; ESRCH (it was killed meanwhile) is harmless.
    unsafe { libc::ptrace(request, pid, 0usize, sig as usize) };
}

fn event_msg(pid: i32) -> Option<i32> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: GETEVENTMSG writes one c_ulong.
    let r = unsafe { libc::ptrace(libc::PTRACE_GETEVENTMSG, pid, 0usize, &raw mut msg) };
    (r == 0).then_some(msg as i32)
}

/// `Tgid` and `PPid` of a thread, from /proc.
fn tgid_ppid(tid: i32) -> Option<(i32, i32)> {
    let s = std::fs::read(format!("/proc/{tid}/status")).ok()?;
    let field = |name: &[u8]| {
        s.split(|b| *b == b'\n')
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<i32>().ok())
    };
    Some((field(b"Tgid:")?, field(b"PPid:")?))
}

/// At the exec stop of a program the shim cannot reach: redirect its vDSO's
/// wall-clock functions (x86_64), or else hide its vDSO.
fn exec_stop(pid: i32, path: VdsoPath, clock: &FakeClock, counts: &Counts) -> Result<(), Failed> {
    #[cfg(target_arch = "x86_64")]
    if path == VdsoPath::Redirect {
        match crate::inject::redirect(pid, clock) {
            Ok(()) => {
                counts.redirected.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(Failed::Fallback(_)) => counts.fallbacks.fetch_add(1, Ordering::Relaxed),
            Err(e) => return Err(e),
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (path, clock);
    crate::auxv::hide_vdso(pid)?;
    counts.hidden.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// What the tracer saw happen to the root process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootExit {
    /// The raw wait status.
    pub status: i32,
}

/// Follows the tree until no tracee is left; warnings (a program whose vDSO could
/// be neither redirected nor hidden, a deadline that could not be converted) go to `warn`.
pub fn follow(
    root: i32,
    tracees: &Tracees,
    clock: &FakeClock,
    path: VdsoPath,
    counts: &Counts,
    warn: &mut dyn FnMut(String),
) -> Option<RootExit> {
    let mut warned_deadline = false;
    let mut root_exit = None;
    let mut known = std::collections::HashSet::from([root]);
    loop {
        let mut status = 0;
        // SAFETY: waits for any tracee (or child); status is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return root_exit;
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            tracees.remove(pid);
            known.remove(&pid);
            if pid == root {
                root_exit = Some(RootExit { status });
            }
            continue;
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        if known.insert(pid) {
            // A new thread or process whose creator's event may not have come yet.
            if let Some((tgid, ppid)) = tgid_ppid(pid) {
                let from = if tgid != pid { tgid } else { ppid };
                tracees.add(pid, tracees.is_watched(from));
            }
        }
        let sig = libc::WSTOPSIG(status);
        match status >> 16 {
            libc::PTRACE_EVENT_EXEC => {
                if let Some(old) = event_msg(pid).filter(|o| *o != pid) {
                    tracees.remove(old);
                    known.remove(&old);
                }
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                let watch = exe
                    .as_deref()
                    .and_then(|_| clock::reach::inspect(Path::new(&format!("/proc/{pid}/exe"))).ok())
                    .is_some_and(|r| needs_watch(&r));
                let mut on = false;
                if watch {
                    match exec_stop(pid, path, clock, counts) {
                        Ok(()) => on = true,
                        Err(Failed::Exited(status)) => {
                            tracees.remove(pid);
                            known.remove(&pid);
                            if pid == root {
                                root_exit = Some(RootExit { status });
                            }
                            continue;
                        }
                        Err(Failed::Fallback(e)) => warn(format!(
                            "flakebox: warning: {}: cannot hide its vDSO ({e}); its clock is NOT frozen",
                            exe.as_deref().unwrap_or(Path::new("?")).display()
                        )),
                    }
                }
                tracees.exec(pid, on);
                cont(pid, libc::PTRACE_CONT, 0);
            }
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Some(child) = event_msg(pid) {
                    if known.insert(child) {
                        tracees.add(child, tracees.is_watched(pid));
                    }
                }
                cont(pid, libc::PTRACE_CONT, 0);
            }
            libc::PTRACE_EVENT_SECCOMP => {
                // A process the shim reaches has converted its own deadline.
                if tracees.is_watched(pid) {
                    let tgid = tgid_ppid(pid).map_or(pid, |(tgid, _)| tgid);
                    if let Err(e) = crate::deadline::convert(pid, tgid, clock, tracees) {
                        if !std::mem::replace(&mut warned_deadline, true) {
                            warn(format!(
                                "flakebox: warning: process {pid}: an absolute deadline kept its fake time ({e}); it may fire early or late"
                            ));
                        }
                    }
                }
                cont(pid, libc::PTRACE_CONT, 0);
            }
            libc::PTRACE_EVENT_STOP => {
                if matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU) {
                    cont(pid, libc::PTRACE_LISTEN, 0);
                } else {
                    cont(pid, libc::PTRACE_CONT, 0);
                }
            }
            // A signal on its way to the tracee: deliver it.
            _ => cont(pid, libc::PTRACE_CONT, sig),
        }
    }
}
