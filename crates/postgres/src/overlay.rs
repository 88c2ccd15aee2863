//! The data directory as an overlay: the template read-only below, writes going
//! to the scratch tmpfs above. Postgres then reads the cached files in place and
//! copies up only what it modifies.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{io_err, nix_err, PgError};

/// Mounts `data_dir` as an overlay of `lower` with `scratch/pg-upper` and
/// `scratch/pg-work` (both made afresh).
pub(crate) fn mount(
    lower: &Path,
    scratch: &Path,
    data_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), PgError> {
    let upper = scratch.join("pg-upper");
    let work = scratch.join("pg-work");
    let opts = options(lower, &upper, &work)?;
    for p in [&upper, &work] {
        hostfs::remove_tree(p)?;
    }
    let mk = |p: &Path| {
        fs::DirBuilder::new().mode(0o700).create(p).map_err(io_err(format!("mkdir {}", p.display())))
    };
    mk(&upper)?;
    mk(&work)?;
    mk(data_dir)?;
    // The merged root takes the upper directory's owner and mode, which postgres
    // checks: the run_as uid, 0700.
    fs::set_permissions(&upper, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", upper.display())))?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&upper, Some(uid), Some(gid))
            .map_err(io_err(format!("chown {}", upper.display())))?;
    }
    nix::mount::mount(
        Some("overlay"),
        data_dir,
        Some("overlay"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(nix_err(format!("mount overlay on {}", data_dir.display())))
}

/// Detaches an overlay (or anything else) mounted on `data_dir`.
pub(crate) fn unmount(data_dir: &Path) -> Result<(), PgError> {
    nix::mount::umount2(data_dir, nix::mount::MntFlags::MNT_DETACH)
        .map_err(nix_err(format!("umount {}", data_dir.display())))
}

/// The mount options; paths the option syntax cannot carry are refused.
fn options(lower: &Path, upper: &Path, work: &Path) -> Result<String, PgError> {
    let mut opts = Vec::new();
    for (k, p) in [("lowerdir", lower), ("upperdir", upper), ("workdir", work)] {
        let Some(s) = p.to_str().filter(|s| !s.contains([',', ':', '\\'])) else {
            return Err(PgError::BadPath {
                path: PathBuf::from(p),
                reason: "cannot be used in overlay mount options".into(),
            });
        };
        opts.push(format!("{k}={s}"));
    }
    Ok(opts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_three_layers_and_refuse_separators() {
        let o = options(Path::new("/c/data"), Path::new("/s/pg-upper"), Path::new("/s/pg-work"));
        assert_eq!(o.ok().as_deref(), Some("lowerdir=/c/data,upperdir=/s/pg-upper,workdir=/s/pg-work"));
        for bad in ["/c/a,b", "/c/a:b", "/c/a\\b"] {
            let e = options(Path::new(bad), Path::new("/u"), Path::new("/w"));
            assert!(matches!(e, Err(PgError::BadPath { ref path, .. }) if path == Path::new(bad)), "{bad}");
        }
    }
}
