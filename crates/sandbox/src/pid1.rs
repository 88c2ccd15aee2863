//! PID 1 of the sandbox: set up, start services and the command, forward
//! signals to the command's process group, reap every zombie, and when the
//! command exits kill what it left running and report to the supervisor.

use crate::error::Context;
use crate::evidence::{self, Evidence};
use crate::{
    capabilities, exec, ipc, mounts, net, Config, ServiceContext, Status, HOSTNAME, PRIVATE_DIR, TRACE_FILE,
};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Signals the supervisor forwards to PID 1, and PID 1 to the command.
pub const FORWARDED: [Signal; 6] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

/// What PID 1 tells the supervisor, as JSON, when it is done.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitReport {
    pub status: Option<Status>,
    pub setup_error: Option<String>,
    /// The start gate closed: the command was never started.
    #[serde(default)]
    pub cancelled: bool,
    pub evidence: Evidence,
}

/// How PID 1 runs, decided by the supervisor before the clone.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// In a user namespace (the caller is not root).
    pub userns: bool,
    /// The supervisor is the terminal's foreground group, so the command's
    /// group takes the terminal (the supervisor decides: from inside the PID
    /// namespace every outside group reads as 0).
    pub take_terminal: bool,
}

/// PID 1's ends of its channels to the supervisor, inherited by clone.
pub struct Channels {
    /// One byte once the id maps are written: set-up may begin. EOF: the
    /// supervisor died before that (PID 1 holds no copy of its write end).
    pub go: File,
    /// One byte to the supervisor once the parent-death signal is set.
    pub armed: File,
    /// With a start gate, the command starts once a byte arrives on this,
    /// relayed by the supervisor (EOF: cancelled).
    pub start: Option<File>,
    /// The supervisor's helper sends the new network namespace here.
    pub net: Option<OwnedFd>,
    /// The [`InitReport`], as JSON; EOF once PID 1 has closed it.
    pub report: File,
}

/// Entry point of the cloned child. Never returns.
pub fn main(cfg: &mut Config, mode: Mode, ch: Channels) -> ! {
    let Channels { go, armed, start, net, report } = ch;
    die_with_supervisor();
    let _ = ipc::write_all(&armed, b"a");
    drop(armed);
    wait_for_go(go);
    let rep = run(cfg, mode, start, net);
    let json = serde_json::to_vec(&rep).unwrap_or_default();
    let _ = ipc::write_all(&report, &json);
    // Close it now: at exit the kernel frees our memory before it closes
    // files, and the supervisor waits for this EOF (~0.5 ms sooner).
    drop(report);
    // SAFETY: leaving without running the parent's atexit handlers.
    unsafe { libc::_exit(0) }
}

/// If the supervisor dies, so do we, and the kernel then kills every
/// process in our PID namespace. The supervisor may die before this takes
/// effect (in our PID namespace getppid() says 0, so we cannot tell): it
/// releases us ("go") only after reading that we are armed, so then we read
/// EOF instead and leave.
fn die_with_supervisor() {
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

/// Wait until the supervisor has written our id maps; leave at once on EOF.
fn wait_for_go(go: File) {
    let mut byte = [0u8; 1];
    if !matches!((&go).read(&mut byte), Ok(1)) {
        // SAFETY: leaving the child at once.
        unsafe { libc::_exit(1) };
    }
}

/// How a run ended before the command could.
enum Early {
    SetupFailed(String),
    /// The start gate closed: the command was never started.
    Cancelled,
}

fn run(cfg: &mut Config, mode: Mode, start: Option<File>, net: Option<OwnedFd>) -> InitReport {
    let mut evidence = Evidence::default();
    let (status, setup_error, cancelled) = match steps(cfg, mode, start, net, &mut evidence) {
        Ok(status) => (Some(status), None, false),
        Err(Early::SetupFailed(e)) => (None, Some(e), false),
        Err(Early::Cancelled) => (None, None, true),
    };
    InitReport { status, setup_error, cancelled, evidence }
}

/// PID 1's steps, in order.
fn steps(
    cfg: &mut Config,
    mode: Mode,
    start: Option<File>,
    net: Option<OwnedFd>,
    evidence: &mut Evidence,
) -> Result<Status, Early> {
    let sfd = block_signals().map_err(Early::SetupFailed)?;
    let built = setup(cfg, mode.userns, net).map_err(Early::SetupFailed)?;
    evidence.warnings.extend(built.warnings.iter().cloned());
    let env = start_services(cfg, mode).map_err(Early::SetupFailed)?;
    remove_collected(&built);
    if !wait_for_start(start) {
        stop_all(cfg);
        return Err(Early::Cancelled);
    }
    randomize_next_pid(cfg.entropy_seed);
    if cfg.entropy_seed.is_some() {
        fixed_addresses();
    }
    let caps = command_capabilities(cfg, mode, evidence).map_err(Early::SetupFailed)?;
    let (status, helpers) = start_and_wait(cfg, &env, &sfd, mode.take_terminal, caps);
    end_what_it_left(cfg, &helpers, evidence);
    signal_done(cfg);
    question_and_stop_services(cfg, evidence);
    gather_files(&built, evidence);
    copy_out_all(&built, evidence);
    Ok(status)
}

/// Block the forwarded signals and SIGCHLD, read through a signalfd. Done
/// first: a signal sent during set-up waits in the queue and is forwarded
/// once the command runs. (Blocked signals reach PID 1 even though it has
/// no handlers.)
fn block_signals() -> Result<SignalFd, String> {
    let mut mask = SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .and_then(|_| SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC))
        .map_err(|e| format!("signalfd: {}", e.desc()))
}

