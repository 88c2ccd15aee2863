//! The usual taxonomy of flaky tests, per test, from the diagnosis's
//! findings: *intra-test* (randomness, concurrency/timing), *inter-test*
//! (order), *external* (net, fs, time, db).

use crate::order::OrderEffect;
use crate::report::{Report, Verdict};
use factors::Factor;
use serde::{Deserialize, Serialize};

/// The top-level category of a test's flakiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Flaky on its own: randomness, concurrency or timing.
    IntraTest,
    /// Depends on which tests ran before it (the order factor).
    InterTest,
    /// Depends on the environment: net, fs, time, db.
    External,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::IntraTest => "intra-test",
            Category::InterTest => "inter-test",
            Category::External => "external",
        }
    }
}

/// One test's category and the causes within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCategory {
    /// The runner's id.
    pub name: String,
    pub category: Category,
    /// Within the category: `randomness`, `concurrency/timing`, `order`,
    /// or the factors (`net`, `fs`, `time`, `db`).
    pub causes: Vec<String>,
}

/// The category of every test with a finding: an order effect (inter-test),
/// an environment verdict (external; intra-test when the factor is rand),
/// or an intrinsic verdict (intra-test). An order effect comes first: the
/// test's other findings may be its polluter's doing.
pub fn categorize(report: &Report) -> Vec<TestCategory> {
    let mut out: Vec<TestCategory> = Vec::new();
    if let Some(order) = &report.order {
        for t in order.tests.iter().filter(|t| t.effect != OrderEffect::None) {
            out.push(TestCategory {
                name: t.name.clone(),
                category: Category::InterTest,
                causes: vec!["order".into()],
            });
        }
    }
    let rand_diagnosed = report.analysis.iter().any(|a| a.factor == Factor::Rand);
    for t in &report.tests {
        if out.iter().any(|c| c.name == t.name) {
            continue;
        }
        let entry = match t.verdict {
            Verdict::Environment => {
                let external: Vec<String> = t
                    .factors
                    .iter()
                    .filter(|f| f.factor != Factor::Rand)
                    .map(|f| f.factor.to_string())
                    .collect();
                match external.is_empty() {
                    true => TestCategory {
                        name: t.name.clone(),
                        category: Category::IntraTest,
                        causes: vec!["randomness".into()],
                    },
                    false => {
                        TestCategory { name: t.name.clone(), category: Category::External, causes: external }
                    }
                }
            }
            Verdict::Intrinsic => TestCategory {
                name: t.name.clone(),
                category: Category::IntraTest,
                // With rand isolated and still flaky, not randomness alone.
                causes: match rand_diagnosed {
                    true => vec!["concurrency/timing".into()],
                    false => vec!["randomness or concurrency/timing".into()],
                },
            },
            Verdict::Stable | Verdict::Undecided => continue,
        };
        out.push(entry);
    }
    out
}

/// The categories section of the text and markdown reports.
pub fn render(cats: &[TestCategory], markdown: bool) -> String {
    if cats.is_empty() {
        return String::new();
    }
    let mut s = match markdown {
        true => "\n### categories\n\n".to_string(),
        false => "\ncategories:\n".to_string(),
    };
    for c in cats {
        let bullet = if markdown { "- " } else { "  " };
        s.push_str(&format!("{bullet}{}: {} ({})\n", c.name, c.category.name(), c.causes.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{order_only_report, OrderReport, OrderTest};
    use crate::polluter::Tally;
    use crate::report::{Counts, Effect, FactorEffect, TestReport};
    use factors::FactorSet;

    fn test(name: &str, verdict: Verdict, factors: &[Factor]) -> TestReport {
        TestReport {
            factors: factors
                .iter()
                .map(|&factor| FactorEffect {
                    factor,
                    effect: Effect::Fixes,
                    p_value: 0.01,
                    evidence: Vec::new(),
                    baseline: Counts::default(),
                    isolated: Counts::default(),
                    failing_seed: None,
                })
                .collect(),
            ..TestReport::new(name, verdict, None)
        }
    }

    fn order_test(name: &str, effect: OrderEffect) -> OrderTest {
        OrderTest {
            name: name.into(),
            effect,
            in_suite: Tally::default(),
            shuffled: Vec::new(),
            alone: Tally::default(),
            p_victim: 1.0,
            p_brittle: 1.0,
            p_value: if effect == OrderEffect::None { 1.0 } else { 0.001 },
            p_unadjusted: 1.0,
            polluters: Vec::new(),
            cleaner: None,
            state: None,
            replay: None,
            search_runs: 0,
            search: None,
            cleaner_search: None,
            summary: String::new(),
        }
    }

    #[test]
    fn each_finding_has_its_category() {
        let order = OrderReport {
            tests: vec![order_test("v", OrderEffect::Victim), order_test("quiet", OrderEffect::None)],
            runs: 0,
            alpha: 0.05,
            seed: 0,
            incomplete: false,
            suite_runs: 1,
            suite_runs_failed: 1,
            isolate: FactorSet::EMPTY,
        };
        let mut r = order_only_report(vec!["pytest".into()], order, 0.05, 0.0);
        assert_eq!(r.categories.len(), 1);
        r.tests = vec![
            // Its environment finding comes after its order effect.
            test("v", Verdict::Environment, &[Factor::Fs]),
            test("net", Verdict::Environment, &[Factor::Net, Factor::Time]),
            test("dice", Verdict::Environment, &[Factor::Rand]),
            test("race", Verdict::Intrinsic, &[]),
            test("fine", Verdict::Stable, &[]),
        ];
        let got: Vec<(String, Category, Vec<String>)> =
            categorize(&r).into_iter().map(|c| (c.name, c.category, c.causes)).collect();
        let want =
            |n: &str, c, causes: &[&str]| (n.to_string(), c, causes.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            got,
            vec![
                want("v", Category::InterTest, &["order"]),
                want("net", Category::External, &["net", "time"]),
                want("dice", Category::IntraTest, &["randomness"]),
                want("race", Category::IntraTest, &["randomness or concurrency/timing"]),
            ]
        );
        r.categories = categorize(&r);
        let text = render(&r.categories, false);
        assert!(
            text.contains("  v: inter-test (order)") && text.contains("  net: external (net, time)"),
            "{text}"
        );
        let json = serde_json::to_string(&r.categories[0]).unwrap_or_default();
        assert_eq!(json, r#"{"name":"v","category":"inter-test","causes":["order"]}"#);
    }
}
