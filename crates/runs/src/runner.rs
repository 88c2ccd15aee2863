//! The runs of one command under many conditions, each a child `flakebox
//! run`: [`Runs`] starts and reads them (shared, so parallel probes can use
//! it from several threads); [`DiagnoseRunner`] drives them for the diagnose
//! engine, building each next run while the current one executes.

use crate::child::{self, Child, ChildFiles, ChildResult};
use crate::command::{Collected, RunCommand, RunResults};
use crate::error::{chain, RunsError};
use crate::request::RunRequest;
use crate::workspace::Workspace;
use diagnose::{JunitFile, RunOutcome, RunSpec, RunnerError};
use factors::Factor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Everything the runs of one command share.
pub struct Runs<'a> {
    command: &'a dyn RunCommand,
    /// Options of every run (timeout, PostgreSQL, ...); its `command`,
    /// `isolate`, `collect` and `state_dirs` are set per run.
    base: RunRequest,
    work: &'a Workspace,
    count: AtomicUsize,
    /// A diagnosis of rand: its shuffle seed, from which every run's entropy
    /// seed is derived ([`diagnose::run_entropy_seed`]).
    entropy: Option<u64>,
}

/// One run's request, as [`Runs::request`] makes it.
#[derive(Debug)]
pub struct PlannedRun {
    pub request: RunRequest,
    /// (result file as the command writes it, its copy in the workspace).
    pub collect: Vec<(PathBuf, PathBuf)>,
    /// The results need the command's whole output.
    pub output: bool,
}

/// A started run and the files that are its alone (runs overlap).
pub struct Started {
    pub spec: RunSpec,
    pub child: Child,
    files: ChildFiles,
    /// (path as the command writes it, where it is collected to).
    collect: Vec<(PathBuf, PathBuf)>,
    /// The command's results need its whole output.
    output: bool,
}

/// A finished run: the child's result and its per-test results.
#[derive(Debug)]
pub struct Finished {
    pub result: ChildResult,
    pub junit: Vec<JunitFile>,
    /// Per-test results a runner adapter has read.
    pub tests: Vec<diagnose::TestCase>,
}

impl<'a> Runs<'a> {
    pub fn new(command: &'a dyn RunCommand, base: RunRequest, work: &'a Workspace) -> Self {
        Runs { command, base, work, count: AtomicUsize::new(0), entropy: None }
    }

    /// Every run's OS randomness from a recorded seed, derived from the
    /// diagnosis seed `seed`: one for the runs that isolate rand, one per
    /// round for the others (so a failing run's seed replays).
    pub fn with_entropy(mut self, seed: u64) -> Self {
        self.entropy = Some(seed);
        self
    }

    /// The request for `spec`: the command plugged in, the condition's
    /// factors, its persistent state when fs is shared, and each result
    /// file collected into the workspace (the user's copy is never touched).
    pub fn request(&self, spec: &RunSpec, n: usize) -> Result<PlannedRun, RunsError> {
        let plan = self.command.plan(spec)?;
        let mut req = self.base.clone();
        req.command = plan.argv;
        req.isolate = spec.effective();
        req.env.extend(plan.env);
        req.files.extend(plan.files);
        if !spec.isolate.contains(Factor::Time) {
            req.time = None;
        }
        match self.entropy {
            Some(seed) => {
                // Served from a seed even where rand counts as not isolated:
                // the seed varies by round there, as real entropy would.
                req.isolate.insert(Factor::Rand);
                req.seed = Some(diagnose::run_entropy_seed(seed, spec));
            }
            None if !spec.isolate.contains(Factor::Rand) => req.seed = None,
            None => {}
        }
        req.state_dirs = match spec.isolate.contains(Factor::Fs) {
            true => None,
            false => Some(self.work.state_dirs(spec.isolate, spec.screening)?),
        };
        let collect: Vec<(PathBuf, PathBuf)> = plan
            .collect
            .into_iter()
            .enumerate()
            .map(|(i, p)| (p, self.work.file(&format!("result-{n}-{i}"))))
            .collect();
        req.collect.extend(collect.iter().cloned());
        Ok(PlannedRun { request: req, collect, output: plan.output })
    }

