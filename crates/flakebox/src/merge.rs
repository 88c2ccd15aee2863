//! `flakebox merge PART...`: the parts of a sharded diagnosis (crate
//! `shards`) checked, pooled and reported as `diagnose` reports.

use crate::cli::{MergeArgs, OutputFormat};
use crate::report_file;
use anyhow::{Context, Result};
use shards::Part;
use std::io::IsTerminal;

pub fn main(args: MergeArgs) -> Result<i32> {
    if let Some(code) = report_file::check_all(&[("--html", &args.html), ("--junit-out", &args.junit_out)]) {
        return Ok(code);
    }
    let mut parts = Vec::with_capacity(args.parts.len());
    for path in &args.parts {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the part {name}"))?;
        match Part::from_json(&name, &text) {
            Ok(p) => parts.push((name, p)),
            Err(e) => return Ok(usage(&e)),
        }
    }
    let pooled = match shards::pool(parts) {
        Ok(p) => p,
        Err(e) => return Ok(usage(&e)),
    };
    if args.format == OutputFormat::Text {
        for m in &pooled.missing {
            eprintln!(
                "flakebox: shard {}/{} is missing (no part given): reporting on the {} shards present",
                m.shard,
                pooled.plan.shards,
                pooled.parts.len()
            );
        }
    }
    let report = match shards::merged_report(&pooled) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flakebox: {e}");
            return Ok(diagnose::exit::for_error(&e));
        }
    };
    let out = match args.format {
        OutputFormat::Text => diagnose::render_text_with(
            &report,
            diagnose::RenderOptions { color: std::io::stdout().is_terminal(), all_tests: args.all_tests },
        ),
        OutputFormat::Json => diagnose::render_json(&report)?,
        OutputFormat::Markdown => diagnose::render_markdown_with(&report, args.all_tests),
        OutputFormat::Html => diagnose::render_html(&report),
    };
    println!("{}", out.trim_end());
    report_file::write_diagnosis(&report, &args.html, &args.junit_out)?;
    Ok(report.exit_code())
}

/// Parts that do not fit together are the user's to fix: a usage error.
fn usage(e: &shards::ShardError) -> i32 {
    eprintln!("flakebox merge: {e}");
    crate::exit::USAGE
}
