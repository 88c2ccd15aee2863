//! The sandbox's mount tree as a plan: a pure function from the config, the
//! host's mount table and a read-only view of the host's files to a list of
//! [`Op`]s, which [`crate::mounts`] executes (as bubblewrap builds its
//! `SetupOp` list before running it). Every decision lives here, so the
//! tests below check them without root and without namespaces.
//!
//! As root, under `FsMode::Fresh` or `Persistent`, the new root is one
//! overlay whose lower layer is the host's root filesystem and whose upper
//! layer is scratch space (`Fresh`) or a state directory (`Persistent`).
//! overlayfs does not cross mount points, so every other real filesystem
//! mounted below gets an overlay of its own, stacked on top, parents first.
//!
//! In a user namespace (and for `FsMode::Host`, or when the root overlay is
//! refused) the new root is a tmpfs of our own instead, and each top-level
//! entry of the host root is recreated in it: bound through (`Host`) or as an
//! overlay of that directory. In a user namespace the host's mounts are
//! locked to us and overlayfs refuses a lower layer with one below it, so a
//! directory on the way to a mount point is recreated entry by entry.
//!
//! Either way /proc is fresh (for the PID namespace); /tmp, /var/tmp and
//! /dev/shm are fresh tmpfs under `Fresh`; [`PRIVATE_DIR`] is its own tmpfs
//! whenever it would otherwise land in an upper layer. As root (no user
//! namespace to confine the command's capabilities) /dev is a minimal one of
//! our own (no disks, no /dev/kvm: see [`DEV_NODES`]; made once on the host,
//! see [`DEV_TEMPLATES`], and bound read-only), /sys is read-only and
//! /proc's host-wide knobs are read-only or masked (see [`Planner::guard_proc`]);
//! in a user namespace the kernel already refuses those writes, and /sys and
//! /dev are the host's, bound.

use crate::mountinfo::{self, Mount};
use crate::{FsMode, TmpSize, PRIVATE_DIR};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Where the host's root is seen once the staging tmpfs is the root.
pub const OLD: &str = "/old";
/// Where the new root is built.
pub const NEW: &str = "/new";
/// Scratch upper and work directories of the overlays (staging tmpfs).
pub const UP: &str = "/up";
/// Directories that are fresh tmpfs under `FsMode::Fresh`.
pub const FRESH_TMP: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];
/// Device nodes of the minimal /dev: (name, major, minor), numbers the
/// kernel fixes (Documentation/admin-guide/devices.txt). Made with mknod,
/// cheaper than a bind mount each.
pub const DEV_NODES: [(&str, u32, u32); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
/// The minimal /dev's links into /proc.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];
/// Where, as root, the minimal /dev is made once per set of entries and
/// kept (see [`Op::DevDir`]): root's alone, and on most systems a tmpfs,
/// emptied at boot.
pub const DEV_TEMPLATES: &str = "/run/flakebox";

/// The template directory for a minimal /dev of `entries`: named after a
/// hash of them, so that a flakebox with other entries makes its own
/// instead of using a directory that has different ones.
fn dev_template(entries: &[DevEntry]) -> PathBuf {
    // FNV-1a: stable across builds and Rust versions, unlike std's hasher.
    let hash = format!("{entries:?}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Path::new(DEV_TEMPLATES).join(format!("dev-{hash:016x}"))
}

/// Host-wide /proc entries made read-only as root (as Docker does).
const PROC_READ_ONLY: [&str; 5] = ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"];
/// Host-wide /proc files hidden (/dev/null over them) as root.
const PROC_MASKED_FILES: [&str; 9] = [
    "/proc/kcore",
    "/proc/kallsyms",
    "/proc/kmsg",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/mtrr",
    "/proc/config.gz",
];
/// Host-wide /proc directories hidden (an empty read-only directory) as root.
const PROC_MASKED_DIRS: [&str; 3] = ["/proc/acpi", "/proc/scsi", "/proc/asound"];

/// Bound whole (or mounted fresh): nothing below them is planned.
const WHOLE: [&str; 3] = ["/proc", "/sys", "/dev"];

/// What a host path is, as [`HostTree`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory with these permission bits.
    Dir {
        mode: u32,
    },
    /// Anything else that is not a symbolic link (files, devices, sockets).
    File,
    Symlink {
        target: PathBuf,
    },
}

/// A read-only view of the host's files (paths as on the host). The real one
/// looks under [`OLD`]; tests give a synthetic tree.
pub trait HostTree {
    /// What `path` is, not following a final symbolic link (None: missing).
    fn lstat(&self, path: &Path) -> Option<Kind>;
    /// What `path` is, following symbolic links (never `Symlink`).
    fn stat(&self, path: &Path) -> Option<Kind>;
    /// The names in directory `dir`, in any order.
    fn list(&self, dir: &Path) -> Result<Vec<OsString>, String>;
}

/// Everything the plan depends on besides the host's files.
pub struct Inputs<'a> {
    pub fs: &'a FsMode,
    pub cwd: &'a Path,
    pub visible: &'a [PathBuf],
    pub keep: &'a [PathBuf],
    pub collect: &'a [(PathBuf, PathBuf)],
    /// PID 1 is in a user namespace (rootless).
    pub userns: bool,
    /// The host's mount table, as seen before the sandbox's first mount.
    pub mounts: &'a [Mount],
    /// The sandbox has its own network namespace (its `net.*` sysctls are
    /// its own).
    pub own_net: bool,
    /// The size limit of each tmpfs (the fresh tmp directories, the root
    /// when it is a tmpfs, flakebox's private directory).
    pub tmp_size: TmpSize,
    /// The terminal on the command's standard input (a host path), shown as
    /// /dev/console.
    pub terminal: Option<&'a Path>,
    /// Absolute paths that look absent in the sandbox (`--hide`), checked
    /// with [`check_hide`].
    pub hide: &'a [PathBuf],
}

