//! End-to-end: `timetravel` and `diagnose` on a Go suite (examples/go_timebomb),
//! whose clock only clockwatch can freeze (the `go` tool and the test binary it
//! builds and execs are both Go binaries that read the vDSO). The go adapter
//! reads `-json`, so no --junit. As root and as nobody.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PKG: &str = "example.com/flakebox/gotimebomb";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/go_timebomb")
}

/// A copy of the example in a scratch directory owned by `who`, with a Go
/// build cache there (nobody cannot write root's), warmed outside the
/// sandbox: a run's writes are thrown away with its copy-on-write fs, so a
/// cold cache would rebuild the standard library in every run.
fn module_for(who: Who) -> tempfile::TempDir {
    let d = scratch(who);
    for e in std::fs::read_dir(example()).expect("example dir").filter_map(Result::ok) {
        let to = d.path().join(e.file_name());
        std::fs::copy(e.path(), &to).expect("copy the example");
        if who == Who::Nobody {
            std::os::unix::fs::chown(&to, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
    }
    let mut warm = match who {
        Who::Root => Command::new("go"),
        Who::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "go"]);
            c
        }
    };
    go_env(&mut warm, d.path()).args(["test", "-run", "^$", "./..."]).current_dir(d.path());
    let o = warm.output().unwrap_or_else(|e| panic!("go: {e}; .ci/run installs golang-go"));
    assert!(o.status.success(), "{who:?}: warming the build cache: {}\n{}", stdout(&o), stderr(&o));
    d
}

/// The Go toolchain's state in `dir`, one toolchain, no cached results, a
/// fixed zone.
fn go_env<'a>(c: &'a mut Command, dir: &Path) -> &'a mut Command {
    c.env("HOME", dir)
        .env("GOCACHE", dir.join(".gocache"))
        .env("GOPATH", dir.join(".gopath"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-count=1")
        .env("CGO_ENABLED", "0")
        .env("TZ", "UTC")
}

/// `flakebox ARGS` as `who` in the module `dir` (see [`go_env`]).
fn flakebox_go(who: Who, dir: &Path, args: &[&str]) -> Command {
    let mut c = command(who, dir, args);
    go_env(&mut c, dir);
    c
}

fn json_of(o: &std::process::Output, what: &str) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e}); exit {:?}\n{}\n{}",
            o.status.code(),
            stdout(o),
            stderr(o)
        )
    })
}

fn test<'a>(report: &'a Value, name: &str) -> &'a Value {
    let id = format!("{PKG} {name}");
    report["tests"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == id.as_str()))
        .unwrap_or_else(|| panic!("no test {id} in {report}"))
}

#[test]
fn timetravel_finds_the_new_year_bomb_in_a_go_suite() {
    for who in BOTH {
        let d = module_for(who);
        let o = flakebox_go(
            who,
            d.path(),
            &["timetravel", "--now", "2026-11-22T12:00:00Z", "--format", "json", "--", "go", "test", "./..."],
        )
        .output()
        .expect("run flakebox timetravel");
        let report = json_of(&o, "timetravel");
        let ctx = format!("{who:?}: {}", stderr(&o));
        assert_eq!(o.status.code(), Some(20), "time bombs found: {ctx}\n{report}");
        let licence = test(&report, "TestLicenceIsValid");
        assert_eq!(licence["verdict"], "time-dependent", "{ctx}\n{licence}");
        assert_eq!(licence["first_failure"]["instant"], "2027-01-01T00:00:00Z", "{ctx}\n{licence}");
        assert!(
            licence["first_failure"]["label"].as_str().unwrap_or("").contains("next New Year 2027"),
            "{licence}"
        );
        assert_eq!(licence["first_failure"]["days_from_now"], 40, "{licence}");
        // Every probe is a frozen instant: the first odd one is the last
        // second before midnight, and the single-read test fails there.
        let odd = test(&report, "TestOddSecond");
        assert_eq!(odd["verdict"], "time-dependent", "{ctx}\n{odd}");
        assert_eq!(odd["first_failure"]["instant"], "2026-11-22T23:59:59Z", "{ctx}\n{odd}");
        assert_eq!(test(&report, "TestLicenceBoundary")["verdict"], "stable", "{ctx}\n{report}");
        assert!(
            report["warnings"].to_string().contains("its clock IS frozen"),
            "the go tool is reached through clockwatch: {ctx}\n{}",
            report["warnings"]
        );
    }
}

/// TestOddSecondAcrossASecondOfWork fails in every baseline run (its two
/// reads, a second apart, see an odd second) and passes in every run with the
/// clock frozen on an even second, so every round is discordant and the
/// verdict is certain once the sequential sign test can reach alpha: all
/// rounds one way after D rounds gives 2^-D (plus the small share of the
/// non-extreme paths), reported over `fixes`' 2/3 share of alpha: D = 6
/// gives 0.023 < 0.05, while D = 5 (0.047) is too close to count on.
/// `TestOddSecond` also matches the -run pattern: a single read, flaky at
/// real time; frozen on an even second it passes too.
#[test]
fn diagnose_attributes_the_odd_second_go_test_to_time() {
    for who in BOTH {
        let d = module_for(who);
        let o = flakebox_go(
            who,
            d.path(),
            &[
                "diagnose",
                "--format",
                "json",
                "--factors",
                "time",
                "--time",
                "2026-11-22T12:00:00Z",
                "--min-runs",
                "6",
                "--max-runs",
                "6",
                "--",
                "go",
                "test",
                "-run",
                "TestOddSecond",
                "./...",
            ],
        )
        .output()
        .expect("run flakebox diagnose");
        let r = json_of(&o, "diagnose");
        let ctx = format!("{who:?}: {}\n{}", stderr(&o), r["summary"]);
        assert_eq!(r["verdict"], "environment", "{ctx}\n{r}");
        assert_eq!(o.status.code(), Some(10), "{ctx}");
        assert_eq!(r["frozen_instant"], "2026-11-22T12:00:00Z", "{ctx}");
        let t = test(&r, "TestOddSecondAcrossASecondOfWork");
        assert_eq!(t["verdict"], "environment", "{ctx}\n{t}");
        let f = &t["factors"][0];
        assert_eq!(f["factor"], "time", "{ctx}\n{t}");
        assert_eq!(f["effect"], "fixes", "{ctx}\n{t}");
        assert_eq!(f["baseline"]["passed"], 0, "always fails at real time: {ctx}\n{t}");
        assert_eq!(f["isolated"]["failed"], 0, "never fails frozen on an even second: {ctx}\n{t}");
        assert_eq!(f["isolated"]["runs"], 6, "{ctx}\n{t}");
        let command = &r["factors"][0];
        assert_eq!((&command["factor"], &command["effect"]), (&"time".into(), &"fixes".into()), "{ctx}\n{r}");
    }
}