fn setup(cfg: &mut Config, userns: bool, net: Option<OwnedFd>) -> Result<mounts::Built, String> {
    let built = mounts::build(cfg, userns)?;
    if let Some(sock) = net {
        net::enter_from(&sock)?;
    }
    if cfg.isolate_net {
        net::loopback_up().ctx(|| "bringing up loopback".into())?;
    }
    nix::unistd::sethostname(HOSTNAME).ctx(|| "setting the hostname".into())?;
    Ok(built)
}

/// Start every service; return the command's environment with theirs added.
/// A failure stops those already started.
fn start_services(cfg: &mut Config, mode: Mode) -> Result<Vec<(OsString, OsString)>, String> {
    let mut env = cfg.env.clone();
    let ctx = ServiceContext {
        private_dir: Path::new(PRIVATE_DIR).to_path_buf(),
        net_isolated: cfg.isolate_net,
        is_root: !mode.userns && nix::unistd::geteuid().is_root(),
    };
    for i in 0..cfg.services.len() {
        match cfg.services[i].start(&ctx) {
            Ok(vars) => {
                for (k, v) in vars {
                    env.retain(|(ek, _)| ek != k.as_str());
                    env.push((OsString::from(k), OsString::from(v)));
                }
            }
            Err(e) => {
                let msg = format!("{} failed to start: {e}", cfg.services[i].name());
                stop_all(cfg);
                return Err(msg);
            }
        }
    }
    Ok(env)
}

/// Collected files: never a stale copy from an earlier run.
fn remove_collected(built: &mounts::Built) {
    // A collected path may be a directory (a runner's report directory).
    for c in built.copy_out.iter().filter(|c| c.remove) {
        let _ = hostfs::remove_tree(&c.path);
    }
}

/// With a start gate, wait for its byte; false: EOF, the run is cancelled.
fn wait_for_start(start: Option<File>) -> bool {
    let Some(start) = start else { return true };
    let mut byte = [0u8; 1];
    matches!((&start).read(&mut byte), Ok(1))
}

/// List and kill what the command left running (not the services').
fn end_what_it_left(cfg: &Config, helpers: &[i32], evidence: &mut Evidence) {
    let service_pids: Vec<i32> =
        cfg.services.iter().flat_map(|s| s.pids()).chain(helpers.iter().copied()).collect();
    evidence.leftover_processes = evidence::processes(&service_pids);
    kill_leftovers(evidence.leftover_processes.clone(), &service_pids);
}

/// Tell the caller it may start its next run.
fn signal_done(cfg: &mut Config) {
    if let Some(done) = cfg.done_signal.take() {
        let _ = ipc::write_all(&File::from(done), b"d");
    }
}

/// Each service's evidence, then stop them; whatever is still alive (a
/// service that would not stop) goes too.
fn question_and_stop_services(cfg: &mut Config, evidence: &mut Evidence) {
    for service in cfg.services.iter_mut() {
        let name = service.name().to_string();
        evidence.services.push((name, service.evidence()));
    }
    stop_all(cfg);
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    reap_all(true);
}

/// Files written (from the upper layers) and the clock shim's trace.
fn gather_files(built: &mounts::Built, evidence: &mut Evidence) {
    for (mount_point, fd) in &built.uppers {
        let upper = format!("/proc/self/fd/{}", fd.as_raw_fd());
        evidence::walk_upper(Path::new(&upper), mount_point, evidence);
    }
    // Collected files are flakebox's business, not the command's evidence.
    evidence
        .files_written
        .retain(|f| !built.copy_out.iter().any(|c| c.remove && c.path == Path::new(&f.path)));
    if let Ok(trace) = std::fs::read_to_string(Path::new(PRIVATE_DIR).join(TRACE_FILE)) {
        evidence.trace = trace.lines().map(str::to_string).collect();
    }
}

