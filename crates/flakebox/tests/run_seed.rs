//! End-to-end tests of the entropy seed through the real binary:
//! `flakebox run --seed N -- PROGRAM`, as root and as nobody. Each program
//! prints values drawn from its runtime's usual sources of randomness; the
//! same seed must give the same values, another seed other values. The
//! clock is fixed too (`--time`): bash and Ruby mix it into their seeds.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const TIME: &str = "2024-02-29T23:59:58Z";

/// The test needs `tool`: fail, naming it, rather than pass without testing
/// anything. `.ci/run` installs them.
fn require(tool: &str) {
    let cwd = std::env::current_dir().expect("cwd");
    let found = hostfs::find_executable(tool.as_ref(), std::env::var_os("PATH").as_deref(), &cwd).is_some();
    assert!(found, "this test needs `{tool}`, which is not installed (.ci/run installs it)");
}

/// `flakebox run --seed SEED --time TIME -- argv`'s stdout, which must succeed.
fn values(who: Who, dir: &Path, seed: &str, argv: &[&str]) -> String {
    let mut args = vec!["run", "--seed", seed, "--time", TIME, "--"];
    args.extend_from_slice(argv);
    let o = run(who, dir, &args);
    assert!(o.status.success(), "{who:?} seed {seed} {argv:?}: {:?}\n{}", o.status, stderr(&o));
    let out = stdout(&o);
    assert!(!out.trim().is_empty(), "{who:?} {argv:?} printed nothing\n{}", stderr(&o));
    out
}

/// The same seed twice gives the same output, another seed another one on
/// every line (each line is one source).
fn replays(who: Who, dir: &Path, argv: &[&str]) {
    let a = values(who, dir, "1", argv);
    let b = values(who, dir, "1", argv);
    let c = values(who, dir, "2", argv);
    assert_eq!(a, b, "{who:?} {argv:?}: seed 1 twice gave different values");
    assert_eq!(a.lines().count(), c.lines().count(), "{who:?} {argv:?}:\n{a}\n{c}");
    for (x, y) in a.lines().zip(c.lines()) {
        assert_ne!(x, y, "{who:?} {argv:?}: seeds 1 and 2 gave the same line");
    }
}

/// Write `text` as `name` in `dir`, readable by anyone.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write program");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    p
}

