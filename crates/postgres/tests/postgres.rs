//! Against the machine's real PostgreSQL. Runs as root (CI: postgres then runs as
//! nobody) or as an ordinary user (the run_as parts are skipped).

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use flakebox_postgres::{find_binaries, Binaries, DataMode, Listen, PgError, Server, Template};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn run_as() -> Option<(u32, u32)> {
    is_root().then_some((65534, 65534))
}

fn bins() -> &'static Binaries {
    static B: OnceLock<Binaries> = OnceLock::new();
    B.get_or_init(|| find_binaries(None).expect("PostgreSQL server binaries"))
}

/// One template shared by the tests that just need a server; kept between runs
/// under the target dir, so re-runs also exercise the reuse path.
fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        // Per uid: root's and a user's templates differ in owner.
        let name = format!("pg-test-cache-{}", nix::unistd::geteuid());
        let mut cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
        if fs::create_dir_all(&cache).is_err() {
            // Run by a user who cannot write the target dir.
            cache = std::env::temp_dir().join(name);
        }
        Template::ensure(bins(), &cache, None, run_as()).expect("template")
    })
}

fn listen(scratch: &Path, tcp: bool) -> Listen {
    Listen {
        tcp: tcp.then(|| {
            let port = flakebox_postgres::free_loopback_port().expect("free port");
            ([127, 0, 0, 1].into(), port)
        }),
        unix_dir: scratch.join("run"),
    }
}

/// psql with exactly the server's environment (none of ours), one query.
fn psql(server: &Server, extra_env: &[(&str, &str)], args: &[&str]) -> Result<String, String> {
    let psql = bins().psql.clone().expect("psql");
    let out = Command::new(psql)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(server.env())
        .envs(extra_env.iter().copied())
        .arg("-XAtq")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn query(server: &Server, sql: &str) -> String {
    psql(server, &[], &["-v", "ON_ERROR_STOP=1", "-c", sql]).expect("query")
}

/// Processes whose cwd or command line mentions `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").expect("/proc").flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd =
            fs::read_link(e.path().join("cwd")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if cmdline.contains(&needle) || cwd.starts_with(&needle) {
            found.push(format!("{pid}: {cmdline} (cwd {cwd})"));
        }
    }
    found
}

