//! Factor pruning against fake runners: a factor the command provably never
//! used gets no runs after the first round, and the report says why.

use factors::{Factor, FactorSet};
use flakebox_diagnose::*;

/// Records every spec it runs; the command never connects to anything, and
/// fails after its first run unless fs is isolated (state pollution).
struct Recorder {
    specs: Vec<RunSpec>,
    trace_complete: bool,
    sessions: Option<u64>,
}

impl Runner for Recorder {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self.specs.push(spec.clone());
        let passed = spec.isolate.contains(Factor::Fs) || spec.run_no == 0;
        let evidence = RunObservations {
            trace_complete: self.trace_complete,
            db_sessions: spec.effective().contains(Factor::Db).then_some(self.sessions).flatten(),
            ..RunObservations::default()
        };
        Ok(RunOutcome { evidence, ..RunOutcome::new(passed) })
    }
}

fn diagnose_with(factors: FactorSet, r: &mut Recorder) -> Report {
    let o = Options { factors, seed: 7, ..Options::default() };
    diagnose(&["t".into()], &o, r, &mut |_| {}).expect("diagnosis runs")
}

#[test]
fn a_database_never_connected_to_gets_no_runs_after_the_first_round() {
    let factors = FactorSet::only(Factor::Fs).with(Factor::Db).with(Factor::Net);
    let mut r = Recorder { specs: Vec::new(), trace_complete: true, sessions: Some(0) };
    let rep = diagnose_with(factors, &mut r);
    assert_eq!(rep.verdict, Verdict::Environment, "{}", rep.summary);
    assert_eq!(rep.factors[0].factor, Factor::Fs);
    let db_runs: Vec<&RunSpec> = r.specs.iter().filter(|s| s.effective().contains(Factor::Db)).collect();
    assert!(db_runs.iter().all(|s| s.run_no == 0), "db runs after round 1: {db_runs:?}");
    assert_eq!(db_runs.len(), 2, "the db condition and all, once each");
    // The all condition goes on, with db shared, keeping its identity.
    assert!(r.specs.iter().any(|s| s.isolate == factors && s.run_no > 0 && s.unused.contains(Factor::Db)));
    let pruned: Vec<Factor> = rep.pruned.iter().map(|p| p.factor).collect();
    assert_eq!(pruned, [Factor::Net, Factor::Db]);
    assert!(rep.pruned.iter().all(|p| p.after_rounds == 1));
    assert!(rep.pruned[1].reason.contains("no connection to the throwaway database"), "{:?}", rep.pruned);
    let text = render_text(&rep, false);
    assert!(text.contains("db not used, so not isolated after round 1: no connection"), "{text}");
    assert!(render_markdown(&rep).contains("db not used"));
    let json = render_json(&rep).expect("json");
    assert!(json.contains("\"pruned\""), "{json}");
    let a = rep.analysis.iter().find(|a| a.factor == Factor::Db).expect("db analysed");
    assert_eq!((a.status, a.isolated.runs), (Status::None, 1));
}

#[test]
fn nothing_is_pruned_without_proof() {
    let factors = FactorSet::only(Factor::Fs).with(Factor::Db).with(Factor::Net);
    // A static binary (trace incomplete), a server that did not count.
    let mut r = Recorder { specs: Vec::new(), trace_complete: false, sessions: None };
    let rep = diagnose_with(factors, &mut r);
    assert!(rep.pruned.is_empty(), "{:?}", rep.pruned);
    assert!(r.specs.iter().filter(|s| s.isolate == FactorSet::only(Factor::Db)).count() > 1);
    // A session: db kept.
    let mut r = Recorder { specs: Vec::new(), trace_complete: false, sessions: Some(1) };
    assert!(diagnose_with(factors, &mut r).pruned.is_empty());
}
