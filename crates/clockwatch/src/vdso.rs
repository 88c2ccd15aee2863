//! The vDSO image as data: its dynamic symbols, and the plan that points its
//! wall-clock entry points at the stub page ([`crate::stub`]).
//!
//! glibc (static too), musl and Go's runtime find the vDSO's functions by name in
//! its `.dynsym` and call `base + st_value` (wrapping), so rewriting `st_value` in
//! the program's own copy of the image sends their clock reads to the stub, while
//! the original code stays where it was for the stub to call.

use crate::stub;

const SHT_DYNSYM: u32 = 11;
const STT_FUNC: u8 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
/// Size of an `Elf64_Sym`, and where its `st_value` is.
const SYM_SIZE: usize = 24;
const ST_VALUE: usize = 8;

/// Why an image cannot be redirected (the caller falls back to hiding the vDSO).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VdsoError {
    #[error("the vDSO is not a 64-bit little-endian x86_64 ELF image")]
    NotX86_64,
    #[error("the vDSO image is truncated or malformed ({0})")]
    Malformed(&'static str),
    #[error("the vDSO has no __vdso_clock_gettime")]
    NoClockGettime,
    #[error("the vDSO holds no syscall instruction to run mmap with")]
    NoSyscall,
}

/// One dynamic symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    /// Where its `Elf64_Sym` starts in the image.
    pub at: usize,
    pub value: u64,
    pub info: u8,
    pub shndx: u16,
}

impl Symbol {
    fn is_defined_func(&self) -> bool {
        self.info & 0xf == STT_FUNC && self.shndx != 0
    }
}

/// A parsed vDSO image (offsets in the image are offsets from its base address).
#[derive(Debug)]
pub struct Image {
    pub symbols: Vec<Symbol>,
    /// Offset of a `syscall` instruction in the executable segment.
    pub syscall_at: Option<usize>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, VdsoError> {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or(VdsoError::Malformed("header"))
}
fn u32_at(b: &[u8], at: usize) -> Result<u32, VdsoError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(VdsoError::Malformed("header"))
}
fn u64_at(b: &[u8], at: usize) -> Result<u64, VdsoError> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or(VdsoError::Malformed("header"))
}
fn usize_at(b: &[u8], at: usize) -> Result<usize, VdsoError> {
    usize::try_from(u64_at(b, at)?).map_err(|_| VdsoError::Malformed("offset"))
}

