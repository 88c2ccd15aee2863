//! Private scratch for the runs of one command (a diagnosis, a timetravel):
//! each run's report, output and collected files, and each condition's
//! persistent copy-on-write state.

use crate::child::ChildFiles;
use crate::error::RunsError;
use factors::FactorSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Two scratch trees (under /tmp and /var/tmp, so every overlay finds one
/// outside its own lower layer), removed when dropped, or by a reaper
/// process if we are killed first.
pub struct Workspace {
    roots: [PathBuf; 2],
    /// Disarmed in Drop once the trees are removed.
    reaper: Option<hostfs::Reaper>,
}

impl Workspace {
    /// Scratch in /tmp and /var/tmp. With `private_tmpfs` (its size limit),
    /// as root, on a tmpfs of our own: overlayfs mounts faster on a tmpfs
    /// upper layer than on disk, and the state cannot outlive us; a note says
    /// why when that fails.
    pub fn new(
        prefix: &str,
        private_tmpfs: Option<sandbox::TmpSize>,
    ) -> Result<(Self, Option<String>), RunsError> {
        let tmpfs = private_tmpfs.filter(|_| sandbox::host::is_root());
        Self::in_dirs(prefix, [Path::new("/tmp"), Path::new("/var/tmp")], tmpfs)
    }

    /// As [`Workspace::new`], in `bases`, with or without the tmpfs.
    pub fn in_dirs(
        prefix: &str,
        bases: [&Path; 2],
        tmpfs: Option<sandbox::TmpSize>,
    ) -> Result<(Self, Option<String>), RunsError> {
        // Those of an earlier owner killed with its reaper (see hostfs::Owner).
        hostfs::sweep_stale(&bases, prefix);
        // Named before they exist, so the reaper is watching before there is
        // anything to leave: a SIGKILL at any point leaves nothing. Named
        // after us, so that a later workspace removes them if the reaper is
        // killed too.
        let owner = hostfs::Owner::current()
            .map_err(crate::error::io("reading this process's start time for a scratch directory's name"))?;
        let token = format!("{prefix}{owner}-{:016x}", random_u64()?);
        let roots = bases.map(|b| b.join(&token));
        let reaper = hostfs::Reaper::spawn(&[&roots[0], &roots[1]])?;
        for (i, r) in roots.iter().enumerate() {
            // 0700, as a temporary directory of ours is; fails if the name is taken.
            if let Err(source) = std::fs::DirBuilder::new().mode(0o700).create(r) {
                // Only what we made is ours to remove.
                roots[..i].iter().for_each(|r| remove_tree(r));
                reaper.disarm();
                return Err(RunsError::Io {
                    context: format!("creating a scratch directory in {}", bases[i].display()),
                    source,
                });
            }
        }
        let work = Workspace { roots, reaper: Some(reaper) };
        let [a, b] = &work.roots;
        let note = match tmpfs {
            Some(size) => sandbox::scratch::private_tmpfs(&[a, b], size)
                .err()
                .map(|e| format!("diagnosis state kept on disk ({e})")),
            None => None,
        };
        Ok((work, note))
    }

    pub fn roots(&self) -> &[PathBuf; 2] {
        &self.roots
    }

    /// A file of the workspace, by name.
    pub fn file(&self, name: &str) -> PathBuf {
        self.roots[0].join(name)
    }

    /// The report, log and error files of run number `n`.
    pub fn child_files(&self, n: usize) -> ChildFiles {
        ChildFiles {
            report: self.file(&format!("report.json-{n}")),
            log: self.file(&format!("output.log-{n}")),
            error: self.file(&format!("error.txt-{n}")),
        }
    }

    /// The persistent state directories of the condition isolating
    /// `isolate`, created on first use; the same ones for every run of it.
    /// The persistent state of one condition; a screening run's is its own,
    /// so every condition enters the deciding rounds with the same history.
    pub fn state_dirs(&self, isolate: FactorSet, screening: bool) -> Result<[PathBuf; 2], RunsError> {
        let phase = if screening { "screen-" } else { "" };
        let name = format!("state-{phase}{}", isolate.to_string().replace(',', "+"));
        let dirs = [self.roots[0].join(&name), self.roots[1].join(&name)];
        for d in &dirs {
            std::fs::create_dir_all(d).map_err(crate::error::io(format!("creating {}", d.display())))?;
        }
        Ok(dirs)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        for r in &self.roots {
            // Our tmpfs first (if mounted), then the empty directory under it.
            let _ = nix::mount::umount2(r.as_path(), nix::mount::MntFlags::MNT_DETACH);
            remove_tree(r);
        }
        if let Some(reaper) = self.reaper.take() {
            reaper.disarm();
        }
    }
}

/// Random bits for a scratch directory's name (another process guessing
/// it can only make our mkdir fail, never share the directory).
fn random_u64() -> Result<u64, RunsError> {
    let mut b = [0u8; 8];
    // SAFETY: getrandom fills the buffer we own, of the length we pass.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        return Err(crate::error::io("reading random bits for a scratch directory's name")(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(u64::from_ne_bytes(b))
}

/// Remove a scratch tree (it may hold overlayfs work directories of mode
/// 000); what cannot be removed is said on stderr, since a workspace is
/// dropped where no error can be returned.
pub fn remove_tree(path: &Path) {
    if let Err(e) = hostfs::remove_tree(path) {
        eprintln!("flakebox: warning: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use factors::Factor;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_workspace_leaves_nothing_behind() {
        let base = tempfile::tempdir().expect("tempdir");
        let (a, b) = (base.path().join("a"), base.path().join("b"));
        std::fs::create_dir_all(&a).expect("a");
        std::fs::create_dir_all(&b).expect("b");
        let (work, note) = Workspace::in_dirs("flakebox-test-", [&a, &b], None).expect("workspace");
        assert_eq!(note, None);
        let cond = FactorSet::all().without(Factor::Fs);
        let dirs = work.state_dirs(cond, false).expect("state dirs");
        assert_eq!(work.state_dirs(cond, false).expect("again"), dirs, "one state per condition");
        assert_ne!(work.state_dirs(FactorSet::default(), false).expect("baseline"), dirs);
        assert_ne!(work.state_dirs(cond, true).expect("screening"), dirs, "screening state apart");
        assert!(dirs[0].starts_with(&a) && dirs[1].starts_with(&b), "{dirs:?}");
        // What an overlay leaves: a work directory of mode 000 with a file in it.
        let wd = dirs[0].join("work").join("work");
        std::fs::create_dir_all(&wd).expect("work dir");
        std::fs::write(wd.join("f"), "x").expect("file");
        std::fs::set_permissions(&wd, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        std::fs::write(work.child_files(1).report, "{}").expect("report");
        drop(work);
        for d in [&a, &b] {
            let left: Vec<_> = std::fs::read_dir(d).expect("read").collect();
            assert!(left.is_empty(), "{} still holds {left:?}", d.display());
        }
    }

    /// The scratch of an owner killed together with its reaper stays until
    /// the next workspace of its kind removes it: its name says whose it
    /// was. Ours are named after us; a live owner's are left alone.
    #[test]
    fn a_workspace_removes_the_scratch_of_an_owner_that_is_gone() {
        let base = tempfile::tempdir().expect("tempdir");
        let (a, b) = (base.path().join("a"), base.path().join("b"));
        let mut child = std::process::Command::new("sleep").arg("1000").spawn().expect("sleep");
        let dead = hostfs::Owner::of(child.id()).expect("child's stat");
        child.kill().expect("kill");
        child.wait().expect("wait");
        let me = hostfs::Owner::current().expect("own stat");
        let stale = [a.join(format!("flakebox-test-{dead}-01")), b.join(format!("flakebox-test-{dead}-01"))];
        let live = a.join(format!("flakebox-test-{me}-02"));
        for d in stale.iter().chain([&live]) {
            std::fs::create_dir_all(d.join("state")).expect("mkdir");
        }
        let (work, _) = Workspace::in_dirs("flakebox-test-", [&a, &b], None).expect("workspace");
        assert!(stale.iter().all(|d| !d.exists()), "{stale:?}");
        assert!(live.exists());
        for r in work.roots() {
            let name = r.file_name().and_then(|n| n.to_str()).expect("name");
            let owner = name.strip_prefix("flakebox-test-").and_then(hostfs::Owner::parse).map(|(o, _)| o);
            assert_eq!(owner, Some(me), "{name}");
        }
    }
}
