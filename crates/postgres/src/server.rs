use std::fs::{self, OpenOptions};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::binaries::Binaries;
use crate::error::{io_err, nix_err, PgError};
use crate::fsutil::{copy_tree, first_untraversable};
use crate::proc::{clean_command, configure_server_child, log_stdio, log_tail, pidfd_open};
use crate::template::Template;
use crate::{DATABASE, PASSWORD, USER};

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// TCP address and port; `None` for the unix socket only.
    pub tcp: Option<(IpAddr, u16)>,
    /// Directory for the unix socket (`.s.PGSQL.<port>` and its lock file). Created
    /// if missing; when the server runs as another uid it is chowned to that uid.
    pub unix_dir: PathBuf,
}

impl Listen {
    /// The port: the TCP one, else 5432 (it also names the unix socket file).
    pub fn port(&self) -> u16 {
        self.tcp.map(|(_, p)| p).unwrap_or(5432)
    }
}

/// A free TCP port on 127.0.0.1 at the time of the call, for `--share net`, where
/// the server shares the host's network namespace. Another process can take it
/// before postgres binds it; `Server::start` then fails with the log tail.
pub fn free_loopback_port() -> io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    Ok(l.local_addr()?.port())
}

/// Settings given on the command line at every start (the template's
/// postgresql.conf carries the durable ones, see `template::CONF`).
fn listen_args(listen: &Listen) -> Vec<String> {
    let addr = match listen.tcp {
        Some((ip, _)) => ip.to_string(),
        None => String::new(),
    };
    vec![
        "-c".into(),
        format!("port={}", listen.port()),
        "-c".into(),
        format!("listen_addresses={addr}"),
        "-c".into(),
        format!("unix_socket_directories={}", listen.unix_dir.display()),
    ]
}

/// How long a server may take to become ready before we give up. Generous: a
/// loaded CI machine can be slow, and early exits are detected at once anyway.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an immediate shutdown may take before SIGKILL.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// How [`Server::spawn_with`] makes the scratch data directory from the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Overlay when running as root with a `run_as` uid (falling back to a copy if
    /// the mount fails), a copy otherwise.
    Auto,
    /// Always copy the template (~24 MB, ~1000 files: about 20 ms here).
    Copy,
    /// Always mount an overlay (read-only template below, scratch tmpfs above);
    /// needs CAP_SYS_ADMIN over the current mount namespace. Near-free.
    Overlay,
}

/// A server that has been spawned but may not be ready yet. Lets the sandbox do
/// other setup while postgres starts; [`Starting::wait_ready`] finishes the job.
/// Dropping it kills the server.
#[derive(Debug)]
pub struct Starting {
    server: Server,
    inotify: Inotify,
}

/// A running throwaway server. Dropping it kills it (immediate shutdown).
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
    data_dir: PathBuf,
    log: PathBuf,
    listen: Listen,
    /// `data_dir` is an overlay mount of ours, to unmount after the server exits.
    overlay: bool,
}

impl Server {
    /// Makes `scratch/data` from `template` (see [`DataMode::Auto`]), starts postgres
    /// on it and waits until it accepts connections. `scratch` (created if missing)
    /// also gets `postgres.log` (the server's stdout and stderr) and, for an overlay,
    /// `pg-upper/` and `pg-work/`. `template.dir` and the binaries must be reachable
    /// from the caller's mount namespace during this call (an overlay keeps its lower
    /// layer afterwards even if the path is then hidden; a copy needs it no longer).
    ///
    /// `run_as`: the uid/gid postgres runs as; required when the caller is root
    /// (postgres refuses to run as root), see [`crate::default_run_as`]. The data is
    /// owned by it, and `scratch` gets search permission for it if it lacks that.
    pub fn start(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
    ) -> Result<Server, PgError> {
        Self::spawn_with(template, scratch, listen, run_as, DataMode::Auto)?.wait_ready()
    }

