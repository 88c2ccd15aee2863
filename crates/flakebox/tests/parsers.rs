//! Property tests of every parser that takes user input: time specs,
//! durations, `--tmp-size` sizes, factor lists, `--runner` names, JUnit XML of every dialect and
//! each runner's result format. Inputs are valid seeds mutated by a seeded
//! generator (fixed seed and case count: the same inputs on every run, no
//! flakiness, a bounded time). Properties: no panic; an error is one line that
//! names the offending part; round trips where they exist.
//!
//! `FLAKEBOX_PROPTEST_CASES=N` multiplies the case counts (long mode);
//! `FLAKEBOX_PROPTEST_SEED=N` tries other inputs. Each test prints
//! `inputs tried / panics`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clock::{format_duration, parse_duration, TimeSpec};
use factors::FactorSet;
use runners::{Adapter, CollectedResults, ResultFile, RunnerChoice, RunnerKind};

/// Generates inputs: seeds mutated character by character (always valid
/// UTF-8, since every parser takes `&str`).
struct Gen {
    rng: fastrand::Rng,
}

/// Characters that stress parsers: separators, signs, digits, letters of
/// every unit, multi-byte and control characters.
const NOISE: &[char] = &[
    '0', '1', '9', '.', '-', '+', ':', '@', '~', '=', ',', ' ', '\t', '\n', '\r', '\0', 'T', 'Z', 'z', 't',
    'd', 'h', 'm', 's', 'u', 'n', 'w', 'e', 'E', '<', '>', '/', '"', '\'', '&', ';', '{', '}', '[', ']', '#',
    'é', '€', '\u{fffd}', '\u{200b}', '𝟘', 'İ', 'ſ', 'K',
];

impl Gen {
    fn new(salt: u64) -> Gen {
        let seed =
            std::env::var("FLAKEBOX_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f1a4);
        Gen { rng: fastrand::Rng::with_seed(seed ^ salt) }
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.usize(..xs.len())]
    }

    /// 0 to 5 random edits of `seed`: insert, delete, replace, duplicate,
    /// truncate, splice in a piece of `other`.
    fn mutate(&mut self, seed: &str, other: &str) -> String {
        let mut s: Vec<char> = seed.chars().collect();
        let o: Vec<char> = other.chars().collect();
        for _ in 0..self.rng.usize(..6) {
            let at = self.rng.usize(..=s.len());
            match self.rng.u8(..6) {
                0 => s.insert(at, *self.pick(NOISE)),
                1 if at < s.len() => {
                    let end = (at + self.rng.usize(1..4)).min(s.len());
                    s.drain(at..end);
                }
                2 if at < s.len() => s[at] = *self.pick(NOISE),
                3 if at < s.len() => {
                    let end = (at + self.rng.usize(1..8)).min(s.len());
                    let piece: Vec<char> = s[at..end].to_vec();
                    s.splice(at..at, piece);
                }
                4 => s.truncate(at),
                _ if !o.is_empty() => {
                    let from = self.rng.usize(..o.len());
                    let end = (from + self.rng.usize(1..16)).min(o.len());
                    s.splice(at..at, o[from..end].iter().copied());
                }
                _ => {}
            }
        }
        s.into_iter().collect()
    }

    fn digits(&mut self, len: std::ops::Range<usize>) -> String {
        (0..self.rng.usize(len)).map(|_| char::from(b'0' + self.rng.u8(..10))).collect()
    }
}

/// Runs `check` on `cases` inputs from `input`; returns how many were tried,
/// failing with every input that panicked or broke a property.
fn property(name: &str, cases: usize, mut input: impl FnMut(&mut Gen) -> String, check: impl Fn(&str)) {
    let scale =
        std::env::var("FLAKEBOX_PROPTEST_CASES").ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(1);
    let mut g = Gen::new(name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let mut failed: Vec<(String, String)> = Vec::new();
    let cases = cases * scale.max(1);
    quiet_panics();
    QUIET.set(true);
    for _ in 0..cases {
        let s = input(&mut g);
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| check(&s))) {
            let why = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|m| m.to_string()))
                .unwrap_or_default();
            failed.push((s, why));
        }
    }
    QUIET.set(false);
    println!("{name}: inputs tried {cases} / panics {}", failed.len());
    assert!(
        failed.is_empty(),
        "{name}: {} inputs failed, e.g. {:#?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}

thread_local! {
    /// Set while a property runs: its panics are counted, not printed.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn quiet_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                default(info);
            }
        }));
    });
}

