//! RSpec: results through `--format json --out PATH` beside the user's
//! formatter (`--format progress` added when the command names none, so the
//! output the user sees stays), selection by example ids, `--order rand:SEED`
//! or `--order defined`, and a listed order as far as RSpec's tree of groups
//! allows (see [`crate::rspec_order`]: by definition order or a shuffle seed
//! when either gives it exactly, else by a global ordering flakebox writes).
//!
//! Ids: RSpec's example ids, `./spec/a_spec.rb[1:2]` (pasteable:
//! `rspec './spec/a_spec.rb[1:2]'`); a spec file or `file:line` selects too.

use crate::args::{has_opt, scan, without_opts, without_positionals, words, Syntax};
use crate::rspec_order::{listed, ordering_file, Listed};
use crate::ResultSource;
use crate::{secs, Adapter, CollectedResults, FileToWrite, Invocation, Order, Outcome, PlannedCommand};
use crate::{RunnersError, TestId, TestResult};
use serde::Deserialize;

const VALUE_OPTS: &[&str] = &[
    "-I",
    "-r",
    "--require",
    "-O",
    "--options",
    "--order",
    "--seed",
    "-f",
    "--format",
    "-o",
    "--out",
    "-e",
    "--example",
    "-E",
    "--example-matches",
    "-t",
    "--tag",
    "-P",
    "--pattern",
    "--exclude-pattern",
    "--default-path",
    "--failure-exit-code",
    "--error-exit-code",
    "--deprecation-out",
];
const SYNTAX: Syntax<'static> =
    Syntax { takes_value: VALUE_OPTS, short_letters: true, double_dash_rest: false };

pub(crate) const FILE: &str = "rspec.json";
/// The listed order's global ordering, when neither definition order nor a
/// seed gives it.
pub(crate) const ORDERING: &str = "flakebox-rspec-order.rb";

pub(crate) fn plan(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let mut args = scan(a.runner_args(), &SYNTAX);
    if inv.selection.is_some() {
        args = without_positionals(without_opts(
            args,
            &["-e", "--example", "-E", "--example-matches", "--only-failures", "--next-failure"],
        ));
    }
    if inv.order != Order::AsCommand {
        args = without_opts(args, &["--order", "--seed"]);
    }
    let file = inv.results_dir.join(FILE);
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    if !has_opt(&args, &["-f", "--format"]) {
        // Naming any formatter drops the default one: keep what the user sees.
        argv.extend(["--format".to_string(), "progress".to_string()]);
    }
    argv.extend([
        "--format".to_string(),
        "json".to_string(),
        "--out".to_string(),
        file.display().to_string(),
    ]);
    let mut files = Vec::new();
    let listed_as = match (inv.order, &inv.selection) {
        (Order::AsListed, Some(sel)) => Some(listed(sel)),
        _ => None,
    };
    match (inv.order, listed_as) {
        (Order::Shuffle { seed }, _) | (_, Some(Listed::Seed(seed))) => {
            argv.extend(["--order".to_string(), format!("rand:{seed}")])
        }
        (Order::Defined, _) | (_, Some(Listed::Defined)) => {
            argv.extend(["--order".to_string(), "defined".to_string()])
        }
        (_, Some(Listed::Ordering)) => {
            // `--order defined` too: an order given on the command line
            // makes RSpec ignore a helper's own `config.order =`.
            let path = inv.results_dir.join(ORDERING);
            argv.extend([
                "--order".to_string(),
                "defined".to_string(),
                "--require".to_string(),
                path.display().to_string(),
            ]);
            let sel = inv.selection.as_deref().unwrap_or_default();
            files.push(FileToWrite { path, contents: ordering_file(sel) });
        }
        (Order::AsCommand | Order::AsListed, None) => {}
    }
    if let Some(sel) = &inv.selection {
        for id in sel {
            if id.0.is_empty() || id.0.starts_with('-') {
                return Err(a.bad_id(id, "expected an example id like ./spec/a_spec.rb[1:2], or FILE[:LINE]"));
            }
            argv.push(id.0.clone());
        }
    }
    Ok(PlannedCommand { argv, env: Vec::new(), files, results: ResultSource::File(file) })
}

/// RSpec's JSON formatter output.
#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    examples: Vec<Example>,
    #[serde(default)]
    messages: Vec<String>,
    #[serde(default)]
    summary: Option<Summary>,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default)]
    errors_outside_of_examples_count: u64,
}

#[derive(Deserialize)]
struct Example {
    id: String,
    status: String,
    #[serde(default)]
    run_time: Option<f64>,
    #[serde(default)]
    pending_message: Option<String>,
    #[serde(default)]
    exception: Option<Exception>,
}

