//! The mechanism on real processes: static glibc, musl and Go programs run under
//! `clockwatch-run`, as root and as nobody.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const SPEC: &str = "2024-02-29T23:59:58Z";
const INSTANT: i64 = 1_709_251_198;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Root,
    Nobody,
}
const BOTH: [Who; 2] = [Who::Root, Who::Nobody];

struct Progs {
    _dir: tempfile::TempDir,
    run: PathBuf,
    glibc: PathBuf,
    musl: PathBuf,
    interrupt: PathBuf,
    deadlines_glibc: PathBuf,
    deadlines_musl: PathBuf,
    go: PathBuf,
    shim: PathBuf,
}

fn tool(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); CI installs golang-go and musl-tools"));
    assert!(out.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The programs' directory and the test process that made it.
static PROGS_DIR: OnceLock<(PathBuf, u32)> = OnceLock::new();

/// At exit: a static is never dropped, so its temporary directory would be
/// left in /tmp. Only by the process that made it (a forked child that
/// exits through libc leaves it to its parent).
extern "C" fn remove_progs_dir() {
    if let Some((dir, pid)) = PROGS_DIR.get() {
        if *pid == std::process::id() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The programs, built once into a directory every user can read, removed
/// when the test process exits.
fn progs() -> &'static Progs {
    static P: OnceLock<Progs> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("clockwatch-test-").tempdir().expect("tempdir");
        let d = dir.path();
        if PROGS_DIR.set((d.to_path_buf(), std::process::id())).is_ok() {
            // SAFETY: atexit only stores a pointer to a function that lives
            // as long as the program.
            unsafe { libc::atexit(remove_progs_dir) };
        }
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/progs");
        let c = |compiler: &str, out: &str, file: &str| {
            let o = d.join(out);
            tool(
                Command::new(compiler)
                    .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
                    .arg(&o)
                    .arg(src.join(file)),
                compiler,
            );
            o
        };
        let glibc = c("gcc", "static", "clocks.c");
        let musl = c("musl-gcc", "musl", "clocks.c");
        let interrupt = c("gcc", "interrupt", "interrupt.c");
        let deadlines_glibc = c("gcc", "deadlines", "deadlines.c");
        let deadlines_musl = c("musl-gcc", "deadlines-musl", "deadlines.c");
        let go = d.join("gonow");
        tool(
            Command::new("go")
                .args(["build", "-o"])
                .arg(&go)
                .arg(src.join("gonow.go"))
                .env("GOCACHE", d.join("gocache"))
                .env("GO111MODULE", "off")
                .env("CGO_ENABLED", "0"),
            "go build",
        );
        let run = d.join("clockwatch-run");
        std::fs::copy(env!("CARGO_BIN_EXE_clockwatch-run"), &run).expect("copy clockwatch-run");
        let shim = clock::install(d).expect("install the shim");
        Progs { _dir: dir, run, glibc, musl, interrupt, deadlines_glibc, deadlines_musl, go, shim }
    })
}

fn run(who: Who, spec: &str, argv: &[&Path], env: &[(String, String)]) -> Output {
    run_with(who, &[], spec, argv, env)
}

/// What the supervisor did (`--stats`): the counts of its last stderr line.
#[derive(Debug, PartialEq, Eq)]
struct Stats {
    redirected: u64,
    hidden: u64,
    fallbacks: u64,
    reads: u64,
    sync_wake_up: u64,
}

fn stats(out: &Output) -> Stats {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("clockwatch: "))
        .unwrap_or_else(|| panic!("no stats in {err}"));
    let v: Vec<u64> = line.split_whitespace().skip(1).step_by(2).map(|x| x.parse().expect("count")).collect();
    Stats { redirected: v[0], hidden: v[1], fallbacks: v[2], reads: v[3], sync_wake_up: v[4] }
}

/// Redirected vDSOs only, no fallback, and no wall-clock read answered by the supervisor.
fn user_space_only(n: u64) -> Stats {
    Stats { redirected: n, hidden: 0, fallbacks: 0, reads: 0, sync_wake_up: 1 }
}

fn run_with(who: Who, flags: &[&str], spec: &str, argv: &[&Path], env: &[(String, String)]) -> Output {
    let p = progs();
    let mut c = match who {
        Who::Root => Command::new(&p.run),
        Who::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(&p.run);
            c
        }
    };
    c.arg("--stats")
        .args(flags)
        .args(["--time", spec, "--"])
        .args(argv)
        .envs(env.iter().cloned())
        .current_dir("/");
    let out = c.output().expect("spawn clockwatch-run");
    assert!(
        out.status.success(),
        "{who:?} {argv:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `key v1 v2...` lines; a key seen again (a descendant's output) gets a `#N` suffix.
fn lines(out: &Output) -> HashMap<String, Vec<i64>> {
    let mut m = HashMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let mut it = l.split_whitespace();
        let Some(k) = it.next() else { continue };
        let v: Vec<i64> = it.filter_map(|x| x.parse().ok()).collect();
        let mut key = k.to_string();
        let mut n = 1;
        while m.contains_key(&key) {
            n += 1;
            key = format!("{k}#{n}");
        }
        m.insert(key, v);
    }
    m
}

