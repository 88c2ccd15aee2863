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
        Runs { command, base, work, count: AtomicUsize::new(0) }
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
        if !spec.isolate.contains(Factor::Rand) {
            req.seed = None;
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
}

impl<'a> DiagnoseRunner<'a> {
    pub fn new(runs: &'a Runs<'a>, interrupted: &'a AtomicBool) -> Self {
        DiagnoseRunner { runs, interrupted, next: None, prepared: None }
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
        let mut current = match self.prepared.take() {
            Some(p) if p.spec == *spec => p,
            other => {
                if let Some(p) = other {
                    p.child.cancel();
                }
                self.runs.start(spec, |_| {}, true).map_err(fail)?
            }
        };
        current.child.release();
        // Build the next run now, unless it is this condition's own: two
        // overlays must not share its state directories.
        if let Some(next) = self.next.take() {
            if next.isolate != spec.isolate {
                // A failure here shows again, reported, when that run's turn comes.
                self.prepared = self.runs.start(&next, |_| {}, true).ok();
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
        self.outcome(finished)
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
        let (work, _) = Workspace::in_dirs("flakebox-test-", [&a, &b], false).expect("workspace");
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
    }
}
