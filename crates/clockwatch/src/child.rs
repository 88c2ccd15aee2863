//! The command's side, between fork and exec: install the filter, hand the
//! listener to the supervisor, wait until it has attached. Only async-signal-safe
//! calls here (the parent may be multi-threaded); everything is allocated before fork.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::filter::{program, Arch, Routes};

/// The byte the supervisor sends once it has attached.
pub(crate) const GO: u8 = b'g';

/// The filter program and the child's end of the handover socket, ready before fork.
pub struct Prepared {
    prog: Vec<libc::sock_filter>,
    sock: OwnedFd,
}

impl Prepared {
    pub(crate) fn new(routes: &Routes, sock: OwnedFd) -> Prepared {
        Prepared { prog: program(&Arch::native(), routes), sock }
    }

    /// The socket end the child uses (close it in the parent after fork).
    pub fn sock(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// In the child after fork: sets no_new_privs, installs the filter with a
    /// listener, names the supervisor as its ptracer, sends it the listener and
    /// this pid and blocks until it has attached. Returns the errno of the step that failed.
    ///
    /// # Safety
    /// Call only in a freshly forked child, right before exec.
    pub unsafe fn install(&self) -> Result<(), i32> {
        let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        let fprog = libc::sock_fprog { len: self.prog.len() as u16, filter: self.prog.as_ptr().cast_mut() };
        // SAFETY: prctl and seccomp with valid arguments; fprog outlives the calls.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(errno());
            }
            let fd = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &raw const fprog,
            );
            if fd < 0 {
                return Err(errno());
            }
            // The supervisor is not our ancestor: let it attach under Yama's
            // ptrace_scope=1 (a no-op without Yama).
            let mut sup = [0u8; 4];
            if libc::read(self.sock.as_raw_fd(), sup.as_mut_ptr().cast(), 4) != 4 {
                libc::close(fd as RawFd);
                return Err(libc::ECHILD);
            }
            libc::prctl(libc::PR_SET_PTRACER, i32::from_ne_bytes(sup) as libc::c_ulong, 0, 0, 0);
            let r = send_fd(self.sock.as_raw_fd(), fd as RawFd, libc::getpid());
            libc::close(fd as RawFd);
            r?;
            let mut b = 0u8;
            if libc::read(self.sock.as_raw_fd(), (&raw mut b).cast(), 1) != 1 || b != GO {
                return Err(libc::ECHILD);
            }
        }
        Ok(())
    }
}

/// Sends `pid` with `fd` attached (SCM_RIGHTS). Async-signal-safe.
unsafe fn send_fd(sock: RawFd, fd: RawFd, pid: i32) -> Result<(), i32> {
    let mut data = pid.to_ne_bytes();
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr is plain data; the CMSG macros stay within cbuf (sized for one fd).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        if libc::sendmsg(sock, &msg, 0) < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
    }
    Ok(())
}
