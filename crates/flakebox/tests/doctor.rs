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
        for check in ["namespaces", "overlay mounts", "clock shim", "PostgreSQL"] {
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
