//! Network namespace: made beside PID 1's set-up as root ([`create_for`],
//! [`enter_from`]), by `clone` otherwise; then loopback is brought up. A new
//! netns has only `lo`, down; an ioctl is all it takes (no netlink needed for
//! one flag).

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

/// As root, the network namespace is created by a short-lived thread of the
/// supervisor while PID 1 builds the mount tree: its creation (~0.9 ms of
/// kernel work: loopback, sysctl tables) then overlaps the mounts instead of
/// preceding them in `clone`. The thread unshares only itself, and hands the
/// namespace to PID 1 over `sock` (SCM_RIGHTS), or the errno it got.
/// (Rootless, PID 1's own user namespace must own it: `clone` makes it.)
pub(crate) fn create_for(sock: std::os::fd::OwnedFd) -> std::thread::JoinHandle<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    std::thread::spawn(move || {
        let made = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).and_then(|()| {
            nix::fcntl::open(
                "/proc/thread-self/ns/net",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
        });
        let _ = match made {
            Ok(fd) => {
                let fds = [fd];
                let sent = sendmsg::<()>(
                    sock.as_raw_fd(),
                    &[io::IoSlice::new(b"n")],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::empty(),
                    None,
                );
                // SAFETY: `open` returned fd and the message carried a copy.
                unsafe { libc::close(fd) };
                sent
            }
            Err(e) => {
                let mut msg = vec![b'e'];
                msg.extend_from_slice(&(e as i32).to_ne_bytes());
                sendmsg::<()>(sock.as_raw_fd(), &[io::IoSlice::new(&msg)], &[], MsgFlags::empty(), None)
            }
        };
    })
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