    /// The first half of [`Server::start`]: prepare the data directory and spawn,
    /// without waiting, so the caller can do other setup meanwhile.
    pub fn spawn_with(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
        mode: DataMode,
    ) -> Result<Starting, PgError> {
        fs::create_dir_all(scratch).map_err(io_err(format!("mkdir {}", scratch.display())))?;
        let euid = nix::unistd::geteuid().as_raw();
        let run_as = effective_run_as(run_as, euid)?;
        if let Some((uid, gid)) = run_as {
            make_traversable(scratch, uid, gid)?;
        }
        let data_dir = scratch.join("data");
        // A leftover from an earlier start in the same scratch is not reused: a
        // throwaway server starts from the template, always.
        if data_dir.exists() {
            let _ = nix::mount::umount2(&data_dir, nix::mount::MntFlags::MNT_DETACH);
            crate::fsutil::remove_tree(&data_dir)
                .map_err(io_err(format!("remove old {}", data_dir.display())))?;
        }
        let want_overlay = match mode {
            DataMode::Copy => false,
            DataMode::Overlay => true,
            // The overlay shows the template's owner; postgres needs to own its files.
            DataMode::Auto => run_as.is_some_and(|(uid, _)| uid == template.data_owner),
        };
        let mut overlay = false;
        if want_overlay {
            match mount_overlay(&template.dir, scratch, &data_dir, run_as) {
                Ok(()) => overlay = true,
                Err(e) if mode == DataMode::Overlay => return Err(e),
                Err(_) => {
                    // No mount permission (or no overlayfs): copy instead.
                    let _ = fs::remove_dir(&data_dir);
                }
            }
        }
        if !overlay {
            copy_tree(&template.dir, &data_dir, run_as)?;
            // postgres insists on 0700 (or 0750) for its data directory.
            fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err(format!("chmod {}", data_dir.display())))?;
        }
        let started =
            start_in_place(&template.binaries, &data_dir, &scratch.join("postgres.log"), listen, run_as);
        match started {
            Ok(mut s) => {
                s.server.overlay = overlay;
                Ok(s)
            }
            Err(e) => {
                if overlay {
                    let _ = nix::mount::umount2(&data_dir, nix::mount::MntFlags::MNT_DETACH);
                }
                Err(e)
            }
        }
    }

    /// [`Server::spawn_with`] in [`DataMode::Auto`].
    pub fn spawn(
        template: &Template,
        scratch: &Path,
        listen: &Listen,
        run_as: Option<(u32, u32)>,
    ) -> Result<Starting, PgError> {
        Self::spawn_with(template, scratch, listen, run_as, DataMode::Auto)
    }

    /// Whether the data directory is an overlay on the template (else a copy).
    pub fn is_overlay(&self) -> bool {
        self.overlay
    }
    /// The postmaster's pid (in the caller's PID namespace).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The port in use (TCP, and the number in the unix socket's name).
    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// The cluster directory (`scratch/data`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (`scratch/postgres.log`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Where the server listens.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// A libpq URL: over TCP when the server listens there, else over the socket.
    /// `postgresql://` rather than `postgres://`: SQLAlchemy accepts only the former,
    /// libpq, sqlx, Rails, Django and node-postgres accept both.
    pub fn database_url(&self) -> String {
        match self.listen.tcp {
            Some((ip, port)) => {
                let host = match ip {
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    IpAddr::V4(v4) => v4.to_string(),
                };
                format!("postgresql://{USER}:{PASSWORD}@{host}:{port}/{DATABASE}")
            }
            None => format!(
                "postgresql://{USER}:{PASSWORD}@/{DATABASE}?host={}&port={}",
                self.listen.unix_dir.display(),
                self.port()
            ),
        }
    }

    /// The environment for the test command: the libpq variables (psql, psycopg,
    /// Rails' pg, Django, node-postgres, sqlx's `PgConnectOptions`), `DATABASE_URL`
    /// (Rails, sqlx, dj-database-url, SQLAlchemy setups), the Docker image's
    /// `POSTGRES_*` names many compose-derived test configs read, and the Heroku-style
    /// `JDBC_DATABASE_URL`.
    pub fn env(&self) -> Vec<(String, String)> {
        let host = match self.listen.tcp {
            Some((ip, _)) => ip.to_string(),
            None => self.listen.unix_dir.display().to_string(),
        };
        let port = self.port().to_string();
        let jdbc_host = match self.listen.tcp {
            Some((IpAddr::V6(v6), _)) => format!("[{v6}]"),
            Some((ip, _)) => ip.to_string(),
            // JDBC cannot use a unix socket without extra libraries; the URL still
            // names the database so tools that parse it do not break.
            None => "localhost".into(),
        };
        let v = vec![
            ("DATABASE_URL", self.database_url()),
            ("PGHOST", host.clone()),
            ("PGPORT", port.clone()),
            ("PGUSER", USER.into()),
            ("PGPASSWORD", PASSWORD.into()),
            ("PGDATABASE", DATABASE.into()),
            ("PGSSLMODE", "disable".into()),
            ("POSTGRES_HOST", host),
            ("POSTGRES_PORT", port.clone()),
            ("POSTGRES_USER", USER.into()),
            ("POSTGRES_PASSWORD", PASSWORD.into()),
            ("POSTGRES_DB", DATABASE.into()),
            (
                "JDBC_DATABASE_URL",
                format!("jdbc:postgresql://{jdbc_host}:{port}/{DATABASE}?user={USER}&password={PASSWORD}"),
            ),
        ];
        v.into_iter().map(|(k, val)| (k.to_owned(), val)).collect()
    }

    /// User tables (in every connectable database) that hold rows now, with exact
    /// counts, sorted by name. Names are `schema.table` for the test's database
    /// ([`crate::DATABASE`]) and `db.schema.table` for any other database.
    pub fn tables_with_rows(&self) -> Result<Vec<(String, u64)>, PgError> {
        crate::evidence::tables_with_rows(self)
    }

    /// Immediate shutdown: SIGQUIT to the postmaster (it quits its children and
    /// removes its socket, lock file and shared memory), SIGKILL to the whole process
    /// group if that takes longer than a few seconds. Returns once nothing is left.
    pub fn stop(mut self) -> Result<(), PgError> {
        self.shutdown(Signal::SIGQUIT, QUIT_GRACE).map(drop)
    }

    /// For a server inside a sandbox that is about to end: SIGKILL to its
    /// whole process group, and reap. Nothing is cleaned up, because nothing
    /// needs to be: the sandbox's IPC namespace takes the shared memory, and its
    /// mount namespace the data directory, socket and lock files. Saves the
    /// milliseconds of an orderly stop on every run.
    pub fn kill_in_sandbox(mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Still our unreaped child, so the pid (= process group) is ours.
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        self.overlay = false;
    }

    /// Fast (clean) shutdown with a shutdown checkpoint, for the template build.
    pub(crate) fn stop_clean(mut self) -> Result<(), PgError> {
        self.shutdown(Signal::SIGINT, Duration::from_secs(120)).map(drop)
    }

    pub(crate) fn socket_dir(&self) -> &Path {
        &self.listen.unix_dir
    }

    /// Signals, waits (SIGKILL after `grace`), reaps; the exit status if it ran.
    fn shutdown(&mut self, sig: Signal, grace: Duration) -> Result<Option<ExitStatus>, PgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let pid = Pid::from_raw(child.id() as i32);
        // Still our unreaped child, so the pid cannot have been reused.
        let _ = kill(pid, sig);
        let mut killed = false;
        if !wait_exited(&child, self.pidfd.as_ref(), grace)? {
            let _ = killpg(pid, Signal::SIGKILL);
            killed = true;
            if !wait_exited(&child, self.pidfd.as_ref(), Duration::from_secs(10))? {
                return Err(PgError::StopTimeout { pid: child.id() });
            }
        }
        // The postmaster is a zombie now, so its pid (= process group id) is still
        // reserved: any straggling backend can be killed without hitting a stranger.
        let _ = killpg(pid, Signal::SIGKILL);
        let status = match child.wait() {
            Ok(st) => Some(st),
            // A PID 1 that reaps every child may have collected it first.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => None,
            Err(e) => return Err(io_err(format!("wait for postgres pid {pid}"))(e)),
        };
        if killed {
            self.cleanup_after_kill();
        }
        if self.overlay {
            self.overlay = false;
            nix::mount::umount2(&self.data_dir, nix::mount::MntFlags::MNT_DETACH)
                .map_err(nix_err(format!("umount {}", self.data_dir.display())))?;
        }
        Ok(status)
    }

    /// After a SIGKILL the postmaster could not remove its SysV interlock segment,
    /// socket and lock files. Inside the sandbox the IPC namespace and tmpfs take
    /// them away anyway; elsewhere (tests, `--share`), do it here.
    fn cleanup_after_kill(&self) {
        let pidfile = self.data_dir.join("postmaster.pid");
        if let Ok(text) = fs::read_to_string(&pidfile) {
            // Line 7: "<shm key> <shm id>".
            if let Some(id) = text
                .lines()
                .nth(6)
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse::<libc::c_int>().ok())
            {
                // SAFETY: IPC_RMID with a null buffer only marks the segment for removal;
                // the id comes from this server's own postmaster.pid.
                unsafe {
                    libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                }
            }
            let _ = fs::remove_file(&pidfile);
        }
        let port = self.port();
        for name in [format!(".s.PGSQL.{port}"), format!(".s.PGSQL.{port}.lock")] {
            let _ = fs::remove_file(self.listen.unix_dir.join(name));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown(Signal::SIGQUIT, QUIT_GRACE);
    }
}

