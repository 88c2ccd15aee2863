//! The planner on synthetic hosts: a mountinfo table and a file tree in
//! memory, so these run as any user, without namespaces or mounts.

use super::*;
use std::collections::BTreeMap;

/// A host file tree: "/usr/" is a directory, "/bin -> usr/bin" a symbolic
/// link, anything else a file; parents are directories.
struct Tree(BTreeMap<PathBuf, Kind>);

fn tree(specs: &[&str]) -> Tree {
    let mut t = BTreeMap::new();
    t.insert(PathBuf::from("/"), Kind::Dir { mode: 0o755 });
    for spec in specs {
        let (path, kind) = if let Some((p, target)) = spec.split_once(" -> ") {
            (p, Kind::Symlink { target: target.into() })
        } else if let Some(p) = spec.strip_suffix('/') {
            (p, Kind::Dir { mode: if p.ends_with("tmp") { 0o1777 } else { 0o755 } })
        } else {
            (*spec, Kind::File)
        };
        let path = PathBuf::from(path);
        for a in path.ancestors().skip(1) {
            t.entry(a.to_path_buf()).or_insert(Kind::Dir { mode: 0o755 });
        }
        t.insert(path, kind);
    }
    Tree(t)
}

impl HostTree for Tree {
    fn lstat(&self, path: &Path) -> Option<Kind> {
        self.0.get(path).cloned()
    }
    fn stat(&self, path: &Path) -> Option<Kind> {
        match self.0.get(path)? {
            Kind::Symlink { target } => self.stat(&path.parent()?.join(target)),
            k => Some(k.clone()),
        }
    }
    fn list(&self, dir: &Path) -> Result<Vec<OsString>, String> {
        match self.0.get(dir) {
            Some(Kind::Dir { .. }) => Ok(self
                .0
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name().map(OsString::from))
                .collect()),
            _ => Err("Not a directory".into()),
        }
    }
}

/// A mount table through the real parser: (mount point, type, "rw"/"ro").
fn table(mounts: &[(&str, &str, &str)]) -> Vec<Mount> {
    let text: String = mounts
        .iter()
        .enumerate()
        .map(|(i, (mp, fs, opts))| {
            format!("{} 1 0:{i} / {mp} {opts},relatime shared:{i} - {fs} src rw\n", i + 20)
        })
        .collect();
    mountinfo::parse(&text)
}

/// A typical host: an ext4 root, /home on its own filesystem, the usual
/// pseudo filesystems, and a mount hidden under /tmp.
fn host_mounts() -> Vec<Mount> {
    table(&[
        ("/", "ext4", "rw"),
        ("/proc", "proc", "rw"),
        ("/proc/sys/fs/binfmt_misc", "autofs", "rw"),
        ("/sys", "sysfs", "rw"),
        ("/sys/fs/cgroup", "cgroup2", "rw"),
        ("/dev", "devtmpfs", "rw"),
        ("/dev/shm", "tmpfs", "rw"),
        ("/home", "ext4", "rw"),
        ("/tmp/fuse", "fuse.sshfs", "rw"),
    ])
}

fn host_tree() -> Tree {
    tree(&[
        "/tmp/",
        "/bin -> usr/bin",
        "/usr/bin/sh",
        "/etc/hosts",
        "/home/u/proj/",
        "/tmp/proj/sub/",
        "/tmp/fuse/",
        "/var/tmp/",
        "/mnt/",
        "/proc/",
        "/sys/",
        "/dev/shm/",
        "/dev/null",
        "/dev/tty",
        "/vmlinuz",
    ])
}

struct Case {
    fs: FsMode,
    cwd: PathBuf,
    visible: Vec<PathBuf>,
    keep: Vec<PathBuf>,
    collect: Vec<(PathBuf, PathBuf)>,
    userns: bool,
    mounts: Vec<Mount>,
    own_net: bool,
    terminal: Option<PathBuf>,
    tmp_size: TmpSize,
    hide: Vec<PathBuf>,
}

fn case(userns: bool) -> Case {
    Case {
        fs: FsMode::Fresh,
        cwd: "/home/u/proj".into(),
        visible: Vec::new(),
        keep: Vec::new(),
        collect: Vec::new(),
        userns,
        mounts: host_mounts(),
        own_net: true,
        terminal: None,
        tmp_size: TmpSize::DEFAULT,
        hide: Vec::new(),
    }
}

