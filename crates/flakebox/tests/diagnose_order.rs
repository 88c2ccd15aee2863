//! End-to-end tests of the order factor (`diagnose --factors order`) on the
//! order-dependency suites of examples/order, with the real runners: each
//! victim's polluter, the state it leaves, and a replay command that, run,
//! makes the victim fail (and the victim alone passes).
//!
//! Each suite is copied into a scratch directory first: the runs see the
//! copy through their copy-on-write layer, and the replays write into it.

mod common;

use common::*;
use diagnose::order::{OrderEffect, OrderTest};
use diagnose::{Report, Verdict};
use std::path::{Path, PathBuf};
use std::process::Output;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/order")
        .join(name)
        .canonicalize()
        .expect("example")
}

/// A copy of the example in a fresh scratch directory.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = scratch(Who::Root);
    for e in std::fs::read_dir(example(name)).expect("example dir").filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy example file");
        }
    }
    dir
}

fn diagnose_order(cwd: &Path, cmd: &[&str]) -> (Report, Output) {
    let mut args = vec!["diagnose", "--format", "json", "--factors", "order", "--seed", "11", "--"];
    args.extend_from_slice(cmd);
    let output = run(Who::Root, cwd, &args);
    let report: Report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?}: stdout is not one JSON report ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            stdout(&output),
            stderr(&output)
        )
    });
    (report, output)
}

fn victim<'a>(r: &'a Report, id: &str) -> &'a OrderTest {
    let order = r.order.as_ref().expect("the report has the order factor");
    order.tests.iter().find(|t| t.name == id).unwrap_or_else(|| {
        panic!("no test `{id}` among {:?}", order.tests.iter().map(|t| &t.name).collect::<Vec<_>>())
    })
}

/// Run a replay line (`flakebox run -- ...`) in `cwd` with this build.
fn replay(cwd: &Path, line: &str) -> Output {
    let words = shell_words::split(line).expect("replay is shell words");
    assert_eq!(&words[..3], ["flakebox", "run", "--"], "{line}");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    run(Who::Root, cwd, &args)
}

/// Polluter, state and replay of one victim; the replay fails, its victim
/// alone passes (through the same runner, in a fresh sandbox).
fn check_victim(cwd: &Path, r: &Report, id: &str, polluter: &str, state: &str) {
    let t = victim(r, id);
    let ctx = format!("{t:#?}");
    assert_eq!(t.effect, OrderEffect::Victim, "{ctx}");
    assert_eq!(t.polluters, [polluter], "{ctx}");
    let s = t.state.as_ref().expect("state");
    assert!(s.summary.contains(state), "state `{}` should say `{state}`: {ctx}", s.summary);
    let line = t.replay.as_deref().expect("replay");
    // The runner's own syntax: pytest node ids in order; go's `-run`
    // pattern over the names (a go id is `PACKAGE Name`).
    let name = |i: &str| i.rsplit(' ').next().unwrap_or(i).to_string();
    let (p, v) = (name(polluter), name(id));
    let (ip, iv) = (line.find(&p), line.find(&v));
    assert!(ip.is_some() && iv.is_some() && ip < iv, "{line}");
    let out = replay(cwd, line);
    assert_eq!(out.status.code(), Some(1), "replay {line} should fail:\n{}\n{}", stdout(&out), stderr(&out));
    let failed = match id.split_once(' ') {
        // go test -json: the victim's own fail event.
        Some((_, name)) => {
            format!("\"Action\":\"fail\",\"Package\":\"example.com/flakebox/order\",\"Test\":\"{name}\"")
        }
        None => format!("FAILED {id}"),
    };
    assert!(stdout(&out).contains(&failed), "{line}: no `{failed}` in\n{}", stdout(&out));
    assert!(t.search_runs > 0 && t.search.as_ref().is_some_and(|s| s.runs > 0), "{ctx}");
}

