//! Parser for /proc/self/mountinfo: which filesystems are mounted where.

use std::path::PathBuf;

/// One line of mountinfo, the fields the sandbox needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub read_only: bool,
}

/// This process's mounts. Read into a buffer sized for a usual table:
/// /proc files report size 0, so a plain read_to_string starts at 32 bytes
/// and doubles, one system call per step.
pub fn read_own() -> Result<Vec<Mount>, String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 << 10);
    std::fs::File::open("/proc/self/mountinfo")
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    Ok(parse(&text))
}

/// Parse the whole text of a mountinfo file. Malformed lines are skipped:
/// the kernel's format is stable and a line we cannot read is one we leave
/// to the parent mount's treatment.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    let (pre, post) = line.split_once(" - ")?;
    let pre: Vec<&str> = pre.split(' ').collect();
    let post: Vec<&str> = post.split(' ').collect();
    let mount_point = unescape(pre.get(4)?);
    let options = pre.get(5)?;
    let fs_type = unescape(post.first()?);
    Some(Mount {
        mount_point: PathBuf::from(mount_point),
        fs_type,
        read_only: options.split(',').any(|o| o == "ro"),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(o)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pseudo filesystems that are bound through as they are: there is nothing to
/// copy-on-write in them and overlayfs cannot stack on most of them.
pub fn is_pseudo(fs_type: &str) -> bool {
    matches!(
        fs_type,
        "proc"
            | "sysfs"
            | "cgroup"
            | "cgroup2"
            | "devpts"
            | "devtmpfs"
            | "mqueue"
            | "debugfs"
            | "tracefs"
            | "securityfs"
            | "pstore"
            | "bpf"
            | "configfs"
            | "fusectl"
            | "binfmt_misc"
            | "autofs"
            | "nsfs"
            | "efivarfs"
            | "hugetlbfs"
            | "rpc_pipefs"
            | "nfsd"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_optional_fields_and_escapes() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
40 22 0:35 / /mnt/my\\040disk ro,relatime - tmpfs tmpfs ro
garbage line
";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, PathBuf::from("/"));
        assert_eq!(m[0].fs_type, "ext4");
        assert!(!m[0].read_only);
        assert_eq!(m[1].fs_type, "proc");
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/my disk"));
        assert!(m[2].read_only);
    }

    #[test]
    fn pseudo_filesystems() {
        assert!(is_pseudo("proc") && is_pseudo("cgroup2"));
        assert!(!is_pseudo("ext4") && !is_pseudo("tmpfs") && !is_pseudo("overlay"));
    }
}
