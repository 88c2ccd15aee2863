//! `flakebox doctor`: can this host run sandboxes, and if not, the exact fix.

use crate::cli::DoctorArgs;
use anyhow::Result;
use sandbox::host::{self, Check, Level, ProbeStep};

pub fn main(args: DoctorArgs) -> Result<i32> {
    let checks = checks();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let tag = match c.level {
                Level::Pass => "PASS",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("{tag}  {}: {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("      fix: {fix}");
            }
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    if !args.json {
        println!(
            "{}",
            if failed {
                "\n`flakebox run` cannot work on this host until the FAIL lines are fixed."
            } else {
                "\n`flakebox run` can work on this host."
            }
        );
    }
    Ok(if failed { 1 } else { 0 })
}

fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let uname = nix::sys::utsname::uname().ok();
    let release = uname.as_ref().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    out.push(Check::new("kernel", Level::Pass, format!("Linux {release}"), None));
    let root = host::is_root();
    out.push(Check::new(
        "identity",
        Level::Pass,
        if root {
            "running as root: no user namespace needed".to_string()
        } else {
            "unprivileged: a user namespace maps your own uid".to_string()
        },
        None,
    ));
    if !root {
        let blockers = host::userns_blockers();
        if blockers.is_empty() {
            out.push(Check::new("user namespaces", Level::Pass, "no sysctl disables them", None));
        }
        for (what, fix) in blockers {
            out.push(Check::new("user namespaces", Level::Fail, what, Some(fix)));
        }
    }
    let (step, errno) = host::probe();
    let err = errno.map(|e| e.desc().to_string()).unwrap_or_default();
    let container = host::container();
    let cap_fix = (root && !host::has_cap_sys_admin()).then(|| host::CAP_FIX.to_string());
    let container_fix = cap_fix.or(container.map(|engine| {
        format!(
            "this is a {engine} container: run it with --security-opt seccomp=unconfined \
             --security-opt apparmor=unconfined (or --privileged){}",
            if root { "" } else { ", or run flakebox as root inside it" }
        )
    }));
    match step {
        ProbeStep::Unshare => out.push(Check::new(
            "namespaces (mount, net, uts, ipc)",
            Level::Fail,
            format!("unshare failed: {err}"),
            container_fix
                .clone()
                .or_else(|| Some("see the user namespace line above, or run as root".into())),
        )),
        ProbeStep::Tmpfs => out.push(Check::new(
            "mounts in a new namespace",
            Level::Fail,
            format!("mounting a tmpfs failed: {err}"),
            container_fix.clone(),
        )),
        ProbeStep::Overlay => {
            out.push(Check::new("namespaces (mount, net, uts, ipc)", Level::Pass, "created", None));
            out.push(Check::new(
                "overlay mounts",
                Level::Fail,
                format!("an overlay mount failed: {err}"),
                Some(if root {
                    "load the overlay module: sudo modprobe overlay".into()
                } else {
                    "overlayfs in a user namespace needs Linux 5.11 or newer; upgrade the kernel or run as root".into()
                }),
            ));
        }
        ProbeStep::Done => {
            out.push(Check::new("namespaces (mount, net, uts, ipc)", Level::Pass, "created", None));
            out.push(Check::new("overlay mounts", Level::Pass, "copy-on-write layers work", None));
        }
    }
    out.push(shim_check());
    out.push(match clockwatch::probe() {
        Ok(()) => Check::new(
            "clock for static and Go programs",
            Level::Pass,
            "seccomp user notification and ptrace work: the supervisor freezes what the shim cannot reach",
            None,
        ),
        Err(why) => Check::new(
            "clock for static and Go programs",
            Level::Warn,
            format!("static, Go and musl programs will read the real clock: {why}"),
            Some(
                "run on Linux 5.5+ with ptrace and seccomp(2) allowed (the fix above names what blocks them)"
                    .into(),
            ),
        ),
    });
    out.push(match throwaway_pg::find_binaries(None) {
        Ok(b) => Check::new("PostgreSQL", Level::Pass, format!("{} in {}", b.version, b.bindir.display()), None),
        Err(e) => Check::new(
            "PostgreSQL",
            Level::Warn,
            format!("no server binaries: --postgres and the db factor are unavailable ({e})"),
            Some("sudo apt-get install postgresql (Debian/Ubuntu), dnf install postgresql-server, pacman -S postgresql".into()),
        ),
    });
    if let Some(engine) = container {
        if step == ProbeStep::Done {
            out.push(Check::new(
                "container",
                Level::Pass,
                format!("inside {engine}, and its profile allows what run needs"),
                None,
            ));
        }
    }
    out
}

/// Load the embedded shim into a real process, frozen at a known instant.
fn shim_check() -> Check {
    let fail = |detail: String| {
        Check::new(
            "clock shim",
            Level::Fail,
            detail,
            Some("the embedded shim needs glibc 2.34 or newer on x86_64 or aarch64".into()),
        )
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return fail(format!("no temporary directory to test it in: {e}")),
    };
    let so = match clock::install(dir.path()) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let spec: clock::TimeSpec = match "@1000000000".parse() {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let out = std::process::Command::new("date")
        .arg("+%s")
        .env("LD_PRELOAD", &so)
        .envs(spec.resolve(std::time::SystemTime::now()).env())
        .output();
    match out {
        Ok(o)
            if o.status.success()
                && String::from_utf8_lossy(&o.stdout).trim() == "1000000000"
                && o.stderr.is_empty() =>
        {
            Check::new("clock shim", Level::Pass, "loads, and freezes the clock of a real process", None)
        }
        Ok(o) => fail(format!(
            "`date` under the shim printed {:?} ({})",
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => fail(format!("could not run `date` to test it: {e}")),
    }
}