impl Case {
    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            fs: &self.fs,
            cwd: &self.cwd,
            visible: &self.visible,
            keep: &self.keep,
            collect: &self.collect,
            userns: self.userns,
            mounts: &self.mounts,
            own_net: self.own_net,
            terminal: self.terminal.as_deref(),
            tmp_size: self.tmp_size,
            hide: &self.hide,
        }
    }

    /// The plan with the preferred root, one line per operation.
    fn plan(&self, host: &Tree) -> Vec<String> {
        let inputs = self.inputs();
        self.plan_with(Root::preferred(&inputs), host)
    }

    fn plan_with(&self, root: Root, host: &Tree) -> Vec<String> {
        // One line per DevDir entry too.
        plan(&self.inputs(), root, host)
            .expect("plan")
            .iter()
            .flat_map(|op| show(op).lines().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }
}

fn show(op: &Op) -> String {
    let t = |t: &Target| match t {
        Target::Present => "",
        Target::SkipUnlessDir => " if-dir",
        Target::WarnIfMissing => " warn-if-missing",
        Target::Create(Node::Dir) => " create-dir",
        Target::Create(Node::File) => " create-file",
    };
    match op {
        Op::Tmpfs { at, mode, size, target } => {
            format!("tmpfs {} {mode:o} {}{}", at.display(), size.mount_option(), t(target))
        }
        Op::Mkdir { at, mode } => format!("mkdir {} {mode:o}", at.display()),
        Op::MkdirAll { at, mode } => format!("mkdir -p {} {mode:o}", at.display()),
        Op::Symlink { at, target } => format!("symlink {} -> {}", at.display(), target.display()),
        Op::Bind { path, depth, access, target } => {
            let depth = if *depth == Depth::Tree { "tree" } else { "single" };
            let access = if *access == Access::ReadOnly { "ro" } else { "rw" };
            format!("bind {} {depth} {access}{}", path.display(), t(target))
        }
        Op::Overlay(o) => {
            let fallback = match &o.fallback {
                Fallback::Fail => "fail".to_string(),
                Fallback::ReadOnly { fs_type } => format!("else ro ({fs_type})"),
                Fallback::Replan => "else replan".to_string(),
            };
            let chown = if o.chown { " chown" } else { "" };
            format!("overlay {} {}{chown}{} [{fallback}]", o.at.display(), o.options, t(&o.target))
        }
        Op::BindFile { src, at } => format!("bind {} on {}", src.display(), at.display()),
        Op::DevDir { at, entries, template } => {
            let kept = if template.is_some() { " (template)" } else { "" };
            let mut out = format!("devdir {}{kept}", at.display());
            for e in entries {
                out.push_str(&match e {
                    DevEntry::Node { name, major, minor, mode } => {
                        format!("\n  mknod {name} {major}:{minor} {mode:o}")
                    }
                    DevEntry::Symlink { name, target } => format!("\n  symlink {name} -> {target}"),
                    DevEntry::Dir { name, mode } => format!("\n  mkdir {name} {mode:o}"),
                });
            }
            out
        }
        Op::Devpts { at } => format!("devpts {}", at.display()),
        Op::Rebind { at, access } => {
            format!("rebind {} {}", at.display(), if *access == Access::ReadOnly { "ro" } else { "rw" })
        }
        Op::Mask { at, node } => format!("mask {} {node:?}", at.display()),
        Op::TrackWrites { at } => format!("track {}", at.display()),
        Op::Proc => "proc".into(),
        Op::CopyOut(c) => format!(
            "copy-out {} to {} + {}{}",
            c.path.display(),
            c.host_dir.display(),
            c.rel.display(),
            if c.remove { " then remove" } else { "" }
        ),
        Op::Hide { at } => format!("hide {}", at.display()),
        Op::Warn(w) => format!("warn {w}"),
    }
}

fn lines(s: &[&str]) -> Vec<String> {
    s.iter().map(|l| l.to_string()).collect()
}

