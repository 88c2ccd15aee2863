//! The seccomp filter as data: a pure function from the routes to the BPF program.
//!
//! Wall-clock reads (`clock_gettime` on the REALTIME family, `gettimeofday`, `time`)
//! and absolute REALTIME sleeps go to the supervisor (`SECCOMP_RET_USER_NOTIF`);
//! absolute deadlines the kernel keeps waiting on in the caller (futex waits on
//! `FUTEX_CLOCK_REALTIME` and `FUTEX_LOCK_PI`, `timer_settime` and
//! `timerfd_settime` with their ABSTIME flag) stop the caller for its tracer
//! (`SECCOMP_RET_TRACE`), which converts the deadline ([`crate::deadline`]);
//! everything else — MONOTONIC, BOOTTIME and CPU clocks included — is allowed by the
//! filter itself, so the runtime's elapsed-time reads never leave the kernel.

/// Clock ids of the REALTIME family (what the fake clock answers for).
pub const REALTIME_FAMILY: [u32; 4] = [
    libc::CLOCK_REALTIME as u32,
    libc::CLOCK_REALTIME_COARSE as u32,
    libc::CLOCK_REALTIME_ALARM as u32,
    libc::CLOCK_TAI as u32,
];

/// Clocks `clock_nanosleep` accepts among those (COARSE is EINVAL there: left to the kernel).
const SLEEP_FAMILY: [u32; 3] =
    [libc::CLOCK_REALTIME as u32, libc::CLOCK_REALTIME_ALARM as u32, libc::CLOCK_TAI as u32];

/// The architecture the filter is for: its audit id and system call numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    pub audit: u32,
    pub clock_gettime: u32,
    pub gettimeofday: u32,
    /// `time(2)` (absent on aarch64).
    pub time: Option<u32>,
    pub clock_nanosleep: u32,
    pub futex: u32,
    pub timer_settime: u32,
    pub timerfd_settime: u32,
    /// System call numbers at or above this belong to another ABI (x32) and are allowed.
    pub foreign_from: Option<u32>,
}

impl Arch {
    /// The architecture this crate is compiled for.
    pub fn native() -> Arch {
        #[cfg(target_arch = "x86_64")]
        let (audit, time, foreign_from) = (0xc000_003e, Some(libc::SYS_time as u32), Some(0x4000_0000));
        #[cfg(target_arch = "aarch64")]
        let (audit, time, foreign_from) = (0xc000_00b7, None, None);
        Arch {
            audit,
            clock_gettime: libc::SYS_clock_gettime as u32,
            gettimeofday: libc::SYS_gettimeofday as u32,
            time,
            clock_nanosleep: libc::SYS_clock_nanosleep as u32,
            futex: libc::SYS_futex as u32,
            timer_settime: libc::SYS_timer_settime as u32,
            timerfd_settime: libc::SYS_timerfd_settime as u32,
            foreign_from,
        }
    }
}

/// Which calls go to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    /// Wall-clock reads.
    pub reads: bool,
    /// `clock_nanosleep(TIMER_ABSTIME)` on a REALTIME-family clock.
    pub abs_sleeps: bool,
    /// Absolute deadlines the caller waits on in the kernel: futex waits on
    /// the REALTIME clock, `timer_settime` and `timerfd_settime` with ABSTIME
    /// (the timer's clock is checked by the tracer).
    pub abs_deadlines: bool,
}

impl Default for Routes {
    fn default() -> Self {
        Routes { reads: true, abs_sleeps: true, abs_deadlines: true }
    }
}

/// futex(2) operations and flags (linux/futex.h).
const FUTEX_LOCK_PI: u32 = 6;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
const FUTEX_LOCK_PI2: u32 = 13;
const FUTEX_CLOCK_REALTIME: u32 = 256;
/// The operation without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME.
const FUTEX_CMD_MASK: u32 = 0x7f;
/// timerfd_settime's TFD_TIMER_ABSTIME.
const TFD_TIMER_ABSTIME: u32 = 1;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;

// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Low 32 bits of argument `i` (little-endian).
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Label {
    Next,
    Notify,
    Allow,
    Clock,
    Sleep,
    SleepFlags,
    Futex,
    FutexRealtime,
    TimerAbs,
    TimerfdAbs,
    Trace,
}

