//! Mount namespace: build the sandbox's root and pivot into it, by
//! executing the plan [`crate::mount_plan`] computes (where every decision
//! about what is mounted where is made and unit-tested).
//!
//! All scratch lives on a staging tmpfs mounted over /tmp *in this mount
//! namespace only*, then made the root by a first pivot_root (which also moves
//! it off /tmp, so the host's /tmp is visible again under /old). Nothing is
//! created on the host except `Persistent` state, which the caller owns, and,
//! as root, the template of the minimal /dev (made once, then only bound).

use crate::error::Context;
use crate::mount_plan::{
    self, Access, Depth, DevEntry, Fallback, HostTree, Inputs, Kind, Node, Op, Root, Target,
};
use crate::mount_plan::{new_path, old_path, NEW, UP};
use crate::{mountinfo, Config, TmpSize, PRIVATE_DIR};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, pivot_root};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What the command's writes went to, for evidence and `--keep`.
pub struct Built {
    /// (mount point inside the sandbox, its overlay's upper directory).
    pub uppers: Vec<(PathBuf, OwnedFd)>,
    /// `--keep` paths that did not exist yet, and collected files: copied
    /// out when the command ends.
    pub copy_out: Vec<CopyOut>,
    pub warnings: Vec<String>,
}

/// A planned [`mount_plan::CopyOut`] with its host directory opened.
pub struct CopyOut {
    /// The path inside the sandbox (the same as on the host).
    pub path: PathBuf,
    /// The host directory it goes to, and `path` relative to it.
    pub host_dir: OwnedFd,
    pub rel: PathBuf,
    /// Remove `path` in the sandbox before the command starts and after
    /// copying (collected files), so neither a stale copy nor this one stays.
    pub remove: bool,
}

/// Build the root and pivot into it. Runs in PID 1, in the new namespaces.
pub fn build(cfg: &Config, userns: bool) -> Result<Built, String> {
    let host_mounts = mountinfo::read_own()?;
    let terminal = terminal();
    stage(cfg.tmp_size)?;
    let inputs = Inputs {
        fs: &cfg.fs,
        cwd: &cfg.cwd,
        visible: &cfg.visible,
        keep: &cfg.keep,
        collect: &cfg.collect,
        userns,
        mounts: &host_mounts,
        own_net: cfg.isolate_net,
        terminal: terminal.as_deref(),
        tmp_size: cfg.tmp_size,
        hide: &cfg.hide,
    };
    let mut built = Built { uppers: Vec::new(), copy_out: Vec::new(), warnings: Vec::new() };
    let root = Root::preferred(&inputs);
    let ops = mount_plan::plan(&inputs, root, &OldRoot)?;
    if let Err(Refused) = execute(&ops, &mut built)? {
        // The kernel refused the root overlay (the plan's first mount, so
        // nothing else is mounted yet): a root it cannot stack on, or a state
        // directory inside it. Entry by entry on a tmpfs instead.
        // Its scratch directories are numbered afresh: start from an empty /up.
        fs::remove_dir_all(UP).ctx(|| format!("clearing {UP}"))?;
        mkdir(UP, 0o755)?;
        let ops = mount_plan::plan(&inputs, Root::Tmpfs, &OldRoot)?;
        built = Built { uppers: Vec::new(), copy_out: Vec::new(), warnings: Vec::new() };
        if let Err(Refused) = execute(&ops, &mut built)? {
            return Err("the tmpfs plan asked for another plan".into());
        }
    }
    write_private_files(cfg)?;
    enter()?;
    Ok(built)
}

/// The terminal on standard input, as a host path (read before the pivot).
fn terminal() -> Option<PathBuf> {
    // SAFETY: isatty on a descriptor number; no memory involved.
    if unsafe { libc::isatty(0) } != 1 {
        return None;
    }
    fs::read_link("/proc/self/fd/0").ok().filter(|p| p.starts_with("/dev/"))
}

