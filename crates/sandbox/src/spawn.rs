//! The supervisor: clone PID 1 into new namespaces, write its id maps, let it
//! go, then forward signals, enforce the timeout and read its report.

use crate::pid1::{self, InitReport, FORWARDED};
use crate::{host, ipc, net, user, Config, Evidence, Outcome, SandboxError, Status};
use nix::sched::{clone, CloneFlags};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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
    let launch = Launch::for_caller(&cfg);
    crate::step_times::open_from_env();
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
    let result = supervise(&mut cfg, &launch, &mask);
    crate::step_times::close();
    if launch.mode.take_terminal {
        reclaim_terminal();
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    result
}

/// What the supervisor decides about this caller before cloning PID 1.
struct Launch {
    mode: pid1::Mode,
    /// The caller's ids, mapped to root in PID 1's user namespace.
    uid: u32,
    gid: u32,
    /// The namespaces PID 1 is cloned into (the network namespace is made
    /// beside its set-up instead: `parallel_net`).
    flags: CloneFlags,
    parallel_net: bool,
    timeout: Option<Duration>,
    kill_after: Duration,
}

impl Launch {
    fn for_caller(cfg: &Config) -> Launch {
        let flags = host::namespace_flags(cfg.isolate_net);
        // The network namespace is made beside PID 1's set-up (net.rs).
        let parallel_net = flags.contains(CloneFlags::CLONE_NEWNET);
        Launch {
            mode: pid1::Mode {
                userns: !host::is_root(),
                take_terminal: nix::unistd::isatty(0).unwrap_or(false)
                    && nix::unistd::tcgetpgrp(std::io::stdin()).ok() == Some(nix::unistd::getpgrp()),
            },
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            flags: if parallel_net { flags - CloneFlags::CLONE_NEWNET } else { flags },
            parallel_net,
            timeout: cfg.timeout,
            kill_after: cfg.kill_after,
        }
    }
}

/// The supervisor's ends of its channels to PID 1.
struct Ours {
    /// "Go" once the id maps are written and PID 1 said it is armed.
    go: File,
    /// One byte from PID 1 once its parent-death signal is set.
    armed: File,
    report: File,
    /// The caller's start gate, relayed to PID 1 through `start`.
    gate: Option<File>,
    start: Option<File>,
    /// Sent the network namespace by [`net::create_for`].
    net: Option<OwnedFd>,
}

/// The supervisor's steps, in order.
fn supervise(cfg: &mut Config, launch: &Launch, mask: &SigSet) -> Result<Outcome, SandboxError> {
    // As root; rootless, the command is the caller's user and may write
    // whatever the caller may.
    let fd_warnings = if launch.mode.userns { Vec::new() } else { crate::inherited::reopen_read_only() };
    let (ours, theirs) = channels(cfg, launch)?;
    // Without a start gate, the timeout and the duration count from the clone.
    let cloned_at = Instant::now();
    let child = clone_pid1(cfg, launch, theirs, &ours.raw_fds())?;
    if launch.mode.userns {
        write_id_maps(child, launch)?;
    }
    wait_armed(&ours.armed, child)?;
    ipc::write_all(&ours.go, b"g").map_err(|e| SandboxError::io("starting the sandbox", e))?;
    let Ours { go, armed, report, gate, start, net } = ours;
    drop((go, armed));
    let sfd = SignalFd::with_flags(mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| SandboxError::sys("signalfd", e))?;
    set_nonblocking(&report);
    // Nothing below returns early: the maker is always joined.
    let net_maker = match net {
        Some(sock) => Some(make_network(sock, child, launch)?),
        None => None,
    };
    let mut watch = Watch::new(child, launch, cloned_at, gate, start);
    watch.run(&sfd, &report);
    let duration = watch.start.elapsed();
    if !watch.exited {
        reap_later(child);
    }
    // Long done (PID 1 reported after entering its namespace, or is gone);
    // joined so the next run starts single-threaded.
    if let Some(m) = net_maker {
        m.join();
    }
    let mut outcome = watch.outcome(duration)?;
    outcome.evidence.warnings.extend(fd_warnings);
    Ok(outcome)
}

