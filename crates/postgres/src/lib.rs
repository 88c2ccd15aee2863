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
mod fsutil;
mod proc;
mod psql;
mod server;
mod template;

pub use binaries::{find_binaries, Binaries};
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
    let ids = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
        .filter(|(uid, _)| *uid != 0);
    Some(ids.unwrap_or((65534, 65534)))
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