#[derive(Deserialize)]
struct Exception {
    #[serde(default)]
    class: String,
    #[serde(default)]
    message: String,
}

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    let f = a.single_file(
        c,
        FILE,
        "rspec did not write its --format json --out file: it did not start (see its output)",
    )?;
    let report: Report = serde_json::from_str(&f.contents).map_err(|e| RunnersError::BadResults {
        runner: a.kind,
        path: f.path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut results: Vec<TestResult> = report
        .examples
        .into_iter()
        .map(|e| {
            let outcome = match e.status.as_str() {
                "passed" => Outcome::Passed,
                "failed" => Outcome::Failed,
                _ => Outcome::Skipped, // pending
            };
            let message = match e.exception {
                Some(x) => Some(format!("{}: {}", x.class, x.message.trim())),
                None => e.pending_message,
            };
            TestResult {
                id: TestId(e.id),
                outcome,
                duration: e.run_time.and_then(secs),
                message,
                flaky_reruns: 0,
            }
        })
        .collect();
    // A spec file that fails to load runs none of its examples: report the
    // file, which selects as an id too.
    if report.summary.is_some_and(|s| s.errors_outside_of_examples_count > 0) {
        for m in &report.messages {
            if let Some(file) = m.split("while loading ").nth(1).and_then(|r| r.split_whitespace().next()) {
                results.push(TestResult {
                    id: TestId(file.trim_end_matches('.').to_string()),
                    outcome: Outcome::Error,
                    duration: None,
                    message: Some(m.trim().to_string()),
                    flaky_reruns: 0,
                });
            }
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{adapter, invocation as inv};
    use crate::ResultFile;

    #[test]
    fn plans_json_beside_the_users_formatter() {
        let a = adapter("bundle exec rspec --order rand -e slow spec/");
        let p = a.plan(&inv(None, Order::AsCommand)).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "bundle exec rspec --order rand -e slow spec/ --format progress --format json --out /r/rspec.json"
        );
        let p = a
            .plan(&inv(Some(&["./spec/a_spec.rb[1:2]", "spec/b_spec.rb:12"]), Order::Shuffle { seed: 5 }))
            .unwrap();
        assert_eq!(
            p.argv.join(" "),
            "bundle exec rspec --format progress --format json --out /r/rspec.json --order rand:5 \
             ./spec/a_spec.rb[1:2] spec/b_spec.rb:12"
        );
        let a = adapter("rspec -f doc");
        let p = a.plan(&inv(None, Order::Defined)).unwrap();
        assert_eq!(p.argv.join(" "), "rspec -f doc --format json --out /r/rspec.json --order defined");
    }

    #[test]
    fn plans_a_listed_order_by_definition_a_seed_or_an_ordering_file() {
        let a = adapter("bundle exec rspec --order rand spec/");
        let base = "bundle exec rspec --format progress --format json --out /r/rspec.json";
        // Files as first named, each in definition order.
        let p =
            a.plan(&inv(Some(&["./spec/b_spec.rb[1:2]", "./spec/a_spec.rb[1:1]"]), Order::AsListed)).unwrap();
        assert_eq!(
            p.argv.join(" "),
            format!("{base} --order defined ./spec/b_spec.rb[1:2] ./spec/a_spec.rb[1:1]")
        );
        assert!(p.files.is_empty());
        // Against definition order: RSpec's own shuffle with a seed that gives it.
        let p =
            a.plan(&inv(Some(&["./spec/a_spec.rb[1:2]", "./spec/a_spec.rb[1:1]"]), Order::AsListed)).unwrap();
        let seed = p.argv.iter().find_map(|w| w.strip_prefix("rand:")).expect("a seed");
        assert!(seed.parse::<u64>().is_ok(), "{p:?}");
        assert!(p.files.is_empty());
        // A nested group's example before its parent's own: the ordering file.
        let p = a
            .plan(&inv(Some(&["./spec/a_spec.rb[1:2:1]", "./spec/a_spec.rb[1:1]"]), Order::AsListed))
            .unwrap();
        assert_eq!(
            p.argv.join(" "),
            format!(
                "{base} --order defined --require /r/flakebox-rspec-order.rb \
                 ./spec/a_spec.rb[1:2:1] ./spec/a_spec.rb[1:1]"
            )
        );
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].path, std::path::Path::new("/r/flakebox-rspec-order.rb"));
        assert!(p.files[0].contents.contains("['./spec/a_spec.rb[1:2:1]', './spec/a_spec.rb[1:1]']"));
        // A listed order needs a list.
        assert!(a.plan(&inv(None, Order::AsListed)).is_err());
    }

    #[test]
    fn parses_recorded_json() {
        let json = r#"{"version":"3.12.0","seed":3,"examples":[
          {"id":"./spec/a_spec.rb[1:1]","status":"passed","run_time":0.5,"pending_message":null},
          {"id":"./spec/a_spec.rb[1:2]","status":"failed","run_time":0.1,
           "exception":{"class":"RSpec::Expectations::ExpectationNotMetError","message":"\nexpected: 3\n     got: 2\n","backtrace":[]}},
          {"id":"./spec/a_spec.rb[1:3]","status":"pending","pending_message":"later"}],
          "summary":{"errors_outside_of_examples_count":1},
          "messages":["An error occurred while loading ./spec/b_spec.rb.\nFailure/Error: boom"]}"#;
        let a = adapter("rspec");
        let c = CollectedResults {
            files: vec![ResultFile { path: "/r/rspec.json".into(), contents: json.into() }],
            output: None,
        };
        let r = a.parse(&c).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("./spec/a_spec.rb[1:1]", Outcome::Passed),
                ("./spec/a_spec.rb[1:2]", Outcome::Failed),
                ("./spec/a_spec.rb[1:3]", Outcome::Skipped),
                ("./spec/b_spec.rb", Outcome::Error),
            ]
        );
        assert_eq!(
            r[1].message.as_deref(),
            Some("RSpec::Expectations::ExpectationNotMetError: expected: 3\n     got: 2")
        );
        assert_eq!(r[0].duration, Some(std::time::Duration::from_millis(500)));
    }
}
