//! flakebox as a test runner: cargo's `runner` setting in examples/rust runs
//! that crate's test binaries through `flakebox run`.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn cargo_runner_runs_test_binaries_through_flakebox() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rust");
    let bin_dir = common::flakebox().parent().expect("binary dir").to_path_buf();
    let target = tempfile::Builder::new().prefix("flakebox-runner-target-").tempdir().expect("tempdir");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("cargo")
        .args(["test", "--quiet"])
        .current_dir(&example)
        .env("PATH", path)
        // Under /tmp on purpose: the command's own directory stays visible.
        .env("CARGO_TARGET_DIR", target.path())
        .env_remove("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER")
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo test through flakebox failed:\n{stdout}\n{stderr}");
    // wall_clock_is_frozen and only_loopback_interface pass only in the sandbox.
    assert!(stdout.contains("3 passed"), "the hermetic tests ran and passed:\n{stdout}");
}
