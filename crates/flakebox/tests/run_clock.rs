//! End-to-end tests of the frozen wall clock through the real binary:
//! `flakebox run --time SPEC -- PROGRAM`, as root and as nobody.
//!
//! Every program prints `key value...` lines. Each runs at three clocks:
//! frozen at a past instant, ticking from it, and frozen at a future instant.
//! The future one is what makes the deadline checks bite: a "now + 300 ms"
//! deadline left in fake time would lie 75 years ahead and the wait would
//! hang (caught by `--timeout`, exit 124); in the past it would just return.
//! No assertion depends on how long anything took.

mod common;

use common::*;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use clock::{Anchor, TimeSpec, UnixTime};

/// A leap day, a quarter second before its end (exact in a double, in ms, in us).
const PAST: &str = "2024-02-29T23:59:58.25Z";
const FUTURE: &str = "2099-12-31T23:59:58.25Z";
/// Ticking readings must lie in [instant, instant + this).
const TICK_BOUND_NS: i128 = 60 * 1_000_000_000;
const NS: i128 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Frozen(i128),
    Ticking(i128),
}

/// The three clocks each program runs under: (`--time` spec, what it must read).
fn modes() -> [(String, Mode); 3] {
    [
        (PAST.to_string(), Mode::Frozen(rfc3339_ns(PAST))),
        (format!("{PAST}~tick"), Mode::Ticking(rfc3339_ns(PAST))),
        (FUTURE.to_string(), Mode::Frozen(rfc3339_ns(FUTURE))),
    ]
}

fn ns(t: UnixTime) -> i128 {
    i128::from(t.sec) * NS + i128::from(t.nsec)
}

/// An RFC 3339 timestamp (as programs print them) in ns, by the crate's parser.
fn rfc3339_ns(s: &str) -> i128 {
    match s.parse::<TimeSpec>() {
        Ok(TimeSpec::Frozen(Anchor::At(t))) => ns(t),
        other => panic!("not an RFC 3339 instant: {s:?}: {other:?}"),
    }
}

/// "SEC[.FRACTION]" in ns.
fn decimal_ns(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int: i128 = int.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"));
    let mut f = frac.to_string();
    f.truncate(9);
    while f.len() < 9 {
        f.push('0');
    }
    int * NS + f.parse::<i128>().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

fn check_ns(what: &str, got: i128, mode: Mode) {
    match mode {
        Mode::Frozen(at) => assert_eq!(got, at, "{what}: the frozen clock read {got}, expected {at}"),
        Mode::Ticking(from) => assert!(
            (from..from + TICK_BOUND_NS).contains(&got),
            "{what}: the ticking clock read {got}, expected {from}..{}",
            from + TICK_BOUND_NS
        ),
    }
}

/// Whole seconds (`time()`, `date +%s`): the instant truncated.
fn check_secs(what: &str, got: &str, mode: Mode) {
    let got: i128 = got.parse().unwrap_or_else(|_| panic!("{what}: not whole seconds: {got:?}"));
    match mode {
        Mode::Frozen(at) => assert_eq!(got, at.div_euclid(NS), "{what}: frozen clock"),
        Mode::Ticking(from) => {
            let lo = from.div_euclid(NS);
            assert!((lo..lo + TICK_BOUND_NS / NS).contains(&got), "{what}: ticking clock read {got} s");
        }
    }
}

/// `key value...` lines.
fn fields(out: &str) -> HashMap<String, Vec<String>> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.map(str::to_string).collect()))
        })
        .collect()
}

fn field<'a>(f: &'a HashMap<String, Vec<String>>, key: &str) -> &'a str {
    f.get(key).and_then(|v| v.first()).unwrap_or_else(|| panic!("no {key:?} line in {f:?}"))
}

/// A wait that must have returned by timing out: `name 1 elapsed_ms`.
fn check_returned(f: &HashMap<String, Vec<String>>, name: &str) {
    let v = f.get(name).unwrap_or_else(|| panic!("no {name:?} line: the wait never returned? {f:?}"));
    assert_eq!(v.first().map(String::as_str), Some("1"), "{name}: did not end by timing out: {v:?}");
}

