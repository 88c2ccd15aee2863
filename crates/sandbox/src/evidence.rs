//! Evidence PID 1 gathers before it exits: files the command changed outside
//! the fresh tmp directories, processes it left running, the shim's trace,
//! and what services report.

use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// At most this many file changes are listed; the rest are counted.
const MAX_FILES: usize = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Files created, changed or deleted outside /tmp, /var/tmp and /dev/shm
    /// (under `Persistent` mode those too), as paths inside the sandbox.
    #[serde(default)]
    pub files_written: Vec<FileChange>,
    /// How many more changes there were beyond the listed ones.
    #[serde(default)]
    pub files_omitted: usize,
    /// Processes still running when the command exited (killed since).
    #[serde(default)]
    pub leftover_processes: Vec<Leftover>,
    /// Raw lines of the clock shim's trace log (connects, lookups, execs, warnings).
    #[serde(default)]
    pub trace: Vec<String>,
    /// Evidence from services, by service name.
    #[serde(default)]
    pub services: Vec<(String, ServiceEvidence)>,
    /// Things that were not as asked but did not stop the run.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What a service reports after the command. Untagged: in JSON, `null`, a
/// database's `{"tables_with_rows": [...]}` or `{"error": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceEvidence {
    /// Nothing gathered (nobody asked for it).
    #[default]
    None,
    /// A database: the tables the command left rows in, and how many
    /// client sessions the command opened (`None`: not counted).
    Database {
        tables_with_rows: Vec<TableRows>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sessions: Option<u64>,
    },
    /// Gathering failed.
    Failed { error: String },
}

/// One table with rows left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    /// "written", "deleted" or "dir".
    pub change: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    pub pid: i32,
    pub name: String,
    pub cmdline: String,
}

/// Walk an overlay's upper directory (`upper`, reachable through a path such
/// as /proc/self/fd/N) and list what changed under `mount_point`.
pub fn walk_upper(upper: &Path, mount_point: &Path, out: &mut Evidence) {
    let mut stack: Vec<(PathBuf, PathBuf)> = vec![(upper.to_path_buf(), mount_point.to_path_buf())];
    while let Some((dir, shown)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
        names.sort_by_key(|e| e.file_name());
        let mut had_entries = false;
        for entry in names {
            had_entries = true;
            let Ok(meta) = entry.metadata() else { continue };
            let shown_path = shown.join(entry.file_name());
            let ft = meta.file_type();
            if ft.is_dir() {
                // flakebox's own files (the shim, a service's data) are not
                // the command's: not even looked at (a database is big).
                if !shown_path.starts_with(crate::PRIVATE_DIR) {
                    stack.push((entry.path(), shown_path));
                }
            } else if ft.is_char_device() && meta.rdev() == 0 {
                // overlayfs records a deletion as a 0:0 character device.
                push(out, shown_path, "deleted");
            } else {
                push(out, shown_path, "written");
            }
        }
        if !had_entries && dir != upper {
            push(out, shown, "dir");
        }
    }
}

fn push(out: &mut Evidence, path: PathBuf, change: &str) {
    if path.starts_with(crate::PRIVATE_DIR) {
        return;
    }
    if out.files_written.len() >= MAX_FILES {
        out.files_omitted += 1;
        return;
    }
    out.files_written
        .push(FileChange { path: path.to_string_lossy().into_owned(), change: change.to_string() });
}

/// Every process in this PID namespace but PID 1 and `exclude` (and their
/// descendants), read from the sandbox's own /proc.
pub fn processes(exclude: &[i32]) -> Vec<Leftover> {
    let mut all: Vec<(i32, i32, Leftover)> = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.filter_map(Result::ok) {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == 1 {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The name is in parentheses and may itself contain spaces and ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let name = stat.get(stat.find('(').map_or(0, |i| i + 1)..close).unwrap_or("").to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("");
        let ppid = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state == "Z" {
            continue; // already dead, only waiting to be reaped
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                let parts: Vec<String> = b
                    .split(|c| *c == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                parts.join(" ")
            })
            .unwrap_or_default();
        all.push((pid, ppid, Leftover { pid, name, cmdline }));
    }
    let excluded = |mut pid: i32| {
        // Follow parents up to PID 1: a service's children are the service's.
        for _ in 0..64 {
            if exclude.contains(&pid) {
                return true;
            }
            match all.iter().find(|(p, _, _)| *p == pid) {
                Some((_, ppid, _)) if *ppid > 1 => pid = *ppid,
                _ => return false,
            }
        }
        false
    };
    let mut out: Vec<Leftover> =
        all.iter().filter(|(pid, _, _)| !excluded(*pid)).map(|(_, _, l)| l.clone()).collect();
    out.sort_by_key(|l| l.pid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_evidence_keeps_its_json_shape() {
        let cases = [
            (ServiceEvidence::None, "null"),
            (
                ServiceEvidence::Database {
                    tables_with_rows: vec![TableRows { table: "public.t".into(), rows: 2 }],
                    sessions: None,
                },
                r#"{"tables_with_rows":[{"table":"public.t","rows":2}]}"#,
            ),
            (
                ServiceEvidence::Database { tables_with_rows: Vec::new(), sessions: Some(3) },
                r#"{"tables_with_rows":[],"sessions":3}"#,
            ),
            (ServiceEvidence::Failed { error: "gone".into() }, r#"{"error":"gone"}"#),
        ];
        for (ev, json) in cases {
            assert_eq!(serde_json::to_string(&ev).expect("serialises"), json);
            assert_eq!(serde_json::from_str::<ServiceEvidence>(json).expect("parses"), ev);
        }
    }

    #[test]
    fn walks_an_upper_dir() {
        let t = tempfile::tempdir().unwrap();
        let up = t.path();
        fs::create_dir_all(up.join("home/u/.cache")).unwrap();
        fs::write(up.join("home/u/.cache/state"), "1").unwrap();
        fs::create_dir(up.join("empty")).unwrap();
        let mut ev = Evidence::default();
        walk_upper(up, Path::new("/work"), &mut ev);
        let got: Vec<(String, String)> =
            ev.files_written.iter().map(|f| (f.path.clone(), f.change.clone())).collect();
        assert!(got.contains(&("/work/home/u/.cache/state".into(), "written".into())), "{got:?}");
        assert!(got.contains(&("/work/empty".into(), "dir".into())), "{got:?}");
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn lists_own_children_as_processes() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let found = processes(&[]).into_iter().any(|l| l.pid == pid && l.name == "sleep");
        let excluded = processes(&[pid]).into_iter().any(|l| l.pid == pid);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found, "the sleep child is listed");
        assert!(!excluded, "an excluded pid is not listed");
    }
}