/// The minimal /dev as root.
fn minimal_dev() -> Vec<String> {
    lines(&[
        "devdir /dev (template)",
        "  mknod null 1:3 666",
        "  mknod zero 1:5 666",
        "  mknod full 1:7 666",
        "  mknod random 1:8 666",
        "  mknod urandom 1:9 666",
        "  mknod tty 5:0 666",
        "  symlink fd -> /proc/self/fd",
        "  symlink stdin -> /proc/self/fd/0",
        "  symlink stdout -> /proc/self/fd/1",
        "  symlink stderr -> /proc/self/fd/2",
        "  symlink ptmx -> pts/ptmx",
        "  mkdir pts 755",
        "  mkdir shm 1777",
        "devpts /dev/pts",
    ])
}

/// /proc's guards as root, with the sandbox's own network namespace.
fn proc_guards() -> Vec<String> {
    lines(&[
        "proc",
        "rebind /proc/sys ro",
        "rebind /proc/sysrq-trigger ro",
        "rebind /proc/bus ro",
        "rebind /proc/fs ro",
        "rebind /proc/irq ro",
        "rebind /proc/sys/net rw",
        "rebind /proc/sys/kernel/ns_last_pid rw",
        "mask /proc/kcore File",
        "mask /proc/kallsyms File",
        "mask /proc/kmsg File",
        "mask /proc/keys File",
        "mask /proc/timer_list File",
        "mask /proc/sched_debug File",
        "mask /proc/latency_stats File",
        "mask /proc/mtrr File",
        "mask /proc/config.gz File",
        "mask /proc/acpi Dir",
        "mask /proc/scsi Dir",
        "mask /proc/asound Dir",
    ])
}

/// `parts` joined, each a list of lines.
fn concat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

/// The lines after "bind /sys ...": what a root plan mounts after /dev and /sys.
fn after_sys(plan: &[String]) -> &[String] {
    let at = plan.iter().position(|l| l.starts_with("bind /sys ")).expect("/sys is bound");
    &plan[at + 1..]
}

#[test]
fn root_one_overlay_of_root_then_the_other_filesystems_stacked_on_it() {
    let c = case(false);
    assert_eq!(
        c.plan(&host_tree()),
        concat(&[
            lines(&["overlay / lowerdir=/old,upperdir=/up/1/u,workdir=/up/1/w,index=off chown [else replan]"]),
            minimal_dev(),
            lines(&[
                "bind /sys tree ro if-dir",
                // /proc, /sys and /dev are whole; /tmp/fuse is hidden by the fresh /tmp.
                "overlay /home lowerdir=/old/home,upperdir=/up/2/u,workdir=/up/2/w,index=off chown warn-if-missing \
                 [else ro (ext4)]",
                "tmpfs /tmp 1777 size=25% if-dir",
                "tmpfs /var/tmp 1777 size=25% if-dir",
                "tmpfs /dev/shm 1777 size=25% if-dir",
            ]),
            proc_guards(),
            lines(&["mkdir /.flakebox 755", "tmpfs /.flakebox 755 size=25%"]),
        ])
    );
}

#[test]
fn root_without_the_root_overlay_recreates_the_top_level_and_stacks_from_depth_three() {
    let mut c = case(false);
    c.mounts = table(&[("/", "ext4", "rw"), ("/home", "ext4", "rw"), ("/home/u", "xfs", "rw")]);
    let plan = c.plan_with(Root::Tmpfs, &host_tree());
    let o = |at: &str, n: usize, fallback: &str, target: &str| {
        format!(
            "overlay {at} lowerdir=/old{at},upperdir=/up/{n}/u,workdir=/up/{n}/w,index=off chown{target} [{fallback}]"
        )
    };
    let expected = concat(&[
        lines(&["tmpfs / 755 size=25%", "symlink /bin -> usr/bin", "mkdir /dev 755"]),
        minimal_dev(),
        vec![
            "mkdir /etc 755".into(),
            o("/etc", 1, "fail", ""),
            // As root nothing is locked: /home is overlaid whole, /home/u stacked on it.
            "mkdir /home 755".into(),
            o("/home", 2, "else ro (ext4)", ""),
            "mkdir /mnt 755".into(),
            o("/mnt", 3, "fail", ""),
            "mkdir /proc 755".into(),
            "mkdir /sys 755".into(),
            "bind /sys tree ro".into(),
            "mkdir /tmp 1777".into(),
            "mkdir /usr 755".into(),
            o("/usr", 4, "fail", ""),
            "mkdir /var 755".into(),
            o("/var", 5, "fail", ""),
            "bind /vmlinuz single ro create-file".into(),
            o("/home/u", 6, "else ro (xfs)", " warn-if-missing"),
            "tmpfs /tmp 1777 size=25% if-dir".into(),
            "tmpfs /var/tmp 1777 size=25% if-dir".into(),
            "tmpfs /dev/shm 1777 size=25% if-dir".into(),
        ],
        proc_guards(),
        // On our own tmpfs root, /.flakebox is in no upper layer.
        lines(&["mkdir /.flakebox 755"]),
    ]);
    assert_eq!(plan, expected);
}