impl Image {
    /// Parses the image of an x86_64 vDSO (as mapped: the whole ELF file).
    pub fn parse(b: &[u8]) -> Result<Image, VdsoError> {
        if b.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) || u16_at(b, 0x12)? != EM_X86_64 {
            return Err(VdsoError::NotX86_64);
        }
        // The loaders map offsets to addresses through the load segment; the
        // kernel links the vDSO so they are equal, which the patch relies on.
        let (phoff, phentsize, phnum) = (usize_at(b, 0x20)?, u16_at(b, 0x36)? as usize, u16_at(b, 0x38)?);
        let mut syscall_at = None;
        for i in 0..phnum as usize {
            let ph = phoff + i * phentsize;
            if u32_at(b, ph)? != PT_LOAD {
                continue;
            }
            let (off, vaddr, filesz) = (usize_at(b, ph + 8)?, u64_at(b, ph + 16)?, usize_at(b, ph + 32)?);
            if off as u64 != vaddr {
                return Err(VdsoError::Malformed("load segment offset is not its address"));
            }
            let seg = b.get(off..off.saturating_add(filesz)).ok_or(VdsoError::Malformed("load segment"))?;
            if u32_at(b, ph + 4)? & 1 != 0 && syscall_at.is_none() {
                syscall_at = seg.windows(2).position(|w| w == [0x0f, 0x05]).map(|p| off + p);
            }
        }
        let (shoff, shentsize, shnum) = (usize_at(b, 0x28)?, u16_at(b, 0x3a)? as usize, u16_at(b, 0x3c)?);
        let sh = |i: usize| shoff + i * shentsize;
        let dynsym = (0..shnum as usize)
            .map(sh)
            .find(|&s| u32_at(b, s + 4) == Ok(SHT_DYNSYM))
            .ok_or(VdsoError::Malformed("no .dynsym"))?;
        let (symoff, symsize) = (usize_at(b, dynsym + 0x18)?, usize_at(b, dynsym + 0x20)?);
        let strsh = sh(u32_at(b, dynsym + 0x28)? as usize);
        let (stroff, strsize) = (usize_at(b, strsh + 0x18)?, usize_at(b, strsh + 0x20)?);
        let strtab = b.get(stroff..stroff.saturating_add(strsize)).ok_or(VdsoError::Malformed(".dynstr"))?;
        let table = b.get(symoff..symoff.saturating_add(symsize)).ok_or(VdsoError::Malformed(".dynsym"))?;
        let symbols = table
            .chunks_exact(SYM_SIZE)
            .enumerate()
            .map(|(i, s)| {
                let name_at = u32_at(s, 0)? as usize;
                let name = strtab
                    .get(name_at..)
                    .and_then(|t| t.split(|c| *c == 0).next())
                    .ok_or(VdsoError::Malformed("symbol name"))?;
                Ok(Symbol {
                    name: String::from_utf8_lossy(name).into_owned(),
                    at: symoff + i * SYM_SIZE,
                    value: u64_at(s, ST_VALUE)?,
                    info: s[4],
                    shndx: u16_at(s, 6)?,
                })
            })
            .collect::<Result<Vec<_>, VdsoError>>()?;
        Ok(Image { symbols, syscall_at })
    }

    /// Offset of the original `__vdso_clock_gettime`.
    pub fn clock_gettime(&self) -> Result<u64, VdsoError> {
        self.symbols
            .iter()
            .find(|s| s.name == "__vdso_clock_gettime" && s.is_defined_func())
            .map(|s| s.value)
            .ok_or(VdsoError::NoClockGettime)
    }
}

/// The end of the `[vdso]` mapping that starts at `base`, from the text of
/// `/proc/PID/maps`.
pub fn mapping_end(maps: &str, base: u64) -> Option<u64> {
    maps.lines()
        .filter(|l| l.ends_with("[vdso]"))
        .filter_map(|l| l.split_once(' ')?.0.split_once('-'))
        .filter_map(|(lo, hi)| Some((u64::from_str_radix(lo, 16).ok()?, u64::from_str_radix(hi, 16).ok()?)))
        .find(|(lo, _)| *lo == base)
        .map(|(_, hi)| hi)
}

/// The stub entry point that replaces the vDSO function `name`, if it is one we redirect.
pub fn replacement(name: &str) -> Option<usize> {
    match name {
        "__vdso_clock_gettime" | "clock_gettime" => Some(stub::CLOCK_GETTIME),
        "__vdso_gettimeofday" | "gettimeofday" => Some(stub::GETTIMEOFDAY),
        "__vdso_time" | "time" => Some(stub::TIME),
        _ => None,
    }
}

/// One write into the program's copy of the vDSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolPatch {
    pub name: String,
    /// Address of the `st_value` field in the program.
    pub addr: u64,
    /// Its new value: the stub entry point relative to the vDSO's base.
    pub value: u64,
}

