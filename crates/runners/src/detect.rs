//! Recognising the test runner in a command. Conservative: a command is
//! recognised only when its launcher is one flakebox understands word by
//! word; shells, scripts and task runners are `Unsure`, with the reason.

use crate::args::{scan, Arg, Syntax};
use crate::{Adapter, Detection, RunnerKind};
use std::path::Path;

/// Recognise the test runner `argv` starts (run in `cwd`).
pub fn detect(argv: &[String], cwd: &Path) -> Detection {
    match launcher(argv) {
        Found::Runner(kind, at) => Detection::Detected(Adapter {
            kind,
            argv: argv.to_vec(),
            cwd: cwd.to_path_buf(),
            runner_args_at: at,
        }),
        Found::Unsure(reason) => Detection::Unsure { reason },
        Found::NotATestRunner => Detection::NotATestRunner,
    }
}

enum Found {
    /// The runner, and where its own arguments start.
    Runner(RunnerKind, usize),
    Unsure(String),
    NotATestRunner,
}

const FORCE_HINT: &str = "put the runner's own command after `--`, or force one with `--runner NAME` \
                          (its options are then appended to the command)";

fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

fn launcher(argv: &[String]) -> Found {
    // `env X=1 CMD` and bare `X=1 CMD` (as some callers pass them).
    let mut i = 0;
    if argv.first().is_some_and(|w| base(w) == "env") {
        i = 1;
        if let Some(w) = argv.get(1).filter(|w| w.starts_with('-')) {
            return Found::Unsure(format!(
                "`env {w}` changes the environment in a way flakebox does not model; {FORCE_HINT}"
            ));
        }
    }
    while argv.get(i).is_some_and(|w| is_assignment(w)) {
        i += 1;
    }
    let Some(prog) = argv.get(i) else { return Found::NotATestRunner };
    let rest = &argv[i + 1..];
    let at = |k: usize| i + 1 + k;
    match base(prog) {
        "sh" | "bash" | "zsh" | "dash" | "ksh" | "fish" => Found::Unsure(format!(
            "`{}` runs a shell script: flakebox cannot see which test runner it starts; {FORCE_HINT}",
            base(prog)
        )),
        "pytest" | "py.test" | "pytest-3" => Found::Runner(RunnerKind::Pytest, at(0)),
        p if is_python(p) => python(rest, i + 1),
        "cargo" => cargo(rest, i + 1),
        "go" => match rest.first().map(String::as_str) {
            Some("test") => {
                if rest.iter().any(|w| w == "-c" || w == "-list" || w.starts_with("-list=")) {
                    Found::NotATestRunner
                } else {
                    Found::Runner(RunnerKind::Go, at(1))
                }
            }
            _ => Found::NotATestRunner,
        },
        "npx" | "bunx" | "pnpx" => js_launcher(rest, i + 1, &["--yes", "-y", "--no-install", "--no"]),
        "yarn" | "pnpm" | "npm" | "bun" => {
            let skip = if matches!(rest.first().map(String::as_str), Some("exec" | "x")) { 1 } else { 0 };
            match rest.get(skip).map(String::as_str) {
                Some("test" | "run" | "t" | "run-script") => Found::Unsure(format!(
                    "`{} {}` runs a package.json script, which flakebox does not read; {FORCE_HINT}",
                    base(prog),
                    rest[skip]
                )),
                _ => js_launcher(&rest[skip..], i + 1 + skip, &["--"]),
            }
        }
        "node" | "nodejs" => node(rest, i + 1),
        "rspec" => Found::Runner(RunnerKind::Rspec, at(0)),
        "bundle" | "bundler" => match (rest.first().map(String::as_str), rest.get(1)) {
            (Some("exec"), Some(cmd)) if base(cmd) == "rspec" => Found::Runner(RunnerKind::Rspec, at(2)),
            (Some("exec"), Some(_)) => match launcher(&rest[1..]) {
                Found::Runner(k, a) => Found::Runner(k, i + 2 + a),
                other => other,
            },
            _ => Found::NotATestRunner,
        },
        "mvn" | "mvnw" | "mvnd" | "mvnw.cmd" => maven(rest, at(0)),
        "gradle" | "gradlew" => gradle(rest, at(0)),
        "make" | "just" | "tox" | "nox" | "rake" | "task" | "bazel" | "bazelisk" | "ctest" | "timeout"
        | "nice" | "nohup" | "xvfb-run" | "stdbuf" | "sudo" | "docker" | "podman" | "uv" | "poetry"
        | "pipenv" | "hatch" => Found::Unsure(format!(
            "`{}` may start a test runner, but flakebox cannot see its arguments through it; {FORCE_HINT}",
            base(prog)
        )),
        p if p.ends_with(".sh") || p.ends_with(".bash") => Found::Unsure(format!(
            "`{prog}` is a script: flakebox cannot see which test runner it starts; {FORCE_HINT}"
        )),
        _ if is_libtest_binary(prog) => Found::Runner(RunnerKind::Libtest, at(0)),
        // `node_modules/jest/bin/jest.js`, `node_modules/vitest/vitest.mjs`:
        // the package's own launcher, run through its `#!` line.
        _ => match js_entry(prog) {
            Some(kind) => js(kind, rest, at(0)),
            None => Found::NotATestRunner,
        },
    }
}

