//! `--postgres`: the throwaway PostgreSQL as a sandbox service. The template
//! is prepared on the host side (cached); PID 1 starts a server from it in the
//! sandbox's own network namespace and stops it when the command ends.

use crate::error::{io, RunsError};
use sandbox::{Service, ServiceContext, ServiceEvidence, TableRows};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct PgService {
    /// Count the tables left with rows after the command (two psql calls):
    /// only when someone will read it (--report, -v).
    pub want_evidence: bool,
    template: throwaway_pg::Template,
    /// The template directory, opened host side: the sandbox may hide its path
    /// (a cache under the host's /tmp), and then the server is started from
    /// `/proc/self/fd/N` instead (PID 1 inherits the descriptor).
    template_fd: std::fs::File,
    run_as: Option<(u32, u32)>,
    server: Option<throwaway_pg::Server>,
}

/// `$XDG_CACHE_HOME/flakebox`, else `~/.cache/flakebox`.
pub fn cache_root() -> Result<PathBuf, RunsError> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("flakebox"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
        RunsError::Invalid(
            "neither XDG_CACHE_HOME nor HOME is set: flakebox needs one of them for its PostgreSQL template cache"
                .into(),
        )
    })?;
    Ok(PathBuf::from(home).join(".cache").join("flakebox"))
}

impl PgService {
    /// Find the server binaries and make sure the cached template exists
    /// (built once per server version and init content).
    pub fn prepare(bin: Option<&Path>, init: Option<&Path>) -> Result<Self, RunsError> {
        let root = cache_root()?;
        let bins = throwaway_pg::find_binaries_cached(bin, Some(&root))?;
        let run_as = throwaway_pg::default_run_as();
        let template = throwaway_pg::Template::ensure(&bins, &root, init, run_as).map_err(|source| {
            RunsError::PostgresContext {
                context: format!("preparing the PostgreSQL {} template", bins.version),
                source,
            }
        })?;
        let template_fd = std::fs::File::open(&template.dir)
            .map_err(io(format!("opening the template {}", template.dir.display())))?;
        Ok(PgService { template, template_fd, run_as, server: None, want_evidence: true })
    }
}

impl PgService {
    /// The server binaries' directory, as found.
    pub fn bindir(&self) -> &Path {
        &self.template.binaries.bindir
    }

    /// (server version, template directory, whether it was built just now).
    pub fn template_info(&self) -> (String, PathBuf, bool) {
        (self.template.binaries.version.clone(), self.template.dir.clone(), self.template.built)
    }
}

impl Service for PgService {
    fn name(&self) -> &str {
        "postgres"
    }

    fn start(&mut self, ctx: &ServiceContext) -> Result<Vec<(String, String)>, String> {
        let scratch = ctx.private_dir.join("postgres");
        std::fs::create_dir_all(&scratch).map_err(|e| format!("creating {}: {e}", scratch.display()))?;
        // In our own network namespace 5432 is always free; on the host's
        // network pick a free port so parallel runs never collide.
        let port = if ctx.net_isolated {
            5432
        } else {
            throwaway_pg::free_loopback_port().map_err(|e| format!("finding a free port: {e}"))?
        };
        let listen = throwaway_pg::Listen {
            tcp: Some((IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
            unix_dir: scratch.join("socket"),
        };
        // The template's own path when the sandbox shows it (the root case can then
        // use an overlay on it); else the descriptor opened host side. An overlay
        // cannot sit on that (the kernel refuses a lower layer outside this mount
        // namespace: "failed to clone lowerpath"), so the server falls back to a copy.
        let mut template = self.template.clone();
        if !template.dir.join("PG_VERSION").is_file() {
            template.dir = PathBuf::from(format!("/proc/self/fd/{}", self.template_fd.as_raw_fd()));
        }
        let server = throwaway_pg::Server::start(&template, &scratch, &listen, self.run_as)
            .map_err(|e| e.to_string())?;
        let env = server.env();
        self.server = Some(server);
        Ok(env)
    }

    fn pids(&self) -> Vec<i32> {
        self.server.as_ref().and_then(|s| s.pid()).map(|p| vec![p as i32]).unwrap_or_default()
    }

    fn evidence(&mut self) -> ServiceEvidence {
        let Some(server) = self.server.as_ref().filter(|_| self.want_evidence) else {
            return ServiceEvidence::None;
        };
        // Sessions first: the tables' count opens sessions of its own.
        let sessions = server.client_sessions().ok();
        match server.tables_with_rows() {
            Ok(tables) => ServiceEvidence::Database {
                tables_with_rows: tables.into_iter().map(|(table, rows)| TableRows { table, rows }).collect(),
                sessions,
            },
            Err(e) => ServiceEvidence::Failed { error: e.to_string() },
        }
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill_in_sandbox();
        }
    }
}
