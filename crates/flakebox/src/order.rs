//! `diagnose --factors ...,order`: the CLI's side of the order factor (the
//! engine is `diagnose::order`): reading `order` out of the factor list,
//! refusing a runner that cannot select and order tests, and the replay
//! command in the runner's own syntax.

use anyhow::{bail, Result};
use diagnose::Report;
use runners::{Adapter, Invocation, Order, TestId};
use std::path::Path;

/// The factor list without `order`, and whether `order` was in it. With
/// only `order`, the list is empty (`Some("")`): no environment factor.
pub fn split_factors(list: Option<&str>) -> (Option<String>, bool) {
    let Some(list) = list else { return (None, false) };
    let mut order = false;
    let rest: Vec<&str> = list
        .split(',')
        .filter(|p| {
            let is_order = p.trim().eq_ignore_ascii_case("order");
            order |= is_order;
            !is_order
        })
        .collect();
    (Some(rest.join(",")), order)
}

/// Why these options cannot diagnose order as asked (`None`: they can):
/// `--test` without order; order under `--shard`.
pub fn usage_error(order: bool, sharded: bool, tests: &[String]) -> Option<String> {
    if !tests.is_empty() && !order {
        return Some(format!(
            "--test {} names a test for the order factor, which is not diagnosed: add order to --factors \
             (e.g. --factors order, or --factors net,fs,time,order)",
            tests[0]
        ));
    }
    if order && sharded {
        return Some(
            "--factors order cannot be sharded: its polluter search chooses each run from the outcome of \
             the one before, so no plan can split its runs among shards alike. Leave order out of the \
             shards' --factors, merge their parts with `flakebox merge`, then diagnose order once, \
             unsharded: `flakebox diagnose --factors order [--test ID]... -- CMD` (the merged report's \
             tests that are not stable are the ones to name with --test)"
                .into(),
        );
    }
    None
}

/// The order factor runs chosen tests in a chosen order through the runner.
pub fn check_runner(adapter: Option<&Adapter>) -> Result<()> {
    match adapter {
        None => bail!(
            "--factors order needs a recognised test runner (pytest, go test, cargo test, RSpec, ...) to run \
             chosen tests in a chosen order; this command is diagnosed as a whole: name its runner with \
             --runner NAME, or leave order out"
        ),
        Some(a) => {
            let caps = a.capabilities();
            if !(caps.can_select && (caps.can_order || keeps_suite_order(a.kind))) {
                bail!(
                    "--factors order needs a test runner that runs chosen tests in the order given; {} cannot \
                     (it sorts or parallelises them): leave order out",
                    a.kind
                );
            }
            Ok(())
        }
    }
}

/// Runners that cannot run a listed order but run any selection in the
/// suite's own order (go: each package's tests in source order; Jest: each
/// file's in definition order, `-t` selecting among them): the
/// polluter search only ever runs subsets of an order the suite ran, so it
/// works; shuffled orders are left out.
pub fn keeps_suite_order(kind: runners::RunnerKind) -> bool {
    matches!(kind, runners::RunnerKind::Go | runners::RunnerKind::Jest)
}

/// Where the replay's private results would go: words naming it are left
/// out of the replay, which needs no result files.
const RESULTS: &str = "/flakebox-order-results";

/// `flakebox run -- CMD` running exactly `tests` in this order, in the
/// runner's own syntax.
pub fn replay(adapter: &Adapter, tests: &[String]) -> Option<String> {
    Some(diagnose::replay::run_line(&[], &command(adapter, tests)?))
}

/// The command (CMD of [`replay`]) running exactly `tests` in this order,
/// in the runner's own syntax.
pub fn command(adapter: &Adapter, tests: &[String]) -> Option<Vec<String>> {
    let inv = Invocation {
        selection: Some(tests.iter().map(TestId::new).collect()),
        // A runner that cannot order runs a selection in the suite's order.
        order: if adapter.capabilities().can_order { Order::AsListed } else { Order::Defined },
        results_dir: Path::new(RESULTS).to_path_buf(),
    };
    let planned = adapter.plan(&inv).ok()?;
    if !planned.files.is_empty() {
        // The order needs a file flakebox writes (RSpec's ordering for an
        // order neither definition order nor a seed gives): no replay.
        return None;
    }
    let mut words: Vec<String> = Vec::new();
    for w in planned.argv {
        if w.contains(RESULTS) {
            // `--out DIR` as two words, or Jest's `--json --outputFile=…`:
            // the flag flakebox put before it goes too; one of the user's
            // own (`-pno:randomly`) stays.
            if words
                .last()
                .is_some_and(|p| p.starts_with('-') && !p.contains('=') && !adapter.argv.contains(p))
            {
                words.pop();
                // RSpec's `--out` belongs to the formatter named before it.
                if words.len() >= 2 && words[words.len() - 2..] == ["--format", "json"] {
                    words.truncate(words.len() - 2);
                }
            }
            continue;
        }
        words.push(w);
    }
    let env: Vec<String> =
        planned.env.iter().filter(|(_, v)| !v.contains(RESULTS)).map(|(k, v)| format!("{k}={v}")).collect();
    let mut line: Vec<String> = Vec::new();
    if !env.is_empty() {
        line.push("env".into());
        line.extend(env);
    }
    line.extend(words);
    Some(line)
}

