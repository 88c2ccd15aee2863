//! Copying a file or directory tree, modes kept, optionally chowned.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Op};

/// How [`copy_tree`] treats the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyOptions {
    /// Chown every created entry to this uid/gid (the caller must be root then);
    /// `None`: entries belong to the caller.
    pub owner: Option<(u32, u32)>,
    /// What to do with entries that already exist at the destination.
    pub existing: Existing,
    /// Follow `src` itself if it is a symlink (e.g. `/proc/self/fd/N` naming a
    /// directory opened elsewhere). Symlinks inside the tree are never followed.
    pub follow_src_symlink: bool,
}

/// An entry already present where [`copy_tree`] wants to create one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Fail with `AlreadyExists`: the destination must not exist.
    #[default]
    Fail,
    /// Merge into existing directories; replace anything else (a file, a
    /// symlink: removed, never written through).
    Replace,
}

/// What [`copy_tree`] left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Sockets, fifos and device nodes: not data (and opening a fifo would
    /// block), so not copied.
    pub skipped: Vec<PathBuf>,
}

/// Copies `src` (a file, a symlink or a directory tree) to `dst`, whose parent
/// must exist.
///
/// Symlinks are copied as symlinks, never followed (`src` itself included,
/// unless [`CopyOptions::follow_src_symlink`]).
/// Regular files and directories keep their permission bits (`mode & 0o7777`,
/// whatever the umask); directories get theirs after their contents, deepest
/// first, so read-only directories still fill. Sequential on purpose: the
/// sandbox's PID 1 calls this and must stay single-threaded. Hard links or
/// reflinks are no option: the copies are written in place (a database), and
/// a tmpfs cannot share extents anyway.
pub fn copy_tree(src: &Path, dst: &Path, opts: &CopyOptions) -> Result<Copied, Error> {
    let meta = if opts.follow_src_symlink { fs::metadata(src) } else { fs::symlink_metadata(src) }
        .map_err(Error::at(Op::Stat, src))?;
    let mut job = Job { opts, dirs: Vec::new(), files: Vec::new(), copied: Copied::default() };
    job.entry(src, dst, meta)?;
    for (from, to, m) in &job.files {
        copy_file(from, to, m, opts.owner)?;
    }
    for (dir, m) in job.dirs.iter().rev() {
        if let Some((u, g)) = opts.owner {
            std::os::unix::fs::chown(dir, Some(u), Some(g)).map_err(Error::at(Op::Chown, dir))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(Error::at(Op::Chmod, dir))?;
    }
    Ok(job.copied)
}

type FileJob = (PathBuf, PathBuf, fs::Metadata);

struct Job<'a> {
    opts: &'a CopyOptions,
    /// Directories created or merged into, parents before children.
    dirs: Vec<(PathBuf, fs::Metadata)>,
    files: Vec<FileJob>,
    copied: Copied,
}

