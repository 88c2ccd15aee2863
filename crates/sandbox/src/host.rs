//! What this host allows: the knobs that decide whether a sandbox can be made,
//! and real probes (a forked child tries the very calls `run` makes). Used by
//! `flakebox doctor` and to explain a failing `run`.

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
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

/// Whether this process holds CAP_SYS_ADMIN (what root needs for mounts and
/// namespaces without a user namespace).
pub fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|v| v.trim().to_string()))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// The fix when root lacks CAP_SYS_ADMIN.
pub const CAP_FIX: &str = "give it CAP_SYS_ADMIN: docker run --cap-add SYS_ADMIN (plus --security-opt \
seccomp=unconfined --security-opt apparmor=unconfined under Docker's default profiles), or --privileged";

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
    if why.is_empty() && is_root() && !has_cap_sys_admin() {
        why.push(format!("root without CAP_SYS_ADMIN; {CAP_FIX}"));
    }
    if why.is_empty() {
        if let (Some(engine), Some(2)) = (container(), seccomp_mode()) {
            why.push(format!(
                "this looks like a {engine} container whose seccomp/AppArmor profile blocks \
                 unshare and mount; run it with --security-opt seccomp=unconfined \
                 --security-opt apparmor=unconfined (or --privileged)"
            ));
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
    // The result travels over a pipe: an exit status has only 8 bits.
    let Ok((r, w)) = crate::ipc::pipe() else { return (ProbeStep::Unshare, None) };
    // SAFETY: doctor is single-threaded at this point; the child only makes
    // raw syscalls and leaves with _exit.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(r);
            let (step, errno) = probe_child();
            let rec = [step as i32, errno];
            // SAFETY: write(2) and _exit(2) are async-signal-safe.
            unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&w),
                    rec.as_ptr().cast(),
                    std::mem::size_of_val(&rec),
                );
                libc::_exit(0)
            }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let bytes = crate::ipc::read_to_end(&r).unwrap_or_default();
            let _ = waitpid(child, None);
            if bytes.len() < 8 {
                return (ProbeStep::Unshare, None);
            }
            let word = |i: usize| i32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            let step = match word(0) {
                1 => ProbeStep::Unshare,
                2 => ProbeStep::Tmpfs,
                3 => ProbeStep::Overlay,
                _ => ProbeStep::Done,
            };
            let errno = (word(4) != 0).then(|| nix::Error::from_raw(word(4)));
            (step, errno)
        }
        Err(e) => (ProbeStep::Unshare, Some(e)),
    }
}

/// How far the probe got: the step that failed and its errno, or Done.
fn probe_child() -> (ProbeStep, i32) {
    use nix::mount::{mount, MsFlags};
    let fail = |step: ProbeStep, e: nix::Error| (step, e as i32);
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    // PID namespaces apply to children only; the probe needs none.
    let flags = namespace_flags(true) & !CloneFlags::CLONE_NEWPID;
    if let Err(e) = unshare(flags) {
        return fail(ProbeStep::Unshare, e);
    }
    // An unmapped uid cannot create files: map our own ids, as run does.
    if flags.contains(CloneFlags::CLONE_NEWUSER) && crate::user::write_id_maps("self", uid, gid).is_err() {
        return fail(ProbeStep::Unshare, nix::Error::EPERM);
    }
    if let Err(e) =
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
    {
        return fail(ProbeStep::Tmpfs, e);
    }
    // /tmp is shadowed only in this throwaway namespace.
    if let Err(e) = mount(Some("tmpfs"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("mode=0755")) {
        return fail(ProbeStep::Tmpfs, e);
    }
    for d in ["/tmp/u", "/tmp/w", "/tmp/m"] {
        if let Err(e) = nix::unistd::mkdir(d, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            return fail(ProbeStep::Overlay, e);
        }
    }
    let mut opts = String::from("lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w");
    if !is_root() {
        opts.push_str(",userxattr");
    }
    if let Err(e) = mount(Some("overlay"), "/tmp/m", Some("overlay"), MsFlags::empty(), Some(opts.as_str())) {
        return fail(ProbeStep::Overlay, e);
    }
    (ProbeStep::Done, 0)
}