fn one_line(msg: &str) {
    assert!(!msg.is_empty() && !msg.contains('\n') && !msg.contains('\r'), "not one line: {msg:?}");
}

// ---- time specs and durations ----

const TIME_SEEDS: &[&str] = &[
    "2024-02-29T23:59:58Z",
    "2024-03-10T01:59:59-08:00",
    "2024-02-29T23:59:58.250Z",
    "2024-03-10 09:59:59z",
    "2024-02-29",
    "@1709251198",
    "@-1.25",
    "now",
    "+3d",
    "-90m",
    "+1h30m",
    "+2w",
    "@0~tick",
    "+1d~frozen",
    "now~step=10us",
    "2024-01-01T00:00:00Z~step=1ms",
    "9999-12-31T23:59:59.999999999+14:00~tick",
    "0000-01-01T00:00:00-23:59",
];

/// A fixed "now", so that relative specs resolve the same way on every run.
fn fixed_now() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)
}

fn time_input(g: &mut Gen) -> String {
    let seed = *g.pick(TIME_SEEDS);
    let other = *g.pick(TIME_SEEDS);
    match g.rng.u8(..8) {
        // Well-formed shapes with random, often out-of-range, fields.
        0 => format!(
            "{}-{}-{}T{}:{}:{}{}",
            g.digits(1..6),
            g.digits(2..3),
            g.digits(2..3),
            g.digits(2..3),
            g.digits(2..3),
            g.digits(2..3),
            g.pick(&["Z", "+00:00", "-08:00", "+14:00", "+99:99", ".5Z", ".0000000001Z", ""])
        ),
        1 => format!("@{}{}", g.pick(&["", "-", "+"]), g.digits(1..24)),
        2 => format!(
            "{}{}{}",
            g.pick(&["+", "-"]),
            g.digits(1..22),
            g.pick(&["w", "d", "h", "m", "s", "ms", "us", "ns", ""])
        ),
        3 => format!("{seed}~step={}{}", g.digits(1..22), g.pick(&["ns", "w", "d", "s", ""])),
        _ => g.mutate(seed, other),
    }
}

fn check_time_spec(s: &str) {
    match s.parse::<TimeSpec>() {
        Err(e) => {
            let msg = e.to_string();
            one_line(&msg);
            assert!(s.contains(&e.part), "part {:?} is not in the spec {s:?}", e.part);
            assert!(msg.contains(&format!("{:?}", e.part)), "{msg:?} does not name {:?}", e.part);
        }
        Ok(spec) => {
            let clock = spec.resolve(fixed_now());
            let replay = clock.replay_spec();
            match replay.parse::<TimeSpec>() {
                Ok(again) => assert_eq!(again.resolve(fixed_now()), clock, "{s:?} replays as {replay:?}"),
                Err(e) => panic!("{s:?}: its replay spec {replay:?} does not parse: {e}"),
            }
            one_line(&clock.describe());
        }
    }
}

#[test]
fn time_specs() {
    property("time specs", 40_000, time_input, check_time_spec);
}

fn duration_input(g: &mut Gen) -> String {
    const SEEDS: &[&str] = &[
        "30", "0.5", "30s", "250ms", "5m", "1h30m", "1.5s", "2w3d", " 7 ", ".5h", "1e3", "inf", "NaN", "-1",
    ];
    match g.rng.u8(..4) {
        0 => format!("{}{}", g.digits(1..30), g.pick(&["w", "d", "h", "m", "s", "ms", "us", "ns", ""])),
        1 => format!("{}.{}{}", g.digits(0..12), g.digits(0..40), g.pick(&["s", "w", ""])),
        _ => {
            let (a, b) = (*g.pick(SEEDS), *g.pick(SEEDS));
            g.mutate(a, b)
        }
    }
}

