//! `cargo test` and libtest binaries run directly (cargo's `runner` case):
//! results from libtest's own lines (`test NAME ... ok|FAILED|ignored`;
//! its JSON format needs nightly), selection by exact names.
//!
//! Ids: a libtest binary run directly names its tests as libtest does
//! (`mod::tests::name`). Under `cargo test` the id also says which test
//! binary: `KIND:TARGET::mod::tests::name`, where KIND is `lib`, `bin`,
//! `test`, `bench`, `example` or `doc` and TARGET the binary's crate name
//! (`test:leaves_marker::fresh_tmp`, `lib:flakebox_diagnose::stats::tests::x`);
//! the plan turns it into `--lib` / `--test NAME` … `-- --exact NAME`.

use crate::args::{has_opt, scan, without_opts, without_positionals, words, Arg, Syntax};
use crate::{Adapter, CollectedResults, Invocation, Outcome, PlannedCommand, ResultSource};
use crate::{RunnersError, TestId, TestResult};

const CARGO_VALUE_OPTS: &[&str] = &[
    "-p",
    "--package",
    "--test",
    "--bin",
    "--example",
    "--bench",
    "-F",
    "--features",
    "--target",
    "--target-dir",
    "--manifest-path",
    "-j",
    "--jobs",
    "--profile",
    "--color",
    "--message-format",
    "--exclude",
    "--config",
    "-Z",
    "--lockfile-path",
    "--artifact-dir",
];
const CARGO: Syntax<'static> =
    Syntax { takes_value: CARGO_VALUE_OPTS, short_letters: true, double_dash_rest: true };

const LIBTEST_VALUE_OPTS: &[&str] =
    &["--skip", "--format", "--test-threads", "--logfile", "--color", "-Z", "--shuffle-seed"];
const LIBTEST: Syntax<'static> =
    Syntax { takes_value: LIBTEST_VALUE_OPTS, short_letters: true, double_dash_rest: false };

/// A test binary's arguments, rewritten: pretty lines (`-q` would print
/// dots), and for a selection only the chosen names, matched exactly.
fn binary_args(args: &[String], names: Option<&[String]>) -> Vec<String> {
    let mut bin = without_opts(scan(args, &LIBTEST), &["--format"]);
    if names.is_some() {
        bin = without_opts(without_positionals(bin), &["--exact"]);
    }
    let mut out = words(&bin);
    out.extend(["--format".to_string(), "pretty".to_string()]);
    if let Some(names) = names {
        out.push("--exact".into());
        out.extend(names.iter().cloned());
    }
    out
}

pub(crate) fn plan_libtest(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let names: Option<Vec<String>> = inv.selection.as_ref().map(|s| s.iter().map(|t| t.0.clone()).collect());
    let mut argv = a.launcher().to_vec();
    argv.extend(binary_args(a.runner_args(), names.as_deref()));
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::Stdout })
}

/// A cargo id split: (kind, target, test name).
fn split_id<'a>(a: &Adapter, id: &'a TestId) -> Result<(&'a str, &'a str, &'a str), RunnersError> {
    let bad = || a.bad_id(id, "expected KIND:TARGET::TEST, KIND one of lib, bin, test, bench, example, doc");
    let (target, name) = id.0.split_once("::").ok_or_else(bad)?;
    let (kind, stem) = target.split_once(':').ok_or_else(bad)?;
    if !matches!(kind, "lib" | "bin" | "test" | "bench" | "example" | "doc") || name.is_empty() {
        return Err(bad());
    }
    Ok((kind, stem, name))
}

/// A target name from a binary's crate name: cargo turns `-` into `_` in
/// file names, and `--test` takes a glob, so `?` matches either.
fn target_glob(stem: &str) -> String {
    stem.replace('_', "?")
}

