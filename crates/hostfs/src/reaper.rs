//! A process that removes scratch trees if their owner dies without doing
//! it (SIGKILL, the OOM killer): a Drop cannot run then, and a signal
//! handler cannot catch it.
//!
//! The reaper is forked before the trees exist and waits on a pipe whose
//! write end only the owner (and the owner's children until they exec, the
//! pipe being close-on-exec) holds. The owner's normal end writes one byte:
//! the reaper leaves without touching anything. End of file without that
//! byte means every holder is gone, so nothing uses the trees any more, and
//! the reaper removes them. It runs in a session of its own and ignores the
//! terminal's and a job canceller's signals (SIGINT, SIGTERM, SIGHUP to the
//! owner's process group), which the owner handles by cleaning up itself.
//!
//! The owner may be multi-threaded, so after `fork` the reaper makes only
//! async-signal-safe system calls: no allocation, no std filesystem calls.
//! Being a fork without exec, its command line is its owner's.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Deepest level of a tree the reaper descends into (each level holds a
/// directory descriptor and a small buffer on the reaper's stack).
const MAX_DEPTH: usize = 128;

/// Why the reaper could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ReaperError {
    #[error("a path to remove contains a NUL byte: {0:?}")]
    Nul(std::path::PathBuf),
    #[error("starting the process that removes flakebox's scratch if flakebox is killed: {0}")]
    Start(#[source] io::Error),
}

/// The owner's side of a running reaper. Dropping it (or [`Reaper::disarm`])
/// tells the reaper its owner cleaned up, and waits for it to leave.
#[derive(Debug)]
pub struct Reaper {
    pid: libc::pid_t,
    write_end: libc::c_int,
}

