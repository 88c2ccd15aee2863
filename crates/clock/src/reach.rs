//! Can the shim fake a binary's clock? Read from its ELF headers, the same checks
//! the shim makes at an interposed exec (`reach_inspect` in shim/reach.c). The
//! reasons and the warning's wording are defined once, in shim/reach.def; the
//! test `reach_fixtures` checks that both sides agree on real binaries.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClockError;

include!(concat!(env!("OUT_DIR"), "/reach_def.rs"));

/// What the shim can do for an executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reach {
    /// A dynamically linked glibc program: the shim applies.
    Dynamic,
    /// No program interpreter: LD_PRELOAD is never read.
    Static,
    /// A Go program: its runtime reads the vDSO clock directly.
    Go,
    /// Setuid/setgid to another user/group: the loader ignores LD_PRELOAD.
    Setuid,
    /// File capabilities: the loader runs it in secure mode and ignores LD_PRELOAD.
    FileCaps,
    /// Linked against musl: the glibc-built shim cannot load.
    Musl,
    /// A `#!` script; the reach is its interpreter's (followed once).
    Script { interpreter: PathBuf, interpreter_reach: Box<Reach> },
    /// Not an ELF file nor a script (nothing to say).
    NotElf,
}

impl Reach {
    /// Why the shim cannot fake this program's clock, or `None` if it can.
    pub fn reason(&self) -> Option<String> {
        match self {
            Reach::Script { interpreter, interpreter_reach } => {
                let inner = interpreter_reach.reason()?;
                Some(format!("{INTERP_PREFIX}{}{INTERP_INFIX}{inner}", interpreter.display()))
            }
            r => reason_text(r).map(String::from),
        }
    }

    /// Whether the shim reaches the program.
    pub fn is_reachable(&self) -> bool {
        self.reason().is_none()
    }

    /// The warning for `path` when the shim cannot reach it, `None` when it
    /// can. Print it only when time is being faked.
    pub fn warning(&self, path: &Path) -> Option<NotFrozen> {
        self.reason().map(|reason| NotFrozen { binary: path.to_path_buf(), reason })
    }
}

/// A binary whose clock the shim cannot fake. Displays as the shim's own
/// wording: `flakebox: warning: <binary>: <reason>; its clock is NOT frozen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFrozen {
    pub binary: PathBuf,
    /// Why, as [`Reach::reason`] says it.
    pub reason: String,
}

impl std::fmt::Display for NotFrozen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{WARN_PREFIX}{}: {}{WARN_SUFFIX}", self.binary.display(), self.reason)
    }
}

/// Inspects the executable at `path` (resolve PATH first). Follows a `#!` line to
/// its interpreter once.
pub fn inspect(path: &Path) -> Result<Reach, ClockError> {
    inspect_depth(path, 0)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClockError + '_ {
    move |source| ClockError::Io { path: path.to_path_buf(), source }
}

fn inspect_depth(path: &Path, depth: u32) -> Result<Reach, ClockError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut head = [0u8; 256];
    let n = read_some(&file, &mut head, 0).map_err(io_err(path))?;
    let head = &head[..n];
    if head.starts_with(b"#!") {
        if depth > 0 {
            return Ok(Reach::NotElf);
        }
        let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
        let interp: Vec<u8> = line
            .iter()
            .copied()
            .skip_while(|b| *b == b' ' || *b == b'\t')
            .take_while(|b| !matches!(b, b' ' | b'\t' | b'\r'))
            .collect();
        if interp.is_empty() {
            return Ok(Reach::NotElf);
        }
        let interpreter = PathBuf::from(std::ffi::OsStr::from_bytes(&interp));
        let interpreter_reach = Box::new(inspect_depth(&interpreter, depth + 1)?);
        return Ok(Reach::Script { interpreter, interpreter_reach });
    }
    let elf = match Elf::read(&file).map_err(io_err(path))? {
        Some(e) => e,
        None => return Ok(Reach::NotElf),
    };
    if elf.go {
        return Ok(Reach::Go);
    }
    if !elf.has_interp {
        return Ok(Reach::Static);
    }
    if elf.musl {
        return Ok(Reach::Musl);
    }
    let meta = file.metadata().map_err(io_err(path))?;
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if (meta.mode() & 0o4000 != 0 && meta.uid() != euid) || (meta.mode() & 0o2000 != 0 && meta.gid() != egid)
    {
        return Ok(Reach::Setuid);
    }
    if has_file_caps(path) {
        return Ok(Reach::FileCaps);
    }
    Ok(Reach::Dynamic)
}