pub(crate) fn plan_cargo(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let args = a.runner_args();
    let (cargo_part, bin_part) = match args.iter().position(|w| w == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &args[args.len()..]),
    };
    // Quiet cargo hides the `Running BINARY` lines that say whose tests follow.
    let mut cargo_args: Vec<Arg> = without_opts(scan(cargo_part, &CARGO), &["-q", "--quiet"]);
    let mut selectors: Vec<Vec<String>> = Vec::new();
    let mut names: Option<Vec<String>> = None;
    if let Some(sel) = &inv.selection {
        // The command's own name filter gives way to the selection.
        cargo_args = without_positionals(cargo_args);
        let mut chosen = Vec::new();
        let mut doc = false;
        let mut other = false;
        for id in sel {
            let (kind, stem, name) = split_id(a, id)?;
            let selector = match kind {
                "lib" => vec!["--lib".to_string()],
                "doc" => vec!["--doc".to_string()],
                k => vec![format!("--{k}"), target_glob(stem)],
            };
            if kind == "doc" {
                doc = true;
            } else {
                other = true;
            }
            if !selectors.contains(&selector) {
                selectors.push(selector);
            }
            chosen.push(name.to_string());
        }
        if doc && other {
            return Err(a.unsupported(
                "select doc tests together with other tests (cargo refuses --doc with other targets): \
                 select them in a run of their own",
            ));
        }
        names = Some(chosen);
    }
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&cargo_args));
    // One failing binary would stop cargo before the others report.
    if !has_opt(&cargo_args, &["--no-fail-fast"]) {
        argv.push("--no-fail-fast".into());
    }
    argv.extend(selectors.into_iter().flatten());
    argv.push("--".into());
    argv.extend(binary_args(bin_part, names.as_deref()));
    let env = vec![("CARGO_TERM_QUIET".to_string(), "false".to_string())];
    Ok(PlannedCommand { argv, env, files: Vec::new(), results: ResultSource::CombinedOutput })
}

/// `Running unittests src/lib.rs (target/debug/deps/foo-0123…)` → `lib:foo`.
fn binary_key(running: &str) -> Option<String> {
    let (src, bin) = running.rsplit_once(" (")?;
    let bin = bin.strip_suffix(')')?;
    let file = bin.rsplit('/').next()?;
    let stem = file.rsplit_once('-').map_or(file, |(s, _)| s);
    let kind = match src.strip_prefix("unittests ") {
        Some(unit) if unit.ends_with("main.rs") || unit.contains("bin/") => "bin",
        Some(_) => "lib",
        None if src.starts_with("benches/") => "bench",
        None if src.starts_with("examples/") => "example",
        None => "test",
    };
    Some(format!("{kind}:{stem}"))
}

