//! The cached, initialised (and optionally seeded) cluster every run starts from.
//!
//! Layout under `cache_root/postgres/`:
//!
//! ```text
//! pg15.18-<hash>/data/             the cluster (owned by the cache owner, 0700)
//! pg15.18-<hash>/flakebox-template marker, written last: the key
//! pg15.18-<hash>.lock              flock: one builder per key at a time
//! .build-<pid>-<rand>/             a build in progress (renamed to the key)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hostfs::remove_tree;

use crate::binaries::Binaries;
use crate::error::{io_err, PgError};
use crate::fnv::Fnv128;
use crate::fsutil::{copy_options, make_unique_dir};
use crate::listen::Listen;
use crate::postmaster::launch;
use crate::proc::{clean_command, log_stdio, log_tail};
use crate::run_as::{effective_run_as, first_untraversable};

/// Appended to the template's postgresql.conf: everything that makes a throwaway
/// server fast and self-contained. Part of the cache key.
const CONF: &str = "
# --- flakebox: a throwaway server; durability is pointless here ---
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_connections = 50
shared_buffers = 32MB
huge_pages = off
# Dynamic shared memory as files in the data directory, not in the host's /dev/shm,
# so a killed server leaves nothing behind outside its scratch directory.
dynamic_shared_memory_type = mmap
logging_collector = off
log_destination = 'stderr'
jit = off
timezone = 'UTC'
log_timezone = 'UTC'
listen_addresses = ''
";

/// Bump to invalidate every existing template when the build recipe changes.
const RECIPE: &str = "flakebox-template-1";
const MARKER: &str = "flakebox-template";

/// A ready template cluster.
#[derive(Debug, Clone)]
pub struct Template {
    /// The cluster directory to copy (`<cache>/postgres/<key>/data`).
    pub dir: PathBuf,
    /// The cache key, e.g. `pg15.18-0123456789abcdef0123`.
    pub key: String,
    /// Whether this call built it (false: reused from the cache).
    pub built: bool,
    /// The binaries it was made with (the server must be the same).
    pub binaries: Binaries,
    /// Owner of the cluster files: `run_as`'s uid in the root case, else the caller.
    pub data_owner: u32,
}

impl Template {
    /// Returns the cached template for these binaries and init content, building it
    /// first if it is missing or damaged.
    ///
    /// `init`: a SQL file, or a directory whose `*.sql` files are applied in lexical
    /// order, once, into the template. `run_as`: the unprivileged uid/gid for
    /// initdb and the seeding server when the caller is root (ignored when it is the
    /// caller's own uid). The template itself always belongs to the caller (the
    /// cache owner); [`crate::Server::start`] copies it with `run_as` as owner, so a
    /// cache under `/root` (mode 0700) works although `nobody` cannot enter it.
    pub fn ensure(
        bins: &Binaries,
        cache_root: &Path,
        init: Option<&Path>,
        run_as: Option<(u32, u32)>,
    ) -> Result<Template, PgError> {
        let files = init_files(init)?;
        let lc_ctype = ctype_locale();
        let euid = nix::unistd::geteuid().as_raw();
        let run_as = effective_run_as(run_as, euid)?;
        // The cluster files belong to the uid postgres runs as (so the root case can
        // start it through an overlay without copying); that uid is part of the key.
        let data_owner = run_as.map_or(euid, |(uid, _)| uid);
        let key = cache_key(bins, &files, lc_ctype, data_owner)?;
        let root = cache_root.join("postgres");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(io_err(format!("mkdir {}", root.display())))?;
        let final_dir = root.join(&key);
        let template = |built| Template {
            dir: final_dir.join("data"),
            key: key.clone(),
            built,
            binaries: bins.clone(),
            data_owner,
        };
        if is_valid(&final_dir, &key, euid, data_owner) {
            return Ok(template(false));
        }

        // One builder per key: concurrent first runs wait for it instead of racing
        // two initdbs on a shared 2-core machine. The rename below keeps this safe
        // even where flock is a no-op (some network filesystems).
        let _lock = lock(&root.join(format!("{key}.lock")))?;
        if is_valid(&final_dir, &key, euid, data_owner) {
            return Ok(template(false));
        }
        if final_dir.exists() {
            // Damaged: move it aside atomically, then delete, so nobody ever sees a
            // half-deleted template under the real name.
            let trash = root.join(format!(".trash-{}-{:08x}", std::process::id(), fastrand::u32(..)));
            fs::rename(&final_dir, &trash)
                .map_err(io_err(format!("move damaged {} aside", final_dir.display())))?;
            remove_tree(&trash)?;
        }
        remove_stale_builds(&root, ".build-");
        remove_stale_builds(&root, ".trash-");

        // The reaper outlives the guard (dropped after it): the staging
        // directory is gone, renamed or removed, before it is disarmed.
        let (staging, _reaper) = build(bins, &root, &files, lc_ctype, run_as)?;
        let staging = DirGuard(staging);
        write_marker(&staging.0, &key)?;
        match fs::rename(&staging.0, &final_dir) {
            Ok(()) => {
                std::mem::forget(staging);
                Ok(template(true))
            }
            // Lost a race (only possible without working flock): keep the winner's.
            Err(_) if is_valid(&final_dir, &key, euid, data_owner) => Ok(template(false)),
            Err(e) => Err(io_err(format!("rename into {}", final_dir.display()))(e)),
        }
    }
}

