//! flakebox's own exit codes. Everything else `run` returns is the command's:
//! its code, 128+N when it died of signal N, 126/127 when it could not be run.

/// The command did not finish within `--timeout` (as timeout(1)).
#[cfg_attr(not(test), allow(dead_code))]
pub const TIMEOUT: i32 = 124;
/// flakebox itself failed (the sandbox could not be made, bad environment);
/// a one-line cause is always printed on stderr. Chosen, as podman and env
/// do, outside the range tests normally use.
pub const FLAKEBOX_FAILED: i32 = 125;
/// Bad command-line usage (clap's convention), with a message on stderr.
pub const USAGE: i32 = 2;

#[cfg(test)]
mod tests {
    #[test]
    fn timeout_code_is_the_sandbox_s() {
        assert_eq!(sandbox::Status::TimedOut.exit_code(), super::TIMEOUT);
    }
}
