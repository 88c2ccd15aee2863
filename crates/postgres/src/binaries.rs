use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::PgError;

/// A usable set of PostgreSQL server binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// Directory holding `postgres` and `initdb`.
    pub bindir: PathBuf,
    /// Server version, e.g. `15.18`.
    pub version: String,
    /// Major version, e.g. `15`.
    pub major: u32,
    /// The whole `postgres --version` line (includes the distribution build), used
    /// in the template cache key so a rebuilt package gets a fresh template.
    pub version_line: String,
    /// `psql`, preferably from `bindir`; `None` if there is none anywhere we look
    /// (only init SQL and [`crate::Server::tables_with_rows`] need it).
    pub psql: Option<PathBuf>,
}

impl Binaries {
    pub(crate) fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    pub(crate) fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    pub(crate) fn psql(&self) -> Result<&Path, PgError> {
        self.psql.as_deref().ok_or_else(|| PgError::PsqlNotFound { searched: psql_candidates(&self.bindir) })
    }

    /// Inspects `dir`; `Err(reason)` if it lacks a working server.
    pub fn from_dir(dir: &Path) -> Result<Binaries, String> {
        Self::from_dir_cached(dir, None)
    }

    /// [`Binaries::from_dir`], remembering `postgres --version` in
    /// `version_cache` (a directory) per executable: keyed by its device,
    /// inode, size and change times, so an upgrade is noticed. Running it
    /// costs ~12 ms (the server's shared libraries, ICU among them) on every
    /// `run --postgres`.
    pub fn from_dir_cached(dir: &Path, version_cache: Option<&Path>) -> Result<Binaries, String> {
        for exe in ["postgres", "initdb"] {
            if !is_executable(&dir.join(exe)) {
                return Err(format!("no executable `{exe}` in this directory"));
            }
        }
        let postgres = dir.join("postgres");
        let cached = version_cache.and_then(|c| version_key(&postgres).map(|k| c.join(k)));
        let remembered = cached
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|l| l.trim().to_owned())
            .filter(|l| parse_version(l).is_some());
        let line = match remembered {
            Some(line) => line,
            None => {
                let out = Command::new(&postgres)
                    .arg("--version")
                    .env_clear()
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .map_err(|e| format!("cannot run postgres --version: {e}"))?;
                let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if let (Some(file), Some(_)) = (&cached, parse_version(&line)) {
                    // Best effort: a cache that cannot be written costs time only.
                    let _ = crate::fsutil::write_atomic(file, line.as_bytes());
                }
                line
            }
        };
        let (version, major) =
            parse_version(&line).ok_or_else(|| format!("unexpected `postgres --version` output {line:?}"))?;
        let psql = std::env::current_dir()
            .ok()
            .and_then(|cwd| find_psql(dir, std::env::var_os("PATH").as_deref(), &cwd));
        Ok(Binaries { bindir: dir.to_path_buf(), version, major, version_line: line, psql })
    }
}

