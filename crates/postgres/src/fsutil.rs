//! Small filesystem helpers of the template cache: private directories with a
//! unique name, files replaced atomically.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_err, PgError};

/// How a cluster is copied: owned by the uid postgres runs as; a template given
/// as `/proc/self/fd/N` (a cache the sandbox hides) is followed.
pub(crate) fn copy_options(run_as: Option<(u32, u32)>) -> hostfs::CopyOptions {
    hostfs::CopyOptions { owner: run_as, follow_src_symlink: true, ..Default::default() }
}

/// Creates a new directory `parent/<prefix><pid>-<random>` with `mode`, owned by
/// `owner` when given, and a reaper that removes it if this process dies
/// before it is renamed or removed (SIGKILL mid-build: no Drop runs). The
/// reaper is started before the directory exists, so no kill leaves it
/// unwatched; keep the reaper until the directory is renamed or removed.
pub(crate) fn make_unique_dir(
    parent: &Path,
    prefix: &str,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(PathBuf, hostfs::Reaper), PgError> {
    for _ in 0..64 {
        let name = format!("{prefix}{}-{:08x}", std::process::id(), fastrand::u32(..));
        let p = parent.join(name);
        let reaper = hostfs::Reaper::spawn(&[&p]).map_err(|e| PgError::Io {
            context: format!("watching {}", p.display()),
            source: io::Error::other(e),
        })?;
        match fs::DirBuilder::new().mode(mode).create(&p) {
            Ok(()) => {
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))
                    .map_err(io_err(format!("chmod {}", p.display())))?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::chown(&p, Some(u), Some(g))
                        .map_err(io_err(format!("chown {}", p.display())))?;
                }
                return Ok((p, reaper));
            }
            // Someone else's: the reaper leaves it alone when dropped.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(format!("mkdir {}", p.display()))(e)),
        }
    }
    Err(PgError::BadPath { path: parent.to_path_buf(), reason: "cannot create a unique directory".into() })
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
