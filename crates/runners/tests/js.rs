//! The Jest and Vitest adapters against the real runners, on
//! examples/runners/jest and examples/runners/vitest (dependencies pinned
//! in each package-lock.json, installed by `npm ci`).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const STABLE: &str = "suite.test.js › suite › stable";
const MARKER: &str = "suite.test.js › suite › leaves a marker";
const FAILS: &str = "suite.test.js › suite › plain fails";
const PASSES: &str = "suite.test.js › suite › plain passes";
const OTHER: &str = "more/other.test.js › other file";

fn js(runner: &str) -> runners::Adapter {
    js_with(runner, &[])
}

fn js_with(runner: &str, args: &[&str]) -> runners::Adapter {
    require("node", &["--version"], "apt-get install nodejs npm");
    let dir = example(runner);
    assert!(
        dir.join("node_modules/.bin").join(runner).exists(),
        "{runner} is not installed in {}: run `npm ci` there (.ci/run does)",
        dir.display()
    );
    let mut cmd = vec!["npx", "--no-install", runner];
    cmd.extend(args);
    adapter(&cmd, &dir)
}

fn whole_suite(runner: &str) {
    let a = js(runner);
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let first = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        first.sorted_outcomes(),
        vec![
            (OTHER.into(), Outcome::Passed),
            (MARKER.into(), Outcome::Passed),
            (FAILS.into(), Outcome::Failed),
            (PASSES.into(), Outcome::Passed),
            (STABLE.into(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    let fails = first.results.iter().find(|r| r.outcome == Outcome::Failed).unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("3") && !m.contains(" at ")), "{fails:?}");
    let second = run(&a, None, Order::AsCommand, &env);
    assert_eq!(second.outcome(MARKER), Some(Outcome::Failed), "{}", second.output);
}

/// Tests the selection filtered out are reported as skipped, not run.
fn selection(runner: &str) {
    let a = js(runner);
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let ran = run(&a, ids(&[PASSES]), Order::AsCommand, &env);
    let mut expected: Vec<(String, Outcome)> =
        [MARKER, FAILS, STABLE].iter().map(|id| (id.to_string(), Outcome::Skipped)).collect();
    expected.push((PASSES.into(), Outcome::Passed));
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(ran.sorted_outcomes(), expected, "{}", ran.output);
    let ran = run(&a, ids(&["more/other.test.js"]), Order::AsCommand, &env);
    assert_eq!(ran.outcomes(), vec![(OTHER.into(), Outcome::Passed)], "{}", ran.output);
}

/// Jest reports tests in the order they ran.
fn order(ran: &common::Ran) -> Vec<String> {
    ran.results.iter().filter(|r| r.id.0.starts_with("suite.test.js")).map(|r| r.id.0.clone()).collect()
}

/// Vitest's JSON lists tests as defined; its verbose reporter (the user's,
/// kept beside the JSON one) prints them as they finish.
fn vitest_order(ran: &common::Ran) -> Vec<String> {
    // Vitest colours its output whenever CI is set, terminal or not.
    let plain = strip_ansi(&ran.output);
    plain
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("✓ ").or_else(|| l.trim_start().strip_prefix("× ")))
        .filter_map(|l| l.strip_prefix("suite.test.js > suite > "))
        .map(|l| format!("suite.test.js › suite › {}", l.rsplit_once(' ').map_or(l, |(name, _ms)| name)))
        .collect()
}

/// The text without its ANSI escape sequences (ESC [ ... letter).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn shuffle(a: runners::Adapter, order: fn(&common::Ran) -> Vec<String>) {
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let file = ids(&["suite.test.js"]);
    let defined = run(&a, file.clone(), Order::Defined, &env);
    assert_eq!(order(&defined), [STABLE, MARKER, FAILS, PASSES], "{}", defined.output);
    let mut orders = Vec::new();
    for seed in 1..=3 {
        let once = run(&a, file.clone(), Order::Shuffle { seed }, &env);
        let again = run(&a, file.clone(), Order::Shuffle { seed }, &env);
        assert_eq!(order(&once), order(&again), "seed {seed} replays");
        orders.push(order(&once));
    }
    assert!(orders.iter().any(|o| o != &order(&defined)), "no seed changed the order: {orders:?}");
}

#[test]
fn jest_whole_suite_then_the_marker_test_fails_from_the_second_run() {
    whole_suite("jest");
}

#[test]
fn jest_selection_by_test_and_by_file() {
    selection("jest");
}

#[test]
fn jest_shuffle_seed_is_replayed() {
    shuffle(js("jest"), order);
}

#[test]
fn vitest_whole_suite_then_the_marker_test_fails_from_the_second_run() {
    whole_suite("vitest");
}

#[test]
fn vitest_selection_by_test_and_by_file() {
    selection("vitest");
}

#[test]
fn vitest_shuffle_seed_is_replayed() {
    shuffle(js_with("vitest", &["--reporter=verbose"]), vitest_order);
}

/// The packages' own launchers, as package.json scripts and CI files
/// spell them: recognised, and a selection runs through them.
fn entry_file_selects(runner: &str, launcher: &[&str]) {
    js(runner); // the toolchain is there
    let a = adapter(launcher, &example(runner));
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let ran = run(&a, ids(&[PASSES]), Order::AsCommand, &env);
    let ran_ids: Vec<String> =
        ran.results.iter().filter(|r| r.outcome != Outcome::Skipped).map(|r| r.id.0.clone()).collect();
    assert_eq!(ran_ids, [PASSES], "{launcher:?}: {}", ran.output);
}

#[test]
fn jest_by_its_package_entry_file() {
    entry_file_selects("jest", &["node_modules/jest/bin/jest.js"]);
    entry_file_selects("jest", &["node", "--experimental-vm-modules", "node_modules/jest/bin/jest.js"]);
}

#[test]
fn vitest_by_its_package_entry_file() {
    entry_file_selects("vitest", &["node_modules/vitest/vitest.mjs", "run"]);
    entry_file_selects("vitest", &["node", "node_modules/vitest/vitest.mjs"]);
}
