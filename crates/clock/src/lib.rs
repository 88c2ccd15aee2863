//! The fake wall clock: time specs, the embedded LD_PRELOAD shim, and checks of
//! which programs the shim can reach.
//!
//! Integration: `install` the shim into a directory the command can read, set
//! `LD_PRELOAD` to [`ld_preload_value`], add [`ShimClock::env`] (from
//! [`TimeSpec::resolve`]) to the command's environment, and optionally
//! `FLAKEBOX_TRACE=/path` to collect [`trace`] events. Without the time variables
//! the shim leaves the clock alone (tracing only).

mod civil;
mod duration;
pub mod reach;
mod spec;
pub mod trace;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use civil::{civil_from_days, days_from_civil};
pub use duration::{format_duration, parse_duration, DurationError, DurationErrorKind};
pub use spec::{
    parse_instant, Anchor, ShimClock, ShimMode, TimeSpec, TimeSpecError, UnixTime, ENV_CLOCKWATCH,
    ENV_RAND_ID, ENV_SEED, ENV_TIME_MODE, ENV_TIME_NSEC, ENV_TIME_ORIGIN_NSEC, ENV_TIME_ORIGIN_SEC,
    ENV_TIME_SEC, ENV_TIME_STEP_NS, ENV_TRACE, TIME_SPEC_HELP,
};

/// The shim shared object, compiled from `shim/` by build.rs.
pub const SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libflakebox_shim.so"));

/// The file name [`install`] writes.
pub const SHIM_FILE_NAME: &str = "libflakebox_shim.so";

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Spec(#[from] TimeSpecError),
}

/// Writes the shim as `dir/libflakebox_shim.so` (mode 0755) and returns its path.
/// The file is replaced atomically, so a process loading an older copy is unaffected.
pub fn install(dir: &Path) -> Result<PathBuf, ClockError> {
    let target = dir.join(SHIM_FILE_NAME);
    let tmp = dir.join(format!(".{SHIM_FILE_NAME}.{}.tmp", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ClockError::Io { path, source }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(SHIM).map_err(io(&tmp))?;
    drop(f);
    // The mode given to open is masked by the umask; make it exact.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(&target)(e)
    })?;
    Ok(target)
}

/// The `LD_PRELOAD` value with `shim` appended to `existing` (ld.so separates entries
/// by spaces or colons). Existing entries are kept; nothing is added if `shim` is
/// already there. `shim` should be absolute and free of spaces and colons.
pub fn ld_preload_value(existing: Option<&OsStr>, shim: &Path) -> OsString {
    let shim = shim.as_os_str().as_bytes();
    let existing = existing.map(OsStr::as_bytes).unwrap_or_default();
    let is_sep = |b: &u8| *b == b' ' || *b == b':';
    if existing.split(is_sep).any(|t| t == shim) {
        return OsString::from_vec(existing.to_vec());
    }
    let kept = match existing.iter().rposition(|b| !is_sep(b)) {
        Some(last) => &existing[..=last],
        None => &[][..],
    };
    let mut v = kept.to_vec();
    if !v.is_empty() {
        v.push(b':');
    }
    v.extend_from_slice(shim);
    OsString::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(existing: Option<&str>) -> String {
        ld_preload_value(existing.map(OsStr::new), Path::new("/run/fb/libflakebox_shim.so"))
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn ld_preload_appends_without_replacing_or_duplicating() {
        let s = "/run/fb/libflakebox_shim.so";
        assert_eq!(ld(None), s);
        assert_eq!(ld(Some("")), s);
        assert_eq!(ld(Some("  ")), s);
        assert_eq!(ld(Some("/usr/lib/libjemalloc.so")), format!("/usr/lib/libjemalloc.so:{s}"));
        assert_eq!(ld(Some("a.so b.so ")), format!("a.so b.so:{s}"));
        assert_eq!(ld(Some("a.so::")), format!("a.so:{s}"));
        assert_eq!(ld(Some(&format!("a.so {s} b.so"))), format!("a.so {s} b.so"));
        assert_eq!(ld(Some(s)), s);
        // A different file with the same name is a different entry.
        assert_eq!(ld(Some("/other/libflakebox_shim.so")), format!("/other/libflakebox_shim.so:{s}"));
    }

    #[test]
    fn install_writes_an_executable_elf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = install(dir.path()).expect("install");
        assert_eq!(p, dir.path().join("libflakebox_shim.so"));
        let bytes = std::fs::read(&p).expect("read back");
        assert_eq!(bytes, SHIM);
        assert_eq!(&bytes[..4], b"\x7fELF");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        // Installing again replaces it in place.
        assert_eq!(install(dir.path()).expect("reinstall"), p);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