#[test]
fn rootless_overlays_per_directory_and_recreates_the_way_to_locked_mounts() {
    let mut c = case(true);
    c.mounts = table(&[
        ("/", "ext4", "rw"),
        ("/proc", "proc", "rw"),
        ("/usr/local", "xfs", "rw"),
        ("/usr/local/ro", "ext4", "ro"),
        ("/home", "ext4", "rw"),
        ("/tmp/fuse", "fuse.sshfs", "rw"),
    ]);
    let host = tree(&[
        "/tmp/",
        "/usr/bin/sh",
        "/usr/README",
        "/usr/local/ro/",
        "/home/u/",
        "/tmp/fuse/",
        "/mnt/",
        "/etc/hosts",
    ]);
    let o = |at: &str, n: usize, fallback: &str| {
        format!("overlay {at} lowerdir=/old{at},upperdir=/up/{n}/u,workdir=/up/{n}/w,userxattr,index=off [{fallback}]")
    };
    assert_eq!(
        c.plan(&host),
        vec![
            "tmpfs / 755 size=25%".to_string(),
            "mkdir /etc 755".into(),
            o("/etc", 1, "fail"),
            // A mount point itself is overlaid (nothing locked below /home).
            "mkdir /home 755".into(),
            o("/home", 2, "else ro (ext4)"),
            // Empty: our own directory is its copy-on-write layer.
            "mkdir /mnt 755".into(),
            "track /mnt".into(),
            // Under the fresh /tmp, the locked /tmp/fuse is not reached.
            "mkdir /tmp 1777".into(),
            // /usr leads to the locked /usr/local: recreated entry by entry,
            // its files bound read-only.
            "mkdir /usr 755".into(),
            "bind /usr/README single ro create-file".into(),
            "mkdir /usr/bin 755".into(),
            o("/usr/bin", 3, "fail"),
            "mkdir /usr/local 755".into(),
            "mkdir /usr/local/ro 755".into(),
            "bind /usr/local/ro single ro".into(),
            // No stacking step: populate went down to every mount point.
            "tmpfs /tmp 1777 size=25% if-dir".into(),
            "tmpfs /var/tmp 1777 size=25% if-dir".into(),
            "tmpfs /dev/shm 1777 size=25% if-dir".into(),
            "proc".into(),
            "mkdir /.flakebox 755".into(),
        ]
    );
}

#[test]
fn a_working_directory_under_tmp_stays_visible() {
    for userns in [false, true] {
        let mut c = case(userns);
        c.cwd = "/tmp/proj/sub".into();
        c.visible = vec!["/tmp/proj".into(), "/var/tmp/gone".into(), "/usr/bin".into()];
        let plan = c.plan(&host_tree());
        let at = plan.iter().position(|l| l == "tmpfs /dev/shm 1777 size=25% if-dir").expect("fresh tmp");
        let xattr = if userns { ",userxattr" } else { "" };
        let chown = if userns { "" } else { " chown" };
        let n = plan.iter().filter(|l| l.starts_with("overlay")).count();
        // Parents first; /tmp/proj/sub is inside /tmp/proj's overlay; a missing
        // directory and one not under a fresh tmp directory get nothing.
        assert_eq!(
            plan[at + 1..at + 3],
            [
                "mkdir -p /tmp/proj 755".to_string(),
                format!(
                    "overlay /tmp/proj lowerdir=/old/tmp/proj,upperdir=/up/{n}/u,workdir=/up/{n}/w{xattr},\
                     index=off{chown} [fail]"
                ),
            ],
            "userns {userns}"
        );
        assert_eq!(plan[at + 3], "proc", "userns {userns}");
    }
}