/// How the new root is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// One overlay of the host's root filesystem (root only; one overlay
    /// mount instead of one per top-level directory).
    Overlay,
    /// A tmpfs of our own with the host root's entries recreated in it.
    Tmpfs,
}

impl Root {
    /// The first choice for `inputs`: [`Root::Tmpfs`] is the fallback when
    /// the kernel refuses the root overlay.
    pub fn preferred(inputs: &Inputs) -> Root {
        if inputs.userns || *inputs.fs == FsMode::Host {
            Root::Tmpfs
        } else {
            Root::Overlay
        }
    }
}

/// A bind mount's reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// This mount only (`MS_BIND`).
    Single,
    /// With every mount below it (`MS_BIND | MS_REC`).
    Tree,
}

/// Whether the sandbox may write through a bind mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Remounted read-only, keeping the flags the kernel locked on the source.
    ReadOnly,
}

/// What to do about the mount point in the new root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// It exists (the plan made it, or the mount fails).
    Present,
    /// Mount only when it is a directory; otherwise skip silently.
    SkipUnlessDir,
    /// When it does not exist, skip with a warning (hidden by another mount).
    WarnIfMissing,
    /// When it does not exist, create it (and its parents).
    Create(Node),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Dir,
    File,
}

/// What to do when the kernel refuses an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Fail the set-up.
    Fail,
    /// Bind the directory read-only instead, with a warning naming the
    /// filesystem: writes there must not reach the host.
    ReadOnly { fs_type: String },
    /// The root overlay: plan again with [`Root::Tmpfs`].
    Replan,
}

/// One overlay mount at `at` (a host path) in the new root; its lower layer
/// is the host's `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub at: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// The mount's option string (lowerdir, upperdir, workdir, ...).
    pub options: String,
    /// Give the upper directory the lower's owner (root only; the merged
    /// root takes the upper root's attributes).
    pub chown: bool,
    pub target: Target,
    pub fallback: Fallback,
}

