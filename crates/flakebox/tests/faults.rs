//! Fault cases of `flakebox run`, as root and as nobody: the command's
//! output going away, and flakebox killed at random points of a run. Each
//! checks that nothing is left behind (process, mount, temporary directory).
//! (A command that ignores SIGTERM under --timeout: run_sandbox.rs.)
//!
//! `FLAKEBOX_FAULT_TRIALS=100` runs the long mode of the SIGKILL trials
//! (default: 3 per command and user, twice that for plain `run`).

mod common;

use common::*;
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

/// One test at a time: each compares the host's mounts and temporary
/// directories before and after, which a test beside it would change.
fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _one = exclusive();
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
    sigkill_run_trials(Who::Root);
}

/// As nobody the supervisor writes the id maps before releasing PID 1,
/// which widens the window where it may die before PID 1 has armed its
/// parent-death signal (PID 1 then outlived it, until the release waited for
/// PID 1 to say it is armed).
#[test]
fn sigkill_at_random_points_of_run_as_nobody_leaves_nothing() {
    sigkill_run_trials(Who::Nobody);
}

fn sigkill_run_trials(who: Who) {
    let _one = exclusive();
    // The kill lands anywhere from before the namespaces exist to the
    // command running.
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let temp_before = flakebox_temp_dirs();
    let mut killed = Vec::new();
    {
        for trial in 0..2 * kill_trials() {
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
            killed.push(child.id());
            // What was started dies with PID 1; a process still being set up
            // when we look may appear once, so look again after it is gone.
            for _ in 0..2 {
                let alive = wait_gone(&processes_with(&marker), Duration::from_secs(30));
                assert!(alive.is_empty(), "{who:?} trial {trial}: processes survived:\n{}", describe(&alive));
            }
        }
    }
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert_eq!(mounts_before, mounts_after, "no mount appeared on the host");
    // `run` makes none; other flakebox processes on the machine make theirs
    // meanwhile, named with their pid.
    let new: Vec<String> = flakebox_temp_dirs()
        .into_iter()
        .filter(|t| !temp_before.contains(t) && !others_scratch(t, &killed))
        .collect();
    assert!(new.is_empty(), "no temporary directory left: {new:?}");
}

/// A scratch directory named with the pid of a flakebox that is not one of
/// `ours` (diagnose's, timetravel's, a PostgreSQL template build's).
fn others_scratch(path: &str, ours: &[u32]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    ["flakebox-diagnose-", "flakebox-timetravel-", "flakebox-pg-build-"].iter().any(|prefix| {
        let pid =
            name.strip_prefix(prefix).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
        pid.is_some_and(|p| !ours.contains(&p))
    })
}

/// What a process that survived was doing: its status, command line,
/// kernel wait channel and descriptors, for the failure message.
fn describe(pids: &[u32]) -> String {
    let mut out = String::new();
    for pid in pids {
        let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let status: String = read("status")
            .lines()
            .filter(|l| ["Name", "State", "PPid", "NSpid", "Uid", "SigBlk"].iter().any(|k| l.starts_with(k)))
            .map(|l| format!("  {l}\n"))
            .collect();
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| {
                let target =
                    std::fs::read_link(e.path()).map(|t| t.display().to_string()).unwrap_or_default();
                format!("{}->{target}", e.file_name().to_string_lossy())
            })
            .collect();
        out.push_str(&format!(
            "pid {pid}: {:?}\n{status}  wchan {}\n  fds {fds:?}\n  stack:\n{}",
            read("cmdline").replace('\0', " "),
            read("wchan"),
            read("stack"),
        ));
    }
    out
}

/// Trials per command of the SIGKILL tests: a small sample by default,
/// `FLAKEBOX_FAULT_TRIALS=100` for the long mode.
fn kill_trials() -> usize {
    std::env::var("FLAKEBOX_FAULT_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(3)
}

/// Host processes of PostgreSQL's: a server, or a helper a template build
/// runs (initdb, psql, pg_controldata).
fn postgres_processes() -> Vec<u32> {
    const NAMES: [&str; 4] = ["postgres", "initdb", "psql", "pg_controldata"];
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| NAMES.contains(&c.trim_end())) {
            out.push(pid);
        }
    }
    out
}

