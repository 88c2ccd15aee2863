//! Mount namespace: build the sandbox's root and pivot into it.
//!
//! As root, under `FsMode::Fresh` or `Persistent`, the new root is one
//! overlay whose lower layer is the host's root filesystem and whose upper
//! layer is scratch space (`Fresh`) or a state directory (`Persistent`).
//! overlayfs does not cross mount points, so every other real filesystem
//! mounted below gets an overlay of its own, stacked on top.
//!
//! In a user namespace (and for `FsMode::Host`) the new root is a tmpfs of
//! our own instead, and each top-level entry of the host root is recreated
//! in it: bound through (`Host`) or as an overlay of that directory.
//!
//! Either way /proc is fresh (for the PID namespace); /sys and /dev are
//! bound; /tmp, /var/tmp and /dev/shm are fresh tmpfs under `Fresh`.
//!
//! All scratch lives on a staging tmpfs mounted over /tmp *in this mount
//! namespace only*, then made the root by a first pivot_root (which also moves
//! it off /tmp, so the host's /tmp is visible again under /old). Nothing is
//! created on the host except `Persistent` state, which the caller owns.

use crate::error::Context;
use crate::mountinfo::{self, Mount};
use crate::{Config, FsMode, PRIVATE_DIR};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, pivot_root};
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

const OLD: &str = "/old";
const NEW: &str = "/new";
const UP: &str = "/up";
/// Directories that are fresh tmpfs under `FsMode::Fresh`.
const FRESH_TMP: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// What the command's writes went to, for evidence and `--keep`.
pub struct Built {
    /// (mount point inside the sandbox, its overlay's upper directory).
    pub uppers: Vec<(PathBuf, OwnedFd)>,
    /// `--keep` paths that did not exist yet: copied out when the command ends.
    pub copy_out: Vec<CopyOut>,
    pub warnings: Vec<String>,
}

pub struct CopyOut {
    /// The path inside the sandbox (the same as on the host).
    pub path: PathBuf,
    /// The nearest ancestor that exists on the host, and `path` relative to it.
    pub host_dir: OwnedFd,
    pub rel: PathBuf,
    /// Remove `path` in the sandbox before the command starts and after
    /// copying (collected files), so neither a stale copy nor this one stays.
    pub remove: bool,
}

struct Builder<'a> {
    cfg: &'a Config,
    userns: bool,
    /// The root is one overlay of the host's (see the module docs).
    whole: bool,
    /// The host's mounts, as seen before the pivot.
    mounts: Vec<Mount>,
    overlays: usize,
    built: Built,
}

