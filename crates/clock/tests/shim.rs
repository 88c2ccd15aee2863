//! Runs real programs under the installed shim (LD_PRELOAD plus the FLAKEBOX_*
//! variables, no sandbox) and checks what they see.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use flakebox_clock::trace::{Access, ConnectTarget, Outcome, TraceEvent};
use flakebox_clock::{Anchor, TimeSpec, UnixTime};

mod common;
use common::{ok_stdout, require, setup, Env};

/// 2024-02-29T23:59:58.250Z: a leap day, a quarter second before the end of it.
const FROZEN: &str = "2024-02-29T23:59:58.25Z";
const INSTANT_NS: i128 = 1_709_251_198_250_000_000;
/// Slack for coarse clocks and truncation to milliseconds.
const SLACK_NS: i128 = 20_000_000;

/// `key value...` lines.
fn fields(stdout: &str) -> HashMap<String, Vec<String>> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.map(str::to_string).collect()))
        })
        .collect()
}

/// "SEC[.FRACTION]" as nanoseconds.
fn decimal_ns(s: &str) -> i128 {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int: i128 = int.parse().unwrap_or_else(|_| panic!("not a number: {s}"));
    let mut f = frac.to_string();
    f.truncate(9);
    while f.len() < 9 {
        f.push('0');
    }
    int * 1_000_000_000 + f.parse::<i128>().unwrap_or_else(|_| panic!("not a number: {s}"))
}

/// An RFC 3339 timestamp as nanoseconds, by the crate's own parser.
fn rfc3339_ns(s: &str) -> i128 {
    match s.parse::<TimeSpec>() {
        Ok(TimeSpec::Frozen(Anchor::At(UnixTime { sec, nsec }))) => {
            i128::from(sec) * 1_000_000_000 + i128::from(nsec)
        }
        other => panic!("{s}: {other:?}"),
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Frozen,
    /// Ticking, with the real time that elapsed over the whole run.
    Ticking(Duration),
}

fn check_time(what: &str, got_ns: i128, mode: Mode) {
    match mode {
        Mode::Frozen => assert_eq!(got_ns, INSTANT_NS, "{what}: frozen clock read {got_ns}"),
        Mode::Ticking(elapsed) => {
            let hi = INSTANT_NS + elapsed.as_nanos() as i128 + SLACK_NS;
            assert!(
                (INSTANT_NS - SLACK_NS..=hi).contains(&got_ns),
                "{what}: ticking clock read {got_ns}, expected {INSTANT_NS}..={hi}"
            );
        }
    }
}

/// Whole seconds, as `time()` or `date +%s` print them.
fn check_seconds(what: &str, secs: &str, mode: Mode) {
    let t = decimal_ns(secs);
    match mode {
        Mode::Frozen => assert_eq!(t, INSTANT_NS / 1_000_000_000 * 1_000_000_000, "{what}"),
        // Truncated to the second: the true reading was in [t, t + 1 s).
        Mode::Ticking(elapsed) => {
            let hi = INSTANT_NS + elapsed.as_nanos() as i128 + SLACK_NS;
            assert!(
                t <= hi && t + 999_999_999 >= INSTANT_NS - SLACK_NS,
                "{what}: ticking clock read {secs} s, expected {INSTANT_NS}..={hi} ns"
            );
        }
    }
}

/// `name ok elapsed_ms`: the wait ended by timing out, after about 300 ms of real
/// time. A deadline left in fake time would end at once (frozen in the past).
fn check_deadline(f: &HashMap<String, Vec<String>>, name: &str) {
    let v = f.get(name).unwrap_or_else(|| panic!("no {name} line"));
    assert_eq!(v[0], "1", "{name}: did not time out as expected: {v:?}");
    let ms: f64 = v[1].parse().expect("elapsed ms");
    assert!((250.0..5000.0).contains(&ms), "{name}: waited {ms} ms, expected about 300");
}

/// Runs the program in frozen and in ticking mode and checks both.
fn frozen_and_ticking(
    env: &Env,
    mut make: impl FnMut() -> Command,
    check: impl Fn(&HashMap<String, Vec<String>>, Mode),
) {
    let spec: TimeSpec = FROZEN.parse().expect("spec");
    let clock = spec.resolve(SystemTime::now());
    let out = env.run(Some(&clock), &[], &mut make());
    check(&fields(&ok_stdout(&out)), Mode::Frozen);

    let spec: TimeSpec = format!("{FROZEN}~tick").parse().expect("spec");
    let start = SystemTime::now();
    let clock = spec.resolve(start);
    let out = env.run(Some(&clock), &[], &mut make());
    let elapsed = start.elapsed().expect("clock went back");
    check(&fields(&ok_stdout(&out)), Mode::Ticking(elapsed));
}

const C_CLOCKS: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static struct timespec in300(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    t.tv_nsec += 300000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_nsec -= 1000000000L; t.tv_sec++; }
    return t;
}
static void *forever(void *arg) {
    pause();
    return arg;
}
#define PTS(name, ts) printf(name " %lld.%09ld\n", (long long)(ts).tv_sec, (long)(ts).tv_nsec)

