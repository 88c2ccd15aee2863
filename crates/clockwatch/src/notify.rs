//! The supervisor's answering side: receives seccomp user notifications and
//! answers wall-clock reads with the fake clock, written into the caller's memory.
//!
//! Every answer takes the caller's `/proc/TID/mem` (see [`crate::tracees`]) first
//! and only then checks that the notification is still valid (`SECCOMP_IOCTL_NOTIF_ID_VALID`): a valid id
//! means the caller is still blocked in the call, so the open file is its memory
//! and not that of a process that reused its pid.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::fake::{real_now, split, FakeClock, Nanos};
use crate::filter::Arch;
use crate::stats::Counts;
use crate::tracees::Tracees;

/// SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (linux/seccomp.h).
const SYNC_WAKE_UP: u64 = 1;

/// How one notification is answered.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Return `val` from the call.
    Value(i64),
    /// Fail the call with this errno.
    Errno(i32),
    /// Let the kernel run the call unchanged.
    Continue,
    /// The caller is gone (killed, or the call was interrupted): nothing to answer.
    Gone,
}

/// Serves notifications on `listener` until it fails (the last filtered process exited).
/// Absolute deadlines are converted only for threads clockwatch fakes the clock of: a
/// process the shim reaches has converted its own.
pub fn serve(
    listener: OwnedFd,
    clock: Arc<FakeClock>,
    tracees: Arc<Tracees>,
    counts: &Counts,
    sync_wake_up: bool,
) {
    let arch = Arch::native();
    // The caller and this thread hand the CPU to each other directly (Linux 6.6+;
    // older kernels refuse the flag and keep the ordinary wakeups).
    if sync_wake_up {
        // The flags are the argument itself, not a pointer to them.
        // SAFETY: SET_FLAGS takes an integer argument and touches no memory of ours.
        let r =
            unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, SYNC_WAKE_UP) };
        counts.sync_wake_up.store(r == 0, Ordering::Relaxed);
    }
    let listener = Arc::new(listener);
    loop {
        // SAFETY: seccomp_notif is plain data; all-zero is what RECV requires.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: req is a valid seccomp_notif the kernel fills in.
        let r = unsafe { libc::ioctl(listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &raw mut req) };
        if r != 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                // Interrupted, or the caller died before we read it.
                Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                _ => return,
            }
        }
        let nr = req.data.nr as u32;
        if nr == arch.clock_nanosleep {
            if tracees.is_watched(req.pid as i32) {
                let (l, c, t) = (listener.clone(), clock.clone(), tracees.clone());
                // The wait may be long: one thread per sleeping caller.
                std::thread::spawn(move || {
                    let a = abs_sleep(l.as_raw_fd(), &c, &t, &req);
                    respond(l.as_raw_fd(), req.id, a);
                });
                continue;
            }
            respond(listener.as_raw_fd(), req.id, Answer::Continue);
            continue;
        }
        let a = read_clock(listener.as_raw_fd(), &clock, &tracees, &arch, &req);
        if matches!(a, Answer::Value(_)) {
            counts.reads.fetch_add(1, Ordering::Relaxed);
        }
        respond(listener.as_raw_fd(), req.id, a);
    }
}

fn id_valid(fd: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: ID_VALID reads one u64.
    unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &raw mut id) == 0 }
}

fn respond(fd: RawFd, id: u64, a: Answer) {
    let (val, error, flags) = match a {
        Answer::Value(v) => (v, 0, 0),
        Answer::Errno(e) => (0, -e, 0),
        Answer::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Answer::Gone => return,
    };
    let mut resp = libc::seccomp_notif_resp { id, val, error, flags };
    // SAFETY: resp is a valid response; ENOENT (the caller went away) is expected and ignored.
    unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &raw mut resp) };
}

/// The caller's memory, opened before the validity check (see the module docs).
fn open_mem(fd: RawFd, tracees: &Tracees, req: &libc::seccomp_notif) -> Result<Arc<File>, Answer> {
    let mem = tracees.mem(req.pid as i32).map_err(|_| Answer::Gone)?;
    if !id_valid(fd, req.id) {
        return Err(Answer::Gone);
    }
    Ok(mem)
}

fn write(mem: &File, addr: u64, bytes: &[u8]) -> Result<(), Answer> {
    match mem.write_all_at(bytes, addr) {
        Ok(()) => Ok(()),
        Err(_) => Err(Answer::Errno(libc::EFAULT)),
    }
}

