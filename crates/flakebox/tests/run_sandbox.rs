//! End-to-end tests of `flakebox run`'s sandbox, each as root and as nobody.

mod common;

use common::*;
use std::io::Read;
use std::time::Duration;

#[test]
fn exit_codes_pass_through() {
    for who in BOTH {
        let d = scratch(who);
        for code in [0, 3, 255] {
            let o = run(who, d.path(), &["run", "--", "sh", "-c", &format!("exit {code}")]);
            assert_eq!(o.status.code(), Some(code), "{who:?} exit {code}: {}", stderr(&o));
        }
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--", "sh", "-c", "kill -SEGV $$"]);
        assert_eq!(o.status.code(), Some(128 + 11), "{who:?}: {}", stderr(&o));
    }
}

#[test]
fn missing_and_unexecutable_commands() {
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--", "no-such-command-flakebox"]);
        assert_eq!(o.status.code(), Some(127), "{who:?}");
        assert!(stderr(&o).contains("no-such-command-flakebox"), "names the command: {}", stderr(&o));
        let o = run(who, d.path(), &["run", "--", "/no/such/file"]);
        assert_eq!(o.status.code(), Some(127), "{who:?}");
        assert!(stderr(&o).contains("/no/such/file"), "{}", stderr(&o));
        let o = run(who, d.path(), &["run", "--", "/etc/hostname"]);
        assert_eq!(o.status.code(), Some(126), "{who:?}");
        assert!(stderr(&o).contains("/etc/hostname"), "{}", stderr(&o));
    }
}

#[test]
fn only_loopback_and_it_is_up() {
    for who in BOTH {
        let d = scratch(who);
        // /proc/net/dev follows the network namespace.
        let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
                      cat /sys/class/net/lo/operstate 2>/dev/null; \
                      ip -o link show lo | grep -q 'UP' && echo lo-up";
        let o = run(who, d.path(), &["run", "--", "sh", "-c", script]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let out = stdout(&o);
        let ifaces: Vec<&str> =
            out.lines().take_while(|l| *l != "unknown" && *l != "up" && *l != "down").collect();
        assert_eq!(ifaces, vec!["lo"], "{who:?}: only lo: {out}");
        assert!(out.contains("lo-up"), "{who:?}: lo is up: {out}");
    }
}

#[test]
fn loopback_servers_inside_work_and_host_loopback_is_unreachable() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = host.local_addr().expect("addr").port();
    let script = format!(
        r#"
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
c = socket.create_connection(s.getsockname(), timeout=5); print("inner-ok")
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5); print("host-reached")
except OSError as e:
    print("host-unreachable")
"#
    );
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--", "python3", "-c", &script]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), vec!["inner-ok", "host-unreachable"], "{who:?}");
    }
}

#[test]
fn name_lookups_fail_without_hanging() {
    for who in BOTH {
        let d = scratch(who);
        // --timeout guards against a hang; a hang would show as 124.
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--timeout",
                "60s",
                "--",
                "python3",
                "-c",
                "import socket; socket.getaddrinfo('example.com', 443)",
            ],
        );
        assert_ne!(o.status.code(), Some(124), "{who:?}: lookup hung");
        assert_ne!(o.status.code(), Some(0), "{who:?}: a name resolved");
        assert!(stderr(&o).contains("gaierror"), "{who:?}: {}", stderr(&o));
    }
}

#[test]
fn tmp_is_fresh_and_hostname_is_set() {
    let marker =
        tempfile::Builder::new().prefix("flakebox-host-marker-").tempfile_in("/tmp").expect("marker");
    for who in BOTH {
        let d = scratch(who);
        let script = format!(
            // The working directory (a scratch dir under /tmp) stays visible;
            // nothing else of the host's /tmp does.
            "test ! -e {m} && test \"$(ls -A /tmp)\" = \"$(basename \"$PWD\")\" \\
             && test -z \"$(ls -A /var/tmp /dev/shm | grep -v :)\" && test -w /tmp && hostname",
            m = marker.path().display()
        );
        let o = run(who, d.path(), &["run", "--", "sh", "-c", &script]);
        assert!(o.status.success(), "{who:?}: {} {}", stdout(&o), stderr(&o));
        assert_eq!(stdout(&o).trim(), "flakebox");
    }
}