/// `flakebox run --timeout 60s --time SPEC -- CMD` as `who` in `dir`, TZ=UTC.
/// Fails on a hang (124) or any other non-zero exit.
fn clocked(who: Who, dir: &Path, spec: &str, cmd: &[&str]) -> Output {
    let mut args = vec!["run", "--timeout", "60s", "--time", spec, "--"];
    args.extend_from_slice(cmd);
    let o = command(who, dir, &args).env("TZ", "UTC").output().expect("spawn flakebox");
    eprintln!("{who:?} --time {spec} {cmd:?}\n--- stdout\n{}--- stderr\n{}", stdout(&o), stderr(&o));
    assert_ne!(o.status.code(), Some(124), "{who:?} --time {spec} {cmd:?}: hung until --timeout");
    assert!(o.status.success(), "{who:?} --time {spec} {cmd:?}: {:?}\n{}", o.status, stderr(&o));
    o
}

/// The test needs `tool` (a language runtime or compiler): fail, naming it,
/// rather than pass without testing anything. `.ci/run` installs them.
fn require(tool: &str) {
    let cwd = std::env::current_dir().expect("cwd");
    let found = hostfs::find_executable(tool.as_ref(), std::env::var_os("PATH").as_deref(), &cwd).is_some();
    assert!(found, "this test needs `{tool}`, which is not installed (.ci/run installs it)");
}

/// Where programs are compiled, once per test process: the build's own
/// scratch space, so nothing is left in /tmp (tests run them from a copy in
/// their scratch directory, which `nobody` can read).
fn build_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run_clock-progs");
        std::fs::create_dir_all(&d).expect("build dir");
        d
    })
}

fn compile(name: &str, tool: &str, args: &[&str], src_ext: &str, src: &str) -> PathBuf {
    let dir = build_dir();
    // Built under this process's own names and renamed into place: another
    // process of this test binary may build the same program at once.
    let pid = std::process::id();
    let source = dir.join(format!("{name}-{pid}.{src_ext}"));
    std::fs::write(&source, src).expect("write source");
    let built = dir.join(format!("{name}-{pid}"));
    let o = Command::new(tool).args(args).arg("-o").arg(&built).arg(&source).output().expect("run compiler");
    let _ = std::fs::remove_file(&source);
    assert!(o.status.success(), "{tool} {name}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::set_permissions(&built, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = dir.join(name);
    std::fs::rename(&built, &out).expect("move the program into place");
    out
}

/// Copies a compiled program into the scratch directory (the host's /tmp is
/// hidden in the sandbox; the working directory is not) and returns `./NAME`.
fn place(dir: &Path, prog: &Path) -> String {
    let name = prog.file_name().expect("file name").to_str().expect("utf-8");
    let to = dir.join(name);
    std::fs::copy(prog, &to).expect("copy program");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("./{name}")
}

/// Writes a script into the scratch directory, readable by all.
fn write(dir: &Path, name: &str, text: &str, mode: u32) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    format!("./{name}")
}

const C_CLOCKS: &str = r#"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static double mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
    struct timespec ts;
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("realtime %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
    gettimeofday(&tv, NULL);
    printf("gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    printf("time %lld\n", (long long)time(NULL));
    fflush(stdout);

    /* A CLOCK_REALTIME "now + 300 ms" deadline on a default condvar. */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 300000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_nsec -= 1000000000L; ts.tv_sec++; }
    double t0 = mono_ms();
    int rc;
    do rc = pthread_cond_timedwait(&c, &m, &ts); while (rc == 0); /* spurious wake-ups */
    printf("cond_timedwait %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);
    return 0;
}
"#;

const C_STATIC: &str = "#include <stdio.h>\n#include <time.h>\n\
int main(void) { printf(\"static %lld\\n\", (long long)time(NULL)); return 0; }\n";

const RUST_CLOCKS: &str = r#"
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
fn main() {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    println!("now {}.{:09}", d.as_secs(), d.subsec_nanos());
    let (_tx, rx) = mpsc::channel::<()>();
    let t = Instant::now();
    let r = rx.recv_timeout(Duration::from_millis(300));
    println!("recv_timeout {} {}", (r == Err(mpsc::RecvTimeoutError::Timeout)) as i32, t.elapsed().as_millis());
}
"#;

fn c_clocks() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| compile("clocks", "gcc", &["-O1", "-Wall", "-pthread"], "c", C_CLOCKS))
}

