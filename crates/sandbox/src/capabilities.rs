//! The command's capabilities as root: an allow-list, decided here before
//! the command is started and applied in its process between fork and exec
//! with raw `prctl`/`capset` calls (async-signal-safe).
//!
//! As root flakebox uses no user namespace, so a capability left to the
//! command acts on the host's kernel wherever the resource is not
//! namespaced. The kept set is what a test legitimately uses and what stays
//! inside the sandbox's namespaces (the files it writes are copy-on-write,
//! its processes are in its own PID namespace); everything else is dropped
//! from the effective, permitted, inheritable and ambient sets, and the
//! command runs under `no_new_privs`, so neither a setuid binary nor file
//! capabilities can bring one back: under no_new_privs an exec's new
//! permitted set is cut to the old one (security/commoncap.c), capset cannot
//! raise it, and no_new_privs is inherited and cannot be unset. The bounding
//! set, which otherwise is what limits an exec, is left alone: it would add
//! nothing there, and dropping it costs one credential copy per capability.
//!
//! Except for one thing: an exec by root is granted its bounding set, and
//! when that exceeds the permitted set the kernel counts a privilege gain
//! (before no_new_privs cuts it) and clears the personality flags it clears
//! for setuid programs, ADDR_NO_RANDOMIZE among them. So when such a flag is
//! set (the fixed addresses of `--seed`, or a caller's `setarch -R`), root's
//! exec is granted nothing: `SECBIT_NOROOT`, locked, with the kept set in
//! the inheritable and ambient sets, which an exec of a program without file
//! capabilities passes on as its permitted and effective sets. The new
//! permitted set is then the ambient set, within the old one: no gain, and
//! the flag survives every exec of the tree. A program with file
//! capabilities, or a switch to a non-root user, empties the ambient set as
//! usual. That costs one credential copy per kept capability (fewer than the
//! dropped ones); where the kernel has no ambient set, or the caller's
//! securebits forbid this, the bounding set is dropped instead.
//! Notably:
//! - CAP_SYS_ADMIN: in the initial user namespace it reaches swapon, quotas,
//!   keyctl, sethostname is harmless but a remount of our read-only /sys and
//!   /proc masks is not; dropped.
//! - CAP_NET_ADMIN and CAP_NET_RAW: scoped to the network namespace, so kept
//!   when the sandbox has its own (a test may add a veth or a qdisc) and
//!   dropped with `--share net`.
//! - CAP_SYS_PTRACE: would let the command trace PID 1, which keeps every
//!   capability and holds descriptors of the host; dropped.
//! - CAP_DAC_READ_SEARCH: `open_by_handle_at` opens any file of a mounted
//!   filesystem by handle, past the copy-on-write layer; dropped.
//! - CAP_MKNOD: a device node on the root overlay would reach the host's
//!   disks; dropped.

pub use caps::Capability;
use Capability::*;

/// Kept in every case.
const KEPT: [Capability; 12] = [
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_KILL,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SETPCAP,
    CAP_SETFCAP,
    CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT,
    CAP_AUDIT_WRITE,
];

/// Never kept unless given back with `--cap-add`: each reaches the host's
/// kernel past the sandbox's namespaces (the clock, modules, reboot, raw
/// I/O and device nodes, the kernel log and wake alarms, security policy,
/// BPF and perf, mounts and the other admin calls, ptrace of PID 1, files
/// by handle).
pub const HOST_REACHING: [Capability; 14] = [
    CAP_SYS_TIME,
    CAP_SYS_MODULE,
    CAP_SYS_BOOT,
    CAP_SYS_RAWIO,
    CAP_SYSLOG,
    CAP_WAKE_ALARM,
    CAP_MAC_ADMIN,
    CAP_MAC_OVERRIDE,
    CAP_BPF,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    CAP_SYS_PTRACE,
    CAP_DAC_READ_SEARCH,
    CAP_MKNOD,
];

/// Kept only when the sandbox has its own network namespace.
const KEPT_WITH_OWN_NET: [Capability; 2] = [CAP_NET_ADMIN, CAP_NET_RAW];

/// A capability by name: `CAP_SYS_TIME`, `sys_time` and `SYS_TIME` are the
/// same. A bad name is an error naming it and listing the valid ones.
pub fn parse(name: &str) -> Result<Capability, String> {
    caps::to_canonical(name.trim()).parse::<Capability>().map_err(|_| {
        let mut valid: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        valid.sort();
        format!(
            "unknown capability {name:?}; valid names (the CAP_ prefix and case are optional): {}",
            valid.join(", ")
        )
    })
}

/// The capabilities the command keeps, as a bit mask (bit N: capability N).
pub fn kept(own_net: bool, add: &[Capability]) -> u64 {
    let base = KEPT.iter().chain(if own_net { KEPT_WITH_OWN_NET.iter() } else { [].iter() });
    base.chain(add).fold(0, |m, c| m | c.bitmask())
}

