//! flakebox: hermetic test execution and flaky-test root-causing on Linux.

mod cli;
mod diagnose;
mod doctor;
mod exit;
mod merge;
mod order;
mod report_file;
mod run;
mod shard;
mod stale_state;
mod test_runner;
mod timetravel;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        cli::Command::Run(args) => run::main(args),
        cli::Command::Doctor(args) => doctor::main(args),
        cli::Command::Diagnose(args) => diagnose::main(args),
        cli::Command::Timetravel(args) => timetravel::main(args),
        cli::Command::Merge(args) => merge::main(args),
    };
    match code {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("flakebox: {e:#}");
            std::process::exit(exit::FLAKEBOX_FAILED);
        }
    }
}
