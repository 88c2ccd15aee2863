//! Pipes between the supervisor and PID 1 (close-on-exec, so the command
//! never inherits them).

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

/// A pipe as two `File`s: (read end, write end).
pub fn pipe() -> nix::Result<(File, File)> {
    let (r, w): (OwnedFd, OwnedFd) = pipe2(OFlag::O_CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// Read until EOF.
pub fn read_to_end(mut f: &File) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

pub fn write_all(mut f: &File, bytes: &[u8]) -> io::Result<()> {
    f.write_all(bytes)
}
