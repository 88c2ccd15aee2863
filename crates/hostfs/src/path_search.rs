//! `execvp`'s search for a command name.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The search path `execvp` uses when `PATH` is unset: glibc's
/// `confstr(_CS_PATH)`.
pub const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Where `execvp(name)` looks, in order, given the `PATH` value the command
/// gets (`None`: unset).
///
/// - A name containing a slash is not searched: it is the only candidate
///   (relative to the working directory if relative).
/// - `PATH` unset means [`DEFAULT_PATH`]; `PATH` set but empty is one empty
///   entry.
/// - An empty entry (`::`, or a leading or trailing `:`) means the working
///   directory: the candidate is `name` itself, relative. Relative entries give
///   relative candidates: they are resolved against the working directory of
///   whoever executes them.
/// - An empty name has no candidates (execvp fails with ENOENT).
pub fn search_candidates(name: &OsStr, path: Option<&OsStr>) -> Vec<PathBuf> {
    if name.is_empty() {
        return Vec::new();
    }
    if name.as_bytes().contains(&b'/') {
        return vec![PathBuf::from(name)];
    }
    let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    path.as_bytes()
        .split(|b| *b == b':')
        .map(
            |dir| {
                if dir.is_empty() {
                    PathBuf::from(name)
                } else {
                    Path::new(OsStr::from_bytes(dir)).join(name)
                }
            },
        )
        .collect()
}

/// The first of [`search_candidates`] that is a regular file with an execute
/// bit, as an absolute path: relative candidates are joined to `cwd` (the
/// working directory the command will run in). Like execvp, candidates that
/// are missing or not executable are passed over. A name containing a slash is
/// returned (made absolute) only if it is executable too.
pub fn find_executable(name: &OsStr, path: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    search_candidates(name, path).into_iter().map(|c| cwd.join(c)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn cands(name: &str, path: Option<&str>) -> Vec<String> {
        search_candidates(OsStr::new(name), path.map(OsStr::new))
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn unset_path_is_the_default_search_path() {
        assert_eq!(cands("ls", None), ["/bin/ls", "/usr/bin/ls"]);
    }

    #[test]
    fn empty_entries_mean_the_working_directory() {
        assert_eq!(cands("t", Some("")), ["t"]);
        assert_eq!(cands("t", Some(":/a")), ["t", "/a/t"]);
        assert_eq!(cands("t", Some("/a::/b")), ["/a/t", "t", "/b/t"]);
        assert_eq!(cands("t", Some("/a:")), ["/a/t", "t"]);
        assert_eq!(cands("t", Some("rel")), ["rel/t"]);
    }

    #[test]
    fn names_with_a_slash_are_not_searched() {
        assert_eq!(cands("./t", Some("/a")), ["./t"]);
        assert_eq!(cands("/x/t", None), ["/x/t"]);
        assert_eq!(cands("sub/t", Some("/a")), ["sub/t"]);
        assert!(cands("", Some("/a")).is_empty());
    }

    #[test]
    fn finds_the_first_executable_regular_file() {
        let d = tempfile::tempdir().expect("tempdir");
        for sub in ["a", "b", "c", "cwd"] {
            fs::create_dir(d.path().join(sub)).expect("mkdir");
        }
        // a/t is not executable, b/t is a directory, c/t is the one.
        fs::write(d.path().join("a/t"), "").expect("write");
        fs::create_dir(d.path().join("b/t")).expect("mkdir");
        fs::write(d.path().join("c/t"), "").expect("write");
        fs::set_permissions(d.path().join("c/t"), fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = format!("{0}/a:{0}/b:{0}/c", d.path().display());
        let cwd = d.path().join("cwd");
        assert_eq!(
            find_executable(OsStr::new("t"), Some(OsStr::new(&path)), &cwd),
            Some(d.path().join("c/t"))
        );
        assert_eq!(find_executable(OsStr::new("t"), Some(OsStr::new("/nonexistent")), &cwd), None);
        // An empty entry and a relative one resolve against `cwd`.
        assert_eq!(
            find_executable(OsStr::new("t"), Some(OsStr::new("")), &d.path().join("c")),
            Some(d.path().join("c/t"))
        );
        assert_eq!(
            find_executable(OsStr::new("t"), Some(OsStr::new("../c")), &cwd),
            Some(cwd.join("../c/t"))
        );
        assert_eq!(find_executable(OsStr::new("../c/t"), None, &cwd), Some(cwd.join("../c/t")));
        assert_eq!(find_executable(OsStr::new("../a/t"), None, &cwd), None);
    }
}