    /// Start the run `spec`, with `adjust` applied to its request last;
    /// gated, its command waits for [`Child::release`].
    pub fn start(
        &self,
        spec: &RunSpec,
        adjust: impl FnOnce(&mut RunRequest),
        gated: bool,
    ) -> Result<Started, RunsError> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let PlannedRun { request: mut req, collect, output } = self.request(spec, n)?;
        adjust(&mut req);
        let files = self.work.child_files(n);
        let child = child::spawn(&req, &files, gated)?;
        Ok(Started { spec: spec.clone(), child, files, collect, output })
    }

    /// Wait for a started run and read its results; its files are removed.
    pub fn finish(&self, started: Started) -> Result<Finished, RunsError> {
        let Started { spec, child, files, collect, output } = started;
        let result = child.wait();
        let output = output
            .then(|| String::from_utf8_lossy(&std::fs::read(&files.log).unwrap_or_default()).into_owned());
        let collected = collect.iter().map(|(path, copy)| Collected::read(path, copy)).collect();
        let RunResults { junit, tests } = self.command.results(&spec, collected, output);
        for f in [&files.report, &files.log, &files.error].into_iter().chain(collect.iter().map(|(_, c)| c)) {
            let _ = hostfs::remove_tree(f);
        }
        let result = result?;
        Ok(Finished { junit, tests, result })
    }

    /// Start and finish one run.
    pub fn run(&self, spec: &RunSpec, adjust: impl FnOnce(&mut RunRequest)) -> Result<Finished, RunsError> {
        self.finish(self.start(spec, adjust, false)?)
    }
}

/// The diagnose engine's runner: sandboxed runs, each next one built and
/// waiting at its start gate while the current one executes (sandbox set-up
/// and PostgreSQL's start leave the critical path), and released once the
/// current command has exited.
pub struct DiagnoseRunner<'a> {
    runs: &'a Runs<'a>,
    /// Set by the caller's signal handler: stop, cancelling what is prepared.
    interrupted: &'a AtomicBool,
    /// The run the engine said comes next.
    next: Option<RunSpec>,
    prepared: Option<Started>,
    /// Derive each run's time limit from the first baseline run
    /// ([`diagnose::run_timeout`]) instead of the request's.
    derive_timeout: bool,
    /// The first baseline run's duration, once it has run (derived limits).
    first_baseline: Option<std::time::Duration>,
    /// Every counted run: (it failed, what the sandbox saw).
    observed: Vec<(bool, diagnose::RunObservations)>,
}

impl<'a> DiagnoseRunner<'a> {
    pub fn new(runs: &'a Runs<'a>, interrupted: &'a AtomicBool) -> Self {
        DiagnoseRunner {
            runs,
            interrupted,
            next: None,
            prepared: None,
            derive_timeout: false,
            first_baseline: None,
            observed: Vec::new(),
        }
    }

    /// Without `--timeout`: every run after the first baseline run stops at
    /// [`diagnose::run_timeout`] of that run's duration.
    pub fn with_derived_timeout(mut self) -> Self {
        self.derive_timeout = true;
        self
    }

    /// The derived limit, once known: (first baseline run, limit).
    pub fn derived_timeout(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        self.first_baseline.filter(|_| self.derive_timeout).map(|d| (d, diagnose::run_timeout(d)))
    }

    /// The shuffle put another condition before baseline's first run: one
    /// baseline run, only to measure the time limit every run then gets
    /// (its outcome is not counted; its persistent state is apart, as a
    /// screening run's, so baseline's own first run still starts afresh).
    fn calibrate(&mut self, spec: &RunSpec) -> Result<(), RunnerError> {
        let measure = RunSpec {
            isolate: factors::FactorSet::default(),
            run_no: 0,
            tests: spec.tests.clone(),
            screening: true,
            unused: factors::FactorSet::default(),
        };
        let finished = self.runs.run(&measure, |_| {}).map_err(|e| RunnerError::Failed(chain(&e)))?;
        self.first_baseline = Some(self.outcome(finished)?.duration);
        Ok(())
    }