impl Starting {
    /// Waits until postmaster.pid says `ready` (inotify, no polling), or fails with
    /// the log tail as soon as the postmaster exits.
    pub fn wait_ready(self) -> Result<Server, PgError> {
        self.wait_ready_timeout(START_TIMEOUT)
    }

    /// [`Starting::wait_ready`] with a custom bound.
    pub fn wait_ready_timeout(self, timeout: Duration) -> Result<Server, PgError> {
        let deadline = Instant::now() + timeout;
        let pidfile = self.server.data_dir.join("postmaster.pid");
        loop {
            if pidfile_ready(&pidfile) {
                return Ok(self.server);
            }
            // Checked without reaping: `fail` reaps, and until then the pid (also
            // the process group id) cannot be reused.
            let exited = match self.server.child.as_ref() {
                Some(c) => wait_exited(c, None, Duration::ZERO)?,
                None => true,
            };
            if exited {
                return Err(self.fail("postgres exited".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail(format!("not ready after {timeout:?}")));
            }
            // inotify and the pidfd wake us at once. The cap is a backstop for
            // filesystems that might not report the pidfile rewrite, and for kernels
            // without pidfds (< 5.3), where an early exit is then noticed within 5 ms.
            let cap = if self.server.pidfd.is_some() { 20 } else { 5 };
            let ms = PollTimeout::try_from(left.as_millis().min(cap) as i32 + 1).unwrap_or(PollTimeout::MAX);
            let mut fds = vec![PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
            if let Some(fd) = &self.server.pidfd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, ms) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(nix_err("poll")(e)),
            }
            // Drain the (non-blocking) inotify queue; the file itself is re-read above.
            let _ = self.inotify.read_events();
        }
    }