fn timespec_bytes(t: Nanos) -> [u8; 16] {
    let (s, n) = split(t);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&s.to_ne_bytes());
    b[8..].copy_from_slice(&n.to_ne_bytes());
    b
}

fn read_clock(
    fd: RawFd,
    clock: &FakeClock,
    tracees: &Tracees,
    arch: &Arch,
    req: &libc::seccomp_notif,
) -> Answer {
    let Some(real) = real_now(libc::CLOCK_REALTIME) else { return Answer::Continue };
    let args = req.data.args;
    let nr = req.data.nr as u32;
    let r = (|| {
        if nr == arch.clock_gettime {
            if args[1] == 0 {
                return Err(Answer::Errno(libc::EFAULT));
            }
            let mem = open_mem(fd, tracees, req)?;
            write(&mem, args[1], &timespec_bytes(clock.now(args[0] as i32, real, true)))?;
            Ok(Answer::Value(0))
        } else if nr == arch.gettimeofday {
            let now = clock.now(libc::CLOCK_REALTIME, real, args[0] != 0);
            if args[0] == 0 && args[1] == 0 {
                return Ok(Answer::Value(0));
            }
            let mem = open_mem(fd, tracees, req)?;
            if args[0] != 0 {
                let (s, n) = split(now);
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&s.to_ne_bytes());
                b[8..].copy_from_slice(&(n / 1000).to_ne_bytes());
                write(&mem, args[0], &b)?;
            }
            if args[1] != 0 {
                // struct timezone: the sandbox's kernel zone is UTC.
                write(&mem, args[1], &[0u8; 8])?;
            }
            Ok(Answer::Value(0))
        } else if Some(nr) == arch.time {
            let (s, _) = split(clock.now(libc::CLOCK_REALTIME, real, true));
            if args[0] != 0 {
                let mem = open_mem(fd, tracees, req)?;
                write(&mem, args[0], &s.to_ne_bytes())?;
            } else if !id_valid(fd, req.id) {
                return Err(Answer::Gone);
            }
            Ok(Answer::Value(s))
        } else {
            Ok(Answer::Continue)
        }
    })();
    r.unwrap_or_else(|a| a)
}

/// `clock_nanosleep(clk, TIMER_ABSTIME, req, _)` on the fake clock: waits here until
/// the converted real deadline, checking that the caller is still waiting, then
/// returns 0 to it. A signal to the caller interrupts its call; the kernel restarts
/// it with the same absolute deadline as a new notification.
fn abs_sleep(fd: RawFd, clock: &FakeClock, tracees: &Tracees, req: &libc::seccomp_notif) -> Answer {
    let clk = req.data.args[0] as i32;
    let mut b = [0u8; 16];
    let deadline = {
        let Ok(mem) = open_mem(fd, tracees, req) else { return Answer::Gone };
        if mem.read_exact_at(&mut b, req.data.args[2]).is_err() {
            return Answer::Errno(libc::EFAULT);
        }
        // Read first, then confirm the bytes came from the caller.
        if !id_valid(fd, req.id) {
            return Answer::Gone;
        }
        let s = i64::from_ne_bytes(b[..8].try_into().unwrap_or_default());
        let n = i64::from_ne_bytes(b[8..].try_into().unwrap_or_default());
        if !(0..1_000_000_000).contains(&n) {
            return Answer::Errno(libc::EINVAL);
        }
        s as i128 * 1_000_000_000 + n as i128
    };
    let Some(real) = real_now(libc::CLOCK_REALTIME) else { return Answer::Continue };
    let target = clock.real_deadline(libc::CLOCK_REALTIME, deadline - tai_shift(clock, clk, real), real);
    // Wake up now and then to notice a caller that went away (signal, kill).
    const POLL: Nanos = 100_000_000;
    loop {
        let Some(now) = real_now(libc::CLOCK_REALTIME) else { return Answer::Continue };
        if now >= target {
            return Answer::Value(0);
        }
        if !id_valid(fd, req.id) {
            return Answer::Gone;
        }
        let wait = (target - now).min(POLL);
        std::thread::sleep(Duration::from_nanos(wait as u64));
    }
}

/// A TAI deadline is a UTC one plus TAI − UTC.
fn tai_shift(clock: &FakeClock, clk: i32, real: Nanos) -> Nanos {
    if clk == libc::CLOCK_TAI {
        clock.now(libc::CLOCK_TAI, real, false) - clock.now(libc::CLOCK_REALTIME, real, false)
    } else {
        0
    }
}