fn get(m: &HashMap<String, Vec<i64>>, k: &str, i: usize) -> i64 {
    m.get(k).and_then(|v| v.get(i)).copied().unwrap_or_else(|| panic!("no {k}[{i}] in {m:?}"))
}

fn assert_c_frozen(m: &HashMap<String, Vec<i64>>, suffix: &str) {
    let k = |s: &str| format!("{s}{suffix}");
    assert_eq!(get(m, &k("clock_gettime"), 0), INSTANT, "{m:?}");
    assert_eq!(get(m, &k("clock_gettime"), 1), 0);
    assert_eq!(get(m, &k("coarse"), 0), INSTANT);
    assert_eq!(get(m, &k("gettimeofday"), 0), INSTANT);
    assert_eq!(get(m, &k("time"), 0), INSTANT);
    assert_eq!(get(m, &k("monotonic_advances"), 0), 1, "MONOTONIC must keep running");
    // fake_now + 0.2 s waits 0.2 s of real time, measured on MONOTONIC.
    let ms = get(m, &k("abs_sleep_ms"), 0);
    assert_eq!(get(m, &k("abs_sleep_ms"), 1), 0, "clock_nanosleep result");
    assert!((195..20_000).contains(&ms), "absolute sleep took {ms} ms");
}

#[test]
fn static_glibc_and_musl_read_the_frozen_instant_and_sleep_on_real_time() {
    let p = progs();
    for who in BOTH {
        for bin in [&p.glibc, &p.musl] {
            let out = run(who, SPEC, &[bin], &[]);
            assert_c_frozen(&lines(&out), "");
            assert_eq!(stats(&out), user_space_only(1), "{who:?} {bin:?}");
        }
    }
}

/// This process's vDSO image, read from its own memory.
fn own_vdso() -> Vec<u8> {
    // SAFETY: getauxval has no preconditions.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let hi = flakebox_clockwatch::vdso::mapping_end(&maps, base).expect("[vdso] in maps");
    let mut img = vec![0u8; (hi - base) as usize];
    let mem = std::fs::File::open("/proc/self/mem").expect("mem");
    std::os::unix::fs::FileExt::read_exact_at(&mem, &mut img, base).expect("read the vDSO");
    img
}

#[test]
fn the_patched_vdso_page_is_the_programs_own_copy() {
    let before = own_vdso();
    let out = run(Who::Root, SPEC, &[&progs().glibc], &[]);
    assert_eq!(stats(&out).redirected, 1);
    // Writing the program's .dynsym copied the page for it alone: every other
    // process's vDSO (this one's too) still names the kernel's functions.
    assert_eq!(own_vdso(), before);
    let image = flakebox_clockwatch::vdso::Image::parse(&before).expect("parse");
    let cgt = image.clock_gettime().expect("__vdso_clock_gettime");
    assert!((cgt as usize) < before.len(), "{cgt:#x} is outside the vDSO");
}

#[test]
fn the_hidden_vdso_path_still_freezes_static_programs() {
    let p = progs();
    for who in BOTH {
        for bin in [&p.glibc, &p.musl] {
            let out = run_with(who, &["--vdso", "hide"], SPEC, &[bin], &[]);
            assert_c_frozen(&lines(&out), "");
            let s = stats(&out);
            assert_eq!((s.redirected, s.hidden), (0, 1), "{who:?} {bin:?}");
            // clock_gettime, coarse, gettimeofday, time and the sleep's fake now.
            assert!(s.reads >= 4, "{s:?}");
            assert_eq!(s.sync_wake_up, 1, "this kernel (6.6+) takes SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP");
            let out = run_with(who, &["--vdso", "hide", "--no-sync-wake-up"], SPEC, &[bin], &[]);
            assert_c_frozen(&lines(&out), "");
            assert_eq!(stats(&out).sync_wake_up, 0);
        }
    }
}

#[test]
fn descendants_inherit_the_filter_and_get_their_vdso_hidden() {
    let p = progs();
    for who in BOTH {
        // The program forks and execs itself: the second block is the descendant's.
        let out = run(who, SPEC, &[&p.glibc, Path::new("again")], &[]);
        let m = lines(&out);
        assert_c_frozen(&m, "");
        assert_c_frozen(&m, "#2");
        assert_eq!(stats(&out), user_space_only(2));
    }
}

#[test]
fn an_interrupted_absolute_sleep_is_abandoned_and_the_next_one_answered() {
    for who in BOTH {
        let m = lines(&run(who, SPEC, &[&progs().interrupt], &[]));
        // The caller left the call (EINTR): the supervisor finds the notification
        // invalid and drops its answer instead of writing to whatever has the pid now.
        assert_eq!(get(&m, "interrupted", 0), 1, "{m:?}");
        assert!(get(&m, "interrupted", 1) < 20_000);
        assert_eq!(get(&m, "completed", 0), 0);
        assert!((195..20_000).contains(&get(&m, "completed", 1)), "{m:?}");
    }
}