/// Make the mount tree private, mount the staging tmpfs and make it the root,
/// with the host's at [`mount_plan::OLD`]. The overlays' upper layers are on
/// it (the command's writes outside tmp), so it has the tmp directories'
/// size limit: a command filling it gets ENOSPC, not the host's memory.
/// Device nodes work on it, so that the minimal /dev, bound from it, needs no
/// remount: the command sees nothing else of it but through the overlays
/// (whose own mounts decide) and read-only empty directories.
fn stage(size: TmpSize) -> Result<(), String> {
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .ctx(|| "making the mount tree private".into())?;
    tmpfs_with("/tmp", 0o755, size, MsFlags::MS_NOSUID).map_err(|e| format!("{e} (staging)"))?;
    mkdir("/tmp/old", 0o755)?;
    pivot_root("/tmp", "/tmp/old").ctx(|| "pivot_root into the staging tmpfs".into())?;
    chdir("/").ctx(|| "chdir /".into())?;
    mkdir(NEW, 0o755)?;
    mkdir(UP, 0o755)
}

fn write_private_files(cfg: &Config) -> Result<(), String> {
    let dir = new_path(Path::new(PRIVATE_DIR));
    for f in &cfg.private_files {
        let path = dir.join(&f.name);
        fs::write(&path, &f.contents).ctx(|| format!("writing {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(f.mode))
            .ctx(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}

/// Pivot into the new root and drop the staging tmpfs and the host's root.
fn enter() -> Result<(), String> {
    let put_old = format!("{NEW}{PRIVATE_DIR}/.oldroot");
    mkdir(&put_old, 0o700)?;
    pivot_root(NEW, put_old.as_str()).ctx(|| "pivot_root into the new root".into())?;
    chdir("/").ctx(|| "chdir /".into())?;
    let old = format!("{PRIVATE_DIR}/.oldroot");
    umount2(old.as_str(), MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    fs::remove_dir(&old).ctx(|| format!("removing {old}"))
}

/// The host's files as seen from the staging root (under [`mount_plan::OLD`]).
struct OldRoot;

impl HostTree for OldRoot {
    fn lstat(&self, path: &Path) -> Option<Kind> {
        let src = old_path(path);
        let meta = fs::symlink_metadata(&src).ok()?;
        if meta.file_type().is_symlink() {
            // An unreadable link is left out, as one that vanished.
            return fs::read_link(&src).ok().map(|target| Kind::Symlink { target });
        }
        Some(kind(&meta))
    }

    fn stat(&self, path: &Path) -> Option<Kind> {
        fs::metadata(old_path(path)).ok().map(|m| kind(&m))
    }

    fn list(&self, dir: &Path) -> Result<Vec<OsString>, String> {
        let entries = fs::read_dir(old_path(dir)).map_err(|e| e.to_string())?;
        Ok(entries.filter_map(Result::ok).map(|e| e.file_name()).collect())
    }
}

fn kind(meta: &fs::Metadata) -> Kind {
    if meta.is_dir() {
        Kind::Dir { mode: meta.mode() & 0o7777 }
    } else {
        Kind::File
    }
}

/// The kernel refused the root overlay: plan again with [`Root::Tmpfs`].
struct Refused;

/// Execute `ops` in order, recording uppers, copy-outs and warnings (and,
/// for benchmarks, the time some steps take: [`crate::step_times`]).
fn execute(ops: &[Op], built: &mut Built) -> Result<Result<(), Refused>, String> {
    let mut times = StepTimes::default();
    for op in ops {
        let t = crate::step_times::now();
        let result = execute_one(op, built);
        times.add(op, t);
        match result? {
            Ok(()) => {}
            Err(Refused) => return Ok(Err(Refused)),
        }
    }
    times.record();
    Ok(Ok(()))
}

/// Time spent in the root-only hardening steps, for [`crate::step_times`].
#[derive(Default)]
struct StepTimes {
    dev_minimal: u64,
    /// Part of `dev_minimal`: the new devpts instance.
    dev_devpts: u64,
    dev_host: u64,
    proc_guards: u64,
    dev_host_seen: bool,
}

impl StepTimes {
    fn add(&mut self, op: &Op, start: u64) {
        if !crate::step_times::enabled() {
            return;
        }
        let ns = crate::step_times::now().saturating_sub(start);
        let dev = Path::new("/dev");
        match op {
            // The host's /dev, bound whole (rootless).
            Op::Bind { path, .. } if path == dev => {
                self.dev_host += ns;
                self.dev_host_seen = true;
            }
            // Every mode has a fresh /dev/shm: not part of the minimal /dev.
            Op::Tmpfs { .. } => {}
            Op::Devpts { .. } => {
                self.dev_minimal += ns;
                self.dev_devpts += ns;
            }
            Op::DevDir { .. } => self.dev_minimal += ns,
            // Below /dev: /dev itself is made for the host's bind too.
            Op::Mkdir { at, .. } | Op::Symlink { at, .. } | Op::BindFile { at, .. }
                if at.starts_with(dev) && at != dev =>
            {
                self.dev_minimal += ns
            }
            Op::Rebind { .. } | Op::Mask { .. } => self.proc_guards += ns,
            _ => {}
        }
    }

    fn record(&self) {
        if self.dev_host_seen {
            crate::step_times::record_total(b"dev_host", self.dev_host);
        }
        if self.dev_minimal > 0 {
            crate::step_times::record_total(b"dev_minimal", self.dev_minimal);
            crate::step_times::record_total(b"dev_devpts", self.dev_devpts);
        }
        if self.proc_guards > 0 {
            crate::step_times::record_total(b"proc_guards", self.proc_guards);
        }
    }
}

/// One operation of [`execute`].
fn execute_one(op: &Op, built: &mut Built) -> Result<Result<(), Refused>, String> {
    match op {
        Op::Tmpfs { at, mode, size, target } => {
            if let Some(dst) = ready(at, *target, built)? {
                tmpfs(&dst, *mode, *size)?;
            }
        }
        Op::Mkdir { at, mode } => mkdir(new_path(at), *mode)?,
        Op::MkdirAll { at, mode } => {
            let dst = new_path(at);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(*mode)
                .create(&dst)
                .ctx(|| format!("creating {} in the sandbox", at.display()))?;
        }
        Op::Symlink { at, target } => {
            std::os::unix::fs::symlink(target, new_path(at)).ctx(|| format!("linking {}", at.display()))?
        }
        Op::Bind { path, depth, access, target } => {
            if let Some(dst) = ready(path, *target, built)? {
                bind(&old_path(path), &dst, *depth, *access)?;
            }
        }
        Op::Overlay(o) => {
            let Some(dst) = ready(&o.at, o.target, built)? else { return Ok(Ok(())) };
            match (overlay(o, &dst), &o.fallback) {
                (Ok(upper), _) => built.uppers.push((o.at.clone(), upper)),
                (Err(_), Fallback::Replan) => return Ok(Err(Refused)),
                (Err(e), Fallback::Fail) => return Err(e),
                (Err(e), Fallback::ReadOnly { fs_type }) => {
                    // Writes there must not reach the host: refuse them instead.
                    bind(&old_path(&o.at), &dst, Depth::Single, Access::ReadOnly)?;
                    built.warnings.push(mount_plan::read_only_warning(&o.at, fs_type, &e));
                }
            }
        }
        Op::BindFile { src, at } => {
            if let Some(dst) = ready(at, Target::Create(Node::File), built)? {
                bind(&old_path(src), &dst, Depth::Single, Access::ReadWrite)?;
            }
        }
        Op::DevDir { at, entries, template } => {
            if let Some(t) = template {
                // Anything amiss with the template (no /run, a kernel or a
                // container that refuses a flag): made per run instead.
                if bind_dev_template(&old_path(t), entries, &new_path(at)).is_ok() {
                    return Ok(Ok(()));
                }
            }
            // A directory of the staging tmpfs (nosuid, device nodes allowed),
            // not a filesystem of its own: a new superblock costs its set-up
            // and its teardown.
            let dir = Path::new(UP).join("dev");
            mkdir(&dir, 0o755)?;
            let fd = open_dir(&dir)?;
            // Under umask 0 each entry gets its mode at once: no chmod after.
            // PID 1 is single-threaded and the umask is restored before
            // anything else is created (the command inherits it).
            let umask = nix::sys::stat::umask(Mode::empty());
            let made = entries.iter().try_for_each(|e| dev_entry(&fd, e));
            nix::sys::stat::umask(umask);
            made.map_err(|(name, e)| {
                format!("creating {} in the sandbox: {}", at.join(name).display(), e.desc())
            })?;
            bind(&dir, &new_path(at), Depth::Single, Access::ReadWrite)?;
        }
        Op::Devpts { at } => devpts(at, built)?,
        Op::Rebind { at, access } => {
            let p = new_path(at);
            if p.exists() {
                rebind(&p, *access)?;
            }
        }
        Op::Mask { at, node } => {
            let p = new_path(at);
            if p.exists() {
                mask(&p, *node)?;
            }
        }
        Op::TrackWrites { at } => built.uppers.push((at.clone(), open_dir(&new_path(at))?)),
        Op::Proc => proc(built)?,
        Op::CopyOut(c) => built.copy_out.push(CopyOut {
            path: c.path.clone(),
            host_dir: open_dir(&old_path(&c.host_dir))?,
            rel: c.rel.clone(),
            remove: c.remove,
        }),
        Op::Hide { at } => hostfs::remove_tree(&new_path(at)).map_err(|e| {
            format!("--hide {}: cannot remove it from the sandbox's copy-on-write view: {e}", at.display())
        })?,
        Op::Warn(w) => built.warnings.push(w.clone()),
    }
    Ok(Ok(()))
}

/// The mount point for `at` in the new root, made ready as `target` asks;
/// None: skip this mount.
fn ready(at: &Path, target: Target, built: &mut Built) -> Result<Option<PathBuf>, String> {
    let dst = new_path(at);
    match target {
        Target::Present => {}
        Target::SkipUnlessDir if !dst.is_dir() => return Ok(None),
        Target::SkipUnlessDir => {}
        Target::WarnIfMissing if !dst.exists() => {
            built.warnings.push(format!("{} is not visible in the sandbox", at.display()));
            return Ok(None);
        }
        Target::WarnIfMissing => {}
        Target::Create(_) if dst.exists() => {}
        Target::Create(node) => {
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).ctx(|| format!("creating {}", parent.display()))?;
            }
            match node {
                Node::Dir => mkdir(&dst, 0o755)?,
                Node::File => fs::write(&dst, b"").ctx(|| format!("creating {}", dst.display()))?,
            }
        }
    }
    Ok(Some(dst))
}

/// Mount the overlay `o` on `dst`; return its upper directory, opened.
fn overlay(o: &mount_plan::Overlay, dst: &Path) -> Result<OwnedFd, String> {
    for dir in [&o.upper, &o.work] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .ctx(|| format!("creating {}", dir.display()))?;
    }
    // The merged root takes the upper root's attributes: copy the lower's.
    if let Ok(lower) = fs::metadata(old_path(&o.at)) {
        let _ = fs::set_permissions(&o.upper, fs::Permissions::from_mode(lower.mode() & 0o7777));
        if o.chown {
            let _ = std::os::unix::fs::chown(&o.upper, Some(lower.uid()), Some(lower.gid()));
        }
    }
    mount(Some("overlay"), dst, Some("overlay"), MsFlags::empty(), Some(o.options.as_str()))
        .ctx(|| format!("overlay on {}", o.at.display()))?;
    open_dir(&o.upper)
}

fn proc(built: &mut Built) -> Result<(), String> {
    let target = new_path(Path::new("/proc"));
    if !target.exists() {
        mkdir(&target, 0o555)?;
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if mount(Some("proc"), &target, Some("proc"), flags, None::<&str>).is_err() {
        // A container that masks parts of /proc forbids a fresh one.
        bind(&old_path(Path::new("/proc")), &target, Depth::Tree, Access::ReadWrite)?;
        built.warnings.push(
            "a fresh /proc could not be mounted (masked /proc in a container?); the host's is \
             shown, so process listings include host processes"
                .into(),
        );
    }
    Ok(())
}

/// Create `entry` in the directory `dir`; the error names it.
fn dev_entry(dir: &OwnedFd, entry: &DevEntry) -> Result<(), (&'static str, nix::Error)> {
    use nix::sys::stat::{makedev, mknodat, SFlag};
    use std::os::fd::AsRawFd;
    let dir = Some(dir.as_raw_fd());
    match *entry {
        DevEntry::Node { name, major, minor, mode } => {
            let dev = makedev(u64::from(major), u64::from(minor));
            mknodat(dir, name, SFlag::S_IFCHR, Mode::from_bits_truncate(mode), dev).map_err(|e| (name, e))
        }
        DevEntry::Symlink { name, target } => {
            nix::unistd::symlinkat(target, dir, name).map_err(|e| (name, e))
        }
        DevEntry::Dir { name, mode } => {
            nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(mode)).map_err(|e| (name, e))
        }
    }
}

/// Bind the template `src` (a host directory, seen from the staging root)
/// read-only on `dst`, making or completing it first. nosuid, and without
/// the nodev its filesystem may have (/run usually has): its nodes are why
/// it is there. Read-only, the command cannot change it for the next run.
fn bind_dev_template(src: &Path, entries: &[DevEntry], dst: &Path) -> Result<(), String> {
    if !dev_template_ready(src) {
        make_dev_template(src, entries)?;
    }
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .ctx(|| format!("bind {} on {}", src.display(), dst.display()))?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
    if let Err(e) = mount(None::<&str>, dst, None::<&str>, flags, None::<&str>) {
        umount2(dst, MntFlags::MNT_DETACH).ctx(|| format!("unmounting {}", dst.display()))?;
        return Err(format!("remounting {} read-only: {}", dst.display(), e.desc()));
    }
    Ok(())
}

/// A template is complete once its mode is 0755: it is made 0700 and
/// opened up only after every entry is checked, so that neither a make cut
/// short (flakebox killed) nor one under way is ever bound. Root's alone.
fn dev_template_ready(dir: &Path) -> bool {
    use nix::sys::stat::{lstat, SFlag};
    lstat(dir).is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            && st.st_uid == 0
            && st.st_mode & 0o7777 == 0o755
    })
}