fn check_duration(s: &str) {
    match parse_duration(s) {
        Err(e) => {
            let msg = e.to_string();
            one_line(&msg);
            assert!(msg.contains(&format!("`{}`", s.escape_debug())), "{msg:?} does not name {s:?}");
        }
        Ok(d) => {
            // Whole nanoseconds in a u64 format exactly and parse back.
            if let Ok(ns) = u64::try_from(d.as_nanos()) {
                let text = format_duration(ns);
                assert_eq!(parse_duration(&text).ok(), Some(d), "{s:?} formats as {text:?}");
            }
        }
    }
}

#[test]
fn durations() {
    property("durations", 40_000, duration_input, check_duration);
    // Every u64 of nanoseconds formats and parses back.
    property(
        "durations formatted",
        20_000,
        |g| {
            let bits = g.rng.u32(0..64);
            (g.rng.u64(..) >> bits).to_string()
        },
        |s| {
            let ns: u64 = s.parse().expect("generated a u64");
            let text = format_duration(ns);
            assert_eq!(
                parse_duration(&text).ok(),
                Some(Duration::from_nanos(ns)),
                "{ns} formats as {text:?}"
            );
        },
    );
}

// ---- tmp sizes ----

fn check_tmp_size(s: &str) {
    match s.parse::<sandbox::TmpSize>() {
        Err(e) => {
            let msg = e.to_string();
            one_line(&msg);
            assert!(msg.contains(&format!("`{}`", s.escape_default())), "{msg:?} does not name {s:?}");
        }
        // What it shows parses back to the same size.
        Ok(t) => assert_eq!(t.to_string().parse::<sandbox::TmpSize>().ok(), Some(t), "{s:?}"),
    }
}

#[test]
fn tmp_sizes() {
    const SEEDS: &[&str] =
        &["512m", "4g", "64K", "1048576", "25%", "100%", "1%", "0", "18446744073709551615"];
    property(
        "tmp sizes",
        20_000,
        |g| match g.rng.u8(..3) {
            0 => {
                format!("{}{}", g.digits(0..22), g.pick(&["k", "K", "m", "M", "g", "G", "%", "", "t", "kb"]))
            }
            _ => {
                let (a, b) = (*g.pick(SEEDS), *g.pick(SEEDS));
                g.mutate(a, b)
            }
        },
        check_tmp_size,
    );
}

// ---- factor lists and runner names ----

#[test]
fn factor_lists() {
    property(
        "factor lists",
        20_000,
        |g| {
            let n = g.rng.usize(0..5);
            let parts: Vec<String> = (0..n)
                .map(|_| {
                    let p = *g.pick(&["net", "fs", "time", "db", "", " ", "NET", "dns", "net,fs", ",,"]);
                    g.mutate(p, "net,fs,time,db")
                })
                .collect();
            parts.join(*g.pick(&[",", "\u{1}"]))
        },
        |s| {
            // \u{1} separates repeated options (`--isolate a --isolate b`).
            let items: Vec<&str> = s.split('\u{1}').collect();
            match FactorSet::parse_lists(&items) {
                Err(e) => {
                    let msg = e.to_string();
                    one_line(&msg);
                    assert!(s.contains(&e.0), "{:?} is not in {s:?}", e.0);
                    assert!(
                        msg.contains(&format!("`{}`", e.0.escape_debug())),
                        "{msg:?} does not name {:?}",
                        e.0
                    );
                }
                Ok(set) if set.is_empty() => assert_eq!(set.to_string(), "none"),
                Ok(set) => assert_eq!(FactorSet::parse_lists(&[set.to_string()]).ok(), Some(set)),
            }
        },
    );
}

#[test]
fn runner_names() {
    let names: Vec<&str> = RunnerKind::ALL.iter().map(|k| k.name()).collect();
    property(
        "--runner names",
        20_000,
        |g| {
            let seed = *g.pick(&names);
            let other = *g.pick(&["auto", "none", "py.test", "cargo-nextest", "mvn", "golang", "surefire"]);
            g.mutate(seed, other)
        },
        |s| {
            match s.parse::<RunnerChoice>() {
                Err(e) => {
                    let msg = e.to_string();
                    one_line(&msg);
                    assert!(msg.contains(&format!("`{}`", s.escape_debug())), "{msg:?} does not name {s:?}");
                }
                Ok(RunnerChoice::Force(k)) => assert_eq!(k.name().parse::<RunnerKind>().ok(), Some(k)),
                Ok(_) => {}
            }
            if let Err(e) = s.parse::<RunnerKind>() {
                one_line(&e.to_string());
            }
        },
    );
}

