//! Network namespace: made beside PID 1's set-up ([`create_for`],
//! [`enter_from`]), then loopback is brought up. A new netns has only `lo`,
//! down; an ioctl is all it takes (no netlink needed for one flag).

use std::io;

pub fn loopback_up() -> io::Result<()> {
    // SAFETY: plain socket(2); the fd is closed below on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = set_up(fd);
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    result
}

fn set_up(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Who makes the network namespace beside PID 1's set-up; joined (reaped)
/// by the supervisor before it returns.
pub(crate) enum Maker {
    Thread(std::thread::JoinHandle<()>),
    Process(nix::unistd::Pid),
}

impl Maker {
    pub(crate) fn join(self) {
        match self {
            Maker::Thread(t) => {
                let _ = t.join();
            }
            Maker::Process(pid) => {
                let _ = nix::sys::wait::waitpid(pid, None);
            }
        }
    }
}

/// Make the sandbox's network namespace while PID 1 builds the mount tree:
/// its creation (~0.6–0.9 ms of kernel work: loopback, sysctl tables) then
/// overlaps the mounts instead of preceding them in `clone`. The namespace
/// (or the errno that stopped it) goes to PID 1 over `sock` (SCM_RIGHTS).
///
/// As root a thread of the supervisor unshares one for itself. Rootless the
/// namespace must belong to PID 1's user namespace (`user_ns`, opened after
/// the id maps are written), which only a single-threaded process can join:
/// a forked helper joins it, unshares, sends and exits.
pub(crate) fn create_for(
    sock: std::os::fd::OwnedFd,
    user_ns: Option<std::os::fd::OwnedFd>,
) -> io::Result<Maker> {
    use std::os::fd::AsRawFd;
    let Some(user_ns) = user_ns else {
        return Ok(Maker::Thread(std::thread::spawn(move || make_and_send(sock.as_raw_fd(), None))));
    };
    let parent = nix::unistd::getpid();
    // SAFETY: the supervisor is single-threaded here (checked before PID 1
    // was cloned, and no thread is started rootless); the child makes only
    // system calls (make_and_send) and leaves by _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: prctl and getppid are async-signal-safe; a parent that
            // died before the prctl took effect shows as another parent.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent.as_raw() {
                    libc::_exit(0);
                }
            }
            make_and_send(sock.as_raw_fd(), Some(user_ns.as_raw_fd()));
            // SAFETY: leaving the forked child without running any handler.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Maker::Process(child)),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Join `user_ns` if given, unshare a network namespace and send it (or the
/// errno) on `sock`. Raw system calls only: it also runs in a forked child.
fn make_and_send(sock: libc::c_int, user_ns: Option<libc::c_int>) {
    // SAFETY: plain system calls on descriptors we hold and a NUL-terminated
    // literal path; the message buffers live on this stack until sendmsg.
    unsafe {
        let mut ok = match user_ns {
            Some(fd) => libc::setns(fd, libc::CLONE_NEWUSER) == 0,
            None => true,
        };
        ok = ok && libc::unshare(libc::CLONE_NEWNET) == 0;
        let ns = if ok {
            libc::open(c"/proc/thread-self/ns/net".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
        } else {
            -1
        };
        // "n" with the descriptor, or "e" and the errno.
        let mut payload: [u8; 5] = [b'n', 0, 0, 0, 0];
        let mut len = 1;
        if ns < 0 {
            payload[0] = b'e';
            payload[1..].copy_from_slice(&(*libc::__errno_location()).to_ne_bytes());
            len = 5;
        }
        let mut iov = libc::iovec { iov_base: payload.as_mut_ptr().cast(), iov_len: len };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // Room for one descriptor, aligned for cmsghdr.
        let mut control = [0u64; 4];
        if ns >= 0 {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), ns);
        }
        libc::sendmsg(sock, &msg, 0);
        if ns >= 0 {
            libc::close(ns);
        }
    }
}

/// In PID 1: receive the namespace [`create_for`] made, and enter it.
pub(crate) fn enter_from(sock: &std::os::fd::OwnedFd) -> Result<(), String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut buf = [0u8; 5];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| format!("receiving the network namespace: {}", e.desc()))?;
    let mut netns: Option<OwnedFd> = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel installed this descriptor for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    netns.get_or_insert(owned);
                }
            }
        }
    }
    let n = msg.bytes;
    match (n, buf[0], netns) {
        (1, b'n', Some(fd)) => nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("entering the network namespace: {}", e.desc())),
        (5, b'e', _) => {
            let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
            Err(format!("creating the network namespace: {}", nix::Error::from_raw(errno).desc()))
        }
        _ => Err("the supervisor handed over no network namespace".into()),
    }
}
