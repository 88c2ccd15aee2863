//! Absolute deadlines the kernel waits on in the caller itself: a futex wait on
//! the REALTIME clock, `timer_settime` and `timerfd_settime` with ABSTIME. The
//! supervisor cannot wait for the caller (another thread wakes a futex; a timer
//! fires into the caller's process), so the tracer converts the deadline before
//! the kernel reads it: at the filter's `SECCOMP_RET_TRACE` stop it writes the
//! converted value below the caller's stack pointer (memory the ABI lets a
//! signal handler clobber at any time, so nothing of the program lives there)
//! and points the call's argument at it. The program's own copy is untouched:
//! a loop that adds a period to its deadline keeps working in fake time.
//!
//! The rule is [`FakeClock::real_deadline`], the same as the shim's
//! (shim/deadline.c) and the supervisor's absolute sleeps.

use crate::fake::{real_now, FakeClock, Nanos};
use crate::filter::{Arch, REALTIME_FAMILY};
use crate::tracees::Tracees;
use std::os::unix::fs::FileExt;

const NS: Nanos = 1_000_000_000;

/// Where a call's deadline is: the argument holding the pointer, the offset of
/// the absolute `timespec` in what it points to, and the size of that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    arg: usize,
    offset: usize,
    size: usize,
}

/// `timespec` alone (futex) or `itimerspec` (interval, then value).
const FUTEX: Layout = Layout { arg: 3, offset: 0, size: 16 };
const ITIMERSPEC: Layout = Layout { arg: 2, offset: 16, size: 32 };

/// Below the stack pointer, past x86-64's red zone (128 bytes) and 16-aligned.
fn scratch_address(sp: u64, size: usize) -> u64 {
    (sp - 256 - size as u64) & !15
}

/// The converted deadline of `bytes` (a `Layout`'s struct): `None` when there
/// is nothing to convert (a disarming zero, a malformed value the kernel will
/// refuse itself).
fn converted(bytes: &[u8], l: Layout, convert: impl Fn(Nanos) -> Nanos) -> Option<Vec<u8>> {
    let at = |o: usize| i64::from_ne_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
    let (sec, nsec) = (at(l.offset), at(l.offset + 8));
    if !(0..NS as i64).contains(&nsec) || (l.size == 32 && sec == 0 && nsec == 0) {
        return None;
    }
    let (s, n) = crate::fake::split(convert(sec as Nanos * NS + nsec as Nanos));
    let mut out = bytes.to_vec();
    out[l.offset..l.offset + 8].copy_from_slice(&s.to_ne_bytes());
    out[l.offset + 8..l.offset + 16].copy_from_slice(&n.to_ne_bytes());
    Some(out)
}

/// The clock of POSIX timer `id` of process `tgid` (/proc/TGID/timers).
fn posix_timer_clock(tgid: i32, id: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{tgid}/timers")).ok()?;
    let mut current = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ID:") {
            current = v.trim().parse::<i32>().ok();
        } else if let Some(v) = line.strip_prefix("ClockID:") {
            if current == Some(id) {
                return v.trim().parse().ok();
            }
        }
    }
    None
}

/// The clock of timerfd `fd` of thread `tid` (/proc/TID/fdinfo/FD).
fn timerfd_clock(tid: i32, fd: i32) -> Option<i32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("clockid:")).and_then(|v| v.trim().parse().ok())
}

/// At a `SECCOMP_RET_TRACE` stop of `tid` (thread group `tgid`), convert the
/// deadline of the call it is making. Errors say why it kept its fake
/// deadline (the call then runs as the program asked).
pub fn convert(tid: i32, tgid: i32, clock: &FakeClock, tracees: &Tracees) -> Result<(), String> {
    let arch = Arch::native();
    let mut regs = regs::Regs::get(tid).map_err(|e| format!("reading its registers: {e}"))?;
    let nr = regs.nr();
    let (layout, clk) = if nr == arch.futex as u64 {
        (FUTEX, libc::CLOCK_REALTIME)
    } else if nr == arch.timer_settime as u64 {
        let id = regs.arg(0) as i32;
        (ITIMERSPEC, posix_timer_clock(tgid, id).ok_or("its timer's clock is unknown")?)
    } else if nr == arch.timerfd_settime as u64 {
        let fd = regs.arg(0) as i32;
        (ITIMERSPEC, timerfd_clock(tid, fd).ok_or("its timerfd's clock is unknown")?)
    } else {
        return Ok(());
    };
    if !REALTIME_FAMILY.contains(&(clk as u32)) {
        return Ok(());
    }
    let ptr = regs.arg(layout.arg);
    if ptr == 0 {
        return Ok(()); // no deadline: the kernel waits forever or says EFAULT
    }
    let mem = tracees.mem(tid).map_err(|e| format!("opening its memory: {e}"))?;
    let mut bytes = vec![0u8; layout.size];
    if mem.read_exact_at(&mut bytes, ptr).is_err() {
        return Ok(()); // a bad pointer: the kernel's EFAULT
    }
    let Some(real) = real_now(libc::CLOCK_REALTIME) else {
        return Err("the real clock cannot be read".into());
    };
    let Some(new) = converted(&bytes, layout, |d| clock.real_deadline(clk, d, real)) else { return Ok(()) };
    let at = scratch_address(regs.sp(), layout.size);
    mem.write_all_at(&new, at).map_err(|e| format!("writing below its stack pointer: {e}"))?;
    regs.set_arg(layout.arg, at);
    regs.set(tid).map_err(|e| format!("setting its registers: {e}"))
}

