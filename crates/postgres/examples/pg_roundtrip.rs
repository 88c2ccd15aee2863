//! Start a throwaway server from the cached template, run `psql -c 'select 1'`
//! against it, stop it. Used by bench/postgres.sh; `-v` prints phase timings.
//!
//! Usage: pg_roundtrip [-v] [--tcp] [--copy] [--init PATH] [--cache DIR] [--scratch DIR]

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg_roundtrip: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut verbose = false;
    let mut tcp = false;
    let mut mode = flakebox_postgres::DataMode::Auto;
    let mut init = None;
    let mut cache = std::env::temp_dir().join("flakebox-bench-cache");
    let mut scratch_base = PathBuf::from("/dev/shm");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-v" => verbose = true,
            "--tcp" => tcp = true,
            "--copy" => mode = flakebox_postgres::DataMode::Copy,
            "--init" => init = args.next().map(PathBuf::from),
            "--cache" => cache = args.next().map(PathBuf::from).ok_or("--cache DIR")?,
            "--scratch" => scratch_base = args.next().map(PathBuf::from).ok_or("--scratch DIR")?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let run_as = nix::unistd::geteuid().is_root().then_some((65534, 65534));
    let t0 = Instant::now();
    let bins = flakebox_postgres::find_binaries(None)?;
    let t1 = Instant::now();
    let template = flakebox_postgres::Template::ensure(&bins, &cache, init.as_deref(), run_as)?;
    let t2 = Instant::now();
    let scratch = tempfile::Builder::new().prefix("pgrt-").tempdir_in(&scratch_base)?;
    let listen = flakebox_postgres::Listen {
        tcp: tcp
            .then(|| flakebox_postgres::free_loopback_port().map(|p| ([127, 0, 0, 1].into(), p)))
            .transpose()?,
        unix_dir: scratch.path().join("run"),
    };
    let t3 = Instant::now();
    let server = flakebox_postgres::Server::spawn_with(&template, scratch.path(), &listen, run_as, mode)?
        .wait_ready()?;
    let t4 = Instant::now();
    let psql = bins.psql.clone().ok_or("no psql")?;
    let status = Command::new(psql)
        .args(["-XAtq", "-c", "select 1"])
        .envs(server.env())
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("psql: {status}").into());
    }
    let t5 = Instant::now();
    server.stop()?;
    let t6 = Instant::now();
    drop(scratch);
    if verbose {
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        eprintln!(
            "find_binaries {:.1} ms, ensure {:.1} ms (built: {}), start {:.1} ms, psql {:.1} ms, stop {:.1} ms, cleanup {:.1} ms",
            ms(t0, t1),
            ms(t1, t2),
            template.built,
            ms(t3, t4),
            ms(t4, t5),
            ms(t5, t6),
            ms(t6, Instant::now())
        );
    }
    Ok(())
}
