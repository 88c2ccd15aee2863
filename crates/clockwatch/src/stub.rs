//! The page injected into a program whose vDSO is redirected (x86_64): the
//! fake-clock data followed by replacements for the vDSO's `clock_gettime`,
//! `gettimeofday` and `time`, assembled from `stub/x86_64.S`. Pure data: [`page`]
//! fills the data part from the [`FakeClock`], so the stub answers what the
//! supervisor would.
//!
//! For a REALTIME-family clock the stub copies a stored instant (frozen), or adds
//! a stored offset to the original vDSO's REALTIME read (ticking: the same rule
//! as [`FakeClock::now`]), or makes the real system call, which the filter sends
//! to the supervisor (step: its count of reads is shared by the whole run). Any
//! other clock jumps to the original vDSO function, at full vDSO speed.

use clock::ShimMode;

use crate::fake::{split, FakeClock};

/// Offsets in the page (symbols of `stub/x86_64.S`).
pub const ORIG_CGT: usize = 0x00;
pub const ENTRIES: usize = 0x08;
pub const IDX: usize = 0x68;
pub const CLOCK_GETTIME: usize = 0x80;
pub const GETTIMEOFDAY: usize = 0x130;
pub const TIME: usize = 0x190;
/// Size of one entry: u32 kind, u32 base clock, i64 sec, i64 nsec.
const ENTRY: usize = 24;
/// Where the data ends and the code begins.
const DATA_END: usize = IDX + 16;

/// The assembled `stub/x86_64.S` (`as` then `objcopy -O binary -j .text`), data zeroed.
#[rustfmt::skip]
pub const CODE: [u8; 449] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x83, 0xff, 0x0f, 0x0f, 0x87, 0x93, 0x00, 0x00, 0x00, 0x89, 0xf8, 0x48, 0x8d, 0x0d, 0xd6, 0xff,
    0xff, 0xff, 0x0f, 0xb6, 0x04, 0x01, 0x3d, 0xff, 0x00, 0x00, 0x00, 0x74, 0x7f, 0x6b, 0xc0, 0x18,
    0x48, 0x8d, 0x0d, 0x61, 0xff, 0xff, 0xff, 0x48, 0x01, 0xc1, 0x8b, 0x01, 0x85, 0xc0, 0x74, 0x0d,
    0x83, 0xf8, 0x01, 0x74, 0x1a, 0xb8, 0xe4, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3, 0x48, 0x8b, 0x41,
    0x08, 0x48, 0x89, 0x06, 0x48, 0x8b, 0x41, 0x10, 0x48, 0x89, 0x46, 0x08, 0x31, 0xc0, 0xc3, 0x53,
    0x41, 0x54, 0x48, 0x83, 0xec, 0x08, 0x48, 0x89, 0xf3, 0x49, 0x89, 0xcc, 0x8b, 0x79, 0x04, 0xff,
    0x15, 0x1b, 0xff, 0xff, 0xff, 0x85, 0xc0, 0x75, 0x2b, 0x48, 0x8b, 0x13, 0x49, 0x03, 0x54, 0x24,
    0x08, 0x48, 0x8b, 0x4b, 0x08, 0x49, 0x03, 0x4c, 0x24, 0x10, 0x48, 0x81, 0xf9, 0x00, 0xca, 0x9a,
    0x3b, 0x7c, 0x0a, 0x48, 0x81, 0xe9, 0x00, 0xca, 0x9a, 0x3b, 0x48, 0xff, 0xc2, 0x48, 0x89, 0x13,
    0x48, 0x89, 0x4b, 0x08, 0x48, 0x83, 0xc4, 0x08, 0x41, 0x5c, 0x5b, 0xc3, 0xff, 0x25, 0xde, 0xfe,
    0xff, 0xff, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x00,
    0x53, 0x41, 0x54, 0x48, 0x83, 0xec, 0x18, 0x48, 0x89, 0xfb, 0x49, 0x89, 0xf4, 0x48, 0x85, 0xdb,
    0x74, 0x28, 0x31, 0xff, 0x48, 0x89, 0xe6, 0xe8, 0x34, 0xff, 0xff, 0xff, 0x85, 0xc0, 0x75, 0x29,
    0x48, 0x8b, 0x04, 0x24, 0x48, 0x89, 0x03, 0x48, 0x8b, 0x44, 0x24, 0x08, 0x31, 0xd2, 0xb9, 0xe8,
    0x03, 0x00, 0x00, 0x48, 0xf7, 0xf1, 0x48, 0x89, 0x43, 0x08, 0x4d, 0x85, 0xe4, 0x74, 0x08, 0x49,
    0xc7, 0x04, 0x24, 0x00, 0x00, 0x00, 0x00, 0x31, 0xc0, 0x48, 0x83, 0xc4, 0x18, 0x41, 0x5c, 0x5b,
    0xc3, 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x1f, 0x40, 0x00,
    0x53, 0x48, 0x83, 0xec, 0x10, 0x48, 0x89, 0xfb, 0xbf, 0x05, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe6,
    0xe8, 0xdb, 0xfe, 0xff, 0xff, 0x48, 0x63, 0xd0, 0x85, 0xc0, 0x75, 0x0c, 0x48, 0x8b, 0x14, 0x24,
    0x48, 0x85, 0xdb, 0x74, 0x03, 0x48, 0x89, 0x13, 0x48, 0x89, 0xd0, 0x48, 0x83, 0xc4, 0x10, 0x5b,
    0xc3,
];