/// Node's options whose value is the next word.
const NODE_VALUE_OPTS: &[&str] = &[
    "-r",
    "--require",
    "--import",
    "--loader",
    "--experimental-loader",
    "-C",
    "--conditions",
    "--env-file",
    "--title",
    "--input-type",
    "--inspect-port",
    "--max-old-space-size",
    "--stack-size",
];

/// `node [options] SCRIPT ARGS`: a script that is Jest's or Vitest's own
/// launcher (`node --experimental-vm-modules node_modules/jest/bin/jest.js`).
fn node(rest: &[String], offset: usize) -> Found {
    let mut k = 0;
    while let Some(w) = rest.get(k) {
        match w.as_str() {
            // Inline code, a REPL, a syntax check: no test runner of ours.
            "-e" | "--eval" | "-p" | "--print" | "-c" | "--check" | "-i" | "--interactive" | "--test" => {
                return Found::NotATestRunner
            }
            o if NODE_VALUE_OPTS.contains(&o) => k += 2,
            o if o.starts_with('-') => k += 1,
            script => {
                return match js_entry(script) {
                    Some(kind) => js(kind, &rest[k + 1..], offset + k + 1),
                    None => Found::NotATestRunner,
                }
            }
        }
    }
    Found::NotATestRunner
}

/// Jest or Vitest from how their launcher is spelled: the command (`jest`,
/// `node_modules/.bin/vitest`, `jest@29` as npx takes it), or the package's
/// own entry file (`node_modules/jest/bin/jest.js`, jest-cli's
/// `bin/jest.js`, `node_modules/vitest/vitest.mjs`).
fn js_entry(word: &str) -> Option<RunnerKind> {
    if word.starts_with('@') {
        // A scoped package (`npx @scope/jest`) is another package.
        return None;
    }
    let name = base(word);
    // `jest@29.7.0`, `vitest@latest`.
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    let in_package = |pkg: &str| word.contains(&format!("node_modules/{pkg}/"));
    match name {
        "jest" => Some(RunnerKind::Jest),
        "jest.js" if in_package("jest") || in_package("jest-cli") => Some(RunnerKind::Jest),
        "vitest" => Some(RunnerKind::Vitest),
        "vitest.mjs" if in_package("vitest") => Some(RunnerKind::Vitest),
        _ => None,
    }
}