/// Build the root and pivot into it. Runs in PID 1, in the new namespaces.
pub fn build(cfg: &Config, userns: bool) -> Result<Built, String> {
    let host_mounts = mountinfo::read_own()?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .ctx(|| "making the mount tree private".into())?;
    tmpfs("/tmp", 0o755).map_err(|e| format!("{e} (staging)"))?;
    mkdir("/tmp/old", 0o755)?;
    pivot_root("/tmp", "/tmp/old").ctx(|| "pivot_root into the staging tmpfs".into())?;
    chdir("/").ctx(|| "chdir /".into())?;
    mkdir(NEW, 0o755)?;
    mkdir(UP, 0o755)?;

    let mut b = Builder {
        cfg,
        userns,
        whole: false,
        mounts: host_mounts,
        overlays: 0,
        built: Built { uppers: Vec::new(), copy_out: Vec::new(), warnings: Vec::new() },
    };
    // As root, one overlay of the host's root filesystem is the new root
    // (one overlay mount instead of one per top-level directory: each costs
    // ~0.15 ms in ovl_fill_super), and every other filesystem is stacked on
    // it by `nested`. In a user namespace that overlay is refused, because
    // the host's mounts below it are locked to us: `populate` builds the
    // root entry by entry instead, on a tmpfs.
    if userns || cfg.fs == FsMode::Host || !b.root_overlay()? {
        tmpfs(NEW, 0o755)?;
        // overlayfs refuses a lower directory with a locked mount anywhere
        // below it, hidden or not: populate goes down past all of them (not
        // those in the wholly bound /proc, /sys and /dev).
        let locked: Vec<PathBuf> = b
            .mounts
            .iter()
            .map(|m| m.mount_point.clone())
            .filter(|m| m != Path::new("/") && !["/proc", "/sys", "/dev"].iter().any(|s| m.starts_with(s)))
            .collect();
        b.populate(Path::new("/"), &locked)?;
    }
    if cfg.fs != FsMode::Host && !userns {
        // Top-level mount points are populate's when it ran.
        b.nested(if b.whole { 2 } else { 3 })?;
    }
    if cfg.fs == FsMode::Fresh {
        for dir in FRESH_TMP {
            let target = new_path(Path::new(dir));
            if target.is_dir() {
                tmpfs(&target, 0o1777)?;
            }
        }
        b.visible_under_fresh_tmp()?;
    } else {
        // /dev is the host's; its shared memory is not state we keep.
        let shm = new_path(Path::new("/dev/shm"));
        if shm.is_dir() {
            tmpfs(&shm, 0o1777)?;
        }
    }
    b.keep()?;
    b.collect()?;
    b.proc()?;
    b.private_dir()?;

    let put_old = format!("{NEW}{PRIVATE_DIR}/.oldroot");
    mkdir(&put_old, 0o700)?;
    pivot_root(NEW, put_old.as_str()).ctx(|| "pivot_root into the new root".into())?;
    chdir("/").ctx(|| "chdir /".into())?;
    let old = format!("{PRIVATE_DIR}/.oldroot");
    umount2(old.as_str(), MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    fs::remove_dir(&old).ctx(|| format!("removing {old}"))?;
    Ok(b.built)
}

impl Builder<'_> {
    /// Mount points that matter for the copy-on-write tree, parents first:
    /// not "/", nothing under /proc, /sys or /dev (bound whole), no fresh
    /// tmp directory nor anything under one (hidden by it).
    fn mount_points(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for m in &self.mounts {
            let mp = &m.mount_point;
            let hidden = ["/proc", "/sys", "/dev"].iter().any(|s| mp.starts_with(s))
                || (self.cfg.fs == FsMode::Fresh && FRESH_TMP.iter().any(|t| mp.starts_with(t)));
            if mp != Path::new("/") && !hidden && !out.contains(mp) {
                out.push(mp.clone());
            }
        }
        out.sort_by_key(|m| m.components().count());
        out
    }

    /// Recreate the host directory `host` (already created in the new root)
    /// entry by entry. In a user namespace, overlayfs refuses a lower layer
    /// with mounts below it (they are locked to us), so a directory on the way
    /// to a mount point becomes a plain directory on our tmpfs, its files are
    /// bound read-only, and the overlays go one level further down.
    fn populate(&mut self, host: &Path, mount_points: &[PathBuf]) -> Result<(), String> {
        let mut entries: Vec<_> = fs::read_dir(old_path(host))
            .ctx(|| format!("listing {}", host.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let host = host.join(entry.file_name());
            let src = entry.path();
            let dst = new_path(&host);
            let Ok(meta) = fs::symlink_metadata(&src) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&src).ctx(|| format!("reading link {}", host.display()))?;
                std::os::unix::fs::symlink(&target, &dst).ctx(|| format!("linking {}", host.display()))?;
                continue;
            }
            if !meta.is_dir() {
                fs::write(&dst, b"").ctx(|| format!("creating {}", dst.display()))?;
                bind(&src, &dst, false, true)?;
                continue;
            }
            mkdir(&dst, meta.mode() & 0o7777)?;
            let fresh = self.cfg.fs == FsMode::Fresh && FRESH_TMP.iter().any(|t| host == Path::new(t));
            match (host.to_str().unwrap_or(""), &self.cfg.fs) {
                ("/proc", _) => {} // mounted fresh later
                ("/sys" | "/dev", _) | (_, FsMode::Host) => bind(&src, &dst, true, false)?,
                _ if fresh => {} // fresh tmpfs later
                _ if self.userns && mount_points.iter().any(|m| m.starts_with(&host) && *m != host) => {
                    self.populate(&host, mount_points)?
                }
                // An empty directory needs no lower layer: the one just made
                // on our tmpfs is its copy-on-write view (an overlay costs
                // ~0.1 ms to mount). Writes there are evidence all the same.
                _ if self.userns && !mount_points.contains(&host) && is_empty_dir(&src) => {
                    let fd = open_dir(&dst)?;
                    self.built.uppers.push((host.clone(), fd));
                }
                _ => self.overlay_mount_point(&host, &meta)?,
            }
        }
        Ok(())
    }

    /// An overlay at `host`; when `host` is itself a mount point that overlayfs
    /// cannot or should not stack on, a bind instead.
    fn overlay_mount_point(&mut self, host: &Path, meta: &fs::Metadata) -> Result<(), String> {
        let mount = self.mounts.iter().rev().find(|m| m.mount_point == host).cloned();
        let src = old_path(host);
        let dst = new_path(host);
        match mount {
            Some(m) if m.read_only => bind(&src, &dst, false, true),
            Some(m) if mountinfo::is_pseudo(&m.fs_type) => bind(&src, &dst, false, false),
            Some(m) => self.overlay(host, meta).or_else(|e| {
                // Writes there must not reach the host: refuse them instead.
                bind(&src, &dst, false, true)?;
                self.built.warnings.push(format!(
                    "{} ({}) cannot be copy-on-write ({e}); it is read-only in the sandbox",
                    host.display(),
                    m.fs_type
                ));
                Ok(())
            }),
            None => self.overlay(host, meta),
        }
    }

    /// The host's root filesystem as one overlay on the new root, with /dev
    /// and /sys bound whole (sets `whole`). False (nothing mounted) when
    /// overlayfs refuses it, e.g. a root it cannot stack on or a state
    /// directory inside it.
    fn root_overlay(&mut self) -> Result<bool, String> {
        let Ok(meta) = fs::metadata(OLD) else { return Ok(false) };
        if self.overlay(Path::new("/"), &meta).is_err() {
            return Ok(false);
        }
        for dir in ["/dev", "/sys"] {
            let (src, dst) = (old_path(Path::new(dir)), new_path(Path::new(dir)));
            if src.is_dir() && dst.is_dir() {
                bind(&src, &dst, true, false)?;
            }
        }
        self.whole = true;
        Ok(true)
    }

    /// As root, overlays hide the mounts below them: mount each real
    /// filesystem's own overlay on top, parents first, from `min_depth`
    /// path components ("/" is 1, "/home" 2). (In a user namespace
    /// `populate` already went down to every mount point.)
    fn nested(&mut self, min_depth: usize) -> Result<(), String> {
        for mp in self.mount_points() {
            let mp = mp.as_path();
            if mp.components().count() < min_depth {
                continue;
            }
            let src = old_path(mp);
            let dst = new_path(mp);
            let Ok(meta) = fs::metadata(&src) else {
                continue;
            };
            if !dst.exists() {
                self.built.warnings.push(format!("{} is not visible in the sandbox", mp.display()));
                continue;
            }
            if meta.is_dir() {
                self.overlay_mount_point(mp, &meta)?;
            } else {
                bind(&src, &dst, false, true)?;
            }
        }
        Ok(())
    }

    /// Mount an overlay at `host` (a host path) in the new root.
    fn overlay(&mut self, host: &Path, lower_meta: &fs::Metadata) -> Result<(), String> {
        let (upper, work) = match &self.cfg.fs {
            FsMode::Persistent { state } => {
                // An upper layer inside its own lower layer is refused by the kernel.
                // For "/" both are inside: the kernel accepts the state only
                // when it is on another filesystem (diagnose's private tmpfs).
                let base = state
                    .iter()
                    .find(|s| !s.starts_with(host) || host == Path::new("/"))
                    .ok_or_else(|| format!("no state directory lies outside {}", host.display()))?;
                let dir = old_path(base).join(encode(host));
                (dir.join("upper"), dir.join("work"))
            }
            _ => {
                self.overlays += 1;
                let dir = Path::new(UP).join(self.overlays.to_string());
                (dir.join("u"), dir.join("w"))
            }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&upper)
            .ctx(|| format!("creating {}", upper.display()))?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&work)
            .ctx(|| format!("creating {}", work.display()))?;
        // The merged root takes the upper root's attributes: copy the lower's.
        let _ = fs::set_permissions(&upper, fs::Permissions::from_mode(lower_meta.mode() & 0o7777));
        if !self.userns {
            let _ = std::os::unix::fs::chown(&upper, Some(lower_meta.uid()), Some(lower_meta.gid()));
        }
        let mut opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            escape(&old_path(host)),
            escape(&upper),
            escape(&work)
        );
        if self.userns {
            // trusted.* xattrs are root's; in a user namespace overlayfs needs user.*.
            opts.push_str(",userxattr");
        }
        // Without the index, an upper layer still held by the previous run's
        // overlay (its namespace is torn down after we return) is only warned
        // about, not refused: kernels built with index=on would say EBUSY.
        opts.push_str(",index=off");
        let target = new_path(host);
        mount(Some("overlay"), &target, Some("overlay"), MsFlags::empty(), Some(opts.as_str()))
            .ctx(|| format!("overlay on {}", host.display()))?;
        let fd = open_dir(&upper)?;
        self.built.uppers.push((host.to_path_buf(), fd));
        Ok(())
    }

    /// The working directory, and [`Config::visible`] directories, stay
    /// visible (copy-on-write) even under a fresh tmp directory:
    /// `cd /tmp/proj && flakebox run -- make` works, and so does a test binary
    /// that cargo built under `CARGO_TARGET_DIR=/tmp/...`.
    fn visible_under_fresh_tmp(&mut self) -> Result<(), String> {
        let mut dirs: Vec<PathBuf> =
            std::iter::once(self.cfg.cwd.clone()).chain(self.cfg.visible.iter().cloned()).collect();
        dirs.sort_by_key(|d| d.components().count());
        let mut done: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let under_fresh = FRESH_TMP.iter().any(|t| dir.starts_with(t) && dir != Path::new(t));
            if !under_fresh || done.iter().any(|d| dir.starts_with(d)) {
                continue;
            }
            let Ok(meta) = fs::metadata(old_path(&dir)) else { continue };
            if !meta.is_dir() {
                continue;
            }
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(new_path(&dir))
                .ctx(|| format!("creating {} in the sandbox", dir.display()))?;
            self.overlay(&dir, &meta)?;
            done.push(dir);
        }
        Ok(())
    }

    /// `--keep PATH`: an existing path is bound through (writes reach the
    /// host as they happen); a missing one is copied out when the command ends.
    fn keep(&mut self) -> Result<(), String> {
        for path in &self.cfg.keep {
            let src = old_path(path);
            let dst = new_path(path);
            if let Ok(meta) = fs::symlink_metadata(&src) {
                if !dst.exists() {
                    if let Some(parent) = dst.parent() {
                        fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
                    }
                    if meta.is_dir() {
                        mkdir(&dst, 0o755)?;
                    } else {
                        fs::write(&dst, b"").ctx(|| format!("creating {}", dst.display()))?;
                    }
                }
                bind(&src, &dst, true, false)?;
            } else {
                let mut anc = path.as_path();
                while !old_path(anc).is_dir() {
                    anc = anc.parent().unwrap_or(Path::new("/"));
                }
                let rel = path.strip_prefix(anc).unwrap_or(path).to_path_buf();
                self.built.copy_out.push(CopyOut {
                    path: path.clone(),
                    host_dir: open_dir(&old_path(anc))?,
                    rel,
                    remove: false,
                });
            }
        }
        Ok(())
    }

    fn collect(&mut self) -> Result<(), String> {
        for (inside, dest) in &self.cfg.collect {
            let dir = dest.parent().unwrap_or(Path::new("/"));
            let name = dest.file_name().ok_or_else(|| format!("{} names no file", dest.display()))?;
            self.built.copy_out.push(CopyOut {
                path: inside.clone(),
                host_dir: open_dir(&old_path(dir))?,
                rel: PathBuf::from(name),
                remove: true,
            });
        }
        Ok(())
    }

    fn proc(&mut self) -> Result<(), String> {
        let target = new_path(Path::new("/proc"));
        if !target.exists() {
            mkdir(&target, 0o555)?;
        }
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if mount(Some("proc"), &target, Some("proc"), flags, None::<&str>).is_err() {
            // A container that masks parts of /proc forbids a fresh one.
            bind(Path::new("/old/proc"), &target, true, false)?;
            self.built.warnings.push(
                "a fresh /proc could not be mounted (masked /proc in a container?); the host's is \
                 shown, so process listings include host processes"
                    .into(),
            );
        }
        Ok(())
    }

    fn private_dir(&mut self) -> Result<(), String> {
        let dir = new_path(Path::new(PRIVATE_DIR));
        mkdir(&dir, 0o755)?;
        if self.whole {
            // On the root overlay it would be in the upper layer, which
            // persists under `FsMode::Persistent`: a service's data or the
            // trace must never outlive the run.
            tmpfs(&dir, 0o755)?;
        }
        for f in &self.cfg.private_files {
            let path = dir.join(&f.name);
            fs::write(&path, &f.contents).ctx(|| format!("writing {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(f.mode))
                .ctx(|| format!("chmod {}", path.display()))?;
        }
        Ok(())
    }
}

/// True when `dir` can be listed and has no entries.
fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(false)
}