#[test]
fn writes_do_not_reach_the_host_and_are_reported() {
    for who in BOTH {
        let d = scratch(who);
        let home = d.path(); // HOME is the scratch dir for nobody; set it for root too
        let tmpname = unique("/tmp/flakebox-leak");
        let script = format!("echo a > written.txt && echo b > \"$HOME/.home-state\" && echo c > {tmpname} && rm -f existing.txt");
        std::fs::write(d.path().join("existing.txt"), "keep me").expect("seed");
        if who == Who::Nobody {
            std::os::unix::fs::chown(d.path().join("existing.txt"), Some(NOBODY), Some(NOBODY))
                .expect("chown");
        }
        let report = d.path().join("report.json");
        let mut cmd = command(who, d.path(), &["run", "--keep", report.to_str().expect("utf8"), "--report"]);
        cmd.arg(&report).args(["--", "sh", "-c", &script]).env("HOME", home);
        let o = cmd.output().expect("spawn");
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert!(!d.path().join("written.txt").exists(), "{who:?}: cwd write leaked");
        assert!(!home.join(".home-state").exists(), "{who:?}: $HOME write leaked");
        assert!(!std::path::Path::new(&tmpname).exists(), "{who:?}: /tmp write leaked");
        assert_eq!(std::fs::read_to_string(d.path().join("existing.txt")).expect("kept"), "keep me");
        let rep = read_json(&report);
        let files: Vec<String> = rep["files_written"]
            .as_array()
            .expect("files_written")
            .iter()
            .map(|f| format!("{} {}", f["change"].as_str().unwrap_or(""), f["path"].as_str().unwrap_or("")))
            .collect();
        let cwd = std::fs::canonicalize(d.path()).expect("canon");
        assert!(files.contains(&format!("written {}/written.txt", cwd.display())), "{who:?}: {files:?}");
        assert!(files.contains(&format!("deleted {}/existing.txt", cwd.display())), "{who:?}: {files:?}");
        assert!(!files.iter().any(|f| f.contains("flakebox-leak")), "tmp is not reported: {files:?}");
        assert_eq!(rep["exit_code"], 0);
    }
}

/// A filesystem mounted below / is copy-on-write too: as root it is its own
/// overlay on top of the root's (one overlay of / cannot see it); as nobody
/// the mount is locked, and the tree is rebuilt down to it.
#[test]
fn writes_to_another_mounted_filesystem_stay_in_the_sandbox() {
    for who in BOTH {
        let d = scratch(who);
        // Outside /tmp (fresh in the sandbox), in a mount namespace of the
        // test's own so the host never sees this tmpfs.
        let mnt =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nested-{}", unique_number()));
        std::fs::create_dir_all(&mnt).expect("mount point");
        let report = d.path().join("report.json");
        let inner = "cat seed && echo new > new && echo changed > seed";
        let run = format!(
            "{} {} run --report {} -- sh -c '{inner}'",
            if who == Who::Nobody { "setpriv --reuid=nobody --regid=nogroup --clear-groups --" } else { "" },
            flakebox().display(),
            report.display(),
        );
        let script = format!(
            "mount -t tmpfs -o mode=777 flakebox-test {m} && echo host > {m}/seed && chmod 666 {m}/seed && cd {m} \
             && {run}; echo \"after: $(cat seed) $(ls)\"",
            m = mnt.display()
        );
        let o = std::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .current_dir(d.path())
            .output()
            .expect("spawn unshare");
        let _ = std::fs::remove_dir(&mnt);
        let out = stdout(&o);
        assert!(o.status.success(), "{who:?}: {out}\n{}", stderr(&o));
        assert!(out.starts_with("host\n"), "{who:?}: the host's file is visible: {out}");
        assert!(out.contains("after: host seed"), "{who:?}: nothing reached the host: {out}");
        let rep = read_json(&report);
        let files = rep["files_written"].to_string();
        assert!(files.contains(&format!("{}/new", mnt.display())), "{who:?}: reported: {files}");
    }
}