/// The warning for each capability given back with `--cap-add` that the
/// command would not have had otherwise.
pub fn warnings(own_net: bool, add: &[Capability]) -> Vec<String> {
    let base = kept(own_net, &[]);
    let mut out: Vec<String> = Vec::new();
    for c in add {
        let w = format!("--cap-add {c}: the command may use it on the host's kernel, outside the sandbox");
        if base & c.bitmask() == 0 && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// What the command's process applies before exec, computed before the fork.
#[derive(Debug, Clone, Copy)]
pub struct Drop {
    /// Kept capabilities, limited to what this process holds (capset cannot
    /// raise one).
    keep: u64,
    carry: Carry,
}

/// How the personality flags are carried across the command's execs (see
/// the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    /// No flag to carry: capset alone.
    Nothing,
    /// Set these securebits (the current ones with `SECBIT_NOROOT`, locked)
    /// and raise the kept set into the ambient set.
    Ambient { securebits: u32 },
    /// Drop everything not kept from the bounding set.
    Bounding,
}

/// The personality flags an exec that gains privileges clears
/// (PER_CLEAR_ON_SETID in linux/personality.h).
const CLEARED_ON_GAIN: u32 =
    (libc::ADDR_NO_RANDOMIZE | libc::ADDR_COMPAT_LAYOUT | libc::MMAP_PAGE_ZERO | libc::READ_IMPLIES_EXEC)
        as u32;

const NOROOT: u32 = libc::SECBIT_NOROOT as u32;
const NOROOT_LOCKED: u32 = libc::SECBIT_NOROOT_LOCKED as u32;
const NO_AMBIENT_RAISE: u32 = libc::SECBIT_NO_CAP_AMBIENT_RAISE as u32;

/// How to carry `personality` across execs, given this process's securebits
/// (None: unknown) and whether the kernel has an ambient set.
fn carry(personality: u32, securebits: Option<u32>, ambient: bool) -> Carry {
    if personality & CLEARED_ON_GAIN == 0 {
        return Carry::Nothing;
    }
    match securebits {
        Some(bits) if !ambient || bits & NO_AMBIENT_RAISE != 0 => Carry::Bounding,
        // NOROOT locked off by the caller.
        Some(bits) if bits & NOROOT_LOCKED != 0 && bits & NOROOT == 0 => Carry::Bounding,
        Some(bits) => Carry::Ambient { securebits: bits | NOROOT | NOROOT_LOCKED },
        None => Carry::Bounding,
    }
}

/// `capset`/`capget`'s header and data (linux/capability.h, version 3).
#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

impl Drop {
    /// The drop for a command that keeps `keep` (see [`kept`]).
    pub fn new(keep: u64) -> Result<Drop, String> {
        let mut data = [Data::default(); 2];
        let mut hdr = Header { version: VERSION_3, pid: 0 };
        // SAFETY: capget fills the two data records we own.
        if unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) } != 0 {
            return Err(format!("capget: {}", std::io::Error::last_os_error()));
        }
        let permitted = u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32);
        // SAFETY: personality with 0xffffffff only reads this process's.
        let personality = unsafe { libc::personality(0xffff_ffff) };
        let carry = match u32::try_from(personality) {
            Ok(p) if p & CLEARED_ON_GAIN != 0 => {
                // SAFETY: PR_GET_SECUREBITS and PR_CAP_AMBIENT_IS_SET only
                // read this process's credentials.
                let (securebits, ambient) = unsafe {
                    let bits = libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0);
                    let ambient =
                        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, 0, 0, 0) >= 0;
                    (u32::try_from(bits).ok(), ambient)
                };
                carry(p, securebits, ambient)
            }
            _ => Carry::Nothing,
        };
        let keep = keep & permitted;
        Ok(Drop { keep, carry })
    }

    /// In the command's process, before exec: if asked, drop everything not
    /// kept from the bounding set, or set the securebits (both need
    /// CAP_SETPCAP, so first); set no_new_privs, then effective = permitted
    /// = kept and inheritable = kept or empty (the kernel keeps the ambient
    /// set within permitted and inheritable, so empty empties it); then, if
    /// asked, raise the inheritable set into the ambient set. Returns the
    /// errno of the call that failed. Only system calls on memory this
    /// process already has: async-signal-safe.
    pub fn apply(&self) -> Result<(), i32> {
        let mut ambient = 0;
        // SAFETY: prctl and capset with scalar arguments and records on our stack.
        unsafe {
            match self.carry {
                Carry::Nothing => {}
                Carry::Ambient { securebits } => {
                    if libc::prctl(libc::PR_SET_SECUREBITS, securebits as libc::c_ulong, 0, 0, 0) != 0 {
                        return Err(*libc::__errno_location());
                    }
                    ambient = self.keep;
                }
                Carry::Bounding => {
                    for cap in 0..64u64 {
                        if self.keep & (1 << cap) != 0 {
                            continue;
                        }
                        if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                            let errno = *libc::__errno_location();
                            if errno == libc::EINVAL {
                                break; // past the last capability this kernel knows
                            }
                            return Err(errno);
                        }
                    }
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(*libc::__errno_location());
            }
            // The inheritable set may grow within the old inheritable and
            // bounding sets: root's permitted set, which `keep` is within,
            // was their union at its exec.
            if capset(self.keep, ambient) != 0 {
                return Err(*libc::__errno_location());
            }
            for cap in (0..64u64).filter(|c| ambient & (1 << c) != 0) {
                let raise = libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong;
                if libc::prctl(libc::PR_CAP_AMBIENT, raise, cap as libc::c_ulong, 0, 0) != 0 {
                    return Err(*libc::__errno_location());
                }
            }
        }
        Ok(())
    }
}

