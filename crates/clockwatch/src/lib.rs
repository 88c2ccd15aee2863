//! A fake wall clock for programs LD_PRELOAD cannot reach (static, Go, musl).
//!
//! The command is started under a seccomp filter ([`filter`]) that sends
//! REALTIME-family system calls and absolute REALTIME sleeps to a supervisor by
//! `SECCOMP_RET_USER_NOTIF`, stops absolute REALTIME deadlines of futex waits and
//! timers for the tracer to convert (`deadline`), and lets MONOTONIC, BOOTTIME and
//! CPU clocks through in the kernel. The supervisor follows the tree with ptrace
//! ([`tracer`]). At each exec of a program the shim cannot reach it redirects the
//! vDSO's wall-clock functions to a stub page injected into the program
//! ([`inject`], [`vdso`], [`stub`]; x86_64), which answers frozen and ticking reads
//! in user space and leaves every other clock to the vDSO (issue 14's design (a),
//! kept to the wall clock). Where that cannot be done (aarch64, a failed
//! injection) it hides the vDSO ([`auxv`]), so the program's clock reads become
//! system calls, which [`notify`] answers from the same [`clock::ShimClock`] the
//! shim is given ([`fake`]) — design (b). Dynamically linked programs keep their
//! vDSO and the shim's fast path.
//!
//! Use: [`handover`] before fork; in the child [`Prepared::install`] then exec; in a
//! process that has no other children (its `waitpid(-1)` must see only tracees),
//! [`Supervisor::run`].

pub mod auxv;
mod child;
mod deadline;
mod error;
pub mod fake;
pub mod filter;
#[cfg(target_arch = "x86_64")]
pub mod inject;
pub mod notify;
pub mod stats;
pub mod stub;
pub mod tracees;
pub mod tracer;
pub mod vdso;

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;

pub use child::Prepared;
pub use error::ClockwatchError;
pub use filter::Routes;
pub use stats::Stats;
pub use tracer::{needs_watch, RootExit};

/// What the supervisor answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub clock: clock::ShimClock,
    pub routes: Routes,
    pub vdso: VdsoPath,
    /// Ask the kernel to hand the CPU straight between a notified caller and the
    /// supervisor (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6+).
    pub sync_wake_up: bool,
}

impl Options {
    /// The fastest mechanism this host offers, for `clock`.
    pub fn new(clock: clock::ShimClock) -> Options {
        Options { clock, routes: Routes::default(), vdso: VdsoPath::default(), sync_wake_up: true }
    }
}

/// How a program the shim cannot reach gets the fake clock at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VdsoPath {
    /// Its vDSO's wall-clock functions are redirected to a stub page that answers
    /// in user space ([`inject`], x86_64); hidden as below if that fails.
    #[default]
    Redirect,
    /// Its vDSO is hidden ([`auxv`]): every clock read becomes a system call and
    /// wall-clock reads are answered by the supervisor.
    Hide,
}

/// The supervisor's end of the handover socket.
pub struct Supervisor {
    sock: OwnedFd,
}

/// A socket pair for the listener handover: the child's half (with the filter) and
/// the supervisor's.
pub fn handover(routes: &Routes) -> Result<(Prepared, Supervisor), ClockwatchError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr())
    };
    if r != 0 {
        return Err(ClockwatchError::last("socketpair"));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Prepared::new(routes, a), Supervisor { sock: b }))
}

impl Supervisor {
    /// Receives the listener from the child, attaches to it, lets it exec, and
    /// answers its tree until no traced process is left. Returns the root's exit.
    pub fn run(
        self,
        opts: &Options,
        warn: &mut dyn FnMut(String),
    ) -> Result<(Option<RootExit>, Stats), ClockwatchError> {
        let me = std::process::id().to_ne_bytes();
        // SAFETY: writes four bytes from a valid buffer.
        if unsafe { libc::write(self.sock.as_raw_fd(), me.as_ptr().cast(), 4) } != 4 {
            return Err(ClockwatchError::last("handover write"));
        }
        let (pid, listener) = recv_fd(self.sock.as_raw_fd())?;
        tracer::seize(pid)?;
        let go = [child::GO];
        // SAFETY: writes one byte from a valid buffer.
        if unsafe { libc::write(self.sock.as_raw_fd(), go.as_ptr().cast(), 1) } != 1 {
            return Err(ClockwatchError::last("handover write"));
        }
        let clock = Arc::new(fake::FakeClock::new(opts.clock, fake::FakeClock::host_tai_offset()));
        let tracees = Arc::new(tracees::Tracees::default());
        tracees.add(pid, false);
        let counts = Arc::new(stats::Counts::default());
        let (t, c, n, sync) = (tracees.clone(), clock.clone(), counts.clone(), opts.sync_wake_up);
        std::thread::Builder::new()
            .name("clockwatch-notify".into())
            .spawn(move || notify::serve(listener, c, t, &n, sync))
            .map_err(|source| ClockwatchError::Sys { what: "spawn the notification thread", source })?;
        let root = tracer::follow(pid, &tracees, &clock, opts.vdso, &counts, warn);
        Ok((root, counts.snapshot()))
    }
}