/// One step of building the new root. Paths are host paths: the interpreter
/// reads them under [`OLD`] and creates or mounts them under [`NEW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Tmpfs {
        at: PathBuf,
        mode: u32,
        /// Every tmpfs is limited (`--tmp-size`): the command writes to
        /// each, directly or through an overlay's upper layer.
        size: TmpSize,
        target: Target,
    },
    Mkdir {
        at: PathBuf,
        mode: u32,
    },
    /// Create `at` and any missing parents, each with `mode`.
    MkdirAll {
        at: PathBuf,
        mode: u32,
    },
    Symlink {
        at: PathBuf,
        target: PathBuf,
    },
    /// Bind the host's `path` to the same path in the new root.
    Bind {
        path: PathBuf,
        depth: Depth,
        access: Access,
        target: Target,
    },
    Overlay(Overlay),
    /// Bind the host's `src` on `at` (a file, created) in the new root.
    BindFile {
        src: PathBuf,
        at: PathBuf,
    },
    /// A directory of `entries` on `at`, where device nodes work (the
    /// command, without CAP_MKNOD, cannot add any). With a `template` (a host
    /// directory named after the entries), the directory is made there once
    /// and bound read-only into every sandbox: a bind costs a fraction of
    /// making the entries each run. Without one, or when the template cannot
    /// be made or bound, a writable one on the staging tmpfs, filled with
    /// `entries` there (relative to it: no path walk through the new root's
    /// overlay each), then bound.
    DevDir {
        at: PathBuf,
        entries: Vec<DevEntry>,
        template: Option<PathBuf>,
    },
    /// A new devpts instance on `at` (its own ptys, not the host's); when
    /// the kernel refuses, the host's is bound instead.
    Devpts {
        at: PathBuf,
    },
    /// Mount what the new root already has at `at` on itself with `access`
    /// (read-only, or writable again below a read-only one); skipped when
    /// `at` does not exist (it depends on the kernel's configuration).
    Rebind {
        at: PathBuf,
        access: Access,
    },
    /// Hide `at` of the new root: /dev/null over a file, an empty read-only
    /// directory over a directory; skipped when it does not exist.
    Mask {
        at: PathBuf,
        node: Node,
    },
    /// A directory on our own tmpfs is its own copy-on-write layer (an empty
    /// host directory needs no lower one): its writes are evidence too.
    TrackWrites {
        at: PathBuf,
    },
    /// A fresh /proc (falls back to the host's, with a warning, where a
    /// container forbids it).
    Proc,
    /// Copy `path` out to the host when the command ends (see [`CopyOut`]).
    CopyOut(CopyOut),
    /// Remove `at` (a tree) from the new root's copy-on-write view, so it
    /// looks absent: overlayfs records a whiteout in the throwaway (or
    /// persistent) upper layer; the host keeps its file.
    Hide {
        at: PathBuf,
    },
    Warn(String),
}

/// One entry of a [`Op::DevDir`], named relative to it, with exactly its
/// mode (the umask does not apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevEntry {
    /// A character device node.
    Node {
        name: &'static str,
        major: u32,
        minor: u32,
        mode: u32,
    },
    Symlink {
        name: &'static str,
        target: &'static str,
    },
    Dir {
        name: &'static str,
        mode: u32,
    },
}

/// A path copied out of the sandbox when the command ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOut {
    /// The path inside the sandbox.
    pub path: PathBuf,
    /// The host directory it goes to (opened before the pivot), and the
    /// path relative to it.
    pub host_dir: PathBuf,
    pub rel: PathBuf,
    /// Remove `path` in the sandbox before the command starts and after
    /// copying (collected files), so neither a stale copy nor this one stays.
    pub remove: bool,
}