/// How the stub answers one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This instant (seconds, nanoseconds).
    Frozen(i64, i64),
    /// The original vDSO's read of `base` plus this offset (seconds, nanoseconds in 0..1e9).
    Offset { base: i32, sec: i64, nsec: i64 },
    /// The real system call: the supervisor answers.
    Syscall,
}

/// The clocks the stub answers itself (the REALTIME family) and how.
pub fn answers(clock: &FakeClock) -> [(i32, Answer); 4] {
    let answer = |clk: i32| {
        // With a real time of 0, `now` is the frozen instant or the ticking offset.
        let (sec, nsec) = split(clock.now(clk, 0, false));
        match clock.mode() {
            ShimMode::Frozen => Answer::Frozen(sec, nsec),
            ShimMode::Ticking => Answer::Offset {
                // time() reads the coarse clock, as the vDSO and the shim do.
                base: if clk == libc::CLOCK_REALTIME_COARSE { clk } else { libc::CLOCK_REALTIME },
                sec,
                nsec,
            },
            ShimMode::Step => Answer::Syscall,
        }
    };
    crate::filter::REALTIME_FAMILY.map(|c| (c as i32, answer(c as i32)))
}

/// The page to inject: [`CODE`] with its data filled in; `orig_cgt` is the
/// address of the original `__vdso_clock_gettime` in the program.
pub fn page(answers: &[(i32, Answer); 4], orig_cgt: u64) -> Vec<u8> {
    let mut p = CODE.to_vec();
    p[..DATA_END].fill(0);
    p[ORIG_CGT..ORIG_CGT + 8].copy_from_slice(&orig_cgt.to_le_bytes());
    p[IDX..IDX + 16].fill(0xff);
    for (i, (clk, a)) in answers.iter().enumerate() {
        let (kind, base, sec, nsec) = match *a {
            Answer::Frozen(s, n) => (0u32, 0, s, n),
            Answer::Offset { base, sec, nsec } => (1, base, sec, nsec),
            Answer::Syscall => (2, 0, 0, 0),
        };
        let e = ENTRIES + i * ENTRY;
        p[e..e + 4].copy_from_slice(&kind.to_le_bytes());
        p[e + 4..e + 8].copy_from_slice(&(base as u32).to_le_bytes());
        p[e + 8..e + 16].copy_from_slice(&sec.to_le_bytes());
        p[e + 16..e + 24].copy_from_slice(&nsec.to_le_bytes());
        if let Ok(c) = usize::try_from(*clk) {
            if c < 16 {
                p[IDX + c] = i as u8;
            }
        }
    }
    p
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use clock::ShimClock;

    const INSTANT: i64 = 1_709_251_198;

    fn clock(mode: ShimMode) -> FakeClock {
        let step_ns = if mode == ShimMode::Step { 1_000 } else { 0 };
        let origin_sec = INSTANT + 1_000;
        FakeClock::new(
            ShimClock {
                mode,
                instant_sec: INSTANT,
                instant_nsec: 7,
                step_ns,
                origin_sec,
                origin_nsec: 999_999_999,
            },
            37,
        )
    }

    #[test]
    fn the_bytes_are_the_assembled_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (o, bin) = (dir.path().join("s.o"), dir.path().join("s.bin"));
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/stub/x86_64.S");
        let ok = |c: &mut std::process::Command| c.status().is_ok_and(|s| s.success());
        assert!(ok(std::process::Command::new("as").arg("-o").arg(&o).arg(&src)), "as (binutils) failed");
        assert!(ok(std::process::Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&o)
            .arg(&bin)));
        let built = std::fs::read(&bin).expect("s.bin");
        if built != CODE {
            let rows: Vec<String> = built
                .chunks(16)
                .map(|r| r.iter().map(|b| format!("0x{b:02x}")).collect::<Vec<_>>().join(", ") + ",")
                .collect();
            panic!("stub.rs CODE is stale; assembled ({} bytes):\n{}", built.len(), rows.join("\n"));
        }
        let nm = std::process::Command::new("nm").arg(&o).output().expect("nm");
        let syms = String::from_utf8_lossy(&nm.stdout);
        for (name, at) in [
            ("orig_cgt", ORIG_CGT),
            ("entries", ENTRIES),
            ("idx", IDX),
            ("cgt", CLOCK_GETTIME),
            ("gtod", GETTIMEOFDAY),
            ("time", TIME),
        ] {
            assert!(
                syms.lines().any(|l| l == format!("{at:016x} t {name}")),
                "{name} is not at {at:#x}:\n{syms}"
            );
        }
    }

    #[test]
    fn answers_follow_the_fake_clock() {
        let a = answers(&clock(ShimMode::Frozen));
        assert_eq!(a[0], (libc::CLOCK_REALTIME, Answer::Frozen(INSTANT, 7)));
        assert_eq!(a[3], (libc::CLOCK_TAI, Answer::Frozen(INSTANT + 37, 7)));
        // Ticking: instant − origin, normalised.
        let a = answers(&clock(ShimMode::Ticking));
        assert_eq!(a[0].1, Answer::Offset { base: libc::CLOCK_REALTIME, sec: -1_001, nsec: 8 });
        assert_eq!(a[1], (libc::CLOCK_REALTIME_COARSE, Answer::Offset { base: 5, sec: -1_001, nsec: 8 }));
        assert_eq!(a[2].1, Answer::Offset { base: libc::CLOCK_REALTIME, sec: -1_001, nsec: 8 });
        assert_eq!(a[3].1, Answer::Offset { base: libc::CLOCK_REALTIME, sec: -1_001 + 37, nsec: 8 });
        assert!(answers(&clock(ShimMode::Step)).iter().all(|(_, a)| *a == Answer::Syscall));
        let p = page(&answers(&clock(ShimMode::Frozen)), 0x1234);
        assert_eq!(&p[..8], &0x1234u64.to_le_bytes());
        assert_eq!(
            &p[IDX..IDX + 16],
            &[0, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 2, 0xff, 0xff, 3, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(&p[CLOCK_GETTIME..], &CODE[CLOCK_GETTIME..]);
    }

    type Cgt = extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int;
    type Gtod = extern "C" fn(*mut libc::timeval, *mut libc::c_void) -> libc::c_int;
    type Time = extern "C" fn(*mut libc::time_t) -> libc::time_t;

    /// The page mapped executable in this process, calling this process's vDSO.
    struct Mapped(*mut libc::c_void);
    impl Mapped {
        fn new(c: &FakeClock) -> Mapped {
            let (base, img) = crate::vdso::tests::own_vdso();
            let orig = base + crate::vdso::Image::parse(&img).expect("parse").clock_gettime().expect("cgt");
            let p = page(&answers(c), orig);
            // SAFETY: a fresh anonymous mapping, filled, then made executable.
            unsafe {
                let m = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(m, libc::MAP_FAILED);
                std::ptr::copy_nonoverlapping(p.as_ptr(), m.cast(), p.len());
                assert_eq!(libc::mprotect(m, 4096, libc::PROT_READ | libc::PROT_EXEC), 0);
                Mapped(m)
            }
        }
        fn at<T>(&self, off: usize) -> T {
            // SAFETY: the caller names the type of the stub entry point at `off`.
            unsafe { std::mem::transmute_copy(&(self.0 as usize + off)) }
        }
        fn cgt(&self, clk: i32) -> (i32, i64, i64) {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            let r = self.at::<Cgt>(CLOCK_GETTIME)(clk, &mut ts);
            (r, ts.tv_sec, ts.tv_nsec)
        }
    }
    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: unmaps the page mapped in new().
            unsafe { libc::munmap(self.0, 4096) };
        }
    }

    fn real(clk: i32) -> i128 {
        crate::fake::real_now(clk).expect("real clock")
    }

    #[test]
    fn the_frozen_stub_answers_the_instant_and_passes_monotonic_through() {
        let m = Mapped::new(&clock(ShimMode::Frozen));
        assert_eq!(m.cgt(libc::CLOCK_REALTIME), (0, INSTANT, 7));
        assert_eq!(m.cgt(libc::CLOCK_REALTIME_COARSE), (0, INSTANT, 7));
        assert_eq!(m.cgt(libc::CLOCK_REALTIME_ALARM), (0, INSTANT, 7));
        assert_eq!(m.cgt(libc::CLOCK_TAI), (0, INSTANT + 37, 7));
        let mut tv = libc::timeval { tv_sec: 0, tv_usec: 1 };
        let mut tz = [0xffu8; 8];
        assert_eq!(m.at::<Gtod>(GETTIMEOFDAY)(&mut tv, tz.as_mut_ptr().cast()), 0);
        assert_eq!((tv.tv_sec, tv.tv_usec), (INSTANT, 0));
        assert_eq!(tz, [0; 8]);
        assert_eq!(m.at::<Gtod>(GETTIMEOFDAY)(std::ptr::null_mut(), std::ptr::null_mut()), 0);
        let mut t: libc::time_t = 0;
        assert_eq!(m.at::<Time>(TIME)(&mut t), INSTANT);
        assert_eq!(t, INSTANT);
        assert_eq!(m.at::<Time>(TIME)(std::ptr::null_mut()), INSTANT);
        // Other clocks are the vDSO's own: MONOTONIC between two real reads.
        let before = real(libc::CLOCK_MONOTONIC);
        let (r, s, n) = m.cgt(libc::CLOCK_MONOTONIC);
        let after = real(libc::CLOCK_MONOTONIC);
        assert_eq!(r, 0);
        assert!((before..=after).contains(&(s as i128 * 1_000_000_000 + n as i128)));
        // A CPU clock (negative id) and an invalid one reach the vDSO too.
        let (r, _, _) = m.cgt(-2); // CLOCK_THREAD_CPUTIME_ID of the calling thread
        assert_eq!(r, 0);
        assert_eq!(m.cgt(10_000).0, -libc::EINVAL);
    }

    #[test]
    fn the_ticking_stub_adds_the_offset_to_the_real_clock() {
        let c = clock(ShimMode::Ticking);
        let m = Mapped::new(&c);
        for clk in [libc::CLOCK_REALTIME, libc::CLOCK_TAI] {
            let before = c.now(clk, real(libc::CLOCK_REALTIME), false);
            let (r, s, n) = m.cgt(clk);
            let after = c.now(clk, real(libc::CLOCK_REALTIME), false);
            assert_eq!(r, 0);
            assert!((0..1_000_000_000).contains(&n));
            let got = s as i128 * 1_000_000_000 + n as i128;
            assert!((before..=after).contains(&got), "{clk}: {before} <= {got} <= {after}");
        }
        // time() reads the coarse clock: within a tick of the precise one.
        let t = m.at::<Time>(TIME)(std::ptr::null_mut()) as i128;
        let now = c.now(libc::CLOCK_REALTIME, real(libc::CLOCK_REALTIME), false) / 1_000_000_000;
        assert!((now - 1..=now).contains(&t), "{t} vs {now}");
    }

    #[test]
    fn the_step_stub_makes_the_system_call() {
        // Outside the filter the kernel answers it: the real time.
        let m = Mapped::new(&clock(ShimMode::Step));
        let before = real(libc::CLOCK_REALTIME);
        let (r, s, n) = m.cgt(libc::CLOCK_REALTIME);
        let after = real(libc::CLOCK_REALTIME);
        assert_eq!(r, 0);
        assert!((before..=after).contains(&(s as i128 * 1_000_000_000 + n as i128)));
        let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
        assert_eq!(m.at::<Gtod>(GETTIMEOFDAY)(&mut tv, std::ptr::null_mut()), 0);
        assert!(tv.tv_sec as i128 >= before / 1_000_000_000);
    }
}