/// Pipes to PID 1 (and a socket pair for the network namespace): ours, and
/// PID 1's ends.
fn channels(cfg: &mut Config, launch: &Launch) -> Result<(Ours, pid1::Channels), SandboxError> {
    let (go_r, go_w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
    let (armed_r, armed_w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
    let (rep_r, rep_w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
    // With a start gate, PID 1 waits on a pipe of ours after set-up, and we
    // relay the gate's byte (or its EOF) and start the clock then.
    let gate = cfg.start_gate.take().map(File::from);
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
    let (start_r, start_w) = match gate {
        Some(_) => {
            let (r, w) = ipc::pipe().map_err(|e| SandboxError::sys("pipe", e))?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let (net_ours, net_pid1) = if launch.parallel_net {
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
    Ok((
        Ours { go: go_w, armed: armed_r, report: rep_r, gate, start: start_w, net: net_ours },
        pid1::Channels { go: go_r, armed: armed_w, start: start_r, net: net_pid1, report: rep_w },
    ))
}

impl Ours {
    /// Our descriptors, which PID 1 closes in its copy of our table.
    fn raw_fds(&self) -> Vec<RawFd> {
        let files =
            [Some(&self.go), Some(&self.armed), Some(&self.report), self.gate.as_ref(), self.start.as_ref()];
        files
            .into_iter()
            .flatten()
            .map(|f| f.as_raw_fd())
            .chain(self.net.as_ref().map(|n| n.as_raw_fd()))
            .collect()
    }
}

/// Clone PID 1 into the new namespaces with `theirs`; our copies of those
/// ends are closed on return, so that EOF means "PID 1 is gone".
/// `ours`: our ends, which PID 1 closes in its copy of our descriptors, so
/// that EOF over there means "the supervisor is gone" (the go pipe: it
/// died before releasing PID 1) or "cancelled" (the start pipe).
fn clone_pid1(
    cfg: &mut Config,
    launch: &Launch,
    theirs: pid1::Channels,
    ours: &[RawFd],
) -> Result<Pid, SandboxError> {
    let mut stack = vec![0u8; STACK_SIZE];
    let mut theirs = Some(theirs);
    let mode = launch.mode;
    let cb = Box::new(|| {
        let Some(ch) = theirs.take() else {
            return 1;
        };
        for &fd in ours {
            // SAFETY: closing a descriptor of PID 1's own (copied) table.
            unsafe { libc::close(fd) };
        }
        pid1::main(cfg, mode, ch)
    });
    let flags = launch.flags;
    // SAFETY: the process is single-threaded (checked), so the child may
    // allocate; it never returns into our frames (pid1::main ends in _exit).
    let child = unsafe { clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(|e| {
        SandboxError::Namespaces { flags: describe(flags), source: e, hint: host::explain_clone_error(e) }
    })?;
    // Our copies of PID 1's ends: closing them lets EOF mean "PID 1 is gone".
    drop(theirs);
    cfg.done_signal = None;
    Ok(child)
}

/// Map the caller's ids into PID 1's user namespace; on failure PID 1 is
/// killed and reaped.
fn write_id_maps(child: Pid, launch: &Launch) -> Result<(), SandboxError> {
    user::write_id_maps(&child.to_string(), launch.uid, launch.gid).map_err(|e| {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
        SandboxError::io(
            format!("writing the user namespace id maps{}", host::explain_clone_error(nix::Error::EPERM)),
            e,
        )
    })
}

/// Wait until PID 1 has set its parent-death signal, before releasing it:
/// had we died before that, PID 1 would outlive us (a SIGKILL between the
/// clone and PID 1's first instructions, seen under load), but without our
/// "go" it reads EOF and leaves. On EOF here PID 1 is gone: reaped.
fn wait_armed(armed: &File, child: Pid) -> Result<(), SandboxError> {
    let mut byte = [0u8; 1];
    match (&*armed).read(&mut byte) {
        Ok(1) => Ok(()),
        other => {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            let why = match other {
                Err(e) => e.to_string(),
                _ => "it exited before its set-up began".into(),
            };
            Err(SandboxError::InitLost(why))
        }
    }
}

/// Start making the network namespace while PID 1 builds its mounts.
fn make_network(sock: OwnedFd, child: Pid, launch: &Launch) -> Result<net::Maker, SandboxError> {
    // Rootless, after the id maps: the helper joins PID 1's user namespace.
    let user_ns = if launch.mode.userns {
        Some(
            File::open(format!("/proc/{child}/ns/user"))
                .map(OwnedFd::from)
                .map_err(|e| SandboxError::io("opening PID 1's user namespace", e))?,
        )
    } else {
        None
    };
    net::create_for(sock, user_ns).map_err(|e| SandboxError::io("making the network namespace", e))
}

/// The supervisor's state while PID 1 runs: the report so far, the start
/// gate, the timeout and what the signals it forwarded decided.
struct Watch {
    child: Pid,
    timeout: Option<Duration>,
    kill_after: Duration,
    /// When the command was released: the timeout and the reported
    /// duration count from here.
    start: Instant,
    /// SIGTERM then; None until released (with a gate) or without a timeout.
    deadline: Option<Instant>,
    /// SIGKILL then, once the deadline has passed.
    kill_at: Option<Instant>,
    timed_out: bool,
    /// A second Ctrl-C killed the sandbox: the signal to report.
    escalated: Option<i32>,
    interrupts: u32,
    /// PID 1 has exited (we reaped it).
    exited: bool,
    report: Vec<u8>,
    report_open: bool,
    gate: Option<File>,
    start_w: Option<File>,
}

impl Watch {
    fn new(child: Pid, launch: &Launch, start: Instant, gate: Option<File>, start_w: Option<File>) -> Watch {
        Watch {
            child,
            timeout: launch.timeout,
            kill_after: launch.kill_after,
            start,
            deadline: if gate.is_some() { None } else { launch.timeout.map(|t| start + t) },
            kill_at: None,
            timed_out: false,
            escalated: None,
            interrupts: 0,
            exited: false,
            report: Vec::new(),
            report_open: true,
            gate,
            start_w,
        }
    }

    /// Done when PID 1 has exited, or as soon as its whole report is in: the
    /// report pipe closes when PID 1 drops its files, which the kernel does
    /// before tearing down its namespaces; that teardown (milliseconds for a
    /// few dozen mounts) then finishes without us waiting on it.
    /// (Without a report, PID 1's exit is the only way to know it is gone.)
    fn run(&mut self, sfd: &SignalFd, report: &File) {
        while self.report_open || (!self.exited && self.report.is_empty()) {
            let now = Instant::now();
            self.enforce_timeout(now);
            let wait_ms = if self.exited { 1000 } else { self.wait_ms(now) };
            let mut fds = [
                libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd {
                    fd: if self.report_open { report.as_raw_fd() } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.gate.as_ref().map_or(-1, |g| g.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll on three pollfds we own.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, wait_ms) };
            if n == 0 && self.exited {
                break; // PID 1 is gone; a lost writer cannot keep us here
            }
            if fds[1].revents != 0 {
                self.read_report(report);
            }
            if fds[2].revents != 0 {
                self.relay_gate();
            }
            self.handle_signals(sfd);
        }
    }

    /// SIGTERM at the deadline, SIGKILL `kill_after` later.
    fn enforce_timeout(&mut self, now: Instant) {
        if let Some(d) = self.deadline {
            if !self.timed_out && now >= d {
                self.timed_out = true;
                let _ = kill(self.child, Signal::SIGTERM);
                self.kill_at = Some(now + self.kill_after);
            }
        }
        if let Some(k) = self.kill_at {
            if now >= k {
                let _ = kill(self.child, Signal::SIGKILL);
                self.kill_at = None;
            }
        }
    }

    /// How long poll may wait: until the next deadline, or for ever.
    fn wait_ms(&self, now: Instant) -> i32 {
        let next = [self.deadline.filter(|_| !self.timed_out), self.kill_at].into_iter().flatten().min();
        match next {
            Some(t) => t.saturating_duration_since(now).as_millis().min(i32::MAX as u128) as i32 + 1,
            None => -1,
        }
    }

    fn read_report(&mut self, mut report: &File) {
        let mut buf = [0u8; 65536];
        match report.read(&mut buf) {
            Ok(0) => self.report_open = false,
            Ok(k) => self.report.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => self.report_open = false,
        }
    }

    /// The gate released the command (start the clock, tell PID 1) or
    /// closed (PID 1 reads EOF: cancelled).
    fn relay_gate(&mut self) {
        let mut byte = [0u8; 1];
        let released = self.gate.as_ref().map(|mut g| g.read(&mut byte));
        if matches!(released, Some(Err(ref e)) if e.kind() == std::io::ErrorKind::WouldBlock) {
            return;
        }
        if let (Some(Ok(1)), Some(w)) = (released, &self.start_w) {
            self.start = Instant::now();
            self.deadline = self.timeout.map(|t| self.start + t);
            let _ = ipc::write_all(w, b"s");
        }
        // Released or cancelled: either way PID 1 reads no more.
        self.start_w = None;
        self.gate = None;
    }

    /// Note PID 1's exit; forward the others to it (a second SIGINT kills it).
    fn handle_signals(&mut self, sfd: &SignalFd) {
        while let Ok(Some(info)) = sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                match waitpid(self.child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => {}
                    Ok(_) | Err(_) => self.exited = true,
                }
            } else if let Ok(s) = Signal::try_from(sig) {
                if s == Signal::SIGINT {
                    self.interrupts += 1;
                }
                if self.interrupts >= 2 && s == Signal::SIGINT {
                    // A second Ctrl-C: stop asking, end the whole sandbox.
                    self.escalated = Some(sig);
                    let _ = kill(self.child, Signal::SIGKILL);
                } else {
                    let _ = kill(self.child, s);
                }
            }
        }
    }

    /// The outcome from PID 1's report and what we decided ourselves.
    fn outcome(self, duration: Duration) -> Result<Outcome, SandboxError> {
        let parsed: Option<InitReport> = serde_json::from_slice(&self.report).ok();
        let status_override = if self.timed_out {
            Some(Status::TimedOut)
        } else {
            self.escalated.map(|signal| Status::Signaled { signal })
        };
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
                None => Err(SandboxError::InitLost(format!("{} bytes of report", self.report.len()))),
            },
        }
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

fn set_nonblocking(f: &File) {
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

fn describe(flags: CloneFlags) -> String {
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