fn has_file_caps(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 64];
    // SAFETY: c and the attribute name are NUL-terminated; buf is valid for its length.
    let n = unsafe {
        libc::getxattr(c.as_ptr(), c"security.capability".as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    };
    n > 0
}

/// Reads up to buf.len() bytes at off; short only at end of file.
fn read_some(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

struct Elf {
    has_interp: bool,
    musl: bool,
    go: bool,
}

/// Fields of one ELF class and the host byte order, read from a table
/// already in memory (the header, the program or the section headers):
/// a few reads per file rather than one per field.
struct Fields<'a> {
    b: &'a [u8],
    is64: bool,
}

impl Fields<'_> {
    fn bytes<const N: usize>(&self, off: u64) -> Option<[u8; N]> {
        let off = usize::try_from(off).ok()?;
        self.b.get(off..off.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, off: u64) -> Option<u64> {
        self.bytes::<2>(off).map(|b| u64::from(u16::from_ne_bytes(b)))
    }
    fn u32(&self, off: u64) -> Option<u64> {
        self.bytes::<4>(off).map(|b| u64::from(u32::from_ne_bytes(b)))
    }
    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, off: u64) -> Option<u64> {
        if self.is64 {
            self.bytes::<8>(off).map(u64::from_ne_bytes)
        } else {
            self.u32(off)
        }
    }
}

/// `len` bytes at `off` (fewer at the end of the file), at most `cap`.
fn read_table(f: &File, off: u64, len: u64, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len.min(cap) as usize];
    let n = read_some(f, &mut buf, off)?;
    buf.truncate(n);
    Ok(buf)
}

const PT_INTERP: u64 = 3;
const PT_NOTE: u64 = 4;

impl Elf {
    /// `None`: not an ELF file of this host's byte order.
    fn read(f: &File) -> std::io::Result<Option<Elf>> {
        let mut header = [0u8; 64];
        let n = read_some(f, &mut header, 0)?;
        let ident = &header[..n.min(16)];
        if ident.len() < 16 || &ident[..4] != b"\x7fELF" {
            return Ok(None);
        }
        let host_data = if cfg!(target_endian = "little") { 1 } else { 2 };
        if ident[5] != host_data || !matches!(ident[4], 1 | 2) {
            return Ok(None);
        }
        let is64 = ident[4] == 2;
        let h = Fields { b: &header[..n], is64 };
        // Offsets of the ELF header fields for each class.
        let (phoff_at, shoff_at, phentsize_at) = if is64 { (32, 40, 54) } else { (28, 32, 42) };
        let (
            Some(phoff),
            Some(shoff),
            Some(phentsize),
            Some(phnum),
            Some(shentsize),
            Some(shnum),
            Some(shstrndx),
        ) = (
            h.word(phoff_at),
            h.word(shoff_at),
            h.u16(phentsize_at),
            h.u16(phentsize_at + 2),
            h.u16(phentsize_at + 4),
            h.u16(phentsize_at + 6),
            h.u16(phentsize_at + 8),
        )
        else {
            return Ok(None);
        };
        let mut elf = Elf { has_interp: false, musl: false, go: false };
        let phdrs = read_table(f, phoff, phnum * phentsize, 1 << 20)?;
        let ph = Fields { b: &phdrs, is64 };
        for i in 0..phnum {
            let at = i * phentsize;
            // p_type first; then offset and file size (positions differ by class).
            let (off_at, filesz_at) = if is64 { (8, 32) } else { (4, 16) };
            let (Some(ty), Some(off), Some(size)) =
                (ph.u32(at), ph.word(at + off_at), ph.word(at + filesz_at))
            else {
                break;
            };
            if ty == PT_INTERP {
                elf.has_interp = true;
                let interp = read_table(f, off, size, 255)?;
                if interp.windows(7).any(|w| w == b"ld-musl") {
                    elf.musl = true;
                }
            } else if ty == PT_NOTE && !elf.go {
                elf.go |= has_go_note(&read_table(f, off, size, 4096)?);
            }
        }
        if !elf.go && shstrndx < shnum {
            let shdrs = read_table(f, shoff, shnum * shentsize, 1 << 20)?;
            let sh = Fields { b: &shdrs, is64 };
            let (sh_off_at, sh_size_at) = if is64 { (24, 32) } else { (16, 20) };
            let names_at = shstrndx * shentsize;
            if let (Some(stroff), Some(strsize)) =
                (sh.word(names_at + sh_off_at), sh.word(names_at + sh_size_at))
            {
                let names = read_table(f, stroff, strsize, 1 << 20)?;
                for i in 0..shnum {
                    let Some(name) = sh.u32(i * shentsize).and_then(|n| usize::try_from(n).ok()) else {
                        break;
                    };
                    let nm = names.get(name..).unwrap_or_default();
                    let nm = nm.split(|&b| b == 0).next().unwrap_or_default();
                    if nm == b".go.buildinfo" || nm == b".note.go.buildid" {
                        elf.go = true;
                        break;
                    }
                }
            }
        }
        Ok(Some(elf))
    }
}