/// `--keep` paths that did not exist and collected files, out to the host.
fn copy_out_all(built: &mounts::Built, evidence: &mut Evidence) {
    for c in &built.copy_out {
        if let Err(e) = copy_out(c) {
            evidence.warnings.push(format!("copying {} out: {e}", c.path.display()));
        }
        if c.remove {
            let _ = hostfs::remove_tree(&c.path);
        }
    }
}

/// Start the command at a random pid. In a fresh PID namespace it would
/// always be 2; with the clock frozen too, anything seeded from time and pid
/// (bash's $RANDOM, srand(time ^ getpid), temporary names) would repeat
/// exactly from run to run and hide randomness that real hosts have.
fn randomize_next_pid(seed: Option<u64>) {
    let x = match seed {
        Some(seed) => seed,
        None => {
            let mut buf = [0u8; 8];
            // SAFETY: getrandom fills the buffer we own.
            let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n != 8 {
                return;
            }
            u64::from_ne_bytes(buf)
        }
    };
    // Needs CAP_SYS_ADMIN over the PID namespace, which PID 1 has.
    let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", last_pid_before_command(x).to_string());
}

/// Turn off address space randomization for what PID 1 executes from now
/// on (the command and its descendants; services were started before).
fn fixed_addresses() {
    // SAFETY: personality only changes this process's execution domain;
    // 0xffffffff queries it.
    unsafe {
        let current = libc::personality(0xffff_ffff);
        if current != -1 {
            libc::personality((current as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
        }
    }
}

/// The pid written to `ns_last_pid` (the command gets the next one), from a
/// random number or a seed: mixed, so nearby seeds start far apart.
fn last_pid_before_command(x: u64) -> u32 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    300 + (z % 30000) as u32
}

fn stop_all(cfg: &mut Config) {
    for service in cfg.services.iter_mut() {
        service.stop();
    }
}

/// As root, the capabilities the command keeps (in a user namespace the
/// kernel already confines them to the sandbox's namespaces), with a
/// warning for each one given back.
fn command_capabilities(
    cfg: &Config,
    mode: Mode,
    evidence: &mut Evidence,
) -> Result<Option<capabilities::Drop>, String> {
    if mode.userns || crate::step_times::without("caps") {
        return Ok(None);
    }
    let t = crate::step_times::now();
    evidence.warnings.extend(capabilities::warnings(cfg.isolate_net, &cfg.cap_add));
    let drop = capabilities::Drop::new(capabilities::kept(cfg.isolate_net, &cfg.cap_add)).map(Some);
    crate::step_times::record(b"caps_prepare", t);
    drop
}

/// Start the command (taking the terminal when `take_terminal`, see [`Mode`])
/// and forward signals to it until it exits, reaping every zombie. Also
/// returns PID 1's helpers (the clock supervisor), which are not leftovers.
fn start_and_wait(
    cfg: &Config,
    env: &[(OsString, OsString)],
    sfd: &SignalFd,
    take_terminal: bool,
    caps: Option<capabilities::Drop>,
) -> (Status, Vec<i32>) {
    let mut helpers = Vec::new();
    let status = start_and_wait_inner(cfg, env, sfd, take_terminal, caps, &mut helpers);
    (status, helpers)
}

fn start_and_wait_inner(
    cfg: &Config,
    env: &[(OsString, OsString)],
    sfd: &SignalFd,
    take_terminal: bool,
    caps: Option<capabilities::Drop>,
    helpers: &mut Vec<i32>,
) -> Status {
    let prepared = match exec::prepare(&cfg.argv, env, &cfg.cwd, take_terminal, caps) {
        Ok(p) => p,
        Err(e) => return Status::NotRun { code: 126, message: e },
    };
    // The clock supervisor first, before any descriptor it must not hold (the
    // exec error pipe): the command blocks before exec until it has attached.
    let watch = match &cfg.clock_watch {
        Some(opts) => match clockwatch::handover(&opts.routes)
            .and_then(|(child, sup)| Ok((child, clockwatch::spawn_supervisor(sup, opts)?)))
        {
            Ok(w) => {
                helpers.push(w.1);
                Some(w)
            }
            Err(e) => return Status::NotRun { code: 126, message: format!("clock supervisor: {e}") },
        },
        None => None,
    };
    let (err_r, err_w) = match ipc::pipe() {
        Ok(p) => p,
        Err(e) => return Status::NotRun { code: 126, message: format!("pipe: {}", e.desc()) },
    };
    let cmd = exec::spawn(&prepared, watch.as_ref().map(|w| &w.0), err_w.as_raw_fd());
    // The child has exec'd or failed: our copy of its handover end goes, so a
    // supervisor still waiting for a listener sees EOF.
    drop(watch);
    let cmd = match cmd {
        Ok(pid) => pid,
        Err(e) => return Status::NotRun { code: 126, message: format!("clone: {}", e.desc()) },
    };
    drop(err_w);
    if let Ok(bytes) = ipc::read_to_end(&err_r) {
        if let Some((code, message)) = exec::decode(&prepared, &bytes) {
            let _ = waitpid(cmd, None);
            return Status::NotRun { code, message };
        }
    }
    loop {
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        let sig = info.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            if let Some(status) = reap(cmd) {
                return status;
            }
        } else if let Ok(sig) = Signal::try_from(sig) {
            // The group first; a command that left its group still gets it.
            if kill(Pid::from_raw(-cmd.as_raw()), sig).is_err() {
                let _ = kill(cmd, sig);
            }
        }
    }
}

