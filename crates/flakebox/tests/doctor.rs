//! `flakebox doctor` on this host, as root and as nobody.

mod common;

use common::*;

#[test]
fn doctor_passes_on_this_host_and_names_each_check() {
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["doctor"]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{who:?}: {out}{}", stderr(&o));
        for check in
            ["namespaces", "overlay mounts", "clock shim", "clock for static and Go programs", "PostgreSQL"]
        {
            let line = out
                .lines()
                .find(|l| l.contains(check))
                .unwrap_or_else(|| panic!("{who:?}: no {check} line: {out}"));
            assert!(line.starts_with("PASS"), "{who:?}: {line}");
        }
        if who == Who::Nobody {
            assert!(
                out.contains("user namespaces"),
                "unprivileged: the user namespace knobs are checked: {out}"
            );
        }
        let o = run(who, d.path(), &["doctor", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("doctor --json is JSON");
        let checks = v.as_array().expect("a list of checks");
        assert!(checks.iter().all(|c| c["level"] == "PASS" || c["level"] == "WARN"), "{v}");
    }
}

/// Root without CAP_SYS_ADMIN (a container without privileges) cannot make
/// namespaces: doctor says FAIL with the fix and exits 1, and run exits 125
/// naming the cause and pointing at doctor.
#[test]
fn without_cap_sys_admin_doctor_fails_and_run_names_the_cause() {
    let d = scratch(Who::Root);
    let capless = |args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"])
            .arg(flakebox())
            .args(args)
            .current_dir(d.path())
            .output()
            .expect("run setpriv")
    };
    let o = capless(&["doctor"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let fail = out.lines().find(|l| l.starts_with("FAIL")).unwrap_or_else(|| panic!("a FAIL line: {out}"));
    assert!(fail.contains("namespaces"), "{fail}");
    assert!(out.contains("--cap-add SYS_ADMIN"), "the fix is named: {out}");
    let o = capless(&["run", "--", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("CAP_SYS_ADMIN") && err.contains("flakebox doctor"), "{err}");
}