/// An ELF note named "Go" of type 4 (NT_GO_BUILDID).
fn has_go_note(notes: &[u8]) -> bool {
    let mut p = 0usize;
    let u32_at = |i: usize| -> Option<usize> {
        notes.get(i..i + 4).and_then(|b| b.try_into().ok()).map(|b| u32::from_ne_bytes(b) as usize)
    };
    while p + 12 <= notes.len() {
        let (Some(namesz), Some(descsz), Some(ty)) = (u32_at(p), u32_at(p + 4), u32_at(p + 8)) else {
            return false;
        };
        if namesz == 3 && ty == 4 && notes.get(p + 12..p + 15) == Some(b"Go\0") {
            return true;
        }
        let step = 12 + namesz.div_ceil(4) * 4 + descsz.div_ceil(4) * 4;
        if step > notes.len() {
            return false;
        }
        p += step;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_note() {
        let mut n = Vec::new();
        n.extend_from_slice(&4u32.to_ne_bytes());
        n.extend_from_slice(&20u32.to_ne_bytes());
        n.extend_from_slice(&3u32.to_ne_bytes()); // GNU build id first
        n.extend_from_slice(b"GNU\0");
        n.extend_from_slice(&[0u8; 20]);
        assert!(!has_go_note(&n));
        n.extend_from_slice(&3u32.to_ne_bytes());
        n.extend_from_slice(&8u32.to_ne_bytes());
        n.extend_from_slice(&4u32.to_ne_bytes());
        n.extend_from_slice(b"Go\0\0");
        n.extend_from_slice(b"buildid!");
        assert!(has_go_note(&n));
    }

    #[test]
    fn system_binaries() {
        let sh = Path::new("/bin/sh");
        let r = inspect(sh).map_err(|e| e.to_string());
        assert!(matches!(r, Ok(Reach::Dynamic)), "{r:?}");
        assert_eq!(Reach::Dynamic.warning(sh), None);
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh -e\necho hi\n").ok();
        let r = inspect(&script).map_err(|e| e.to_string());
        assert_eq!(
            r,
            Ok(Reach::Script {
                interpreter: PathBuf::from("/bin/sh"),
                interpreter_reach: Box::new(Reach::Dynamic)
            })
        );
        let text = dir.path().join("t");
        std::fs::write(&text, "hello").ok();
        assert!(matches!(inspect(&text), Ok(Reach::NotElf)));
        assert!(matches!(inspect(&dir.path().join("missing")), Err(ClockError::Io { .. })));
    }

    #[test]
    fn warnings() {
        let p = Path::new("/x/prog");
        assert_eq!(
            Reach::Static.warning(p).map(|w| w.to_string()).as_deref(),
            Some("flakebox: warning: /x/prog: statically linked (LD_PRELOAD does not apply); its clock is NOT frozen")
        );
        let s = Reach::Script {
            interpreter: PathBuf::from("/bin/busybox"),
            interpreter_reach: Box::new(Reach::Musl),
        };
        assert_eq!(
            s.reason().as_deref(),
            Some("its interpreter /bin/busybox is linked against musl (the glibc shim cannot load)")
        );
        assert!(!Reach::Go.is_reachable() && Reach::NotElf.is_reachable());
        let w = Reach::Go.warning(p).expect("a warning");
        assert_eq!((w.binary.as_path(), w.reason.as_str()), (p, "Go binary (reads the vDSO clock directly)"));
        assert_eq!(Reach::Dynamic.warning(p), None);
    }
}