#[test]
fn keep_binds_what_exists_and_copies_out_what_does_not() {
    let mut c = case(true);
    c.keep = vec!["/home/u/proj".into(), "/etc/hosts".into(), "/home/u/out/new.txt".into()];
    c.collect = vec![("/tmp/junit.xml".into(), "/var/tmp/run-1/junit.xml".into())];
    let plan = c.plan(&host_tree());
    let at = plan.iter().position(|l| l == "proc").expect("proc");
    assert_eq!(
        plan[at - 4..at],
        [
            "bind /home/u/proj tree rw create-dir",
            "bind /etc/hosts tree rw create-file",
            // The nearest existing ancestor receives it when the command ends.
            "copy-out /home/u/out/new.txt to /home/u + out/new.txt",
            "copy-out /tmp/junit.xml to /var/tmp/run-1 + junit.xml then remove",
        ]
    );
}

#[test]
fn nested_mounts_stack_parents_first_and_bind_what_overlayfs_should_not_stack_on() {
    let mut c = case(false);
    c.mounts = table(&[
        ("/", "ext4", "rw"),
        ("/srv/a/b", "xfs", "rw"),
        ("/srv/a", "ext4", "rw"),
        ("/srv/a/b/ro", "ext4", "ro"),
        ("/srv/bpf", "bpf", "rw"),
        ("/etc/resolv.conf", "ext4", "rw"),
        ("/srv/a", "tmpfs", "rw"),
        ("/sys/fs/cgroup", "cgroup2", "rw"),
    ]);
    let host = tree(&["/dev/", "/sys/", "/srv/a/b/ro/", "/srv/bpf/", "/etc/resolv.conf"]);
    let plan = c.plan(&host);
    let stacked: Vec<&String> = after_sys(&plan).iter().take_while(|l| !l.starts_with("tmpfs")).collect();
    assert_eq!(
        stacked,
        [
            // The topmost of the two mounts on /srv/a is the one seen.
            "overlay /srv/a lowerdir=/old/srv/a,upperdir=/up/2/u,workdir=/up/2/w,index=off chown warn-if-missing \
             [else ro (tmpfs)]",
            "bind /srv/bpf single rw warn-if-missing",
            // A file bound on a file (a container's resolv.conf).
            "bind /etc/resolv.conf single ro warn-if-missing",
            "overlay /srv/a/b lowerdir=/old/srv/a/b,upperdir=/up/3/u,workdir=/up/3/w,index=off chown \
             warn-if-missing [else ro (xfs)]",
            "bind /srv/a/b/ro single ro warn-if-missing",
        ]
    );
}

#[test]
fn a_filesystem_overlayfs_cannot_stack_on_is_read_only_with_a_warning() {
    // Refused at mount time: the overlay carries the read-only fallback.
    let mut c = case(false);
    c.mounts = table(&[("/", "ext4", "rw"), ("/net", "nfs4", "rw")]);
    let plan = c.plan(&tree(&["/net/"]));
    assert!(
        plan.iter().any(|l| l.starts_with("overlay /net ") && l.ends_with("[else ro (nfs4)]")),
        "{plan:#?}"
    );
    // Known when planning: no state directory outside the mount point.
    c.fs = FsMode::Persistent { state: ["/srv/x/a".into(), "/srv/y/b".into()] };
    c.mounts = table(&[("/", "ext4", "rw"), ("/srv", "ext4", "rw")]);
    let plan = c.plan(&tree(&["/dev/", "/sys/", "/srv/x/a/", "/srv/y/b/"]));
    assert_eq!(
        after_sys(&plan)[..2],
        [
            "bind /srv single ro warn-if-missing",
            "warn /srv (ext4) cannot be copy-on-write (no state directory lies outside /srv); it is read-only in \
             the sandbox",
        ]
    );
    // The interpreter words a refusal at mount time the same way.
    assert_eq!(
        read_only_warning(Path::new("/net"), "nfs4", "overlay on /net: Invalid argument"),
        "/net (nfs4) cannot be copy-on-write (overlay on /net: Invalid argument); it is read-only in the sandbox"
    );
}

