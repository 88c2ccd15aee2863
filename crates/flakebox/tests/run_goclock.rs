//! End-to-end: the frozen clock reaches Go, static glibc and musl programs
//! through `flakebox run` (the clockwatch supervisor), as root and as nobody.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const SPEC: &str = "2024-02-29T23:59:58Z";
const INSTANT: i64 = 1_709_251_198;

fn progs_src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clockwatch/tests/progs")
}

fn built(out: &Path, what: &str, cmd: &mut Command) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}; .ci/run installs golang-go and musl-tools"));
    assert!(o.status.success(), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A Go toolchain command that works for `who` in `dir` (its own cache there).
fn go(who: Who, dir: &Path, args: &[&str]) -> Command {
    let mut c = match who {
        Who::Root => Command::new("go"),
        Who::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "go"]);
            c
        }
    };
    c.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GOCACHE", dir.join(".gocache"))
        .env("GOPATH", dir.join(".gopath"))
        .env("GOFLAGS", "-count=1")
        .env("CGO_ENABLED", "0");
    c
}

#[test]
fn go_test_exec_sees_the_frozen_instant() {
    for who in BOTH {
        let d = scratch(who);
        std::fs::write(d.path().join("go.mod"), "module yeartest\n\ngo 1.19\n").expect("go.mod");
        std::fs::write(
            d.path().join("year_test.go"),
            r#"package yeartest

import (
	"context"
	"testing"
	"time"
)

func TestFrozenLeapDay(t *testing.T) {
	now := time.Now().UTC()
	if now.Format(time.RFC3339) != "2024-02-29T23:59:58Z" {
		t.Fatalf("now is %v, want 2024-02-29T23:59:58Z", now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	<-ctx.Done()
	time.Sleep(10 * time.Millisecond)
	<-time.After(10 * time.Millisecond)
	if got := time.Now().UTC(); !got.Equal(now) {
		t.Fatalf("the frozen clock moved: %v then %v", now, got)
	}
}
"#,
        )
        .expect("test file");
        if who == Who::Nobody {
            for f in ["go.mod", "year_test.go"] {
                std::os::unix::fs::chown(d.path().join(f), Some(NOBODY), Some(NOBODY)).expect("chown");
            }
        }
        let exec = format!("{} run --timeout 120s --time {SPEC} --", flakebox().display());
        let o = go(who, d.path(), &["test", "-v", "-exec", &exec, "."]).output().expect("go test");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{who:?}: {out}\n{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.contains("--- PASS: TestFrozenLeapDay"), "{who:?}: {out}");
    }
}

#[test]
fn static_musl_and_go_programs_and_a_python_child_agree_on_the_instant() {
    let build = tempfile::Builder::new().prefix("flakebox-goclock-").tempdir().expect("tempdir");
    let b = build.path();
    let src = progs_src();
    let glibc = b.join("clocks-glibc");
    built(
        &glibc,
        "gcc -static",
        Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&glibc).arg(src.join("clocks.c")),
    );
    let musl = b.join("clocks-musl");
    built(
        &musl,
        "musl-gcc",
        Command::new("musl-gcc").args(["-static", "-O2", "-o"]).arg(&musl).arg(src.join("clocks.c")),
    );
    let gonow = b.join("gonow");
    built(
        &gonow,
        "go build",
        Command::new("go")
            .args(["build", "-o"])
            .arg(&gonow)
            .arg(src.join("gonow.go"))
            .env("GOCACHE", b.join(".gocache"))
            .env("GO111MODULE", "off")
            .env("CGO_ENABLED", "0"),
    );
    for who in BOTH {
        let d = scratch(who);
        let place = |p: &Path| {
            let to = d.path().join(p.file_name().expect("name"));
            std::fs::copy(p, &to).expect("copy");
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            format!("./{}", to.file_name().and_then(|n| n.to_str()).expect("utf-8"))
        };
        let (g, m, go) = (place(&glibc), place(&musl), place(&gonow));
        for c in [&g, &m] {
            let o = run(who, d.path(), &["run", "--timeout", "60s", "--time", SPEC, "--", c]);
            assert!(o.status.success(), "{who:?} {c}: {}", stderr(&o));
            let out = stdout(&o);
            for key in ["clock_gettime", "gettimeofday", "time", "coarse"] {
                let line = format!("{key} {INSTANT}");
                assert!(out.lines().any(|l| l.starts_with(&line)), "{who:?} {c}: no {line:?} in {out}");
            }
            assert!(out.contains("monotonic_advances 1"), "{who:?} {c}: {out}");
            // fake_now + 0.2 s: waited on real time (MONOTONIC), then returned 0.
            let sleep: Vec<i64> = out
                .lines()
                .find_map(|l| l.strip_prefix("abs_sleep_ms "))
                .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            assert!(sleep.len() == 2 && sleep[0] >= 195 && sleep[1] == 0, "{who:?} {c}: {out}");
        }
        // The Go program runs Python (dynamically linked: the shim's path); both
        // print nanoseconds since the epoch.
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--timeout",
                "60s",
                "--time",
                SPEC,
                "--",
                &go,
                "python3",
                "-c",
                "import time; print(time.time_ns())",
            ],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let out = stdout(&o);
        let want = INSTANT as i128 * 1_000_000_000;
        assert!(out.contains(&format!("now2 {want}\n")), "{who:?}: Go: {out}");
        assert!(out.contains(&format!("child {want}\n")), "{who:?}: Python: {out}");
        assert!(stderr(&o).contains("its clock IS frozen"), "{who:?}: {}", stderr(&o));
    }
}

/// A static musl program's absolute deadlines on the REALTIME clock (a
/// timerfd, a POSIX timer, a condition variable) under `flakebox run`: set at
/// fake_now + 0.2 s, each fires 0.2 s later on real time.
#[test]
fn a_static_programs_absolute_deadlines_fire_on_real_time() {
    let build = tempfile::Builder::new().prefix("flakebox-goclock-").tempdir().expect("tempdir");
    let bin = build.path().join("deadlines-musl");
    built(
        &bin,
        "musl-gcc",
        Command::new("musl-gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(progs_src().join("deadlines.c")),
    );
    for who in BOTH {
        let d = scratch(who);
        let to = d.path().join("deadlines-musl");
        std::fs::copy(&bin, &to).expect("copy");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let o = run(who, d.path(), &["run", "--timeout", "60s", "--time", SPEC, "--", "./deadlines-musl"]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let out = stdout(&o);
        for (key, ok) in [("timerfd", 0), ("timer", 0), ("condwait", 1)] {
            let v: Vec<i64> = out
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} ")))
                .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            assert!(v.len() == 2 && (195..20_000).contains(&v[0]) && v[1] == ok, "{who:?} {key}: {out}");
        }
        assert!(out.contains("unchanged 1"), "{who:?}: {out}");
    }
}