const PYTHON: &str = r#"
import random, uuid
print(random.random(), random.getrandbits(64))
print(uuid.uuid4())
# The hash seed comes from the OS unless PYTHONHASHSEED is set.
print(hash("alpha"), list({"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}))
"#;

#[test]
fn python_random_uuid4_and_set_order_follow_the_seed() {
    require("python3");
    for who in BOTH {
        let d = scratch(who);
        write(d.path(), "p.py", PYTHON);
        replays(who, d.path(), &["python3", "p.py"]);
    }
}

#[test]
fn numpy_default_generator_follows_the_seed() {
    require("python3");
    let has_numpy = Command::new("python3").args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
    assert!(has_numpy, "this test needs NumPy (`python3 -m pip install numpy`; .ci/run installs it)");
    for who in BOTH {
        let d = scratch(who);
        replays(
            who,
            d.path(),
            &["python3", "-c", "import numpy; print(numpy.random.default_rng().random(3))"],
        );
    }
}

const WORKERS: &str = r#"
import multiprocessing as mp, os, random, sys
def work(i):
    print(i, os.urandom(4).hex(), random.random(), flush=True)
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    for i in range(3):
        p = ctx.Process(target=work, args=(i,))
        p.start()
        p.join()
    print("parent", os.urandom(4).hex(), flush=True)
"#;

#[test]
fn forked_workers_get_their_own_streams_that_replay() {
    require("python3");
    for who in BOTH {
        let d = scratch(who);
        write(d.path(), "w.py", WORKERS);
        replays(who, d.path(), &["python3", "w.py"]);
        let out = values(who, d.path(), "1", &["python3", "w.py"]);
        let draws: Vec<&str> = out.lines().map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
        let distinct: std::collections::BTreeSet<&str> = draws.iter().copied().collect();
        assert_eq!(draws.len(), 4, "{out}");
        assert_eq!(distinct.len(), 4, "two workers shared a stream:\n{out}");
    }
}

#[test]
fn ruby_random_and_securerandom_follow_the_seed() {
    require("ruby");
    for who in BOTH {
        let d = scratch(who);
        let prog = r#"require "securerandom"; p [Random.rand, rand(1000), Random.new.rand, SecureRandom.hex(8), SecureRandom.uuid]"#;
        replays(who, d.path(), &["ruby", "-e", prog]);
    }
}

#[test]
fn java_securerandom_follows_the_seed() {
    require("java");
    for who in BOTH {
        let d = scratch(who);
        write(
            d.path(),
            "R.java",
            "public class R { public static void main(String[] a) { var s = new java.security.SecureRandom(); \
             System.out.println(s.nextLong() + \" \" + java.util.UUID.randomUUID()); } }",
        );
        replays(who, d.path(), &["java", "R.java"]);
    }
}

#[test]
fn node_math_random_and_crypto_follow_the_seed() {
    require("node");
    for who in BOTH {
        let d = scratch(who);
        let prog = "const c = require('crypto'); \
                    console.log(Math.random(), c.randomUUID(), c.randomBytes(8).toString('hex'))";
        replays(who, d.path(), &["node", "-e", prog]);
    }
}

const C_PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
int main(void)
{
	unsigned char g[8], u[8];
	FILE *f = fopen("/dev/urandom", "rb");
	if (getrandom(g, sizeof g, 0) != sizeof g || !f || fread(u, 1, sizeof u, f) != sizeof u)
		return 1;
	for (int i = 0; i < 8; i++)
		printf("%02x", g[i]);
	printf(" ");
	for (int i = 0; i < 8; i++)
		printf("%02x", u[i]);
	printf(" %08x\n", arc4random());
	return 0;
}
"#;

/// `C_PROG` compiled in `dir` (with `extra` gcc flags), readable by anyone.
fn compile(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let src = write(dir, &format!("{name}.c"), C_PROG);
    let bin = dir.join(name);
    let o = Command::new("gcc").args(extra).arg("-o").arg(&bin).arg(&src).output().expect("gcc");
    assert!(o.status.success(), "gcc: {}", stderr(&o));
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

#[test]
fn c_getrandom_dev_urandom_and_arc4random_follow_the_seed() {
    require("gcc");
    for who in BOTH {
        let d = scratch(who);
        let bin = compile(d.path(), "rnd", &[]);
        replays(who, d.path(), &[bin.to_str().expect("utf-8 path")]);
    }
}

#[test]
fn bash_random_follows_the_seed() {
    for who in BOTH {
        let d = scratch(who);
        replays(who, d.path(), &["bash", "-c", "echo $RANDOM $RANDOM $RANDOM $$"]);
    }
}

/// With -v and in the report: the seed, and each program it cannot reach,
/// named with the reason, typed.
#[test]
fn what_the_seed_cannot_reach_is_said_with_its_reason() {
    require("gcc");
    require("java");
    require("go");
    for who in BOTH {
        let d = scratch(who);
        let st = compile(d.path(), "rnd-static", &["-static"]);
        let st = st.to_str().expect("utf-8 path");
        let report = d.path().join("r.json");
        let rep = report.to_str().expect("utf-8 path");
        let o = run(who, d.path(), &["run", "-v", "--seed", "77", "--report", rep, "--", st]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("seed 77"), "{who:?}: the seed is not printed with -v:\n{err}");
        assert!(
            err.contains(&format!("{st}: statically linked")) && err.contains("does NOT follow the seed"),
            "{who:?}: the static binary is not named:\n{err}"
        );
        let json = read_json(&report);
        assert_eq!(json["rand"]["seed"], 77);
        let typed = json["warning_details"].as_array().expect("warning_details");
        assert!(
            typed.iter().any(|w| w["kind"] == "not_seeded" && w["binary"] == st),
            "{who:?}: no typed warning for {st}: {typed:?}"
        );

        // What no look at a binary can tell is said too, once.
        assert!(err.contains("RDRAND/RDSEED instructions"), "{who:?}: RDRAND is not named:\n{err}");

        // A Go binary: its runtime calls getrandom by raw system call.
        let go = d.path().join("gorand");
        let built = std::process::Command::new("go")
            .args(["build", "-o"])
            .arg(&go)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../clockwatch/tests/progs/gonow.go"))
            .env("GOCACHE", d.path().join(".gocache"))
            .env("GO111MODULE", "off")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("spawn go build");
        assert!(built.status.success(), "go build: {}", String::from_utf8_lossy(&built.stderr));
        std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let go = go.to_str().expect("utf-8 path");
        let o = run(who, d.path(), &["run", "-v", "--seed", "77", "--", go]);
        assert!(
            stderr(&o).contains(&format!("{go}: Go binary"))
                && stderr(&o).contains("does NOT follow the seed"),
            "{who:?}: the Go binary is not named:\n{}",
            stderr(&o)
        );

        // The JVM is reached (SecureRandom follows) but java.util.Random's
        // default seed is not: said with -v, not without.
        write(d.path(), "R.java", "public class R { public static void main(String[] a) { } }");
        let o = run(who, d.path(), &["run", "-v", "--seed", "1", "--", "java", "R.java"]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("java.util.Random"), "{who:?}: {}", stderr(&o));
        let quiet = run(who, d.path(), &["run", "--seed", "1", "--", "java", "R.java"]);
        assert!(!stderr(&quiet).contains("java.util.Random"), "{who:?}: warned without -v or a failure");

        // bash with the clock shared: $RANDOM mixes it in.
        let o = run(who, d.path(), &["run", "-v", "--share", "time", "--", "bash", "-c", "true"]);
        assert!(stderr(&o).contains("wall clock too"), "{who:?}: {}", stderr(&o));
    }
}

/// A failing command prints one replay line; running it gives the same
/// values and the same failure. Without --seed every run has its own seed.
#[test]
fn a_failure_prints_the_line_that_replays_it() {
    require("python3");
    for who in BOTH {
        let d = scratch(who);
        write(
            d.path(),
            "f.py",
            "import random, os\nprint(random.random(), os.urandom(8).hex())\nraise SystemExit(3)\n",
        );
        let first = run(who, d.path(), &["run", "--", "python3", "f.py"]);
        assert_eq!(first.status.code(), Some(3), "{who:?}: {}", stderr(&first));
        let err = stderr(&first);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("replay: ")).collect();
        assert_eq!(lines.len(), 1, "{who:?}: one replay line expected:\n{err}");
        let line = lines[0].trim_start_matches("replay: ");
        assert!(line.starts_with("flakebox run --seed ") && line.contains(" --time "), "{line}");
        assert!(line.ends_with(" -- python3 f.py"), "{line}");
        let argv: Vec<&str> = line.split_whitespace().skip(1).collect();
        let again = run(who, d.path(), &argv);
        assert_eq!(again.status.code(), Some(3), "{who:?}: {}", stderr(&again));
        assert_eq!(stdout(&again), stdout(&first), "{who:?}: `{line}` did not replay the values");
        let fresh = run(who, d.path(), &["run", "--", "python3", "f.py"]);
        assert_ne!(stdout(&fresh), stdout(&first), "{who:?}: two runs without --seed drew the same values");

        let ok = run(who, d.path(), &["run", "--seed", "5", "--", "true"]);
        assert!(ok.status.success() && !stderr(&ok).contains("replay:"), "{who:?}: {}", stderr(&ok));
    }
}

#[test]
fn a_seed_with_rand_shared_is_refused_naming_both() {
    let d = scratch(Who::Root);
    let o = run(Who::Root, d.path(), &["run", "--seed", "3", "--share", "rand", "--", "true"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--seed") && err.contains("--share rand"), "{err}");
    // Shared, the real entropy: two runs differ even with the clock fixed.
    let real = |_| {
        stdout(&run(
            Who::Root,
            d.path(),
            &[
                "run",
                "--share",
                "rand",
                "--time",
                TIME,
                "--",
                "python3",
                "-c",
                "import os; print(os.urandom(8).hex())",
            ],
        ))
    };
    assert_ne!(real(0), real(1));
}

/// `diagnose --factors rand`: every rand-isolated run uses one entropy seed
/// (derived from the shuffle seed, not equal to it), so a command that fails
/// at random is steady there and the verdict names rand; `run --seed` with
/// that seed gives the outcome the rand-isolated runs had.
#[test]
fn diagnose_with_rand_runs_every_isolated_run_under_one_seed() {
    require("python3");
    let who = Who::Root;
    let d = scratch(who);
    write(d.path(), "coin.py", "import os, sys\nsys.exit(os.urandom(1)[0] & 1)\n");
    let o = run(
        who,
        d.path(),
        &["diagnose", "--format", "json", "--seed", "7", "--factors", "rand", "--", "python3", "coin.py"],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&o), stderr(&o)));
    assert_eq!(r["seed"], 7, "{r}");
    let entropy = r["entropy_seed"].as_u64().unwrap_or_else(|| panic!("no entropy_seed: {r}"));
    assert_ne!(entropy, 7);
    assert_eq!(r["verdict"], "environment", "{r}");
    assert_eq!(r["factors"][0]["factor"], "rand", "{r}");
    let rand_cond = r["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "rand"))
        .unwrap_or_else(|| panic!("no rand condition: {r}"));
    let failed = rand_cond["failed"].as_u64().expect("failed");
    let runs = rand_cond["runs"].as_u64().expect("runs");
    assert!(failed == 0 || failed == runs, "rand-isolated runs disagree: {rand_cond}");
    let evidence = r["factors"][0]["evidence"].to_string();
    assert!(evidence.contains(&format!("flakebox run --seed {entropy}")), "{evidence}");

    let seed = entropy.to_string();
    let replay = run(who, d.path(), &["run", "--seed", &seed, "--", "python3", "coin.py"]);
    assert_eq!(replay.status.code(), Some(if failed == 0 { 0 } else { 1 }), "{}", stderr(&replay));
}