#[test]
fn pytest_victims_their_polluters_state_and_replays() {
    let dir = copy_of("pytest");
    let cwd = dir.path();
    let (r, out) = diagnose_order(cwd, &["python3", "-m", "pytest", "-q"]);
    let ctx = stderr(&out);
    // The victims' order effect is the verdict (see diagnose_order_verdict.rs).
    assert_eq!(out.status.code(), Some(10), "{ctx}");
    assert_eq!((r.verdict, r.outcome), (Verdict::Environment, None));
    check_victim(
        cwd,
        &r,
        "test_c_victims.py::test_greeting",
        "test_a_polluters.py::test_patches_greet",
        "in-process",
    );
    check_victim(
        cwd,
        &r,
        "test_b_fixture.py::test_debug_off_by_default",
        "test_b_fixture.py::test_enables_debug",
        "in-process",
    );
    check_victim(
        cwd,
        &r,
        "test_c_victims.py::test_offline",
        "test_a_polluters.py::test_uses_plugin",
        "in-process",
    );
    check_victim(
        cwd,
        &r,
        "test_c_victims.py::test_no_users_yet",
        "test_a_polluters.py::test_inserts_user",
        "order-example.db (the victim uses it too)",
    );
    // Intrinsically flaky too: found all the same.
    let flaky = "test_c_victims.py::test_greeting_flaky";
    check_victim(cwd, &r, flaky, "test_a_polluters.py::test_patches_greet", "in-process");
    // Any test of another module between them re-creates the module-scoped
    // fixture: the search names one as the cleaner when a shuffle showed it.
    let fixture = victim(&r, "test_b_fixture.py::test_debug_off_by_default");
    if let Some(c) = &fixture.cleaner {
        assert!(!c.starts_with("test_b_fixture.py::"), "{fixture:#?}");
    }
    // The stable test and the polluters themselves are no victims.
    let order = r.order.as_ref().expect("order");
    assert!(order
        .tests
        .iter()
        .all(|t| !t.name.contains("test_stable") && !t.name.contains("test_a_polluters")));
    // The victims alone pass: nothing the replays ran leaked into the copy.
    let alone = replay(
        cwd,
        "flakebox run -- python3 -m pytest -q -p no:cacheprovider test_c_victims.py::test_greeting",
    );
    assert_eq!(alone.status.code(), Some(0), "{}", stdout(&alone));
    // The text report names the same.
    let text = diagnose::render_text(&r, false);
    assert!(text.contains("polluter: test_a_polluters.py::test_patches_greet"), "{text}");
    assert!(text.contains("replay: flakebox run -- python3 -m pytest"), "{text}");
}

#[test]
fn pytest_brittle_test_and_its_state_setter() {
    let dir = copy_of("pytest_brittle");
    let cwd = dir.path();
    let (r, out) = diagnose_order(cwd, &["python3", "-m", "pytest", "-q"]);
    // The suite passes in its own order; alone, the test fails: order breaks it.
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let t = victim(&r, "test_config.py::test_reads_config");
    let ctx = format!("{t:#?}");
    assert_eq!(t.effect, OrderEffect::Brittle, "{ctx}");
    assert_eq!(t.polluters, ["test_config.py::test_writes_config"], "{ctx}");
    let s = t.state.as_ref().expect("state");
    assert_eq!(s.files, [cwd.join("config.ini").display().to_string()], "{ctx}");
    // The replay is the test alone, and it fails.
    let line = t.replay.as_deref().expect("replay");
    assert!(line.ends_with(" test_config.py::test_reads_config"), "{line}");
    let out = replay(cwd, line);
    assert_eq!(out.status.code(), Some(1), "{line}:\n{}", stdout(&out));
    assert!(!cwd.join("config.ini").exists(), "a run wrote into the directory itself");
}

#[test]
fn go_package_globals_polluters_and_replays() {
    let dir = copy_of("go");
    let cwd = dir.path();
    let (r, out) = diagnose_order(cwd, &["go", "test", "./..."]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let pkg = "example.com/flakebox/order";
    let id = |name: &str| format!("{pkg} {name}");
    check_victim(cwd, &r, &id("TestNoPlugins"), &id("TestRegisterPlugin"), "in-process");
    // Fails one run in five alone as well.
    check_victim(cwd, &r, &id("TestGreetingFlaky"), &id("TestShout"), "in-process");
    let order = r.order.as_ref().expect("order");
    assert!(order.tests.iter().all(|t| t.name != id("TestUnrelated")), "{order:#?}");
    // go cannot run a listed order: no shuffled orders, only its own.
    assert!(order.tests.iter().all(|t| t.shuffled.is_empty()));
}

#[test]
fn order_needs_a_runner_that_selects_and_orders_tests() {
    let dir = scratch(Who::Root);
    let out = run(Who::Root, dir.path(), &["diagnose", "--factors", "order", "--", "sh", "-c", "true"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("--factors order needs a recognised test runner") && err.contains("--runner NAME"),
        "{err}"
    );
    let out = run(Who::Root, dir.path(), &["diagnose", "--factors", "order", "--", "cargo", "test"]);
    let err = stderr(&out);
    assert!(err.contains("cargo cannot") && err.contains("leave order out"), "{err}");
}