enum Op {
    Load(u32),
    /// Jump to the first label when the accumulator matches, else to the second.
    Jeq(u32, Label, Label),
    Jge(u32, Label, Label),
    Jset(u32, Label, Label),
    And(u32),
    Ret(u32),
    Mark(Label),
}

/// The filter program for `arch` routing `routes`.
pub fn program(arch: &Arch, routes: &Routes) -> Vec<libc::sock_filter> {
    use Label::*;
    let mut ops = vec![Op::Load(OFF_ARCH), Op::Jeq(arch.audit, Next, Allow), Op::Load(OFF_NR)];
    if let Some(f) = arch.foreign_from {
        ops.push(Op::Jge(f, Allow, Next));
    }
    if routes.reads {
        ops.push(Op::Jeq(arch.clock_gettime, Clock, Next));
        ops.push(Op::Jeq(arch.gettimeofday, Notify, Next));
        if let Some(t) = arch.time {
            ops.push(Op::Jeq(t, Notify, Next));
        }
    }
    if routes.abs_sleeps {
        ops.push(Op::Jeq(arch.clock_nanosleep, Sleep, Next));
    }
    if routes.abs_deadlines {
        ops.push(Op::Jeq(arch.futex, Futex, Next));
        ops.push(Op::Jeq(arch.timer_settime, TimerAbs, Next));
        ops.push(Op::Jeq(arch.timerfd_settime, TimerfdAbs, Next));
    }
    ops.push(Op::Ret(libc::SECCOMP_RET_ALLOW));
    if routes.reads {
        ops.push(Op::Mark(Clock));
        ops.push(Op::Load(off_arg_lo(0)));
        for c in REALTIME_FAMILY {
            ops.push(Op::Jeq(c, Notify, Next));
        }
        ops.push(Op::Ret(libc::SECCOMP_RET_ALLOW));
    }
    if routes.abs_sleeps {
        ops.push(Op::Mark(Sleep));
        ops.push(Op::Load(off_arg_lo(0)));
        for c in SLEEP_FAMILY {
            ops.push(Op::Jeq(c, SleepFlags, Next));
        }
        ops.push(Op::Ret(libc::SECCOMP_RET_ALLOW));
        ops.push(Op::Mark(SleepFlags));
        ops.push(Op::Load(off_arg_lo(1)));
        ops.push(Op::Jset(libc::TIMER_ABSTIME as u32, Notify, Allow));
    }
    if routes.abs_deadlines {
        // FUTEX_LOCK_PI's deadline is on REALTIME whatever the flag says.
        ops.push(Op::Mark(Futex));
        ops.push(Op::Load(off_arg_lo(1)));
        ops.push(Op::And(FUTEX_CMD_MASK));
        ops.push(Op::Jeq(FUTEX_LOCK_PI, Trace, Next));
        ops.push(Op::Load(off_arg_lo(1)));
        ops.push(Op::Jset(FUTEX_CLOCK_REALTIME, FutexRealtime, Allow));
        ops.push(Op::Mark(FutexRealtime));
        ops.push(Op::And(FUTEX_CMD_MASK));
        // FUTEX_WAIT's timeout is relative even on REALTIME: not converted.
        for cmd in [FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2] {
            ops.push(Op::Jeq(cmd, Trace, Next));
        }
        ops.push(Op::Ret(libc::SECCOMP_RET_ALLOW));
        ops.push(Op::Mark(TimerAbs));
        ops.push(Op::Load(off_arg_lo(1)));
        ops.push(Op::Jset(libc::TIMER_ABSTIME as u32, Trace, Allow));
        ops.push(Op::Mark(TimerfdAbs));
        ops.push(Op::Load(off_arg_lo(1)));
        ops.push(Op::Jset(TFD_TIMER_ABSTIME, Trace, Allow));
        ops.push(Op::Mark(Trace));
        ops.push(Op::Ret(libc::SECCOMP_RET_TRACE));
    }
    ops.push(Op::Mark(Notify));
    ops.push(Op::Ret(libc::SECCOMP_RET_USER_NOTIF));
    ops.push(Op::Mark(Allow));
    ops.push(Op::Ret(libc::SECCOMP_RET_ALLOW));
    assemble(&ops)
}