fn is_python(p: &str) -> bool {
    let Some(v) = p.strip_prefix("python") else { return false };
    v.is_empty() || v.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `python [flags] -m pytest ARGS`: arguments start after `pytest`.
fn python(rest: &[String], offset: usize) -> Found {
    let mut k = 0;
    while let Some(w) = rest.get(k) {
        match w.as_str() {
            "-m" => {
                return match rest.get(k + 1).map(String::as_str) {
                    Some("pytest" | "py.test") => Found::Runner(RunnerKind::Pytest, offset + k + 2),
                    Some("unittest") => Found::Unsure(
                        "`python -m unittest` has no per-test result file flakebox reads; run the tests with \
                         pytest (it runs unittest suites too), or use --junit"
                            .to_string(),
                    ),
                    _ => Found::NotATestRunner,
                };
            }
            "-W" | "-X" => k += 2,
            "-c" => return Found::Unsure(format!("`python -c` runs inline code; {FORCE_HINT}")),
            f if f.starts_with('-') => k += 1,
            script if base(script) == "pytest" || base(script) == "py.test" => {
                return Found::Runner(RunnerKind::Pytest, offset + k + 1)
            }
            script => {
                return Found::Unsure(format!(
                    "`python {script}` runs a script: flakebox cannot see which test runner it starts; {FORCE_HINT}"
                ))
            }
        }
    }
    Found::NotATestRunner
}

/// `cargo [+toolchain] [global options] test|t ...` or `cargo nextest run ...`.
fn cargo(rest: &[String], offset: usize) -> Found {
    let mut k = 0;
    while let Some(w) = rest.get(k) {
        match w.as_str() {
            t if t.starts_with('+') => k += 1,
            "--config" | "-Z" | "-C" | "--color" => k += 2,
            f if f.starts_with('-') => k += 1,
            "test" | "t" => return Found::Runner(RunnerKind::Cargo, offset + k + 1),
            "nextest" => {
                return match rest.get(k + 1).map(String::as_str) {
                    Some("run" | "r") => Found::Runner(RunnerKind::Nextest, offset + k + 2),
                    _ => Found::NotATestRunner,
                }
            }
            _ => return Found::NotATestRunner,
        }
    }
    Found::NotATestRunner
}

fn js_launcher(rest: &[String], offset: usize, flags: &[&str]) -> Found {
    let mut k = 0;
    while rest.get(k).is_some_and(|w| flags.contains(&w.as_str())) {
        k += 1;
    }
    if let Some(kind) = rest.get(k).and_then(|w| js_entry(w)) {
        return js(kind, &rest[k + 1..], offset + k + 1);
    }
    match rest.get(k).map(|w| base(w)) {
        Some(other) => match other {
            "mocha" | "ava" | "tap" | "playwright" | "cypress" | "karma" | "jasmine" => {
                Found::Unsure(format!(
                "{other} is not a runner flakebox has an adapter for; use --junit with its JUnit reporter"
            ))
            }
            _ => Found::NotATestRunner,
        },
        None => Found::NotATestRunner,
    }
}

fn js(kind: RunnerKind, rest: &[String], at: usize) -> Found {
    if rest.iter().any(|w| w == "--watch" || w == "--watchAll" || w == "-w" && kind == RunnerKind::Vitest) {
        return Found::Unsure(format!("{kind} in watch mode never ends: run it once (drop --watch)"));
    }
    if kind == RunnerKind::Vitest {
        match rest.first().map(String::as_str) {
            Some("watch" | "dev") => {
                return Found::Unsure("vitest in watch mode never ends: use `vitest run`".to_string())
            }
            Some("bench" | "list" | "init" | "typecheck") => return Found::NotATestRunner,
            _ => {}
        }
    }
    Found::Runner(kind, at)
}

/// Maven options whose value is the next word.
pub(crate) const MAVEN_VALUE_OPTS: &[&str] = &[
    "-f",
    "--file",
    "-s",
    "--settings",
    "-gs",
    "--global-settings",
    "-P",
    "--activate-profiles",
    "-pl",
    "--projects",
    "-rf",
    "--resume-from",
    "-T",
    "--threads",
    "-l",
    "--log-file",
    "-t",
    "--toolchains",
    "-b",
    "--builder",
    "-D",
    "--define",
];

fn maven(rest: &[String], at: usize) -> Found {
    let syn = Syntax { takes_value: MAVEN_VALUE_OPTS, short_letters: false, double_dash_rest: false };
    let args = scan(rest, &syn);
    let skips = args.iter().any(|a| match a {
        Arg::Opt { words, .. } => words.iter().any(|w| {
            let w = w.trim_start_matches("-D");
            w == "skipTests" || w == "skipTests=true" || w == "maven.test.skip" || w == "maven.test.skip=true"
        }),
        _ => false,
    });
    let runs_tests = args.iter().any(|a| {
        matches!(a, Arg::Pos(g) if matches!(g.as_str(),
            "test" | "verify" | "install" | "package" | "deploy" | "integration-test" | "surefire:test"))
    });
    if runs_tests && !skips {
        Found::Runner(RunnerKind::Maven, at)
    } else {
        Found::NotATestRunner
    }
}

fn gradle(rest: &[String], at: usize) -> Found {
    let runs_tests = rest.iter().any(|w| {
        !w.starts_with('-') && (w == "test" || w.ends_with(":test") || w == "check" || w == "build")
    });
    if !runs_tests {
        return Found::NotATestRunner;
    }
    let tasks: Vec<&String> = rest.iter().filter(|w| !w.starts_with('-')).collect();
    if tasks.iter().any(|t| t.ends_with("Test") || t.ends_with("integrationTest")) {
        return Found::Unsure(
            "gradle runs more than one test task: flakebox reads build/test-results/test only; use --junit"
                .to_string(),
        );
    }
    Found::Runner(RunnerKind::Gradle, at)
}

/// `target/debug/deps/NAME-0123456789abcdef`: what cargo runs for a test
/// target (the path its `runner` setting is given).
fn is_libtest_binary(prog: &str) -> bool {
    let path = Path::new(prog);
    let in_deps = path.parent().and_then(|p| p.file_name()).is_some_and(|d| d == "deps");
    let hashed = base(prog).rsplit_once('-').is_some_and(|(name, hash)| {
        !name.is_empty() && hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit())
    });
    in_deps && hashed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(cmd: &str) -> Detection {
        let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        detect(&argv, Path::new("/p"))
    }

    fn runner(cmd: &str) -> (RunnerKind, Vec<String>) {
        match det(cmd) {
            Detection::Detected(a) => (a.kind, a.runner_args().to_vec()),
            other => panic!("{cmd}: {other:?}"),
        }
    }

    fn unsure(cmd: &str) -> String {
        match det(cmd) {
            Detection::Unsure { reason } => reason,
            other => panic!("{cmd}: {other:?}"),
        }
    }

    #[test]
    fn recognises_runners_and_where_their_arguments_start() {
        use RunnerKind::*;
        let cases: &[(&str, RunnerKind, &str)] = &[
            ("pytest", Pytest, ""),
            ("py.test -q", Pytest, "-q"),
            ("/usr/local/bin/pytest -x tests/", Pytest, "-x tests/"),
            ("python -m pytest", Pytest, ""),
            ("python3 -m pytest -x tests/", Pytest, "-x tests/"),
            ("python3.11 -X dev -u -m pytest -q", Pytest, "-q"),
            ("env X=1 pytest -q", Pytest, "-q"),
            ("env A=1 B=2 python3 -m pytest", Pytest, ""),
            ("X=1 pytest", Pytest, ""),
            (".venv/bin/python -m pytest tests/a.py", Pytest, "tests/a.py"),
            ("cargo test", Cargo, ""),
            ("cargo +nightly test --workspace -- --nocapture", Cargo, "--workspace -- --nocapture"),
            ("cargo --locked -Z unstable-options t", Cargo, ""),
            ("cargo nextest run -p foo", Nextest, "-p foo"),
            ("target/debug/deps/flakebox_diagnose-0123456789abcdef --exact x", Libtest, "--exact x"),
            ("go test ./...", Go, "./..."),
            ("go test -race -run TestX ./pkg", Go, "-race -run TestX ./pkg"),
            ("jest", Jest, ""),
            ("npx jest --ci", Jest, "--ci"),
            ("npx --yes jest", Jest, ""),
            ("node_modules/.bin/jest a.test.js", Jest, "a.test.js"),
            ("yarn jest", Jest, ""),
            ("pnpm exec vitest run", Vitest, "run"),
            ("npx vitest run", Vitest, "run"),
            ("node node_modules/jest/bin/jest.js", Jest, ""),
            ("node_modules/jest/bin/jest.js --ci", Jest, "--ci"),
            ("./node_modules/jest-cli/bin/jest.js", Jest, ""),
            ("node --experimental-vm-modules node_modules/jest/bin/jest.js -i", Jest, "-i"),
            ("node -r ts-node/register --max-old-space-size=4096 ./node_modules/.bin/jest x", Jest, "x"),
            ("nodejs node_modules/jest/bin/jest.js", Jest, ""),
            ("/usr/local/bin/jest", Jest, ""),
            ("npx jest@29.7.0 --ci", Jest, "--ci"),
            ("npm exec -- jest", Jest, ""),
            ("node_modules/vitest/vitest.mjs run", Vitest, "run"),
            ("node node_modules/vitest/vitest.mjs run", Vitest, "run"),
            ("../../node_modules/vitest/vitest.mjs run", Vitest, "run"),
            ("node_modules/.bin/vitest run", Vitest, "run"),
            ("npx vitest@latest run", Vitest, "run"),
            ("bunx vitest run", Vitest, "run"),
            ("rspec", Rspec, ""),
            ("bundle exec rspec spec/a_spec.rb", Rspec, "spec/a_spec.rb"),
            ("bin/rspec --format doc", Rspec, "--format doc"),
            ("bundle exec pytest", Pytest, ""),
            ("mvn test", Maven, "test"),
            ("./mvnw -q verify", Maven, "-q verify"),
            ("mvn -pl core install", Maven, "-pl core install"),
            ("./gradlew test", Gradle, "test"),
            ("gradle :core:test --info", Gradle, ":core:test --info"),
        ];
        for (cmd, kind, args) in cases {
            let (k, a) = runner(cmd);
            assert_eq!((k, a.join(" ")), (*kind, args.to_string()), "{cmd}");
        }
    }

    #[test]
    fn wrappers_and_scripts_are_unsure_with_a_reason() {
        assert!(unsure("sh -c pytest").contains("shell script"));
        assert!(unsure("bash run.sh").contains("--runner NAME"));
        assert!(unsure("./run_tests.sh").contains("is a script"));
        assert!(unsure("npm test").contains("package.json script"));
        assert!(unsure("yarn run test").contains("package.json script"));
        assert!(unsure("make test").contains("`make`"));
        assert!(unsure("timeout 60 pytest").contains("`timeout`"));
        assert!(unsure("python runtests.py").contains("runs a script"));
        assert!(unsure("python -m unittest").contains("unittest"));
        assert!(unsure("jest --watch").contains("watch mode"));
        assert!(unsure("vitest watch").contains("watch mode"));
        assert!(unsure("env -i pytest").contains("env -i"));
        assert!(unsure("npx mocha").contains("mocha"));
    }

    #[test]
    fn other_commands_are_not_test_runners() {
        for cmd in [
            "",
            "ls -l",
            "cargo build",
            "cargo nextest list",
            "go build ./...",
            "go test -c ./pkg",
            "python -m http.server",
            "mvn compile",
            "mvn -DskipTests install",
            "gradle assemble",
            "vitest bench",
            "target/debug/flakebox",
            "target/debug/deps/foo-xyz",
            "node scripts/run-jest-setup.js",
            "node server.js",
            "node -e require('jest')",
            "node",
            "src/jest.js",
            "node_modules/other/vitest.mjs",
            "npx @scope/jest",
        ] {
            assert_eq!(det(cmd), Detection::NotATestRunner, "{cmd}");
        }
    }
}
