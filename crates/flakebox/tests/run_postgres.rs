//! End-to-end tests of `flakebox run --postgres`, each as root and as nobody:
//! a fresh, seeded, parallel-safe server per run that leaves nothing behind.
//!
//! Every test uses a template cache of its own test process (`XDG_CACHE_HOME`),
//! so the machine's cache neither helps nor breaks them; the first run of each
//! user builds the template (~1-2 s), the others reuse it.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

// ---------------------------------------------------------------- helpers

/// Where the test caches live: under the target directory, which the sandbox
/// shows (the host's /tmp it hides) and `nobody` can traverse. Caches of test
/// processes that are gone are removed on first use.
fn cache_base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(parent).expect("mkdir CARGO_TARGET_TMPDIR");
        for e in std::fs::read_dir(parent).expect("read CARGO_TARGET_TMPDIR").filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("flakebox-pg-cache-") else { continue };
            if !Path::new("/proc").join(pid).exists() {
                let _ = hostfs::remove_tree(&e.path());
            }
        }
        let base = parent.join(format!("flakebox-pg-cache-{}", std::process::id()));
        let _ = hostfs::remove_tree(&base);
        std::fs::create_dir(&base).expect("mkdir cache base");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        base
    })
}

/// A new, empty `XDG_CACHE_HOME` owned by `who` (removed when dropped).
fn fresh_cache(who: Who) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("cache-").tempdir_in(cache_base()).expect("tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if who == Who::Nobody {
        std::os::unix::fs::chown(d.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    d
}

/// This test process's shared `XDG_CACHE_HOME` for `who`.
fn cache(who: Who) -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    static NOBODY_CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let cell = if who == Who::Root { &ROOT } else { &NOBODY_CACHE };
    cell.get_or_init(|| fresh_cache(who)).path()
}

/// `flakebox run --postgres EXTRA...` as `who` in `cwd`, with this process's cache.
fn pg(who: Who, cwd: &Path, extra: &[&str]) -> Command {
    let mut args = vec!["run", "--postgres"];
    args.extend_from_slice(extra);
    let mut c = command(who, cwd, &args);
    c.env("XDG_CACHE_HOME", cache(who));
    c
}

fn pg_run(who: Who, cwd: &Path, extra: &[&str]) -> Output {
    pg(who, cwd, extra).output().expect("spawn flakebox")
}

/// A psql invocation that stops at the first error, quietly, unaligned.
const PSQL: &str = "psql -v ON_ERROR_STOP=1 -XAtq";

/// A command script that creates `mine`, inserts `id`, prints `ready` and then
/// `$DATABASE_URL`, waits for its stdin to close, and prints `count:ids` of
/// what it sees in `mine` (`1:<id>` when no other run's data is visible).
fn held_script(id: u32) -> String {
    format!(
        "{PSQL} -c 'create table mine(id int unique)' -c 'insert into mine values ({id})' || exit 9
echo ready
echo \"$DATABASE_URL\"
read go
{PSQL} -c \"select count(*) || ':' || string_agg(id::text, ',') from mine\""
    )
}

/// Spawn `cmd` with stdin, stdout and stderr piped; return once it printed `ready`.
fn hold(mut cmd: Command) -> (Child, BufReader<ChildStdout>) {
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    spawn_until(cmd, "ready")
}

/// [`hold`] all of `cmds` at once (each spawned from its own thread).
fn hold_all(cmds: Vec<Command>) -> Vec<(Child, BufReader<ChildStdout>)> {
    std::thread::scope(|s| {
        let threads: Vec<_> = cmds.into_iter().map(|c| s.spawn(move || hold(c))).collect();
        threads.into_iter().map(|t| t.join().expect("a run failed before `ready`")).collect()
    })
}

/// Close the held command's stdin and wait: (status, rest of stdout, stderr).
fn release(mut child: Child, mut out: BufReader<ChildStdout>) -> (ExitStatus, String, String) {
    drop(child.stdin.take());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read stdout");
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    (child.wait().expect("wait"), rest, err)
}

fn read_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("read stdout");
    line.trim_end().to_string()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

