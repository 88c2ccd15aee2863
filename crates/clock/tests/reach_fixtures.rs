//! The reach check exists twice: in the shim (C, at an interposed exec) and in
//! clock::reach (Rust, before the command starts); the reasons' wording is
//! shared (shim/reach.def). This test builds one program of each kind the rules
//! tell apart, execs each under the shim, and checks that the shim's warning is
//! exactly the one `reach::inspect(..).warning(..)` gives, and that each kind is
//! classified as the rules say.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use flakebox_clock::reach::{inspect, Reach};
use flakebox_clock::trace::TraceEvent;
use flakebox_clock::TimeSpec;

mod common;
use common::{ok_stdout, require, setup, Env};

const PLAIN: &str = "int main(void) { return 0; }\n";

const EXECER: &str = r#"
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
/* Execs each argument in a child of its own, one after the other. */
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *args[] = {argv[i], NULL};
            execve(argv[i], args, environ);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
    }
    return 0;
}
"#;

fn run_ok(cmd: &mut Command) {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn script(env: &Env, name: &str, text: &str) -> PathBuf {
    let p = env.write(name, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// A copy of `src` as `name` with `mode` and owner `uid:gid`.
fn copy_as(env: &Env, src: &Path, name: &str, mode: u32, uid: u32, gid: u32) -> PathBuf {
    let p = env.path(name);
    std::fs::copy(src, &p).expect("copy");
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

fn go_build(env: &Env) -> PathBuf {
    let src = env.write("hello.go", "package main\n\nfunc main() {}\n");
    let out = env.path("go-hello");
    let mut cmd = Command::new("go");
    cmd.arg("build").arg("-o").arg(&out).arg(&src).current_dir(env.dir.path());
    // No network, no VCS stamping; a cache of its own when there is no HOME.
    cmd.env("GOTOOLCHAIN", "local").env("GOFLAGS", "-buildvcs=false").env("CGO_ENABLED", "0");
    if std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", env.path("gocache"));
    }
    run_ok(&mut cmd);
    out
}

#[test]
fn the_shim_and_clock_reach_agree_on_every_kind_of_program() {
    for tool in ["gcc", "musl-gcc", "go", "setcap"] {
        require(tool);
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let env = setup();
    let dynamic = env.cc("dynamic", PLAIN, &[]);
    let static_ = env.cc("static", PLAIN, &["-static"]);
    let static_pie = env.cc("static-pie", PLAIN, &["-static-pie"]);
    let musl = env.path("musl-dynamic");
    let musl_static = env.path("musl-static");
    let c = env.write("plain.c", PLAIN);
    run_ok(Command::new("musl-gcc").arg("-o").arg(&musl).arg(&c));
    run_ok(Command::new("musl-gcc").arg("-static").arg("-o").arg(&musl_static).arg(&c));
    let go = go_build(&env);

    let mut cases: Vec<(PathBuf, Reach)> = vec![
        (dynamic.clone(), Reach::Dynamic),
        (static_.clone(), Reach::Static),
        (static_pie, Reach::Static),
        (musl.clone(), Reach::Musl),
        (musl_static, Reach::Static),
        (go.clone(), Reach::Go),
    ];
    let script_of = |interp: &Path, reach: Reach| Reach::Script {
        interpreter: interp.to_path_buf(),
        interpreter_reach: Box::new(reach),
    };
    cases.push((
        script(&env, "sh-script", "#!/bin/sh\nexit 0\n"),
        script_of(Path::new("/bin/sh"), Reach::Dynamic),
    ));
    let static_script = script(&env, "static-script", &format!("#!{} -x\n", static_.display()));
    cases.push((static_script.clone(), script_of(&static_, Reach::Static)));
    cases.push((
        script(&env, "musl-script", &format!("#! \t{}\targ\n", musl.display())),
        script_of(&musl, Reach::Musl),
    ));
    cases.push((script(&env, "go-script", &format!("#!{}\n", go.display())), script_of(&go, Reach::Go)));
    // A script run by a script: #! is followed once, the inner one says nothing.
    cases.push((
        script(&env, "script-script", &format!("#!{}\n", static_script.display())),
        script_of(&static_script, Reach::NotElf),
    ));
    cases.push((script(&env, "text", "just text\n"), Reach::NotElf));
    if root {
        // Set-id to another user or group: secure mode. To oneself: no change.
        cases.push((copy_as(&env, &dynamic, "setuid", 0o4755, 65534, 0), Reach::Setuid));
        cases.push((copy_as(&env, &dynamic, "setgid", 0o2755, 0, 65534), Reach::Setuid));
        cases.push((copy_as(&env, &dynamic, "setuid-self", 0o4755, 0, 0), Reach::Dynamic));
        let caps = copy_as(&env, &dynamic, "filecaps", 0o755, 0, 0);
        run_ok(Command::new("setcap").arg("cap_net_bind_service+ep").arg(&caps));
        cases.push((caps, Reach::FileCaps));
    } else {
        eprintln!("SKIPPED the set-id and file-capability fixtures: they need root");
    }

    // What clock::reach says.
    for (path, want) in &cases {
        let got = inspect(path).unwrap_or_else(|e| panic!("inspect {}: {e}", path.display()));
        assert_eq!(&got, want, "{}", path.display());
    }

    // What the shim says at each exec.
    let execer = env.cc("execer", EXECER, &[]);
    let trace = env.path("trace");
    let clock = "2024-02-29T23:59:58Z".parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let mut cmd = Command::new(&execer);
    cmd.args(cases.iter().map(|(p, _)| p));
    let out = env.run(Some(&clock), &[("FLAKEBOX_TRACE", trace.as_os_str())], &mut cmd);
    ok_stdout(&out);
    let events = flakebox_clock::trace::parse(&std::fs::read_to_string(&trace).expect("trace"));
    // Each child execs one path: its pid ties the warning to the path.
    let mut exec_of: HashMap<u32, String> = HashMap::new();
    let mut warned: HashMap<String, Vec<String>> = HashMap::new();
    for e in &events {
        match e {
            TraceEvent::Exec { pid, path } => {
                exec_of.insert(*pid, path.clone());
            }
            TraceEvent::Warn { pid, message } => {
                let path = exec_of.get(pid).unwrap_or_else(|| panic!("a warning before any exec: {message}"));
                warned.entry(path.clone()).or_default().push(message.clone());
            }
            _ => {}
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (path, reach) in &cases {
        let key = path.display().to_string();
        assert!(exec_of.values().any(|p| *p == key), "no exec of {key} traced: {events:?}");
        let rust = reach.warning(path).map(|w| w.to_string());
        let shim: Vec<String> = warned.get(&key).cloned().unwrap_or_default();
        match &rust {
            None => assert!(shim.is_empty(), "{key}: clock::reach sees no problem, the shim warned {shim:?}"),
            Some(w) => {
                assert_eq!(shim.len(), 1, "{key}: the shim warned {shim:?}, clock::reach says {w}");
                // The trace carries the message; stderr the whole warning line.
                assert!(w.ends_with(&shim[0]), "{key}:\n shim: {}\n rust: {w}", shim[0]);
                assert!(stderr.lines().any(|l| l == w), "{key}: `{w}` not on stderr:\n{stderr}");
            }
        }
    }
}