int main(void) {
    struct timespec ts;
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &ts); PTS("realtime", ts);
    clock_gettime(CLOCK_REALTIME_COARSE, &ts); PTS("coarse", ts);
    gettimeofday(&tv, NULL); printf("gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    printf("time %lld\n", (long long)time(NULL));
    timespec_get(&ts, TIME_UTC); PTS("timespec_get", ts);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts); PTS("sys_clock_gettime", ts);
    syscall(SYS_gettimeofday, &tv, NULL); printf("sys_gettimeofday %lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    clock_gettime(CLOCK_MONOTONIC, &ts); PTS("monotonic", ts);
    clock_gettime(CLOCK_BOOTTIME, &ts); PTS("boottime", ts);
    fflush(stdout);

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_lock(&m);
    ts = in300(CLOCK_REALTIME);
    double t0 = mono_ms();
    int rc = pthread_cond_timedwait(&c, &m, &ts);
    printf("cond_realtime %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_t cm;
    pthread_cond_init(&cm, &ca);
    ts = in300(CLOCK_MONOTONIC);
    t0 = mono_ms();
    rc = pthread_cond_timedwait(&cm, &m, &ts);
    printf("cond_monotonic %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);

    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = pthread_cond_clockwait(&c, &m, CLOCK_REALTIME, &ts);
    printf("cond_clockwait %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);

    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = pthread_mutex_timedlock(&m, &ts); /* already ours: waits out the deadline */
    printf("mutex_timedlock %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);
    pthread_mutex_unlock(&m);

    sem_t s;
    sem_init(&s, 0, 0);
    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = sem_timedwait(&s, &ts);
    printf("sem_timedwait %d %.0f\n", rc == -1 && errno == ETIMEDOUT, mono_ms() - t0);

    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
    printf("clock_nanosleep %d %.0f\n", rc == 0, mono_ms() - t0);

    int fd = timerfd_create(CLOCK_REALTIME, 0);
    struct itimerspec its = {{0, 0}, in300(CLOCK_REALTIME)};
    t0 = mono_ms();
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    printf("timerfd %d %.0f\n", r == 8 && n == 1, mono_ms() - t0);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    timer_t tid;
    timer_create(CLOCK_REALTIME, &sev, &tid);
    struct itimerspec tis = {{0, 0}, in300(CLOCK_REALTIME)};
    t0 = mono_ms();
    timer_settime(tid, TIMER_ABSTIME, &tis, NULL);
    struct timespec limit = {5, 0};
    int sig = sigtimedwait(&set, NULL, &limit);
    printf("timer_settime %d %.0f\n", sig == SIGRTMIN, mono_ms() - t0);

    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    pthread_rwlock_rdlock(&rw);
    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = pthread_rwlock_timedwrlock(&rw, &ts); /* we hold it shared: waits it out */
    printf("rwlock_timedwrlock %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);

    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = sem_clockwait(&s, CLOCK_REALTIME, &ts);
    printf("sem_clockwait %d %.0f\n", rc == -1 && errno == ETIMEDOUT, mono_ms() - t0);

    pthread_t th;
    pthread_create(&th, NULL, forever, NULL);
    ts = in300(CLOCK_REALTIME);
    t0 = mono_ms();
    rc = pthread_timedjoin_np(th, NULL, &ts);
    printf("timedjoin %d %.0f\n", rc == ETIMEDOUT, mono_ms() - t0);

    struct mq_attr qa = {0, 1, 16, 0};
    char qname[64];
    snprintf(qname, sizeof qname, "/flakebox-test-%d", (int)getpid());
    mqd_t q = mq_open(qname, O_CREAT | O_RDWR, 0600, &qa);
    if (q == (mqd_t)-1) {
        printf("mq_unavailable\n");
    } else {
        mq_unlink(qname);
        char buf[16];
        ts = in300(CLOCK_REALTIME);
        t0 = mono_ms();
        ssize_t got = mq_timedreceive(q, buf, sizeof buf, NULL, &ts);
        printf("mq_timedreceive %d %.0f\n", got == -1 && errno == ETIMEDOUT, mono_ms() - t0);
    }
    return 0;
}
"#;

fn mono_now_ns() -> i128 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: t is a valid timespec to write into.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(r, 0);
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

#[test]
fn c_program_sees_the_instant_and_its_deadlines_return() {
    require("gcc");
    let env = setup();
    let prog = env.cc("clocks", C_CLOCKS, &[]);
    let mono_before = mono_now_ns();
    frozen_and_ticking(
        &env,
        || Command::new(&prog),
        |f, mode| {
            for k in [
                "realtime",
                "coarse",
                "gettimeofday",
                "timespec_get",
                "sys_clock_gettime",
                "sys_gettimeofday",
            ] {
                let v = f.get(k).unwrap_or_else(|| panic!("no {k}"));
                check_time(k, decimal_ns(&v[0]), mode);
            }
            check_seconds("time", &f["time"][0], mode);
            // MONOTONIC is the machine's: between our readings around the runs.
            let mono = decimal_ns(&f["monotonic"][0]);
            assert!(mono >= mono_before && mono <= mono_now_ns(), "CLOCK_MONOTONIC was faked: {mono}");
            assert!(decimal_ns(&f["boottime"][0]) >= mono, "CLOCK_BOOTTIME was faked");
            for d in [
                "cond_realtime",
                "cond_monotonic",
                "cond_clockwait",
                "mutex_timedlock",
                "sem_timedwait",
                "clock_nanosleep",
                "timerfd",
                "timer_settime",
                "rwlock_timedwrlock",
                "sem_clockwait",
                "timedjoin",
            ] {
                check_deadline(f, d);
            }
            if f.contains_key("mq_unavailable") {
                eprintln!("SKIPPED mq_timedreceive: POSIX message queues unavailable here");
            } else {
                check_deadline(f, "mq_timedreceive");
            }
        },
    );
}

#[test]
fn step_mode_advances_each_read() {
    require("gcc");
    let env = setup();
    let prog = env.cc("clocks", C_CLOCKS, &[]);
    let clock = format!("{FROZEN}~step=1ms").parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let out = env.run(Some(&clock), &[], &mut Command::new(&prog));
    let f = fields(&ok_stdout(&out));
    let ms = 1_000_000;
    assert_eq!(decimal_ns(&f["realtime"][0]), INSTANT_NS);
    assert_eq!(decimal_ns(&f["coarse"][0]), INSTANT_NS + ms);
    assert_eq!(decimal_ns(&f["gettimeofday"][0]), INSTANT_NS + 2 * ms);
    assert_eq!(decimal_ns(&f["time"][0]), 1_709_251_198_000_000_000);
    assert_eq!(decimal_ns(&f["timespec_get"][0]), INSTANT_NS + 4 * ms);
    assert_eq!(decimal_ns(&f["sys_clock_gettime"][0]), INSTANT_NS + 5 * ms);
    check_deadline(&f, "cond_realtime");
}

#[test]
fn without_time_variables_the_clock_is_untouched() {
    require("gcc");
    let env = setup();
    let prog = env.cc("clocks", C_CLOCKS, &[]);
    let before = UnixTime::from_system_time(SystemTime::now());
    let out = env.run(None, &[], &mut Command::new(&prog));
    let after = UnixTime::from_system_time(SystemTime::now());
    let f = fields(&ok_stdout(&out));
    let ns = |t: UnixTime| i128::from(t.sec) * 1_000_000_000 + i128::from(t.nsec);
    let got = decimal_ns(&f["realtime"][0]);
    assert!((ns(before)..=ns(after)).contains(&got), "pass-through clock read {got}");
    check_deadline(&f, "cond_realtime");
}

#[test]
fn date_and_env_scrubbed_children_are_frozen() {
    let env = setup();
    let clock = FROZEN.parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let out = env.run(Some(&clock), &[], Command::new("date").arg("+%s.%N"));
    assert_eq!(ok_stdout(&out).trim(), "1709251198.250000000");
    // env -i drops LD_PRELOAD and FLAKEBOX_*; the shim's execvp puts them back.
    let out = env.run(Some(&clock), &[], Command::new("env").args(["-i", "/bin/date", "+%s"]));
    assert_eq!(ok_stdout(&out).trim(), "1709251198");
    // A shell in between, and a scrubbed environment two levels down.
    let out = env.run(
        Some(&clock),
        &[],
        Command::new("/bin/sh").args(["-c", "env -i /bin/sh -c 'unset LD_PRELOAD; exec date +%s'"]),
    );
    assert_eq!(ok_stdout(&out).trim(), "1709251198");
}

#[test]
fn python_clocks_and_timeouts() {
    require("python3");
    let env = setup();
    let script = env.write(
        "clocks.py",
        r#"
import datetime, threading, time
print("time", repr(time.time()))
print("time_ns", time.time_ns())
print("now", datetime.datetime.now(datetime.timezone.utc).isoformat())
print("today", datetime.date.today().isoformat())
t = time.monotonic(); time.sleep(0.3); print("sleep", 1, (time.monotonic() - t) * 1000)
t = time.monotonic(); r = threading.Event().wait(0.3); print("event", int(r is False), (time.monotonic() - t) * 1000)
"#,
    );
    frozen_and_ticking(
        &env,
        || {
            let mut c = Command::new("python3");
            c.arg(&script);
            c
        },
        |f, mode| {
            // A double resolves about 0.2 us at this magnitude.
            let t = decimal_ns(&f["time"][0]);
            match mode {
                Mode::Frozen => assert!((t - INSTANT_NS).abs() <= 1_000, "time.time read {t}"),
                Mode::Ticking(_) => check_time("time.time", t, mode),
            }
            let ns: i128 = f["time_ns"][0].parse().expect("time_ns");
            check_time("time.time_ns", ns, mode);
            check_time("datetime.now", rfc3339_ns(&f["now"][0]), mode);
            if let Mode::Frozen = mode {
                assert_eq!(f["today"][0], "2024-02-29");
            }
            check_deadline(f, "sleep");
            check_deadline(f, "event");
        },
    );
}

#[test]
fn python_scrubbed_subprocess_and_posix_spawn_are_frozen() {
    require("python3");
    let env = setup();
    let script = env.write(
        "spawn.py",
        r#"
import os, subprocess
print("subprocess", subprocess.run(["/bin/date", "+%s"], env={}, capture_output=True, text=True).stdout.strip())
r, w = os.pipe()
pid = os.posix_spawn("/bin/date", ["date", "+%s"], {}, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
os.close(w); os.waitpid(pid, 0)
print("posix_spawn", os.read(r, 100).decode().strip())
"#,
    );
    let clock = FROZEN.parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let f = fields(&ok_stdout(&env.run(Some(&clock), &[], Command::new("python3").arg(&script))));
    assert_eq!(f["subprocess"], ["1709251198"]);
    assert_eq!(f["posix_spawn"], ["1709251198"]);
}

#[test]
fn node_clock_and_timeout() {
    require("node");
    let env = setup();
    let script = env.write(
        "clocks.js",
        r#"
console.log("now", Date.now() / 1000);
console.log("iso", new Date().toISOString());
const t = process.hrtime.bigint();
setTimeout(() => console.log("timeout", 1, Number(process.hrtime.bigint() - t) / 1e6), 300);
const { execFileSync } = require("child_process");
console.log("child", execFileSync("/bin/date", ["+%s"], { env: {} }).toString().trim());
"#,
    );
    frozen_and_ticking(
        &env,
        || {
            let mut c = Command::new("node");
            c.arg(&script);
            c
        },
        |f, mode| {
            check_time("Date.now", decimal_ns(&f["now"][0]), mode);
            check_time("new Date", rfc3339_ns(&f["iso"][0]), mode);
            check_deadline(f, "timeout");
            check_seconds("child with env {}", &f["child"][0], mode);
        },
    );
}

#[test]
fn java_clocks_sleep_and_wait() {
    require("java");
    let env = setup();
    let src = env.write(
        "Clocks.java",
        r#"
public class Clocks {
    public static void main(String[] a) throws Exception {
        long ms = System.currentTimeMillis();
        System.out.println("millis " + ms / 1000 + "." + String.format("%03d", ms % 1000));
        System.out.println("instant " + java.time.Instant.now());
        long t = System.nanoTime();
        Thread.sleep(300);
        System.out.println("sleep 1 " + (System.nanoTime() - t) / 1000000);
        Object o = new Object();
        t = System.nanoTime();
        synchronized (o) { o.wait(300); }
        System.out.println("wait 1 " + (System.nanoTime() - t) / 1000000);
        ProcessBuilder pb = new ProcessBuilder("/bin/date", "+%s");
        pb.environment().clear();
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        p.waitFor();
        System.out.println("child " + out);
    }
}
"#,
    );
    frozen_and_ticking(
        &env,
        || {
            let mut c = Command::new("java");
            // On the host: no /tmp/hsperfdata_$USER left behind.
            c.args(["-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"]).arg(&src);
            c
        },
        |f, mode| {
            check_time("currentTimeMillis", decimal_ns(&f["millis"][0]), mode);
            check_time("Instant.now", rfc3339_ns(&f["instant"][0]), mode);
            check_deadline(f, "sleep");
            check_deadline(f, "wait");
            check_seconds("ProcessBuilder child with a cleared environment", &f["child"][0], mode);
        },
    );
}

#[test]
fn rust_system_time_and_recv_timeout() {
    require("rustc");
    let env = setup();
    let src = env.write(
        "clocks.rs",
        r#"
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
fn main() {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    println!("now {}.{:09}", d.as_secs(), d.subsec_nanos());
    let (_tx, rx) = mpsc::channel::<()>();
    let t = Instant::now();
    let r = rx.recv_timeout(Duration::from_millis(300));
    println!("recv {} {}", (r == Err(mpsc::RecvTimeoutError::Timeout)) as i32, t.elapsed().as_millis());
}
"#,
    );
    let bin = env.path("clocks-rs");
    let o = Command::new("rustc")
        .args(["--edition", "2021", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("run rustc");
    assert!(o.status.success(), "rustc: {}", String::from_utf8_lossy(&o.stderr));
    frozen_and_ticking(
        &env,
        || Command::new(&bin),
        |f, mode| {
            check_time("SystemTime::now", decimal_ns(&f["now"][0]), mode);
            check_deadline(f, "recv");
        },
    );
}

const C_EXECER: &str = r#"
#include <stdio.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    execve(argv[1], argv + 1, environ);
    perror("execve");
    return 127;
}
"#;

#[test]
fn static_binaries_are_reported_not_faked() {
    require("gcc");
    let env = setup();
    let stat = env.cc(
        "static-time",
        "#include <stdio.h>\n#include <time.h>\nint main(void){printf(\"%lld\\n\",(long long)time(NULL));return 0;}\n",
        &["-static"],
    );
    let execer = env.cc("execer", C_EXECER, &[]);

    // What the CLI checks before exec.
    let reach = flakebox_clock::reach::inspect(&stat).expect("inspect");
    assert_eq!(reach, flakebox_clock::reach::Reach::Static);
    let warning = reach.warning(&stat).expect("a warning").to_string();
    assert!(warning.contains("statically linked") && warning.contains("its clock is NOT frozen"));
    assert_eq!(
        flakebox_clock::reach::inspect(&execer).expect("inspect"),
        flakebox_clock::reach::Reach::Dynamic
    );

    // What the shim says at an interposed execve.
    let trace = env.path("trace");
    let clock = FROZEN.parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let before = UnixTime::from_system_time(SystemTime::now()).sec;
    let out =
        env.run(Some(&clock), &[("FLAKEBOX_TRACE", trace.as_os_str())], Command::new(&execer).arg(&stat));
    let stdout = ok_stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expect = format!(
        "flakebox: warning: {}: statically linked (LD_PRELOAD does not apply); its clock is NOT frozen",
        stat.display()
    );
    assert!(stderr.contains(&expect), "stderr: {stderr}");
    // Honestly unfrozen: it printed the real time.
    let shown: i64 = stdout.trim().parse().expect("seconds");
    assert!(shown >= before, "static binary printed {shown}");
    let events = flakebox_clock::trace::parse(&std::fs::read_to_string(&trace).expect("trace"));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TraceEvent::Warn { message, .. } if message.contains("statically linked"))),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, TraceEvent::Exec { path, .. } if Path::new(path) == stat)));

    // Through a shell's exec, too. Without time faking, no warning.
    let out = env.run(
        Some(&clock),
        &[],
        Command::new("/bin/sh").arg("-c").arg(format!("{} ; true", stat.display())),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("statically linked"));
    let out = env.run(None, &[], Command::new(&execer).arg(&stat));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

const C_SPAWNER: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *spin(void *arg) {
    struct timespec ts;
    for (;;) clock_gettime(CLOCK_REALTIME, &ts);
    return arg;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    char *argv[] = {"date", "+%s", NULL};
    char *empty[] = {NULL};
    pid_t pid;
    fflush(stdout);
    if ((pid = fork()) == 0) { execve("/bin/date", argv, empty); _exit(127); }
    waitpid(pid, NULL, 0);
    if ((pid = vfork()) == 0) { execve("/bin/date", argv, empty); _exit(127); }
    waitpid(pid, NULL, 0);
    if ((pid = fork()) == 0) { execle("/bin/date", "date", "+%s", (char *)NULL, empty); _exit(127); }
    waitpid(pid, NULL, 0);
    if ((pid = fork()) == 0) { clearenv(); execvp("date", argv); _exit(127); }
    waitpid(pid, NULL, 0);
    posix_spawn(&pid, "/bin/date", NULL, NULL, argv, empty);
    waitpid(pid, NULL, 0);
    posix_spawnp(&pid, "date", NULL, NULL, argv, empty);
    waitpid(pid, NULL, 0);
    return 0;
}
"#;

/// Threaded parent; fork, vfork, execle, clearenv+execvp, posix_spawn(p), all
/// with an empty environment: every child is still frozen.
#[test]
fn scrubbed_children_of_threaded_parents_are_frozen() {
    require("gcc");
    let env = setup();
    let prog = env.cc("spawner", C_SPAWNER, &[]);
    let clock = FROZEN.parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let out = ok_stdout(&env.run(Some(&clock), &[], &mut Command::new(&prog)));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, vec!["1709251198"; 6], "{out}");
}

#[test]
fn go_binaries_are_reported() {
    require("gcc");
    require("objcopy");
    let env = setup();
    let plain = env.cc("plain", "int main(void){return 0;}\n", &[]);
    // A Go build id section is what marks Go binaries (their runtime reads the
    // vDSO itself); no Go toolchain needed to make one.
    let id = env.write("id", "buildid");
    let go = env.path("fake-go");
    let o = Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".note.go.buildid={}", id.display()))
        .arg(&plain)
        .arg(&go)
        .output()
        .expect("objcopy");
    assert!(o.status.success(), "objcopy: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(flakebox_clock::reach::inspect(&go).expect("inspect"), flakebox_clock::reach::Reach::Go);
    let execer = env.cc("execer", C_EXECER, &[]);
    let clock = FROZEN.parse::<TimeSpec>().expect("spec").resolve(SystemTime::now());
    let out = env.run(Some(&clock), &[], Command::new(&execer).arg(&go));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "flakebox: warning: {}: Go binary (reads the vDSO clock directly); its clock is NOT frozen",
            go.display()
        )),
        "{out:?}"
    );
}

