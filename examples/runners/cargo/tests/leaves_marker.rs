//! Models a test that leaves state in /tmp: it passes on the first run and
//! fails on every later one, because the marker file it creates is still
//! there (the fs factor fixes it). The directory is $FLAKEBOX_EXAMPLE_STATE
//! (the adapter tests give it a fresh one), else /tmp.

use std::path::PathBuf;

#[test]
fn leaves_marker() {
    let dir = std::env::var_os("FLAKEBOX_EXAMPLE_STATE").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let marker = dir.join("flakebox-runners-cargo.marker");
    assert!(!marker.exists(), "{} was left by an earlier run", marker.display());
    std::fs::write(&marker, "left behind on purpose\n").expect("write the marker");
}
