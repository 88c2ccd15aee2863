//! Small filesystem helpers: copying a cluster with a chosen owner, private
//! directories, traversal checks, a stable content hash.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_err, PgError};

/// Copies the directory tree `src` to `dst` (which must not exist), keeping modes.
/// With `owner`, every created entry is chowned to it (the caller must be root
/// then); without, entries belong to the caller.
///
/// Hard links or reflinks are no option: postgres rewrites files in place, and the
/// scratch tmpfs cannot share extents with the cache's filesystem anyway.
pub(crate) fn copy_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>) -> Result<(), PgError> {
    let meta = fs::symlink_metadata(src).map_err(io_err(format!("stat {}", src.display())))?;
    // Sequential on purpose: the caller may be the sandbox's PID 1, which must stay
    // single-threaded (unshare, signal routing). Two threads saved only ~5 ms.
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    make_dirs(src, dst, meta, owner, &mut dirs, &mut files)?;
    for (from, to, m) in &files {
        copy_file(from, to, m, owner)?;
    }
    // Modes and owners last, deepest first, so read-only directories still fill.
    for (dir, m) in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(io_err(format!("chmod {}", dir.display())))?;
        if let Some((u, g)) = owner {
            std::os::unix::fs::chown(dir, Some(u), Some(g))
                .map_err(io_err(format!("chown {}", dir.display())))?;
        }
    }
    Ok(())
}

type FileJob = (PathBuf, PathBuf, fs::Metadata);

fn make_dirs(
    src: &Path,
    dst: &Path,
    meta: fs::Metadata,
    owner: Option<(u32, u32)>,
    dirs: &mut Vec<(PathBuf, fs::Metadata)>,
    files: &mut Vec<FileJob>,
) -> Result<(), PgError> {
    fs::DirBuilder::new().mode(0o700).create(dst).map_err(io_err(format!("mkdir {}", dst.display())))?;
    dirs.push((dst.to_path_buf(), meta));
    let entries = fs::read_dir(src).map_err(io_err(format!("read {}", src.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_err(format!("read {}", src.display())))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let m = entry.metadata().map_err(io_err(format!("stat {}", from.display())))?;
        let ft = m.file_type();
        if ft.is_dir() {
            make_dirs(&from, &to, m, owner, dirs, files)?;
        } else if ft.is_file() {
            files.push((from, to, m));
        } else if ft.is_symlink() {
            let target = fs::read_link(&from).map_err(io_err(format!("readlink {}", from.display())))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io_err(format!("symlink {}", to.display())))?;
            if let Some((u, g)) = owner {
                std::os::unix::fs::lchown(&to, Some(u), Some(g))
                    .map_err(io_err(format!("chown {}", to.display())))?;
            }
        }
        // Sockets and fifos (a stale .s.PGSQL.*) are not part of a cluster: skipped.
    }
    Ok(())
}

fn copy_file(src: &Path, dst: &Path, meta: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<(), PgError> {
    let mode = meta.mode() & 0o7777;
    let mut from = File::open(src).map_err(io_err(format!("open {}", src.display())))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dst)
        .map_err(io_err(format!("create {}", dst.display())))?;
    if meta.len() > 0 {
        // std::io::copy uses copy_file_range/sendfile between two files.
        io::copy(&mut from, &mut to).map_err(io_err(format!("copy {}", src.display())))?;
    }
    if let Some((u, g)) = owner {
        std::os::unix::fs::fchown(&to, Some(u), Some(g))
            .map_err(io_err(format!("chown {}", dst.display())))?;
    }
    // The umask may have narrowed group/other bits of the creation mode (postgres
    // checks modes); owner-only files, nearly all of a cluster, need no extra call.
    if mode & 0o077 != 0 {
        to.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("chmod {}", dst.display())))?;
    }
    Ok(())
}

/// Creates a new directory `parent/<prefix><random>` with `mode`, owned by `owner`
/// when given.
pub(crate) fn make_unique_dir(
    parent: &Path,
    prefix: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, PgError> {
    for _ in 0..64 {
        let name = format!("{prefix}{}-{:08x}", std::process::id(), fastrand::u32(..));
        let p = parent.join(name);
        match fs::DirBuilder::new().mode(mode).create(&p) {
            Ok(()) => {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                    .map_err(io_err(format!("chmod {}", p.display())))?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::chown(&p, Some(u), Some(g))
                        .map_err(io_err(format!("chown {}", p.display())))?;
                }
                return Ok(p);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(format!("mkdir {}", p.display()))(e)),
        }
    }
    Err(PgError::BadPath { path: parent.to_path_buf(), reason: "cannot create a unique directory".into() })
}

/// Removes a tree, ignoring "already gone".
pub(crate) fn remove_tree(p: &Path) -> io::Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Whether `uid`/`gid` (without supplementary groups) may search every directory
/// from `/` down to and including `dir`, judged from the mode bits.
pub(crate) fn first_untraversable(dir: &Path, uid: u32, gid: u32) -> Option<PathBuf> {
    if uid == 0 {
        return None;
    }
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    for a in ancestors {
        let Ok(m) = fs::metadata(a) else {
            return Some(a.to_path_buf());
        };
        let mode = m.mode();
        let ok = if m.uid() == uid {
            mode & 0o100 != 0
        } else if m.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Some(a.to_path_buf());
        }
    }
    None
}

/// FNV-1a, 128 bit: stable across Rust releases (unlike `DefaultHasher`), so the
/// cache key does not change when flakebox is rebuilt. Collisions need not be
/// adversarially hard: the key only separates a user's own init contents.
pub(crate) struct Fnv128(u128);

impl Fnv128 {
    pub(crate) fn new() -> Self {
        Fnv128(0x6c62272e07bb014262b821756295c58d)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u128::from(*b);
            self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013B);
        }
    }

    /// Length-prefixed, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    pub(crate) fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

/// Write `bytes` to `path` through a temporary name in the same directory
/// and a rename: readers see the old file or the whole new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable_and_length_prefixed() {
        let mut a = Fnv128::new();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Fnv128::new();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.hex(), b.hex());
        let mut e = Fnv128::new();
        e.write(b"");
        assert_eq!(e.hex(), "6c62272e07bb014262b821756295c58d");
    }
}