#[test]
fn trace_records_connects_lookups_and_execs() {
    require("python3");
    let env = setup();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let open_port = listener.local_addr().expect("addr").port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let sock = env.path("u.sock");
    let _unix = std::os::unix::net::UnixListener::bind(&sock).expect("unix listen");
    let script = env.write(
        "net.py",
        &format!(
            r#"
import socket, subprocess
socket.create_connection(("127.0.0.1", {open_port})).close()
try:
    socket.create_connection(("127.0.0.1", {closed_port}))
except ConnectionRefusedError:
    pass
u = socket.socket(socket.AF_UNIX); u.connect({sock:?}); u.close()
socket.getaddrinfo("localhost", 80)
try:
    socket.getaddrinfo("no-such-host.invalid", 80)
except socket.gaierror:
    pass
subprocess.run(["/bin/true"])
"#,
            sock = sock.display().to_string()
        ),
    );
    let trace = env.path("trace");
    let out = env.run(None, &[("FLAKEBOX_TRACE", trace.as_os_str())], Command::new("python3").arg(&script));
    ok_stdout(&out);
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let events = flakebox_clock::trace::parse(&text);
    assert_eq!(events.len(), text.lines().count(), "unparsed lines in {text}");
    let inet = |port: u16| ConnectTarget::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let has = |pred: &dyn Fn(&TraceEvent) -> bool| events.iter().any(pred);
    assert!(
        has(
            &|e| matches!(e, TraceEvent::Connect { target, outcome: Outcome::Ok, .. } if *target == inet(open_port))
        ),
        "{text}"
    );
    assert!(
        has(
            &|e| matches!(e, TraceEvent::Connect { target, outcome: Outcome::Err(n), .. } if *target == inet(closed_port) && n == "ECONNREFUSED")
        ),
        "{text}"
    );
    let unix = ConnectTarget::Unix(sock.display().to_string());
    assert!(
        has(&|e| matches!(e, TraceEvent::Connect { target, outcome: Outcome::Ok, .. } if *target == unix)),
        "{text}"
    );
    assert!(
        has(&|e| matches!(e, TraceEvent::Resolve { name, outcome: Outcome::Ok, .. } if name == "localhost")),
        "{text}"
    );
    assert!(
        has(
            &|e| matches!(e, TraceEvent::Resolve { name, outcome: Outcome::Err(_), .. } if name == "no-such-host.invalid")
        ),
        "{text}"
    );
    assert!(has(&|e| matches!(e, TraceEvent::Exec { path, .. } if path == "/bin/true")), "{text}");
}

