//! Redirecting the vDSO's wall-clock functions at exec (x86_64): the program
//! keeps its vDSO, so MONOTONIC, BOOTTIME and CPU clocks stay in user space at
//! full speed, and its REALTIME reads are answered by the stub page
//! ([`crate::stub`]) without a system call.
//!
//! At the exec stop the new program has not run. The tracer resumes it to the
//! exit of `execve` (a syscall stop, where registers may be changed), points it
//! at a `syscall` instruction of the vDSO with the registers of an `mmap`, runs
//! that one call, and puts the registers back. Then it writes the stub and the
//! new `st_value`s through `/proc/PID/mem`, which copies the vDSO page on write
//! for this process only.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::error::Failed;
use crate::fake::FakeClock;
use crate::vdso::{self, Image};
use crate::{auxv, stub, ClockwatchError};

const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;
const PTRACE_SYSCALL_INFO_EXIT: u8 = 2;
const PAGE: u64 = 4096;

fn vdso_err(e: vdso::VdsoError) -> Failed {
    Failed::Fallback(ClockwatchError::Vdso(e))
}

fn get_regs(pid: i32) -> Result<libc::user_regs_struct, ClockwatchError> {
    // SAFETY: user_regs_struct is plain data; all-zero is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: GETREGS writes one user_regs_struct; pid is our stopped tracee.
    if unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0usize, &raw mut regs) } != 0 {
        return Err(ClockwatchError::last("PTRACE_GETREGS"));
    }
    Ok(regs)
}

fn set_regs(pid: i32, regs: &libc::user_regs_struct) -> Result<(), ClockwatchError> {
    // SAFETY: SETREGS reads one user_regs_struct; pid is our stopped tracee.
    if unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0usize, regs as *const _) } != 0 {
        return Err(ClockwatchError::last("PTRACE_SETREGS"));
    }
    Ok(())
}

/// Which kind of syscall stop `pid` is in (0: none, a signal or event stop).
fn syscall_stop(pid: i32) -> u8 {
    let mut info = [0u8; 88];
    // SAFETY: GET_SYSCALL_INFO writes at most the size given.
    let r = unsafe { libc::ptrace(libc::PTRACE_GET_SYSCALL_INFO, pid, info.len(), info.as_mut_ptr()) };
    if r > 0 {
        info[0]
    } else {
        0
    }
}

/// Resumes `pid` to its next syscall stop of kind `want`; signals that arrive
/// meanwhile are kept in `pending` to be sent again afterwards.
fn to_syscall_stop(pid: i32, want: u8, pending: &mut Vec<i32>) -> Result<(), Failed> {
    let mut sig = 0;
    loop {
        // SAFETY: resumes our stopped tracee until its next syscall stop.
        if unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0usize, sig as usize) } != 0 {
            return Err(ClockwatchError::last("PTRACE_SYSCALL").into());
        }
        sig = 0;
        let mut status = 0;
        // SAFETY: waits for this one tracee; status is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(ClockwatchError::last("waitpid").into());
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(Failed::Exited(status));
        }
        if !libc::WIFSTOPPED(status) {
            continue;
        }
        let s = libc::WSTOPSIG(status);
        if s == libc::SIGTRAP | 0x80 {
            match syscall_stop(pid) {
                k if k == want => return Ok(()),
                PTRACE_SYSCALL_INFO_ENTRY | PTRACE_SYSCALL_INFO_EXIT => {
                    return Err(ClockwatchError::Sys {
                        what: "an unexpected syscall stop during injection",
                        source: std::io::ErrorKind::Other.into(),
                    }
                    .into())
                }
                _ => {}
            }
        }
        if status >> 16 == 0 && s != libc::SIGTRAP | 0x80 {
            // A signal on its way in: hold it until the program runs its own code.
            pending.push(s);
        }
    }
}

