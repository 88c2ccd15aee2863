//! Shared helpers for the end-to-end tests: run the built `flakebox` binary
//! as root or as `nobody`, in directories that user may use.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Root,
    Nobody,
}

pub const BOTH: [Who; 2] = [Who::Root, Who::Nobody];
pub const NOBODY: u32 = 65534;

/// The binary under test, copied to a world-readable place so `nobody` can
/// run it whatever the permissions of the build directory.
pub fn flakebox() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // One directory per test process, named by pid, removed at its exit;
        // those of test processes that could not (killed) are removed here.
        for e in std::fs::read_dir("/tmp").into_iter().flatten().filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("flakebox-bin-").and_then(|p| p.parse::<u32>().ok()) {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = hostfs::remove_tree(&e.path());
                }
            }
        }
        let dir = binary_dir();
        std::fs::create_dir_all(&dir).expect("binary dir");
        // Removed when this test process exits (a crashed one's goes above).
        // SAFETY: atexit only stores a pointer to a function that lives as
        // long as the program.
        unsafe { libc::atexit(remove_binary_dir) };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let bin = dir.join("flakebox");
        std::fs::copy(env!("CARGO_BIN_EXE_flakebox"), &bin).expect("copy binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        bin
    })
}

/// This test process's copy of the binary lives here.
fn binary_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/flakebox-bin-{}", std::process::id()))
}

/// At exit; in a forked child that exits through libc the pid is its own,
/// so the parent's directory stays.
extern "C" fn remove_binary_dir() {
    let _ = hostfs::remove_tree(&binary_dir());
}

/// A scratch directory owned by `who` (removed when dropped).
pub fn scratch(who: Who) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("flakebox-test-").tempdir().expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if who == Who::Nobody {
        std::os::unix::fs::chown(d.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    d
}

/// `flakebox ARGS` as `who`, in `cwd`, with HOME set to `cwd` for nobody.
pub fn command(who: Who, cwd: &Path, args: &[&str]) -> Command {
    let mut c = match who {
        Who::Root => Command::new(flakebox()),
        Who::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]);
            c.arg(flakebox());
            c.env("HOME", cwd);
            c
        }
    };
    c.args(args).current_dir(cwd).stdin(Stdio::null());
    c
}

pub fn run(who: Who, cwd: &Path, args: &[&str]) -> Output {
    command(who, cwd, args).output().expect("spawn flakebox")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Spawn with piped stdout and wait for a line equal to `ready`.
// The child is returned to the caller, who waits for it.
#[allow(clippy::zombie_processes)]
pub fn spawn_until(mut cmd: Command, ready: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    cmd.stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn flakebox");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read stdout");
        if n == 0 {
            let status = child.wait().expect("wait");
            panic!("the command ended ({status}) before printing {ready:?}");
        }
        if line.trim_end() == ready {
            return (child, out);
        }
    }
}

/// Wait until every process in `pids` has exited (a pidfd becomes readable
/// when its process ends), at most `limit` in all. Returns the ones still alive.
pub fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let end = Instant::now() + limit;
    let mut alive = Vec::new();
    for &pid in pids {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as libc::c_int;
        if fd < 0 {
            continue; // already gone
        }
        let left = end.saturating_duration_since(Instant::now()).as_millis() as libc::c_int;
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own; then close it.
        let ready = unsafe {
            let r = libc::poll(&mut pfd, 1, left);
            libc::close(fd);
            r
        };
        if ready != 1 {
            alive.push(pid);
        }
    }
    alive
}

/// Host processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(marker) {
                out.push(pid);
            }
        }
    }
    out
}

/// A whole number unique to this test process and call (usable as `sleep`'s
/// argument, so the process can be found by its command line).
pub fn unique_number() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("9{}{:04}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A string unique to this test process and call.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

pub fn read_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    serde_json::from_str(&text).expect("valid JSON report")
}

/// Let `cmd`'s child inherit `fd` (made close-on-exec, as every descriptor
/// of this multi-threaded test process should be, so no other test's child
/// gets it).
pub fn inherit_fd(cmd: &mut Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: fcntl is async-signal-safe; it clears close-on-exec on `fd` in
    // the child only.
    unsafe {
        cmd.pre_exec(move || {
            libc::fcntl(fd, libc::F_SETFD, 0);
            Ok(())
        });
    }
}

/// `flakebox run --request-fd N` for `req` (as diagnose and timetravel start
/// their runs): the request is written to a pipe whose read end the child
/// inherits; keep the returned descriptor until the child is spawned.
pub fn request_command(who: Who, cwd: &Path, req: &runs::RunRequest) -> (Command, std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    std::io::Write::write_all(&mut std::fs::File::from(w), &req.to_json()).expect("write the request");
    let fd = r.as_raw_fd().to_string();
    let mut cmd = command(who, cwd, &["run", runs::REQUEST_FD_FLAG, &fd]);
    inherit_fd(&mut cmd, r.as_raw_fd());
    (cmd, r)
}

/// Remove a state directory tree (its overlayfs work directories are mode
/// 000). A test leaves nothing behind, so what cannot be removed fails it.
pub fn remove_tree(dir: &Path) {
    if let Err(e) = hostfs::remove_tree(dir) {
        panic!("{e}");
    }
}

/// This process's PATH without the directories nobody cannot search (a
/// toolchain under root's home, e.g. pyenv's shims in /root): what an
/// unprivileged user's PATH would hold.
pub fn nobody_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let searchable = |dir: &Path| {
        dir.ancestors().all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
    };
    path.split(':').filter(|d| !d.is_empty() && searchable(Path::new(d))).collect::<Vec<_>>().join(":")
}

/// A diagnosis as nobody runs alone: its sandbox (in a user namespace)
/// recreates the host's mount points under /tmp one by one, and one that a
/// concurrent diagnosis unmounts meanwhile (its private scratch tmpfs) fails
/// the set-up. Diagnoses as root share.
pub static ALONE: RwLock<()> = RwLock::new(());

pub enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

pub fn turn(who: Who) -> Guard {
    match who {
        Who::Root => Guard::Shared(ALONE.read().unwrap_or_else(|e| e.into_inner())),
        Who::Nobody => Guard::Alone(ALONE.write().unwrap_or_else(|e| e.into_inner())),
    }
}