/// The operations that build the new root, in order. Errors are set-up
/// failures (a directory that cannot be listed, no usable state directory).
pub fn plan(inputs: &Inputs, root: Root, host: &dyn HostTree) -> Result<Vec<Op>, String> {
    let mut p = Planner { inputs, host, ops: Vec::new(), scratch: 0 };
    let whole = root == Root::Overlay && host.stat(Path::new("/")).is_some();
    if whole {
        p.root_overlay()?;
    } else {
        p.ops.push(Op::Tmpfs { at: "/".into(), mode: 0o755, size: inputs.tmp_size, target: Target::Present });
        // overlayfs refuses a lower directory with a locked mount anywhere
        // below it, hidden or not: populate goes down past all of them (not
        // those in the wholly bound /proc, /sys and /dev).
        let locked: Vec<PathBuf> = inputs
            .mounts
            .iter()
            .map(|m| m.mount_point.clone())
            .filter(|m| m != Path::new("/") && !under_any(m, &WHOLE))
            .collect();
        p.populate(Path::new("/"), &locked)?;
    }
    let fs = inputs.fs;
    if *fs != FsMode::Host && !inputs.userns {
        // Top-level mount points are populate's when it ran.
        p.nested(if whole { 2 } else { 3 })?;
    }
    if *fs == FsMode::Fresh {
        for dir in FRESH_TMP {
            p.ops.push(Op::Tmpfs {
                at: dir.into(),
                mode: 0o1777,
                size: inputs.tmp_size,
                target: Target::SkipUnlessDir,
            });
        }
        p.visible_under_fresh_tmp()?;
    } else {
        // Its shared memory is not state we keep.
        p.ops.push(Op::Tmpfs {
            at: "/dev/shm".into(),
            mode: 0o1777,
            size: inputs.tmp_size,
            target: Target::SkipUnlessDir,
        });
    }
    p.keep();
    p.collect()?;
    p.hide()?;
    p.hide_dev_templates();
    p.ops.push(Op::Proc);
    if !inputs.userns {
        p.guard_proc();
    }
    p.ops.push(Op::Mkdir { at: PRIVATE_DIR.into(), mode: 0o755 });
    if whole {
        // On the root overlay it would be in the upper layer, which persists
        // under `FsMode::Persistent`: a service's data or the trace must
        // never outlive the run.
        p.ops.push(Op::Tmpfs {
            at: PRIVATE_DIR.into(),
            mode: 0o755,
            size: inputs.tmp_size,
            target: Target::Present,
        });
    }
    Ok(p.ops)
}

struct Planner<'a, 'b> {
    inputs: &'b Inputs<'a>,
    host: &'b dyn HostTree,
    ops: Vec<Op>,
    /// Scratch overlays planned so far (each gets its own directory).
    scratch: usize,
}

impl Planner<'_, '_> {
    /// The host's root filesystem as one overlay (root only), with a
    /// minimal /dev and a read-only /sys on it.
    fn root_overlay(&mut self) -> Result<(), String> {
        self.overlay(Path::new("/"), Target::Present, Fallback::Replan)?;
        if matches!(self.host.stat(Path::new("/dev")), Some(Kind::Dir { .. })) {
            self.minimal_dev();
        }
        if matches!(self.host.stat(Path::new("/sys")), Some(Kind::Dir { .. })) {
            self.sys(Target::SkipUnlessDir);
        }
        Ok(())
    }

    /// /sys, whole: read-only as root (sysfs knobs are host-wide), the
    /// host's in a user namespace (where the kernel refuses the writes).
    fn sys(&mut self, target: Target) {
        let access = if self.inputs.userns { Access::ReadWrite } else { Access::ReadOnly };
        self.ops.push(Op::Bind { path: "/sys".into(), depth: Depth::Tree, access, target });
    }