#[test]
fn absolute_deadlines_of_timers_and_futex_waits_fire_on_real_time() {
    let p = progs();
    for who in BOTH {
        for bin in [&p.deadlines_glibc, &p.deadlines_musl] {
            let m = lines(&run(who, SPEC, &[bin], &[]));
            // fake_now + 0.2 s waits 0.2 s (the fake instant is years in the
            // past: unconverted, each would fire at once).
            for key in ["timerfd", "timer"] {
                assert_eq!(get(&m, key, 1), 0, "{who:?} {bin:?} {key}: {m:?}");
                let ms = get(&m, key, 0);
                assert!((195..20_000).contains(&ms), "{who:?} {bin:?}: {key} took {ms} ms");
            }
            assert_eq!(get(&m, "unchanged", 0), 1, "{who:?} {bin:?}: the program's itimerspec was changed");
            assert_eq!(get(&m, "condwait", 1), 1, "{who:?} {bin:?}: ETIMEDOUT");
            let ms = get(&m, "condwait", 0);
            assert!((195..20_000).contains(&ms), "{who:?} {bin:?}: the timed wait took {ms} ms");
        }
    }
}

#[test]
fn go_reads_the_frozen_instant_and_its_timers_fire_on_real_time() {
    for who in BOTH {
        let out = run(who, SPEC, &[&progs().go], &[]);
        assert_eq!(stats(&out), user_space_only(1));
        let m = lines(&out);
        assert_eq!(get(&m, "now", 0), INSTANT, "{m:?}");
        assert_eq!(get(&m, "now2", 0), INSTANT * 1_000_000_000);
        assert_eq!(get(&m, "after_wall", 0), INSTANT);
        assert_eq!(get(&m, "end_ns", 0), INSTANT * 1_000_000_000);
        // Sleep, After, Timer and WithTimeout of 50 ms each, one after the other:
        // measured on Go's monotonic clock, which the filter leaves alone.
        let ms = get(&m, "elapsed_ms", 0);
        assert!((195..20_000).contains(&ms), "Go timers took {ms} ms");
    }
}

#[test]
fn go_ticking_and_step_modes() {
    let go = &progs().go;
    let out = run(Who::Root, &format!("{SPEC}~tick"), &[go], &[]);
    assert_eq!(stats(&out), user_space_only(1), "ticking is answered in user space");
    let m = lines(&out);
    let (start, end) = (get(&m, "now2", 0), get(&m, "end_ns", 0));
    assert!((INSTANT * 1_000_000_000..(INSTANT + 60) * 1_000_000_000).contains(&start), "{m:?}");
    assert!(end - start >= 195_000_000 && end - start < 20_000_000_000, "ticking moved {} ns", end - start);

    let out = run(Who::Root, &format!("{SPEC}~step=1ms"), &[go], &[]);
    // Step reads leave the stub as system calls: one count shared by the whole run.
    let s = stats(&out);
    assert_eq!((s.redirected, s.hidden), (1, 0));
    assert!(s.reads >= 3, "{s:?}");
    let m = lines(&out);
    let base = INSTANT * 1_000_000_000;
    let (a, b) = (get(&m, "now2", 0), get(&m, "end_ns", 0));
    assert_eq!(get(&m, "now", 0), INSTANT);
    // Every read moves the clock one step, whatever the real time did.
    assert!(a > base && b > a, "{m:?}");
    assert_eq!((a - base) % 1_000_000, 0);
    assert_eq!((b - base) % 1_000_000, 0);
    assert!(b - base < 1_000_000_000, "a handful of reads, not real time: {}", b - base);
}

#[test]
fn a_go_program_and_its_python_child_through_the_shim_agree() {
    let p = progs();
    let clock: clock::TimeSpec = SPEC.parse().expect("spec");
    let mut env = clock.resolve(std::time::SystemTime::now()).env();
    env.push(("LD_PRELOAD".into(), p.shim.display().to_string()));
    for who in BOTH {
        let python = Path::new("/usr/bin/python3");
        let out = run(
            who,
            SPEC,
            &[&p.go, python, Path::new("-c"), Path::new("import time; print(time.time_ns())")],
            &env,
        );
        // Python is reached by the shim (not redirected; its own few system calls may reach the supervisor).
        let s = stats(&out);
        assert_eq!((s.redirected, s.hidden, s.fallbacks), (1, 0, 0), "{s:?}");
        let m = lines(&out);
        assert_eq!(get(&m, "now2", 0), INSTANT * 1_000_000_000);
        assert_eq!(get(&m, "child", 0), INSTANT * 1_000_000_000, "{m:?}");
    }
}

#[test]
fn this_host_passes_the_probe() {
    assert_eq!(flakebox_clockwatch::probe(), Ok(()));
    // The cached answer is the one a fresh probe gives.
    assert_eq!(flakebox_clockwatch::probe(), flakebox_clockwatch::probe_now());
}
