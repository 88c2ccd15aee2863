//! Helpers shared by the integration tests: a temporary directory with the shim
//! installed, C programs compiled into it, and programs run under the shim.
#![allow(dead_code)] // each test crate uses its own subset

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flakebox_clock::ShimClock;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub shim: PathBuf,
}

pub fn setup() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let shim = flakebox_clock::install(dir.path()).expect("install shim");
    Env { dir, shim }
}

/// The test needs `tool` (a language runtime or compiler): fail, naming it,
/// rather than pass without testing anything. `.ci/run` installs them.
pub fn require(tool: &str) {
    let cwd = std::env::current_dir().expect("cwd");
    let found = hostfs::find_executable(tool.as_ref(), std::env::var_os("PATH").as_deref(), &cwd).is_some();
    assert!(found, "this test needs `{tool}`, which is not installed (.ci/run installs it)");
}

impl Env {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write source");
        p
    }

    /// Compiles C source with gcc (extra flags such as -static).
    pub fn cc(&self, name: &str, src: &str, flags: &[&str]) -> PathBuf {
        let c = self.write(&format!("{name}.c"), src);
        let out = self.path(name);
        let o = Command::new("gcc")
            .args(["-O1", "-Wall", "-o"])
            .arg(&out)
            .arg(&c)
            .args(flags)
            .args(["-lpthread", "-lrt"])
            .output()
            .expect("run gcc");
        assert!(o.status.success(), "gcc {name}: {}", String::from_utf8_lossy(&o.stderr));
        out
    }

    /// Runs cmd under the shim with clock's variables (none: pass-through) and a
    /// 20 s limit; the child is killed and the test fails if it hangs.
    pub fn run(&self, clock: Option<&ShimClock>, extra: &[(&str, &OsStr)], cmd: &mut Command) -> Output {
        cmd.env("LD_PRELOAD", flakebox_clock::ld_preload_value(None, &self.shim)).env("TZ", "UTC");
        for (k, v) in clock.map(ShimClock::env).unwrap_or_default() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id() as libc::pid_t;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(out) => {
                let out = out.expect("wait");
                eprintln!(
                    "{cmd:?}\n--- stdout\n{}--- stderr\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                out
            }
            Err(_) => {
                // SAFETY: kill(2) on the pid of our own still-running child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("{cmd:?} hung (over 20 s) under the shim");
            }
        }
    }
}

pub fn ok_stdout(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
