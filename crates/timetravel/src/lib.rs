//! flakebox timetravel, the library part: which instants and zones to probe,
//! which probes to confirm, what the outcomes mean, and the report.
//!
//! Call sequence for the CLI:
//!
//! 1. `let (zone_name, zone) = zone_in_effect();` and `now` (real now, or a
//!    fixed instant for reproducible runs);
//! 2. `let hz = hazards(now, &zone, &zone_name, &at_instants);` (or only the
//!    `--at` ones under `--no-instants`), zones from [`parse_zone_lists`] or
//!    [`default_zones`] (none under `--no-zones`);
//! 3. `let plan = Plan::new(now, &zone, &zone_name, hz, zone_names);`
//! 4. run every [`Plan::probes`] (clock frozen at `probe.instant`, `TZ` set
//!    to `probe.tz` when `Some`), each giving a [`ProbeResult`];
//! 5. run the rounds of [`Plan::confirmations`]`(&all_so_far, jobs)` the
//!    same way until one is empty, then every
//!    [`Plan::refinements`]`(&all_so_far)`;
//! 6. `let report = plan.report(&command, &all_results, warnings);` then
//!    [`render_text`], [`render_markdown`] or [`Report::to_json`], and exit
//!    with [`Report::exit_code`].

mod equivalence;
mod hazards;
mod html;
mod plan;
mod report;
mod zones;

pub use hazards::{days_between, dedupe, hazards, zone_in_effect, Family, Hazard, Y2038_LAST};
pub use html::render_html;
pub use plan::{
    FailingInstant, FailingWindow, FirstFailure, Mark, NotRunAt, NotRunCause, Outcome, Plan, Probe,
    ProbeResult, Target, TestKind, TestVerdict, TimelineEntry, Verdict, COMMAND_TEST,
};
pub use report::{
    render_markdown, render_text, ProbeCounts, ProbeKind, ProbeSummary, Report, RunSummary,
    EXIT_NO_TIME_BOMBS, EXIT_TIME_BOMBS, SCHEMA,
};
pub use zones::{default_zones, parse_zone_lists, zone, Zone, ZoneError, DEFAULT_ZONES};
