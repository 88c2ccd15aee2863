//! [`Server::start`]: a fresh data directory from the template (an overlay or a
//! copy, decided by [`data_source`]), then the postmaster on it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{io_err, PgError};
use crate::fsutil::copy_options;
use crate::listen::Listen;
use crate::postmaster::{launch, Starting};
use crate::run_as::{effective_run_as, make_traversable};
use crate::server::Server;
use crate::template::Template;

/// How [`Server::spawn_with`] makes the scratch data directory from the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Overlay when running as root with a `run_as` uid (falling back to a copy if
    /// the mount fails), a copy otherwise.
    Auto,
    /// Always copy the template (~24 MB, ~1000 files: about 20 ms here).
    Copy,
    /// Always mount an overlay (read-only template below, scratch tmpfs above);
    /// needs CAP_SYS_ADMIN over the current mount namespace. Near-free.
    Overlay,
}

/// Where the data directory's files come from, decided before anything is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataSource {
    /// A copy of the template, owned by the uid postgres runs as.
    Copy,
    /// An overlay; `or_copy`: a failed mount falls back to a copy.
    Overlay { or_copy: bool },
}

/// The overlay shows the template's owner, and postgres must own its files: so
/// [`DataMode::Auto`] mounts one only when postgres runs as that owner.
fn data_source(mode: DataMode, run_as: Option<(u32, u32)>, template_owner: u32) -> DataSource {
    match mode {
        DataMode::Copy => DataSource::Copy,
        DataMode::Overlay => DataSource::Overlay { or_copy: false },
        DataMode::Auto if run_as.is_some_and(|(uid, _)| uid == template_owner) => {
            DataSource::Overlay { or_copy: true }
        }
        DataMode::Auto => DataSource::Copy,
    }
}

impl Server {
    /// Makes `scratch/data` from `template` (see [`DataMode::Auto`]), starts postgres
    /// on it and waits until it accepts connections. `scratch` (created if missing)
    /// also gets `postgres.log` (the server's stdout and stderr) and, for an overlay,
    /// `pg-upper/` and `pg-work/`. `template.dir` and the binaries must be reachable
    /// from the caller's mount namespace during this call (an overlay keeps its lower
    /// layer afterwards even if the path is then hidden; a copy needs it no longer).
    ///
    /// `run_as`: the uid/gid postgres runs as; required when the caller is root
    /// (postgres refuses to run as root), see [`crate::default_run_as`]. The data is
    /// owned by it, and `scratch` gets search permission for it if it lacks that.
    pub fn start(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
    ) -> Result<Server, PgError> {
        Self::spawn_with(template, scratch, listen, run_as, DataMode::Auto)?.wait_ready()
    }

    /// [`Server::spawn_with`] in [`DataMode::Auto`].
    pub fn spawn(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
    ) -> Result<Starting, PgError> {
        Self::spawn_with(template, scratch, listen, run_as, DataMode::Auto)
    }

    /// The first half of [`Server::start`]: prepare the data directory and spawn,
    /// without waiting, so the caller can do other setup meanwhile.
    pub fn spawn_with(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
        mode: DataMode,
    ) -> Result<Starting, PgError> {
        fs::create_dir_all(scratch).map_err(io_err(format!("mkdir {}", scratch.display())))?;
        let euid = nix::unistd::geteuid().as_raw();
        let run_as = effective_run_as(run_as, euid)?;
        if let Some((uid, gid)) = run_as {
            make_traversable(scratch, uid, gid)?;
        }
        let data_dir = scratch.join("data");
        // A leftover from an earlier start in the same scratch is not reused: a
        // throwaway server starts from the template, always.
        if fs::symlink_metadata(&data_dir).is_ok() {
            let _ = crate::overlay::unmount(&data_dir);
            hostfs::remove_tree(&data_dir)?;
        }
        let overlay = make_data_dir(
            template,
            scratch,
            &data_dir,
            run_as,
            data_source(mode, run_as, template.data_owner),
        )?;
        // The template's saved statistics would carry its own sessions into
        // every run: without them the counters start at zero, so
        // `Server::client_sessions` counts this run's clients alone.
        match fs::remove_file(data_dir.join("pg_stat").join("pgstat.stat")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                if overlay {
                    let _ = crate::overlay::unmount(&data_dir);
                }
                return Err(io_err(format!("removing the saved statistics in {}", data_dir.display()))(e));
            }
            _ => {}
        }
        match launch(&template.binaries, &data_dir, &scratch.join("postgres.log"), listen, run_as, None) {
            Ok(mut s) => {
                s.server.overlay = overlay;
                Ok(s)
            }
            Err(e) => {
                if overlay {
                    let _ = crate::overlay::unmount(&data_dir);
                }
                Err(e)
            }
        }
    }
}

/// Fills `data_dir` from the template as `source` says; whether it is an overlay.
fn make_data_dir(
    template: &Template,
    scratch: &Path,
    data_dir: &Path,
    run_as: Option<(u32, u32)>,
    source: DataSource,
) -> Result<bool, PgError> {
    if let DataSource::Overlay { or_copy } = source {
        match crate::overlay::mount(&template.dir, scratch, data_dir, run_as) {
            Ok(()) => return Ok(true),
            Err(e) if !or_copy => return Err(e),
            // No mount permission (or no overlayfs): copy instead.
            Err(_) => {
                let _ = fs::remove_dir(data_dir);
            }
        }
    }
    hostfs::copy_tree(&template.dir, data_dir, &copy_options(run_as))?;
    // postgres insists on 0700 (or 0750) for its data directory.
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", data_dir.display())))?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_overlays_only_when_postgres_owns_the_template() {
        let nobody = Some((65534, 65534));
        assert_eq!(data_source(DataMode::Auto, nobody, 65534), DataSource::Overlay { or_copy: true });
        assert_eq!(data_source(DataMode::Auto, nobody, 0), DataSource::Copy);
        assert_eq!(data_source(DataMode::Auto, None, 1000), DataSource::Copy, "not root: no mount rights");
        assert_eq!(data_source(DataMode::Overlay, None, 1000), DataSource::Overlay { or_copy: false });
        assert_eq!(data_source(DataMode::Copy, nobody, 65534), DataSource::Copy);
    }
}