fn pid_ns(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Every host pid in the sandbox of the flakebox supervisor `sup`: the
/// processes sharing the PID namespace of its child that is in a new one (PID 1).
fn sandbox_processes(sup: u32) -> Vec<u32> {
    let sup_ns = pid_ns(sup).expect("the supervisor's pid namespace");
    let init = all_pids()
        .into_iter()
        .find(|&p| ppid(p) == Some(sup) && pid_ns(p).is_some_and(|ns| ns != sup_ns))
        .expect("the sandbox's PID 1 is a child of the supervisor");
    let ns = pid_ns(init).expect("PID 1's namespace");
    all_pids().into_iter().filter(|&p| pid_ns(p).as_ref() == Some(&ns)).collect()
}

/// The postgres processes (postmaster and its children) among `pids`,
/// checked to run as nobody on the host, never as root. (A backend whose
/// client just left may exit while we look: vanished ones are skipped.)
fn postgres_among(who: Who, pids: &[u32]) -> Vec<u32> {
    let mut pg = Vec::new();
    for &p in pids {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else { continue };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        if field("Name:") != "postgres" {
            continue;
        }
        let uid: Option<u32> = field("Uid:").split_whitespace().next().and_then(|u| u.parse().ok());
        assert_eq!(uid, Some(NOBODY), "{who:?}: postgres (pid {p}) runs as nobody on the host");
        pg.push(p);
    }
    assert!(!pg.is_empty(), "{who:?}: a postgres process runs in the sandbox: {pids:?}");
    pg
}

fn template_dirs(cache: &Path) -> Vec<PathBuf> {
    let root = cache.join("flakebox").join("postgres");
    let Ok(rd) = std::fs::read_dir(&root) else { return Vec::new() };
    // Finished templates only (not `.build-*` in progress for another test).
    rd.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("pg"))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// What a run must not leave on the host: sockets in /tmp, mounts, a
/// postmaster.pid in the cached template, files in the working directory.
/// (Not /dev/shm: building a template runs initdb on the host, which makes
/// short-lived PostgreSQL.* segments there while other tests build theirs.)
fn assert_host_clean(who: Who, cwd: &Path, cwd_entries: &[&str]) {
    for e in std::fs::read_dir("/tmp").expect("read /tmp").filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".s.PGSQL."), "{who:?}: postgres left /tmp/{name} on the host");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains("pg-upper")
            && !mounts.contains("/.flakebox")
            && !mounts.contains("flakebox-pg-cache"),
        "{who:?}: a postgres mount reached the host:\n{mounts}"
    );
    for t in template_dirs(cache(who)) {
        let data = t.join("data");
        assert!(!data.join("postmaster.pid").exists(), "{who:?}: the template {} was started", t.display());
        assert!(data.join("PG_VERSION").is_file(), "{who:?}: the template {} is intact", t.display());
    }
    let mut left: Vec<String> = std::fs::read_dir(cwd)
        .expect("read cwd")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, cwd_entries, "{who:?}: only these files are in the working directory");
}