#[test]
fn keep_lets_writes_reach_the_host() {
    for who in BOTH {
        let d = scratch(who);
        let existing = d.path().join("existing.log");
        std::fs::write(&existing, "").expect("seed");
        if who == Who::Nobody {
            std::os::unix::fs::chown(&existing, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--keep",
                "existing.log",
                "--keep",
                "out/junit.xml",
                "--",
                "sh",
                "-c",
                "echo appended >> existing.log && mkdir -p out && echo '<testsuite/>' > out/junit.xml && echo other > out/other.txt",
            ],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&existing).expect("existing"), "appended\n", "{who:?}");
        assert_eq!(std::fs::read_to_string(d.path().join("out/junit.xml")).expect("junit"), "<testsuite/>\n");
        assert!(!d.path().join("out/other.txt").exists(), "{who:?}: only the kept path reaches the host");
    }
}

/// A kept directory the command creates comes out as it was made: modes kept,
/// symlinks as symlinks (never followed: the target's contents stay inside),
/// a fifo left out rather than blocking the copy.
#[test]
fn keep_copies_a_new_tree_out_without_following_symlinks() {
    for who in BOTH {
        let d = scratch(who);
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--keep",
                "made",
                "--",
                "sh",
                "-c",
                "mkdir -p made/ro && echo x > made/ro/f && chmod 555 made/ro && ln -s /etc/hostname made/link \
                 && mkfifo made/fifo",
            ],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let made = d.path().join("made");
        assert_eq!(std::fs::read_to_string(made.join("ro/f")).expect("f"), "x\n", "{who:?}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::symlink_metadata(made.join("ro")).expect("ro").permissions(),
        );
        assert_eq!(mode & 0o7777, 0o555, "{who:?}: the directory's mode is kept");
        assert_eq!(
            std::fs::read_link(made.join("link")).expect("link"),
            std::path::Path::new("/etc/hostname"),
            "{who:?}"
        );
        assert!(std::fs::symlink_metadata(made.join("fifo")).is_err(), "{who:?}: the fifo is left out");
        std::fs::set_permissions(made.join("ro"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
}

#[test]
fn leftover_processes_are_killed_and_reported() {
    for who in BOTH {
        let d = scratch(who);
        let marker = unique_number();
        // Popen returns once the child has exec'd, so both are `sleep` by then.
        let py = format!(
            "import subprocess as s; s.Popen(['sleep', '{marker}.5']); s.Popen(['sleep', '{marker}.25'])"
        );
        let o = run(who, d.path(), &["run", "--", "python3", "-c", &py]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("left 2 process(es) running"), "{who:?}: {err}");
        assert!(err.contains("(sleep)"), "{who:?}: names them: {err}");
        assert!(processes_with(&format!("{marker}.5")).is_empty(), "{who:?}: a leftover survived");
    }
}

#[test]
fn supervisor_sigkill_leaves_nothing_behind() {
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    for who in BOTH {
        let d = scratch(who);
        let marker = unique_number();
        let script = format!("sleep {marker}.5 & echo ready; exec sleep {marker}.75");
        let (mut child, _out) =
            spawn_until(command(who, d.path(), &["run", "--", "sh", "-c", &script]), "ready");
        let inside = processes_with(&format!("{marker}."));
        assert!(!inside.is_empty(), "the sandbox's sleeps are visible from the host");
        // The real flakebox process (setpriv execs into it, so the pid is the same).
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        child.wait().expect("wait");
        let alive = wait_gone(&inside, Duration::from_secs(30));
        assert!(alive.is_empty(), "{who:?}: processes survived the supervisor: {alive:?}");
    }
    let mounts_after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert_eq!(mounts_before, mounts_after, "no mount appeared on the host");
}

#[test]
fn signals_are_forwarded_to_the_command() {
    // Blocked, then waited for: a signal that arrives between "ready" and
    // the wait is not lost (signal.pause() would miss it and hang).
    let script = r#"
import signal, sys
sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
print("ready", flush=True)
sig = signal.sigwait(sigs)
print("got", signal.Signals(sig).name, flush=True); sys.exit(40 + sig)
"#;
    for who in BOTH {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2] {
            let d = scratch(who);
            let (mut child, mut out) =
                spawn_until(command(who, d.path(), &["run", "--", "python3", "-c", script]), "ready");
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, sig) };
            let status = child.wait().expect("wait");
            let mut rest = String::new();
            out.read_to_string(&mut rest).expect("read");
            assert_eq!(status.code(), Some(40 + sig), "{who:?} signal {sig}: {rest}");
            assert!(rest.starts_with("got SIG"), "{who:?}: {rest}");
        }
    }
}