fn c_static() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| compile("static-time", "gcc", &["-O1", "-static"], "c", C_STATIC))
}

fn rust_clocks() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        compile("clocks-rs", "rustc", &["--edition", "2021", "-C", "strip=symbols"], "rs", RUST_CLOCKS)
    })
}

#[test]
fn c_program_sees_the_instant_and_its_realtime_deadline_returns() {
    require("gcc");
    let prog = c_clocks();
    for who in BOTH {
        let d = scratch(who);
        let p = place(d.path(), prog);
        for (spec, mode) in modes() {
            let f = fields(&stdout(&clocked(who, d.path(), &spec, &[&p])));
            check_ns("clock_gettime(CLOCK_REALTIME)", decimal_ns(field(&f, "realtime")), mode);
            check_ns("gettimeofday", decimal_ns(field(&f, "gettimeofday")), mode);
            check_secs("time", field(&f, "time"), mode);
            check_returned(&f, "cond_timedwait");
        }
    }
}

#[test]
fn date_and_env_scrubbed_children_see_the_instant() {
    for who in BOTH {
        let d = scratch(who);
        for (spec, mode) in modes() {
            let o = clocked(who, d.path(), &spec, &["date", "+%s.%N"]);
            check_ns("date +%s.%N", decimal_ns(stdout(&o).trim()), mode);
            // env -i drops LD_PRELOAD and FLAKEBOX_*; the shim restores them at exec.
            let o = clocked(who, d.path(), &spec, &["sh", "-c", "env -i /bin/date +%s"]);
            check_secs("env -i /bin/date +%s", stdout(&o).trim(), mode);
        }
    }
}

#[test]
fn python_clocks_sleep_and_event_wait() {
    require("python3");
    let script = r#"
import datetime, threading, time
print("time", repr(time.time()))
print("now", datetime.datetime.now(datetime.timezone.utc).isoformat())
print("today", datetime.date.today().isoformat())
t = time.monotonic(); time.sleep(0.3); print("sleep", 1, (time.monotonic() - t) * 1000)
t = time.monotonic(); r = threading.Event().wait(0.3); print("event_wait", int(r is False), (time.monotonic() - t) * 1000)
"#;
    for who in BOTH {
        let d = scratch(who);
        let s = write(d.path(), "clocks.py", script, 0o644);
        for (spec, mode) in modes() {
            let f = fields(&stdout(&clocked(who, d.path(), &spec, &["python3", &s])));
            // .25 s is exact in a double, but the double has ~0.2 us resolution.
            let t = decimal_ns(field(&f, "time"));
            match mode {
                Mode::Frozen(at) => assert!((t - at).abs() <= 1_000, "time.time() read {t}, expected {at}"),
                Mode::Ticking(_) => check_ns("time.time()", t, mode),
            }
            check_ns("datetime.now(timezone.utc)", rfc3339_ns(field(&f, "now")), mode);
            let today = field(&f, "today");
            match (mode, spec.as_str()) {
                (Mode::Frozen(_), PAST) => assert_eq!(today, "2024-02-29", "date.today()"),
                (Mode::Frozen(_), _) => assert_eq!(today, "2099-12-31", "date.today()"),
                // Ticking from 0.25 s before midnight: the day may have turned.
                (Mode::Ticking(_), _) => {
                    assert!(["2024-02-29", "2024-03-01"].contains(&today), "date.today() {today}")
                }
            }
            check_returned(&f, "sleep");
            check_returned(&f, "event_wait");
        }
    }
}