// ---- JUnit XML and the runners' result formats ----

/// A random JUnit document in the shape of one of the dialects flakebox
/// reads: pytest (xunit1/xunit2), nextest, Surefire (with reruns), Gradle,
/// jest-junit, go-junit-report, or a bare `<testsuite>`.
fn junit_doc(g: &mut Gen) -> String {
    const NAMES: &[&str] = &[
        "test_a",
        "TestB",
        "a b › c",
        "tests.unit.test_x.TestY",
        "",
        " ",
        "x&amp;y",
        "&lt;init&gt;",
        "é€",
        "a.b.",
        "..",
        "tests/x.py",
        "::",
        "test[1-2]",
    ];
    const CHILDREN: &[&str] = &[
        "<failure message=\"boom\">trace</failure>",
        "<failure/>",
        "<error message=\"\">  </error>",
        "<error type=\"E\">stack</error>",
        "<skipped/>",
        "<skipped message=\"why\"/>",
        "<flakyFailure message=\"1\"/>",
        "<rerunFailure/>",
        "<rerunError/>",
        "<flakyError/>",
        "<system-out><![CDATA[out]]></system-out>",
        "<system-err>err</system-err>",
        "<properties><property name=\"a\" value=\"b\"/></properties>",
    ];
    let attr = |g: &mut Gen, k: &str| -> String {
        if g.rng.u8(..3) == 0 {
            String::new()
        } else {
            format!(" {k}=\"{}\"", g.pick(NAMES))
        }
    };
    let mut doc = String::new();
    if g.rng.bool() {
        doc.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    let outer = g.rng.bool();
    if outer {
        doc.push_str(&format!("<testsuites{}>", attr(g, "name")));
    }
    for _ in 0..g.rng.usize(1..4) {
        let suite_attrs = format!("{}{}", attr(g, "name"), attr(g, "timestamp"));
        doc.push_str(&format!("<testsuite{suite_attrs} tests=\"{}\">", g.rng.u8(..)));
        if g.rng.u8(..4) == 0 {
            // Nested suites (jest-junit, some Gradle plugins).
            doc.push_str(&format!("<testsuite{}>", attr(g, "name")));
        }
        for _ in 0..g.rng.usize(0..6) {
            let time = *g.pick(&[
                "",
                " time=\"0.25\"",
                " time=\"-1\"",
                " time=\"NaN\"",
                " time=\"1e400\"",
                " time=\"x\"",
            ]);
            let status = *g.pick(&["", "", " status=\"skipped\"", " skipped=\"true\"", " status=\"run\""]);
            let (n, c, f) = (attr(g, "name"), attr(g, "classname"), attr(g, "file"));
            doc.push_str(&format!("<testcase{n}{c}{f}{time}{status}>"));
            for _ in 0..g.rng.usize(0..4) {
                let child = *g.pick::<&str>(CHILDREN);
                doc.push_str(child);
            }
            doc.push_str("</testcase>");
        }
        if doc.matches("<testsuite").count() > doc.matches("</testsuite").count() + 1 + usize::from(outer) {
            doc.push_str("</testsuite>");
        }
        doc.push_str("</testsuite>");
    }
    if outer {
        doc.push_str("</testsuites>");
    }
    doc
}

fn junit_input(g: &mut Gen) -> String {
    match g.rng.u8(..6) {
        0 | 1 => junit_doc(g),
        2 => {
            // Deep nesting, far past any real report.
            let depth = g.rng.usize(100..3_000);
            format!(
                "{}<testcase name=\"deep\"/>{}",
                "<testsuite>".repeat(depth),
                "</testsuite>".repeat(depth)
            )
        }
        _ => {
            let (a, b) = (junit_doc(g), junit_doc(g));
            g.mutate(&a, &b)
        }
    }
}

fn check_junit(s: &str) {
    match runners::junit::parse_junit(s) {
        Err(e) => one_line(&e.to_string()),
        Ok(cases) => {
            let n = cases.len();
            assert_eq!(runners::junit::disambiguate(cases).len(), n);
            assert_eq!(runners::junit::parse_cases(s).map(|c| c.len()).ok(), Some(n));
        }
    }
    if let Ok(raw) = runners::junit::parse_raw(s) {
        for c in &raw {
            // No panic on any outcome and rerun count.
            let _ = c.first_attempt_failed();
        }
    }
}

#[test]
fn junit_xml() {
    property("JUnit XML", 6_000, junit_input, check_junit);
}

/// A result document of `kind`'s own format (JUnit for the JUnit runners).
fn results_doc(g: &mut Gen, kind: RunnerKind) -> String {
    let name = *g.pick(&["t", "a b", "", "é", "x\\\"y", "a › b", "mod::t", "\\u0000"]);
    let status = *g.pick(&["passed", "failed", "pending", "skipped", "todo", "disabled", "", "weird"]);
    let num = *g.pick(&["0", "12", "-1", "1e400", "0.5", "null", "\"7\"", "NaN", "18446744073709551616"]);
    match kind {
        RunnerKind::Jest | RunnerKind::Vitest => format!(
            r#"{{"numTotalTests":1,"testResults":[{{"name":"/p/{name}.test.js","status":"{status}","message":"m","assertionResults":[{{"ancestorTitles":["{name}"],"title":"{name}","status":"{status}","duration":{num},"failureMessages":["Error: x\n    at y"]}}]}}]}}"#
        ),
        RunnerKind::Rspec => format!(
            r#"{{"version":"3.13","examples":[{{"id":"./spec/{name}_spec.rb[1:1]","status":"{status}","run_time":{num},"pending_message":null,"exception":{{"class":"E","message":"{name}"}}}}],"messages":["{name}"],"summary":{{"errors_outside_of_examples_count":{num}}}}}"#
        ),
        RunnerKind::Go => (0..g.rng.usize(1..6))
            .map(|_| {
                let action = *g.pick(&["run", "output", "pass", "fail", "skip", "pause", "cont", "start"]);
                let test = if g.rng.bool() { format!(r#","Test":"{name}""#) } else { String::new() };
                format!(r#"{{"Action":"{action}","Package":"ex.com/{name}"{test},"Elapsed":{num},"Output":"--- FAIL: {name}\n"}}"#)
            })
            .chain(std::iter::once(format!("FAIL\tex.com/{name} [build failed]")))
            .collect::<Vec<_>>()
            .join("\n"),
        RunnerKind::Cargo | RunnerKind::Libtest => format!(
            "     Running unittests src/lib.rs (target/debug/deps/foo-0123)\n\nrunning 2 tests\ntest {name} ... {}\ntest b ... ignored, slow\n\nfailures:\n\n---- {name} stdout ----\nthread '{name}' panicked at src/lib.rs:9:9:\n\nfailures:\n    {name}\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {num}s\n   Doc-tests foo\n",
            g.pick(&["ok", "FAILED", "ignored", "bench:", "ok (should panic)"])
        ),
        RunnerKind::Pytest | RunnerKind::Nextest | RunnerKind::Maven | RunnerKind::Gradle => junit_doc(g),
    }
}

fn check_results(kind: RunnerKind, s: &str) {
    let a = Adapter::appending(kind, &["./run_tests.sh".to_string()], Path::new("/p"));
    let file = ResultFile { path: PathBuf::from("/r/results"), contents: s.to_string() };
    for c in [
        CollectedResults { files: vec![file.clone()], output: Some(s.to_string()) },
        CollectedResults { files: vec![file.clone(), file], output: None },
        CollectedResults { files: vec![], output: None },
    ] {
        if let Err(e) = a.parse(&c) {
            one_line(&e.to_string());
        }
    }
}

#[test]
fn runner_results() {
    for kind in RunnerKind::ALL {
        property(
            &format!("{kind} results"),
            2_500,
            |g| {
                let doc = results_doc(g, kind);
                match g.rng.u8(..3) {
                    0 => doc,
                    _ => {
                        let other = results_doc(g, kind);
                        g.mutate(&doc, &other)
                    }
                }
            },
            |s| check_results(kind, s),
        );
    }
}