#[test]
fn timeout_terminates_then_kills() {
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--timeout", "300ms", "--", "sleep", "600"]);
        assert_eq!(o.status.code(), Some(124), "{who:?}: {}", stderr(&o));
        // A command that ignores SIGTERM is killed after the grace period.
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--timeout",
                "300ms",
                "--kill-after",
                "300ms",
                "--",
                "sh",
                "-c",
                "trap '' TERM; sleep 600; sleep 600",
            ],
        );
        assert_eq!(o.status.code(), Some(124), "{who:?}: {}", stderr(&o));
    }
}

/// Each fresh tmp directory is a tmpfs with a size limit: a quarter of
/// memory by default, `--tmp-size` otherwise; filling one gets ENOSPC
/// inside the sandbox and nothing on the host.
#[test]
fn a_full_tmp_gets_enospc_in_the_sandbox() {
    // Kilobytes, as /proc/mounts shows a tmpfs's size: whole pages.
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    let quarter_kb = mem_kb / 4 * 25 / 100 * 4;
    let fill = r#"
import errno, os, sys
for d in ["/tmp", "/var/tmp", "/dev/shm"]:
    # The last mount on d is the one in view.
    size = [l.split()[3] for l in open("/proc/mounts") if l.split()[1] == d][-1]
    size = [o for o in size.split(",") if o.startswith("size=")][0]
    n, block = 0, b"x" * 65536
    try:
        with open(d + "/fill", "wb") as f:
            while n < 64 << 20:
                n += f.write(block)
                f.flush()
        print(d, size, "no-error", n)
    except OSError as e:
        print(d, size, errno.errorcode[e.errno], n)
"#;
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--", "/usr/bin/python3", "-c", fill.trim_start()]);
        // The default is too large to fill in a test: its size is checked.
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        for line in stdout(&o).lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let kb: u64 = f[1].trim_start_matches("size=").trim_end_matches('k').parse().expect("size in k");
            assert!(
                kb.abs_diff(quarter_kb) <= 4,
                "{who:?}: {line}: a quarter of {mem_kb} kB is {quarter_kb} kB"
            );
        }
        assert_eq!(stdout(&o).lines().count(), 3, "{who:?}: {}", stdout(&o));
        let o = run(
            who,
            d.path(),
            &["run", "--tmp-size", "8m", "--", "/usr/bin/python3", "-c", fill.trim_start()],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let lines: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 3, "{who:?}: {}", stdout(&o));
        for line in &lines {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(&f[1..3], ["size=8192k", "ENOSPC"], "{who:?}: {line}");
            let written: u64 = f[3].parse().expect("bytes written");
            assert!(written <= 8 << 20, "{who:?}: {line}");
        }
        // Nothing of it on the host.
        assert!(
            !std::path::Path::new("/tmp/fill").exists() && !std::path::Path::new("/var/tmp/fill").exists()
        );
        // A size tmpfs would misread is refused, naming it.
        let o = run(who, d.path(), &["run", "--tmp-size", "0", "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "{who:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("`0`: zero would mean no limit"), "{}", stderr(&o));
    }
}