#[test]
fn node_date_now_and_set_timeout() {
    require("node");
    let script = r#"
console.log("now", Date.now() / 1000);
console.log("iso", new Date().toISOString());
const t = process.hrtime.bigint();
setTimeout(() => console.log("set_timeout", 1, Number(process.hrtime.bigint() - t) / 1e6), 300);
"#;
    for who in BOTH {
        let d = scratch(who);
        let s = write(d.path(), "clocks.js", script, 0o644);
        for (spec, mode) in modes() {
            let f = fields(&stdout(&clocked(who, d.path(), &spec, &["node", &s])));
            check_ns("Date.now()", decimal_ns(field(&f, "now")), mode);
            check_ns("new Date()", rfc3339_ns(field(&f, "iso")), mode);
            check_returned(&f, "set_timeout");
        }
    }
}

#[test]
fn java_current_time_millis_instant_now_sleep_and_wait() {
    require("java");
    let src = r#"
public class Main {
    public static void main(String[] a) throws Exception {
        long ms = System.currentTimeMillis();
        System.out.println("millis " + ms / 1000 + "." + String.format("%03d", ms % 1000));
        System.out.println("instant " + java.time.Instant.now());
        long t = System.nanoTime();
        Thread.sleep(300);
        System.out.println("thread_sleep 1 " + (System.nanoTime() - t) / 1000000);
        Object o = new Object();
        t = System.nanoTime();
        synchronized (o) { o.wait(300); }
        System.out.println("object_wait 1 " + (System.nanoTime() - t) / 1000000);
    }
}
"#;
    for who in BOTH {
        let d = scratch(who);
        let s = write(d.path(), "Main.java", src, 0o644);
        // The JVM is slow to start: ticking as root only.
        let runs: Vec<(String, Mode)> =
            modes().into_iter().filter(|(_, m)| who == Who::Root || matches!(m, Mode::Frozen(_))).collect();
        for (spec, mode) in runs {
            let o = clocked(who, d.path(), &spec, &["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", &s]);
            let f = fields(&stdout(&o));
            check_ns("System.currentTimeMillis()", decimal_ns(field(&f, "millis")), mode);
            check_ns("Instant.now()", rfc3339_ns(field(&f, "instant")), mode);
            check_returned(&f, "thread_sleep");
            check_returned(&f, "object_wait");
        }
    }
}

#[test]
fn rust_system_time_and_recv_timeout() {
    require("rustc");
    let prog = rust_clocks();
    for who in BOTH {
        let d = scratch(who);
        let p = place(d.path(), prog);
        for (spec, mode) in modes() {
            let f = fields(&stdout(&clocked(who, d.path(), &spec, &[&p])));
            check_ns("SystemTime::now()", decimal_ns(field(&f, "now")), mode);
            check_returned(&f, "recv_timeout");
        }
    }
}

const NOT_FROZEN: &str = "its clock is NOT frozen";
const IS_FROZEN: &str = "its clock IS frozen";

