//! Host filesystem helpers shared by the sandbox, the PostgreSQL crate and the
//! binary: one implementation, with one documented semantics, per job.
//!
//! - [`copy_tree`]: copy a file or a directory tree, keeping modes, optionally
//!   chowning what it creates ([`CopyOptions`]).
//! - [`remove_tree`]: remove a tree, including directories whose mode forbids
//!   descending (overlayfs work directories), never following symlinks.
//! - [`Reaper`]: a process that removes scratch trees if their owner is
//!   killed before it can (async-signal-safe, so a threaded owner may fork it).
//! - [`Owner`] / [`sweep_stale`]: scratch directories named after their
//!   owning process, and the removal of those whose owner is gone (when the
//!   reaper was killed too).
//! - [`search_candidates`] / [`find_executable`]: `execvp`'s PATH search.
//!
//! Everything here is single-threaded: the sandbox's PID 1 calls it, and PID 1
//! must not start threads.

mod copy_tree;
mod error;
mod owner;
mod path_search;
mod reaper;
mod remove_tree;

pub use copy_tree::{copy_tree, Copied, CopyOptions, Existing};
pub use error::{Error, Op, RemoveError};
pub use owner::{sweep_stale, Owner, OwnerState};
pub use path_search::{find_executable, search_candidates, DEFAULT_PATH};
pub use reaper::{Reaper, ReaperError};
pub use remove_tree::remove_tree;