/// Template build directories of flakebox process `pid` in the PostgreSQL
/// template cache `who` uses when run in `home` (nobody's HOME is its
/// scratch directory, so each of its trials builds the template).
fn template_builds(who: Who, home: &std::path::Path, pid: u32) -> Vec<String> {
    let cache = match who {
        Who::Nobody => home.to_path_buf(),
        Who::Root => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()),
    }
    .join(".cache/flakebox/postgres");
    let prefix = format!(".build-{pid}-");
    std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path().display().to_string())
        .collect()
}

/// SIGKILL `flakebox ARGS(marker)` after a random delay below `max_delay`,
/// [`kill_trials`] times as each user, and check that nothing is left: no
/// process with the marker on its command line, no new PostgreSQL server or
/// helper, no mount, no temporary directory (one named by
/// `scratch_prefixes` and the pid of the flakebox that made it, or a
/// template build directory, in /tmp or in the template cache).
fn sigkill_trials(args: impl Fn(&str) -> Vec<String>, scratch_prefixes: &[&str], max_delay: Duration) {
    let _one = exclusive();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    for who in BOTH {
        for trial in 0..kill_trials() {
            let d = scratch(who);
            let marker = unique_number();
            let args = args(&marker);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let pg_before = postgres_processes();
            let temp_before_trial = flakebox_temp_dirs();
            let mut child = command(who, d.path(), &args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            // The fault's timing is the point of the trial, not a wait for something.
            std::thread::sleep(Duration::from_micros(fastrand::u64(0..max_delay.as_micros() as u64)));
            // SAFETY: kill(2) on our own child (setpriv execs into flakebox).
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            child.wait().expect("wait");
            for _ in 0..2 {
                let alive = wait_gone(&processes_with(&marker), Duration::from_secs(30));
                assert!(alive.is_empty(), "{who:?} {args:?} trial {trial}: processes survived: {alive:?}");
            }
            let new_pg: Vec<u32> =
                postgres_processes().into_iter().filter(|p| !pg_before.contains(p)).collect();
            let alive = wait_gone(&new_pg, Duration::from_secs(30));
            assert!(alive.is_empty(), "{who:?} {args:?} trial {trial}: PostgreSQL survived: {alive:?}");
            // Only the directories this command makes: on a shared machine,
            // other flakebox processes make theirs meanwhile. A template build
            // directory and a scratch directory name the process that made it.
            let build = format!("/flakebox-pg-build-{}-", child.id());
            let scratch: Vec<String> =
                scratch_prefixes.iter().map(|p| format!("{p}{}-", child.id())).collect();
            let ours = |t: &String| t.contains(&build) || scratch.iter().any(|p| t.contains(p.as_str()));
            let left: Vec<String> = flakebox_temp_dirs()
                .into_iter()
                .filter(|t| !temp_before_trial.contains(t) && ours(t))
                .collect();
            assert!(left.is_empty(), "{who:?} {args:?} trial {trial}: left {left:?}");
            // A build killed midway: its reaper (gone with the marker's
            // processes above) waited for initdb and removed the directory.
            let builds = template_builds(who, d.path(), child.id());
            assert!(builds.is_empty(), "{who:?} {args:?} trial {trial}: template build left: {builds:?}");
        }
    }
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert_eq!(mounts_before, mounts_after, "no mount appeared on the host");
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sigkill_at_random_points_of_run_postgres_leaves_nothing() {
    // From before the server starts to the command talking to it.
    sigkill_trials(
        |m| {
            strings(&[
                "run",
                "--postgres",
                "--",
                "sh",
                "-c",
                "psql -XAtq \"$DATABASE_URL\" -c 'create table t(x int)'; exec sleep \"$0\"",
                m,
            ])
        },
        &[],
        Duration::from_secs(4),
    );
}

#[test]
fn sigkill_at_random_points_of_diagnose_leaves_nothing() {
    // Within the first runs of the diagnosis, or its setup.
    sigkill_trials(
        |m| {
            strings(&[
                "diagnose",
                "--factors",
                "net,fs,time",
                "--runs",
                "3",
                "--",
                "sh",
                "-c",
                "sleep 0.1",
                m,
            ])
        },
        &["/flakebox-diagnose-"],
        Duration::from_secs(3),
    );
}

#[test]
fn sigkill_at_random_points_of_timetravel_leaves_nothing() {
    sigkill_trials(
        |m| strings(&["timetravel", "--", "sh", "-c", "sleep 0.1", m]),
        &["/flakebox-timetravel-"],
        Duration::from_secs(3),
    );
}

#[test]
fn a_command_that_forks_ten_thousand_processes_leaves_none() {
    let _one = exclusive();
    // Bounded: the sandbox's PID namespace ends with the command, and
    // --timeout ends the command if forking takes too long.
    let who = Who::Root;
    let d = scratch(who);
    let marker = unique_number();
    let script = "i=0; while [ $i -lt 10000 ]; do sleep \"$0\" & i=$((i+1)); done; \
                  ls /proc | grep -c '^[0-9]'";
    let o = run(who, d.path(), &["run", "--timeout", "5m", "--", "sh", "-c", script, &marker]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen: u32 = stdout(&o).trim().parse().expect("a process count");
    assert!(seen > 10_000, "only {seen} processes ran in the sandbox");
    let alive = wait_gone(&processes_with(&marker), Duration::from_secs(60));
    assert!(alive.is_empty(), "{} of the 10,000 processes survived", alive.len());
}

/// A SIGKILL to a diagnosis and to its reaper (the OOM killer, a kill of
/// everything the job started) leaves its scratch directories; the next
/// diagnosis removes them, their names saying whose they were.
#[test]
fn scratch_left_by_a_diagnosis_killed_with_its_reaper_is_removed_by_the_next() {
    use std::os::fd::AsRawFd;
    let _one = exclusive();
    for who in BOTH {
        let d = scratch(who);
        // The first run is a baseline run (the host's network): it says it
        // started over TCP, so the scratch (and the reaper) exist by then.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("address").port().to_string();
        let marker = unique_number();
        let script = "echo started > /dev/tcp/127.0.0.1/$1; exec sleep $0";
        let args =
            ["diagnose", "--factors", "net", "--runs", "2", "--", "bash", "-c", script, &marker, &port];
        let mut child =
            command(who, d.path(), &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
        let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own; bounded, so a broken run fails the test.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 120_000) }, 1, "{who:?}: the command never started");
        let (conn, _) = listener.accept().expect("accept");
        let mut line = String::new();
        std::io::BufReader::new(conn).read_line(&mut line).expect("read");
        assert_eq!(line, "started\n");
        // The diagnosis, its reaper (a fork of it) and the command. Children
        // first: a reaper whose owner is gone would remove the scratch at once.
        let mut marked = processes_with(&marker);
        let parent = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|v| v.trim().parse().ok())
            })
        };
        let set = marked.clone();
        marked.sort_by_key(|p| parent(*p).is_some_and(|pp: u32| set.contains(&pp)));
        marked.reverse();
        for pid in &marked {
            // SAFETY: kill(2) with a pid and a signal.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
        child.wait().expect("wait");
        let alive = wait_gone(&marked, Duration::from_secs(30));
        assert!(alive.is_empty(), "{who:?}: {}", describe(&alive));
        let prefix = format!("/flakebox-diagnose-{}-", child.id());
        let left: Vec<String> = flakebox_temp_dirs().into_iter().filter(|t| t.contains(&prefix)).collect();
        assert_eq!(left.len(), 2, "{who:?}: the killed diagnosis left {left:?}");
        let o = run(who, d.path(), &["diagnose", "--factors", "net", "--runs", "2", "--", "true"]);
        assert_eq!(o.status.code(), Some(0), "{who:?}: {}", stderr(&o));
        let still: Vec<&String> = left.iter().filter(|t| std::path::Path::new(t).exists()).collect();
        assert!(still.is_empty(), "{who:?}: the next diagnosis left {still:?}");
    }
}
