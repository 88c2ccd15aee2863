//! Private scratch space for a process that runs many sandboxes (diagnose):
//! a tmpfs over directories it owns, in a mount namespace of its own, so the
//! scratch is fast (overlay upper layers on tmpfs) and vanishes with the
//! process, even if it is SIGKILLed. Its children (the sandboxes) inherit it.
//! (As root; see [`private_tmpfs`].)

use crate::{host, SandboxError, TmpSize};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::Path;

/// Move this process into a new mount namespace and mount a tmpfs of at
/// most `size` on each of `dirs` (the state the sandboxes' commands write
/// lands there: bounded as their own tmpfs are). Root only: an unprivileged caller would need a user namespace,
/// and mounts made in one are locked into every nested sandbox's view, where
/// overlayfs refuses a lower directory with locked mounts below it (/tmp,
/// /var). Must be called while the process is single-threaded.
pub fn private_tmpfs(dirs: &[&Path], size: TmpSize) -> Result<(), SandboxError> {
    if !host::is_root() {
        return Err(SandboxError::Config("a private tmpfs for sandbox state needs root".into()));
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| SandboxError::Namespaces {
        flags: "mount".into(),
        source: e,
        hint: host::explain_clone_error(e),
    })?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| SandboxError::sys("making the mount tree private", e))?;
    let opts = format!("mode=0700,{}", size.mount_option());
    for d in dirs {
        mount(Some("tmpfs"), *d, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(opts.as_str()))
            .map_err(|e| SandboxError::sys(format!("tmpfs on {}", d.display()), e))?;
    }
    Ok(())
}