#[test]
fn persistent_state_keeps_tmp_and_puts_each_upper_layer_outside_its_lower() {
    let mut c = case(false);
    c.fs = FsMode::Persistent { state: ["/tmp/st".into(), "/var/tmp/st".into()] };
    c.mounts = table(&[("/", "ext4", "rw"), ("/tmp", "tmpfs", "rw"), ("/home", "ext4", "rw")]);
    let plan = c.plan(&host_tree());
    assert_eq!(
        plan,
        concat(&[
            lines(&[
            "overlay / lowerdir=/old,upperdir=/old/tmp/st/%2F/upper,workdir=/old/tmp/st/%2F/work,index=off chown \
             [else replan]"]),
            minimal_dev(),
            lines(&[
            "bind /sys tree ro if-dir",
            // /tmp/st lies inside /tmp: its layers go to the other state directory.
            "overlay /tmp lowerdir=/old/tmp,upperdir=/old/var/tmp/st/%2Ftmp/upper,\
             workdir=/old/var/tmp/st/%2Ftmp/work,index=off chown warn-if-missing [else ro (tmpfs)]",
            "overlay /home lowerdir=/old/home,upperdir=/old/tmp/st/%2Fhome/upper,\
             workdir=/old/tmp/st/%2Fhome/work,index=off chown warn-if-missing [else ro (ext4)]",
            // No fresh /tmp: its writes are state; /dev/shm is not.
            "tmpfs /dev/shm 1777 size=25% if-dir",
            ]),
            proc_guards(),
            // The root overlay's upper layer persists: /.flakebox must not be in it.
            lines(&["mkdir /.flakebox 755", "tmpfs /.flakebox 755 size=25%"]),
        ])
    );
    // Rootless, per directory, with the same state layout.
    c.userns = true;
    let plan = c.plan(&host_tree());
    assert!(plan.contains(
        &"overlay /tmp lowerdir=/old/tmp,upperdir=/old/var/tmp/st/%2Ftmp/upper,workdir=/old/var/tmp/st/%2Ftmp/work,\
          userxattr,index=off [else ro (tmpfs)]"
            .to_string()
    ));
    assert!(!plan.contains(&"tmpfs /tmp 1777 size=25% if-dir".to_string()));
    assert_eq!(plan.last().map(String::as_str), Some("mkdir /.flakebox 755"));
}

