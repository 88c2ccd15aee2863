//! The escape suite: each case is a real attempt, from inside `flakebox run`
//! as root and as nobody, to change the host. Each asserts that the attempt
//! really ran (the command prints what each call returned: `TAG ok` or
//! `TAG ERRNO`) and that the host is unchanged afterwards (the file, the
//! clock, the link list), not only that the command failed.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

/// The system's Python (not a version manager's shim, which nobody may not run).
const PY: &str = "/usr/bin/python3";

/// Helpers every attempt script starts with: `attempt(tag, fn)` prints
/// `tag ok` or `tag ERRNO`; `sysc(tag, nr, *args)` does the same for a raw
/// system call.
const PRELUDE: &str = r#"
import ctypes, errno, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
def name(e): return errno.errorcode.get(e, str(e))
def attempt(tag, f):
    try:
        f()
        print(tag, "ok", flush=True)
    except OSError as e:
        print(tag, name(e.errno), flush=True)
def sysc(tag, nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *args)
    print(tag, "ok" if r == 0 else name(ctypes.get_errno()), flush=True)
"#;

/// Run `script` (after [`PRELUDE`]) in the sandbox as `who`, with
/// `flakebox run ARGS -- python3 -c ...`.
fn attempt(who: Who, dir: &Path, args: &[&str], script: &str) -> Output {
    let code = format!("{PRELUDE}\n{script}");
    let mut all = vec!["run", "--timeout", "60s"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", PY, "-c", &code]);
    run(who, dir, &all)
}

/// Each `TAG RESULT` line of the command's output, by tag.
fn results(who: Who, o: &Output) -> BTreeMap<String, String> {
    assert_ne!(o.status.code(), Some(124), "{who:?}: the attempt hung: {}", stderr(o));
    stdout(o)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, r)| (t.to_string(), r.trim().to_string()))
        .collect()
}

/// The result of `tag`, which must have been tried.
fn result<'a>(who: Who, r: &'a BTreeMap<String, String>, tag: &str, o: &Output) -> &'a str {
    r.get(tag).unwrap_or_else(|| panic!("{who:?}: {tag} was not tried: {}{}", stdout(o), stderr(o)))
}

/// `tag` was tried and failed with one of `errnos`.
fn refused(who: Who, r: &BTreeMap<String, String>, tag: &str, errnos: &[&str], o: &Output) {
    let got = result(who, r, tag, o);
    assert!(errnos.contains(&got), "{who:?}: {tag} gave {got}, expected one of {errnos:?}: {}", stderr(o));
}