    /// What the sandbox saw in every run the engine asked for, and whether
    /// the run failed.
    pub fn observed(&self) -> &[(bool, diagnose::RunObservations)] {
        &self.observed
    }

    /// One run with fs isolated (afresh) and `paths` hidden, net, time and
    /// the database as the environment has them, under the time limit of
    /// the others; a run prepared for the engine is cancelled first.
    pub fn run_hidden(&mut self, paths: &[PathBuf]) -> Result<RunOutcome, RunnerError> {
        if let Some(p) = self.prepared.take() {
            p.child.cancel();
        }
        if self.interrupted() {
            return Err(RunnerError::Interrupted);
        }
        let limit = self.limit();
        let spec = RunSpec::suite(factors::FactorSet::only(Factor::Fs), 0);
        let finished = self
            .runs
            .run(&spec, |req| {
                limit(req);
                req.hide = paths.to_vec();
            })
            .map_err(|e| RunnerError::Failed(chain(&e)))?;
        self.outcome(finished)
    }

    /// Set the derived time limit on a run's request.
    fn limit(&self) -> impl Fn(&mut RunRequest) {
        let (derive, limit) = (self.derive_timeout, self.derived_timeout().map(|(_, t)| t));
        move |req: &mut RunRequest| {
            if derive {
                req.timeout = limit;
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn outcome(&self, finished: Finished) -> Result<RunOutcome, RunnerError> {
        if self.interrupted() {
            return Err(RunnerError::Interrupted);
        }
        let Finished { result, junit, tests } = finished;
        let Some(rep) = &result.report else {
            return Err(RunnerError::Failed(result.flakebox_error().unwrap_or_default()));
        };
        Ok(RunOutcome {
            exit_code: result.exit_code,
            passed: result.exit_code == 0,
            duration: rep.duration(),
            started_at: result.started_at,
            junit,
            tests,
            timed_out: rep.status == sandbox::Status::TimedOut,
            evidence: rep.diagnose_evidence(),
        })
    }
}

impl diagnose::Runner for DiagnoseRunner<'_> {
    fn upcoming(&mut self, spec: &RunSpec) {
        self.next = Some(spec.clone());
    }

    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        if self.interrupted() {
            return Err(RunnerError::Interrupted);
        }
        let fail = |e: RunsError| RunnerError::Failed(chain(&e));
        if self.derive_timeout && self.first_baseline.is_none() && !spec.isolate.is_empty() {
            self.calibrate(spec)?;
        }
        let mut current = match self.prepared.take() {
            Some(p) if p.spec == *spec => p,
            other => {
                if let Some(p) = other {
                    p.child.cancel();
                }
                self.runs.start(spec, self.limit(), true).map_err(fail)?
            }
        };
        current.child.release();
        // Build the next run now, unless it is this condition's own: two
        // overlays must not share its state directories. Not while its time
        // limit waits on this run's duration.
        let limit_unknown = self.derive_timeout && self.first_baseline.is_none();
        if let Some(next) = self.next.take() {
            if next.isolate != spec.isolate && !limit_unknown {
                // A failure here shows again, reported, when that run's turn comes.
                self.prepared = self.runs.start(&next, self.limit(), true).ok();
            }
        }
        // As soon as this command has exited (and what it left running is
        // dead), the next one may start: this run's evidence gathering and
        // teardown (a database's questioning and stop) overlap it.
        current.child.wait_command();
        if !self.interrupted() {
            if let Some(next) = &mut self.prepared {
                next.child.release();
            }
        }
        let finished = self.runs.finish(current).map_err(fail)?;
        let outcome = self.outcome(finished)?;
        if self.first_baseline.is_none() && spec.isolate.is_empty() {
            self.first_baseline = Some(outcome.duration);
        }
        self.observed.push((!outcome.passed, outcome.evidence.clone()));
        Ok(outcome)
    }
}

/// Run `f` on every item, `jobs` at a time (each call on a thread of its
/// own; `f` gets the item and the worker's number); results in input order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T, usize) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for worker in 0..jobs.max(1).min(items.len()) {
            let (next, results, f) = (&next, &results, &f);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item, worker);
                if let Ok(mut res) = results.lock() {
                    res[i] = Some(r);
                }
            });
        }
    });
    // Every index was taken by exactly one worker, which stored its result.
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::UserCommand;
    use factors::FactorSet;

    #[test]
    fn parallel_keeps_the_input_order() {
        let items: Vec<u64> = (0..37).collect();
        for jobs in [0, 1, 4, 100] {
            let out = parallel(&items, jobs, |x, worker| {
                assert!(worker < jobs.max(1));
                x * 2
            });
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>(), "jobs {jobs}");
        }
        assert!(parallel(&Vec::<u8>::new(), 3, |x, _| *x).is_empty());
    }

    #[test]
    fn a_request_plugs_in_the_command_and_the_condition() {
        let base_dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (base_dir.path().join("a"), base_dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("a");
        std::fs::create_dir_all(&b).expect("b");
        let (work, _) = Workspace::in_dirs("flakebox-test-", [&a, &b], None).expect("workspace");
        let cmd = UserCommand { argv: vec!["./t.sh".into()], junit: Some("/w/j.xml".into()) };
        let mut base = RunRequest::new(Vec::new());
        base.time = Some("2024-01-01T00:00:00Z".into());
        let runs = Runs::new(&cmd, base, &work);

        let all = RunSpec::suite(FactorSet::all(), 0);
        let PlannedRun { request: req, collect, .. } = runs.request(&all, 7).expect("request");
        assert_eq!(req.command, vec![std::ffi::OsString::from("./t.sh")]);
        assert_eq!(req.isolate, FactorSet::all());
        assert_eq!(req.time.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(req.state_dirs, None, "fs isolated: a fresh tree");
        assert_eq!(collect, vec![(PathBuf::from("/w/j.xml"), work.file("result-7-0"))]);
        assert_eq!(req.collect, collect);

        let baseline = RunSpec::suite(FactorSet::default(), 1);
        let req = runs.request(&baseline, 8).expect("request").request;
        assert_eq!(req.time, None, "time shared: the real clock");
        assert_eq!(req.state_dirs, Some(work.state_dirs(FactorSet::default(), false).expect("dirs")));
        assert_eq!(
            (req.isolate, req.seed),
            (FactorSet::default(), None),
            "no diagnosis of rand: real entropy"
        );
    }

    #[test]
    fn a_diagnosis_of_rand_gives_every_run_a_recorded_seed() {
        let base_dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (base_dir.path().join("a"), base_dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("a");
        std::fs::create_dir_all(&b).expect("b");
        let (work, _) = Workspace::in_dirs("flakebox-test-", [&a, &b], None).expect("workspace");
        let cmd = UserCommand { argv: vec!["./t.sh".into()], junit: None };
        let runs = Runs::new(&cmd, RunRequest::new(Vec::new()), &work).with_entropy(5);
        let rand = RunSpec::suite(FactorSet::only(Factor::Rand), 3);
        let req = runs.request(&rand, 1).expect("request").request;
        assert_eq!(req.seed, Some(diagnose::entropy_seed(5)));
        let baseline = RunSpec::suite(FactorSet::default(), 3);
        let req = runs.request(&baseline, 2).expect("request").request;
        assert_eq!(req.isolate, FactorSet::only(Factor::Rand), "served from a seed");
        assert_eq!(req.seed, Some(diagnose::run_entropy_seed(5, &baseline)));
        assert_ne!(req.seed, Some(diagnose::entropy_seed(5)));
        assert!(req.state_dirs.is_some(), "the condition's own fs isolation is unchanged");
    }
}