    /// A /dev of our own on the existing directory /dev: the harmless
    /// device nodes, a new devpts instance, /dev/shm (a tmpfs later), links
    /// into /proc, and the terminal as /dev/console.
    fn minimal_dev(&mut self) {
        let dev = Path::new("/dev");
        if crate::step_times::without("dev") {
            let (depth, access, target) = (Depth::Tree, Access::ReadWrite, Target::Present);
            self.ops.push(Op::Bind { path: dev.into(), depth, access, target });
            return;
        }
        let nodes = DEV_NODES.map(|(name, major, minor)| DevEntry::Node { name, major, minor, mode: 0o666 });
        let links = DEV_LINKS.map(|(name, target)| DevEntry::Symlink { name, target });
        let rest = [
            DevEntry::Symlink { name: "ptmx", target: "pts/ptmx" },
            DevEntry::Dir { name: "pts", mode: 0o755 },
            DevEntry::Dir { name: "shm", mode: 0o1777 },
        ];
        let entries: Vec<DevEntry> = nodes.into_iter().chain(links).chain(rest).collect();
        // A terminal is bound on /dev/console, which a read-only /dev cannot
        // have made for it: such a /dev is made per run.
        let template = self.inputs.terminal.is_none().then(|| dev_template(&entries));
        self.ops.push(Op::DevDir { at: dev.into(), entries, template });
        // On the bound directory: the bind of a tree would copy this mount too.
        self.ops.push(Op::Devpts { at: dev.join("pts") });
        if let Some(tty) = self.inputs.terminal {
            self.ops.push(Op::BindFile { src: tty.to_path_buf(), at: dev.join("console") });
        }
    }

    /// As root, where the host's /run reaches the sandbox writable
    /// (`FsMode::Host`, or kept), hide the templates the minimal /dev is
    /// bound from, whether this sandbox binds one or not (a terminal): a
    /// command that changed one would change later sandboxes' /dev. In a
    /// user namespace they are root's, not the command's, to change.
    fn hide_dev_templates(&mut self) {
        let templates = Path::new(DEV_TEMPLATES);
        let writable =
            *self.inputs.fs == FsMode::Host || self.inputs.keep.iter().any(|k| templates.starts_with(k));
        let run = matches!(self.host.stat(templates.parent().unwrap_or(templates)), Some(Kind::Dir { .. }));
        if !self.inputs.userns && writable && run {
            self.ops.push(Op::Mask { at: templates.into(), node: Node::Dir });
        }
    }

    /// As root, the host-wide knobs of the fresh /proc: /proc/sys read-only
    /// but for what the sandbox's namespaces own and a test or PID 1 writes
    /// (`net.*` in its own network namespace, `kernel.ns_last_pid`), the
    /// other writable entries read-only, those that leak the host's kernel
    /// memory or state hidden.
    fn guard_proc(&mut self) {
        for at in PROC_READ_ONLY {
            self.ops.push(Op::Rebind { at: at.into(), access: Access::ReadOnly });
        }
        if self.inputs.own_net {
            self.ops.push(Op::Rebind { at: "/proc/sys/net".into(), access: Access::ReadWrite });
        }
        self.ops.push(Op::Rebind { at: "/proc/sys/kernel/ns_last_pid".into(), access: Access::ReadWrite });
        for at in PROC_MASKED_FILES {
            self.ops.push(Op::Mask { at: at.into(), node: Node::File });
        }
        for at in PROC_MASKED_DIRS {
            self.ops.push(Op::Mask { at: at.into(), node: Node::Dir });
        }
    }