/// Forks the supervisor as its own process and returns its pid. Call from a
/// single-threaded process (the sandbox's PID 1): the child allocates and starts
/// threads. Its `waitpid(-1)` sees only tracees, since it has no children.
pub fn spawn_supervisor(sup: Supervisor, opts: &Options) -> Result<i32, ClockwatchError> {
    // SAFETY: the caller is single-threaded, so the child may do anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(ClockwatchError::last("fork the clock supervisor"));
    }
    if pid == 0 {
        // Hold none of the caller's descriptors (pipes whose EOF it waits for).
        let keep = sup.sock.as_raw_fd() as libc::c_uint;
        // SAFETY: closes descriptors of this fresh child only.
        unsafe {
            if keep > 3 {
                libc::close_range(3, keep - 1, 0);
            }
            libc::close_range(keep + 1, libc::c_uint::MAX, 0);
        }
        let code = match sup.run(opts, &mut |w| eprintln!("{w}")) {
            // The command failed before exec (not found...): PID 1 reports that.
            Ok(_) | Err(ClockwatchError::NoListener) => 0,
            Err(e) => {
                eprintln!("flakebox: warning: clock supervisor: {e}; the clock of static and Go programs is NOT frozen");
                1
            }
        };
        // SAFETY: ends the forked supervisor without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Whether this host can run the mechanism, checked in a throwaway child: seccomp
/// user notification (Linux 5.0+, not blocked by a container profile) and ptrace
/// of a sibling (Yama's ptrace_scope at most 1). Returns why not. Checked once
/// per process: what it depends on (the kernel, the container's profile, a
/// sysctl an administrator would change between runs, not during one) stays.
pub fn probe() -> Result<(), String> {
    static ANSWER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(probe_now).clone()
}

/// [`probe`], every time.
pub fn probe_now() -> Result<(), String> {
    let yama = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok();
    if let Some(level) = yama.as_deref().map(str::trim).filter(|l| *l == "2" || *l == "3") {
        return Err(format!(
            "ptrace is restricted (kernel.yama.ptrace_scope = {level}); set it to 1: sysctl kernel.yama.ptrace_scope=1"
        ));
    }
    let prog = filter::program(&filter::Arch::native(), &Routes::default());
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr().cast_mut() };
    let (mut res, mut hold) = ([0 as RawFd; 2], [0 as RawFd; 2]);
    // SAFETY: out-arrays of two ints.
    if unsafe {
        libc::pipe2(res.as_mut_ptr(), libc::O_CLOEXEC) != 0
            || libc::pipe2(hold.as_mut_ptr(), libc::O_CLOEXEC) != 0
    } {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only makes system calls on data prepared before fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe calls only, then _exit.
        unsafe {
            // Only the parent may hold the write end of `hold` (EOF there
            // ends the child) and the read end of `res`; and if the parent
            // is killed mid-probe, the child goes with it.
            libc::close(hold[1]);
            libc::close(res[0]);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if libc::getppid() != parent {
                libc::_exit(0);
            }
            let mut errno: i32 = 0;
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    &raw const fprog,
                ) < 0
            {
                errno = *libc::__errno_location();
            }
            libc::write(res[1], (&raw const errno).cast(), 4);
            let mut b = 0u8;
            libc::read(hold[0], (&raw mut b).cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copies of the child's ends and reading into a local.
    let (errno, n) = unsafe {
        libc::close(res[1]);
        libc::close(hold[0]);
        let mut errno: i32 = 0;
        let n = if pid > 0 { libc::read(res[0], (&raw mut errno).cast(), 4) } else { -1 };
        libc::close(res[0]);
        (errno, n)
    };
    let seized = if pid > 0 && n == 4 {
        // SAFETY: attach to and release our own blocked child.
        let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) };
        (r == 0).then_some(()).ok_or_else(std::io::Error::last_os_error)
    } else {
        Err(std::io::Error::last_os_error())
    };
    // SAFETY: end the probe child (detaches the tracer too) and reap it.
    unsafe {
        libc::close(hold[1]);
        if pid > 0 {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        }
    }
    if n != 4 {
        return Err("could not run the probe process".into());
    }
    if errno != 0 {
        return Err(format!(
            "seccomp user notification is unavailable ({}); it needs Linux 5.0+ and, in a container, a seccomp profile that allows seccomp(2)",
            std::io::Error::from_raw_os_error(errno)
        ));
    }
    seized.map_err(|e| format!("ptrace is refused ({e}); in a container allow it (docker: --cap-add SYS_PTRACE, or a seccomp profile that allows ptrace)"))
}

fn recv_fd(sock: RawFd) -> Result<(i32, OwnedFd), ClockwatchError> {
    let mut data = [0u8; 4];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr is plain data; recvmsg fills at most the buffers given.
    let fd = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(ClockwatchError::last("receive the seccomp listener"));
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if n != 4 || c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(ClockwatchError::NoListener);
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>())
    };
    // SAFETY: the kernel just installed fd in our table for us.
    Ok((i32::from_ne_bytes(data), unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Runs `argv` (PATH searched) under the mechanism and returns its wait status
/// and what the supervisor did.
/// The calling process becomes the supervisor: it must have no other children.
pub fn run_command(
    opts: &Options,
    argv: &[OsString],
    warn: &mut dyn FnMut(String),
) -> Result<(i32, Stats), ClockwatchError> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| {
            CString::new(a.clone().into_vec()).map_err(|_| ClockwatchError::Sys {
                what: "argument with a NUL byte",
                source: std::io::ErrorKind::InvalidInput.into(),
            })
        })
        .collect::<Result<_, _>>()?;
    let Some(first) = args.first() else {
        return Err(ClockwatchError::Sys {
            what: "empty command",
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let (prepared, sup) = handover(&opts.routes)?;
    // SAFETY: the child only makes async-signal-safe calls before execvp/_exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(ClockwatchError::last("fork"));
    }
    if pid == 0 {
        // SAFETY: in the child, right after fork.
        unsafe {
            if prepared.install().is_ok() {
                libc::execvp(first.as_ptr(), ptrs.as_ptr());
            }
            libc::_exit(127);
        }
    }
    drop(prepared);
    let (exit, stats) = sup.run(opts, warn)?;
    Ok((exit.map(|e| e.status).unwrap_or(0), stats))
}
