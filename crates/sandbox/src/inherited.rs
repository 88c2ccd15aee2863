//! Files the caller hands the command read-only (`cmd < file`, an inherited
//! descriptor) stay read-only. As root the command could otherwise reopen
//! one for writing through `/proc/self/fd/N`, which reaches the host's file
//! past the sandbox's mounts (root owns it, so no capability is needed).
//! Each such descriptor is replaced, before PID 1 is cloned, by one opened
//! through a detached read-only clone of its mount (`open_tree`): reading is
//! unchanged, a reopen for writing gets EROFS. The new descriptor has its own
//! file offset, copied from the old one.

use crate::mounts::set_read_only;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Replace each inheritable read-only descriptor of a regular file or a
/// directory. A kernel without `open_tree` (before 5.2), or a file on a
/// mount of another namespace, leaves the descriptor as it is: returned as
/// warnings.
pub fn reopen_read_only() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    let fds: Vec<RawFd> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    let mut warnings = Vec::new();
    for fd in fds {
        if let Err(e) = reopen(fd) {
            warnings.push(format!(
                "descriptor {fd} (read-only) could not be made read-only for reopening ({}); the command can \
                 reopen its file for writing",
                e.desc()
            ));
        }
    }
    warnings
}

/// Reopen `fd` through a read-only clone of its mount, if it is an
/// inheritable read-only descriptor of a file or directory.
fn reopen(fd: RawFd) -> nix::Result<()> {
    // SAFETY: fcntl and fstat on a descriptor number; fstat fills a struct we own.
    let (fd_flags, fl, mode) = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fcntl(fd, libc::F_GETFD), libc::fcntl(fd, libc::F_GETFL), {
            if libc::fstat(fd, &mut st) != 0 {
                return Ok(()); // closed meanwhile (the read_dir's own)
            }
            st.st_mode & libc::S_IFMT
        })
    };
    let inherited = fd_flags >= 0 && fd_flags & libc::FD_CLOEXEC == 0;
    let read_only = fl >= 0 && (fl & libc::O_ACCMODE == libc::O_RDONLY || fl & libc::O_PATH != 0);
    if !inherited || !read_only || (mode != libc::S_IFREG && mode != libc::S_IFDIR) {
        return Ok(());
    }
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    // SAFETY: open_tree on a descriptor with an empty path returns a new descriptor.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            fd,
            c"".as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    set_read_only(tree.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint)?;
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", tree.as_raw_fd()))
        .map_err(|_| nix::Error::EINVAL)?;
    let keep = libc::O_PATH | libc::O_NONBLOCK | libc::O_DIRECTORY | libc::O_NOATIME | libc::O_LARGEFILE;
    // SAFETY: open, lseek, dup3 and close on descriptors this process owns.
    unsafe {
        let new = libc::open(path.as_ptr(), (fl & keep) | libc::O_RDONLY | libc::O_CLOEXEC);
        if new < 0 {
            return Err(nix::Error::last());
        }
        let offset = libc::lseek(fd, 0, libc::SEEK_CUR);
        if offset > 0 {
            libc::lseek(new, offset, libc::SEEK_SET);
        }
        let r = libc::dup3(new, fd, 0);
        libc::close(new);
        if r < 0 {
            return Err(nix::Error::last());
        }
    }
    Ok(())
}
