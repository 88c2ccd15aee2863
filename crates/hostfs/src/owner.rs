//! Scratch directories named after the process that owns them, so that a
//! later process can tell one whose owner is gone and remove it: the
//! [`crate::Reaper`] removes an owner's trees when the owner dies, but if the
//! reaper is killed too (a SIGKILL to the whole process group, the OOM
//! killer), nothing else would.
//!
//! The name holds the owner's pid, its start time (clock ticks after boot, so
//! a reused pid is another owner) and its PID namespace (a pid means nothing
//! in another one, e.g. a container sharing /tmp: such a directory is never
//! judged). `{prefix}{pid}-{start}-{pidns}-{random}`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The process a scratch directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat.
    pub start: u64,
    /// The inode of /proc/PID/ns/pid.
    pub pid_ns: u64,
}

/// What [`Owner::state`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    Alive,
    Gone,
    /// In another PID namespace than ours: its pid cannot be looked up here.
    Unknown,
}

impl Owner {
    /// This process.
    pub fn current() -> std::io::Result<Owner> {
        Owner::of(std::process::id())
    }

    /// Process `pid` as it is now.
    pub fn of(pid: u32) -> std::io::Result<Owner> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let start = start_time(&stat).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no start time in /proc/{pid}/stat"))
        })?;
        Ok(Owner { pid, start, pid_ns: pid_namespace()? })
    }

    /// Whether the owner still runs, judged from this process.
    pub fn state(&self) -> OwnerState {
        match pid_namespace() {
            Ok(ours) if ours == self.pid_ns => {}
            _ => return OwnerState::Unknown,
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) if start_time(&stat) == Some(self.start) => OwnerState::Alive,
            Ok(stat) if start_time(&stat).is_none() => OwnerState::Unknown,
            Ok(_) => OwnerState::Gone, // the pid was reused
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OwnerState::Gone,
            Err(_) => OwnerState::Unknown,
        }
    }

    /// The owner named at the start of `rest` (what follows a prefix), and
    /// what follows it.
    pub fn parse(rest: &str) -> Option<(Owner, &str)> {
        let mut parts = rest.splitn(4, '-');
        let pid = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let pid_ns = parts.next()?.parse().ok()?;
        let tail = parts.next()?;
        Some((Owner { pid, start, pid_ns }, tail))
    }
}

/// `{pid}-{start}-{pidns}`: followed by `-` and the caller's own suffix.
impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.pid, self.start, self.pid_ns)
    }
}

/// Field 22 (starttime) of a /proc/PID/stat line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn pid_namespace() -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self/ns/pid")?.ino())
}

/// Remove every directory in `bases` named `prefix` + an owner that is gone
/// (see [`Owner::state`]); returns those removed. Others, alive, unknown or
/// not named so, are left alone; one that cannot be removed (another user's)
/// is skipped.
pub fn sweep_stale(bases: &[&Path], prefix: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for base in bases {
        let Ok(entries) = std::fs::read_dir(base) else { continue };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
            let Some((owner, _)) = Owner::parse(rest) else { continue };
            // Not through a symlink: only a directory of that name is scratch.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && owner.state() == OwnerState::Gone && crate::remove_tree(&e.path()).is_ok() {
                removed.push(e.path());
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_reads_back_as_its_owner() {
        let o = Owner { pid: 42, start: 123456, pid_ns: 4026531836 };
        let name = format!("{o}-00ff");
        assert_eq!(Owner::parse(&name), Some((o, "00ff")));
        for bad in ["42-123456-4026531836", "42-x-1-ff", "-1-2-ff", "42", "a-b-c-d"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "77 (a) b (c)) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(start_time(stat), Some(98765));
        assert_eq!(start_time("77 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_or_another_namespace_is_not_ours() {
        let me = Owner::current().expect("own stat");
        assert_eq!(me.state(), OwnerState::Alive);
        assert_eq!(Owner { start: me.start + 1, ..me }.state(), OwnerState::Gone);
        assert_eq!(Owner { pid_ns: me.pid_ns + 1, ..me }.state(), OwnerState::Unknown);
    }

    /// A child that has exited (and been reaped): its directory is stale;
    /// ours, another namespace's and other names stay.
    #[test]
    fn only_directories_of_owners_that_are_gone_are_swept() {
        let mut child = std::process::Command::new("sleep").arg("1000").spawn().expect("sleep");
        let dead = Owner::of(child.id()).expect("child's stat");
        child.kill().expect("kill");
        child.wait().expect("wait");
        let me = Owner::current().expect("own stat");
        let base = tempfile::tempdir().expect("tempdir");
        let dir = |name: String| {
            let p = base.path().join(name);
            std::fs::create_dir_all(p.join("inside")).expect("mkdir");
            p
        };
        let stale = dir(format!("fb-test-{dead}-0a"));
        let mine = dir(format!("fb-test-{me}-0b"));
        let elsewhere = dir(format!("fb-test-{}-0c", Owner { pid_ns: dead.pid_ns + 1, ..dead }));
        let other_prefix = dir(format!("other-{dead}-0d"));
        let unnamed = dir("fb-test-12-0e".into());
        let removed = sweep_stale(&[base.path()], "fb-test-");
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        for kept in [mine, elsewhere, other_prefix, unnamed] {
            assert!(kept.exists(), "{}", kept.display());
        }
    }
}
