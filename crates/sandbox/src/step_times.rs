//! For benchmarks only (bench/steps.sh): with `FLAKEBOX_BENCH_STEP_TIMES=FILE`
//! in the supervisor's environment, PID 1 and the command's process append
//! how long some set-up steps took, one `TAG NANOSECONDS` line each, so a
//! step's own cost can be told apart from the noise of whole runs:
//!
//! - `caps_prepare`: PID 1 reading its capabilities and computing the drop;
//! - `caps_apply`: the drop itself, in the command's process before exec;
//! - `dev_minimal`: building the minimal /dev (as root); `dev_devpts`: the
//!   part of it that mounts a new devpts instance;
//! - `dev_host`: binding the host's /dev instead (rootless);
//! - `proc_guards`: /proc's read-only rebinds and masks (as root).
//!
//! Times are CLOCK_MONOTONIC. Recording makes only async-signal-safe calls
//! (the command's process runs between clone and exec).

use std::sync::atomic::{AtomicI32, Ordering};

/// The environment variable naming the file.
pub const ENV: &str = "FLAKEBOX_BENCH_STEP_TIMES";

/// The file's descriptor (close-on-exec), or -1: set by the supervisor
/// before PID 1 is cloned, so PID 1 and the command's process see it too.
static FD: AtomicI32 = AtomicI32::new(-1);

/// In the supervisor: open the file if the variable asks for it. A file
/// that cannot be opened only means no figures.
pub(crate) fn open_from_env() {
    use std::os::fd::IntoRawFd;
    let Some(path) = std::env::var_os(ENV) else { return };
    let file = std::fs::OpenOptions::new().append(true).create(true).open(path);
    if let Ok(f) = file {
        FD.store(f.into_raw_fd(), Ordering::Relaxed);
    }
}

/// In the supervisor, after the run.
pub(crate) fn close() {
    let fd = FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the descriptor open_from_env made; nobody else closes it.
        unsafe { libc::close(fd) };
    }
}

pub(crate) fn enabled() -> bool {
    FD.load(Ordering::Relaxed) >= 0
}

/// CLOCK_MONOTONIC in nanoseconds (0 when not enabled: no cost then).
pub(crate) fn now() -> u64 {
    if !enabled() {
        return 0;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec we own; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Append `TAG NS` where NS is the time since `start` (from [`now`]).
pub(crate) fn record(tag: &[u8], start: u64) {
    let fd = FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    write_line(fd, tag, now().saturating_sub(start));
}

/// Append `TAG NS` for a duration summed by the caller.
pub(crate) fn record_total(tag: &[u8], ns: u64) {
    let fd = FD.load(Ordering::Relaxed);
    if fd >= 0 {
        write_line(fd, tag, ns);
    }
}

/// One write(2) of `TAG NS\n`, formatted on the stack.
fn write_line(fd: i32, tag: &[u8], ns: u64) {
    let mut buf = [0u8; 64];
    let line = format_line(&mut buf, tag, ns);
    // SAFETY: write(2) from our stack buffer; async-signal-safe.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

/// `TAG NS\n` in `buf` (a tag longer than 40 bytes is cut).
fn format_line<'a>(buf: &'a mut [u8; 64], tag: &[u8], mut ns: u64) -> &'a [u8] {
    let tag = &tag[..tag.len().min(40)];
    buf[..tag.len()].copy_from_slice(tag);
    let mut len = tag.len();
    buf[len] = b' ';
    len += 1;
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (ns % 10) as u8;
        n += 1;
        ns /= 10;
        if ns == 0 {
            break;
        }
    }
    for d in digits[..n].iter().rev() {
        buf[len] = *d;
        len += 1;
    }
    buf[len] = b'\n';
    &buf[..=len]
}

/// Bench builds only (`--features bench-toggles`, bench/hardening.sh): whether
/// `FLAKEBOX_BENCH_WITHOUT` (a comma list) asks to leave out a hardening
/// step, so that a whole run can be timed with and without it: `dev` binds
/// the host's /dev instead of the minimal one (as before, and as rootless
/// still does), `caps` leaves the command every capability. A product build
/// has no such switch: this is always false there.
#[cfg(feature = "bench-toggles")]
pub(crate) fn without(step: &str) -> bool {
    std::env::var("FLAKEBOX_BENCH_WITHOUT").is_ok_and(|v| v.split(',').any(|s| s == step))
}

#[cfg(not(feature = "bench-toggles"))]
pub(crate) fn without(_step: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::format_line;

    #[test]
    fn lines_are_a_tag_and_a_number() {
        let mut buf = [0u8; 64];
        assert_eq!(format_line(&mut buf, b"caps_apply", 12_345), b"caps_apply 12345\n");
        assert_eq!(format_line(&mut buf, b"dev", 0), b"dev 0\n");
        assert_eq!(format_line(&mut buf, b"x", u64::MAX), b"x 18446744073709551615\n");
    }
}