    /// Recreate the host directory `dir` (already made in the new root) entry
    /// by entry: a directory on the way to a locked mount point becomes a
    /// plain directory on our tmpfs, its files are bound read-only, and the
    /// overlays go one level further down.
    fn populate(&mut self, dir: &Path, locked: &[PathBuf]) -> Result<(), String> {
        let mut names = self.host.list(dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
        names.sort();
        let (fs, userns) = (self.inputs.fs, self.inputs.userns);
        for name in names {
            let at = dir.join(name);
            let Some(kind) = self.host.lstat(&at) else { continue };
            let mode = match kind {
                Kind::Symlink { target } => {
                    self.ops.push(Op::Symlink { at, target });
                    continue;
                }
                Kind::File => {
                    self.ops.push(Op::Bind {
                        path: at,
                        depth: Depth::Single,
                        access: Access::ReadOnly,
                        target: Target::Create(Node::File),
                    });
                    continue;
                }
                Kind::Dir { mode } => mode,
            };
            self.ops.push(Op::Mkdir { at: at.clone(), mode });
            let fresh = *fs == FsMode::Fresh && FRESH_TMP.iter().any(|t| at == Path::new(t));
            let whole = at == Path::new("/sys") || at == Path::new("/dev");
            if at == Path::new("/proc") {
                // Mounted fresh later.
            } else if at == Path::new("/dev") && !userns {
                self.minimal_dev();
            } else if at == Path::new("/sys") {
                self.sys(Target::Present);
            } else if whole || *fs == FsMode::Host {
                self.ops.push(Op::Bind {
                    path: at,
                    depth: Depth::Tree,
                    access: Access::ReadWrite,
                    target: Target::Present,
                });
            } else if fresh {
                // A fresh tmpfs later.
            } else if userns && locked.iter().any(|m| m.starts_with(&at) && *m != at) {
                self.populate(&at, locked)?;
            } else if userns && !locked.contains(&at) && self.is_empty_dir(&at) {
                // An empty directory needs no lower layer: the one just made
                // on our tmpfs is its copy-on-write view (an overlay costs
                // ~0.1 ms to mount).
                self.ops.push(Op::TrackWrites { at });
            } else {
                self.overlay_mount_point(&at, Target::Present)?;
            }
        }
        Ok(())
    }

    fn is_empty_dir(&self, dir: &Path) -> bool {
        self.host.list(dir).map(|n| n.is_empty()).unwrap_or(false)
    }

    /// As root, overlays hide the mounts below them: mount each real
    /// filesystem's own overlay on top, parents first, from `min_depth` path
    /// components ("/" is 1, "/home" 2).
    fn nested(&mut self, min_depth: usize) -> Result<(), String> {
        for mp in self.mount_points() {
            if mp.components().count() < min_depth {
                continue;
            }
            match self.host.stat(&mp) {
                None => {}
                Some(Kind::Dir { .. }) => self.overlay_mount_point(&mp, Target::WarnIfMissing)?,
                Some(_) => self.ops.push(Op::Bind {
                    path: mp,
                    depth: Depth::Single,
                    access: Access::ReadOnly,
                    target: Target::WarnIfMissing,
                }),
            }
        }
        Ok(())
    }

    /// Mount points that matter for the copy-on-write tree, parents first:
    /// not "/", nothing under /proc, /sys or /dev (bound whole), no fresh
    /// tmp directory nor anything under one (hidden by it).
    fn mount_points(&self) -> Vec<PathBuf> {
        let fresh = *self.inputs.fs == FsMode::Fresh;
        let mut out: Vec<PathBuf> = Vec::new();
        for m in self.inputs.mounts {
            let mp = &m.mount_point;
            let hidden = under_any(mp, &WHOLE) || (fresh && under_any(mp, &FRESH_TMP));
            if mp != Path::new("/") && !hidden && !out.contains(mp) {
                out.push(mp.clone());
            }
        }
        out.sort_by_key(|m| m.components().count());
        out
    }

    /// An overlay at `at`; when `at` is itself a mount point that overlayfs
    /// cannot or should not stack on, a bind instead.
    fn overlay_mount_point(&mut self, at: &Path, target: Target) -> Result<(), String> {
        // The topmost mount there is the one seen.
        let mount = self.inputs.mounts.iter().rev().find(|m| m.mount_point == at);
        let bind = |access| Op::Bind { path: at.to_path_buf(), depth: Depth::Single, access, target };
        match mount {
            Some(m) if m.read_only => self.ops.push(bind(Access::ReadOnly)),
            Some(m) if mountinfo::is_pseudo(&m.fs_type) => self.ops.push(bind(Access::ReadWrite)),
            Some(m) => {
                let fs_type = m.fs_type.clone();
                if let Err(e) = self.overlay(at, target, Fallback::ReadOnly { fs_type: fs_type.clone() }) {
                    self.ops.push(bind(Access::ReadOnly));
                    self.ops.push(Op::Warn(read_only_warning(at, &fs_type, &e)));
                }
            }
            None => self.overlay(at, target, Fallback::Fail)?,
        }
        Ok(())
    }

    /// The working directory, and the visible directories, stay visible
    /// (copy-on-write) even under a fresh tmp directory: `cd /tmp/proj &&
    /// flakebox run -- make` works, and so does a test binary that cargo
    /// built under `CARGO_TARGET_DIR=/tmp/...`.
    fn visible_under_fresh_tmp(&mut self) -> Result<(), String> {
        let inputs = self.inputs;
        let mut dirs: Vec<&Path> =
            std::iter::once(inputs.cwd).chain(inputs.visible.iter().map(PathBuf::as_path)).collect();
        dirs.sort_by_key(|d| d.components().count());
        let mut done: Vec<&Path> = Vec::new();
        for dir in dirs {
            let under_fresh = FRESH_TMP.iter().any(|t| dir.starts_with(t) && dir != Path::new(t));
            if !under_fresh || done.iter().any(|d| dir.starts_with(d)) {
                continue;
            }
            if !matches!(self.host.stat(dir), Some(Kind::Dir { .. })) {
                continue;
            }
            self.ops.push(Op::MkdirAll { at: dir.to_path_buf(), mode: 0o755 });
            self.overlay(dir, Target::Present, Fallback::Fail)?;
            done.push(dir);
        }
        Ok(())
    }

    /// `--keep PATH`: an existing path is bound through (writes reach the
    /// host as they happen); a missing one is copied out when the command
    /// ends, into its nearest existing ancestor.
    fn keep(&mut self) {
        for path in self.inputs.keep {
            if let Some(Kind::Symlink { target }) = self.host.lstat(path) {
                // A bind follows it: the file it names, anywhere on the
                // host, would become writable.
                self.ops.push(Op::Warn(format!(
                    "--keep {}: a symbolic link (to {}) is not kept; its writes stay in the sandbox \
                     (keep the path it points to instead)",
                    path.display(),
                    target.display()
                )));
            } else if let Some(kind) = self.host.lstat(path) {
                let node = if matches!(kind, Kind::Dir { .. }) { Node::Dir } else { Node::File };
                self.ops.push(Op::Bind {
                    path: path.clone(),
                    depth: Depth::Tree,
                    access: Access::ReadWrite,
                    target: Target::Create(node),
                });
            } else {
                let mut anc = path.as_path();
                while anc != Path::new("/") && !matches!(self.host.stat(anc), Some(Kind::Dir { .. })) {
                    anc = anc.parent().unwrap_or(Path::new("/"));
                }
                let rel = path.strip_prefix(anc).unwrap_or(path).to_path_buf();
                self.ops.push(Op::CopyOut(CopyOut {
                    path: path.clone(),
                    host_dir: anc.to_path_buf(),
                    rel,
                    remove: false,
                }));
            }
        }
    }

    /// `--hide PATH`: removed from the copy-on-write view once every mount
    /// is in place (a path under a fresh tmp directory is absent already).
    fn hide(&mut self) -> Result<(), String> {
        let i = self.inputs;
        for path in i.hide {
            let how = check_hide(path, i.fs, i.cwd, i.visible, i.keep)?;
            if how == HideBy::Removing && self.host.lstat(path).is_some() {
                self.ops.push(Op::Hide { at: path.clone() });
            }
        }
        Ok(())
    }

    fn collect(&mut self) -> Result<(), String> {
        for (inside, dest) in self.inputs.collect {
            let dir = dest.parent().unwrap_or(Path::new("/"));
            let name = dest.file_name().ok_or_else(|| format!("{} names no file", dest.display()))?;
            self.ops.push(Op::CopyOut(CopyOut {
                path: inside.clone(),
                host_dir: dir.to_path_buf(),
                rel: PathBuf::from(name),
                remove: true,
            }));
        }
        Ok(())
    }

    /// An overlay of the host's `at`, its upper layer scratch space or, under
    /// `FsMode::Persistent`, a directory of the state kept between runs.
    fn overlay(&mut self, at: &Path, target: Target, fallback: Fallback) -> Result<(), String> {
        let (upper, work) = match self.inputs.fs {
            FsMode::Persistent { state } => {
                // An upper layer inside its own lower layer is refused by the
                // kernel. For "/" both are inside: the kernel accepts the
                // state only when it is on another filesystem (diagnose's
                // private tmpfs).
                let base = state
                    .iter()
                    .find(|s| !s.starts_with(at) || at == Path::new("/"))
                    .ok_or_else(|| format!("no state directory lies outside {}", at.display()))?;
                let dir = old_path(base).join(encode(at));
                (dir.join("upper"), dir.join("work"))
            }
            _ => {
                self.scratch += 1;
                let dir = Path::new(UP).join(self.scratch.to_string());
                (dir.join("u"), dir.join("w"))
            }
        };
        let mut options = format!(
            "lowerdir={},upperdir={},workdir={}",
            escape(&old_path(at)),
            escape(&upper),
            escape(&work)
        );
        if self.inputs.userns {
            // trusted.* xattrs are root's; in a user namespace overlayfs needs user.*.
            options.push_str(",userxattr");
        }
        // Without the index, an upper layer still held by the previous run's
        // overlay (its namespace is torn down after we return) is only warned
        // about, not refused: kernels built with index=on would say EBUSY.
        options.push_str(",index=off");
        self.ops.push(Op::Overlay(Overlay {
            at: at.to_path_buf(),
            upper,
            work,
            options,
            chown: !self.inputs.userns,
            target,
            fallback,
        }));
        Ok(())
    }
}

/// How a `--hide` path comes to look absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HideBy {
    /// Removed from the sandbox's copy-on-write view before the command starts.
    Removing,
    /// It lies under a directory that is fresh in the sandbox (/tmp,
    /// /var/tmp, /dev/shm under fs isolation): absent anyway.
    FreshTmp,
}