#[test]
fn static_binaries_are_frozen_directly_and_through_a_script() {
    require("gcc");
    let stat = c_static();
    let dynamic = c_clocks();
    let past_secs = rfc3339_ns(PAST).div_euclid(NS).to_string();
    for who in BOTH {
        let d = scratch(who);
        let p = place(d.path(), stat);
        let script = write(d.path(), "wrap.sh", "#!/bin/sh\n./static-time\n", 0o755);
        let report = d.path().join("report.json");
        let report_arg = report.to_str().expect("utf-8").to_string();

        // Run directly: flakebox inspects the ELF before exec and says what it does.
        let o = run(
            who,
            d.path(),
            &["run", "--timeout", "60s", "--report", &report_arg, "--time", PAST, "--", &p],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("static-time") && err.contains("statically linked") && err.contains(IS_FROZEN),
            "{who:?}: no note naming the static binary: {err}"
        );
        assert!(!err.contains(NOT_FROZEN), "{who:?}: {err}");
        // The clockwatch supervisor answered its time(2).
        assert_eq!(field(&fields(&stdout(&o)), "static"), past_secs, "{who:?}");
        let rep = read_json(&report);
        let warnings = rep["warnings"].as_array().expect("warnings array");
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("static-time") && w.contains(IS_FROZEN))),
            "{who:?}: the report does not say so: {rep}"
        );

        // Exec'd by a script inside the sandbox: frozen too, and the shim no longer warns.
        for cmd in [vec![script.as_str()], vec!["sh", "-c", "./static-time; true"]] {
            let mut args = vec!["run", "--timeout", "60s", "--time", PAST, "--"];
            args.extend(&cmd);
            let o = run(who, d.path(), &args);
            assert!(o.status.success(), "{who:?} {cmd:?}: {}", stderr(&o));
            assert!(!stderr(&o).contains(NOT_FROZEN), "{who:?} {cmd:?}: a false warning: {}", stderr(&o));
            assert_eq!(field(&fields(&stdout(&o)), "static"), past_secs, "{who:?} {cmd:?}");
        }

        // A dynamically linked program gets no note: the shim reaches it.
        let p = place(d.path(), dynamic);
        let o = clocked(who, d.path(), PAST, &[&p]);
        assert!(
            !stderr(&o).contains(NOT_FROZEN) && !stderr(&o).contains(IS_FROZEN),
            "{who:?}: {}",
            stderr(&o)
        );
    }
}

/// `flakebox: clock MODE at INSTANT (replay with --time SPEC)` from -v.
fn verbose_clock_line(err: &str) -> (String, String) {
    let line = err
        .lines()
        .find(|l| l.starts_with("flakebox: clock "))
        .unwrap_or_else(|| panic!("-v printed no clock line: {err}"));
    let rest = line.split_once(" at ").unwrap_or_else(|| panic!("{line}")).1;
    let (instant, replay) = rest.split_once(" (replay with --time ").unwrap_or_else(|| panic!("{line}"));
    (instant.to_string(), replay.trim_end_matches(')').to_string())
}