const C_NONBLOCKING: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Starts a non-blocking connect to 127.0.0.1:port, waits until it ends, then
 * learns the result the way given: "sockopt" (SO_ERROR) or "again" (connect
 * once more: EISCONN or the error). Prints the result. */
static void one(int port, const char *how) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    fcntl(s, F_SETFL, O_NONBLOCK);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = r == 0 ? 0 : errno;
    if (r != 0 && e != EINPROGRESS) { printf("%d %s immediate %d\n", port, how, e); close(s); return; }
    struct pollfd p = {s, POLLOUT, 0};
    if (poll(&p, 1, 10000) != 1) { printf("%d %s poll-timeout\n", port, how); exit(1); }
    int err = 0;
    if (how[0] == 's') {
        socklen_t l = sizeof err;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
    } else {
        r = connect(s, (struct sockaddr *)&a, sizeof a);
        err = r == 0 || errno == EISCONN ? 0 : errno;
    }
    printf("%d %s %s\n", port, how, err == 0 ? "ok" : err == ECONNREFUSED ? "refused" : "other");
    close(s);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    one(atoi(argv[1]), "sockopt");
    one(atoi(argv[1]), "again");
    one(atoi(argv[2]), "sockopt");
    one(atoi(argv[2]), "again");
    return 0;
}
"#;