/// The command's writes outside the tmp directories land in upper layers
/// on the sandbox's staging tmpfs, which `--tmp-size` limits too: filling
/// the working directory's copy-on-write view gets ENOSPC, not the host's
/// memory, and nothing reaches the host.
#[test]
fn a_full_copy_on_write_layer_gets_enospc_in_the_sandbox() {
    let fill = r#"
import errno
n, block = 0, b"x" * 65536
try:
    with open("fill", "wb") as f:
        while n < 64 << 20:
            n += f.write(block)
            f.flush()
    print("no-error", n)
except OSError as e:
    print(errno.errorcode[e.errno], n)
"#;
    for who in BOTH {
        let d = scratch(who);
        let o = run(
            who,
            d.path(),
            &["run", "--tmp-size", "8m", "--", "/usr/bin/python3", "-c", fill.trim_start()],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let out = stdout(&o);
        let f: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(f.first(), Some(&"ENOSPC"), "{who:?}: {out}");
        let written: u64 = f[1].parse().expect("bytes written");
        assert!(written <= 8 << 20, "{who:?}: {out}");
        assert!(!d.path().join("fill").exists(), "{who:?}: the file reached the host");
    }
}

#[test]
fn bad_options_are_usage_errors_that_name_the_value() {
    let d = scratch(Who::Root);
    let o = run(Who::Root, d.path(), &["run", "--share", "dns", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("`dns`"), "{}", stderr(&o));
    let o = run(Who::Root, d.path(), &["run", "--timeout", "5x", "--", "true"]);
    assert!(stderr(&o).contains("5x"), "{}", stderr(&o));
    let o = run(Who::Root, d.path(), &["run"]);
    assert_eq!(o.status.code(), Some(2), "missing command is a usage error");
}

#[test]
fn share_fs_lets_writes_through_and_share_net_sees_host_loopback() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = host.local_addr().expect("addr").port();
    for who in BOTH {
        let d = scratch(who);
        let o = run(who, d.path(), &["run", "--share", "fs,net", "--", "sh", "-c", "echo x > shared.txt"]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert!(d.path().join("shared.txt").exists(), "{who:?}: --share fs writes reach the host");
        let py = format!("import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)");
        let o = run(who, d.path(), &["run", "--share", "net", "--", "python3", "-c", &py]);
        assert!(o.status.success(), "{who:?}: --share net reaches host loopback: {}", stderr(&o));
    }
}

#[test]
fn pids_and_bash_random_still_vary_under_a_frozen_clock() {
    // A fresh PID namespace would always give the command pid 2; with the
    // clock frozen, bash's $RANDOM (seeded from time and pid) would repeat.
    for who in BOTH {
        let d = scratch(who);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let o = run(
                who,
                d.path(),
                &["run", "--time", "2024-01-01T00:00:00Z", "--", "bash", "-c", "echo $$ $RANDOM"],
            );
            assert!(o.status.success(), "{who:?}: {}", stderr(&o));
            seen.insert(stdout(&o));
        }
        // Six draws of ~30000 pids: all equal only if they do not vary at all.
        assert!(seen.len() > 1, "{who:?}: every run saw the same pid and $RANDOM: {seen:?}");
    }
}

#[test]
fn interactive_shell_on_a_terminal_and_ctrl_c() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pty_session.py");
    let o = std::process::Command::new("python3")
        .arg(&script)
        .arg(flakebox())
        .output()
        .expect("run the pty driver");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("status-130-end"), "Ctrl-C killed the foreground job: {out}");
    // As root, in the sandbox's minimal /dev, the terminal is /dev/console.
    assert!(out.contains("/dev/console"), "the command has the terminal: {out}");
    assert!(out.contains("exit 7"), "the shell's exit status is flakebox's: {out}");
}

#[test]
fn no_descriptor_of_flakebox_reaches_the_command() {
    for who in BOTH {
        let d = scratch(who);
        let list = "for f in /proc/$$/fd/*; do echo ${f##*/}; done";
        let o = run(who, d.path(), &["run", "--", "sh", "-c", list]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        // The same descriptors as without flakebox: what the caller passed
        // down, and nothing of flakebox's own (pipes, the signalfd).
        let plain = std::process::Command::new("sh")
            .args(["-c", list])
            .current_dir(d.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh");
        assert_eq!(stdout(&o), stdout(&plain), "{who:?}: descriptors of the command");
    }
}

/// A start gate (diagnose's prepared runs): the command starts when a
/// byte arrives, its timeout counts from then, and EOF cancels the run.
#[test]
fn start_gate_releases_or_cancels_the_command() {
    use std::os::fd::AsRawFd;
    for who in BOTH {
        let d = scratch(who);
        let gated = |timeout: Option<Duration>, script: &str| {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
            let fd = r.as_raw_fd();
            let mut req = runs::RunRequest::new(vec!["sh".into(), "-c".into(), script.into()]);
            req.timeout = timeout;
            req.start_gate = Some(fd);
            let (mut cmd, req_fd) = request_command(who, d.path(), &req);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            inherit_fd(&mut cmd, fd);
            let child = cmd.spawn().expect("spawn");
            drop((r, req_fd));
            (child, std::fs::File::from(w))
        };

        // Held longer than the timeout before the release: the timeout
        // starts at the release, so the command still runs to completion.
        let (child, mut gate) = gated(Some(Duration::from_secs(1)), "echo started");
        std::thread::sleep(Duration::from_millis(1500));
        std::io::Write::write_all(&mut gate, b"g").expect("release");
        drop(gate);
        let o = child.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(0), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "started\n");

        let (child, gate) = gated(None, "echo should-not-run");
        drop(gate);
        let o = child.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(125), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{who:?}: the command never started");
        assert!(stderr(&o).contains("cancelled before the command started"), "{}", stderr(&o));
    }
    let mut req = runs::RunRequest::new(vec!["true".into()]);
    req.start_gate = Some(999);
    let (mut cmd, req_fd) = request_command(Who::Root, std::path::Path::new("/"), &req);
    let o = cmd.output().expect("spawn");
    drop(req_fd);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("start gate 999: not an open file descriptor"), "{}", stderr(&o));
}

