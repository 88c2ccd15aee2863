//! Throwaway PostgreSQL servers for `flakebox run --postgres`.
//!
//! Three steps, split by where they run:
//!
//! 1. Host side, before the sandbox exists: [`find_binaries`] locates the machine's
//!    server binaries and [`Template::ensure`] builds (once) or reuses a cached,
//!    initialised and optionally seeded cluster.
//! 2. Inside the sandbox: [`Server::start`] copies that template into a scratch
//!    directory (a tmpfs), starts `postgres` with durability off under a non-root uid,
//!    and returns once `postmaster.pid` says `ready`. [`Server::env`] is what the test
//!    command gets.
//! 3. When the command has exited: [`Server::tables_with_rows`] for evidence, then
//!    [`Server::stop`] (immediate shutdown).
//!
//! Nothing is written outside the cache and the scratch directory while a server
//! runs: the unix socket lives in [`Listen::unix_dir`], dynamic shared memory is
//! `mmap`ed files inside the data directory.
//!
//! ```no_run
//! # fn main() -> Result<(), postgres::PgError> {
//! # let (cache_root, scratch) = (std::path::Path::new("/c"), std::path::Path::new("/s"));
//! // Host side, as the invoking user:
//! let run_as = postgres::default_run_as(); // Some(nobody) as root, None otherwise
//! let bins = postgres::find_binaries(None)?;
//! let template = postgres::Template::ensure(&bins, cache_root, None, run_as)?;
//! // Inside the sandbox (PID 1, after its tmpfs and loopback are up):
//! let listen = postgres::Listen {
//!     tcp: Some(([127, 0, 0, 1].into(), 5432)),
//!     unix_dir: scratch.join("pg-run"),
//! };
//! let starting = postgres::Server::spawn(&template, scratch, &listen, run_as)?;
//! // ... other sandbox setup ...
//! let server = starting.wait_ready()?;
//! let env = server.env(); // into the command's environment
//! // ... run the command ...
//! let evidence = server.tables_with_rows()?;
//! server.stop()?;
//! # Ok(()) }
//! ```

mod binaries;
mod error;
mod evidence;
mod fsutil;
mod proc;
mod psql;
mod server;
mod template;
mod wire;

pub use binaries::{find_binaries, find_binaries_cached, Binaries};
pub use error::PgError;
pub use server::{free_loopback_port, DataMode, Listen, Server, Starting};
pub use template::Template;

/// The uid/gid postgres should run as: `nobody` when the caller is root (postgres
/// refuses to run as root), `None` (the caller itself) otherwise. Resolve it once,
/// host side, and pass the same value to [`Template::ensure`] and [`Server::start`].
pub fn default_run_as() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    // /etc/passwd, not getpwnam: flakebox is linked statically, and glibc's
    // NSS in a static binary needs the build machine's shared libraries.
    let ids = std::fs::read_to_string("/etc/passwd").ok().and_then(|t| passwd_ids(&t, "nobody"));
    Some(ids.unwrap_or((65534, 65534)))
}

/// The uid and gid of `user` in an /etc/passwd text; none for root's ids.
fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != user {
            return None;
        }
        let (uid, gid) = (f.nth(1)?.parse().ok()?, f.next()?.parse().ok()?);
        (uid != 0).then_some((uid, gid))
    })
}

/// The superuser created by `initdb` and the database the test gets.
///
/// `postgres`/`postgres` rather than a flakebox-specific name: it is what test suites
/// and CI configs already assume (`-U postgres`, `.../postgres`), and it saves copying
/// a fourth database (~7 MB) on every start.
pub const USER: &str = "postgres";
/// The database named in [`Server::env`].
pub const DATABASE: &str = "postgres";
/// A password exported for clients that insist on one; authentication is `trust`,
/// so the server never checks it.
pub const PASSWORD: &str = "postgres";

#[cfg(test)]
mod tests {
    use super::passwd_ids;

    #[test]
    fn reads_ids_from_passwd() {
        let text = "root:x:0:0:root:/root:/bin/bash\nnobodyx:x:1:1::/:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
        assert_eq!(passwd_ids(text, "nobody"), Some((65534, 65534)));
        assert_eq!(passwd_ids(text, "root"), None, "root's ids are refused");
        assert_eq!(passwd_ids(text, "ghost"), None);
        assert_eq!(passwd_ids("nobody:x:abc:1::/:/bin/sh", "nobody"), None);
    }
}