/// The version cache's file name for an executable: its identity on disk.
fn version_key(exe: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = exe.metadata().ok()?;
    Some(format!(
        "postgres-version-{}-{}-{}-{}.{}-{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

fn parse_version(line: &str) -> Option<(String, u32)> {
    let token = line.split_whitespace().find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = token.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().ok()?;
    Some((token.to_owned(), major))
}

/// Where psql is looked for: next to the server (the same version), then as
/// `execvp` would find it on our PATH.
fn psql_candidates(bindir: &Path) -> Vec<PathBuf> {
    let path = std::env::var_os("PATH");
    let mut v = vec![bindir.join("psql")];
    v.extend(hostfs::search_candidates(OsStr::new("psql"), path.as_deref()));
    v
}

/// The first of [`psql_candidates`] (for `path`, the PATH value) that is
/// executable, as an absolute path: psql later runs in other working
/// directories, so relative PATH entries are resolved against `cwd` now.
fn find_psql(bindir: &Path, path: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    let bundled = bindir.join("psql");
    if is_executable(&bundled) {
        return Some(bundled);
    }
    hostfs::find_executable(OsStr::new("psql"), path, cwd)
}

fn is_executable(p: &Path) -> bool {
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Finds the server binaries.
///
/// Order: `explicit` (from `--postgres-bin`; an unusable one is an error, never
/// silently replaced), `$PG_CONFIG --bindir`, `pg_config --bindir`, then the
/// distribution locations, newest major first: Debian/Ubuntu
/// `/usr/lib/postgresql/*/bin`, PGDG RPM `/usr/pgsql-*/bin`, Fedora/Arch `/usr/bin`,
/// source installs `/usr/local/pgsql/bin`.
pub fn find_binaries(explicit: Option<&Path>) -> Result<Binaries, PgError> {
    find_binaries_cached(explicit, None)
}

/// [`find_binaries`] with `postgres --version` remembered in `version_cache`
/// (see [`Binaries::from_dir_cached`]).
pub fn find_binaries_cached(
    explicit: Option<&Path>,
    version_cache: Option<&Path>,
) -> Result<Binaries, PgError> {
    if let Some(dir) = explicit {
        return Binaries::from_dir_cached(dir, version_cache)
            .map_err(|reason| PgError::BadBinDir { dir: dir.to_path_buf(), reason });
    }
    let mut searched = Vec::new();

    // pg_config: $PG_CONFIG first, then the one on PATH. Debian's /usr/bin/pg_config
    // comes with libpq-dev and may name a bindir without a server, hence the check.
    let mut pg_configs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(p) = std::env::var_os("PG_CONFIG").filter(|p| !p.is_empty()) {
        pg_configs.push(("$PG_CONFIG".into(), PathBuf::from(p)));
    }
    pg_configs.push(("pg_config on PATH".into(), PathBuf::from("pg_config")));
    for (label, exe) in pg_configs {
        match pg_config_bindir(&exe) {
            Some(dir) => match Binaries::from_dir_cached(&dir, version_cache) {
                Ok(b) => return Ok(b),
                Err(why) => {
                    searched.push(format!("{} (from {label} {}): {why}", dir.display(), exe.display()))
                }
            },
            None => searched.push(format!("{label} ({}): not runnable", exe.display())),
        }
    }

    for dir in distro_dirs() {
        match Binaries::from_dir_cached(&dir, version_cache) {
            Ok(b) => return Ok(b),
            Err(why) => searched.push(format!("{}: {why}", dir.display())),
        }
    }
    Err(PgError::NotFound { searched })
}

fn pg_config_bindir(exe: &Path) -> Option<PathBuf> {
    let out = Command::new(exe).arg("--bindir").stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// Distribution locations, newest major first within each family.
fn distro_dirs() -> Vec<PathBuf> {
    let mut dirs = versioned("/usr/lib/postgresql", "", "bin");
    dirs.extend(versioned("/usr", "pgsql-", "bin"));
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

/// `<parent>/<prefix><N>/<sub>` for every N present, highest N first.
fn versioned(parent: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let rest = OsStr::to_str(&name)?.strip_prefix(prefix)?.to_owned();
            let key: Vec<u32> = rest.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
            Some((key, e.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(("15.18".into(), 15))
        );
        assert_eq!(parse_version("postgres (PostgreSQL) 17beta1"), Some(("17beta1".into(), 17)));
        assert_eq!(parse_version("postgres (PostgreSQL) 9.6.24"), Some(("9.6.24".into(), 9)));
        assert_eq!(parse_version("nonsense"), None);
    }

    #[test]
    fn not_found_lists_places_and_install_hints() {
        let e = PgError::NotFound {
            searched: vec!["/usr/lib/postgresql/16/bin: no executable `postgres`".into()],
        };
        let msg = e.to_string();
        for want in [
            "/usr/lib/postgresql/16/bin",
            "apt-get install postgresql",
            "dnf install postgresql-server",
            "pacman -S postgresql",
            "--postgres-bin",
        ] {
            assert!(msg.contains(want), "{want} missing in {msg}");
        }
    }

    #[test]
    fn psql_next_to_the_server_wins_then_path_as_exec_searches_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let exe = |p: &Path| {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "").expect("write");
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        let (server, other, cwd) = (d.path().join("server"), d.path().join("other"), d.path().join("cwd"));
        std::fs::create_dir_all(&server).expect("mkdir");
        std::fs::create_dir_all(&cwd).expect("mkdir");
        exe(&other.join("psql"));
        let path = OsStr::new("../other");
        assert_eq!(
            find_psql(&server, Some(path), &cwd),
            Some(cwd.join("../other/psql")),
            "relative entry, absolute result"
        );
        exe(&server.join("psql"));
        assert_eq!(find_psql(&server, Some(path), &cwd), Some(server.join("psql")));
        let candidates = psql_candidates(&server);
        assert_eq!(candidates.first(), Some(&server.join("psql")));
    }

    #[test]
    fn versioned_dirs_sort_newest_first() {
        let d = tempfile::tempdir().expect("tempdir");
        for v in ["9.6", "15", "10", "16"] {
            std::fs::create_dir_all(d.path().join(v).join("bin")).expect("mkdir");
        }
        std::fs::create_dir(d.path().join("common")).expect("mkdir");
        let root = d.path().to_str().expect("utf8");
        let got: Vec<_> = versioned(root, "", "bin")
            .into_iter()
            .map(|p| p.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let want: Vec<Option<String>> =
            ["16", "15", "10", "9.6"].iter().map(|s| Some(s.to_string())).collect();
        assert_eq!(got, want);
    }
}
