//! The supervisor: clone PID 1 into new namespaces, write its id maps, let it
//! go, then forward signals, enforce the timeout and read its report.

use crate::pid1::{self, InitReport, FORWARDED};
use crate::{host, ipc, net, user, Config, Evidence, Outcome, SandboxError, Status};
use nix::sched::clone;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// PID 1's stack. It never execs, so it runs on this for the whole sandbox;
/// pages are only touched as used.
const STACK_SIZE: usize = 8 << 20;

/// PID 1s that had reported but not yet finished exiting when `run`
/// returned; reaped by the next `run` (or by init when this process exits).
static PENDING: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

fn reap_later(pid: nix::unistd::Pid) {
    if let Ok(mut p) = PENDING.lock() {
        p.push(pid.as_raw());
    }
}

fn reap_pending() {
    if let Ok(mut p) = PENDING.lock() {
        p.retain(|&pid| {
            matches!(
                waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::StillAlive)
            )
        });
    }
}

/// Run `cfg.argv` in a sandbox and wait for it. Must be called from a
/// single-threaded process (PID 1 is cloned and allocates before exec).
/// Returns once PID 1 has reported: by then the command and everything it
/// started are dead; the kernel may still be dismantling the namespaces.
pub fn run(mut cfg: Config) -> Result<Outcome, SandboxError> {
    reap_pending();
    validate(&cfg)?;
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threaded(threads));
    }
    let userns = !host::is_root();
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let flags = host::namespace_flags(cfg.isolate_net);
    let take_terminal = nix::unistd::isatty(0).unwrap_or(false)
        && nix::unistd::tcgetpgrp(std::io::stdin()).ok() == Some(nix::unistd::getpgrp());
    let (timeout, kill_after) = (cfg.timeout, cfg.kill_after);

    // Blocked before clone so no signal is lost between clone and the loop;
    // PID 1 inherits the mask and keeps it.
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    let mut old_mask = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old_mask))
        .map_err(|e| SandboxError::sys("blocking signals", e))?;
    let result = supervise(&mut cfg, userns, uid, gid, flags, take_terminal, &mask, timeout, kill_after);
    if take_terminal {
        reclaim_terminal();
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

#[allow(clippy::too_many_arguments)]
fn supervise(
    cfg: &mut Config,
    userns: bool,
    uid: u32,
    gid: u32,
    flags: nix::sched::CloneFlags,
    take_terminal: bool,
    mask: &SigSet,
    timeout: Option<Duration>,
    kill_after: Duration,
) -> Result<Outcome, SandboxError> {
    let (go_r, go_w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
    let (rep_r, rep_w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
    // With a start gate, PID 1 waits on a pipe of ours after set-up, and we
    // relay the gate's byte (or its EOF) and start the clock then.
    let mut gate = cfg.start_gate.take().map(std::fs::File::from);
    // PID 1 inherits these by clone; the command must not by exec.
    for fd in gate
        .as_ref()
        .map(|g| g.as_raw_fd())
        .into_iter()
        .chain(cfg.done_signal.as_ref().map(|d| d.as_raw_fd()))
    {
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let (start_r, mut start_w) = match gate {
        Some(_) => {
            let (r, w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    // The network namespace is made beside PID 1's set-up (net.rs).
    let parallel_net = flags.contains(nix::sched::CloneFlags::CLONE_NEWNET);
    let flags = if parallel_net { flags - nix::sched::CloneFlags::CLONE_NEWNET } else { flags };
    let (net_ours, net_pid1) = if parallel_net {
        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| SandboxError::sys("socketpair", e))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let mut stack = vec![0u8; STACK_SIZE];
    let mut start = Instant::now();
    let mut ends = Some((go_r, start_r, net_pid1, rep_w));
    let our_start_w = start_w.as_ref().map(|w| w.as_raw_fd());
    let cb = Box::new(|| {
        let Some((go, start, net, report)) = ends.take() else {
            return 1;
        };
        if let Some(fd) = our_start_w {
            // PID 1's copy of our write end: closed, so that our closing it
            // reads as EOF (a cancelled run) over there.
            // SAFETY: closing a descriptor of PID 1's own (copied) table.
            unsafe { libc::close(fd) };
        }
        pid1::main(cfg, userns, take_terminal, go, start, net, report)
    });
    // SAFETY: the process is single-threaded (checked), so the child may
    // allocate; it never returns into our frames (pid1::main ends in _exit).
    let child = unsafe { clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(|e| {
        SandboxError::Namespaces { flags: describe(flags), source: e, hint: host::explain_clone_error(e) }
    })?;
    // Our copies of PID 1's ends: closing them lets EOF mean "PID 1 is gone".
    drop(ends);
    cfg.done_signal = None;
    if userns {
        if let Err(e) = user::write_id_maps(&child.to_string(), uid, gid) {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            return Err(SandboxError::io(
                format!("writing the user namespace id maps{}", host::explain_clone_error(nix::Error::EPERM)),
                e,
            ));
        }
    }
    ipc::write_all(&go_w, b"g").map_err(|e| SandboxError::io("starting the sandbox", e))?;
    drop(go_w);

    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| SandboxError::sys("signalfd", e))?;
    set_nonblocking(&rep_r);
    // Nothing below returns early: the maker is always joined.
    let net_maker = match net_ours {
        Some(sock) => {
            // Rootless, after the id maps: the helper joins PID 1's user namespace.
            let user_ns = if userns {
                Some(
                    std::fs::File::open(format!("/proc/{child}/ns/user"))
                        .map(std::os::fd::OwnedFd::from)
                        .map_err(|e| SandboxError::io("opening PID 1's user namespace", e))?,
                )
            } else {
                None
            };
            Some(
                net::create_for(sock, user_ns)
                    .map_err(|e| SandboxError::io("making the network namespace", e))?,
            )
        }
        None => None,
    };
    let mut report = Vec::new();
    let mut rep_open = true;
    let mut timed_out = false;
    let mut escalated: Option<i32> = None;
    let mut interrupts = 0;
    let mut kill_at: Option<Instant> = None;
    let mut deadline = if gate.is_some() { None } else { timeout.map(|t| start + t) };
    let mut exited = false;

    // Done when PID 1 has exited, or as soon as its whole report is in: the
    // report pipe closes when PID 1 drops its files, which the kernel does
    // before tearing down its namespaces; that teardown (milliseconds for a
    // few dozen mounts) then finishes without us waiting on it.
    // (Without a report, PID 1's exit is the only way to know it is gone.)
    while rep_open || (!exited && report.is_empty()) {
        let now = Instant::now();
        if let Some(d) = deadline {
            if !timed_out && now >= d {
                timed_out = true;
                let _ = kill(child, Signal::SIGTERM);
                kill_at = Some(now + kill_after);
            }
        }
        if let Some(k) = kill_at {
            if now >= k {
                let _ = kill(child, Signal::SIGKILL);
                kill_at = None;
            }
        }
        let next = [deadline.filter(|_| !timed_out), kill_at].into_iter().flatten().min();
        let wait_ms = match next {
            Some(t) => t.saturating_duration_since(now).as_millis().min(i32::MAX as u128) as i32 + 1,
            None => -1,
        };
        let wait_ms = if exited { 1000 } else { wait_ms };
        let mut fds = [
            libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd {
                fd: if rep_open { rep_r.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: gate.as_ref().map_or(-1, |g| g.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on three pollfds we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, wait_ms) };
        if n == 0 && exited {
            break; // PID 1 is gone; a lost writer cannot keep us here
        }
        if fds[1].revents != 0 {
            let mut buf = [0u8; 65536];
            match (&rep_r).read(&mut buf) {
                Ok(0) => rep_open = false,
                Ok(k) => report.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => rep_open = false,
            }
        }
        if fds[2].revents != 0 {
            let mut byte = [0u8; 1];
            let released = gate.as_ref().map(|mut g| g.read(&mut byte));
            if !matches!(released, Some(Err(ref e)) if e.kind() == std::io::ErrorKind::WouldBlock) {
                if let (Some(Ok(1)), Some(w)) = (released, &start_w) {
                    start = Instant::now();
                    deadline = timeout.map(|t| start + t);
                    let _ = ipc::write_all(w, b"s");
                }
                // Released or cancelled: either way PID 1 reads no more.
                start_w = None;
                gate = None;
            }
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => {}
                    Ok(_) | Err(_) => exited = true,
                }
            } else if let Ok(s) = Signal::try_from(sig) {
                if s == Signal::SIGINT {
                    interrupts += 1;
                }
                if interrupts >= 2 && s == Signal::SIGINT {
                    // A second Ctrl-C: stop asking, end the whole sandbox.
                    escalated = Some(sig);
                    let _ = kill(child, Signal::SIGKILL);
                } else {
                    let _ = kill(child, s);
                }
            }
        }
    }
    let duration = start.elapsed();
    if !exited {
        reap_later(child);
    }
    // Long done (PID 1 reported after entering its namespace, or is gone);
    // joined so the next run starts single-threaded.
    if let Some(m) = net_maker {
        m.join();
    }

    let parsed: Option<InitReport> = serde_json::from_slice(&report).ok();
    let status_override =
        if timed_out { Some(Status::TimedOut) } else { escalated.map(|signal| Status::Signaled { signal }) };
    match parsed {
        Some(InitReport { cancelled: true, .. }) => Err(SandboxError::Cancelled),
        Some(InitReport { setup_error: Some(e), .. }) => Err(SandboxError::Setup(e)),
        Some(InitReport { status: Some(status), evidence, .. }) => {
            Ok(Outcome { status: status_override.unwrap_or(status), duration, evidence })
        }
        _ => match status_override {
            Some(status) => {
                let evidence = Evidence {
                    warnings: vec!["the sandbox was killed before it could report its evidence".into()],
                    ..Evidence::default()
                };
                Ok(Outcome { status, duration, evidence })
            }
            None => Err(SandboxError::InitLost(format!("{} bytes of report", report.len()))),
        },
    }
}

fn validate(cfg: &Config) -> Result<(), SandboxError> {
    if cfg.argv.is_empty() {
        return Err(SandboxError::Config("no command given".into()));
    }
    if !cfg.cwd.is_absolute() {
        return Err(SandboxError::Config(format!(
            "the working directory {} is not absolute",
            cfg.cwd.display()
        )));
    }
    if let Some((k, _)) =
        cfg.collect.iter().find(|(a, b)| !a.is_absolute() || !b.is_absolute() || b.parent().is_none())
    {
        return Err(SandboxError::Config(format!("collected path {} is not absolute", k.display())));
    }
    if let Some(k) = cfg.keep.iter().find(|k| !k.is_absolute()) {
        return Err(SandboxError::Config(format!("--keep {} is not an absolute path", k.display())));
    }
    Ok(())
}

fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(1)
}

fn set_nonblocking(f: &std::fs::File) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Give the terminal back to our process group after the command had it.
fn reclaim_terminal() {
    // SAFETY: signal/tcsetpgrp on our own terminal; SIGTTOU is ignored only
    // for the call (a background group may otherwise not take it back).
    unsafe {
        let old = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        libc::tcsetpgrp(0, libc::getpgrp());
        libc::signal(libc::SIGTTOU, old);
    }
}

fn describe(flags: nix::sched::CloneFlags) -> String {
    use nix::sched::CloneFlags as F;
    let names = [
        (F::CLONE_NEWUSER, "user"),
        (F::CLONE_NEWNS, "mount"),
        (F::CLONE_NEWPID, "pid"),
        (F::CLONE_NEWNET, "net"),
        (F::CLONE_NEWUTS, "uts"),
        (F::CLONE_NEWIPC, "ipc"),
    ];
    names.iter().filter(|(f, _)| flags.contains(*f)).map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_flags() {
        use nix::sched::CloneFlags as F;
        assert_eq!(describe(F::CLONE_NEWNS | F::CLONE_NEWNET), "mount, net");
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Status::Exited { code: 3 }.exit_code(), 3);
        assert_eq!(Status::Signaled { signal: 9 }.exit_code(), 137);
        assert_eq!(Status::TimedOut.exit_code(), 124);
        assert_eq!(Status::NotRun { code: 127, message: String::new() }.exit_code(), 127);
    }
}