/// `cmd` with PATH replaced, the program resolved on the current PATH first
/// (setting PATH on a Command also changes where its program is looked up).
fn with_path(cmd: &Command, path: &str) -> Command {
    let prog = Path::new(cmd.get_program());
    let resolved = if prog.is_absolute() {
        prog.to_path_buf()
    } else {
        let cwd = std::env::current_dir().expect("cwd");
        hostfs::find_executable(prog.as_os_str(), std::env::var_os("PATH").as_deref(), &cwd)
            .expect("program on PATH")
    };
    let mut c = Command::new(resolved);
    c.args(cmd.get_args()).stdin(Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    c.env("PATH", path);
    c
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

// ------------------------------------------------------------------ tests

#[test]
fn each_run_sees_a_fresh_database_on_5432_and_a_unix_socket() {
    for who in BOTH {
        let d = scratch(who);
        let script = format!(
            "{PSQL} -c 'create table seen(id int unique)' -c 'insert into seen values (1)' \
             -c 'select count(*) from seen' || exit 9
             echo \"$PGHOST $PGPORT $PGUSER $PGPASSWORD $PGDATABASE $DATABASE_URL\"
             dir=$({PSQL} -c 'show unix_socket_directories')
             {PSQL} -h \"$dir\" -c 'select 40 + 2' || exit 8"
        );
        for attempt in 1..=2 {
            let o = pg_run(who, d.path(), &["--", "sh", "-c", &script]);
            assert!(o.status.success(), "{who:?} run {attempt}: {}{}", stdout(&o), stderr(&o));
            let out = stdout(&o);
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 3, "{who:?} run {attempt}: {out}");
            assert_eq!(lines[0], "1", "{who:?} run {attempt}: one row, its own");
            let env: Vec<&str> = lines[1].split(' ').collect();
            assert_eq!(
                &env[..5],
                ["127.0.0.1", "5432", "postgres", "postgres", "postgres"],
                "{who:?}: {out}"
            );
            assert_eq!(env[5], "postgresql://postgres:postgres@127.0.0.1:5432/postgres", "{who:?}");
            assert_eq!(lines[2], "42", "{who:?}: the unix socket answers");
        }
        assert_host_clean(who, d.path(), &[]);
    }
}

#[test]
fn init_file_seeds_every_run_and_a_changed_file_reseeds() {
    for who in BOTH {
        let d = scratch(who);
        let schema = d.path().join("schema.sql");
        write(&schema, "create table seed(id int primary key, name text);\ninsert into seed values (1, 'a'), (2, 'b');\n");
        let script = format!(
            "{PSQL} -c \"select string_agg(name, ',' order by id) from seed\" -c \"insert into seed values (3, 'c')\""
        );
        for attempt in 1..=2 {
            let o = pg_run(who, d.path(), &["--postgres-init", "schema.sql", "--", "sh", "-c", &script]);
            assert!(o.status.success(), "{who:?} run {attempt}: {}", stderr(&o));
            assert_eq!(stdout(&o), "a,b\n", "{who:?} run {attempt}: the seeded state, not the last run's");
        }
        // The cache is keyed by the content: an edited file takes effect.
        write(
            &schema,
            "create table seed(id int primary key, name text);\ninsert into seed values (1, 'x');\n",
        );
        let o = pg_run(who, d.path(), &["--postgres-init", "schema.sql", "--", "sh", "-c", &script]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "x\n", "{who:?}: reseeded from the edited file");
        assert_host_clean(who, d.path(), &["schema.sql"]);
    }
}

#[test]
fn init_directory_applies_its_sql_files_in_lexical_order() {
    for who in BOTH {
        let d = scratch(who);
        let m = d.path().join("migrations");
        std::fs::create_dir(&m).expect("mkdir");
        // Written out of order; `b` needs the table `a` creates; other files are ignored.
        write(
            &m.join("b_fill.sql"),
            "insert into item(name) select 'n' || g from generate_series(1, 3) g;\n",
        );
        write(&m.join("README.md"), "this is not SQL and must not be applied\n");
        write(&m.join("a_create.sql"), "create table item(id serial primary key, name text not null);\n");
        let o = pg_run(
            who,
            d.path(),
            &[
                "--postgres-init",
                "migrations",
                "--",
                "psql",
                "-XAtq",
                "-c",
                "select string_agg(id || '=' || name, ',' order by id) from item",
            ],
        );
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "1=n1,2=n2,3=n3\n", "{who:?}");
    }
}

#[test]
fn share_net_listens_on_free_host_ports_and_parallel_runs_do_not_collide() {
    for who in BOTH {
        let dirs = [scratch(who), scratch(who)];
        let ids = [101, 202];
        let held = hold_all(
            dirs.iter()
                .zip(ids)
                .map(|(d, id)| pg(who, d.path(), &["--share", "net", "--", "sh", "-c", &held_script(id)]))
                .collect(),
        );
        let held: Vec<_> = held
            .into_iter()
            .map(|(c, mut out)| {
                let url = read_line(&mut out);
                (c, out, url)
            })
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|(_, _, url)| {
                let port =
                    url.rsplit_once(':').and_then(|(_, r)| r.split('/').next()).and_then(|p| p.parse().ok());
                port.unwrap_or_else(|| panic!("{who:?}: a port in {url:?}"))
            })
            .collect();
        assert_ne!(ports[0], ports[1], "{who:?}: two runs, two ports");
        // Both servers are reachable from the host, each with its own data.
        for ((_, _, url), id) in held.iter().zip(ids) {
            let o = Command::new("psql")
                .args([url.as_str(), "-XAtqc", "select string_agg(id::text, ',') from mine"])
                .stdin(Stdio::null())
                .output()
                .expect("psql on the host");
            assert!(o.status.success(), "{who:?}: host psql to {url}: {}", stderr(&o));
            assert_eq!(stdout(&o), format!("{id}\n"), "{who:?}: {url}");
        }
        for ((child, out, url), id) in held.into_iter().zip(ids) {
            let (status, rest, err) = release(child, out);
            assert!(status.success(), "{who:?} {url}: {err}");
            assert_eq!(rest, format!("1:{id}\n"), "{who:?} {url}");
        }
        for d in &dirs {
            assert_host_clean(who, d.path(), &[]);
        }
    }
}

