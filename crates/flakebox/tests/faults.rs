//! Fault cases of `flakebox run`, as root and as nobody: the command's
//! output going away, and flakebox killed at random points of a run. Each
//! checks that nothing is left behind (process, mount, temporary directory).
//! (A command that ignores SIGTERM under --timeout: run_sandbox.rs.)

mod common;

use common::*;
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

/// Temporary directories flakebox might leave in /tmp and /var/tmp.
fn flakebox_temp_dirs() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["/tmp", "/var/tmp"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            // The tests' own scratch and binary directories are not flakebox's.
            if name.starts_with("flakebox")
                && !name.starts_with("flakebox-test-")
                && !name.starts_with("flakebox-bin-")
            {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_command_that_closes_its_stdout_or_loses_its_reader() {
    for who in BOTH {
        let d = scratch(who);
        // Closed by the command: its writes fail, flakebox reports its status.
        let o = run(
            who,
            d.path(),
            &["run", "--", "sh", "-c", "exec >&-; echo lost; echo errno-seen >&2; exit 3"],
        );
        assert_eq!(o.status.code(), Some(3), "{who:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("errno-seen"), "{who:?}: {}", stderr(&o));
        // Closed by the reader: the command dies of SIGPIPE (128 + 13), as
        // it would without flakebox, and nothing of it is left.
        let marker = unique_number();
        let script = format!("sleep {marker} & yes");
        let mut child = command(who, d.path(), &["run", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("one line");
        assert_eq!(line, "y\n");
        drop(out);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(128 + libc::SIGPIPE), "{who:?}");
        // PID 1 (a clone of flakebox, so its command line has the marker)
        // may still be exiting when flakebox returns.
        let alive = wait_gone(&processes_with(&marker), Duration::from_secs(30));
        assert!(alive.is_empty(), "{who:?}: the command's background process survived: {alive:?}");
    }
}

#[test]
fn sigkill_at_random_points_of_run_leaves_nothing() {
    // A bounded number of trials in the default run; the kill lands
    // anywhere from before the namespaces exist to the command running.
    const TRIALS: usize = 6;
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let temp_before = flakebox_temp_dirs();
    for who in BOTH {
        for _ in 0..TRIALS {
            let d = scratch(who);
            let marker = unique_number();
            let script = format!("sleep {marker} & exec sleep {marker}");
            let mut child = command(who, d.path(), &["run", "--", "sh", "-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            // The fault's timing is the point of the trial, not a wait for something.
            std::thread::sleep(Duration::from_micros(fastrand::u64(0..20_000)));
            // SAFETY: kill(2) on our own child (setpriv execs into flakebox).
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            child.wait().expect("wait");
            // What was started dies with PID 1; a process still being set up
            // when we look may appear once, so look again after it is gone.
            for _ in 0..2 {
                let alive = wait_gone(&processes_with(&marker), Duration::from_secs(30));
                assert!(alive.is_empty(), "{who:?}: processes survived: {alive:?}");
            }
        }
    }
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert_eq!(mounts_before, mounts_after, "no mount appeared on the host");
    assert_eq!(flakebox_temp_dirs(), temp_before, "no temporary directory left");
}