/// The order factor's options for a diagnosis with these options: every
/// diagnosed factor isolated, and fs, the diagnosis's alpha and seed, its
/// suspects, the tests the user named, and each test's Holm family (its
/// environment factors' p-values).
pub fn options(
    adapter: &Adapter,
    isolate: factors::FactorSet,
    opts: &diagnose::Options,
    report: Option<&Report>,
    named: &[String],
) -> diagnose::order::OrderOptions {
    let defaults = diagnose::order::OrderOptions::default();
    diagnose::order::OrderOptions {
        // fs always: every run starts from a fresh copy-on-write layer (no
        // state kept from another run), and what the polluter writes is seen.
        isolate: isolate.with(factors::Factor::Fs),
        alpha: opts.alpha,
        seed: opts.seed,
        shuffles: if adapter.capabilities().can_order { defaults.shuffles } else { 0 },
        tests: report.map(suspects).unwrap_or_default(),
        named: named.to_vec(),
        family: report.map(diagnose::order_verdict::family).unwrap_or_default(),
        ..defaults
    }
}

/// The tests of a finished diagnosis the order factor examines besides
/// those failing in its own runs: every test not stable, and every one
/// that failed only in whole-suite runs.
pub fn suspects(report: &Report) -> Vec<String> {
    report
        .tests
        .iter()
        .filter(|t| t.verdict != diagnose::Verdict::Stable || t.fails_only_in_suite)
        .map(|t| t.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runners::{Detection, RunnerChoice};

    fn adapter(cmd: &str) -> Adapter {
        let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        match runners::choose(RunnerChoice::Auto, &argv, Path::new("/p")) {
            Detection::Detected(a) => a,
            _ => panic!("{cmd}: not detected"),
        }
    }

    #[test]
    fn order_is_read_out_of_the_factor_list() {
        assert_eq!(split_factors(None), (None, false));
        assert_eq!(split_factors(Some("net,time")), (Some("net,time".into()), false));
        assert_eq!(split_factors(Some("fs,order")), (Some("fs".into()), true));
        assert_eq!(split_factors(Some("Order")), (Some(String::new()), true));
    }

    #[test]
    fn replay_is_the_runners_own_command_without_private_results() {
        let a = adapter("python3 -m pytest -q tests/");
        let r = replay(&a, &["tests/a.py::test_x".into(), "tests/b.py::test_y".into()]).unwrap();
        assert_eq!(
            r,
            "flakebox run -- python3 -m pytest -q -p no:cacheprovider -p no:randomly -o 'junit_family=xunit1' \
             tests/a.py::test_x tests/b.py::test_y"
        );
        // The user's command plus flakebox's options once: a plugin the
        // command disables already is not disabled again.
        let a = adapter("python3 -m pytest -q -p no:cacheprovider -pno:randomly tests/");
        let r = replay(&a, &["tests/a.py::test_x".into()]).unwrap();
        assert_eq!(
            r,
            "flakebox run -- python3 -m pytest -q -p no:cacheprovider -pno:randomly -o 'junit_family=xunit1' \
             tests/a.py::test_x"
        );
        // Jest's results flag goes with its file.
        let a = adapter("npx jest --ci");
        let r = replay(&a, &["src/a.test.js".into()]).unwrap_or_default();
        assert!(!r.contains("--json") && r.starts_with("flakebox run -- npx jest --ci "), "{r}");
        let a = adapter("go test ./...");
        let r = replay(&a, &["example.com/m/pkg TestA".into(), "example.com/m/pkg TestB".into()]);
        let r = r.expect("go replay");
        assert_eq!(
            r,
            "flakebox run -- go test -json '-count=1' '-shuffle=off' '-run=^(TestA|TestB)$' example.com/m/pkg"
        );
        // RSpec: definition order, else a seed of its own shuffle.
        let a = adapter("rspec spec/");
        let r = replay(&a, &["./spec/b_spec.rb[1:1]".into(), "./spec/a_spec.rb[1:2]".into()]);
        assert_eq!(
            r.as_deref(),
            Some(
                "flakebox run -- rspec --format progress --order defined './spec/b_spec.rb[1:1]' \
                 './spec/a_spec.rb[1:2]'"
            )
        );
        let r =
            replay(&a, &["./spec/a_spec.rb[1:2]".into(), "./spec/a_spec.rb[1:1]".into()]).expect("a seed");
        assert!(
            r.contains(" --format progress --order rand:")
                && r.ends_with(" './spec/a_spec.rb[1:2]' './spec/a_spec.rb[1:1]'"),
            "{r}"
        );
        // An order only flakebox's ordering file gives: none.
        assert_eq!(replay(&a, &["./spec/a_spec.rb[1:2:1]".into(), "./spec/a_spec.rb[1:1]".into()]), None);
    }

    #[test]
    fn order_under_shards_and_a_test_without_order_are_refused_with_what_to_do() {
        assert_eq!(usage_error(true, false, &["t".into()]), None);
        assert_eq!(usage_error(false, true, &[]), None);
        let e = usage_error(true, true, &[]).unwrap_or_default();
        assert!(
            e.contains("cannot be sharded") && e.contains("flakebox merge") && e.contains("unsharded"),
            "{e}"
        );
        let e = usage_error(false, false, &["tests/a.py::test_x".into()]).unwrap_or_default();
        assert!(e.contains("--test tests/a.py::test_x") && e.contains("add order to --factors"), "{e}");
    }

    #[test]
    fn a_runner_that_cannot_order_is_refused_with_the_reason() {
        let e = check_runner(None).unwrap_err().to_string();
        assert!(e.contains("--runner NAME"), "{e}");
        assert!(check_runner(Some(&adapter("pytest"))).is_ok());
        assert!(check_runner(Some(&adapter("bundle exec rspec"))).is_ok());
        assert!(check_runner(Some(&adapter("npx jest"))).is_ok());
        let e = check_runner(Some(&adapter("npx vitest run"))).unwrap_err().to_string();
        assert!(e.contains("vitest cannot"), "{e}");
    }
}