pub(crate) fn parse(
    a: &Adapter,
    c: &CollectedResults,
    under_cargo: bool,
) -> Result<Vec<TestResult>, RunnersError> {
    let out = a.output(c)?;
    let mut results: Vec<TestResult> = Vec::new();
    let mut binary: Option<String> = None;
    let id_of = |binary: &Option<String>, name: &str| match (under_cargo, binary) {
        (true, Some(b)) => format!("{b}::{name}"),
        _ => name.to_string(),
    };
    let mut lines = out.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(running) = t.strip_prefix("Running ") {
            binary = binary_key(running).or(binary);
        } else if let Some(krate) = t.strip_prefix("Doc-tests ") {
            binary = Some(format!("doc:{}", krate.trim()));
        } else if let Some((name, status)) = line.strip_prefix("test ").and_then(|b| b.rsplit_once(" ... ")) {
            let outcome = match status.trim() {
                "ok" => Outcome::Passed,
                "FAILED" => Outcome::Failed,
                s if s.starts_with("ignored") => Outcome::Skipped,
                _ => continue, // benchmarks, or output interleaved by --nocapture
            };
            let name = name.strip_suffix(" - should panic").unwrap_or(name);
            results.push(TestResult {
                id: TestId(id_of(&binary, name)),
                outcome,
                duration: None,
                message: None,
                flaky_reruns: 0,
            });
        } else if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----")) {
            // A failed test's captured output, up to the next block or list.
            let mut msg = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("---- ") || *next == "failures:" || *next == "successes:" {
                    break;
                }
                msg.push(*next);
                lines.next();
            }
            let id = id_of(&binary, name);
            let text = msg.join("\n").trim().to_string();
            if let Some(r) = results.iter_mut().rev().find(|r| r.id.0 == id) {
                if !text.is_empty() {
                    r.message = Some(text);
                }
            }
        }
    }
    if results.is_empty() && !out.contains("running 0 tests") {
        return Err(RunnersError::ResultsMissing {
            runner: a.kind,
            path: "the output".to_string(),
            hint: "no `test NAME ... ok|FAILED` lines: it did not build, or the output is not libtest's"
                .to_string(),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{adapter, invocation};
    use crate::Order;

    fn inv(sel: Option<&[&str]>) -> Invocation {
        invocation(sel, Order::AsCommand)
    }

    #[test]
    fn plans_cargo_selection_per_binary() {
        let a = adapter("cargo test -q --workspace slow -- --format terse --test-threads 2 slow");
        let p = a.plan(&inv(None)).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "cargo test --workspace slow --no-fail-fast -- --test-threads 2 slow --format pretty"
        );
        assert_eq!(p.results, ResultSource::CombinedOutput);
        let p = a
            .plan(&inv(Some(&["lib:foo::tests::a", "test:leaves_marker::t", "test:leaves_marker::u"])))
            .unwrap();
        assert_eq!(
            p.argv.join(" "),
            "cargo test --workspace --no-fail-fast --lib --test leaves?marker -- --test-threads 2 \
             --format pretty --exact tests::a t u"
        );
        let err = a.plan(&inv(Some(&["tests::a"]))).unwrap_err().to_string();
        assert!(err.contains("KIND:TARGET::TEST"), "{err}");
        let err = a.plan(&inv(Some(&["doc:foo::src/lib.rs - f (line 3)", "lib:foo::t"]))).unwrap_err();
        assert!(err.to_string().contains("--doc"), "{err}");
    }

    #[test]
    fn plans_a_libtest_binary() {
        let a = adapter("target/debug/deps/foo-0123456789abcdef --nocapture name");
        let p = a.plan(&inv(Some(&["tests::a", "tests::b"]))).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "target/debug/deps/foo-0123456789abcdef --nocapture --format pretty --exact tests::a tests::b"
        );
        assert_eq!(p.results, ResultSource::Stdout);
    }

    const RECORDED: &str = "\
   Compiling foo v0.1.0 (/p)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.50s
     Running unittests src/lib.rs (target/debug/deps/foo-0123456789abcdef)

running 3 tests
test tests::fails ... FAILED
test tests::ignored ... ignored, slow
test tests::panics - should panic ... ok

failures:

---- tests::fails stdout ----

thread 'tests::fails' panicked at src/lib.rs:9:9:
assertion `left == right` failed
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::fails

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/it.rs (target/debug/deps/it-fedcba9876543210)

running 1 test
test fresh ... ok

test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests foo

running 1 test
test src/lib.rs - add (line 3) ... ok
";

    #[test]
    fn parses_recorded_cargo_output() {
        let a = adapter("cargo test");
        let c = CollectedResults { files: vec![], output: Some(RECORDED.into()) };
        let r = a.parse(&c).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("lib:foo::tests::fails", Outcome::Failed),
                ("lib:foo::tests::ignored", Outcome::Skipped),
                ("lib:foo::tests::panics", Outcome::Passed),
                ("test:it::fresh", Outcome::Passed),
                ("doc:foo::src/lib.rs - add (line 3)", Outcome::Passed),
            ]
        );
        let msg = r[0].message.as_deref().unwrap();
        assert!(msg.starts_with("thread 'tests::fails' panicked") && msg.ends_with("backtrace"), "{msg}");
        // A binary run directly: bare names.
        let a = adapter("target/debug/deps/foo-0123456789abcdef");
        let r = a.parse(&c).unwrap();
        assert_eq!(r[0].id.as_str(), "tests::fails");
        let err =
            a.parse(&CollectedResults { files: vec![], output: Some("error[E0425]".into()) }).unwrap_err();
        assert!(err.to_string().contains("did not build"), "{err}");
    }
}