/// A non-blocking connect that completes is a connect, not a failure: its
/// start (EINPROGRESS) and its end (SO_ERROR, or connecting again) are one
/// event with the end's outcome; one refused after starting is a failure.
#[test]
fn non_blocking_connects_are_traced_with_their_end() {
    use flakebox_clock::trace::Completion;
    require("gcc");
    let env = setup();
    let prog = env.cc("nonblocking", C_NONBLOCKING, &[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let open_port = listener.local_addr().expect("addr").port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let trace = env.path("trace");
    let out = env.run(
        None,
        &[("FLAKEBOX_TRACE", trace.as_os_str())],
        Command::new(&prog).arg(open_port.to_string()).arg(closed_port.to_string()),
    );
    let stdout = ok_stdout(&out);
    // What the program itself saw, so the trace below is checked against the truth.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![
            format!("{open_port} sockopt ok"),
            format!("{open_port} again ok"),
            format!("{closed_port} sockopt refused"),
            format!("{closed_port} again refused"),
        ],
        "{stdout}"
    );
    let text = std::fs::read_to_string(&trace).expect("trace written");
    assert!(!text.contains("EINPROGRESS") && !text.contains("EISCONN"), "{text}");
    let connects: Vec<(u16, Outcome, Completion)> = flakebox_clock::trace::parse(&text)
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Connect { target: ConnectTarget::Inet(a), outcome, completion, .. } => {
                Some((a.port(), outcome, completion))
            }
            _ => None,
        })
        .collect();
    let refused = || Outcome::Err("ECONNREFUSED".into());
    assert_eq!(
        connects,
        vec![
            (open_port, Outcome::Ok, Completion::Deferred),
            (open_port, Outcome::Ok, Completion::Deferred),
            (closed_port, refused(), Completion::Deferred),
            (closed_port, refused(), Completion::Deferred),
        ],
        "{text}"
    );
}

