//! Throwaway PostgreSQL servers for `flakebox run --postgres`.
//!
//! Three steps, split by where they run:
//!
//! 1. Host side, before the sandbox exists: [`find_binaries`] locates the machine's
//!    server binaries and [`Template::ensure`] builds (once) or reuses a cached,
//!    initialised and optionally seeded cluster.
//! 2. Inside the sandbox: [`Server::start`] copies (or overlays) that template into
//!    a scratch directory (a tmpfs), starts `postgres` with durability off under a
//!    non-root uid, and returns once `postmaster.pid` says `ready`. [`Server::env`]
//!    is what the test command gets.
//! 3. When the command has exited: [`Server::tables_with_rows`] for evidence, then
//!    [`Server::stop`] (immediate shutdown).
//!
//! Nothing is written outside the cache and the scratch directory while a server
//! runs: the unix socket lives in [`Listen::unix_dir`], dynamic shared memory is
//! `mmap`ed files inside the data directory.
//!
//! ```no_run
//! # fn main() -> Result<(), flakebox_postgres::PgError> {
//! # let (cache_root, scratch) = (std::path::Path::new("/c"), std::path::Path::new("/s"));
//! // Host side, as the invoking user:
//! let run_as = flakebox_postgres::default_run_as(); // Some(nobody) as root, None otherwise
//! let bins = flakebox_postgres::find_binaries(None)?;
//! let template = flakebox_postgres::Template::ensure(&bins, cache_root, None, run_as)?;
//! // Inside the sandbox (PID 1, after its tmpfs and loopback are up):
//! let listen = flakebox_postgres::Listen {
//!     tcp: Some(([127, 0, 0, 1].into(), 5432)),
//!     unix_dir: scratch.join("pg-run"),
//! };
//! let starting = flakebox_postgres::Server::spawn(&template, scratch, &listen, run_as)?;
//! // ... other sandbox setup ...
//! let server = starting.wait_ready()?;
//! let env = server.env(); // into the command's environment
//! // ... run the command ...
//! let evidence = server.tables_with_rows()?;
//! server.stop()?;
//! # Ok(()) }
//! ```

// Modules by job, in dependency order (each uses only those before it; no
// cycle): error, fnv, fsutil, listen, wire, proc -> client_env, run_as,
// binaries -> psql, evidence, overlay -> server (a running server's
// lifecycle) -> postmaster (launch, readiness) -> template (the cache, seeded
// through a postmaster) -> start (`Server::start`: data directory from the
// template, then a postmaster).
mod binaries;
mod client_env;
mod error;
mod evidence;
mod fnv;
mod fsutil;
mod listen;
mod overlay;
mod postmaster;
mod proc;
mod psql;
mod run_as;
mod server;
mod start;
mod template;
mod wire;

pub use binaries::{find_binaries, find_binaries_cached, Binaries};
pub use client_env::{DATABASE, PASSWORD, USER};
pub use error::PgError;
pub use listen::{free_loopback_port, Listen};
pub use postmaster::Starting;
pub use run_as::default_run_as;
pub use server::Server;
pub use start::DataMode;
pub use template::Template;
