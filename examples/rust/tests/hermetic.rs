//! Each test asserts one guarantee of `flakebox run`. Under plain `cargo test`
//! without the runner they fail on an ordinary host: that is the point.
//! Expected with the runner from .cargo/config.toml: all pass.
//!
//! As a `flakebox diagnose` target (the built test binary or `cargo test`):
//! baseline fails, and no single factor makes all three pass - only all
//! isolated does. The crate is a wiring demo, not a flaky-suite example.

use std::fs;
use std::time::{Duration, Instant, SystemTime};

/// Models: a test that assumes a clean /tmp (a fresh CI machine) and leaves
/// its scratch file behind. Under flakebox /tmp is a fresh tmpfs every run.
#[test]
fn tmp_starts_empty() {
    // flakebox keeps the working directory and the test binary's directory
    // visible even when they lie under /tmp (a checkout or target dir there):
    // the first component of such a path is expected.
    let kept: Vec<std::path::PathBuf> = [std::env::current_dir().ok(), std::env::current_exe().ok()]
        .into_iter()
        .flatten()
        .filter_map(|p| {
            p.strip_prefix("/tmp").ok().and_then(|r| r.components().next()).map(|c| c.as_os_str().into())
        })
        .collect();
    let leftovers: Vec<String> = fs::read_dir("/tmp")
        .expect("read /tmp")
        .map(|e| e.expect("dir entry").file_name())
        .filter(|name| !kept.iter().any(|k| k.as_os_str() == name))
        .map(|name| name.to_string_lossy().into_owned())
        // tolerate whatever the sandbox itself keeps there
        .filter(|name| !name.contains("flakebox"))
        .collect();
    assert!(leftovers.is_empty(), "/tmp is not fresh: {leftovers:?}");
    fs::write("/tmp/example-rust-scratch.txt", b"left behind on purpose\n").expect("write /tmp");
}

/// Models: a test that compares two wall-clock timestamps and so depends on
/// the time passing between them. flakebox freezes the REALTIME clock (what
/// SystemTime reads) but not the monotonic one (what Instant and sleep use).
#[test]
fn wall_clock_is_frozen() {
    let wall_before = SystemTime::now();
    let mono_before = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(SystemTime::now(), wall_before, "the wall clock moved");
    assert!(mono_before.elapsed() >= Duration::from_millis(20), "the monotonic clock must keep running");
}

/// Models: a test that must not reach the network. /proc/net/dev lists the
/// interfaces of the reader's own network namespace (unlike /sys/class/net,
/// which shows the namespace /sys was mounted in).
#[test]
fn only_loopback_interface() {
    let dev = fs::read_to_string("/proc/net/dev").expect("read /proc/net/dev");
    let names = flakebox_runner_example::interfaces(&dev);
    assert_eq!(names, ["lo"], "interfaces other than lo are visible");
}