/// What to write into a program whose vDSO is at `base`, with the stub page at `stub`.
pub fn patches(image: &Image, base: u64, stub: u64) -> Vec<SymbolPatch> {
    image
        .symbols
        .iter()
        .filter(|s| s.is_defined_func())
        .filter_map(|s| {
            let entry = replacement(&s.name)?;
            Some(SymbolPatch {
                name: s.name.clone(),
                addr: base + (s.at + ST_VALUE) as u64,
                // base + value wraps to the stub in every loader (unsigned arithmetic).
                value: (stub + entry as u64).wrapping_sub(base),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// This process's vDSO: (base, image).
    pub(crate) fn own_vdso() -> (u64, Vec<u8>) {
        // SAFETY: getauxval has no preconditions.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
        assert_ne!(base, 0, "no vDSO");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let hi = mapping_end(&maps, base).expect("[vdso] in maps");
        let mem = std::fs::File::open("/proc/self/mem").expect("mem");
        let mut img = vec![0u8; (hi - base) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&mem, &mut img, base).expect("read the vDSO");
        (base, img)
    }

    #[test]
    fn finds_the_vdso_mapping_by_its_start() {
        let maps = "7ffc1000-7ffc3000 r--p 00000000 00:00 0                          [vvar]\n\
                    7ffc3000-7ffc5000 r-xp 00000000 00:00 0                          [vdso]\n";
        assert_eq!(mapping_end(maps, 0x7ffc3000), Some(0x7ffc5000));
        assert_eq!(mapping_end(maps, 0x7ffc1000), None, "[vvar] is not the vDSO");
        assert_eq!(mapping_end("", 0x7ffc3000), None);
    }

    #[test]
    fn parses_this_kernels_vdso() {
        let (base, img) = own_vdso();
        let image = Image::parse(&img).expect("parse");
        let cgt = image.clock_gettime().expect("__vdso_clock_gettime");
        // What the C library found by its own lookup is the same function.
        let names: Vec<&str> = image.symbols.iter().map(|s| s.name.as_str()).collect();
        for n in ["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "clock_gettime", "time"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let f: extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int =
            // SAFETY: the symbol is the vDSO's clock_gettime, which has this signature.
            unsafe { std::mem::transmute((base + cgt) as usize) };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        assert_eq!(f(libc::CLOCK_REALTIME, &mut ts), 0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
        assert!((ts.tv_sec - now.as_secs() as i64).abs() <= 1);
        let at = image.syscall_at.expect("a syscall instruction");
        assert_eq!(&img[at..at + 2], &[0x0f, 0x05]);
    }

    #[test]
    fn the_plan_points_every_clock_name_at_its_stub_entry() {
        let (base, img) = own_vdso();
        let image = Image::parse(&img).expect("parse");
        // A stub page below the vDSO: the values wrap.
        let stub = base - 0x10_0000;
        let p = patches(&image, base, stub);
        let by_name =
            |n: &str| p.iter().find(|x| x.name == n).unwrap_or_else(|| panic!("{n} not patched: {p:?}"));
        for (n, e) in [
            ("__vdso_clock_gettime", stub::CLOCK_GETTIME),
            ("clock_gettime", stub::CLOCK_GETTIME),
            ("__vdso_gettimeofday", stub::GETTIMEOFDAY),
            ("gettimeofday", stub::GETTIMEOFDAY),
            ("__vdso_time", stub::TIME),
            ("time", stub::TIME),
        ] {
            let x = by_name(n);
            assert_eq!(base.wrapping_add(x.value), stub + e as u64, "{n}");
            let sym = image.symbols.iter().find(|s| s.name == n).expect("symbol");
            assert_eq!(x.addr, base + sym.at as u64 + 8);
        }
        // Only those: getcpu, clock_getres and getrandom keep theirs.
        assert_eq!(p.len(), 6, "{p:?}");
    }

    #[test]
    fn refuses_what_it_cannot_patch() {
        assert_eq!(Image::parse(b"\x7fELF\x01\x01").err(), Some(VdsoError::NotX86_64));
        let (_, img) = own_vdso();
        assert!(matches!(Image::parse(&img[..0x40]), Err(VdsoError::Malformed(_))));
        let mut image = Image::parse(&img).expect("parse");
        image.symbols.retain(|s| s.name != "__vdso_clock_gettime");
        assert_eq!(image.clock_gettime(), Err(VdsoError::NoClockGettime));
    }
}
