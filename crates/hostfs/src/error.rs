use std::fmt;
use std::io;
use std::path::PathBuf;

/// What was being done to a path when an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Stat,
    ReadDir,
    ReadLink,
    CreateDir,
    CreateFile,
    Symlink,
    Copy,
    Chmod,
    Chown,
    Remove,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Stat => "stat",
            Op::ReadDir => "list",
            Op::ReadLink => "readlink",
            Op::CreateDir => "mkdir",
            Op::CreateFile => "create",
            Op::Symlink => "symlink",
            Op::Copy => "copy",
            Op::Chmod => "chmod",
            Op::Chown => "chown",
            Op::Remove => "remove",
        })
    }
}

/// One failed operation on one path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct Error {
    pub op: Op,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Error {
    pub(crate) fn at(op: Op, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error { op, path, source }
    }
}

/// What [`crate::remove_tree`] could not remove: every entry left behind, with
/// the first error met on it. Entries are listed deepest first.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not remove {} ({} entr{} left{})",
    root.display(),
    failed.len(),
    if failed.len() == 1 { "y" } else { "ies" },
    failed.first().map(|e| format!(", first: {e}")).unwrap_or_default()
)]
pub struct RemoveError {
    /// The tree [`crate::remove_tree`] was asked to remove.
    pub root: PathBuf,
    /// The entries still present, each with the error that kept it.
    pub failed: Vec<Error>,
}
