//! Operating-system randomness under FLAKEBOX_SEED (shim/entropy.c): every way a
//! C program asks for it, in a process tree that forks and spawns, replays for
//! the same seed, differs for another, and no two processes share a stream.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::process::Command;

mod common;
use common::{ok_stdout, require, setup, Env};

const PROBE: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;

static void hex(const char *what, const unsigned char *b, size_t n) {
    printf("%s ", what);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
    fflush(stdout);
}

static void all_ways(const char *who) {
    unsigned char b[16];
    char what[64];
    #define SHOW(name) do { snprintf(what, sizeof what, "%s/%s", who, name); hex(what, b, sizeof b); } while (0)
    if (getrandom(b, sizeof b, 0) != sizeof b) exit(3);
    SHOW("getrandom");
    if (getentropy(b, sizeof b) != 0) exit(3);
    SHOW("getentropy");
    uint32_t a = arc4random(), u = arc4random_uniform(1000000);
    memcpy(b, &a, 4); memcpy(b + 4, &u, 4);
    arc4random_buf(b + 8, 8);
    SHOW("arc4random");
    if (syscall(SYS_getrandom, b, sizeof b, 0) != sizeof b) exit(3);
    SHOW("syscall");
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof b) != sizeof b) exit(3);
    close(fd);
    SHOW("urandom");
    FILE *f = fopen("/dev/random", "re");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) exit(3);
    fclose(f);
    SHOW("random");
}

int main(int argc, char **argv) {
    if (argc > 1) { all_ways(argv[1]); return 0; }
    all_ways("root");
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        if (pid == 0) { all_ways(i ? "fork2" : "fork1"); _exit(0); }
        waitpid(pid, NULL, 0);
    }
    pid_t pid;
    char *args[] = {argv[0], "spawned", NULL};
    if (posix_spawn(&pid, argv[0], NULL, NULL, args, environ) != 0) return 4;
    waitpid(pid, NULL, 0);
    if ((pid = fork()) == 0) { execl(argv[0], argv[0], "exec-in-fork", (char *)NULL); _exit(5); }
    waitpid(pid, NULL, 0);
    all_ways("root-again");
    return 0;
}
"#;

fn run(env: &Env, prog: &std::path::Path, seed: Option<&str>) -> Vec<(String, String)> {
    let extra: Vec<(&str, &OsStr)> = seed.map(|s| ("FLAKEBOX_SEED", OsStr::new(s))).into_iter().collect();
    let out = ok_stdout(&env.run(None, &extra, &mut Command::new(prog)));
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn a_seed_replays_every_source_in_every_process_and_no_two_share_a_stream() {
    require("gcc");
    let env = setup();
    let prog = env.cc("probe", PROBE, &[]);
    let a = run(&env, &prog, Some("42"));
    let who: Vec<&str> = a.iter().map(|(k, _)| k.split('/').next().unwrap_or_default()).collect();
    for w in ["root", "fork1", "fork2", "spawned", "exec-in-fork", "root-again"] {
        assert_eq!(who.iter().filter(|x| **x == w).count(), 6, "{w}: {a:?}");
    }
    // The same seed: the same bytes, source by source, process by process.
    assert_eq!(run(&env, &prog, Some("42")), a);
    // Another seed: nothing the same.
    let b = run(&env, &prog, Some("43"));
    assert_eq!(b.len(), a.len());
    for ((k, x), (_, y)) in a.iter().zip(&b) {
        assert_ne!(x, y, "{k} is the same under seeds 42 and 43");
    }
    // No value twice in one tree: no two processes (or calls) share a stream.
    let distinct: HashSet<&String> = a.iter().map(|(_, v)| v).collect();
    assert_eq!(distinct.len(), a.len(), "{a:?}");
    // Without a seed the kernel's randomness passes through.
    let c = run(&env, &prog, None);
    let d = run(&env, &prog, None);
    assert!(c.iter().zip(&d).all(|((_, x), (_, y))| x != y), "unseeded runs repeated:\n{c:?}\n{d:?}");
}

#[test]
fn a_bad_seed_is_named_and_leaves_randomness_alone() {
    require("gcc");
    let env = setup();
    let prog = env.cc("probe", PROBE, &[]);
    let out = env.run(None, &[("FLAKEBOX_SEED", OsStr::new("forty-two"))], Command::new(&prog).arg("x"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FLAKEBOX_SEED is not a decimal 64-bit number"), "{stderr}");
    ok_stdout(&out);
}