#[test]
fn eight_runs_at_once_each_see_only_their_own_data() {
    for who in BOTH {
        let dirs: Vec<_> = (0..8).map(|_| scratch(who)).collect();
        let ids: Vec<u32> = (1..=8).map(|i| i * 11).collect();
        let held = hold_all(
            dirs.iter()
                .zip(&ids)
                .map(|(d, &id)| pg(who, d.path(), &["--", "sh", "-c", &held_script(id)]))
                .collect(),
        );
        // All eight servers are up, with their rows inserted, before any reads.
        for ((child, mut out), id) in held.into_iter().zip(&ids) {
            let url = read_line(&mut out);
            assert_eq!(url, "postgresql://postgres:postgres@127.0.0.1:5432/postgres", "{who:?}");
            let (status, rest, err) = release(child, out);
            assert!(status.success(), "{who:?} run {id}: {err}");
            assert_eq!(rest, format!("1:{id}\n"), "{who:?}: run {id} sees only its own row");
        }
    }
}

/// Hold a run, find its postgres processes, end the command with `end`
/// (`exit 0` or a kill), and check that nothing of the server survives
/// flakebox's exit — not even for a moment.
fn nothing_left_after(who: Who, end: &str, code: i32) {
    let d = scratch(who);
    let script = format!(
        "{PSQL} -c 'create table t(id int)' -c 'insert into t values (1), (2)' || exit 9
echo ready
read go
{end}"
    );
    let (child, out) = hold(pg(who, d.path(), &["--report", "report.json", "--", "sh", "-c", &script]));
    let inside = sandbox_processes(child.id());
    let pg = postgres_among(who, &inside);
    let (status, _, err) = release(child, out);
    assert_eq!(status.code(), Some(code), "{who:?} `{end}`: {err}");
    // The server is stopped before flakebox returns; PID 1 itself may still be
    // in the kernel's namespace teardown (the supervisor returns once PID 1 has
    // reported), so it gets a moment.
    let alive = wait_gone(&pg, Duration::ZERO);
    assert!(alive.is_empty(), "{who:?} `{end}`: postgres outlived flakebox: {alive:?}");
    let alive = wait_gone(&inside, Duration::from_secs(30));
    assert!(alive.is_empty(), "{who:?} `{end}`: sandbox processes survived: {alive:?}");
    // The evidence is gathered even when the command was killed.
    let report = read_json(&d.path().join("report.json"));
    assert_eq!(
        report["services"],
        serde_json::json!([["postgres", {"tables_with_rows": [{"table": "public.t", "rows": 2}], "sessions": 1}]]),
        "{who:?} `{end}`: the tables, and the one session psql opened"
    );
    assert_host_clean(who, d.path(), &["report.json"]);
}

#[test]
fn nothing_is_left_after_a_normal_exit() {
    for who in BOTH {
        nothing_left_after(who, "exit 0", 0);
    }
}

#[test]
fn nothing_is_left_after_the_command_is_killed() {
    for who in BOTH {
        nothing_left_after(who, "kill -9 $$", 128 + 9);
    }
}

#[test]
fn nothing_is_left_when_flakebox_is_sigkilled() {
    for who in BOTH {
        let d = scratch(who);
        let script = format!("{PSQL} -c 'select 1' >/dev/null || exit 9; echo ready; exec sleep 600");
        let (mut child, _out) = hold(pg(who, d.path(), &["--", "sh", "-c", &script]));
        let inside = sandbox_processes(child.id());
        postgres_among(who, &inside);
        // SAFETY: kill(2) on our own child (setpriv execs flakebox: same pid).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        child.wait().expect("wait");
        let alive = wait_gone(&inside, Duration::from_secs(30));
        assert!(alive.is_empty(), "{who:?}: processes survived the supervisor: {alive:?}");
        assert_host_clean(who, d.path(), &[]);
    }
}