/// Removes a directory tree when dropped (error paths of a build).
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0);
    }
}

/// Holds an exclusive flock until dropped.
struct Lock(File);

fn lock(path: &Path) -> Result<Lock, PgError> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("open {}", path.display())))?;
    loop {
        // SAFETY: flock on an fd we own; no memory involved.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(Lock(f));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(io_err(format!("flock {}", path.display()))(e));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release it too, this is explicit.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// A template is usable if its marker names this key, it looks like a stopped
/// cluster, its directory belongs to us and its cluster to the uid postgres runs as.
fn is_valid(dir: &Path, key: &str, euid: u32, data_owner: u32) -> bool {
    let data = dir.join("data");
    let owned = |p: &Path, uid: u32| fs::symlink_metadata(p).map(|m| m.uid() == uid).unwrap_or(false);
    let marker_ok =
        fs::read_to_string(dir.join(MARKER)).map(|s| s.lines().next() == Some(key)).unwrap_or(false);
    marker_ok
        && owned(dir, euid)
        && owned(&data, data_owner)
        && owned(&data.join("PG_VERSION"), data_owner)
        && data.join("PG_VERSION").is_file()
        && data.join("global/pg_control").is_file()
        && !data.join("postmaster.pid").exists()
}

fn write_marker(staging: &Path, key: &str) -> Result<(), PgError> {
    // initdb ran with --no-sync; make the cluster durable before declaring it
    // complete, or a power loss could leave a marker over empty files.
    let d = File::open(staging).map_err(io_err(format!("open {}", staging.display())))?;
    // SAFETY: syncfs on an fd we own.
    unsafe {
        libc::syncfs(d.as_raw_fd());
    }
    let path = staging.join(MARKER);
    let mut f = File::create(&path).map_err(io_err(format!("create {}", path.display())))?;
    writeln!(f, "{key}").and_then(|_| f.sync_all()).map_err(io_err(format!("write {}", path.display())))
}

/// `init` as the ordered list of files to apply.
fn init_files(init: Option<&Path>) -> Result<Vec<PathBuf>, PgError> {
    let Some(init) = init else {
        return Ok(Vec::new());
    };
    let bad = |reason: String| PgError::BadInit { path: init.to_path_buf(), reason };
    let meta = fs::metadata(init).map_err(|e| bad(e.to_string()))?;
    if meta.is_file() {
        return Ok(vec![init.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(init)
        .map_err(|e| bad(e.to_string()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql") && p.is_file())
        .collect();
    // Lexical by file name (bytes), like `ls` in the C locale: 001_a.sql, 002_b.sql.
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(bad("directory has no *.sql files".into()));
    }
    Ok(files)
}

/// C collation (fast, identical everywhere) but a UTF-8 ctype where the system has
/// one, so upper()/lower()/ILIKE handle non-ASCII letters as in production.
fn ctype_locale() -> &'static str {
    let has = |p: &str| Path::new(p).exists();
    if has("/usr/lib/locale/C.utf8") || has("/usr/lib/locale/C.UTF-8") {
        "C.UTF-8"
    } else {
        "C"
    }
}

fn cache_key(bins: &Binaries, files: &[PathBuf], lc_ctype: &str, data_owner: u32) -> Result<String, PgError> {
    let mut h = Fnv128::new();
    h.field(&data_owner.to_le_bytes());
    h.field(RECIPE.as_bytes());
    h.field(bins.version_line.as_bytes());
    h.field(CONF.as_bytes());
    h.field(lc_ctype.as_bytes());
    for f in files {
        let content = fs::read(f).map_err(|e| PgError::BadInit { path: f.clone(), reason: e.to_string() })?;
        h.field(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        h.field(&content);
    }
    let hex = h.hex();
    let version: String = bins.version.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    Ok(format!("pg{version}-{}", &hex[..20]))
}

/// Builds a complete cluster under `root/.build-*` and returns that directory (with
/// `data/` inside, no marker yet) and the reaper that removes it if flakebox dies
/// before it is renamed. Cleans up after itself on error.
fn build(
    bins: &Binaries,
    root: &Path,
    files: &[PathBuf],
    lc_ctype: &str,
    run_as: Option<(u32, u32)>,
) -> Result<(PathBuf, hostfs::Reaper), PgError> {
    // The cluster is built where the building uid can reach it. Running as
    // ourselves: right in the cache, renamed into place at the end. As another uid
    // (root building for nobody): the cache may sit under /root (0700), so build in a
    // private directory under $TMPDIR and copy it into the cache, owned by us.
    // The seeding server's socket lives in the build directory, so its path length
    // must fit too.
    let in_cache = run_as.is_none() && root.as_os_str().len() < 60;
    let (parent, prefix) =
        if in_cache { (root.to_path_buf(), ".build-") } else { (std::env::temp_dir(), "flakebox-pg-build-") };
    if !in_cache {
        remove_stale_builds(&parent, prefix);
        if let Some((uid, gid)) = run_as {
            if let Some(blocker) = first_untraversable(&parent, uid, gid) {
                return Err(PgError::BadPath {
                    path: blocker,
                    reason: format!(
                        "uid {uid} (initdb) cannot search this directory; set TMPDIR to one it can"
                    ),
                });
            }
        }
    }
    // Declared before the guard, so dropped after it.
    let (dir, reaper) = make_unique_dir(&parent, prefix, 0o700, run_as)?;
    let build_dir = DirGuard(dir);
    let data = build_dir.0.join("data");

    initdb(bins, &data, &build_dir.0.join("initdb.log"), lc_ctype, run_as, &reaper)?;
    let conf = data.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut f| f.write_all(CONF.as_bytes()))
        .map_err(io_err(format!("append to {}", conf.display())))?;

    if !files.is_empty() {
        seed(bins, &build_dir.0, &data, files, run_as, &reaper)?;
    }
    trim_wal(bins, &data);
    for log in ["initdb.log", "server.log"] {
        let _ = fs::remove_file(build_dir.0.join(log));
    }

    if in_cache {
        let dir = build_dir.0.clone();
        std::mem::forget(build_dir);
        return Ok((dir, reaper));
    }
    let (dir, staging_reaper) = make_unique_dir(root, ".build-", 0o700, None)?;
    let staging = DirGuard(dir);
    hostfs::copy_tree(&data, &staging.0.join("data"), &copy_options(run_as))?;
    let dir = staging.0.clone();
    std::mem::forget(staging);
    Ok((dir, staging_reaper))
}

fn initdb(
    bins: &Binaries,
    data: &Path,
    log_path: &Path,
    lc_ctype: &str,
    run_as: Option<(u32, u32)>,
    reaper: &hostfs::Reaper,
) -> Result<(), PgError> {
    let log = File::create(log_path).map_err(io_err(format!("create {}", log_path.display())))?;
    let mut cmd = clean_command(&bins.initdb(), &bins.bindir);
    cmd.arg("-D")
        .arg(data)
        .arg("-U")
        .arg(crate::client_env::USER)
        .args(["-A", "trust", "-E", "UTF8", "--locale=C"])
        .arg(format!("--lc-ctype={lc_ctype}"))
        // Nothing here needs to survive a power loss until write_marker's syncfs.
        .arg("--no-sync")
        // 1 MB WAL segments instead of 16: the template carries a few segments that
        // every start copies, and a test's WAL never needs big ones.
        .arg("--wal-segsize=1");
    if bins.major >= 14 {
        cmd.arg("--no-instructions");
    }
    let (out, err) = log_stdio(&log).map_err(io_err("dup log fd"))?;
    cmd.stdout(out).stderr(err);
    if let Some((uid, gid)) = run_as {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(gid);
    }
    // initdb's backends go on writing for a moment after it is killed.
    reaper.hold_in(&mut cmd);
    let status = cmd.status().map_err(io_err(format!("run {}", bins.initdb().display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(PgError::Initdb { status: status.to_string(), tail: log_tail(log_path, 3000) })
    }
}

/// Applies the init files through a temporary server on a socket in the (private)
/// build directory, then stops it cleanly so the template needs no recovery.
fn seed(
    bins: &Binaries,
    build_dir: &Path,
    data: &Path,
    files: &[PathBuf],
    run_as: Option<(u32, u32)>,
    reaper: &hostfs::Reaper,
) -> Result<(), PgError> {
    let psql = bins.psql()?.to_path_buf();
    let listen = Listen { tcp: None, unix_dir: build_dir.to_path_buf() };
    let log = build_dir.join("server.log");
    let server = launch(bins, data, &log, &listen, run_as, Some(reaper))?.wait_ready()?;
    for file in files {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.clone());
        if let Err(error) = crate::psql::run_init_file(&psql, &bins.bindir, build_dir, listen.port(), &abs) {
            // Dropping the server kills it; the build directory goes with the guard.
            return Err(PgError::InitSql { file: file.clone(), error });
        }
    }
    server.stop_clean()
}

/// Keeps only the WAL segment holding the last (shutdown) checkpoint and the one
/// after it (the record may cross the boundary). Older segments are never read
/// again; newer ones are merely recycled segments kept for reuse, which postgres
/// recreates on demand. The cluster must be cleanly shut down; every start would
/// otherwise copy ~5 of them. Best effort: without pg_controldata the template is
/// merely a few MB bigger.
fn trim_wal(bins: &Binaries, data: &Path) {
    let Ok(out) = clean_command(&bins.bindir.join("pg_controldata"), &bins.bindir)
        .arg("-D")
        .arg(data)
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
    let (Some(state), Some(redo)) =
        (field("Database cluster state:"), field("Latest checkpoint's REDO WAL file:"))
    else {
        return;
    };
    if !out.status.success() || state != "shut down" || !is_wal_name(&redo) {
        return;
    }
    let Some(redo_no) = segment_no(&redo) else {
        return;
    };
    let Ok(rd) = fs::read_dir(data.join("pg_wal")) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_wal_name(name) || name[..8] != redo[..8] {
            continue;
        }
        let Some(no) = segment_no(name) else {
            continue;
        };
        if no != redo_no && no != redo_no + 1 {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Segment number of a WAL file name (timeline, log id, segment), for the 1 MB
/// segments `initdb --wal-segsize=1` gives: 4096 segments per log id.
fn segment_no(name: &str) -> Option<u64> {
    let log = u64::from_str_radix(name.get(8..16)?, 16).ok()?;
    let seg = u64::from_str_radix(name.get(16..24)?, 16).ok()?;
    Some(log * 4096 + seg)
}

fn is_wal_name(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Removes `<prefix><pid>-*` directories whose process is gone (crashed builds).
fn remove_stale_builds(parent: &Path, prefix: &str) {
    let Ok(rd) = fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = remove_tree(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_dir_order_is_lexical_and_sql_only() {
        let d = tempfile::tempdir().expect("tempdir");
        for n in ["b.sql", "a.sql", "c.txt", "10.sql", "2.sql"] {
            fs::write(d.path().join(n), "select 1;").expect("write");
        }
        let files = init_files(Some(d.path())).expect("files");
        let names: Vec<_> =
            files.iter().map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or("")).collect();
        assert_eq!(names, ["10.sql", "2.sql", "a.sql", "b.sql"]);
    }

    #[test]
    fn empty_init_dir_is_an_error() {
        let d = tempfile::tempdir().expect("tempdir");
        assert!(matches!(init_files(Some(d.path())), Err(PgError::BadInit { .. })));
    }
}