#[test]
fn host_mode_binds_every_top_level_entry_through() {
    let mut c = case(false);
    c.fs = FsMode::Host;
    let inputs = c.inputs();
    assert_eq!(Root::preferred(&inputs), Root::Tmpfs);
    let plan = c.plan(&tree(&["/usr/bin/sh", "/home/u/", "/proc/", "/vmlinuz"]));
    assert_eq!(
        plan,
        lines(&[
            "tmpfs / 755 size=25%",
            "mkdir /home 755",
            "bind /home tree rw",
            "mkdir /proc 755",
            "mkdir /usr 755",
            "bind /usr tree rw",
            "bind /vmlinuz single ro create-file",
            "tmpfs /dev/shm 1777 size=25% if-dir",
        ])
        .into_iter()
        .chain(proc_guards())
        .chain(lines(&["mkdir /.flakebox 755"]))
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_directory_that_cannot_be_listed_fails_the_plan() {
    let c = case(true);
    let mut host = host_tree();
    host.0.insert("/".into(), Kind::File);
    let err = plan(&c.inputs(), Root::Tmpfs, &host).expect_err("unlistable root");
    assert_eq!(err, "listing /: Not a directory");
}

#[test]
fn paths_join_under_a_base() {
    assert_eq!(old_path(Path::new("/home/u/x")), PathBuf::from("/old/home/u/x"));
    assert_eq!(new_path(Path::new("/")), PathBuf::from("/new"));
}

#[test]
fn encodes_and_escapes() {
    assert_eq!(encode(Path::new("/home/a%b")), "%2Fhome%2Fa%25b");
    assert_eq!(escape(Path::new("/a,b:c")), "/a\\,b\\:c");
}

#[test]
fn as_root_dev_is_minimal_sys_read_only_and_proc_guarded_rootless_they_are_the_hosts() {
    let mut c = case(false);
    c.fs = FsMode::Host;
    c.keep = Vec::new();
    let host = tree(&["/dev/null", "/dev/tty", "/dev/vda", "/dev/kvm", "/sys/", "/proc/"]);
    c.terminal = Some("/dev/pts/3".into());
    let plan = c.plan(&host);
    // No disk, no kvm; the terminal is the console.
    assert!(plan.iter().all(|l| !l.contains("vda") && !l.contains("kvm")), "{plan:#?}");
    assert!(plan.contains(&"bind /dev/pts/3 on /dev/console".to_string()), "{plan:#?}");
    // A read-only template could not have the console made on it: per run.
    assert!(plan.contains(&"devdir /dev".to_string()), "{plan:#?}");
    assert!(plan.contains(&"bind /sys tree ro".to_string()), "{plan:#?}");
    // Without its own network namespace, net.* is the host's: read-only.
    c.own_net = false;
    let plan = c.plan(&host);
    assert!(plan.contains(&"rebind /proc/sys ro".to_string()), "{plan:#?}");
    assert!(!plan.iter().any(|l| l.starts_with("rebind /proc/sys/net")), "{plan:#?}");
    assert!(plan.contains(&"rebind /proc/sys/kernel/ns_last_pid rw".to_string()), "{plan:#?}");
    // Rootless: the kernel already refuses these writes; /dev and /sys are bound.
    c.userns = true;
    let plan = c.plan(&host);
    assert!(plan.contains(&"bind /dev tree rw".to_string()), "{plan:#?}");
    assert!(plan.contains(&"bind /sys tree rw".to_string()), "{plan:#?}");
    assert!(!plan
        .iter()
        .any(|l| l.starts_with("rebind") || l.starts_with("mask") || l.starts_with("devpts")));
}

#[test]
fn a_keep_path_that_is_a_symbolic_link_is_not_bound() {
    let mut c = case(false);
    c.keep = vec!["/home/u/proj/out".into()];
    let plan = c.plan(&tree(&["/home/u/proj/out -> /etc", "/etc/passwd"]));
    assert!(!plan.iter().any(|l| l.starts_with("bind /home/u/proj/out")), "{plan:#?}");
    assert!(
        plan.iter()
            .any(|l| l.starts_with("warn --keep /home/u/proj/out: a symbolic link (to /etc) is not kept")),
        "{plan:#?}"
    );
}

#[test]
fn a_hidden_path_is_removed_from_the_view_after_every_mount_and_before_proc() {
    let host =
        tree(&["/tmp/", "/home/u/proj/", "/home/u/.cache/app/state.csv", "/home/u/.netrc", "/usr/bin/sh"]);
    for userns in [false, true] {
        let mut c = case(userns);
        c.hide = vec!["/home/u/.cache/app".into(), "/home/u/.netrc".into(), "/home/u/missing".into()];
        let ops = c.plan(&host);
        let hides: Vec<usize> =
            ops.iter().enumerate().filter(|(_, o)| o.starts_with("hide ")).map(|(i, _)| i).collect();
        assert_eq!(
            hides.iter().map(|&i| ops[i].as_str()).collect::<Vec<_>>(),
            ["hide /home/u/.cache/app", "hide /home/u/.netrc"],
            "a missing path needs nothing (userns {userns}): {ops:#?}"
        );
        let last_mount =
            ops.iter().rposition(|o| o.starts_with("overlay") || o.starts_with("bind")).expect("mounts");
        let proc = ops.iter().position(|o| o == "proc").expect("proc");
        assert!(hides.iter().all(|&h| h > last_mount && h < proc), "userns {userns}: {ops:#?}");
    }
}

#[test]
fn a_hidden_path_under_a_fresh_tmp_directory_is_absent_already_unless_it_stays_visible() {
    let host = tree(&["/tmp/stale.db", "/tmp/proj/cache.db", "/home/u/proj/", "/var/tmp/"]);
    let mut c = case(true);
    c.hide = vec!["/tmp/stale.db".into()];
    assert!(!c.plan(&host).iter().any(|o| o.starts_with("hide")));
    assert_eq!(
        check_hide(Path::new("/tmp/stale.db"), &FsMode::Fresh, &c.cwd, &[], &[]),
        Ok(HideBy::FreshTmp)
    );
    // The working directory under /tmp stays visible, so its files must go.
    c.cwd = "/tmp/proj".into();
    c.hide = vec!["/tmp/proj/cache.db".into()];
    assert!(c.plan(&host).contains(&"hide /tmp/proj/cache.db".to_string()));
    // Diagnose's persistent state keeps /tmp: hidden by removal there too.
    let state = FsMode::Persistent { state: ["/s/a".into(), "/s/b".into()] };
    assert_eq!(
        check_hide(Path::new("/tmp/stale.db"), &state, Path::new("/w"), &[], &[]),
        Ok(HideBy::Removing)
    );
}

#[test]
fn bad_hide_paths_are_refused_with_what_to_do() {
    let cwd = Path::new("/home/u/proj");
    let fresh = FsMode::Fresh;
    let err =
        |p: &str, fs: &FsMode, keep: &[PathBuf]| check_hide(Path::new(p), fs, cwd, &[], keep).expect_err(p);
    assert!(err("data/x.csv", &fresh, &[]).contains("give it from / (here: /home/u/proj/data/x.csv)"));
    assert!(err("/home/u/../u/x", &fresh, &[]).contains("without . or .."));
    assert!(err("/", &fresh, &[]).contains("name the file or directory"));
    assert!(err("/proc/self/x", &fresh, &[]).contains("/proc is the sandbox's own"));
    assert!(err("/home/u/x", &FsMode::Host, &[]).contains("drop --share fs"));
    let keep = [PathBuf::from("/home/u/out")];
    assert!(err("/home/u/out/a", &fresh, &keep).contains("overlaps --keep /home/u/out"));
    assert!(err("/home/u", &fresh, &keep).contains("drop one of the two"));
    assert_eq!(check_hide(Path::new("/home/u/outside"), &fresh, cwd, &[], &keep), Ok(HideBy::Removing));
}

#[test]
fn every_tmpfs_of_every_plan_has_the_tmp_size_limit() {
    // The command writes to each tmpfs, directly or through an upper layer:
    // none may take the host's memory past --tmp-size.
    let host = host_tree();
    for userns in [false, true] {
        for fs in [FsMode::Fresh, FsMode::Host] {
            for root in [Root::Overlay, Root::Tmpfs] {
                let mut c = case(userns);
                c.fs = fs.clone();
                c.tmp_size = TmpSize::Bytes(8 << 20);
                let ops = plan(&c.inputs(), root, &host).expect("plan");
                let sizes: Vec<(String, TmpSize)> = ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Tmpfs { at, size, .. } => Some((at.display().to_string(), *size)),
                        _ => None,
                    })
                    .collect();
                assert!(!sizes.is_empty(), "{userns} {fs:?} {root:?}: no tmpfs");
                for (at, size) in sizes {
                    assert_eq!(size, TmpSize::Bytes(8 << 20), "{userns} {fs:?} {root:?}: {at}");
                }
            }
        }
    }
}