/// SysV shared memory segments created by `pid` (postgres' interlock segment).
fn shm_segments_of(pid: u32) -> usize {
    let text = fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
    text.lines().skip(1).filter(|l| l.split_whitespace().nth(4) == Some(&pid.to_string())).count()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split_whitespace().nth(4).is_some_and(|m| m.starts_with(&needle)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn finds_the_installed_server() {
    let b = bins();
    assert!(b.bindir.join("postgres").is_file());
    assert!(b.major >= 12, "{b:?}");
    if Path::new("/usr/lib/postgresql/15/bin/postgres").exists() {
        assert_eq!(b.major, 15);
        assert!(b.version.starts_with("15."), "{}", b.version);
    }
    assert!(b.psql.is_some());
    assert_eq!(flakebox_postgres::default_run_as(), run_as());
    let again = find_binaries(Some(&b.bindir)).expect("explicit dir");
    assert_eq!(again.version, b.version);
}

/// `postgres --version` is remembered per executable: read back from the
/// cache (a planted line proves it is used), rerun when the entry is junk.
#[test]
fn version_is_cached_per_executable() {
    let b = bins();
    let cache = tempfile::tempdir().expect("cache");
    let first = flakebox_postgres::find_binaries_cached(Some(&b.bindir), Some(cache.path())).expect("first");
    assert_eq!(first.version, b.version);
    let entries: Vec<_> = std::fs::read_dir(cache.path()).expect("list").filter_map(Result::ok).collect();
    assert_eq!(entries.len(), 1, "one entry for one executable");
    let entry = entries[0].path();
    assert_eq!(std::fs::read_to_string(&entry).expect("entry").trim(), b.version_line);
    std::fs::write(&entry, "postgres (PostgreSQL) 99.1\n").expect("plant");
    let planted =
        flakebox_postgres::find_binaries_cached(Some(&b.bindir), Some(cache.path())).expect("cached");
    assert_eq!((planted.version.as_str(), planted.major), ("99.1", 99), "read from the cache");
    std::fs::write(&entry, "garbage").expect("junk");
    let rerun = flakebox_postgres::find_binaries_cached(Some(&b.bindir), Some(cache.path())).expect("rerun");
    assert_eq!(rerun.version, b.version, "junk is ignored and replaced");
}

#[test]
fn explicit_bad_dir_is_named_in_the_error() {
    let dir = Path::new("/nonexistent/flakebox-pg-bin");
    let err = find_binaries(Some(dir)).expect_err("must fail");
    assert!(matches!(err, PgError::BadBinDir { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/flakebox-pg-bin"), "{msg}");
    assert!(msg.contains("postgres"), "{msg}");
}

#[test]
fn ensure_twice_reuses_the_cache() {
    let cache = tempfile::tempdir().expect("tempdir");
    let first = Template::ensure(bins(), cache.path(), None, run_as()).expect("first");
    assert!(first.built);
    let marker = first.dir.parent().expect("key dir").join("flakebox-template");
    let before = fs::metadata(&marker).expect("marker");
    let pg_version_ino = fs::metadata(first.dir.join("PG_VERSION")).expect("PG_VERSION").ino();

    let second = Template::ensure(bins(), cache.path(), None, run_as()).expect("second");
    assert!(!second.built, "second ensure must reuse the cache");
    assert_eq!(second.dir, first.dir);
    let after = fs::metadata(&marker).expect("marker");
    assert_eq!(before.ino(), after.ino());
    assert_eq!(before.mtime_nsec(), after.mtime_nsec());
    assert_eq!(
        fs::metadata(second.dir.join("PG_VERSION")).expect("PG_VERSION").ino(),
        pg_version_ino,
        "initdb must not run again"
    );
    // Only the template and its lock file: no build leftovers.
    let names: Vec<String> = fs::read_dir(cache.path().join("postgres"))
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn concurrent_first_runs_all_succeed() {
    let cache = tempfile::tempdir().expect("tempdir");
    let results: Vec<Result<Template, PgError>> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| Template::ensure(bins(), cache.path(), None, run_as()))).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let templates: Vec<Template> = results.into_iter().map(|r| r.expect("ensure")).collect();
    assert_eq!(templates.iter().filter(|t| t.built).count(), 1);
    assert!(templates.iter().all(|t| t.dir == templates[0].dir));
    let leftovers: Vec<_> = fs::read_dir(cache.path().join("postgres"))
        .expect("cache")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // And the result works.
    let scratch = tempfile::tempdir().expect("scratch");
    let server = Server::start(&templates[3], scratch.path(), &listen(scratch.path(), false), run_as())
        .expect("start");
    assert_eq!(query(&server, "select 1"), "1");
    server.stop().expect("stop");
}

#[test]
fn damaged_cache_is_rebuilt() {
    let cache = tempfile::tempdir().expect("tempdir");
    let t = Template::ensure(bins(), cache.path(), None, run_as()).expect("build");
    let key_dir = t.dir.parent().expect("key dir").to_path_buf();

    fs::remove_file(key_dir.join("flakebox-template")).expect("remove marker");
    let t = Template::ensure(bins(), cache.path(), None, run_as()).expect("rebuild 1");
    assert!(t.built, "missing marker must trigger a rebuild");

    fs::remove_file(t.dir.join("PG_VERSION")).expect("remove PG_VERSION");
    let t = Template::ensure(bins(), cache.path(), None, run_as()).expect("rebuild 2");
    assert!(t.built, "missing PG_VERSION must trigger a rebuild");

    if is_root() {
        std::os::unix::fs::chown(&t.dir, Some(4242), Some(4242)).expect("chown");
        let t2 = Template::ensure(bins(), cache.path(), None, run_as()).expect("rebuild 3");
        assert!(t2.built, "wrong owner must trigger a rebuild");
    }

    let t = Template::ensure(bins(), cache.path(), None, run_as()).expect("reuse");
    assert!(!t.built);
    let scratch = tempfile::tempdir().expect("scratch");
    let server = Server::start(&t, scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    assert_eq!(query(&server, "select 1"), "1");
    server.stop().expect("stop");
}

#[test]
fn init_sql_file_and_directory_are_visible() {
    let cache = tempfile::tempdir().expect("cache");
    let src = tempfile::tempdir().expect("init");

    let file = src.path().join("seed.sql");
    fs::write(&file, "create table seeded (x int);\ninsert into seeded values (42);\n").expect("write");
    let t = Template::ensure(bins(), cache.path(), Some(&file), run_as()).expect("file init");
    let scratch = tempfile::tempdir().expect("scratch");
    let server = Server::start(&t, scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    assert_eq!(query(&server, "select x from seeded"), "42");
    server.stop().expect("stop");

    // Applied in lexical order: 02 needs the table 01 creates, 10 runs last.
    let dir = src.path().join("migrations");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("02_data.sql"), "insert into m values ('second');\n").expect("write");
    fs::write(dir.join("01_schema.sql"), "create table m (step text);\n").expect("write");
    fs::write(dir.join("10_last.sql"), "insert into m select 'third' from m where step = 'second';\n")
        .expect("write");
    fs::write(dir.join("README"), "not sql").expect("write");
    let t2 = Template::ensure(bins(), cache.path(), Some(&dir), run_as()).expect("dir init");
    assert_ne!(t2.key, t.key, "init content is part of the key");
    let scratch = tempfile::tempdir().expect("scratch");
    let server = Server::start(&t2, scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    assert_eq!(query(&server, "select string_agg(step, ',' order by step) from m"), "second,third");
    server.stop().expect("stop");

    // Seeded state is reused, not re-applied.
    let again = Template::ensure(bins(), cache.path(), Some(&dir), run_as()).expect("reuse");
    assert!(!again.built);
}

#[test]
fn bad_init_sql_names_file_and_error_and_caches_nothing() {
    let cache = tempfile::tempdir().expect("cache");
    let src = tempfile::tempdir().expect("init");
    let file = src.path().join("broken_seed.sql");
    fs::write(&file, "create table fine (x int);\nselect * from no_such_table;\n").expect("write");
    let err = Template::ensure(bins(), cache.path(), Some(&file), run_as()).expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, PgError::InitSql { .. }), "{err:?}");
    assert!(msg.contains("broken_seed.sql"), "{msg}");
    assert!(msg.contains("no_such_table"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");

    let left: Vec<_> = fs::read_dir(cache.path().join("postgres"))
        .expect("cache root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "half-built cache left: {left:?}");
    assert!(processes_using(cache.path()).is_empty());
}

#[test]
fn serves_unix_socket_and_tcp_with_the_exported_env() {
    let scratch = tempfile::tempdir().expect("scratch");
    let l = listen(scratch.path(), true);
    let server = Server::start(template(), scratch.path(), &l, run_as()).expect("start");
    let env: std::collections::HashMap<_, _> = server.env().into_iter().collect();
    let port = l.tcp.expect("tcp").1.to_string();
    assert_eq!(env["PGHOST"], "127.0.0.1");
    assert_eq!(env["PGPORT"], port);
    assert_eq!(env["PGUSER"], "postgres");
    assert_eq!(env["PGDATABASE"], "postgres");
    assert_eq!(env["PGSSLMODE"], "disable");
    assert_eq!(env["DATABASE_URL"], format!("postgresql://postgres:postgres@127.0.0.1:{port}/postgres"));

    // TCP via PG* variables.
    let tcp = psql(&server, &[], &["-c", "select inet_server_port(), current_user, current_database()"])
        .expect("tcp");
    assert_eq!(tcp, format!("{port}|postgres|postgres"));
    // TCP via DATABASE_URL.
    let url = psql(&server, &[], &[&env["DATABASE_URL"], "-c", "select 1"]).expect("url");
    assert_eq!(url, "1");
    // The unix socket: inet_server_port() is NULL there.
    let sock = l.unix_dir.to_string_lossy().into_owned();
    let unix =
        psql(&server, &[("PGHOST", &sock)], &["-c", "select coalesce(inet_server_port()::text, 'unix')"])
            .expect("unix");
    assert_eq!(unix, "unix");
    server.stop().expect("stop");
}

#[test]
fn unix_only_database_url_works() {
    let scratch = tempfile::tempdir().expect("scratch");
    let server =
        Server::start(template(), scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    let env: std::collections::HashMap<_, _> = server.env().into_iter().collect();
    assert!(env["DATABASE_URL"].contains("?host=/"), "{}", env["DATABASE_URL"]);
    let out = psql(
        &server,
        &[],
        &[&env["DATABASE_URL"], "-c", "select coalesce(inet_server_port()::text, 'unix')"],
    )
    .expect("psql");
    assert_eq!(out, "unix");
    server.stop().expect("stop");
}

#[test]
fn two_servers_at_once_do_not_collide() {
    let a_dir = tempfile::tempdir().expect("scratch a");
    let b_dir = tempfile::tempdir().expect("scratch b");
    let a = Server::start(template(), a_dir.path(), &listen(a_dir.path(), true), run_as()).expect("a");
    let b = Server::start(template(), b_dir.path(), &listen(b_dir.path(), true), run_as()).expect("b");
    assert_ne!(a.port(), b.port());
    query(&a, "create table who (name text unique); insert into who values ('a')");
    query(&b, "create table who (name text unique); insert into who values ('b')");
    assert_eq!(query(&a, "select string_agg(name, ',') from who"), "a");
    assert_eq!(query(&b, "select string_agg(name, ',') from who"), "b");
    a.stop().expect("stop a");
    b.stop().expect("stop b");

    // A fresh start from the same template sees none of it.
    let c_dir = tempfile::tempdir().expect("scratch c");
    let c = Server::start(template(), c_dir.path(), &listen(c_dir.path(), false), run_as()).expect("c");
    assert_eq!(query(&c, "select count(*) from pg_tables where tablename = 'who'"), "0");
    c.stop().expect("stop c");
}

#[test]
fn tables_with_rows_reports_counts() {
    let scratch = tempfile::tempdir().expect("scratch");
    let server =
        Server::start(template(), scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    assert_eq!(server.tables_with_rows().expect("empty"), vec![]);
    query(
        &server,
        "create table users (id int); insert into users select generate_series(1, 3);
         create table empty_one (id int);
         create schema app; create table app.\"Odd|Name\" (id int); insert into app.\"Odd|Name\" values (1);
         create table parted (k int) partition by range (k);
         create table parted_1 partition of parted for values from (0) to (10);
         insert into parted values (1), (2);
         create temp table scratchpad (x int)",
    );
    query(&server, "create database other");
    let other = psql(
        &server,
        &[("PGDATABASE", "other")],
        &["-c", "create table t (x int); insert into t values (1), (2), (3), (4)"],
    );
    assert!(other.is_ok(), "{other:?}");
    let got = server.tables_with_rows().expect("tables");
    assert_eq!(
        got,
        vec![
            ("app.Odd|Name".to_string(), 1),
            ("other.public.t".to_string(), 4),
            ("public.parted".to_string(), 2),
            ("public.users".to_string(), 3),
        ]
    );
    server.stop().expect("stop");
}

/// The server's own count of the sessions clients opened: one per client
/// (the template's saved statistics do not carry over), the count's own
/// connection not among them.
#[test]
fn client_sessions_counts_what_clients_opened() {
    let scratch = tempfile::tempdir().expect("scratch");
    let server =
        Server::start(template(), scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    query(&server, "select 1");
    query(&server, "select 2");
    assert_eq!(server.client_sessions().expect("count"), 2);
    // An earlier count's session is a session like any other: count once.
    assert_eq!(server.client_sessions().expect("count again"), 3);
    server.stop().expect("stop");
}

#[test]
fn stop_leaves_nothing_behind() {
    let scratch = tempfile::tempdir().expect("scratch");
    let l = listen(scratch.path(), true);
    let server = Server::start(template(), scratch.path(), &l, run_as()).expect("start");
    let pid = server.pid().expect("pid");
    assert!(!processes_using(scratch.path()).is_empty(), "server should be visible");
    assert_eq!(shm_segments_of(pid), 1, "postgres' interlock segment");
    let sock = l.unix_dir.join(format!(".s.PGSQL.{}", l.port()));
    assert!(sock.exists());
    query(&server, "create table t (x int); insert into t values (1)");

    server.stop().expect("stop");
    assert_eq!(processes_using(scratch.path()), Vec::<String>::new());
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(shm_segments_of(pid), 0, "shared memory must be gone");
    assert!(!sock.exists());
    assert!(mounts_under(scratch.path()).is_empty());
    // Nothing in /dev/shm either (dynamic shared memory is mmap'ed files).
    let path = scratch.path().to_path_buf();
    scratch.close().expect("scratch removable");
    assert!(!path.exists());
}

#[test]
fn drop_kills_the_server() {
    let scratch = tempfile::tempdir().expect("scratch");
    let server =
        Server::start(template(), scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    let pid = server.pid().expect("pid");
    drop(server);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(processes_using(scratch.path()), Vec::<String>::new());
    assert!(mounts_under(scratch.path()).is_empty());
}

#[test]
fn port_in_use_fails_with_the_log_tail() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let scratch = tempfile::tempdir().expect("scratch");
    let l = Listen { tcp: Some(([127, 0, 0, 1].into(), port)), unix_dir: scratch.path().join("run") };
    let err = Server::start(template(), scratch.path(), &l, run_as()).expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, PgError::Start { .. }), "{err:?}");
    assert!(msg.contains("could not bind") || msg.contains("in use"), "{msg}");
    assert_eq!(processes_using(scratch.path()), Vec::<String>::new());
    assert!(mounts_under(scratch.path()).is_empty());
}

#[test]
fn socket_already_taken_fails_with_the_log_tail() {
    let a_dir = tempfile::tempdir().expect("scratch a");
    let b_dir = tempfile::tempdir().expect("scratch b");
    let shared = listen(a_dir.path(), false);
    let a = Server::start(template(), a_dir.path(), &shared, run_as()).expect("a");
    let err = Server::start(template(), b_dir.path(), &shared, run_as()).expect_err("b must fail");
    let msg = err.to_string();
    assert!(msg.contains("lock file") || msg.contains("already"), "{msg}");
    assert_eq!(query(&a, "select 1"), "1", "the first server is unharmed");
    a.stop().expect("stop");
}

#[test]
fn too_long_socket_path_is_rejected_up_front() {
    let scratch = tempfile::tempdir().expect("scratch");
    let l = Listen { tcp: None, unix_dir: scratch.path().join("x".repeat(100)) };
    let err = Server::start(template(), scratch.path(), &l, run_as()).expect_err("must fail");
    assert!(err.to_string().contains("107"), "{err}");
}

#[test]
fn runs_as_nobody_when_root_and_both_data_modes_work() {
    let modes: &[DataMode] = if is_root() {
        &[DataMode::Copy, DataMode::Overlay, DataMode::Auto]
    } else {
        &[DataMode::Copy, DataMode::Auto]
    };
    for &mode in modes {
        let scratch = tempfile::tempdir().expect("scratch");
        let server =
            Server::spawn_with(template(), scratch.path(), &listen(scratch.path(), true), run_as(), mode)
                .and_then(|s| s.wait_ready())
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let pid = server.pid().expect("pid");
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
        let want = run_as().map_or(nix::unistd::geteuid().as_raw(), |(u, _)| u);
        assert!(uid_line.split_whitespace().skip(1).all(|u| u == want.to_string()), "{mode:?}: {uid_line}");
        assert_eq!(
            server.is_overlay(),
            mode == DataMode::Overlay || (mode == DataMode::Auto && is_root()),
            "{mode:?}"
        );
        query(&server, "create table t (x text unique); insert into t values ('fresh')");
        assert_eq!(query(&server, "select current_user"), "postgres");
        server.stop().expect("stop");
        assert!(mounts_under(scratch.path()).is_empty());
    }
}

#[test]
fn rootless_run_as_self_is_accepted() {
    // Passing one's own uid is the rootless case; as root it is refused.
    let me = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let scratch = tempfile::tempdir().expect("scratch");
    let l = listen(scratch.path(), false);
    if is_root() {
        let err = Server::start(template(), scratch.path(), &l, Some(me)).expect_err("root");
        assert!(err.to_string().contains("root"), "{err}");
        let err = Server::start(template(), scratch.path(), &l, None).expect_err("root");
        assert!(err.to_string().contains("run_as"), "{err}");
    } else {
        let server = Server::start(template(), scratch.path(), &l, Some(me)).expect("start");
        assert_eq!(query(&server, "select 1"), "1");
        server.stop().expect("stop");
    }
}

/// The evidence query speaks the protocol itself: no psql needed.
#[test]
fn evidence_needs_no_psql() {
    let mut t = template().clone();
    t.binaries.psql = None;
    let scratch = tempfile::tempdir().expect("scratch");
    let server = Server::start(&t, scratch.path(), &listen(scratch.path(), false), run_as()).expect("start");
    assert_eq!(server.tables_with_rows().expect("evidence without psql"), Vec::<(String, u64)>::new());
    server.stop().expect("stop");
}

const HELPER: &str = "FLAKEBOX_PG_TEST_HELPER";

/// Not a test by itself: the body of the child processes the next tests spawn
/// (this same test binary, run with the environment variable set).
#[test]
fn helper_process() {
    let Ok(role) = std::env::var(HELPER) else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var_os("HELPER_DIR").expect("HELPER_DIR"));
    match role.as_str() {
        "ensure" => {
            let t = Template::ensure(bins(), &dir, None, run_as()).expect("ensure");
            say(&format!("built={}", t.built));
        }
        "serve" => {
            // Copy mode: a SIGKILLed helper cannot unmount an overlay, and outside a
            // mount namespace that would outlive the test.
            let server = Server::spawn_with(template(), &dir, &listen(&dir, false), run_as(), DataMode::Copy)
                .and_then(|s| s.wait_ready())
                .expect("start");
            say(&format!("pid={}", server.pid().expect("pid")));
            // Block until killed.
            let mut sink = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
            drop(server);
        }
        other => panic!("unknown helper role {other}"),
    }
}

/// To the parent, bypassing libtest's capture of `println!` (which would hold
/// the line until the helper ends, and the serving helper never ends by itself).
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout();
    writeln!(out, "{line}").and_then(|_| out.flush()).expect("write to parent");
}

fn helper(role: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", "helper_process", "--nocapture", "--test-threads=1"])
        .env(HELPER, role)
        .env("HELPER_DIR", dir);
    cmd
}

#[test]
fn concurrent_first_runs_in_four_processes() {
    let cache = tempfile::tempdir().expect("cache");
    let children: Vec<_> = (0..4)
        .map(|_| {
            helper("ensure", cache.path()).stdout(std::process::Stdio::piped()).spawn().expect("spawn helper")
        })
        .collect();
    let mut built = 0;
    for c in children {
        let out = c.wait_with_output().expect("helper");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        // libtest's "test helper_process ... " may precede the line.
        if text.lines().any(|l| l.ends_with("built=true")) {
            built += 1;
        } else {
            assert!(text.lines().any(|l| l.ends_with("built=false")), "{text}");
        }
    }
    assert_eq!(built, 1, "exactly one process builds, the others reuse");
}

#[test]
fn server_dies_with_a_sigkilled_owner() {
    use std::io::BufRead;
    let scratch = tempfile::tempdir().expect("scratch");
    let mut child = helper("serve", scratch.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("stdout");
    let pid: i32 = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split("pid=").nth(1).and_then(|p| p.trim().parse().ok()))
        .expect("helper reports the postmaster pid");
    // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd owned by nobody else.
    let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };

    child.kill().expect("SIGKILL helper");
    child.wait().expect("reap helper");

    // The postmaster got SIGQUIT (parent-death signal) and shuts down: wait for
    // its exit event, bounded so a regression fails instead of hanging.
    let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), nix::poll::PollFlags::POLLIN)];
    let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20_000u16)).expect("poll");
    assert_eq!(n, 1, "postmaster {pid} still running 20 s after its owner died");
    assert_eq!(processes_using(scratch.path()), Vec::<String>::new());
    assert_eq!(shm_segments_of(pid as u32), 0, "shared memory must be gone");
}

/// The sandbox may hide the cache's path (a cache under the host's /tmp); the
/// template is then given as `/proc/self/fd/N`, a directory opened beforehand,
/// and the server must start from a copy of what it names.
#[test]
fn template_given_as_an_open_descriptor_is_copied() {
    let dir = fs::File::open(&template().dir).expect("open the template");
    let mut t = template().clone();
    t.dir = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)).into();
    let scratch = tempfile::tempdir().expect("scratch");
    let server =
        Server::spawn_with(&t, scratch.path(), &listen(scratch.path(), false), run_as(), DataMode::Copy)
            .and_then(|s| s.wait_ready())
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!server.is_overlay());
    let data = fs::symlink_metadata(server.data_dir()).expect("data dir");
    assert!(data.is_dir(), "a copy, not a symlink to the template");
    assert_eq!(query(&server, "select 11"), "11");
    server.stop().expect("stop");
}
