//! Removing a tree, whatever the modes inside it.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Op, RemoveError};

/// Removes `path` (a directory tree, a file or a symlink); a path that does
/// not exist is already removed.
///
/// - Never follows a symlink: a symlink in the tree (or `path` itself) is
///   removed, not what it points to, so nothing outside the tree is touched.
/// - Restores permissions to descend: a directory lacking owner read, write or
///   search permission (an overlayfs work directory is mode 000) gets `u+rwx`
///   before its contents are removed. That needs us to own it, or root.
/// - Reports what it could not remove: everything removable is removed, and
///   the error lists each entry left, with the reason.
///
/// The tree must not change while this runs (a concurrent writer could swap a
/// directory for a symlink between the check and the chmod).
pub fn remove_tree(path: &Path) -> Result<(), RemoveError> {
    // std's removal (openat-based, symlink-safe) is the fast path; it stops at
    // the first entry it cannot remove, and the walk below finishes the job.
    match fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(path).is_err() => return Ok(()),
        Err(_) => {}
    }
    let mut failed = Vec::new();
    remove_entry(path, &mut failed);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(RemoveError { root: path.to_path_buf(), failed })
    }
}

fn remove_entry(path: &Path, failed: &mut Vec<Error>) {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => return failed.push(Error::at(Op::Stat, path)(e)),
    };
    if !meta.is_dir() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => failed.push(Error::at(Op::Remove, path)(e)),
            _ => {}
        };
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o700 != 0o700 {
        // Best effort: if it fails, listing or removing below says why.
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700));
    }
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Ok(entry) => remove_entry(&entry.path(), failed),
                    Err(e) => failed.push(Error::at(Op::ReadDir, path)(e)),
                }
            }
        }
        Err(e) => failed.push(Error::at(Op::ReadDir, path)(e)),
    }
    match fs::remove_dir(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => failed.push(Error::at(Op::Remove, path)(e)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn missing_path_is_removed_already() {
        let d = tempfile::tempdir().expect("tempdir");
        remove_tree(&d.path().join("nope")).expect("missing is fine");
    }

    #[test]
    fn removes_mode_000_directories() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("state");
        fs::create_dir_all(root.join("work/work/deep")).expect("mkdir");
        fs::write(root.join("work/work/deep/f"), "x").expect("write");
        fs::write(root.join("ro-file"), "x").expect("write");
        fs::set_permissions(root.join("work/work/deep"), fs::Permissions::from_mode(0o500)).expect("chmod");
        fs::set_permissions(root.join("work/work"), fs::Permissions::from_mode(0o000)).expect("chmod");
        fs::set_permissions(root.join("ro-file"), fs::Permissions::from_mode(0o000)).expect("chmod");
        remove_tree(&root).expect("removed");
        assert!(fs::symlink_metadata(&root).is_err());
    }

    #[test]
    fn never_follows_symlinks_out_of_the_tree() {
        let d = tempfile::tempdir().expect("tempdir");
        let outside = d.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("precious"), "keep").expect("write");
        // A 000 directory whose mode must not be "restored" through the link.
        fs::create_dir(outside.join("closed")).expect("mkdir");
        fs::set_permissions(outside.join("closed"), fs::Permissions::from_mode(0o000)).expect("chmod");
        let root = d.path().join("tree");
        fs::create_dir_all(root.join("sub")).expect("mkdir");
        symlink(&outside, root.join("sub/to-outside")).expect("symlink");
        symlink(outside.join("closed"), root.join("to-closed")).expect("symlink");
        // Force the slow path too: a 000 directory std's removal may stop at.
        fs::create_dir(root.join("zero")).expect("mkdir");
        fs::set_permissions(root.join("zero"), fs::Permissions::from_mode(0o000)).expect("chmod");
        remove_tree(&root).expect("removed");
        assert!(fs::symlink_metadata(&root).is_err());
        assert_eq!(fs::read_to_string(outside.join("precious")).expect("kept"), "keep");
        let closed = fs::symlink_metadata(outside.join("closed")).expect("kept");
        assert_eq!(closed.mode() & 0o7777, 0o000);
        fs::set_permissions(outside.join("closed"), fs::Permissions::from_mode(0o700)).expect("chmod");
    }

    #[test]
    fn a_symlink_root_removes_the_link_only() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::create_dir(d.path().join("target")).expect("mkdir");
        fs::write(d.path().join("target/f"), "x").expect("write");
        symlink(d.path().join("target"), d.path().join("link")).expect("symlink");
        remove_tree(&d.path().join("link")).expect("removed");
        assert!(fs::symlink_metadata(d.path().join("link")).is_err());
        assert!(d.path().join("target/f").is_file());
    }

    #[test]
    fn reports_what_it_could_not_remove() {
        // A path through a file cannot be examined, for root too.
        let d = tempfile::tempdir().expect("tempdir");
        fs::write(d.path().join("file"), "x").expect("write");
        let bad = d.path().join("file/child");
        let e = remove_tree(&bad).expect_err("not a directory");
        assert_eq!(e.root, bad);
        assert_eq!(e.failed.len(), 1, "{e}");
        assert_eq!((e.failed[0].op, e.failed[0].path.as_path()), (Op::Stat, bad.as_path()));
        assert!(e
            .to_string()
            .starts_with(&format!("could not remove {} (1 entry left, first: stat ", bad.display())));
    }

    #[test]
    fn removes_what_it_can_and_lists_the_rest() {
        if fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(true) {
            return; // root may write anywhere; this failure needs an ordinary user
        }
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("tree");
        fs::create_dir(&root).expect("mkdir");
        fs::write(root.join("f"), "x").expect("write");
        // The parent is read-only and not the tree's to fix: `tree` itself stays.
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o500)).expect("chmod");
        let e = remove_tree(&root).expect_err("parent is read-only");
        fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
        assert_eq!(e.failed.len(), 1, "{e}");
        assert_eq!(e.failed[0].path, root);
        assert_eq!(e.failed[0].source.kind(), io::ErrorKind::PermissionDenied);
        assert!(!root.join("f").exists(), "the contents are removed all the same");
    }
}