    /// The server, whether ready or not (e.g. to read its pid or log path).
    pub fn server(&self) -> &Server {
        &self.server
    }

    fn fail(mut self, reason: String) -> PgError {
        let log = self.server.log.clone();
        // Make sure it is gone before reading its last words.
        let reason = match self.server.shutdown(Signal::SIGQUIT, QUIT_GRACE) {
            Ok(Some(status)) if reason == "postgres exited" => format!("{reason} ({status})"),
            _ => reason,
        };
        PgError::Start { reason, tail: log_tail(&log, 3000), log }
    }
}

/// Line 8 of postmaster.pid is the postmaster's status, `ready` once it accepts
/// connections (PostgreSQL 10+; pg_ctl -w reads the same line).
fn pidfile_ready(pidfile: &Path) -> bool {
    match fs::read_to_string(pidfile) {
        Ok(text) => text.lines().nth(7).map(str::trim) == Some("ready"),
        Err(_) => false,
    }
}

/// Waits (without reaping) until `child` has exited. `Ok(false)` on timeout.
fn wait_exited(child: &Child, pidfd: Option<&OwnedFd>, timeout: Duration) -> Result<bool, PgError> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(true),
            Err(nix::Error::EINTR) => continue,
            // Already reaped.
            Err(nix::Error::ECHILD) => return Ok(true),
            Err(e) => return Err(nix_err(format!("waitid {pid}"))(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        match pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX);
                match poll(&mut fds, ms) {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(nix_err("poll pidfd")(e)),
                }
            }
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
}

/// `run_as` as it will be applied: dropped when it is the caller itself, required
/// when the caller is root.
pub(crate) fn effective_run_as(run_as: Option<(u32, u32)>, euid: u32) -> Result<Option<(u32, u32)>, PgError> {
    match run_as {
        Some((0, _)) => Err(PgError::BadPath {
            path: PathBuf::from("run_as"),
            reason: "postgres cannot run as root (uid 0); use an unprivileged uid such as 65534".into(),
        }),
        Some((uid, _)) if uid == euid => Ok(None),
        Some(ids) => Ok(Some(ids)),
        None if euid == 0 => Err(PgError::BadPath {
            path: PathBuf::from("run_as"),
            reason: "running as root: pass run_as, an unprivileged uid/gid for postgres (e.g. 65534/65534)"
                .into(),
        }),
        None => Ok(None),
    }
}

/// Gives `uid` search permission on `dir` if only `dir` itself lacks it (we own
/// it: it is our scratch); an unreachable ancestor is an error naming it.
pub(crate) fn make_traversable(dir: &Path, uid: u32, gid: u32) -> Result<(), PgError> {
    let Some(blocker) = first_untraversable(dir, uid, gid) else {
        return Ok(());
    };
    if blocker == dir {
        let m = fs::metadata(dir).map_err(io_err(format!("stat {}", dir.display())))?;
        let mode = (m.mode() & 0o7777) | 0o011;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("chmod {}", dir.display())))?;
        if first_untraversable(dir, uid, gid).is_none() {
            return Ok(());
        }
    }
    Err(PgError::BadPath {
        path: blocker,
        reason: format!("uid {uid} (postgres) cannot search this directory"),
    })
}

