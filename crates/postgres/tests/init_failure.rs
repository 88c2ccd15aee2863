//! In a test binary of its own, so that build directories named after this
//! process's pid can only come from this test.

use std::fs;

use flakebox_postgres::{find_binaries, PgError, Template};

#[test]
fn failed_seed_leaves_no_build_directory_anywhere() {
    let run_as = nix::unistd::geteuid().is_root().then_some((65534, 65534));
    let bins = find_binaries(None).expect("binaries");
    let cache = tempfile::tempdir().expect("cache");
    let src = tempfile::tempdir().expect("init");
    let file = src.path().join("bad.sql");
    fs::write(&file, "create table t (x int);\ninsert into t values ('not a number');\n").expect("write");
    let err = Template::ensure(&bins, cache.path(), Some(&file), run_as).expect_err("must fail");
    assert!(matches!(err, PgError::InitSql { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid input syntax"), "{err}");

    let prefix = format!("flakebox-pg-build-{}-", std::process::id());
    let in_tmp: Vec<_> = fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(in_tmp.is_empty(), "{in_tmp:?}");
    let in_cache: Vec<_> = fs::read_dir(cache.path().join("postgres"))
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(in_cache.is_empty(), "{in_cache:?}");
}