impl Job<'_> {
    /// Creates directories and symlinks now, queues files.
    fn entry(&mut self, src: &Path, dst: &Path, meta: fs::Metadata) -> Result<(), Error> {
        let ft = meta.file_type();
        if ft.is_dir() {
            self.make_dir(dst)?;
            self.dirs.push((dst.to_path_buf(), meta));
            for entry in fs::read_dir(src).map_err(Error::at(Op::ReadDir, src))? {
                let entry = entry.map_err(Error::at(Op::ReadDir, src))?;
                let from = entry.path();
                // DirEntry::metadata does not follow symlinks.
                let m = entry.metadata().map_err(Error::at(Op::Stat, &from))?;
                self.entry(&from, &dst.join(entry.file_name()), m)?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(src).map_err(Error::at(Op::ReadLink, src))?;
            self.clear(dst)?;
            std::os::unix::fs::symlink(&target, dst).map_err(Error::at(Op::Symlink, dst))?;
            if let Some((u, g)) = self.opts.owner {
                std::os::unix::fs::lchown(dst, Some(u), Some(g)).map_err(Error::at(Op::Chown, dst))?;
            }
        } else if ft.is_file() {
            self.clear(dst)?;
            self.files.push((src.to_path_buf(), dst.to_path_buf(), meta));
        } else {
            self.copied.skipped.push(src.to_path_buf());
        }
        Ok(())
    }

    /// A private directory at `dst` (its mode is set at the end), or the
    /// existing one when merging.
    fn make_dir(&mut self, dst: &Path) -> Result<(), Error> {
        if self.opts.existing == Existing::Replace {
            match fs::symlink_metadata(dst) {
                Ok(m) if m.is_dir() => {
                    // Writable for us while we fill it; its mode is set at the end.
                    return fs::set_permissions(dst, fs::Permissions::from_mode((m.mode() & 0o7777) | 0o700))
                        .map_err(Error::at(Op::Chmod, dst));
                }
                Ok(_) => self.clear(dst)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::at(Op::Stat, dst)(e)),
            }
        }
        fs::DirBuilder::new().mode(0o700).create(dst).map_err(Error::at(Op::CreateDir, dst))
    }

    /// With [`Existing::Replace`], removes whatever is at `dst`.
    fn clear(&self, dst: &Path) -> Result<(), Error> {
        if self.opts.existing != Existing::Replace {
            return Ok(());
        }
        match fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => crate::remove_tree(dst).map_err(|e| {
                e.failed.into_iter().next().unwrap_or_else(|| Error {
                    op: Op::Remove,
                    path: dst.to_path_buf(),
                    source: io::Error::other("not removed"),
                })
            }),
            Ok(_) => fs::remove_file(dst).map_err(Error::at(Op::Remove, dst)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::at(Op::Stat, dst)(e)),
        }
    }
}