fn old_path(p: &Path) -> PathBuf {
    join_abs(OLD, p)
}

fn new_path(p: &Path) -> PathBuf {
    join_abs(NEW, p)
}

fn join_abs(base: &str, p: &Path) -> PathBuf {
    let mut out = PathBuf::from(base);
    out.extend(p.components().filter(|c| matches!(c, Component::Normal(_))));
    out
}

/// A host path as one directory name: `/home/u` → `%2Fhome%2Fu`.
fn encode(p: &Path) -> String {
    p.to_string_lossy().replace('%', "%25").replace('/', "%2F")
}

/// overlayfs splits its options on `,` and lowerdir on `:`.
fn escape(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "\\\\").replace(',', "\\,").replace(':', "\\:")
}

fn mkdir<P: AsRef<Path>>(p: P, mode: u32) -> Result<(), String> {
    let p = p.as_ref();
    match nix::unistd::mkdir(p, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(format!("mkdir {}: {}", p.display(), e.desc())),
    }
}

fn tmpfs<P: AsRef<Path>>(target: P, mode: u32) -> Result<(), String> {
    let target = target.as_ref();
    let opts = format!("mode={mode:o}");
    mount(Some("tmpfs"), target, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(opts.as_str()))
        .ctx(|| format!("tmpfs on {}", target.display()))
}