#[test]
fn report_lists_the_tables_left_with_rows() {
    for who in BOTH {
        let d = scratch(who);
        write(
            &d.path().join("leave.sql"),
            "create table t(id int); insert into t values (1), (2);
             create table empty(id int);
             create schema app; create table app.big(id int); insert into app.big select generate_series(1, 1000);
             create table gone(id int); insert into gone values (1); delete from gone;",
        );
        let script = format!(
            "{PSQL} -f leave.sql && {PSQL} -c 'create database other' \
             && {PSQL} -d other -c 'create table kept(id int)' -c 'insert into kept values (1), (2), (3)'"
        );
        let o = pg_run(who, d.path(), &["--report", "r.json", "--", "sh", "-c", &script]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let report = read_json(&d.path().join("r.json"));
        let services = report["services"].as_array().expect("services is an array");
        assert_eq!(services.len(), 1, "{who:?}: {services:?}");
        assert_eq!(services[0][0], "postgres");
        let mut tables: Vec<(String, u64)> = services[0][1]["tables_with_rows"]
            .as_array()
            .expect("tables_with_rows")
            .iter()
            .map(|t| (t["table"].as_str().expect("table").to_string(), t["rows"].as_u64().expect("rows")))
            .collect();
        tables.sort();
        let want = [("app.big", 1000), ("other.public.kept", 3), ("public.t", 2)];
        assert_eq!(tables, want.map(|(t, n)| (t.to_string(), n)), "{who:?}: the tables in every database");

        // A run that leaves nothing reports an empty list.
        let o =
            pg_run(who, d.path(), &["--report", "r.json", "--", "psql", "-Xqc", "create table x(id int)"]);
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let report = read_json(&d.path().join("r.json"));
        assert_eq!(
            report["services"],
            serde_json::json!([["postgres", {"tables_with_rows": [], "sessions": 1}]]),
            "{who:?}"
        );
    }
}

#[test]
fn bad_init_sql_names_the_file_and_the_error_and_runs_nothing() {
    for who in BOTH {
        let d = scratch(who);
        let cache = fresh_cache(who);
        let m = d.path().join("migrations");
        std::fs::create_dir(&m).expect("mkdir");
        write(&m.join("001_ok.sql"), "create table ok(id int);\n");
        write(&m.join("002_bad.sql"), "insert into ok values (1);\nselec broken;\n");
        write(
            &d.path().join("bad.sql"),
            "create table fine(id int);\n\ninsert into nosuchtable values (1);\n",
        );
        let cmd = "echo CMD-RAN; touch marker";
        for (init, file, error) in [
            ("bad.sql", "bad.sql", r#"relation "nosuchtable" does not exist"#),
            ("migrations", "002_bad.sql", r#"syntax error at or near "selec""#),
        ] {
            let o = pg(who, d.path(), &["--postgres-init", init, "--keep", "marker", "--", "sh", "-c", cmd])
                .env("XDG_CACHE_HOME", cache.path())
                .output()
                .expect("spawn");
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(125), "{who:?} {init}: {err}");
            assert!(err.contains(file), "{who:?}: names {file}: {err}");
            assert!(err.contains(error), "{who:?}: shows the SQL error: {err}");
            assert!(!stdout(&o).contains("CMD-RAN"), "{who:?} {init}: the command ran");
            assert!(!d.path().join("marker").exists(), "{who:?} {init}: the command ran");
            // Nothing half-built is cached (only lock files and the base template may exist).
            let names: Vec<String> = std::fs::read_dir(cache.path().join("flakebox/postgres"))
                .expect("cache dir")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            assert!(names.iter().all(|n| n.ends_with(".lock") || !n.starts_with('.')), "{who:?}: {names:?}");
        }
        // Fixed, it works at once (the failure was not cached).
        write(&m.join("002_bad.sql"), "insert into ok values (1);\n");
        let o = pg(
            who,
            d.path(),
            &["--postgres-init", "migrations", "--", "psql", "-XAtqc", "select id from ok"],
        )
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("spawn");
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "1\n", "{who:?}");
    }
}

#[test]
fn missing_server_binaries_are_clear_errors_and_run_nothing() {
    for who in BOTH {
        let d = scratch(who);
        let cmd = ["--", "sh", "-c", "echo CMD-RAN"];
        let o = pg_run(who, d.path(), &[&["--postgres-bin", "/nonexistent"][..], &cmd].concat());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{who:?}: {err}");
        assert!(err.contains("/nonexistent"), "{who:?}: names the directory: {err}");
        assert!(stdout(&o).is_empty(), "{who:?}: the command ran");

        // No pg_config anywhere, and an empty directory given.
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        let empty = empty.to_str().expect("utf8");
        let base = pg(who, d.path(), &[&["--postgres-bin", empty][..], &cmd].concat());
        let mut c = with_path(&base, "/nonexistent");
        c.env("PG_CONFIG", "/nonexistent/pg_config");
        let o = c.output().expect("spawn");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(125), "{who:?}: {err}");
        assert!(
            err.contains(empty) && err.contains("postgres"),
            "{who:?}: names the directory and what is missing: {err}"
        );
        assert!(stdout(&o).is_empty(), "{who:?}: the command ran");
    }
}