#[cfg(target_arch = "x86_64")]
mod regs {
    pub struct Regs(libc::user_regs_struct);

    impl Regs {
        pub fn get(tid: i32) -> std::io::Result<Regs> {
            // SAFETY: user_regs_struct is plain data; GETREGS fills it.
            let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            // SAFETY: a stopped tracee of ours; writes one user_regs_struct.
            match unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0usize, &raw mut r) } {
                0 => Ok(Regs(r)),
                _ => Err(std::io::Error::last_os_error()),
            }
        }

        pub fn set(&self, tid: i32) -> std::io::Result<()> {
            // SAFETY: a stopped tracee of ours; reads one user_regs_struct.
            match unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0usize, &raw const self.0) } {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        }

        pub fn nr(&self) -> u64 {
            self.0.orig_rax
        }

        pub fn sp(&self) -> u64 {
            self.0.rsp
        }

        pub fn arg(&self, i: usize) -> u64 {
            let r = &self.0;
            [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9][i]
        }

        pub fn set_arg(&mut self, i: usize, v: u64) {
            let r = &mut self.0;
            *[&mut r.rdi, &mut r.rsi, &mut r.rdx, &mut r.r10, &mut r.r8, &mut r.r9][i] = v;
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod regs {
    pub struct Regs(libc::user_regs_struct);

    fn regset(tid: i32, req: libc::c_uint, r: *mut libc::user_regs_struct) -> std::io::Result<()> {
        let mut iov =
            libc::iovec { iov_base: r.cast(), iov_len: std::mem::size_of::<libc::user_regs_struct>() };
        // SAFETY: a stopped tracee of ours; the iovec describes one user_regs_struct.
        match unsafe { libc::ptrace(req, tid, libc::NT_PRSTATUS as usize, &raw mut iov) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    impl Regs {
        pub fn get(tid: i32) -> std::io::Result<Regs> {
            // SAFETY: user_regs_struct is plain data.
            let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            regset(tid, libc::PTRACE_GETREGSET, &raw mut r)?;
            Ok(Regs(r))
        }

        pub fn set(&self, tid: i32) -> std::io::Result<()> {
            let mut r = self.0;
            regset(tid, libc::PTRACE_SETREGSET, &raw mut r)
        }

        pub fn nr(&self) -> u64 {
            self.0.regs[8]
        }

        pub fn sp(&self) -> u64 {
            self.0.sp
        }

        pub fn arg(&self, i: usize) -> u64 {
            self.0.regs[i]
        }

        pub fn set_arg(&mut self, i: usize, v: u64) {
            self.0.regs[i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(sec: i64, nsec: i64) -> Vec<u8> {
        [sec.to_ne_bytes(), nsec.to_ne_bytes()].concat()
    }

    #[test]
    fn the_value_is_converted_and_the_interval_kept() {
        let shift = |d: Nanos| d + 1_000 * NS;
        assert_eq!(converted(&ts(5, 7), FUTEX, shift), Some(ts(1_005, 7)));
        let its = [ts(2, 0), ts(5, 7)].concat();
        assert_eq!(converted(&its, ITIMERSPEC, shift), Some([ts(2, 0), ts(1_005, 7)].concat()));
        // Disarming (a zero value) and a malformed one are the kernel's.
        assert_eq!(converted(&[ts(2, 0), ts(0, 0)].concat(), ITIMERSPEC, shift), None);
        assert_eq!(converted(&ts(5, NS as i64), FUTEX, shift), None);
        assert_eq!(converted(&ts(5, -1), FUTEX, shift), None);
    }

    #[test]
    fn the_scratch_lies_past_the_red_zone_and_is_aligned() {
        for sp in [0x7fff_0000_1000u64, 0x7fff_0000_1008, 0x7fff_0000_0ff8] {
            for size in [16, 32] {
                let a = scratch_address(sp, size);
                assert_eq!(a % 16, 0);
                assert!(a + size as u64 <= sp - 128 && sp - a < 512, "{sp:#x} {size}: {a:#x}");
            }
        }
    }

    #[test]
    fn clocks_are_read_from_proc() {
        // This process's own, on clocks other than REALTIME (id 0, what a
        // parser reading nothing might answer).
        // SAFETY: creating a timerfd and a timer of our own, deleted below.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_BOOTTIME, 0) };
        assert!(fd >= 0);
        let me = std::process::id() as i32;
        assert_eq!(timerfd_clock(me, fd), Some(libc::CLOCK_BOOTTIME));
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: sigevent is plain data; SIGEV_NONE delivers nothing.
        let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
        ev.sigev_notify = libc::SIGEV_NONE;
        // SAFETY: valid out-pointers.
        assert_eq!(unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut id) }, 0);
        assert_eq!(posix_timer_clock(me, id as usize as i32), Some(libc::CLOCK_MONOTONIC));
        assert_eq!(posix_timer_clock(me, i32::MAX), None);
        // SAFETY: ours to delete and close.
        unsafe {
            libc::timer_delete(id);
            libc::close(fd);
        }
    }
}