fn bind(src: &Path, dst: &Path, recursive: bool, read_only: bool) -> Result<(), String> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dst, None::<&str>, flags, None::<&str>)
        .ctx(|| format!("bind {} on {}", src.display(), dst.display()))?;
    if read_only {
        // A remount must keep the flags the kernel locked on the source.
        let kept =
            nix::sys::statvfs::statvfs(dst).map(|s| locked_flags(s.flags())).unwrap_or(MsFlags::empty());
        mount(
            None::<&str>,
            dst,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | kept,
            None::<&str>,
        )
        .ctx(|| format!("making {} read-only", dst.display()))?;
    }
    Ok(())
}

fn locked_flags(f: nix::sys::statvfs::FsFlags) -> MsFlags {
    use nix::sys::statvfs::FsFlags as F;
    let mut m = MsFlags::empty();
    for (sf, mf) in [
        (F::ST_NOSUID, MsFlags::MS_NOSUID),
        (F::ST_NODEV, MsFlags::MS_NODEV),
        (F::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (F::ST_NOATIME, MsFlags::MS_NOATIME),
        (F::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (F::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(sf) {
            m |= mf;
        }
    }
    m
}

fn open_dir(p: &Path) -> Result<OwnedFd, String> {
    let fd = open(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", p.display()))?;
    // SAFETY: `open` just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_under_a_base() {
        assert_eq!(old_path(Path::new("/home/u/x")), PathBuf::from("/old/home/u/x"));
        assert_eq!(new_path(Path::new("/")), PathBuf::from("/new"));
    }

    #[test]
    fn encodes_and_escapes() {
        assert_eq!(encode(Path::new("/home/a%b")), "%2Fhome%2Fa%25b");
        assert_eq!(escape(Path::new("/a,b:c")), "/a\\,b\\:c");
    }
}