#[test]
fn the_dev_template_is_named_after_its_entries() {
    let node = |minor| DevEntry::Node { name: "null", major: 1, minor, mode: 0o666 };
    let a = dev_template(&[node(3)]);
    assert_eq!(a, dev_template(&[node(3)]));
    assert_ne!(a, dev_template(&[node(4)]));
    assert_eq!(a.parent(), Some(Path::new(DEV_TEMPLATES)));
    let name = a.file_name().and_then(|n| n.to_str()).expect("a name");
    assert!(name.strip_prefix("dev-").is_some_and(|h| h.len() == 16), "{name}");
}

#[test]
fn the_dev_templates_are_hidden_where_the_hosts_run_is_writable() {
    let host = tree(&["/dev/null", "/run/lock/", "/sys/", "/proc/", "/home/u/proj/"]);
    let mask = "mask /run/flakebox Dir".to_string();
    let mut c = case(false);
    // On the root overlay, a write there is the sandbox's own.
    let plan = c.plan(&host);
    assert!(plan.contains(&"devdir /dev (template)".to_string()) && !plan.contains(&mask), "{plan:#?}");
    c.keep = vec!["/run".into()];
    assert!(c.plan(&host).contains(&mask));
    c.keep = Vec::new();
    c.fs = FsMode::Host;
    let plan = c.plan(&host);
    let (dev, hidden) =
        (plan.iter().position(|l| l.starts_with("devdir")), plan.iter().position(|l| *l == mask));
    assert!(dev.is_some() && hidden > dev, "{plan:#?}");
    // With a terminal this sandbox makes its own /dev, but could still
    // change the template of the next ones.
    c.terminal = Some("/dev/pts/3".into());
    let plan = c.plan(&host);
    assert!(plan.contains(&"devdir /dev".to_string()) && plan.contains(&mask), "{plan:#?}");
    // Rootless: the templates are root's, not the command's, to change.
    c.terminal = None;
    c.userns = true;
    assert!(!c.plan(&host).contains(&mask));
}