fn clock(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The wall clock's offset from the boot clock: moves only when someone
/// sets the clock.
fn wall_offset() -> i128 {
    clock(libc::CLOCK_REALTIME) - clock(libc::CLOCK_BOOTTIME)
}

#[test]
fn the_real_clock_cannot_be_set() {
    let script = format!(
        r#"
class timespec(ctypes.Structure): _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
ts = timespec()
# The real time, past the clock shim; set to itself, so even a success
# would hardly move it.
libc.syscall(ctypes.c_long({gettime}), 0, ctypes.byref(ts))
sysc("clock_settime", {settime}, 0, ctypes.byref(ts))
tv = (ctypes.c_long * 2)(ts.s, ts.ns // 1000)
sysc("settimeofday", {settimeofday}, tv, None)
tx = ctypes.create_string_buffer(512)
libc.syscall(ctypes.c_long({adjtimex}), tx)  # modes 0: a read
ctypes.c_uint.from_buffer(tx).value = 0x0002  # ADJ_FREQUENCY, to the value just read
sysc("adjtimex", {adjtimex}, tx)
r = subprocess.run(["date", "-s", "@%d" % ts.s], capture_output=True)
print("date", "ok" if r.returncode == 0 else "failed", flush=True)
"#,
        gettime = libc::SYS_clock_gettime,
        settime = libc::SYS_clock_settime,
        settimeofday = libc::SYS_settimeofday,
        adjtimex = libc::SYS_adjtimex,
    );
    for who in BOTH {
        let d = scratch(who);
        let before = wall_offset();
        let report = d.path().join("report.json");
        let o = attempt(who, d.path(), &["--report", &report.to_string_lossy()], &script);
        let r = results(who, &o);
        for tag in ["clock_settime", "settimeofday", "adjtimex"] {
            refused(who, &r, tag, &["EPERM"], &o);
        }
        assert_eq!(result(who, &r, "date", &o), "failed", "{who:?}");
        let moved = (wall_offset() - before).abs();
        assert!(moved < 1_000_000_000, "{who:?}: the host's clock moved by {moved} ns");
        // Each attempt is evidence: in the report, typed, and said on stderr;
        // the adjtimex that only read is not an attempt.
        use clock::trace::{ClockSetCall, Outcome};
        let rep = runs::RunReport::read(&report).expect("report");
        let attempts: Vec<(ClockSetCall, Outcome, u32)> =
            rep.clock_set_attempts.iter().map(|a| (a.call, a.outcome.clone(), a.count)).collect();
        let eperm = Outcome::Err("EPERM".into());
        assert_eq!(
            attempts,
            vec![
                // The script's raw call, then date's, through the C library.
                (ClockSetCall::ClockSettime, eperm.clone(), 2),
                (ClockSetCall::Settimeofday, eperm.clone(), 1),
                (ClockSetCall::Adjtimex, eperm, 1),
            ],
            "{who:?}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("the command tried to set the clock (clock_settime) and got EPERM"),
            "{who:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn cap_add_gives_the_clock_back_with_a_warning() {
    // Only the warning and the capability set: actually setting the host's
    // clock is not something a test may do.
    let d = scratch(Who::Root);
    let o = run(
        Who::Root,
        d.path(),
        &["run", "--cap-add", "sys_time", "--", "grep", "CapEff", "/proc/self/status"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let hex = stdout(&o).split_whitespace().nth(1).map(str::to_string).unwrap_or_default();
    let eff = u64::from_str_radix(&hex, 16).expect("CapEff in hex");
    assert_ne!(eff & sandbox::Capability::CAP_SYS_TIME.bitmask(), 0, "CAP_SYS_TIME given back: {hex}");
    assert_eq!(eff & sandbox::Capability::CAP_SYS_MODULE.bitmask(), 0, "only that one: {hex}");
    assert!(stderr(&o).contains("warning: --cap-add CAP_SYS_TIME"), "{}", stderr(&o));
    let o = run(Who::Root, d.path(), &["run", "--cap-add", "sys_tyme", "--", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("sys_tyme") && stderr(&o).contains("CAP_SYS_TIME"), "{}", stderr(&o));
}

/// As root, in the sandbox: the command's capability sets after a second
/// exec and the personality of a grandchild, then real attempts to regain
/// capabilities by exec: a program with file capabilities (all of them, set
/// by the command, which keeps CAP_SETFCAP) and a setuid-root program run as
/// nobody. Each output line is `HOW CapXxx: HEX` (or `personality HEX`).
const REGAIN: &str = r#"
grep -E '^(Cap(Eff|Prm|Inh|Amb)|NoNewPrivs)' /proc/self/status | sed 's/^/exec /'
sh -c 'echo "personality $(cat /proc/self/personality)"; true'
cp /bin/grep /flakebox-filecaps-grep
/usr/bin/python3 -c 'import os, struct; os.setxattr("/flakebox-filecaps-grep", "security.capability", struct.pack("<IIIII", 0x02000000, 0xffffffff, 0, 0xffffffff, 0))' && echo 'setxattr ok'
/flakebox-filecaps-grep -E '^Cap(Eff|Prm|Amb)' /proc/self/status | sed 's/^/filecaps /'
cp /bin/grep /flakebox-setuid-grep && chmod 4755 /flakebox-setuid-grep
setpriv --reuid=65534 --regid=65534 --clear-groups /flakebox-setuid-grep -E '^Cap(Eff|Prm|Amb)' /proc/self/status | sed 's/^/setuid /'
"#;

/// The set `HOW CapXxx:` reports in `out` (REGAIN's output).
fn cap_set(out: &str, how: &str, set: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([how, set]))
        .unwrap_or_else(|| panic!("no {how} {set} in {out}"));
    u64::from_str_radix(line.split_whitespace().nth(2).unwrap_or(""), 16).expect("hex")
}

#[test]
fn as_root_the_command_has_no_host_reaching_capability_even_after_exec() {
    let d = scratch(Who::Root);
    // By default the seed's fixed addresses (ADDR_NO_RANDOMIZE) must survive
    // every exec, so root's exec is granted nothing and the kept set is
    // passed on as the ambient set; the clock supervisor's filter sets
    // no_new_privs of its own. With the clock and randomness shared neither
    // is there to help.
    for args in [&["run", "--"][..], &["run", "--share", "time,rand", "--"]] {
        let seeded = args.len() == 2;
        let mut all = args.to_vec();
        all.extend_from_slice(&["sh", "-c", REGAIN]);
        let o = run(Who::Root, d.path(), &all);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("setxattr ok"),
            "{args:?}: the file capabilities were not set: {out}{}",
            stderr(&o)
        );
        // What may be held is bounded by the permitted set: it cannot grow
        // without an exec, and under no_new_privs an exec cannot grow it.
        assert!(
            out.lines().any(|l| l.split_whitespace().eq(["exec", "NoNewPrivs:", "1"])),
            "{args:?}: {out}"
        );
        use sandbox::Capability::*;
        // The kept set stays effective after exec, whichever way it is carried.
        let kept = cap_set(&out, "exec", "CapPrm:");
        assert_ne!(kept & CAP_CHOWN.bitmask(), 0, "{args:?}: {out}");
        assert_eq!(cap_set(&out, "exec", "CapEff:"), kept, "{args:?}: {out}");
        let carried = if seeded { kept } else { 0 };
        assert_eq!(cap_set(&out, "exec", "CapInh:"), carried, "{args:?}: {out}");
        assert_eq!(cap_set(&out, "exec", "CapAmb:"), carried, "{args:?}: {out}");
        let personality = out
            .lines()
            .find_map(|l| l.strip_prefix("personality "))
            .and_then(|p| u32::from_str_radix(p.trim(), 16).ok())
            .unwrap_or_else(|| panic!("{args:?}: no personality in {out}"));
        assert_eq!(
            personality & libc::ADDR_NO_RANDOMIZE as u32 != 0,
            seeded,
            "{args:?}: the seed's fixed addresses in a grandchild: {personality:#x}"
        );
        // File capabilities and a switch to another user empty the ambient
        // set; the other user holds nothing.
        assert_eq!(cap_set(&out, "filecaps", "CapAmb:"), 0, "{args:?}: {out}");
        for set in ["CapEff:", "CapPrm:", "CapAmb:"] {
            assert_eq!(cap_set(&out, "setuid", set), 0, "{args:?}: {out}");
        }
        for how in ["exec", "filecaps", "setuid"] {
            let sets: Vec<&str> = out.lines().filter(|l| l.starts_with(how) && l.contains(" Cap")).collect();
            assert!(sets.len() >= 2, "{args:?}: {how} did not run: {out}{}", stderr(&o));
            for line in sets {
                let hex = line.split_whitespace().nth(2).unwrap_or("");
                let set = u64::from_str_radix(hex, 16).expect("hex");
                for cap in sandbox::HOST_REACHING_CAPABILITIES {
                    assert_eq!(set & cap.bitmask(), 0, "{args:?}: capability {cap} in {line}");
                }
            }
        }
    }
    // With the host's network, no network administration either.
    let o = run(Who::Root, d.path(), &["run", "--share", "net", "--", "grep", "CapEff", "/proc/self/status"]);
    let hex = stdout(&o).split_whitespace().nth(1).map(str::to_string).unwrap_or_default();
    let eff = u64::from_str_radix(&hex, 16).expect("CapEff in hex");
    assert_eq!(
        eff & (sandbox::Capability::CAP_NET_ADMIN.bitmask() | sandbox::Capability::CAP_NET_RAW.bitmask()),
        0,
        "{hex}"
    );
}

/// A loop device over a file of zeros, detached when dropped.
struct Loop {
    dev: String,
    _file: tempfile::NamedTempFile,
    backing: std::path::PathBuf,
}

impl Loop {
    fn new() -> Loop {
        let mut file = tempfile::NamedTempFile::new_in("/var/tmp").expect("backing file");
        file.write_all(&[0u8; 1 << 16]).expect("zeros");
        let backing = file.path().to_path_buf();
        let o = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&backing)
            .output()
            .expect("losetup");
        assert!(o.status.success(), "losetup: {}", stderr(&o));
        Loop { dev: stdout(&o).trim().to_string(), _file: file, backing }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
fn a_block_device_cannot_be_written() {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    let lo = Loop::new();
    let meta = std::fs::metadata(&lo.dev).expect("loop device");
    assert!(meta.file_type().is_block_device());
    let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
    let script = format!(
        r#"
def write(path):
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"ESCAPED")
    os.close(fd)
attempt("open", lambda: write("{dev}"))
def node():
    os.mknod("blk", 0o600 | 0o060000, os.makedev({major}, {minor}))
    write("blk")
attempt("mknod", node)
"#,
        dev = lo.dev
    );
    for who in BOTH {
        let d = scratch(who);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        // As root the device is not in the sandbox's /dev; as nobody it is
        // the host's, and not ours to open.
        refused(who, &r, "open", &["ENOENT", "EACCES"], &o);
        refused(who, &r, "mknod", &["EPERM"], &o);
        let data = std::fs::read(&lo.backing).expect("backing file");
        assert!(data.iter().all(|b| *b == 0), "{who:?}: the device was written");
    }
}

#[test]
fn a_kernel_module_cannot_be_loaded() {
    let script = format!(
        r#"
image = b"\x7fELF" + b"\0" * 60
open("bogus.ko", "wb").write(image)
sysc("init_module", {init}, image, len(image), b"")
fd = os.open("bogus.ko", os.O_RDONLY)
sysc("finit_module", {finit}, fd, b"", 0)
"#,
        init = libc::SYS_init_module,
        finit = libc::SYS_finit_module,
    );
    for who in BOTH {
        let d = scratch(who);
        // A kernel built without modules has no /proc/modules.
        let before = std::fs::read_to_string("/proc/modules").unwrap_or_default();
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        // EPERM, not ENOEXEC: the kernel refused before looking at the
        // image (ENOSYS: a kernel without module support).
        let expected: &[&str] = if before.is_empty() { &["EPERM", "ENOSYS"] } else { &["EPERM"] };
        refused(who, &r, "init_module", expected, &o);
        refused(who, &r, "finit_module", expected, &o);
        assert_eq!(std::fs::read_to_string("/proc/modules").unwrap_or_default(), before, "{who:?}");
    }
}

/// Host-wide knobs in /proc/sys and /sys: their values, read on the host.
const KNOBS: [&str; 2] = ["/proc/sys/vm/swappiness", "/sys/kernel/mm/ksm/sleep_millisecs"];

#[test]
fn host_wide_proc_and_sys_knobs_cannot_be_written() {
    let script = KNOBS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "def w{i}():\n    v = int(open('{k}').read())\n    open('{k}', 'w').write(str(v + 1))\n\
                 attempt('knob{i}', w{i})\n"
            )
        })
        .collect::<String>();
    for who in BOTH {
        let d = scratch(who);
        let before: Vec<String> = KNOBS.iter().map(|k| std::fs::read_to_string(k).expect("knob")).collect();
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        let after: Vec<String> = KNOBS.iter().map(|k| std::fs::read_to_string(k).expect("knob")).collect();
        for (i, k) in KNOBS.iter().enumerate() {
            if after[i] != before[i] {
                let _ = std::fs::write(k, &before[i]); // put the host back before failing
            }
            assert_eq!(after[i], before[i], "{who:?}: {k} changed on the host");
            refused(who, &r, &format!("knob{i}"), &["EROFS", "EACCES", "EPERM"], &o);
        }
    }
}

#[test]
fn host_services_on_loopback_are_unreachable() {
    use std::net::{TcpListener, UdpSocket};
    let tcp4 = TcpListener::bind("127.0.0.1:0").expect("tcp4");
    let tcp6 = TcpListener::bind("[::1]:0").expect("tcp6");
    let udp4 = UdpSocket::bind("127.0.0.1:0").expect("udp4");
    let udp6 = UdpSocket::bind("[::1]:0").expect("udp6");
    for s in [&tcp4, &tcp6] {
        s.set_nonblocking(true).expect("nonblocking");
    }
    for s in [&udp4, &udp6] {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let port = |a: std::io::Result<std::net::SocketAddr>| a.expect("addr").port();
    let script = format!(
        r#"
attempt("tcp4", lambda: socket.create_connection(("127.0.0.1", {t4}), timeout=5))
attempt("tcp6", lambda: socket.create_connection(("::1", {t6}), timeout=5))
def udp(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.sendto(b"ESCAPED", addr)
attempt("udp4", lambda: udp(socket.AF_INET, ("127.0.0.1", {u4})))
attempt("udp6", lambda: udp(socket.AF_INET6, ("::1", {u6})))
"#,
        t4 = port(tcp4.local_addr()),
        t6 = port(tcp6.local_addr()),
        u4 = port(udp4.local_addr()),
        u6 = port(udp6.local_addr()),
    );
    for who in BOTH {
        let d = scratch(who);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        for tag in ["tcp4", "tcp6"] {
            refused(who, &r, tag, &["ECONNREFUSED", "ENETUNREACH", "EADDRNOTAVAIL"], &o);
        }
        // A datagram leaves without an error; it must not arrive. Loopback
        // delivers at send time, so by now it would be queued.
        for tag in ["udp4", "udp6"] {
            result(who, &r, tag, &o);
        }
        for s in [&tcp4, &tcp6] {
            assert!(s.accept().is_err(), "{who:?}: a connection reached the host");
        }
        let mut buf = [0u8; 16];
        for s in [&udp4, &udp6] {
            assert!(s.recv(&mut buf).is_err(), "{who:?}: a datagram reached the host");
        }
    }
}

#[test]
fn host_unix_sockets_by_path_and_abstract_name_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    // Outside /tmp (a service's socket in /run), reachable by anyone on the host.
    let dir = tempfile::Builder::new().prefix("flakebox-escape-").tempdir_in("/run").expect("dir in /run");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().join("s");
    let by_path = UnixListener::bind(&path).expect("bind by path");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let name = unique("flakebox-escape");
    let abs = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).expect("name"))
        .expect("bind abstract");
    for l in [&by_path, &abs] {
        l.set_nonblocking(true).expect("nonblocking");
    }
    let script = format!(
        r#"
def conn(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
attempt("path", lambda: conn("{path}"))
attempt("abstract", lambda: conn("\0{name}"))
"#,
        path = path.display()
    );
    for who in BOTH {
        let d = scratch(who);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        refused(who, &r, "path", &["ECONNREFUSED", "ENOENT", "EACCES"], &o);
        refused(who, &r, "abstract", &["ECONNREFUSED"], &o);
        for l in [&by_path, &abs] {
            assert!(l.accept().is_err(), "{who:?}: a connection reached the host");
        }
    }
}

/// The host's network interfaces other than loopback.
fn host_interfaces() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn raw_and_packet_sockets_see_only_the_sandboxs_loopback() {
    let host = host_interfaces();
    let other = host.iter().find(|i| *i != "lo").expect("a host interface besides lo").clone();
    let script = format!(
        r#"
def packet():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    print("ifaces", ",".join(sorted(n for _, n in socket.if_nameindex())), flush=True)
    s.bind(("{other}", 0))
attempt("packet", packet)
def raw():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"{other}")
attempt("raw", raw)
"#
    );
    for who in BOTH {
        let d = scratch(who);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        // As root the socket may be opened (in the sandbox's own network,
        // whose only interface is lo); the host's interface is not there.
        // Rootless, the network namespace is not the user namespace's.
        refused(who, &r, "packet", &["ENODEV", "EPERM"], &o);
        if who == Who::Root {
            assert_eq!(result(who, &r, "ifaces", &o), "lo", "{who:?}");
        }
        refused(who, &r, "raw", &["ENODEV", "EPERM"], &o);
        assert_eq!(host_interfaces(), host, "{who:?}");
    }
}

/// The host's routes, as `ip route` lists them.
fn host_routes() -> String {
    let o = std::process::Command::new("ip").args(["route", "show", "table", "all"]).output().expect("ip");
    stdout(&o)
}

#[test]
fn interfaces_and_routes_added_in_the_sandbox_do_not_show_on_the_host() {
    let name = format!("fbx{}", std::process::id() % 1_000_000);
    let script = format!(
        r#"
def ip(tag, *args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    print(tag, "ok" if r.returncode == 0 else ("EPERM" if "not permitted" in r.stderr else "failed"), flush=True)
ip("link", "link", "add", "{name}", "type", "dummy")
ip("route", "route", "add", "203.0.113.0/24", "dev", "lo")
"#
    );
    let (links, routes) = (host_interfaces(), host_routes());
    for who in BOTH {
        for share_net in [false, true] {
            let d = scratch(who);
            let args: &[&str] = if share_net { &["--share", "net"] } else { &[] };
            let o = attempt(who, d.path(), args, &script);
            let r = results(who, &o);
            if share_net {
                // The host's network: no administration of it.
                refused(who, &r, "link", &["EPERM"], &o);
                refused(who, &r, "route", &["EPERM"], &o);
            } else if who == Who::Root {
                // Its own network: allowed, and it stays there.
                result(who, &r, "link", &o);
                assert_eq!(result(who, &r, "route", &o), "ok", "{who:?}: {}", stderr(&o));
            } else {
                // Rootless, the network namespace is the supervisor's
                // helper's: administering it is refused.
                refused(who, &r, "link", &["EPERM", "ok"], &o);
                refused(who, &r, "route", &["EPERM", "ok"], &o);
            }
            assert_eq!(host_interfaces(), links, "{who:?} (share net: {share_net})");
            assert_eq!(host_routes(), routes, "{who:?} (share net: {share_net})");
        }
    }
}

#[test]
fn host_processes_cannot_be_signalled_or_traced() {
    let marker = unique_number();
    let mut sleeper = std::process::Command::new("sleep").arg(&marker).spawn().expect("sleep");
    let pid = sleeper.id();
    let script = format!(
        r#"
if os.path.exists("/proc/{pid}"):
    # The same number in the sandbox's own PID namespace is not the host's.
    print("kill ESRCH", flush=True); print("ptrace ESRCH", flush=True)
else:
    attempt("kill", lambda: os.kill({pid}, 9))
    r = libc.ptrace(16, {pid}, None, None)  # PTRACE_ATTACH
    print("ptrace", "ok" if r == 0 else name(ctypes.get_errno()), flush=True)
# PID 1 keeps its capabilities and descriptors of the host: not traceable.
r = libc.ptrace(0x4206, 1, None, None)  # PTRACE_SEIZE: does not stop it
print("ptrace1", "ok" if r == 0 else name(ctypes.get_errno()), flush=True)
"#
    );
    for who in BOTH {
        let d = scratch(who);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        refused(who, &r, "kill", &["ESRCH"], &o);
        refused(who, &r, "ptrace", &["ESRCH"], &o);
        refused(who, &r, "ptrace1", &["EPERM"], &o);
        assert!(sleeper.try_wait().expect("try_wait").is_none(), "{who:?}: the host's process died");
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn host_files_cannot_be_written_through_proc() {
    for who in BOTH {
        let d = scratch(who);
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, "original").expect("victim");
        if who == Who::Nobody {
            std::os::unix::fs::chown(&victim, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        // A file the command cannot see by path, handed to it read-only.
        let hidden = scratch(Who::Root);
        let inherited = hidden.path().join("inherited.txt");
        std::fs::write(&inherited, "original").expect("inherited");
        std::fs::set_permissions(&inherited, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let f = std::fs::File::open(&inherited).expect("open read-only");
        let fd = f.as_raw_fd();
        let escape = unique("escape");
        let script = format!(
            r#"
# Every process's root: the sandbox's own, so the write is copy-on-write.
for p in [p for p in os.listdir("/proc") if p.isdigit()]:
    try: open("/proc/%s/root{victim}" % p, "w").write("ESCAPED")
    except OSError: pass
print("root tried", flush=True)
# PID 1's descriptors include host directories (the --keep one, opened
# before the pivot).
def pid1_fds():
    got = set()
    for n in os.listdir("/proc/1/fd"):
        try:
            open("/proc/1/fd/%s/{escape}" % n, "w").write("ESCAPED")
            got.add("ok")
        except OSError as e:
            if e.errno != errno.ENOTDIR:
                got.add(name(e.errno))
    print("pid1fd", "ok" if "ok" in got else ",".join(sorted(got)), flush=True)
pid1_fds()
attempt("inherited", lambda: open("/proc/self/fd/{fd}", "w").write("ESCAPED"))
"#,
            victim = victim.display()
        );
        let keep = d.path().join("not-yet");
        let mut cmd = command(who, d.path(), &[]);
        cmd.args(["run", "--timeout", "60s", "--keep"]).arg(&keep);
        cmd.args(["--", PY, "-c", &format!("{PRELUDE}\n{script}")]);
        inherit_fd(&mut cmd, fd);
        let o = cmd.output().expect("flakebox");
        let r = results(who, &o);
        result(who, &r, "root", &o);
        refused(who, &r, "pid1fd", &["EACCES", "EPERM"], &o);
        refused(who, &r, "inherited", &["EACCES", "EROFS", "EPERM"], &o);
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "original", "{who:?}");
        assert_eq!(std::fs::read_to_string(&inherited).expect("inherited"), "original", "{who:?}");
        assert!(!d.path().join(&escape).exists(), "{who:?}: written through PID 1's descriptor");
        drop(f);
    }
}

#[test]
fn links_inside_a_kept_path_do_not_reach_other_host_files() {
    for who in BOTH {
        let d = scratch(who);
        let victim = d.path().join("victim.txt");
        std::fs::write(&victim, "original").expect("victim");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        if who == Who::Nobody {
            // Rootless copy-up needs an owner mapped in the user namespace.
            std::os::unix::fs::chown(&victim, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let kept = d.path().join("kept");
        std::fs::create_dir(&kept).expect("kept");
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        // A kept path that is a symbolic link to a directory outside it.
        let outside = tempfile::tempdir_in(d.path()).expect("outside");
        std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        if who == Who::Nobody {
            std::os::unix::fs::chown(outside.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let link = d.path().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).expect("symlink");
        let script = format!(
            r#"
attempt("hardlink", lambda: os.link("{victim}", "{kept}/hl"))
def through_symlink():
    os.symlink("{victim}", "{kept}/sl")
    open("{kept}/sl", "w").write("ESCAPED")
attempt("symlink", through_symlink)
attempt("keptlink", lambda: open("{link}/escape.txt", "w").write("ESCAPED"))
"#,
            victim = victim.display(),
            kept = kept.display(),
            link = link.display()
        );
        let kept_arg = kept.to_string_lossy().into_owned();
        let link_arg = link.to_string_lossy().into_owned();
        let o = attempt(who, d.path(), &["--keep", &kept_arg, "--keep", &link_arg], &script);
        let r = results(who, &o);
        refused(who, &r, "hardlink", &["EXDEV"], &o);
        // Both writes succeed, in the sandbox's copy-on-write view.
        assert_eq!(result(who, &r, "symlink", &o), "ok", "{who:?}");
        assert_eq!(result(who, &r, "keptlink", &o), "ok", "{who:?}");
        assert!(stderr(&o).contains("is not kept"), "{who:?}: {}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "original", "{who:?}");
        assert!(!outside.path().join("escape.txt").exists(), "{who:?}: written through a kept symlink");
    }
}

#[test]
fn a_mount_made_in_the_sandbox_does_not_show_on_the_host() {
    for who in BOTH {
        let d = scratch(who);
        let m = d.path().join("m");
        std::fs::create_dir(&m).expect("mount point");
        let script = format!(
            r#"
r = subprocess.run(["mount", "-t", "tmpfs", "none", "{m}"], capture_output=True, text=True)
print("mount", "ok" if r.returncode == 0 else ("EPERM" if "denied" in r.stderr or "not permitted" in r.stderr else r.stderr.strip().replace(" ", "_")), flush=True)
r = subprocess.run(["mount", "--make-rshared", "/"], capture_output=True, text=True)
print("shared", "ok" if r.returncode == 0 else "EPERM", flush=True)
"#,
            m = m.display()
        );
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        if who == Who::Root {
            refused(who, &r, "mount", &["EPERM"], &o);
        } else {
            // In its user namespace, its own mount namespace's business.
            result(who, &r, "mount", &o);
        }
        result(who, &r, "shared", &o);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&m.to_string_lossy().into_owned()), "{who:?}: a mount left on the host");
        let mut s = String::new();
        std::fs::File::open("/proc/self/mounts").expect("mounts").read_to_string(&mut s).expect("read");
        assert!(!s.contains(&m.to_string_lossy().into_owned()), "{who:?}");
    }
}

/// What the host's templates of the minimal /dev hold: per entry its path,
/// mode, device number and link target.
fn dev_templates() -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(sandbox::DEV_TEMPLATES) else { return out };
    for dir in dirs.map(|e| e.expect("entry").path()) {
        let meta = std::fs::symlink_metadata(&dir).expect("template");
        out.push(format!("{} {:o}", dir.display(), meta.mode()));
        for e in std::fs::read_dir(&dir).expect("list").map(|e| e.expect("entry").path()) {
            let m = std::fs::symlink_metadata(&e).expect("stat");
            let link = std::fs::read_link(&e).map(|l| l.display().to_string()).unwrap_or_default();
            out.push(format!("{} {:o} {:x} {link}", e.display(), m.mode(), m.rdev()));
        }
    }
    out.sort();
    out
}

/// As root the minimal /dev is bound from a template on the host, made once
/// (crates/sandbox/src/mounts.rs): the command can change neither it (the
/// bind is read-only, remounting needs CAP_SYS_ADMIN) nor, through the root
/// overlay, the host's copy (a write there is the sandbox's own).
#[test]
fn the_minimal_devs_template_cannot_be_changed() {
    let script = format!(
        r#"
import glob
attempt("create", lambda: open("/dev/evil", "w").close())
attempt("chmod", lambda: os.chmod("/dev/null", 0o600))
attempt("rename", lambda: os.rename("/dev/zero", "/dev/zero2"))
attempt("mknod", lambda: os.mknod("/dev/evil", 0o666 | 0o020000, os.makedev(1, 3)))
sysc("remount", {mount}, None, b"/dev", None, ctypes.c_ulong(32 | 4096), None)
seen = glob.glob("{templates}/dev-*")
print("templates", len(seen), flush=True)
for t in seen:
    attempt("through-overlay", lambda: open(t + "/evil", "w").close())
"#,
        mount = libc::SYS_mount,
        templates = sandbox::DEV_TEMPLATES,
    );
    for who in BOTH {
        let d = scratch(who);
        // Made by the first run as root, if no run made it before.
        let ready = run(Who::Root, d.path(), &["run", "--", "true"]);
        assert!(ready.status.success(), "{}", stderr(&ready));
        let before = dev_templates();
        assert!(!before.is_empty(), "no template in {}", sandbox::DEV_TEMPLATES);
        let o = attempt(who, d.path(), &[], &script);
        let r = results(who, &o);
        // As nobody /dev is the host's, bound, and not nobody's to change.
        let errnos = ["EROFS", "EPERM", "EACCES"];
        for tag in ["create", "chmod", "rename", "mknod", "remount"] {
            refused(who, &r, tag, &errnos, &o);
        }
        if who == Who::Root {
            assert_eq!(result(who, &r, "create", &o), "EROFS", "{}", stdout(&o));
            result(who, &r, "through-overlay", &o);
        }
        assert_eq!(dev_templates(), before, "{who:?}: a template changed");
    }
    // Where the host's /run is the sandbox's, writable, they are hidden.
    let d = scratch(Who::Root);
    let before = dev_templates();
    let o = attempt(Who::Root, d.path(), &["--share", "fs"], &script);
    let r = results(Who::Root, &o);
    assert_eq!(result(Who::Root, &r, "templates", &o), "0", "{}", stdout(&o));
    assert_eq!(dev_templates(), before, "--share fs: a template changed");
}

/// A `--keep` target replaced by a symbolic link to /etc, before the run or
/// while the command runs (between flakebox's look at it and the copy out
/// at the end), never makes /etc writable: what was kept goes to the
/// directory flakebox opened, or nowhere.
#[test]
fn a_keep_target_replaced_by_a_symlink_to_etc_does_not_make_etc_writable() {
    for who in BOTH {
        let d = scratch(who);
        let escape = unique("flakebox-escape");
        let in_etc = Path::new("/etc").join(&escape);
        // Before the run: the kept path is a link to /etc.
        let link = d.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &link).expect("symlink");
        let script =
            format!(r#"attempt("link", lambda: open("{}/{escape}", "w").write("ESCAPED"))"#, link.display());
        let o = attempt(who, d.path(), &["--keep", &link.to_string_lossy()], &script);
        let r = results(who, &o);
        // In the sandbox's copy-on-write view (root), or refused (nobody): never /etc.
        result(who, &r, "link", &o);
        assert!(stderr(&o).contains("is not kept"), "{who:?}: {}", stderr(&o));
        assert!(!in_etc.exists(), "{who:?}: written into the host's /etc through a kept symlink");

        // While the command runs: a new kept file's directory is swapped for
        // a link to /etc before the file is copied out.
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).expect("sub");
        if who == Who::Nobody {
            std::os::unix::fs::chown(&sub, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let kept = sub.join(&escape);
        let script = format!(
            r#"
open("{kept}", "w").write("ESCAPED")
print("ready", flush=True)
sys.stdin.readline()
"#,
            kept = kept.display()
        );
        let mut cmd = command(who, d.path(), &["run", "--timeout", "60s", "--keep", &kept.to_string_lossy()]);
        cmd.args(["--", PY, "-c", &format!("{PRELUDE}\n{script}")]);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("flakebox");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).expect("ready");
        assert_eq!(line, "ready\n", "{who:?}");
        let moved = d.path().join("sub.orig");
        std::fs::rename(&sub, &moved).expect("move sub away");
        std::os::unix::fs::symlink("/etc", &sub).expect("sub -> /etc");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("go");
        drop(stdin);
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "{who:?}: {}", stderr(&o));
        let copied = std::fs::read_to_string(moved.join(&escape));
        let etc = in_etc.exists();
        let _ = std::fs::remove_file(&in_etc);
        assert!(!etc, "{who:?}: the kept file was copied into the host's /etc");
        assert_eq!(
            copied.ok().as_deref(),
            Some("ESCAPED"),
            "{who:?}: copied to the directory flakebox opened"
        );
    }
}

/// bench/hardening.sh times runs without the minimal /dev or the capability
/// drop through a switch that only its own build has: in the product the
/// variable changes nothing.
#[test]
#[cfg(not(feature = "bench-toggles"))]
fn the_benchs_switch_leaves_the_product_hardened() {
    let d = scratch(Who::Root);
    let script = "ls -A /dev; grep CapEff /proc/self/status";
    let o = command(Who::Root, d.path(), &["run", "--", "sh", "-c", script])
        .env("FLAKEBOX_BENCH_WITHOUT", "dev,caps")
        .output()
        .expect("spawn flakebox");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let mut dev: Vec<&str> = out.lines().filter(|l| !l.starts_with("CapEff")).collect();
    dev.sort();
    let minimal = [
        "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom",
        "zero",
    ];
    assert_eq!(dev, minimal, "the host's /dev: {out}");
    let eff =
        u64::from_str_radix(out.lines().find_map(|l| l.strip_prefix("CapEff:")).expect("CapEff").trim(), 16)
            .expect("hex");
    assert_eq!(eff & sandbox::Capability::CAP_SYS_ADMIN.bitmask(), 0, "every capability kept: {eff:x}");
}