/// The vDSO's image, its extent taken from the program's maps.
fn read_image(pid: i32, mem: &File, base: u64) -> Result<Vec<u8>, Failed> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|source| ClockwatchError::Sys { what: "read the program's maps", source })?;
    let end = vdso::mapping_end(&maps, base)
        .ok_or(vdso_err(vdso::VdsoError::Malformed("no [vdso] mapping at the auxv address")))?;
    let mut img = vec![0u8; (end - base) as usize];
    mem.read_exact_at(&mut img, base).map_err(|source| mem_err(pid, source))?;
    Ok(img)
}

fn mem_err(pid: i32, source: std::io::Error) -> ClockwatchError {
    ClockwatchError::Mem { path: PathBuf::from(format!("/proc/{pid}/mem")), source }
}

/// Runs `mmap` of one anonymous read-execute page in `pid` (stopped at its exec
/// stop) and returns the page's address. Leaves `pid` in a syscall-exit stop with
/// its registers as they were at the exit of `execve`.
fn map_page(pid: i32, syscall_insn: u64, pending: &mut Vec<i32>) -> Result<u64, Failed> {
    to_syscall_stop(pid, PTRACE_SYSCALL_INFO_EXIT, pending)?;
    let mut saved = get_regs(pid)?;
    // No system call in progress: restored at mmap's entry stop (an error
    // there), the registers skip the call instead of running execve again.
    saved.orig_rax = u64::MAX;
    let mut r = saved;
    r.rax = libc::SYS_mmap as u64;
    r.rdi = 0;
    r.rsi = PAGE;
    r.rdx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    r.r10 = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    r.r8 = u64::MAX; // fd -1
    r.r9 = 0;
    r.rip = syscall_insn;
    set_regs(pid, &r)?;
    let result = to_syscall_stop(pid, PTRACE_SYSCALL_INFO_ENTRY, pending)
        .and_then(|()| to_syscall_stop(pid, PTRACE_SYSCALL_INFO_EXIT, pending))
        .and_then(|()| Ok(get_regs(pid)?.rax));
    // Put the program back where execve left it, whatever the mmap did.
    let restored = set_regs(pid, &saved);
    let addr = result?;
    restored?;
    if addr > u64::MAX - PAGE {
        return Err(ClockwatchError::Sys {
            what: "mmap in the program",
            source: std::io::Error::from_raw_os_error(-(addr as i64) as i32),
        }
        .into());
    }
    Ok(addr)
}

/// Redirects the wall-clock functions of `pid`'s vDSO to a stub answering from
/// `clock`. `pid` is at its exec stop and is left in a stop the caller resumes
/// with PTRACE_CONT. On [`Failed::Fallback`] the program is as exec left it
/// (at most an unused page more).
pub fn redirect(pid: i32, clock: &FakeClock) -> Result<(), Failed> {
    let sp = auxv::stack_pointer(pid)?;
    let mem = File::options()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| mem_err(pid, e))?;
    let Some((_, base)) = auxv::entry(pid, &mem, sp, auxv::AT_SYSINFO_EHDR)? else {
        return Err(vdso_err(vdso::VdsoError::Malformed("no AT_SYSINFO_EHDR")));
    };
    let image = Image::parse(&read_image(pid, &mem, base)?).map_err(vdso_err)?;
    let orig_cgt = base + image.clock_gettime().map_err(vdso_err)?;
    let syscall_insn = base + image.syscall_at.ok_or(vdso_err(vdso::VdsoError::NoSyscall))? as u64;
    let mut pending = Vec::new();
    let mapped = map_page(pid, syscall_insn, &mut pending);
    for s in pending {
        // SAFETY: sends a signal the program was about to receive back to it.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, s) };
    }
    let page = mapped?;
    mem.write_all_at(&stub::page(&stub::answers(clock), orig_cgt), page).map_err(|e| mem_err(pid, e))?;
    let patches = vdso::patches(&image, base, page);
    // The first write copies the vDSO page for this process: if it fails, nothing changed.
    for p in &patches {
        mem.write_all_at(&p.value.to_le_bytes(), p.addr).map_err(|e| mem_err(pid, e))?;
    }
    Ok(())
}
