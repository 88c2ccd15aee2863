//! Factor pruning: a factor the command provably never used is left out of
//! the rounds after the first, with the reason in the report. Proof, not
//! a guess: the network is pruned only when every run with the network
//! shared was traced in full (no program out of the shim's reach) and made
//! no name lookup and no connect; the database only when the throwaway
//! server itself counted no client session in every db-isolated run of the
//! first round (the server sees every client, traced or not). Pure: the
//! engine gives the runs seen, this decides.

use factors::{Factor, FactorSet};
use serde::{Deserialize, Serialize};

/// A factor left out of the rounds after `after_rounds` rounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    pub factor: Factor,
    /// Rounds that ran with the factor before it was left out.
    pub after_rounds: usize,
    /// Why the command provably never used it.
    pub reason: String,
}

/// One run as pruning sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub isolate: FactorSet,
    pub round: usize,
    /// Connects and name lookups traced.
    pub net_events: usize,
    /// The trace saw every program of the run.
    pub trace_complete: bool,
    /// Client sessions the throwaway database counted (`None`: no count).
    pub db_sessions: Option<u64>,
    /// The command failed.
    pub failed: bool,
}

/// The factors among `factors` the runs prove unused, with the reason. A
/// factor whose own condition already came out differently from baseline
/// in the first round is kept whatever the trace says: the command used it
/// in a way no trace shows (reading the routing table, say).
pub(crate) fn unused(factors: FactorSet, runs: &[Seen]) -> Vec<(Factor, String)> {
    let first = |iso: FactorSet| runs.iter().filter(move |r| r.round == 0 && r.isolate == iso);
    let differs =
        |f: Factor| first(FactorSet::EMPTY).any(|b| first(FactorSet::only(f)).any(|i| i.failed != b.failed));
    let factors: FactorSet = factors.iter().filter(|f| !differs(*f)).collect();
    let mut out = Vec::new();
    if factors.contains(Factor::Net) {
        let shared: Vec<&Seen> = runs.iter().filter(|r| !r.isolate.contains(Factor::Net)).collect();
        if !shared.is_empty() && shared.iter().all(|r| r.trace_complete && r.net_events == 0) {
            out.push((
                Factor::Net,
                format!(
                    "no name lookup or connect in any of the {} traced run{} with the network shared",
                    shared.len(),
                    plural(shared.len())
                ),
            ));
        }
    }
    if factors.contains(Factor::Db) {
        let first: Vec<&Seen> =
            runs.iter().filter(|r| r.round == 0 && r.isolate.contains(Factor::Db)).collect();
        if !first.is_empty() && first.iter().all(|r| r.db_sessions == Some(0)) {
            out.push((
                Factor::Db,
                format!(
                    "no connection to the throwaway database in the {} db-isolated run{} of the first round",
                    first.len(),
                    plural(first.len())
                ),
            ));
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(isolate: FactorSet, net_events: usize, trace_complete: bool, db_sessions: Option<u64>) -> Seen {
        Seen { isolate, round: 0, net_events, trace_complete, db_sessions, failed: false }
    }

    fn db() -> FactorSet {
        FactorSet::only(Factor::Db)
    }

    #[test]
    fn a_database_nobody_connected_to_is_pruned_with_the_reason() {
        let all = FactorSet::only(Factor::Fs).with(Factor::Db);
        let runs = [
            seen(FactorSet::EMPTY, 0, false, None),
            seen(db(), 0, false, Some(0)),
            seen(all, 0, false, Some(0)),
        ];
        let got = unused(all, &runs);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Factor::Db);
        assert!(got[0].1.contains("in the 2 db-isolated runs of the first round"), "{}", got[0].1);
    }

    #[test]
    fn one_session_or_no_count_keeps_the_database() {
        let runs = [seen(db(), 0, true, Some(0)), seen(FactorSet::all(), 0, true, Some(1))];
        assert!(unused(FactorSet::all(), &runs).iter().all(|(f, _)| *f != Factor::Db));
        let runs = [seen(db(), 0, true, None)];
        assert!(unused(db(), &runs).is_empty(), "not counted is not proof");
        assert!(unused(db(), &[]).is_empty(), "no db-isolated run yet");
        let later = Seen { round: 1, ..seen(db(), 0, true, Some(0)) };
        assert!(unused(db(), &[later]).is_empty(), "the first round decides");
    }

    #[test]
    fn a_network_never_looked_up_or_connected_to_in_full_traces_is_pruned() {
        let net = FactorSet::only(Factor::Net);
        let runs = [seen(FactorSet::EMPTY, 0, true, None), seen(net, 0, false, None)];
        let got = unused(net, &runs);
        assert_eq!(got.len(), 1, "the net-isolated run's trace does not matter");
        assert!(got[0].1.contains("any of the 1 traced run with the network shared"), "{}", got[0].1);
    }

    #[test]
    fn a_connect_or_a_program_out_of_reach_keeps_the_network() {
        let net = FactorSet::only(Factor::Net);
        assert!(unused(net, &[seen(FactorSet::EMPTY, 1, true, None)]).is_empty());
        // A static binary: its connects are not in the trace.
        assert!(unused(net, &[seen(FactorSet::EMPTY, 0, false, None)]).is_empty());
        assert!(unused(net, &[seen(net, 0, true, None)]).is_empty(), "no run with the network shared");
    }

    #[test]
    fn a_factor_whose_condition_already_differed_is_kept() {
        // Reads the routing table, connects nowhere: fails without a network.
        let net = FactorSet::only(Factor::Net);
        let runs = [seen(FactorSet::EMPTY, 0, true, None), Seen { failed: true, ..seen(net, 0, true, None) }];
        assert!(unused(net, &runs).is_empty());
        let runs =
            [Seen { failed: true, ..seen(FactorSet::EMPTY, 0, true, None) }, seen(db(), 0, true, Some(0))];
        assert!(unused(db(), &runs).is_empty());
    }

    #[test]
    fn only_the_chosen_factors_are_pruned() {
        let runs = [seen(FactorSet::all(), 0, true, Some(0)), seen(FactorSet::EMPTY, 0, true, None)];
        assert!(unused(FactorSet::only(Factor::Time), &runs).is_empty());
    }
}