/// Whether `path` can be hidden from a sandbox with this fs mode, working
/// directory, visible and kept paths; the error names the path and what to
/// do instead. Only a copy-on-write view can hide a path without touching
/// the host.
pub fn check_hide(
    path: &Path,
    fs: &FsMode,
    cwd: &Path,
    visible: &[PathBuf],
    keep: &[PathBuf],
) -> Result<HideBy, String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!(
            "--hide {shown}: not an absolute path; give it from / (here: {})",
            cwd.join(path).display()
        ));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return Err(format!("--hide {shown}: write the path without . or .. components"));
    }
    if path == Path::new("/") {
        return Err("--hide /: the whole filesystem cannot be hidden; name the file or directory".into());
    }
    if let Some(w) = WHOLE.iter().find(|w| path.starts_with(w)) {
        return Err(format!(
            "--hide {shown}: {w} is the sandbox's own, not the host's; nothing there to hide"
        ));
    }
    if *fs == FsMode::Host {
        return Err(format!(
            "--hide {shown}: fs is shared (--share fs), so hiding would delete the host's file; \
             drop --share fs (the sandbox's copy-on-write view hides it)"
        ));
    }
    if let Some(k) = keep.iter().find(|k| path.starts_with(k) || k.starts_with(path)) {
        return Err(format!(
            "--hide {shown}: overlaps --keep {} (kept paths are the host's own, so hiding would delete \
             them there); drop one of the two",
            k.display()
        ));
    }
    let fresh = *fs == FsMode::Fresh && under_any(path, &FRESH_TMP);
    let shown_anyway =
        std::iter::once(cwd).chain(visible.iter().map(PathBuf::as_path)).any(|d| path.starts_with(d));
    if fresh && !shown_anyway {
        return Ok(HideBy::FreshTmp);
    }
    Ok(HideBy::Removing)
}

/// The warning for a filesystem that cannot be copy-on-write.
pub fn read_only_warning(at: &Path, fs_type: &str, why: &str) -> String {
    format!("{} ({fs_type}) cannot be copy-on-write ({why}); it is read-only in the sandbox", at.display())
}

fn under_any(p: &Path, dirs: &[&str]) -> bool {
    dirs.iter().any(|d| p.starts_with(d))
}

/// `p` (a host path) under the host's root as seen from the staging tmpfs.
pub fn old_path(p: &Path) -> PathBuf {
    join_abs(OLD, p)
}

/// `p` (a host path) in the new root being built.
pub fn new_path(p: &Path) -> PathBuf {
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

#[cfg(test)]
mod tests;