/// Reap every zombie; return the command's status once it is among them.
fn reap(cmd: Pid) -> Option<Status> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == cmd => found = Some(Status::Exited { code }),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == cmd => {
                found = Some(Status::Signaled { signal: sig as i32 })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(_) => {}
        }
    }
}

fn reap_all(block: bool) {
    let flags = if block { None } else { Some(WaitPidFlag::WNOHANG) };
    while let Ok(s) = waitpid(None, flags) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Kill `left` (what the command left, as just listed), leaving the services
/// alone, and return once it is dead (a SIGKILL is delivered when its target
/// next runs, not when kill returns). A leftover may fork while we look, so
/// look again until nothing is left; with nothing left at first, nothing
/// but the services can fork, so there is no second look.
fn kill_leftovers(mut left: Vec<evidence::Leftover>, service_pids: &[i32]) {
    for _ in 0..20 {
        if left.is_empty() {
            return;
        }
        // Through pidfds: the signal cannot reach a reused pid, and each
        // becomes readable when its process has exited.
        let fds: Vec<std::os::fd::OwnedFd> = left.iter().filter_map(|l| kill_by_pidfd(l.pid)).collect();
        let mut polls: Vec<libc::pollfd> = fds
            .iter()
            .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while polls.iter().any(|p| p.revents == 0) {
            let left_ms = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
            polls.retain(|p| p.revents == 0);
            // SAFETY: poll on pollfds whose descriptors `fds` keeps open.
            if left_ms <= 0
                || unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, left_ms) } <= 0
            {
                break; // stuck in the kernel (D state): the final sweep takes it
            }
        }
        // Reap without blocking: services are our children too.
        reap_all(false);
        left = evidence::processes(service_pids);
    }
}

/// SIGKILL `pid` through a pidfd, which is returned (None: already gone).
fn kill_by_pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL); // a kernel without pidfds
        return None;
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: pidfd_send_signal on our pidfd, no siginfo, no flags.
    unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0)
    };
    Some(fd)
}

/// Copy a `--keep` path that did not exist on the host out of the sandbox.
fn copy_out(c: &mounts::CopyOut) -> Result<(), String> {
    if std::fs::symlink_metadata(&c.path).is_err() {
        return Ok(()); // the command did not write it
    }
    let dest = Path::new(&format!("/proc/self/fd/{}", c.host_dir.as_raw_fd())).join(&c.rel);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
    }
    // Sockets and fifos (reported as skipped) are not data the command kept.
    let opts = hostfs::CopyOptions { existing: hostfs::Existing::Replace, ..Default::default() };
    hostfs::copy_tree(&c.path, &dest, &opts)
        .map(drop)
        .map_err(|e| format!("copying out {}: {e}", c.path.display()))
}

#[cfg(test)]
mod tests {
    use super::last_pid_before_command;

    #[test]
    fn a_seed_gives_one_starting_pid_and_seeds_spread() {
        assert_eq!(last_pid_before_command(42), last_pid_before_command(42));
        let pids: std::collections::BTreeSet<u32> = (0..100).map(last_pid_before_command).collect();
        assert!(pids.len() > 95, "nearby seeds share pids: {}", pids.len());
        assert!(pids.iter().all(|p| (300..30300).contains(p)));
    }
}
