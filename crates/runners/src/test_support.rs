//! What the adapters' unit tests share: an adapter detected from a command
//! line, and an invocation with results in `/r`.

use crate::{detect, Adapter, Detection, Invocation, Order, TestId};
use std::path::Path;

/// The adapter `detect` finds for `cmd` (split on blanks) run in `/p`.
pub(crate) fn adapter(cmd: &str) -> Adapter {
    let argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
    match detect(&argv, Path::new("/p")) {
        Detection::Detected(a) => a,
        other => panic!("{other:?}"),
    }
}

/// Run `sel` (all when `None`) in `order`, results in `/r`.
pub(crate) fn invocation(sel: Option<&[&str]>, order: Order) -> Invocation {
    Invocation {
        selection: sel.map(|s| s.iter().map(|i| TestId::new(*i)).collect()),
        order,
        results_dir: "/r".into(),
    }
}