#[test]
fn verbose_and_report_give_the_instant_and_a_replay_that_reproduces_it() {
    for who in BOTH {
        let d = scratch(who);
        let report = d.path().join("report.json");
        let report_arg = report.to_str().expect("utf-8").to_string();

        // The default clock: frozen at the start of the run.
        let before = ns(UnixTime::from_system_time(SystemTime::now()));
        let o = run(who, d.path(), &["run", "-v", "--report", &report_arg, "--", "date", "+%s.%N"]);
        let after = ns(UnixTime::from_system_time(SystemTime::now()));
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let seen = decimal_ns(stdout(&o).trim());
        assert!((before..=after).contains(&seen), "{who:?}: the default clock read {seen}");
        let (instant, replay) = verbose_clock_line(&stderr(&o));
        assert_eq!(rfc3339_ns(&instant), seen, "{who:?}: -v names the instant the command saw");
        let rep = read_json(&report);
        assert_eq!(rep["time"]["instant"].as_str(), Some(instant.as_str()), "{who:?}: {rep}");
        assert_eq!(rep["time"]["replay"].as_str(), Some(replay.as_str()), "{who:?}: {rep}");
        assert_eq!(rep["time"]["mode"].as_str(), Some("frozen"), "{who:?}: {rep}");
        let again = clocked(who, d.path(), &replay, &["date", "+%s.%N"]);
        assert_eq!(decimal_ns(stdout(&again).trim()), seen, "{who:?}: --time {replay} replays the clock");

        // An offset ticks; its replay starts at the same instant and ticks too.
        let o = run(who, d.path(), &["run", "-v", "--report", &report_arg, "--time", "+3d", "--", "true"]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let (instant, replay) = verbose_clock_line(&stderr(&o));
        let rep = read_json(&report);
        assert_eq!(rep["time"]["mode"].as_str(), Some("ticking"), "{who:?}: {rep}");
        assert_eq!(rep["time"]["replay"].as_str(), Some(replay.as_str()), "{who:?}: {rep}");
        let start = rfc3339_ns(&instant);
        let three_days = 3 * 86_400 * NS;
        assert!(
            (before + three_days..=after + three_days + TICK_BOUND_NS).contains(&start),
            "{who:?}: +3d at {instant}"
        );
        let again = clocked(who, d.path(), &replay, &["date", "+%s.%N"]);
        check_ns("replayed +3d", decimal_ns(stdout(&again).trim()), Mode::Ticking(start));
    }
}

#[test]
fn share_time_leaves_the_real_clock() {
    for who in BOTH {
        let d = scratch(who);
        let report = d.path().join("report.json");
        let report_arg = report.to_str().expect("utf-8").to_string();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as i128;
        // Two reads with a pause between them: a frozen clock would repeat itself.
        let o = run(
            who,
            d.path(),
            &[
                "run",
                "--report",
                &report_arg,
                "--share",
                "time",
                "--",
                "sh",
                "-c",
                "date +%s.%N; sleep 0.05; date +%s.%N; env",
            ],
        );
        let after = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos() as i128;
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let out = stdout(&o);
        let reads: Vec<i128> = out.lines().take(2).map(decimal_ns).collect();
        for &r in &reads {
            assert!(
                (before - TICK_BOUND_NS..=after + TICK_BOUND_NS).contains(&r),
                "{who:?}: --share time read {r}, the host's clock was {before}..{after}"
            );
        }
        assert!(reads[1] > reads[0], "{who:?}: --share time: the clock stood still: {reads:?}");
        assert!(!out.contains("FLAKEBOX_TIME_"), "{who:?}: clock variables set under --share time: {out}");
        assert!(read_json(&report)["time"].is_null(), "{who:?}: the report claims a clock");
    }
}

#[test]
fn bad_time_specs_are_refused_naming_the_bad_part() {
    let bad = [
        ("2024-02-30T00:00:00Z", "\"30\""),
        ("2024-13-01T00:00:00Z", "\"13\""),
        ("2024-02-29T23:59:58", "missing time zone"),
        ("bogus~tick", "\"bogus\""),
        ("@5~wobble", "\"~wobble\""),
        ("+3x", "unknown unit \"x\""),
        ("now~step=0ms", "\"~step=0ms\""),
        ("2024-02-29T23:59:60Z", "leap second"),
    ];
    for who in BOTH {
        let d = scratch(who);
        for (spec, part) in bad {
            let o = run(who, d.path(), &["run", "--time", spec, "--", "sh", "-c", "echo ran"]);
            assert_eq!(o.status.code(), Some(125), "{who:?} --time {spec}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains(part), "{who:?} --time {spec}: the message does not name {part}: {err}");
            assert!(err.contains("2024-02-29T23:59:58Z"), "{who:?} --time {spec}: no example given: {err}");
            assert!(!stdout(&o).contains("ran"), "{who:?} --time {spec}: the command ran anyway");
        }
        // --time and --share time contradict each other.
        let o = run(who, d.path(), &["run", "--share", "time", "--time", PAST, "--", "sh", "-c", "echo ran"]);
        assert_eq!(o.status.code(), Some(125), "{who:?}: {}", stderr(&o));
        assert!(!stdout(&o).contains("ran"));
    }
}

/// `--help` documents `-90m`: after `--time` it is the value, not an option.
#[test]
fn negative_offsets_are_accepted_as_separate_arguments() {
    let d = scratch(Who::Root);
    let before = ns(UnixTime::from_system_time(SystemTime::now()));
    let o = clocked(Who::Root, d.path(), "-90m", &["date", "+%s.%N"]);
    let after = ns(UnixTime::from_system_time(SystemTime::now()));
    let got = decimal_ns(stdout(&o).trim());
    let ninety = 90 * 60 * NS;
    assert!((before - ninety..=after - ninety + TICK_BOUND_NS).contains(&got), "-90m read {got}");
}