/// CPython's connect with a timeout is non-blocking underneath (SO_ERROR).
#[test]
fn python_connect_with_timeout_is_a_connect() {
    require("python3");
    let env = setup();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let trace = env.path("trace");
    let out = env.run(
        None,
        &[("FLAKEBOX_TRACE", trace.as_os_str())],
        Command::new("python3").arg("-c").arg(format!(
            "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=10).close()"
        )),
    );
    ok_stdout(&out);
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let events = flakebox_clock::trace::parse(&text);
    let target = ConnectTarget::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(
        events.iter().any(|e| matches!(e, TraceEvent::Connect { target: t, outcome: Outcome::Ok, completion: flakebox_clock::trace::Completion::Deferred, .. } if *t == target)),
        "{text}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, TraceEvent::Connect { outcome: Outcome::Err(_), .. })),
        "{text}"
    );
}

/// psql (libpq) connects without blocking and asks SO_ERROR: the connect that
/// the old trace called "failed EINPROGRESS". The listener here accepts and
/// hangs up, so psql fails after connecting: the connect itself is ok.
#[test]
fn psql_connect_is_a_connect() {
    require("psql");
    let env = setup();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let trace = env.path("trace");
    let out = env.run(
        None,
        &[
            ("FLAKEBOX_TRACE", trace.as_os_str()),
            ("PGSSLMODE", OsStr::new("disable")),
            ("PGGSSENCMODE", OsStr::new("disable")),
            ("PGCONNECT_TIMEOUT", OsStr::new("10")),
        ],
        Command::new("psql").args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "nobody",
            "-d",
            "nothing",
            "-w",
            "-c",
            "select 1",
        ]),
    );
    assert!(!out.status.success(), "psql reached a server that hangs up");
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let target = ConnectTarget::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let connects: Vec<TraceEvent> = flakebox_clock::trace::parse(&text)
        .into_iter()
        .filter(|e| matches!(e, TraceEvent::Connect { target: t, .. } if *t == target))
        .collect();
    assert!(!connects.is_empty(), "{text}");
    assert!(
        connects.iter().all(|e| matches!(
            e,
            TraceEvent::Connect {
                outcome: Outcome::Ok,
                completion: flakebox_clock::trace::Completion::Deferred,
                ..
            }
        )),
        "{text}"
    );
}