/// capset(2) on this process: effective = permitted = `keep`, inheritable
/// `inheritable`; 0 or -1 with errno set. Async-signal-safe.
fn capset(keep: u64, inheritable: u64) -> libc::c_long {
    let mut hdr = Header { version: VERSION_3, pid: 0 };
    let data = [
        Data { effective: keep as u32, permitted: keep as u32, inheritable: inheritable as u32 },
        Data {
            effective: (keep >> 32) as u32,
            permitted: (keep >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: capset reads the header and the two records on our stack.
    unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_every_spelling_and_a_bad_one_lists_the_valid() {
        for n in ["CAP_SYS_TIME", "sys_time", "SYS_TIME", "cap_sys_time"] {
            assert_eq!(parse(n), Ok(CAP_SYS_TIME), "{n}");
        }
        let e = parse("sys_tyme").unwrap_err();
        assert!(
            e.contains("\"sys_tyme\"") && e.contains("CAP_SYS_TIME") && e.contains("CAP_NET_ADMIN"),
            "{e}"
        );
    }

    #[test]
    fn host_reaching_capabilities_are_not_kept() {
        for own_net in [true, false] {
            let k = kept(own_net, &[]);
            for c in HOST_REACHING {
                assert_eq!(k & c.bitmask(), 0, "{c} kept (own net: {own_net})");
            }
            assert_ne!(k & CAP_CHOWN.bitmask(), 0);
            assert_ne!(k & CAP_SETUID.bitmask(), 0);
        }
    }

    #[test]
    fn net_admin_only_in_an_own_network_namespace() {
        assert_ne!(kept(true, &[]) & CAP_NET_ADMIN.bitmask(), 0);
        assert_eq!(kept(false, &[]) & CAP_NET_ADMIN.bitmask(), 0);
        assert_eq!(kept(false, &[]) & CAP_NET_RAW.bitmask(), 0);
    }

    #[test]
    fn a_personality_flag_is_carried_by_the_ambient_set_or_else_the_bounding_set() {
        let norandom = libc::ADDR_NO_RANDOMIZE as u32;
        let noroot = NOROOT | NOROOT_LOCKED;
        // PER_LINUX32 is not cleared by a privilege gain.
        for p in [0, 0x0008] {
            assert_eq!(carry(p, Some(0), true), Carry::Nothing, "{p:#x}");
        }
        assert_eq!(carry(norandom, Some(0), true), Carry::Ambient { securebits: noroot });
        assert_eq!(
            carry(0x0008 | libc::READ_IMPLIES_EXEC as u32, Some(0), true),
            Carry::Ambient { securebits: noroot }
        );
        // The caller's securebits are kept.
        let keep_caps = libc::SECBIT_KEEP_CAPS as u32;
        assert_eq!(carry(norandom, Some(keep_caps), true), Carry::Ambient { securebits: keep_caps | noroot });
        assert_eq!(carry(norandom, Some(noroot), true), Carry::Ambient { securebits: noroot });
        // No ambient set, NOROOT locked off, raises forbidden, bits unknown.
        assert_eq!(carry(norandom, Some(0), false), Carry::Bounding);
        assert_eq!(carry(norandom, Some(NOROOT_LOCKED), true), Carry::Bounding);
        assert_eq!(carry(norandom, Some(NO_AMBIENT_RAISE), true), Carry::Bounding);
        assert_eq!(carry(norandom, None, true), Carry::Bounding);
    }

    #[test]
    fn cap_add_gives_one_back_with_one_warning() {
        let add = [CAP_SYS_TIME, CAP_SYS_TIME, CAP_CHOWN];
        assert_ne!(kept(true, &add) & CAP_SYS_TIME.bitmask(), 0);
        let w = warnings(true, &add);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("CAP_SYS_TIME"), "{w:?}");
        assert!(warnings(true, &[CAP_NET_ADMIN]).is_empty());
        assert_eq!(warnings(false, &[CAP_NET_ADMIN]).len(), 1);
    }
}
