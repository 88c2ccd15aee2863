//! What the seed of a rand-isolated run cannot reach: the command's binary
//! when the shim cannot load in it, and runtimes whose randomness does not
//! come from the OS sources the shim serves. Said, never claimed fixed.

use crate::report::Warning;
use clock::reach::Reach;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A program whose randomness does not follow the run's seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotSeeded {
    pub binary: PathBuf,
    /// Why, and what of it does follow the seed.
    pub reason: String,
}

impl std::fmt::Display for NotSeeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "flakebox: warning: {}: {}; its randomness does NOT follow the seed",
            self.binary.display(),
            self.reason
        )
    }
}

const GO: &str = "Go binary (its runtime calls getrandom by raw system call)";
const JAVA: &str = "the JVM seeds java.util.Random's default constructor from System.nanoTime \
(SecureRandom and /dev/urandom do follow it)";

const CLOCK_MIXED: &str = "seeds its default generator (bash: $RANDOM; Ruby: Random) from the \
wall clock too, which is shared (--share time)";

/// What no seed reaches in any program, which no look at a binary can tell
/// (said with `-v`, beside the warnings for the command's own binary).
pub const NEVER_REACHED: &str = "the seed does not reach the RDRAND/RDSEED instructions (a program \
that executes them draws from the CPU; OpenSSL's use of them is turned off), getrandom by raw system \
call, entropy devices opened by another path, or children started by system()/popen() (their own \
stream, not a replayable one)";

/// The warnings for the command at `path` (resolved) under a seed, the
/// clock frozen or not.
pub fn warnings(path: &Path, time_shared: bool) -> Vec<Warning> {
    let Ok(reach) = clock::reach::inspect(path) else {
        return Vec::new();
    };
    reasons(path, &reach, time_shared)
        .into_iter()
        .map(|(binary, reason)| Warning::NotSeeded(NotSeeded { binary, reason }))
        .collect()
}

/// (binary, reason) for each part of the program the seed does not reach.
fn reasons(path: &Path, reach: &Reach, time_shared: bool) -> Vec<(PathBuf, String)> {
    match reach {
        Reach::Dynamic => runtime_reason(path, time_shared)
            .map(|r| (path.to_path_buf(), r.to_string()))
            .into_iter()
            .collect(),
        Reach::NotElf => Vec::new(),
        Reach::Go => vec![(path.to_path_buf(), GO.to_string())],
        Reach::Script { interpreter, interpreter_reach } => match **interpreter_reach {
            Reach::Go => vec![(interpreter.clone(), GO.to_string())],
            ref inner => reasons(interpreter, inner, time_shared),
        },
        other => other.reason().map(|r| (path.to_path_buf(), r)).into_iter().collect(),
    }
}

/// A runtime known to draw randomness the shim does not serve, by the
/// binary's name (a dynamically linked one: the shim does load in it).
fn runtime_reason(path: &Path, time_shared: bool) -> Option<&'static str> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = canonical.file_name()?.to_str()?;
    match name {
        "java" => Some(JAVA),
        "bash" | "ruby" if time_shared => Some(CLOCK_MIXED),
        n if n.starts_with("ruby") && time_shared => Some(CLOCK_MIXED),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_and_static_binaries_are_named_with_their_reason() {
        let go = reasons(Path::new("/w/prog"), &Reach::Go, false);
        assert_eq!(go, vec![(PathBuf::from("/w/prog"), GO.to_string())]);
        let st = reasons(Path::new("/w/st"), &Reach::Static, false);
        assert_eq!(st.len(), 1);
        assert!(st[0].1.contains("statically linked"), "{st:?}");
        let script = Reach::Script { interpreter: "/w/gobin".into(), interpreter_reach: Box::new(Reach::Go) };
        assert_eq!(
            reasons(Path::new("/w/t.sh"), &script, false),
            vec![(PathBuf::from("/w/gobin"), GO.to_string())]
        );
        assert!(reasons(Path::new("/usr/bin/true"), &Reach::Dynamic, true).is_empty());
        assert!(reasons(Path::new("/w/notes.txt"), &Reach::NotElf, false).is_empty());
    }

    #[test]
    fn bash_and_ruby_are_named_when_the_clock_is_shared() {
        let bash = reasons(Path::new("/w/bash"), &Reach::Dynamic, true);
        assert_eq!(bash, vec![(PathBuf::from("/w/bash"), CLOCK_MIXED.to_string())]);
        assert!(reasons(Path::new("/w/bash"), &Reach::Dynamic, false).is_empty());
        let script =
            Reach::Script { interpreter: "/w/ruby3.1".into(), interpreter_reach: Box::new(Reach::Dynamic) };
        assert_eq!(reasons(Path::new("/w/t.rb"), &script, true).len(), 1);
    }

    #[test]
    fn java_is_named_by_its_binary() {
        let w = reasons(Path::new("/opt/jdk/bin/java"), &Reach::Dynamic, false);
        assert_eq!(w, vec![(PathBuf::from("/opt/jdk/bin/java"), JAVA.to_string())]);
        let shown = NotSeeded { binary: "/opt/jdk/bin/java".into(), reason: JAVA.into() }.to_string();
        assert!(shown.contains("java.util.Random") && shown.contains("does NOT follow the seed"), "{shown}");
    }
}