/// The files a program opens are traced with their absolute path, whether
/// for writing and how the open ended: an exclusive create that finds the
/// file there (EEXIST) is traced, a file that is not there, one of the
/// system's or one of installed packages is not.
#[test]
fn file_opens_are_traced_with_mode_and_result() {
    require("python3");
    let env = setup();
    let trace = env.path("trace");
    let dir = env.path("files");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("left.csv"), "old").expect("write");
    std::fs::write(dir.join("conf"), "x").expect("write");
    std::fs::create_dir_all(dir.join("lib/site-packages")).expect("mkdir");
    std::fs::write(dir.join("lib/site-packages/m.py"), "").expect("write");
    let script = "import os\n\
                  try:\n    open('left.csv', 'x')\nexcept FileExistsError:\n    pass\n\
                  open('conf').read()\n\
                  open('new.txt', 'w').write('n')\n\
                  open('log', 'a').write('n')\n\
                  open('lib/site-packages/m.py').read()\n\
                  try:\n    open('missing')\nexcept FileNotFoundError:\n    pass\n\
                  open('/etc/hostname').read() if os.path.exists('/etc/hostname') else None\n";
    let out = env.run(
        None,
        &[("FLAKEBOX_TRACE", trace.as_os_str())],
        Command::new("python3").arg("-c").arg(script).current_dir(&dir),
    );
    ok_stdout(&out);
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let opens: Vec<(String, Outcome, Access)> = flakebox_clock::trace::parse(&text)
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Open { path, outcome, access, .. } => Some((path, outcome, access)),
            _ => None,
        })
        .filter(|(p, _, _)| p.starts_with(&*dir.to_string_lossy()) || p.starts_with("/etc/"))
        .collect();
    let at = |name: &str| dir.join(name).display().to_string();
    assert_eq!(
        opens,
        vec![
            (at("left.csv"), Outcome::Err("EEXIST".into()), Access::Write),
            (at("conf"), Outcome::Ok, Access::Read),
            (at("new.txt"), Outcome::Ok, Access::Truncate),
            (at("log"), Outcome::Ok, Access::Write),
        ],
        "{text}"
    );
}
