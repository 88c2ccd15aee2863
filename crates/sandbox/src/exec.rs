//! Starting the command: everything is prepared before fork, so the child only
//! makes system calls; an exec failure travels back over a close-on-exec pipe
//! (EOF means the exec succeeded), as shells and bubblewrap do.

use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

pub struct Prepared {
    /// Paths to try, in `PATH` order.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    /// NULL-terminated pointers into `argv` and `envp`, built before fork so
    /// the child never allocates (the CStrings' buffers do not move).
    argv_ptrs: Vec<*const libc::c_char>,
    env_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    cwd: CString,
    /// Make the command's process group the terminal's foreground group.
    take_terminal: bool,
    /// Capabilities to drop before exec (as root).
    caps: Option<crate::capabilities::Drop>,
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
}

pub fn prepare(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    cwd: &std::path::Path,
    take_terminal: bool,
    caps: Option<crate::capabilities::Drop>,
) -> Result<Prepared, String> {
    let first = argv.first().ok_or("no command given")?;
    let cargv = argv.iter().map(|a| cstring(a.as_bytes(), "an argument")).collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(&kv, "an environment variable")
        })
        .collect::<Result<Vec<_>, _>>()?;
    // execvp's search, resolved here because the child may not allocate;
    // relative candidates are relative to `cwd`, which the child enters first.
    let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str());
    let candidates = hostfs::search_candidates(first, path)
        .iter()
        .map(|c| cstring(c.as_os_str().as_bytes(), "the command or a PATH entry"))
        .collect::<Result<Vec<_>, _>>()?;
    let ptrs =
        |v: &[CString]| v.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    Ok(Prepared {
        candidates,
        argv_ptrs: ptrs(&cargv),
        env_ptrs: ptrs(&envp),
        argv: cargv,
        _envp: envp,
        cwd: cstring(cwd.as_os_str().as_bytes(), "the working directory")?,
        take_terminal,
        caps,
    })
}

/// Error record sent by the child: (errno, stage, candidate index).
const STAGE_CHDIR: i32 = 1;
const STAGE_EXEC: i32 = 2;
const STAGE_CAPS: i32 = 3;
const STAGE_CLOCK: i32 = 4;

/// The child's stack: it only makes system calls before exec.
const CHILD_STACK: usize = 64 << 10;

/// Start the command as a child of this (single-threaded) process: a
/// vfork-style clone (`CLONE_VM | CLONE_VFORK`, as posix_spawn does), so
/// that neither process pays for copying and then faulting in this one's
/// page tables (a plain fork of PID 1 costs ~0.3 ms). We resume once the
/// child has exec'd or failed; a failure is on `err_fd`.
pub fn spawn(
    p: &Prepared,
    watch: Option<&clockwatch::Prepared>,
    err_fd: RawFd,
) -> nix::Result<nix::unistd::Pid> {
    use nix::sched::CloneFlags;
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the child runs on its own stack and, sharing our memory, only
    // makes system calls on data prepared before the clone (no allocation,
    // no locks); it ends in execve or _exit, while we are suspended. This
    // process has no signal handlers that could run in it (PID 1 takes its
    // signals through a signalfd), and the child resets dispositions first.
    unsafe {
        nix::sched::clone(
            Box::new(|| child(p, watch, err_fd)),
            &mut stack,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }
}

/// In the child: set up the process and exec. Never returns.
/// Only async-signal-safe calls from here on.
fn child(p: &Prepared, watch: Option<&clockwatch::Prepared>, err_fd: RawFd) -> ! {
    // SAFETY: raw syscalls on memory prepared before fork; no allocation.
    unsafe {
        libc::setpgid(0, 0);
        if p.take_terminal {
            // Become the terminal's foreground group so Ctrl-C reaches the
            // command as it would without flakebox; a background group must
            // ignore SIGTTOU to be allowed to do this.
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(0, libc::getpid());
        }
        // Dispositions and the mask survive exec: restore the defaults
        // (Rust ignores SIGPIPE; PID 1 blocked the forwarded signals).
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());

        if libc::chdir(p.cwd.as_ptr()) != 0 {
            report(err_fd, STAGE_CHDIR, 0);
        }
        // After chdir, which may need the capabilities dropped here.
        if let Some(caps) = &p.caps {
            let t = crate::step_times::now();
            let applied = caps.apply();
            crate::step_times::record(b"caps_apply", t);
            if let Err(errno) = applied {
                *libc::__errno_location() = errno;
                report(err_fd, STAGE_CAPS, 0);
            }
        }
        // Last before exec: the filter, and the supervisor attached.
        if let Some(w) = watch {
            if let Err(errno) = w.install() {
                *libc::__errno_location() = errno;
                report(err_fd, STAGE_CLOCK, 0);
            }
        }
        let mut denied: i32 = -1;
        let mut last_errno = libc::ENOENT;
        for (i, cand) in p.candidates.iter().enumerate() {
            libc::execve(cand.as_ptr(), p.argv_ptrs.as_ptr(), p.env_ptrs.as_ptr());
            let errno = *libc::__errno_location();
            match errno {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => {
                    // A PATH directory we may not search is "not found" (as
                    // in shells); an existing file we may not run is denied.
                    let mut st: libc::stat = std::mem::zeroed();
                    if denied < 0 && libc::stat(cand.as_ptr(), &mut st) == 0 {
                        denied = i as i32;
                    }
                }
                _ => report(err_fd, STAGE_EXEC, i as i32),
            }
            last_errno = errno;
        }
        if denied >= 0 {
            *libc::__errno_location() = libc::EACCES;
            report(err_fd, STAGE_EXEC, denied);
        }
        *libc::__errno_location() = if last_errno == libc::EACCES { libc::ENOENT } else { last_errno };
        report(err_fd, STAGE_EXEC, p.candidates.len() as i32 - 1)
    }
}

fn report(fd: RawFd, stage: i32, index: i32) -> ! {
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        let rec = [*libc::__errno_location(), stage, index];
        libc::write(fd, rec.as_ptr().cast(), std::mem::size_of_val(&rec));
        libc::_exit(127)
    }
}

/// Decode the child's error record into (exit code, message): 127 when the
/// command was not found, 126 when it could not be executed.
pub fn decode(p: &Prepared, bytes: &[u8]) -> Option<(i32, String)> {
    if bytes.len() < 12 {
        return None;
    }
    let word = |i: usize| i32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (errno, stage, index) = (word(0), word(4), word(8));
    let err = nix::Error::from_raw(errno);
    if stage == STAGE_CLOCK {
        return Some((126, format!("cannot start the clock supervisor's filter: {}", err.desc())));
    }
    if stage == STAGE_CHDIR {
        return Some((126, format!("cannot enter the working directory {:?}: {}", p.cwd, err.desc())));
    }
    if stage == STAGE_CAPS {
        return Some((126, format!("cannot drop the command's capabilities: {}", err.desc())));
    }
    let name = p.argv.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let path = p
        .candidates
        .get(index.max(0) as usize)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());
    Some(match err {
        nix::Error::ENOENT | nix::Error::ENOTDIR if p.candidates.len() > 1 || !name.contains('/') => {
            (127, format!("{name}: command not found in PATH"))
        }
        nix::Error::ENOENT | nix::Error::ENOTDIR => (127, format!("{path}: no such file")),
        nix::Error::EACCES => (126, format!("{path}: permission denied (not executable?)")),
        nix::Error::ENOEXEC => (126, format!("{path}: not an executable format (a script without #!?)")),
        e => (126, format!("{path}: cannot execute: {}", e.desc())),
    })
}
