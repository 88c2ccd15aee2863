//! The fake wall clock, computed as the shim computes it (shim/flakebox_shim.c
//! `fake_clock`, `real_deadline`) from the same [`clock::ShimClock`], so a process
//! answered here and one reached by the shim read the same instant.

use std::sync::atomic::{AtomicU64, Ordering};

use clock::{ShimClock, ShimMode};

const NS: i128 = 1_000_000_000;

/// Nanoseconds since the epoch, wide enough for any `timespec`.
pub type Nanos = i128;

/// The fake clock, shared by every process of the run this supervisor answers.
#[derive(Debug)]
pub struct FakeClock {
    clock: ShimClock,
    /// TAI − UTC in whole seconds, measured when the supervisor starts.
    tai_offset: i64,
    /// Step mode: reads answered so far.
    reads: AtomicU64,
}

impl FakeClock {
    pub fn new(clock: ShimClock, tai_offset: i64) -> FakeClock {
        FakeClock { clock, tai_offset, reads: AtomicU64::new(0) }
    }

    pub fn mode(&self) -> ShimMode {
        self.clock.mode
    }

    /// TAI − UTC of this host (0 when CLOCK_TAI is not set up), rounded as the shim does.
    pub fn host_tai_offset() -> i64 {
        match (real_now(libc::CLOCK_TAI), real_now(libc::CLOCK_REALTIME)) {
            (Some(tai), Some(rt)) => ((tai - rt + NS / 2).div_euclid(NS)) as i64,
            _ => 0,
        }
    }

    /// The fake time on `clk` (a REALTIME-family clock) given the real REALTIME
    /// `real`; a step-mode read counts only if `advance`.
    pub fn now(&self, clk: i32, real: Nanos, advance: bool) -> Nanos {
        let c = &self.clock;
        let instant = c.instant_sec as i128 * NS + c.instant_nsec as i128;
        let utc = match c.mode {
            ShimMode::Frozen => instant,
            ShimMode::Ticking => real + instant - (c.origin_sec as i128 * NS + c.origin_nsec as i128),
            ShimMode::Step => {
                let n = if advance {
                    self.reads.fetch_add(1, Ordering::Relaxed)
                } else {
                    self.reads.load(Ordering::Relaxed)
                };
                instant + n as i128 * c.step_ns as i128
            }
        };
        if clk == libc::CLOCK_TAI {
            utc + self.tai_offset as i128 * NS
        } else {
            utc
        }
    }

    /// An absolute deadline on the fake `clk` as a real one: real_now + (deadline − fake_now).
    /// Past deadlines stay in the past (the real `now` is returned).
    pub fn real_deadline(&self, clk: i32, deadline: Nanos, real: Nanos) -> Nanos {
        let fake = self.now(clk, real, false);
        let real_on_clk = if clk == libc::CLOCK_TAI { real + self.tai_offset as i128 * NS } else { real };
        real_on_clk + (deadline - fake).max(0)
    }
}

/// The real time on `clk`, or `None` if the clock cannot be read.
pub fn real_now(clk: i32) -> Option<Nanos> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid, writable timespec.
    let r = unsafe { libc::clock_gettime(clk, &mut ts) };
    (r == 0).then(|| ts.tv_sec as i128 * NS + ts.tv_nsec as i128)
}

/// Splits nanoseconds into (seconds, nanoseconds in 0..1e9), saturating at the `i64` range.
pub fn split(t: Nanos) -> (i64, i64) {
    let sec = t.div_euclid(NS).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    (sec, t.rem_euclid(NS) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(mode: ShimMode, step_ns: u64) -> ShimClock {
        ShimClock {
            mode,
            instant_sec: 1_709_251_198,
            instant_nsec: 5,
            step_ns,
            origin_sec: 1_800_000_000,
            origin_nsec: 0,
        }
    }
    const REAL: Nanos = 1_800_000_010 * NS;
    const INSTANT: Nanos = 1_709_251_198 * NS + 5;

    #[test]
    fn frozen_reads_the_instant_and_tai_adds_the_offset() {
        let f = FakeClock::new(clock(ShimMode::Frozen, 0), 37);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, true), INSTANT);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL + NS, true), INSTANT);
        assert_eq!(f.now(libc::CLOCK_TAI, REAL, true), INSTANT + 37 * NS);
    }

    #[test]
    fn ticking_runs_from_the_shared_origin() {
        let f = FakeClock::new(clock(ShimMode::Ticking, 0), 0);
        // 10 s of real time since the origin: the fake clock moved 10 s too.
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, true), INSTANT + 10 * NS);
    }

    #[test]
    fn step_advances_per_read_and_peeks_do_not_count() {
        let f = FakeClock::new(clock(ShimMode::Step, 1_000), 0);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, true), INSTANT);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, false), INSTANT + 1_000);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, true), INSTANT + 1_000);
        assert_eq!(f.now(libc::CLOCK_REALTIME, REAL, true), INSTANT + 2_000);
    }

    #[test]
    fn deadlines_convert_to_the_same_distance_from_real_now() {
        let f = FakeClock::new(clock(ShimMode::Frozen, 0), 37);
        assert_eq!(f.real_deadline(libc::CLOCK_REALTIME, INSTANT + NS / 5, REAL), REAL + NS / 5);
        assert_eq!(f.real_deadline(libc::CLOCK_REALTIME, INSTANT - NS, REAL), REAL, "past stays past");
        assert_eq!(f.real_deadline(libc::CLOCK_TAI, INSTANT + 37 * NS + 3, REAL), REAL + 37 * NS + 3);
        assert_eq!(split(-1), (-1, 999_999_999));
    }
}