/// Make the template `dir` with `entries`, or complete one that another
/// flakebox is making or left incomplete: an entry that exists already must
/// be the planned node, link or directory (its mode is set then). Its parent
/// must be root's and writable by root alone (nobody else may swap the
/// template).
fn make_dev_template(dir: &Path, entries: &[DevEntry]) -> Result<(), String> {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{fchmod, fchmodat, fstat, fstatat, FchmodatFlags, SFlag};
    use std::os::fd::AsRawFd;
    let parent = dir.parent().ok_or_else(|| format!("{} has no parent", dir.display()))?;
    mkdir(parent, 0o755)?;
    let st = fstat(open_dir(parent)?.as_raw_fd()).ctx(|| format!("stat {}", parent.display()))?;
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(format!("{} is not root's alone", parent.display()));
    }
    mkdir(dir, 0o700)?;
    let fd = open_dir(dir)?;
    let raw = fd.as_raw_fd();
    let st = fstat(raw).ctx(|| format!("stat {}", dir.display()))?;
    if st.st_uid != 0 {
        return Err(format!("{} is not root's", dir.display()));
    }
    // Modes are set after: the umask is the process's, and this may run
    // beside other threads (tests).
    let made = entries.iter().try_for_each(|e| match dev_entry(&fd, e) {
        Err((_, nix::Error::EEXIST)) => Ok(()),
        r => r,
    });
    made.map_err(|(name, e)| format!("creating {}: {}", dir.join(name).display(), e.desc()))?;
    for e in entries {
        let (name, want_kind, want_mode, want_rdev) = match *e {
            DevEntry::Node { name, major, minor, mode } => {
                (name, SFlag::S_IFCHR, mode, nix::sys::stat::makedev(u64::from(major), u64::from(minor)))
            }
            DevEntry::Symlink { name, target } => {
                let got = nix::fcntl::readlinkat(Some(raw), name).ctx(|| format!("reading {name}"))?;
                if got != std::ffi::OsStr::new(target) {
                    return Err(format!("{} is not a link to {target}", dir.join(name).display()));
                }
                continue;
            }
            DevEntry::Dir { name, mode } => (name, SFlag::S_IFDIR, mode, 0),
        };
        let st = fstatat(Some(raw), name, AtFlags::AT_SYMLINK_NOFOLLOW).ctx(|| format!("stat {name}"))?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let rdev_ok = want_kind != SFlag::S_IFCHR || st.st_rdev == want_rdev;
        if kind != want_kind || !rdev_ok || st.st_uid != 0 {
            return Err(format!("{} is not the planned entry", dir.join(name).display()));
        }
        if st.st_mode & 0o7777 != want_mode {
            // Not a link (checked above): following it is not an issue.
            fchmodat(Some(raw), name, Mode::from_bits_truncate(want_mode), FchmodatFlags::FollowSymlink)
                .ctx(|| format!("chmod {}", dir.join(name).display()))?;
        }
    }
    fchmod(raw, Mode::from_bits_truncate(0o755)).ctx(|| format!("chmod {}", dir.display()))
}