fn copy_file(src: &Path, dst: &Path, meta: &fs::Metadata, owner: Option<(u32, u32)>) -> Result<(), Error> {
    let mode = meta.mode() & 0o7777;
    let mut from = File::open(src).map_err(Error::at(Op::Copy, src))?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode & 0o777)
        .open(dst)
        .map_err(Error::at(Op::CreateFile, dst))?;
    if meta.len() > 0 {
        // std::io::copy uses copy_file_range/sendfile between two files.
        io::copy(&mut from, &mut to).map_err(Error::at(Op::Copy, src))?;
    }
    if let Some((u, g)) = owner {
        std::os::unix::fs::fchown(&to, Some(u), Some(g)).map_err(Error::at(Op::Chown, dst))?;
    }
    // The umask may have narrowed the creation mode, and chown clears set-id
    // bits; owner-only files (nearly all of a database cluster) need no call.
    if mode & 0o7077 != 0 {
        to.set_permissions(fs::Permissions::from_mode(mode)).map_err(Error::at(Op::Chmod, dst))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, FileTypeExt};

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    /// src/{a (0640), ro/ (0555) {b}, link -> ../outside, fifo}
    fn sample(root: &Path) -> PathBuf {
        let src = root.join("src");
        fs::create_dir_all(src.join("ro")).expect("mkdir");
        fs::write(src.join("a"), "alpha").expect("write");
        fs::set_permissions(src.join("a"), fs::Permissions::from_mode(0o640)).expect("chmod");
        fs::write(src.join("ro/b"), "beta").expect("write");
        symlink("../outside", src.join("link")).expect("symlink");
        nix_mkfifo(&src.join("fifo"));
        fs::set_permissions(src.join("ro"), fs::Permissions::from_mode(0o555)).expect("chmod");
        src
    }

    fn nix_mkfifo(p: &Path) {
        let status = std::process::Command::new("mkfifo").arg(p).status().expect("mkfifo");
        assert!(status.success());
        assert!(fs::symlink_metadata(p).expect("stat").file_type().is_fifo());
    }

    #[test]
    fn copies_contents_modes_and_symlinks_and_skips_fifos() {
        let d = tempfile::tempdir().expect("tempdir");
        let src = sample(d.path());
        let dst = d.path().join("dst");
        let copied = copy_tree(&src, &dst, &CopyOptions::default()).expect("copy");
        assert_eq!(copied.skipped, vec![src.join("fifo")]);
        assert_eq!(fs::read_to_string(dst.join("a")).expect("a"), "alpha");
        assert_eq!(fs::read_to_string(dst.join("ro/b")).expect("b"), "beta");
        assert_eq!(mode(&dst.join("a")), 0o640);
        assert_eq!(mode(&dst.join("ro")), 0o555);
        assert_eq!(fs::read_link(dst.join("link")).expect("link"), Path::new("../outside"));
        assert!(fs::symlink_metadata(dst.join("fifo")).is_err());
        fs::set_permissions(src.join("ro"), fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(dst.join("ro"), fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn fail_mode_refuses_an_existing_destination() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir(d.path().join("src")).expect("mkdir");
        fs::create_dir(d.path().join("dst")).expect("mkdir");
        let e = copy_tree(&d.path().join("src"), &d.path().join("dst"), &CopyOptions::default())
            .expect_err("dst exists");
        assert_eq!(e.op, Op::CreateDir);
        assert_eq!(e.source.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn replace_mode_merges_dirs_and_replaces_files_without_following_symlinks() {
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().join("src");
        fs::create_dir(&src).expect("mkdir");
        fs::write(src.join("f"), "new").expect("write");
        let dst = d.path().join("dst");
        fs::create_dir(&dst).expect("mkdir");
        fs::write(dst.join("keep"), "kept").expect("write");
        // A symlink where the file goes: it must be replaced, not written through.
        let victim = d.path().join("victim");
        fs::write(&victim, "untouched").expect("write");
        symlink(&victim, dst.join("f")).expect("symlink");
        let opts = CopyOptions { existing: Existing::Replace, ..CopyOptions::default() };
        copy_tree(&src, &dst, &opts).expect("copy");
        assert_eq!(fs::read_to_string(dst.join("f")).expect("f"), "new");
        assert!(!fs::symlink_metadata(dst.join("f")).expect("stat").file_type().is_symlink());
        assert_eq!(fs::read_to_string(dst.join("keep")).expect("keep"), "kept");
        assert_eq!(fs::read_to_string(&victim).expect("victim"), "untouched");
    }

    #[test]
    fn copies_a_single_file_and_a_top_level_symlink() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::write(d.path().join("f"), "x").expect("write");
        symlink("f", d.path().join("l")).expect("symlink");
        copy_tree(&d.path().join("f"), &d.path().join("f2"), &CopyOptions::default()).expect("file");
        copy_tree(&d.path().join("l"), &d.path().join("l2"), &CopyOptions::default()).expect("link");
        assert_eq!(fs::read_to_string(d.path().join("f2")).expect("f2"), "x");
        assert_eq!(fs::read_link(d.path().join("l2")).expect("l2"), Path::new("f"));
    }

    #[test]
    fn follows_a_symlinked_src_only_when_asked() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(d.path().join("real/sub")).expect("mkdir");
        fs::write(d.path().join("real/sub/f"), "x").expect("write");
        symlink("sub", d.path().join("real/inner")).expect("symlink");
        // What the PostgreSQL service passes: a directory opened elsewhere.
        let dir = File::open(d.path().join("real")).expect("open");
        let src = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
        let opts = CopyOptions { follow_src_symlink: true, ..CopyOptions::default() };
        copy_tree(&src, &d.path().join("followed"), &opts).expect("copy");
        assert_eq!(fs::read_to_string(d.path().join("followed/sub/f")).expect("f"), "x");
        assert_eq!(fs::read_link(d.path().join("followed/inner")).expect("inner"), Path::new("sub"));
        copy_tree(&src, &d.path().join("link"), &CopyOptions::default()).expect("copy");
        assert!(fs::symlink_metadata(d.path().join("link")).expect("stat").file_type().is_symlink());
    }

    #[test]
    fn owner_is_applied_when_root() {
        if !is_root() {
            return; // chown to another uid needs root; the e2e tests run both ways
        }
        let d = tempfile::tempdir().expect("tempdir");
        let src = sample(d.path());
        let dst = d.path().join("dst");
        let opts = CopyOptions { owner: Some((65534, 65534)), ..CopyOptions::default() };
        copy_tree(&src, &dst, &opts).expect("copy");
        for p in [dst.clone(), dst.join("a"), dst.join("ro"), dst.join("ro/b"), dst.join("link")] {
            let m = fs::symlink_metadata(&p).expect("stat");
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
        }
        assert_eq!(mode(&dst.join("a")), 0o640, "chown must not cost the mode");
        fs::set_permissions(src.join("ro"), fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn is_root() -> bool {
        fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
    }
}
