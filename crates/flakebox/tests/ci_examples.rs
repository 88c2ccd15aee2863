//! The CI workflows in `examples/ci/` (issue 16): each parses as YAML, every
//! `flakebox` command they run is a subcommand of this flakebox with options
//! it has, `doctor` comes first, and the shard counts agree with the CI's
//! own parallelism.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

fn ci_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci")
}

fn load(name: &str) -> Vec<Yaml> {
    let path = ci_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

/// Every string scalar in a document, in document order.
fn strings(y: &Yaml, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(v) => v.iter().for_each(|x| strings(x, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// The flakebox commands in a string: each `flakebox SUB` with the
/// `--options` that follow it (up to `--`, or a shell separator).
fn flakebox_commands(s: &str) -> Vec<(String, Vec<String>)> {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if *t != "flakebox" {
            continue;
        }
        let Some(sub) = toks.get(i + 1) else { continue };
        let mut opts = Vec::new();
        for o in &toks[i + 2..] {
            if matches!(*o, "--" | "&&" | "||" | "|" | ";" | ">>" | ">") {
                break;
            }
            if let Some(name) = o.strip_prefix("--") {
                opts.push(format!("--{}", name.split('=').next().unwrap_or(name)));
            }
        }
        out.push((sub.to_string(), opts));
    }
    out
}

fn help(args: &[&str]) -> String {
    let o = run(Who::Root, &ci_dir(), args);
    assert_eq!(o.status.code(), Some(0), "flakebox {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The subcommands `flakebox --help` lists.
fn subcommands() -> Vec<String> {
    let h = help(&["--help"]);
    let section = h.split("Commands:").nth(1).expect("a Commands: section");
    section
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Checks every flakebox command of a file; returns them, in order.
fn check_commands(name: &str, docs: &[Yaml]) -> Vec<(String, Vec<String>)> {
    let subs = subcommands();
    assert!(subs.iter().any(|s| s == "merge") && subs.iter().any(|s| s == "diagnose"), "{subs:?}");
    let mut all = Vec::new();
    for d in docs {
        let mut ss = Vec::new();
        strings(d, &mut ss);
        for s in ss {
            all.extend(flakebox_commands(&s));
        }
    }
    assert!(all.iter().any(|(s, _)| s == "diagnose"), "{name} runs no flakebox diagnose");
    for (sub, opts) in &all {
        assert!(subs.contains(sub), "{name}: `flakebox {sub}` is not in `flakebox --help` ({subs:?})");
        let h = help(&[sub, "--help"]);
        for o in opts {
            // The whole option, not a prefix of a longer one.
            let whole = h
                .match_indices(o.as_str())
                .any(|(i, _)| !h[i + o.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-'));
            assert!(whole, "{name}: `flakebox {sub} {o}`: no such option");
        }
    }
    all
}

#[test]
fn github_actions_workflow() {
    let docs = load("github-actions.yml");
    let cmds = check_commands("github-actions.yml", &docs);
    let w = &docs[0];
    let shard = &w["jobs"]["shard"];
    let matrix = shard["strategy"]["matrix"]["shard"].as_vec().expect("a matrix of shards");
    let n = matrix.len();
    assert!(n >= 2);
    let ks: Vec<i64> = matrix.iter().filter_map(Yaml::as_i64).collect();
    assert_eq!(ks, (1..=n as i64).collect::<Vec<_>>(), "the matrix is 1..N");
    let steps = shard["steps"].as_vec().expect("steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let first = runs.iter().position(|r| r.contains("flakebox ")).expect("a flakebox step");
    assert!(runs[first].trim() == "flakebox doctor", "doctor first, not {:?}", runs[first]);
    assert!(
        runs[..first].iter().any(|r| r.contains("kernel.apparmor_restrict_unprivileged_userns=0")),
        "the AppArmor restriction is lifted before doctor"
    );
    let diag = runs.iter().find(|r| r.contains("flakebox diagnose")).expect("diagnose step");
    assert!(diag.contains(&format!("--shard ${{{{ matrix.shard }}}}/{n}")), "--shard K/{n}: {diag}");
    let uploads =
        steps.iter().filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact")));
    assert_eq!(uploads.count(), 1);
    let merge = &w["jobs"]["merge"];
    assert_eq!(merge["needs"].as_str(), Some("shard"));
    let mruns: Vec<&str> =
        merge["steps"].as_vec().expect("steps").iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(
        mruns
            .iter()
            .any(|r| r.contains("flakebox merge --format markdown") && r.contains("$GITHUB_STEP_SUMMARY")),
        "{mruns:?}"
    );
    assert!(cmds.iter().any(|(s, _)| s == "merge"));
}

#[test]
fn gitlab_parallel_jobs() {
    let docs = load("gitlab-ci.yml");
    let cmds = check_commands("gitlab-ci.yml", &docs);
    let job = &docs[0]["flakebox-shard"];
    assert!(job["parallel"].as_i64().is_some_and(|n| n >= 2), "parallel: N");
    let script: Vec<&str> = job["script"].as_vec().expect("script").iter().filter_map(Yaml::as_str).collect();
    assert_eq!(script.first().map(|s| s.trim()), Some("flakebox doctor"));
    // The shard comes from CI_NODE_INDEX/CI_NODE_TOTAL: no --shard.
    let diag = script.iter().find(|s| s.contains("flakebox diagnose")).expect("diagnose");
    assert!(!diag.contains("--shard"), "{diag}");
    assert!(cmds.iter().any(|(s, _)| s == "merge"));
}

#[test]
fn kubernetes_indexed_job() {
    let docs = load("kubernetes-indexed-job.yaml");
    check_commands("kubernetes-indexed-job.yaml", &docs);
    let spec = &docs[0]["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let n = spec["completions"].as_i64().expect("completions");
    let c = &spec["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"].as_vec().expect("args").iter().filter_map(Yaml::as_str).collect();
    let line = args.join(" ");
    assert!(line.trim_start().starts_with("flakebox doctor &&"), "{line}");
    assert!(line.contains(&format!("--shard-count {n}")), "--shard-count equals completions ({n}): {line}");
}