/// Under persistent state (diagnose's conditions that share fs), the
/// command's writes persist from run to run, but flakebox's private
/// directory (the shim, the trace, a database) is fresh every time.
#[test]
fn persistent_state_keeps_writes_but_not_the_private_directory() {
    for who in BOTH {
        let d = scratch(who);
        // Two trees, as diagnose uses: an overlay's upper layer may not lie
        // in its own lower layer (/tmp's cannot be under /tmp).
        let var =
            tempfile::Builder::new().prefix("flakebox-test-state-").tempdir_in("/var/tmp").expect("var");
        std::fs::set_permissions(var.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let (a, b) = (d.path().join("state-a"), var.path().join("state-b"));
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).expect("state dir");
            if who == Who::Nobody {
                std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown");
            }
        }
        let script = "ls /.flakebox/marker 2>/dev/null; cat /tmp/kept 2>/dev/null; \
                      touch /.flakebox/marker; echo kept > /tmp/kept";
        let run_once = || {
            let mut req = runs::RunRequest::new(vec!["sh".into(), "-c".into(), script.into()]);
            req.isolate = req.isolate.without(factors::Factor::Fs);
            req.state_dirs = Some([a.clone(), b.clone()]);
            let (mut cmd, req_fd) = request_command(who, d.path(), &req);
            let o = cmd.output().expect("spawn");
            drop(req_fd);
            o
        };
        let first = run_once();
        assert!(first.status.success(), "{who:?}: {}", stderr(&first));
        assert_eq!(stdout(&first), "", "{who:?}: the first run starts clean");
        let second = run_once();
        assert!(second.status.success(), "{who:?}: {}", stderr(&second));
        assert_eq!(stdout(&second), "kept\n", "{who:?}: /tmp persisted, the private directory did not");
        remove_tree(&a);
        remove_tree(&b);
    }
}

/// A done signal (diagnose starts its next run then): one byte once the
/// command has exited and what it left running is dead, before the run ends.
#[test]
fn done_fd_speaks_once_the_command_and_its_leftovers_are_gone() {
    use std::io::Read as _;
    use std::os::fd::AsRawFd;
    for who in BOTH {
        let d = scratch(who);
        let marker = format!("4242.{}", unique_number());
        let (done_r, done_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let fd = done_w.as_raw_fd();
        // The shell exits only once its background child is `sleep` itself.
        let script =
            format!("sleep {marker} & while [ \"$(cat /proc/$!/comm)\" != sleep ]; do :; done; echo started");
        let mut req = runs::RunRequest::new(vec!["sh".into(), "-c".into(), script.into()]);
        req.done_fd = Some(fd);
        let (mut cmd, req_fd) = request_command(who, d.path(), &req);
        cmd.stdout(std::process::Stdio::piped());
        inherit_fd(&mut cmd, fd);
        let child = cmd.spawn().expect("spawn");
        drop((done_w, req_fd));
        let mut done = std::fs::File::from(done_r);
        let mut byte = [0u8; 1];
        assert_eq!(done.read(&mut byte).expect("read done"), 1, "{who:?}: one byte before EOF");
        // Zombies have an empty cmdline: only a live leftover would match
        // (exactly `sleep MARKER`: flakebox's own command line names it too).
        let wanted = format!("sleep\0{marker}\0");
        let alive = std::fs::read_dir("/proc").expect("proc").filter_map(Result::ok).any(|e| {
            std::fs::read(e.path().join("cmdline")).map(|c| c == wanted.as_bytes()).unwrap_or(false)
        });
        assert!(!alive, "{who:?}: the leftover sleep is dead when done speaks");
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "{who:?}");
        assert_eq!(stdout(&o), "started\n");
        assert_eq!(done.read(&mut byte).expect("read EOF"), 0, "{who:?}: then EOF");
    }
}
