//! `clockwatch-run [--stats] [--vdso redirect|hide] [--no-sync-wake-up] --time SPEC -- CMD...`:
//! runs CMD under the clock supervisor (tests and bench/goclock.sh; `flakebox run`
//! uses the library). `--stats` prints what the supervisor did on stderr at the end;
//! `--vdso hide` and `--no-sync-wake-up` select the slower mechanisms, for comparison.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::SystemTime;

use flakebox_clockwatch::VdsoPath;

const USAGE: &str =
    "usage: clockwatch-run [--stats] [--vdso redirect|hide] [--no-sync-wake-up] --time SPEC -- CMD [ARG...]";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let usage = |why: String| {
        eprintln!("clockwatch-run: {why}\n{USAGE}");
        ExitCode::from(2)
    };
    let (mut stats, mut vdso, mut sync, mut spec) = (false, VdsoPath::Redirect, true, None);
    let mut i = 0;
    let cmd = loop {
        let Some(a) = args.get(i) else { return usage("no `-- CMD`".into()) };
        match a.to_str() {
            Some("--stats") => stats = true,
            Some("--no-sync-wake-up") => sync = false,
            Some("--vdso") => {
                i += 1;
                vdso = match args.get(i).and_then(|v| v.to_str()) {
                    Some("redirect") => VdsoPath::Redirect,
                    Some("hide") => VdsoPath::Hide,
                    v => return usage(format!("--vdso {v:?}: give redirect or hide")),
                };
            }
            Some("--time") => {
                i += 1;
                let Some(s) = args.get(i) else { return usage("--time needs a SPEC".into()) };
                match s.to_string_lossy().parse::<clock::TimeSpec>() {
                    Ok(s) => spec = Some(s),
                    Err(e) => return usage(e.to_string()),
                }
            }
            Some("--") => break &args[i + 1..],
            _ => return usage(format!("unknown argument {a:?}")),
        }
        i += 1;
    };
    let (Some(spec), false) = (spec, cmd.is_empty()) else {
        return usage("--time and CMD are required".into());
    };
    let mut opts = flakebox_clockwatch::Options::new(spec.resolve(SystemTime::now()));
    opts.vdso = vdso;
    opts.sync_wake_up = sync;
    match flakebox_clockwatch::run_command(&opts, cmd, &mut |w| eprintln!("{w}")) {
        Ok((status, s)) => {
            if stats {
                eprintln!("{s}");
            }
            if libc::WIFEXITED(status) {
                ExitCode::from(libc::WEXITSTATUS(status) as u8)
            } else {
                ExitCode::from(128u8.wrapping_add(libc::WTERMSIG(status) as u8))
            }
        }
        Err(e) => {
            eprintln!("clockwatch-run: {e}");
            ExitCode::from(125)
        }
    }
}
