//! Compiles ../../shim into a shared object that lib.rs embeds with include_bytes!.
//! `cc::Build` only makes static archives, so it is used to find the C compiler
//! (honouring CC, CFLAGS and cross-compilation settings) and the link is done here.

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shim_dir = manifest.join("../../shim");
    let src = shim_dir.join("flakebox_shim.c");
    println!("cargo:rerun-if-changed={}", shim_dir.display());
    println!("cargo:rerun-if-changed={}", src.display());

    let compiler = cc::Build::new()
        .pic(true)
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true)
        .cargo_metadata(false)
        .get_compiler();
    let target = out.join("libflakebox_shim.so");
    // cc adds -static when flakebox itself links statically (crt-static);
    // the shim is a shared object that ld.so loads into other programs.
    let mut cmd = std::process::Command::new(compiler.path());
    cmd.args(compiler.args().iter().filter(|a| *a != "-static"));
    cmd.envs(compiler.get_envs());
    cmd.args([
        "-shared",
        "-fPIC",
        "-O2",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-Wl,-soname,libflakebox_shim.so",
        "-o",
    ])
    .arg(&target)
    .arg(&src)
    .args(["-ldl", "-lpthread"]);
    let output = cmd.output().unwrap_or_else(|e| panic!("running the C compiler {cmd:?}: {e}"));
    // Surface compiler warnings: the shim is meant to compile cleanly.
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        if line.contains("warning:") {
            println!("cargo:warning=shim: {line}");
        }
    }
    if !output.status.success() {
        panic!("compiling the flakebox shim failed ({cmd:?}):\n{}", String::from_utf8_lossy(&output.stderr));
    }
}
