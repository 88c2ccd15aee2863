//! Child runs for flakebox: one sandboxed run of a command, described by a
//! typed [`RunRequest`] and read back as a typed [`RunReport`] (the same
//! types in the parent and in the child `flakebox run`, which gets the
//! request as JSON on an inherited descriptor); the child-process handle
//! ([`Child`]); a diagnosis's workspace and per-condition state
//! ([`Workspace`]); and the runner `diagnose` and `timetravel` share
//! ([`Runs`], [`DiagnoseRunner`], [`parallel`]), with the command of each
//! run plugged in ([`RunCommand`]).

mod child;
mod command;
mod error;
mod execute;
mod postgres;
pub mod rand_reach;
mod report;
mod request;
mod runner;
mod workspace;

pub use child::{run, spawn, Child, ChildFiles, ChildResult};
pub use command::{AdapterCommand, Collected, CommandPlan, Contents, RunCommand, RunResults, UserCommand};
pub use error::{chain, RunsError};
pub use execute::{prepare, write_report, Prepared};
pub use postgres::{cache_root, PgService};
pub use rand_reach::NotSeeded;
pub use report::{clock_set_attempts, net_events, ClockSetAttempt, RandInfo, RunReport, TimeInfo, Warning};
pub use request::{PgOptions, RunRequest, REQUEST_FD_FLAG};
pub use runner::{parallel, DiagnoseRunner, Finished, PlannedRun, Runs, Started};
pub use workspace::{remove_tree, Workspace};
