//! User namespace: map the caller's own uid and gid (not fake root), so files
//! the command creates are owned as they would be outside.

use std::fs;
use std::io;

/// Write /proc/PID/{setgroups,uid_map,gid_map} for a process in a new user
/// namespace (`pid` may be "self"). An unprivileged process may map exactly its own ids, and only
/// after denying setgroups.
pub fn write_id_maps(pid: &str, uid: u32, gid: u32) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
    fs::write(format!("/proc/{pid}/uid_map"), format!("{uid} {uid} 1\n"))?;
    fs::write(format!("/proc/{pid}/gid_map"), format!("{gid} {gid} 1\n"))?;
    Ok(())
}
