//! `clockwatch-run --time SPEC -- CMD...`: runs CMD under the clock supervisor
//! (tests and bench/goclock.sh; `flakebox run` uses the library).

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::SystemTime;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let usage = || {
        eprintln!("usage: clockwatch-run --time SPEC -- CMD [ARG...]");
        ExitCode::from(2)
    };
    let (Some(flag), Some(spec), Some(dash)) = (args.first(), args.get(1), args.get(2)) else {
        return usage();
    };
    if flag != "--time" || dash != "--" || args.len() < 4 {
        return usage();
    }
    let spec: clock::TimeSpec = match spec.to_string_lossy().parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("clockwatch-run: {e}");
            return ExitCode::from(2);
        }
    };
    let opts =
        flakebox_clockwatch::Options { clock: spec.resolve(SystemTime::now()), routes: Default::default() };
    match flakebox_clockwatch::run_command(&opts, &args[3..], &mut |w| eprintln!("{w}")) {
        Ok(status) if libc::WIFEXITED(status) => ExitCode::from(libc::WEXITSTATUS(status) as u8),
        Ok(status) => ExitCode::from(128u8.wrapping_add(libc::WTERMSIG(status) as u8)),
        Err(e) => {
            eprintln!("clockwatch-run: {e}");
            ExitCode::from(125)
        }
    }
}
