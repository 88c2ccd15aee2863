//! The shim under AddressSanitizer and UndefinedBehaviorSanitizer: its sources
//! built with both (and the warning flags of the real build, shim/cflags),
//! preloaded into shim/tests/check.c, which drives every job of the shim through
//! its edge cases. Any sanitizer report fails the test, as does a failed check.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flakebox_clock::trace::{Completion, ConnectTarget, Outcome, TraceEvent};

mod common;
use common::require;

fn shim_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shim")
}

const SANITIZE: &[&str] =
    &["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"];

fn gcc(args: &mut Command) {
    let o = args.output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(o.status.success(), "{args:?}:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// The ASan runtime's path: it must come first among the preloaded libraries.
fn libasan() -> PathBuf {
    let o = Command::new("gcc").arg("-print-file-name=libasan.so").output().expect("gcc");
    let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    assert!(p.is_absolute() && p.exists(), "gcc has no libasan.so ({p:?}): install gcc's sanitizer runtimes");
    p
}

#[test]
fn the_shim_is_clean_under_address_and_undefined_behaviour_sanitizers() {
    require("gcc");
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = shim_dir();
    let cflags: Vec<String> = std::fs::read_to_string(shim.join("cflags"))
        .expect("shim/cflags")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&shim)
        .expect("shim/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    assert!(sources.len() > 1, "no shim sources in {}", shim.display());

    let so = dir.path().join("libflakebox_shim_asan.so");
    gcc(Command::new("gcc")
        .args(&cflags)
        .args(SANITIZE)
        // A small pending-connect table, so that the checks fill it.
        .args(["-DSHIM_MAX_PENDING=16", "-shared", "-fPIC", "-fvisibility=hidden", "-o"])
        .arg(&so)
        .args(&sources)
        .args(["-ldl", "-lpthread"]));
    let check = dir.path().join("check");
    gcc(Command::new("gcc")
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror"])
        .args(SANITIZE)
        .arg("-o")
        .arg(&check)
        .arg(shim.join("tests/check.c"))
        .args(["-ldl", "-lpthread", "-lrt"]));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let trace = dir.path().join("trace");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let mut preload = libasan().into_os_string();
    preload.push(" ");
    preload.push(&so);
    let out = Command::new(&check)
        .arg(&work)
        .arg(port.to_string())
        .arg(closed_port.to_string())
        .env("LD_PRELOAD", preload)
        .env("FLAKEBOX_TIME_MODE", "frozen")
        .env("FLAKEBOX_TIME_SEC", "1709251198")
        .env("FLAKEBOX_TIME_NSEC", "250000000")
        .env("FLAKEBOX_TRACE", &trace)
        .env("FLAKEBOX_SEED", "7")
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .stdin(Stdio::null())
        .output()
        .expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- stdout\n{stdout}--- stderr\n{stderr}");
    for report in ["AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"] {
        assert!(!stderr.contains(report), "a sanitizer report ({report}):\n{stderr}");
    }
    assert!(out.status.success() && stdout.contains("check: all passed"), "check failed: {:?}", out.status);

    // The trace of all that is well-formed, and says what happened.
    let text = std::fs::read_to_string(&trace).expect("trace written");
    assert_eq!(
        text.lines().filter_map(flakebox_clock::trace::parse_line).count(),
        text.lines().count(),
        "{text}"
    );
    let events = flakebox_clock::trace::parse(&text);
    let inet = |p: u16| ConnectTarget::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    let to = |p: u16| -> Vec<(&Outcome, &Completion)> {
        events
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Connect { target, outcome, completion, .. } if *target == inet(p) => {
                    Some((outcome, completion))
                }
                _ => None,
            })
            .collect()
    };
    let open = to(port);
    assert!(open.len() > 16, "{text}");
    assert!(open.iter().all(|(o, _)| o.is_ok()), "a connect that succeeded traced as failed:\n{text}");
    // More were under way at once than the table holds: those stay pending.
    assert!(open.iter().any(|(_, c)| **c == Completion::Deferred), "{text}");
    assert!(open.iter().any(|(_, c)| **c == Completion::Pending), "{text}");
    assert_eq!(
        to(closed_port),
        vec![(&Outcome::Err("ECONNREFUSED".into()), &Completion::Deferred)],
        "{text}"
    );
}
