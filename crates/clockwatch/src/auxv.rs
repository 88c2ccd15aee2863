//! Hiding the vDSO at exec: at the ptrace exec stop the new program has not run
//! yet and its stack holds argc, argv, envp and the auxiliary vector. Turning the
//! `AT_SYSINFO_EHDR` entry into `AT_IGNORE` makes glibc-static, musl and the Go
//! runtime (`runtime/vdso_linux.go` only looks for that tag) believe there is no
//! vDSO, so their clock reads become system calls the filter can route.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::ClockwatchError;

const AT_NULL: u64 = 0;
const AT_IGNORE: u64 = 1;
pub const AT_SYSINFO_EHDR: u64 = 33;

/// Where the auxv entry with `tag` is on a stack that starts with argc.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The index (in words from argc) of the entry's tag.
    At(usize),
    /// The vector ends without it.
    Absent,
    /// The words end before the vector does: read more.
    NeedMore,
}

/// Finds `tag` in the auxiliary vector of `words` (the initial stack, argc first).
pub fn find(words: &[u64], tag: u64) -> Found {
    let Some(&argc) = words.first() else { return Found::NeedMore };
    let mut i = 1 + argc as usize + 1; // argv and its NULL
                                       // envp up to its NULL
    loop {
        match words.get(i) {
            None => return Found::NeedMore,
            Some(0) => break,
            Some(_) => i += 1,
        }
    }
    i += 1;
    loop {
        match words.get(i) {
            None => return Found::NeedMore,
            Some(&AT_NULL) => return Found::Absent,
            Some(&t) if t == tag && words.len() > i + 1 => return Found::At(i),
            Some(&t) if t == tag => return Found::NeedMore,
            Some(_) => i += 2,
        }
    }
}

/// The stack pointer of a tracee in a ptrace stop.
pub fn stack_pointer(pid: i32) -> Result<u64, ClockwatchError> {
    // SAFETY: user_regs_struct is plain data; all-zero is a valid value.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: (&raw mut regs).cast(),
        iov_len: std::mem::size_of::<libc::user_regs_struct>(),
    };
    // SAFETY: GETREGSET writes at most iov_len bytes into regs; pid is our stopped tracee.
    let r = unsafe { libc::ptrace(libc::PTRACE_GETREGSET, pid, libc::NT_PRSTATUS as usize, &raw mut iov) };
    if r != 0 {
        return Err(ClockwatchError::last("PTRACE_GETREGSET"));
    }
    #[cfg(target_arch = "x86_64")]
    return Ok(regs.rsp);
    #[cfg(target_arch = "aarch64")]
    return Ok(regs.sp);
}

/// Hides the vDSO from `pid`, stopped at its exec stop. Returns whether there was
/// one to hide.
pub fn hide_vdso(pid: i32) -> Result<bool, ClockwatchError> {
    let sp = stack_pointer(pid)?;
    let path = PathBuf::from(format!("/proc/{pid}/mem"));
    let mem_err = |source| ClockwatchError::Mem { path: path.clone(), source };
    let mem = File::options().read(true).write(true).open(&path).map_err(mem_err)?;
    match entry(pid, &mem, sp, AT_SYSINFO_EHDR)? {
        Some((at, _)) => {
            mem.write_all_at(&AT_IGNORE.to_ne_bytes(), at).map_err(mem_err)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// The auxv entry `tag` of `pid` (at its exec stop, stack pointer `sp`): the
/// address of its tag word and its value.
pub fn entry(pid: i32, mem: &File, sp: u64, tag: u64) -> Result<Option<(u64, u64)>, ClockwatchError> {
    let mem_err = |source| ClockwatchError::Mem { path: PathBuf::from(format!("/proc/{pid}/mem")), source };
    let mut len = 4096usize;
    loop {
        let mut buf = vec![0u8; len];
        let n = read_upto(mem, &mut buf, sp).map_err(mem_err)?;
        let words: Vec<u64> = buf[..n - n % 8]
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
            .collect();
        match find(&words, tag) {
            Found::At(i) => return Ok(Some((sp + 8 * i as u64, words[i + 1]))),
            Found::Absent => return Ok(None),
            Found::NeedMore if n < len => return Err(ClockwatchError::NoAuxv { pid }),
            Found::NeedMore => len *= 4,
        }
    }
}

/// Reads as much of `buf` as the mapping allows (the stack ends at its top).
fn read_upto(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if done > 0 && e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tag_after_argv_and_envp() {
        // argc=2, argv[2], NULL, envp[1], NULL, auxv: (6,4096) (33,0x7fff) (0,0)
        let s = [2, 10, 11, 0, 20, 0, 6, 4096, 33, 0x7fff, 0, 0];
        assert_eq!(find(&s, 33), Found::At(8));
        assert_eq!(find(&s, 6), Found::At(6));
        assert_eq!(find(&s, 99), Found::Absent);
        // A tag value equal to 33 is a value, not a tag.
        let s = [0, 0, 0, 6, 33, 0, 0];
        assert_eq!(find(&s, 33), Found::Absent);
        assert_eq!(find(&s[..4], 33), Found::NeedMore);
        assert_eq!(find(&[], 33), Found::NeedMore);
        assert_eq!(find(&[1, 5], 33), Found::NeedMore);
    }
}