/// A new devpts instance (ptys of the sandbox's own, /dev/ptmx usable by
/// all); the host's bound when the kernel refuses.
fn devpts(at: &Path, built: &mut Built) -> Result<(), String> {
    let dst = new_path(at);
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let opts = "newinstance,ptmxmode=0666,mode=620";
    if let Err(e) = mount(Some("devpts"), &dst, Some("devpts"), flags, Some(opts)) {
        bind(&old_path(at), &dst, Depth::Tree, Access::ReadWrite)?;
        built.warnings.push(format!("a new devpts could not be mounted ({}); the host's is shown", e.desc()));
    }
    Ok(())
}

/// Mount `p` (in the new root) on itself, read-only or writable again.
fn rebind(p: &Path, access: Access) -> Result<(), String> {
    mount(Some(p), p, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .ctx(|| format!("bind {} on itself", p.display()))?;
    remount(p, access)
}

/// Remount the bind mount on `p` with `access`, keeping the flags the
/// kernel locked on its source.
fn remount(p: &Path, access: Access) -> Result<(), String> {
    let kept = nix::sys::statvfs::statvfs(p).map(|s| locked_flags(s.flags())).unwrap_or(MsFlags::empty());
    let ro = if access == Access::ReadOnly { MsFlags::MS_RDONLY } else { MsFlags::empty() };
    mount(None::<&str>, p, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro | kept, None::<&str>)
        .ctx(|| {
            format!("remounting {} {}", p.display(), if ro.is_empty() { "writable" } else { "read-only" })
        })
}

/// Hide `p`: /dev/null over a file (writes to it go nowhere), an empty
/// read-only directory over a directory (bound: no new filesystem to set up
/// and tear down).
fn mask(p: &Path, node: Node) -> Result<(), String> {
    match node {
        Node::File => bind(&old_path(Path::new("/dev/null")), p, Depth::Single, Access::ReadWrite),
        Node::Dir => {
            let empty = Path::new(UP).join("empty");
            mkdir(&empty, 0o555)?;
            bind(&empty, p, Depth::Single, Access::ReadOnly)
        }
    }
}

fn mkdir<P: AsRef<Path>>(p: P, mode: u32) -> Result<(), String> {
    let p = p.as_ref();
    match nix::unistd::mkdir(p, Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(format!("mkdir {}: {}", p.display(), e.desc())),
    }
}

fn tmpfs<P: AsRef<Path>>(target: P, mode: u32, size: TmpSize) -> Result<(), String> {
    tmpfs_with(target, mode, size, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
}

fn tmpfs_with<P: AsRef<Path>>(target: P, mode: u32, size: TmpSize, flags: MsFlags) -> Result<(), String> {
    let target = target.as_ref();
    let opts = format!("mode={mode:o},{}", size.mount_option());
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(opts.as_str()))
        .ctx(|| format!("tmpfs on {}", target.display()))
}

fn bind(src: &Path, dst: &Path, depth: Depth, access: Access) -> Result<(), String> {
    let flags = match depth {
        Depth::Single => MsFlags::MS_BIND,
        Depth::Tree => MsFlags::MS_BIND | MsFlags::MS_REC,
    };
    mount(Some(src), dst, None::<&str>, flags, None::<&str>)
        .ctx(|| format!("bind {} on {}", src.display(), dst.display()))?;
    match (access, depth) {
        (Access::ReadWrite, _) => Ok(()),
        (Access::ReadOnly, Depth::Single) => remount(dst, Access::ReadOnly),
        (Access::ReadOnly, Depth::Tree) => read_only_tree(dst),
    }
}

/// Make the mount on `dst` and every mount below it read-only
/// (mount_setattr, Linux 5.12; before it, the top mount only, with MS_REMOUNT).
fn read_only_tree(dst: &Path) -> Result<(), String> {
    let path = std::ffi::CString::new(dst.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} contains a NUL byte", dst.display()))?;
    match set_read_only(libc::AT_FDCWD, &path, libc::AT_RECURSIVE as libc::c_uint) {
        Ok(()) => Ok(()),
        Err(nix::Error::ENOSYS) => remount(dst, Access::ReadOnly),
        Err(e) => Err(format!("making {} read-only: {}", dst.display(), e.desc())),
    }
}

/// mount_setattr(dirfd, path, flags) setting MOUNT_ATTR_RDONLY.
pub fn set_read_only(dirfd: libc::c_int, path: &std::ffi::CStr, flags: libc::c_uint) -> nix::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr { attr_set: MOUNT_ATTR_RDONLY, attr_clr: 0, propagation: 0, userns_fd: 0 };
    // SAFETY: mount_setattr reads the path and the attribute record we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(nix::Error::last())
    }
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
    use std::os::unix::fs::FileTypeExt;

    fn entries() -> Vec<DevEntry> {
        vec![
            DevEntry::Node { name: "null", major: 1, minor: 3, mode: 0o666 },
            DevEntry::Symlink { name: "fd", target: "/proc/self/fd" },
            DevEntry::Dir { name: "shm", mode: 0o1777 },
        ]
    }

    /// A template directory in a fresh parent of root's (0755).
    fn parent() -> tempfile::TempDir {
        let d = tempfile::Builder::new().prefix("flakebox-devtemplate-").tempdir().expect("tempdir");
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        d
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_template_is_made_complete_and_only_then_ready() {
        let p = parent();
        let t = p.path().join("dev-x");
        let made = make_dev_template(&t, &entries());
        if !crate::host::is_root() {
            // Not root's: refused, and the sandbox makes its /dev per run.
            assert!(made.is_err() && !dev_template_ready(&t), "{made:?}");
            return;
        }
        made.expect("made");
        assert!(dev_template_ready(&t));
        let null = fs::symlink_metadata(t.join("null")).expect("null");
        assert!(null.file_type().is_char_device());
        assert_eq!((null.rdev(), mode(&t.join("null"))), (nix::sys::stat::makedev(1, 3), 0o666));
        assert_eq!(fs::read_link(t.join("fd")).expect("fd"), Path::new("/proc/self/fd"));
        assert_eq!(mode(&t.join("shm")), 0o1777);
        // Made again (another flakebox at the same time): the same.
        make_dev_template(&t, &entries()).expect("made again");
        assert!(dev_template_ready(&t));
    }

    #[test]
    fn a_template_cut_short_is_completed_and_a_wrong_one_is_never_ready() {
        let p = parent();
        if !crate::host::is_root() {
            // Root's alone.
            assert!(make_dev_template(&p.path().join("dev-short"), &entries()).is_err());
            return;
        }
        // Cut short: 0700, one entry made, one without its mode yet.
        let t = p.path().join("dev-short");
        fs::DirBuilder::new().mode(0o700).create(&t).expect("mkdir");
        std::os::unix::fs::symlink("/proc/self/fd", t.join("fd")).expect("symlink");
        fs::DirBuilder::new().mode(0o700).create(t.join("shm")).expect("mkdir");
        assert!(!dev_template_ready(&t));
        make_dev_template(&t, &entries()).expect("completed");
        assert!(dev_template_ready(&t) && t.join("null").exists(), "{:o}", mode(&t));
        assert_eq!(mode(&t.join("shm")), 0o1777);
        // An entry that is not the planned one: refused, left unready.
        let t = p.path().join("dev-wrong");
        fs::DirBuilder::new().mode(0o700).create(&t).expect("mkdir");
        fs::write(t.join("null"), b"").expect("a file");
        let e = make_dev_template(&t, &entries()).expect_err("a file for null");
        assert!(e.contains("null"), "{e}");
        assert!(!dev_template_ready(&t));
        // A parent others may write to: refused before anything is made in it.
        fs::set_permissions(p.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
        let t = p.path().join("dev-open");
        let e = make_dev_template(&t, &entries()).expect_err("a parent writable by all");
        assert!(e.contains("not root's alone") && !t.exists(), "{e}");
    }
}
