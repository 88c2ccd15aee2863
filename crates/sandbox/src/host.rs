//! What this host allows: the knobs that decide whether a sandbox can be made,
//! and real probes (a forked child tries the very calls `run` makes). Used by
//! `flakebox doctor` and to explain a failing `run`.

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::fs;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Pass,
    Warn,
    Fail,
}

/// One line of `flakebox doctor`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub level: Level,
    pub detail: String,
    /// The exact fix, when there is one.
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: &str, level: Level, detail: impl Into<String>, fix: Option<String>) -> Self {
        Check { name: name.to_string(), level, detail: detail.into(), fix }
    }
}

fn read_sysctl(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Where this process seems to run: a container engine's name, if any.
pub fn container() -> Option<&'static str> {
    if Path::new("/.dockerenv").exists() {
        return Some("docker");
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("podman");
    }
    let cg = fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    if cg.contains("kubepods") {
        Some("kubernetes")
    } else if cg.contains("docker") || cg.contains("containerd") {
        Some("docker")
    } else if cg.contains("lxc") {
        Some("lxc")
    } else {
        None
    }
}

/// Seccomp mode of this process: 0 none, 1 strict, 2 filter.
fn seccomp_mode() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Seccomp:")).and_then(|v| v.trim().parse().ok())
}

/// The sysctls that disable unprivileged user namespaces, as
/// (what is wrong, the fix) — empty when none is set against us.
pub fn userns_blockers() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        out.push((
            "user.max_user_namespaces is 0".into(),
            "sudo sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)".into(),
        ));
    }
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        out.push((
            "kernel.unprivileged_userns_clone is 0 (Debian's switch)".into(),
            "sudo sysctl -w kernel.unprivileged_userns_clone=1".into(),
        ));
    }
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        out.push((
            "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+)".into(),
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give flakebox an \
             AppArmor profile with the `userns,` rule"
                .into(),
        ));
    }
    out
}

/// A sentence explaining why creating namespaces failed with `errno`, for
/// `run`'s error message.
pub fn explain_clone_error(errno: nix::Error) -> String {
    let mut why = Vec::new();
    if !is_root() {
        for (what, fix) in userns_blockers() {
            why.push(format!("{what}; fix: {fix}"));
        }
    }
    if why.is_empty() {
        if let (Some(engine), Some(2)) = (container(), seccomp_mode()) {
            why.push(format!(
                "this looks like a {engine} container whose seccomp/AppArmor profile blocks \
                 unshare and mount; run it with --security-opt seccomp=unconfined \
                 --security-opt apparmor=unconfined (or --privileged)"
            ));
        } else if errno == nix::Error::EPERM && is_root() {
            why.push("root without CAP_SYS_ADMIN (a container without privileges?)".into());
        } else if errno == nix::Error::ENOSPC {
            why.push("a namespace limit (user.max_*_namespaces) is exhausted".into());
        }
    }
    let mut s = String::new();
    for w in why {
        s.push_str("\n  cause: ");
        s.push_str(&w);
    }
    s.push_str("\n  run `flakebox doctor` for a full check of this host");
    s
}

/// The namespace flags `run` uses for this caller.
pub fn namespace_flags(isolate_net: bool) -> CloneFlags {
    let mut f = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if isolate_net {
        f |= CloneFlags::CLONE_NEWNET;
    }
    if !is_root() {
        f |= CloneFlags::CLONE_NEWUSER;
    }
    f
}

/// What a probe child managed to do, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    Unshare = 1,
    Tmpfs = 2,
    Overlay = 3,
    Done = 4,
}

/// Fork a child that unshares the namespaces `run` needs, mounts a tmpfs
/// and an overlay in them; returns how far it got and the errno that stopped
/// it. The caller must be single-threaded (doctor is).
pub fn probe() -> (ProbeStep, Option<nix::Error>) {
    // SAFETY: doctor is single-threaded at this point; the child only makes
    // raw syscalls and leaves with _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = probe_child();
            // SAFETY: _exit is async-signal-safe and ends the child at once.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                let step = match code / 1000 {
                    1 => ProbeStep::Unshare,
                    2 => ProbeStep::Tmpfs,
                    3 => ProbeStep::Overlay,
                    _ => ProbeStep::Done,
                };
                let errno = (code % 1000 != 0).then(|| nix::Error::from_raw(code % 1000));
                (step, errno)
            }
            _ => (ProbeStep::Unshare, None),
        },
        Err(e) => (ProbeStep::Unshare, Some(e)),
    }
}

/// Exit code = step*1000 + errno (errno 0 when the step passed... only Done).
fn probe_child() -> i32 {
    use nix::mount::{mount, MsFlags};
    let fail = |step: i32, e: nix::Error| step * 1000 + (e as i32 % 1000);
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    // PID namespaces apply to children only; the probe needs none.
    let flags = namespace_flags(true) & !CloneFlags::CLONE_NEWPID;
    if let Err(e) = unshare(flags) {
        return fail(1, e);
    }
    // An unmapped uid cannot create files: map our own ids, as run does.
    if flags.contains(CloneFlags::CLONE_NEWUSER) && crate::user::write_id_maps("self", uid, gid).is_err() {
        return fail(1, nix::Error::EPERM);
    }
    if let Err(e) =
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
    {
        return fail(2, e);
    }
    // /tmp is shadowed only in this throwaway namespace.
    if let Err(e) = mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("mode=0755")) {
        return fail(2, e);
    }
    for d in ["/tmp/u", "/tmp/w", "/tmp/m"] {
        if let Err(e) = nix::unistd::mkdir(d, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            return fail(3, e);
        }
    }
    let mut opts = String::from("lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w");
    if !is_root() {
        opts.push_str(",userxattr");
    }
    if let Err(e) = mount(Some("overlay"), "/tmp/m", Some("overlay"), MsFlags::empty(), Some(opts.as_str())) {
        return fail(3, e);
    }
    4000
}
