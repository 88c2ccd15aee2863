//! Which uid postgres runs as, and making the directories it needs reachable
//! for that uid.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_err, PgError};

/// The uid/gid postgres should run as: `nobody` when the caller is root (postgres
/// refuses to run as root), `None` (the caller itself) otherwise. Resolve it once,
/// host side, and pass the same value to [`crate::Template::ensure`] and
/// [`crate::Server::start`].
pub fn default_run_as() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    // /etc/passwd, not getpwnam: flakebox is linked statically, and glibc's
    // NSS in a static binary needs the build machine's shared libraries.
    let ids = fs::read_to_string("/etc/passwd").ok().and_then(|t| passwd_ids(&t, "nobody"));
    Some(ids.unwrap_or((65534, 65534)))
}

/// The uid and gid of `user` in an /etc/passwd text; none for root's ids.
fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != user {
            return None;
        }
        let (uid, gid) = (f.nth(1)?.parse().ok()?, f.next()?.parse().ok()?);
        (uid != 0).then_some((uid, gid))
    })
}

/// `run_as` as it will be applied: dropped when it is the caller itself, required
/// when the caller is root.
pub(crate) fn effective_run_as(run_as: Option<(u32, u32)>, euid: u32) -> Result<Option<(u32, u32)>, PgError> {
    match run_as {
        Some((0, _)) => Err(PgError::BadPath {
            path: PathBuf::from("run_as"),
            reason: "postgres cannot run as root (uid 0); use an unprivileged uid such as 65534".into(),
        }),
        Some((uid, _)) if uid == euid => Ok(None),
        Some(ids) => Ok(Some(ids)),
        None if euid == 0 => Err(PgError::BadPath {
            path: PathBuf::from("run_as"),
            reason: "running as root: pass run_as, an unprivileged uid/gid for postgres (e.g. 65534/65534)"
                .into(),
        }),
        None => Ok(None),
    }
}

/// Gives `uid` search permission on `dir` if only `dir` itself lacks it (we own
/// it: it is our scratch); an unreachable ancestor is an error naming it.
pub(crate) fn make_traversable(dir: &Path, uid: u32, gid: u32) -> Result<(), PgError> {
    let Some(blocker) = first_untraversable(dir, uid, gid) else {
        return Ok(());
    };
    if blocker == dir {
        let m = fs::metadata(dir).map_err(io_err(format!("stat {}", dir.display())))?;
        let mode = (m.mode() & 0o7777) | 0o011;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("chmod {}", dir.display())))?;
        if first_untraversable(dir, uid, gid).is_none() {
            return Ok(());
        }
    }
    Err(PgError::BadPath {
        path: blocker,
        reason: format!("uid {uid} (postgres) cannot search this directory"),
    })
}

/// The first directory from `/` down to and including `dir` that `uid`/`gid`
/// (without supplementary groups) may not search, judged from the mode bits.
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
        if !may_search(m.mode(), m.uid(), m.gid(), uid, gid) {
            return Some(a.to_path_buf());
        }
    }
    None
}

/// The execute bit of the class (owner, group, other) that `uid`/`gid` falls in.
fn may_search(mode: u32, owner: u32, group: u32, uid: u32, gid: u32) -> bool {
    if owner == uid {
        mode & 0o100 != 0
    } else if group == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_from_passwd() {
        let text = "root:x:0:0:root:/root:/bin/bash\nnobodyx:x:1:1::/:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(passwd_ids(text, "nobody"), Some((65534, 65534)));
        assert_eq!(passwd_ids(text, "root"), None, "root's ids are refused");
        assert_eq!(passwd_ids(text, "ghost"), None);
        assert_eq!(passwd_ids("nobody:x:abc:1::/:/bin/sh", "nobody"), None);
    }

    #[test]
    fn run_as_rules() {
        assert_eq!(effective_run_as(Some((1000, 1000)), 1000).ok(), Some(None));
        assert!(effective_run_as(None, 0).is_err());
        assert!(effective_run_as(Some((0, 0)), 0).is_err());
        assert_eq!(effective_run_as(Some((65534, 65534)), 0).ok(), Some(Some((65534, 65534))));
        assert_eq!(effective_run_as(None, 1000).ok(), Some(None));
    }

    #[test]
    fn search_permission_by_class() {
        // The owner's bit decides for the owner, even when "other" could search.
        assert!(!may_search(0o601, 7, 7, 7, 9));
        assert!(may_search(0o710, 1, 9, 7, 9), "group member");
        assert!(!may_search(0o770, 1, 2, 7, 9), "other, no x");
        assert!(may_search(0o701, 1, 2, 7, 9));
        assert_eq!(first_untraversable(Path::new("/"), 0, 0), None, "root searches everything");
    }
}
