//! The RSpec adapter against the real rspec, on examples/runners/rspec.

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const STABLE: &str = "./spec/suite_spec.rb[1:1]";
const MARKER: &str = "./spec/suite_spec.rb[1:2]";
const FAILS: &str = "./spec/suite_spec.rb[1:3]";
const PASSES: &str = "./spec/suite_spec.rb[1:4]";
const OTHER: &str = "./spec/other_spec.rb[1:1]";

fn rspec() -> runners::Adapter {
    require("rspec", &["--version"], "apt-get install ruby-rspec");
    adapter(&["rspec"], &example("rspec"))
}

fn env(state: &tempfile::TempDir) -> [(&'static str, &str); 1] {
    [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())]
}

#[test]
fn whole_suite_keeps_the_users_output_and_the_marker_test_fails_from_the_second_run() {
    let a = rspec();
    let state = tempfile::tempdir().unwrap();
    let first = run(&a, None, Order::Defined, &env(&state));
    assert_eq!(
        first.outcomes(),
        vec![
            (OTHER.into(), Outcome::Passed),
            (STABLE.into(), Outcome::Passed),
            (MARKER.into(), Outcome::Passed),
            (FAILS.into(), Outcome::Failed),
            (PASSES.into(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    // The progress formatter still prints to the terminal.
    assert!(first.output.contains("..F."), "{}", first.output);
    let fails = first.results.iter().find(|r| r.outcome == Outcome::Failed).unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("expected: 3")), "{fails:?}");
    let second = run(&a, None, Order::AsCommand, &env(&state));
    assert_eq!(second.outcome(MARKER), Some(Outcome::Failed), "{}", second.output);
}

#[test]
fn selection_by_id_and_by_file_line() {
    let a = rspec();
    let state = tempfile::tempdir().unwrap();
    let ran = run(&a, ids(&[PASSES, OTHER]), Order::Defined, &env(&state));
    // Files load in the order given; examples within a file run as defined.
    assert_eq!(
        ran.outcomes(),
        vec![(PASSES.into(), Outcome::Passed), (OTHER.into(), Outcome::Passed)],
        "{}",
        ran.output
    );
    let ran = run(&a, ids(&["spec/suite_spec.rb:22"]), Order::AsCommand, &env(&state));
    assert_eq!(ran.outcomes(), vec![(FAILS.into(), Outcome::Failed)], "{}", ran.output);
}

#[test]
fn shuffle_seed_is_replayed() {
    let a = rspec();
    let state = tempfile::tempdir().unwrap();
    let file = ids(&["spec/suite_spec.rb"]);
    let order = |r: &common::Ran| r.results.iter().map(|t| t.id.0.clone()).collect::<Vec<_>>();
    let defined = order(&run(&a, file.clone(), Order::Defined, &env(&state)));
    assert_eq!(defined, [STABLE, MARKER, FAILS, PASSES]);
    let mut orders = Vec::new();
    for seed in 1..=3 {
        let once = run(&a, file.clone(), Order::Shuffle { seed }, &env(&state));
        assert!(once.output.contains(&format!("Randomized with seed {seed}")), "{}", once.output);
        assert_eq!(order(&once), order(&run(&a, file.clone(), Order::Shuffle { seed }, &env(&state))));
        orders.push(order(&once));
    }
    assert!(orders.iter().any(|o| o != &defined), "no seed changed the order: {orders:?}");
}

/// A suite with nested groups in two files, in a fresh directory; its
/// helper asks for a random order, which a listed order must override.
fn nested_suite() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spec")).unwrap();
    std::fs::write(dir.path().join(".rspec"), "--require spec_helper\n--order rand\n").unwrap();
    std::fs::write(dir.path().join("spec/spec_helper.rb"), "RSpec.configure { |c| c.order = :random }\n")
        .unwrap();
    let body = |name: &str| {
        format!(
            "RSpec.configure {{ |c| c.order = :random }}\n\
             RSpec.describe '{name}' do\n\
             \x20 it('one') {{ }}\n\
             \x20 describe 'nested' do\n\
             \x20   it('inner one') {{ }}\n\
             \x20   it('inner two') {{ }}\n\
             \x20 end\n\
             \x20 it('two') {{ }}\n\
             \x20 it('three') {{ }}\n\
             end\n\
             RSpec.describe '{name} again' do\n\
             \x20 it('four') {{ }}\n\
             end\n"
        )
    };
    std::fs::write(dir.path().join("spec/a_spec.rb"), body("a")).unwrap();
    std::fs::write(dir.path().join("spec/b_spec.rb"), body("b")).unwrap();
    dir
}

#[test]
fn listed_orders_run_as_listed_as_far_as_the_groups_allow() {
    require("rspec", &["--version"], "apt-get install ruby-rspec");
    let suite = nested_suite();
    let a = adapter(&["rspec"], suite.path());
    let order = |sel: &[&str]| {
        let ran = run(&a, ids(sel), Order::AsListed, &[]);
        assert!(ran.exit_ok, "{:?}\n{}", ran.argv, ran.output);
        (ran.results.iter().map(|t| t.id.0.clone()).collect::<Vec<_>>(), ran.argv)
    };
    // Definition order, a seed, and the ordering file (lists too long for a
    // seed, across files and groups): each exactly as listed.
    let exact: [&[&str]; 4] = [
        &["./spec/b_spec.rb[1:3]", "./spec/a_spec.rb[1:1]", "./spec/a_spec.rb[1:2:2]"],
        &["./spec/a_spec.rb[1:4]", "./spec/a_spec.rb[1:3]", "./spec/a_spec.rb[1:1]"],
        &[
            "./spec/a_spec.rb[2:1]",
            "./spec/b_spec.rb[1:4]",
            "./spec/b_spec.rb[1:1]",
            "./spec/b_spec.rb[1:3]",
            "./spec/b_spec.rb[1:2:2]",
            "./spec/b_spec.rb[1:2:1]",
            "./spec/b_spec.rb[2:1]",
            "./spec/a_spec.rb[1:4]",
            "./spec/a_spec.rb[1:1]",
            "./spec/a_spec.rb[1:3]",
        ],
        &["./spec/a_spec.rb[1:2:2]", "./spec/a_spec.rb[1:2:1]"],
    ];
    let mut how = Vec::new();
    for sel in exact {
        let (ran, argv) = order(sel);
        assert_eq!(ran, sel, "{argv:?}");
        how.push(
            argv.iter().any(|w| w.starts_with("rand:")) as u8
                + 2 * argv.iter().any(|w| w == "--require") as u8,
        );
    }
    // Each way was used: definition order, a seed, the file.
    assert!(how.contains(&0) && how.contains(&1) && how.contains(&2), "{how:?}");
    // A nested group's example before its parent's own cannot be: the
    // victim still runs last when its group allows.
    let sel = ["./spec/a_spec.rb[1:2:1]", "./spec/b_spec.rb[1:1]", "./spec/a_spec.rb[1:3]"];
    let (ran, argv) = order(&sel);
    assert_eq!(
        ran,
        ["./spec/b_spec.rb[1:1]", "./spec/a_spec.rb[1:3]", "./spec/a_spec.rb[1:2:1]"],
        "{argv:?}"
    );
    let sel = ["./spec/a_spec.rb[1:2:1]", "./spec/a_spec.rb[1:1]", "./spec/b_spec.rb[1:1]"];
    let (ran, argv) = order(&sel);
    assert_eq!(ran.last().map(String::as_str), Some("./spec/b_spec.rb[1:1]"), "{argv:?}");
}