impl Reaper {
    /// Fork a reaper for `paths` (absolute; they need not exist yet).
    pub fn spawn(paths: &[&Path]) -> Result<Reaper, ReaperError> {
        let c_paths: Vec<CString> = paths
            .iter()
            .map(|p| {
                CString::new(OsStr::as_bytes(p.as_os_str())).map_err(|_| ReaperError::Nul(p.to_path_buf()))
            })
            .collect::<Result<_, _>>()?;
        // Pointers prepared before the fork: the child must not allocate.
        let ptrs: Vec<*const libc::c_char> = c_paths.iter().map(|c| c.as_ptr()).collect();
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(ReaperError::Start(io::Error::last_os_error()));
        }
        let [read_end, write_end] = fds;
        // SAFETY: the child runs only `reaper_main`, which makes
        // async-signal-safe system calls and leaves with _exit.
        match unsafe { libc::fork() } {
            -1 => {
                let e = io::Error::last_os_error();
                // SAFETY: closing the descriptors we just made.
                unsafe {
                    libc::close(read_end);
                    libc::close(write_end);
                }
                Err(ReaperError::Start(e))
            }
            0 => reaper_main(read_end, &ptrs),
            pid => {
                // SAFETY: the read end is the reaper's alone.
                unsafe { libc::close(read_end) };
                Ok(Reaper { pid, write_end })
            }
        }
    }

    /// Let `cmd`'s process, and what it starts, hold the pipe too: then the
    /// reaper also waits for them to end before it removes anything, so a
    /// helper still writing into a tree when the owner dies (initdb and its
    /// backends, say) does not race the removal.
    pub fn hold_in(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let fd = self.write_end;
        // SAFETY: the closure runs in the forked child before exec and makes
        // one async-signal-safe call on a descriptor it inherited from us.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Tell the reaper the trees are taken care of, and wait for it to leave.
    pub fn disarm(self) {
        drop(self)
    }

    /// Let the reaper go as if the owner had died: close the write end
    /// without the byte, and wait until it has removed everything.
    #[cfg(test)]
    fn abandon(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: our descriptor; then wait for our own child.
        unsafe {
            libc::close(me.write_end);
            wait_for(me.pid);
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: writing one byte to and closing our own descriptor; then
        // waiting for our own child, which leaves on that byte.
        unsafe {
            let _ = libc::write(self.write_end, b"x".as_ptr().cast(), 1);
            libc::close(self.write_end);
            wait_for(self.pid);
        }
    }
}

/// Wait for child `pid` to end (it may have been reaped already).
///
/// # Safety
/// `pid` must be a child of this process.
unsafe fn wait_for(pid: libc::pid_t) {
    let mut status = 0;
    while libc::waitpid(pid, &mut status, 0) == -1 && *libc::__errno_location() == libc::EINTR {}
}

/// The reaper: wait for the owner's byte or the end of the pipe; on the
/// end, remove every path. Never returns.
fn reaper_main(read_end: libc::c_int, paths: &[*const libc::c_char]) -> ! {
    // SAFETY: every call below is an async-signal-safe system call on
    // descriptors, static strings and the path pointers prepared before the
    // fork (still valid: the child has a copy of the parent's memory).
    unsafe {
        // Own session: no terminal's or process group's signals; and those
        // the owner handles are no business of the reaper's.
        libc::setsid();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::prctl(libc::PR_SET_NAME, c"flakebox-reaper".as_ptr(), 0, 0, 0);
        // Hold nothing else of the owner's open (a pipe's write end held here
        // would keep its reader waiting), the pipe's write end included.
        close_all_but(read_end);
        let mut byte = 0u8;
        let n = loop {
            let n = libc::read(read_end, (&mut byte as *mut u8).cast(), 1);
            if n != -1 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        if n == 0 {
            for &p in paths {
                remove_at(libc::AT_FDCWD, p, 0);
            }
        }
        libc::_exit(0)
    }
}

/// Close every descriptor but `keep`.
///
/// # Safety
/// Only for the reaper, which uses no other descriptor.
unsafe fn close_all_but(keep: libc::c_int) {
    let max = libc::c_uint::MAX;
    let range = |lo: libc::c_uint, hi: libc::c_uint| libc::syscall(libc::SYS_close_range, lo, hi, 0) == 0;
    let keep_u = keep as libc::c_uint;
    let low_ok = keep_u == 0 || range(0, keep_u - 1);
    if !(low_ok && range(keep_u + 1, max)) {
        // Kernels before 5.9: close one by one up to the descriptor limit.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let top = match libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) {
            0 => lim.rlim_cur.min(1 << 20) as libc::c_int,
            _ => 1024,
        };
        for fd in (0..top).filter(|&fd| fd != keep) {
            libc::close(fd);
        }
    }
}

/// Remove `name` (relative to `dirfd`, or absolute) and everything under it,
/// never following a symlink; directories the owner made unsearchable
/// (overlayfs work directories are mode 000) are opened up first. Returns
/// whether `name` is gone. Async-signal-safe: system calls and a stack buffer.
///
/// # Safety
/// `name` must be a valid C string; `dirfd` an open directory or AT_FDCWD.
unsafe fn remove_at(dirfd: libc::c_int, name: *const libc::c_char, depth: usize) -> bool {
    let errno = || *libc::__errno_location();
    if libc::unlinkat(dirfd, name, 0) == 0 || errno() == libc::ENOENT {
        return true;
    }
    if errno() != libc::EISDIR {
        return false;
    }
    if libc::unlinkat(dirfd, name, libc::AT_REMOVEDIR) == 0 {
        return true;
    }
    if depth >= MAX_DEPTH {
        return false;
    }
    // A directory, not a symlink (unlinkat above removes a symlink): restore
    // the owner's right to list and empty it.
    let mut st: libc::stat = std::mem::zeroed();
    if libc::fstatat(dirfd, name, &mut st, libc::AT_SYMLINK_NOFOLLOW) != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFDIR
    {
        return false;
    }
    if st.st_mode & 0o700 != 0o700 {
        libc::fchmodat(dirfd, name, (st.st_mode & 0o7777) | 0o700, 0);
    }
    let fd =
        libc::openat(dirfd, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC);
    if fd < 0 {
        return false;
    }
    // Read from the start again after each pass that removed something: a
    // directory's offsets may shift as entries go. A pass that removes
    // nothing ends the loop (what is left cannot be removed).
    let mut buf = [0u8; 1024];
    loop {
        libc::lseek(fd, 0, libc::SEEK_SET);
        let mut removed = false;
        loop {
            let n = libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len());
            if n <= 0 {
                break;
            }
            let mut off = 0usize;
            while off < n as usize {
                // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
                let rec = buf.as_ptr().add(off);
                let reclen = u16::from_ne_bytes([*rec.add(16), *rec.add(17)]) as usize;
                let entry = rec.add(19).cast::<libc::c_char>();
                let dots = *entry == b'.' as libc::c_char
                    && (*entry.add(1) == 0 || (*entry.add(1) == b'.' as libc::c_char && *entry.add(2) == 0));
                if !dots && remove_at(fd, entry, depth + 1) {
                    removed = true;
                }
                off += reclen.max(1);
            }
        }
        if !removed {
            break;
        }
    }
    libc::close(fd);
    libc::unlinkat(dirfd, name, libc::AT_REMOVEDIR) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    /// A scratch tree as a diagnosis leaves it: overlay work directories of
    /// mode 000, read-only files, a symlink out of the tree, many entries
    /// (more than one getdents buffer), deep nesting.
    fn scratch_tree(root: &Path, outside: &Path) {
        fs::create_dir_all(root.join("state/work/work/deep")).expect("mkdir");
        fs::write(root.join("state/work/work/deep/f"), "x").expect("write");
        fs::set_permissions(root.join("state/work/work"), fs::Permissions::from_mode(0o000)).expect("chmod");
        fs::write(root.join("ro"), "x").expect("write");
        fs::set_permissions(root.join("ro"), fs::Permissions::from_mode(0o000)).expect("chmod");
        symlink(outside, root.join("to-outside")).expect("symlink");
        for i in 0..300 {
            fs::write(root.join(format!("report.json-{i:04}-with-a-longish-name")), "{}").expect("write");
        }
        let mut deep = root.join("nested");
        for _ in 0..40 {
            deep = deep.join("d");
        }
        fs::create_dir_all(&deep).expect("deep");
    }

    #[test]
    fn removes_the_trees_when_the_owner_is_gone_and_nothing_else() {
        let d = tempfile::tempdir().expect("tempdir");
        let outside = d.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("precious"), "keep").expect("write");
        fs::create_dir(outside.join("closed")).expect("mkdir");
        fs::set_permissions(outside.join("closed"), fs::Permissions::from_mode(0o000)).expect("chmod");
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let reaper = Reaper::spawn(&[&a, &b]).expect("reaper");
        // Made after the reaper, as a workspace's trees are.
        scratch_tree(&a, &outside.join("closed"));
        fs::create_dir(&b).expect("mkdir");
        reaper.abandon();
        assert!(fs::symlink_metadata(&a).is_err(), "{} left", a.display());
        assert!(fs::symlink_metadata(&b).is_err(), "{} left", b.display());
        assert_eq!(fs::read_to_string(outside.join("precious")).expect("kept"), "keep");
        let closed = fs::symlink_metadata(outside.join("closed")).expect("kept");
        assert_eq!(closed.mode() & 0o7777, 0o000, "the mode behind a symlink is untouched");
        fs::set_permissions(outside.join("closed"), fs::Permissions::from_mode(0o700)).expect("chmod");
    }

    #[test]
    fn a_disarmed_reaper_leaves_without_touching_anything() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = d.path().join("a");
        let reaper = Reaper::spawn(&[&a]).expect("reaper");
        fs::create_dir(&a).expect("mkdir");
        fs::write(a.join("f"), "x").expect("write");
        let pid = reaper.pid;
        reaper.disarm();
        assert!(a.join("f").is_file(), "the owner's trees are the owner's to remove");
        assert!(fs::metadata(format!("/proc/{pid}")).is_err(), "the reaper is gone");
    }

    #[test]
    fn a_holder_keeps_the_reaper_waiting_after_the_owner_is_gone() {
        use std::process::{Command, Stdio};
        let d = tempfile::tempdir().expect("tempdir");
        let a = d.path().join("a");
        let reaper = Reaper::spawn(&[&a]).expect("reaper");
        fs::create_dir(&a).expect("mkdir");
        let mut cmd = Command::new("cat");
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        reaper.hold_in(&mut cmd);
        let mut holder = cmd.spawn().expect("cat");
        // The owner goes (as abandon does, without waiting for the reaper).
        let me = std::mem::ManuallyDrop::new(reaper);
        // SAFETY: our own descriptor, and a pidfd of our own child.
        let pidfd = unsafe {
            libc::close(me.write_end);
            libc::syscall(libc::SYS_pidfd_open, me.pid, 0) as libc::c_int
        };
        assert!(pidfd >= 0, "pidfd_open: {}", io::Error::last_os_error());
        // The holder still runs: the reaper must not end, nor remove a. (A
        // bounded wait for what must not happen.)
        let mut pfd = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd of ours.
        let ready = unsafe { libc::poll(&mut pfd, 1, 300) };
        assert_eq!(ready, 0, "the reaper ended while a holder ran");
        assert!(a.is_dir(), "removed while a holder ran");
        drop(holder.stdin.take());
        holder.wait().expect("wait");
        // SAFETY: our own child; then our own descriptor.
        unsafe {
            wait_for(me.pid);
            libc::close(pidfd);
        }
        assert!(fs::symlink_metadata(&a).is_err(), "{} left after every holder ended", a.display());
    }

    #[test]
    fn a_path_with_a_nul_is_refused() {
        let p = Path::new(OsStr::from_bytes(b"/tmp/a\0b"));
        assert!(matches!(Reaper::spawn(&[p]), Err(ReaperError::Nul(_))));
    }
}