#[test]
fn postgres_options_need_postgres() {
    let d = scratch(Who::Root);
    for args in [
        &["run", "--postgres-bin", "/usr/lib/postgresql/15/bin", "--", "true"][..],
        &["run", "--postgres-init", "schema.sql", "--", "true"][..],
    ] {
        let o = run(Who::Root, d.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: a usage error: {}", stderr(&o));
        assert!(stderr(&o).contains("--postgres"), "{}", stderr(&o));
    }
    let o = pg_run(Who::Root, d.path(), &["--share", "db", "--", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("--share db"), "{}", stderr(&o));
}

#[test]
fn concurrent_first_runs_build_one_template_and_a_damaged_one_is_rebuilt() {
    for who in BOTH {
        let cache = fresh_cache(who);
        let dirs: Vec<_> = (0..3).map(|_| scratch(who)).collect();
        let script = format!("{PSQL} -c 'select 1' >/dev/null || exit 9; echo ready");
        let held = hold_all(
            dirs.iter()
                .map(|d| {
                    let mut c = pg(who, d.path(), &["--", "sh", "-c", &script]);
                    c.env("XDG_CACHE_HOME", cache.path());
                    c
                })
                .collect(),
        );
        for (child, out) in held {
            let (status, _, err) = release(child, out);
            assert!(status.success(), "{who:?}: {err}");
        }
        let templates = template_dirs(cache.path());
        assert_eq!(templates.len(), 1, "{who:?}: one template: {templates:?}");
        let names: Vec<String> = std::fs::read_dir(cache.path().join("flakebox/postgres"))
            .expect("cache")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{who:?}: no build left over: {names:?}");

        // Damage it: the next run notices, rebuilds, and works.
        std::fs::remove_file(templates[0].join("data/global/pg_control")).expect("damage the template");
        let o = pg(who, dirs[0].path(), &["-v", "--", "psql", "-XAtqc", "select 7"])
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .expect("spawn");
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "7\n");
        assert!(stderr(&o).contains("template built"), "{who:?}: rebuilt: {}", stderr(&o));
        assert!(templates[0].join("data/global/pg_control").is_file(), "{who:?}");
    }
}

#[test]
fn a_cache_under_the_hidden_host_tmp_works() {
    // The sandbox hides the host's /tmp, so a template cached there must still
    // reach the server (XDG_CACHE_HOME=/tmp/... is common in CI containers).
    for who in BOTH {
        let d = scratch(who);
        let cache =
            tempfile::Builder::new().prefix("flakebox-pg-cache-").tempdir_in("/tmp").expect("tempdir");
        if who == Who::Nobody {
            std::os::unix::fs::chown(cache.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        for _ in 0..2 {
            let o = pg(who, d.path(), &["--", "psql", "-XAtqc", "select 5"])
                .env("XDG_CACHE_HOME", cache.path())
                .output()
                .expect("spawn");
            assert!(o.status.success(), "{who:?}: {}", stderr(&o));
            assert_eq!(stdout(&o), "5\n", "{who:?}");
        }
    }
}
