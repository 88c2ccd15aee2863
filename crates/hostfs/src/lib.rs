//! Host filesystem helpers shared by the sandbox, the PostgreSQL crate and the
//! binary: one implementation, with one documented semantics, per job.
//!
//! - [`copy_tree`]: copy a file or a directory tree, keeping modes, optionally
//!   chowning what it creates ([`CopyOptions`]).
//! - [`remove_tree`]: remove a tree, including directories whose mode forbids
//!   descending (overlayfs work directories), never following symlinks.
//! - [`Reaper`]: a process that removes scratch trees if their owner is
//!   killed before it can (async-signal-safe, so a threaded owner may fork it).
//! - [`search_candidates`] / [`find_executable`]: `execvp`'s PATH search.
//!
//! Everything here is single-threaded: the sandbox's PID 1 calls it, and PID 1
//! must not start threads.

mod copy_tree;
mod error;
mod path_search;
mod reaper;
mod remove_tree;

pub use copy_tree::{copy_tree, Copied, CopyOptions, Existing};
pub use error::{Error, Op, RemoveError};
pub use path_search::{find_executable, search_candidates, DEFAULT_PATH};
pub use reaper::{Reaper, ReaperError};
pub use remove_tree::remove_tree;