/// Mounts `scratch/data` as an overlay: the template read-only below, writes going
/// to `scratch/pg-upper` (the sandbox's tmpfs). Postgres then reads the cached
/// files in place and copies up only what it modifies.
fn mount_overlay(
    lower: &Path,
    scratch: &Path,
    data_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), PgError> {
    let upper = scratch.join("pg-upper");
    let work = scratch.join("pg-work");
    for p in [&upper, &work] {
        if p.exists() {
            crate::fsutil::remove_tree(p).map_err(io_err(format!("remove {}", p.display())))?;
        }
    }
    let mk = |p: &Path| {
        fs::DirBuilder::new().mode(0o700).create(p).map_err(io_err(format!("mkdir {}", p.display())))
    };
    mk(&upper)?;
    mk(&work)?;
    mk(data_dir)?;
    // The merged root takes the upper directory's owner and mode, which postgres
    // checks: the run_as uid, 0700.
    fs::set_permissions(&upper, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", upper.display())))?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&upper, Some(uid), Some(gid))
            .map_err(io_err(format!("chown {}", upper.display())))?;
    }
    let mut opts = String::new();
    for (k, p) in [("lowerdir", lower), ("upperdir", &upper), ("workdir", &work)] {
        let s = p.to_str().filter(|s| !s.contains([',', ':', '\\']));
        let Some(s) = s else {
            return Err(PgError::BadPath {
                path: p.to_path_buf(),
                reason: "cannot be used in overlay mount options".into(),
            });
        };
        if !opts.is_empty() {
            opts.push(',');
        }
        opts.push_str(&format!("{k}={s}"));
    }
    nix::mount::mount(
        Some("overlay"),
        data_dir,
        Some("overlay"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(nix_err(format!("mount overlay on {}", data_dir.display())))
}

/// Starts postgres on an existing cluster directory. Shared by [`Server::spawn`] and
/// the template build (which seeds the cluster in place).
pub(crate) fn start_in_place(
    bins: &Binaries,
    data_dir: &Path,
    log_path: &Path,
    listen: &Listen,
    run_as: Option<(u32, u32)>,
) -> Result<Starting, PgError> {
    // sun_path holds 107 bytes plus NUL; postgres would fail later with a vaguer
    // message.
    let sock = listen.unix_dir.join(format!(".s.PGSQL.{}", listen.port()));
    if sock.as_os_str().len() > 107 {
        return Err(PgError::BadPath {
            path: sock,
            reason: "unix socket path longer than 107 bytes; use a shorter socket directory".into(),
        });
    }
    if !listen.unix_dir.is_dir() {
        fs::create_dir_all(&listen.unix_dir)
            .map_err(io_err(format!("mkdir {}", listen.unix_dir.display())))?;
    }
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&listen.unix_dir, Some(uid), Some(gid))
            .map_err(io_err(format!("chown {}", listen.unix_dir.display())))?;
        make_traversable(&listen.unix_dir, uid, gid)?;
    }

    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(log_path)
        .map_err(io_err(format!("create {}", log_path.display())))?;

    // Watch before spawning, so the "ready" rewrite cannot slip between spawn and
    // watch.
    let inotify =
        Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(nix_err("inotify_init"))?;
    inotify
        .add_watch(
            data_dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE,
        )
        .map_err(nix_err(format!("inotify watch {}", data_dir.display())))?;

    let mut cmd = clean_command(&bins.postgres(), &bins.bindir);
    cmd.arg("-D").arg(data_dir).args(listen_args(listen));
    let (out, err) = log_stdio(&log).map_err(io_err("dup log fd"))?;
    cmd.stdout(out).stderr(err);
    configure_server_child(&mut cmd, run_as);
    let child = cmd.spawn().map_err(io_err(format!("spawn {}", bins.postgres().display())))?;
    let pidfd = pidfd_open(child.id());
    Ok(Starting {
        server: Server {
            child: Some(child),
            pidfd,
            data_dir: data_dir.to_path_buf(),
            log: log_path.to_path_buf(),
            listen: listen.clone(),
            overlay: false,
        },
        inotify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_rules() {
        assert_eq!(effective_run_as(Some((1000, 1000)), 1000).ok(), Some(None));
        assert!(effective_run_as(None, 0).is_err());
        assert!(effective_run_as(Some((0, 0)), 0).is_err());
        assert_eq!(effective_run_as(Some((65534, 65534)), 0).ok(), Some(Some((65534, 65534))));
        assert_eq!(effective_run_as(None, 1000).ok(), Some(None));
    }
}