/// Resolves labels to relative jumps (every target lies ahead, as BPF requires).
fn assemble(ops: &[Op]) -> Vec<libc::sock_filter> {
    let mut at = std::collections::HashMap::new();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::Mark(l) => {
                at.insert(*l, n);
            }
            _ => n += 1,
        }
    }
    let mut out = Vec::with_capacity(n);
    let rel = |from: usize, l: Label| -> u8 {
        if l == Label::Next {
            return 0;
        }
        let target = at[&l];
        u8::try_from(target - from - 1).unwrap_or(u8::MAX)
    };
    for op in ops {
        let i = out.len();
        let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        out.push(match *op {
            Op::Mark(_) => continue,
            Op::Load(off) => ins(LD_W_ABS, 0, 0, off),
            Op::Jeq(k, t, f) => ins(JEQ_K, rel(i, t), rel(i, f), k),
            Op::Jge(k, t, f) => ins(JGE_K, rel(i, t), rel(i, f), k),
            Op::Jset(k, t, f) => ins(JSET_K, rel(i, t), rel(i, f), k),
            Op::And(k) => ins(AND_K, 0, 0, k),
            Op::Ret(k) => ins(RET_K, 0, 0, k),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one system call, as the kernel's classic-BPF interpreter does.
    fn eval(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            let jump = |cond: bool| pc + 1 + if cond { ins.jt as usize } else { ins.jf as usize };
            pc = match ins.code {
                LD_W_ABS => {
                    let o = ins.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes"));
                    pc + 1
                }
                JEQ_K => jump(acc == ins.k),
                JGE_K => jump(acc >= ins.k),
                JSET_K => jump(acc & ins.k != 0),
                AND_K => {
                    acc &= ins.k;
                    pc + 1
                }
                RET_K => return ins.k,
                c => panic!("unexpected opcode {c:#x}"),
            };
        }
    }

    const NOTIF: u32 = libc::SECCOMP_RET_USER_NOTIF;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const TRACE: u32 = libc::SECCOMP_RET_TRACE;

    #[test]
    fn absolute_realtime_deadlines_stop_for_the_tracer_and_nothing_else() {
        let a = Arch::native();
        let p = program(&a, &Routes::default());
        let futex = |op: u32| eval(&p, a.audit, a.futex, [0, op as u64, 0, 0, 0, 0]);
        let private = 128;
        assert_eq!(futex(FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | private), TRACE);
        assert_eq!(futex(FUTEX_WAIT_REQUEUE_PI | FUTEX_CLOCK_REALTIME), TRACE);
        assert_eq!(futex(FUTEX_LOCK_PI2 | FUTEX_CLOCK_REALTIME | private), TRACE);
        assert_eq!(futex(FUTEX_LOCK_PI | private), TRACE, "LOCK_PI waits on REALTIME always");
        assert_eq!(futex(FUTEX_WAIT_BITSET | private), ALLOW, "MONOTONIC");
        assert_eq!(futex(FUTEX_CLOCK_REALTIME | private), ALLOW, "FUTEX_WAIT: a relative timeout");
        assert_eq!(futex(1 | private), ALLOW, "FUTEX_WAKE");
        assert_eq!(futex(FUTEX_LOCK_PI2 | private), ALLOW);
        let abs = libc::TIMER_ABSTIME as u64;
        assert_eq!(eval(&p, a.audit, a.timer_settime, [0, abs, 0, 0, 0, 0]), TRACE);
        assert_eq!(eval(&p, a.audit, a.timer_settime, [0, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, a.audit, a.timerfd_settime, [3, TFD_TIMER_ABSTIME as u64, 0, 0, 0, 0]), TRACE);
        assert_eq!(eval(&p, a.audit, a.timerfd_settime, [3, 2, 0, 0, 0, 0]), ALLOW, "CANCEL_ON_SET alone");
        let off = program(&a, &Routes { abs_deadlines: false, ..Routes::default() });
        assert_eq!(eval(&off, a.audit, a.futex, [0, (FUTEX_LOCK_PI | private) as u64, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&off, a.audit, a.timer_settime, [0, abs, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn realtime_reads_are_routed_and_other_clocks_allowed() {
        let a = Arch::native();
        let p = program(&a, &Routes::default());
        for c in REALTIME_FAMILY {
            assert_eq!(eval(&p, a.audit, a.clock_gettime, [c as u64, 0, 0, 0, 0, 0]), NOTIF, "clock {c}");
        }
        for c in [
            libc::CLOCK_MONOTONIC,
            libc::CLOCK_MONOTONIC_RAW,
            libc::CLOCK_BOOTTIME,
            libc::CLOCK_PROCESS_CPUTIME_ID,
            libc::CLOCK_THREAD_CPUTIME_ID,
            libc::CLOCK_MONOTONIC_COARSE,
        ] {
            assert_eq!(eval(&p, a.audit, a.clock_gettime, [c as u64, 0, 0, 0, 0, 0]), ALLOW, "clock {c}");
        }
        // A CPU clock of another process: a negative id, never a REALTIME one.
        assert_eq!(eval(&p, a.audit, a.clock_gettime, [(-6i64) as u64, 0, 0, 0, 0, 0]), ALLOW);
        // Upper bits are ignored by the kernel (clockid_t is an int): so by the filter too.
        assert_eq!(eval(&p, a.audit, a.clock_gettime, [0xffff_ffff_0000_0000, 0, 0, 0, 0, 0]), NOTIF);
        assert_eq!(eval(&p, a.audit, a.gettimeofday, [0; 6]), NOTIF);
        if let Some(t) = a.time {
            assert_eq!(eval(&p, a.audit, t, [0; 6]), NOTIF);
        }
        assert_eq!(eval(&p, a.audit, libc::SYS_getpid as u32, [0; 6]), ALLOW);
        // Another architecture's calls (a 32-bit process) and x32 numbers pass.
        assert_eq!(eval(&p, 0x4000_0003, a.clock_gettime, [0; 6]), ALLOW);
        if let Some(f) = a.foreign_from {
            assert_eq!(eval(&p, a.audit, f + a.clock_gettime, [0; 6]), ALLOW);
        }
    }

    #[test]
    fn only_absolute_realtime_sleeps_are_routed() {
        let a = Arch::native();
        let p = program(&a, &Routes::default());
        let abs = libc::TIMER_ABSTIME as u64;
        let sleep =
            |clk: i32, flags: u64| eval(&p, a.audit, a.clock_nanosleep, [clk as u64, flags, 0, 0, 0, 0]);
        assert_eq!(sleep(libc::CLOCK_REALTIME, abs), NOTIF);
        assert_eq!(sleep(libc::CLOCK_TAI, abs), NOTIF);
        assert_eq!(sleep(libc::CLOCK_REALTIME_ALARM, abs), NOTIF);
        assert_eq!(sleep(libc::CLOCK_REALTIME, 0), ALLOW, "relative sleeps need no conversion");
        assert_eq!(sleep(libc::CLOCK_MONOTONIC, abs), ALLOW);
        assert_eq!(sleep(libc::CLOCK_REALTIME_COARSE, abs), ALLOW, "the kernel's EINVAL");
    }

    #[test]
    fn routes_can_be_turned_off() {
        let a = Arch::native();
        let p = program(&a, &Routes { reads: false, abs_sleeps: true, abs_deadlines: false });
        assert_eq!(eval(&p, a.audit, a.clock_gettime, [0; 6]), ALLOW);
        assert_eq!(eval(&p, a.audit, a.clock_nanosleep, [0, 1, 0, 0, 0, 0]), NOTIF);
        let p = program(&a, &Routes { reads: true, abs_sleeps: false, abs_deadlines: false });
        assert_eq!(eval(&p, a.audit, a.clock_nanosleep, [0, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, a.audit, a.gettimeofday, [0; 6]), NOTIF);
        let p = program(&a, &Routes { reads: false, abs_sleeps: false, abs_deadlines: false });
        assert!(p.iter().all(|i| i.code != RET_K || i.k == ALLOW || i.k == NOTIF));
        assert_eq!(eval(&p, a.audit, a.gettimeofday, [0; 6]), ALLOW);
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        let p = program(&Arch::native(), &Routes::default());
        for (i, ins) in p.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(
                    i + 1 + (ins.jt as usize) < p.len() && i + 1 + (ins.jf as usize) < p.len(),
                    "insn {i}"
                );
            }
        }
        assert_eq!(p.last().map(|i| i.code), Some(RET_K));
    }
}
