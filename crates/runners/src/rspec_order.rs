//! RSpec in a listed order. RSpec orders hierarchically: the top-level
//! groups of all loaded files, then within each group its own examples and
//! after them its nested groups, each list by the ordering strategy. So
//! only an order that keeps every group's examples together, and a group's
//! own examples before those of its nested groups, can be run exactly.
//!
//! A listed order is asked for in the plainest form that gives it exactly,
//! computed from the ids (`./spec/a_spec.rb[1:2:3]`: the file, then the
//! place in each group, counting examples and nested groups together in
//! definition order):
//!
//! 1. [`Listed::Defined`]: `--order defined`, when definition order (files
//!    in the order the list first names them) is the listed order;
//! 2. [`Listed::Seed`]: `--order rand:SEED`, when a small seed makes
//!    RSpec's own shuffle (a Jenkins hash of the seed and each item's id)
//!    give the listed order: replayable with RSpec alone;
//! 3. [`Listed::Ordering`]: otherwise a file flakebox writes, required with
//!    `--require`, registers a global ordering that sorts every list of
//!    siblings by where its last listed example is in the list. The last
//!    listed test (a victim after its suspected polluters) then runs last,
//!    unless its own group, or one around it, has nested groups with
//!    listed examples (they run after a group's own examples whatever the
//!    strategy). Groups with `:order` metadata keep their own order.

use crate::TestId;

/// Lists at most this long are tried against RSpec's shuffle.
const SEEDED_MAX: usize = 8;
/// Seeds tried, from 1.
const SEEDS: u64 = 10_000;

/// How a listed order is given to rspec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    Defined,
    Seed(u64),
    Ordering,
}

/// An example id: its file and its place in the tree of groups.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scoped<'a> {
    file: &'a str,
    path: Vec<u32>,
}

/// `./spec/a_spec.rb[1:2]` split; `None` for a file or `file:line`.
fn scoped(id: &str) -> Option<Scoped<'_>> {
    let inner = id.strip_suffix(']')?;
    let open = inner.rfind('[')?;
    let (file, scope) = (&inner[..open], &inner[open + 1..]);
    let path =
        scope.split(':').map(|n| n.parse::<u32>().ok().filter(|&n| n > 0)).collect::<Option<Vec<_>>>()?;
    (!file.is_empty()).then_some(Scoped { file, path })
}

/// How to run `ids` in the order listed.
pub(crate) fn listed(ids: &[TestId]) -> Listed {
    let Some(sel) = ids.iter().map(|i| scoped(&i.0)).collect::<Option<Vec<_>>>() else {
        return Listed::Ordering;
    };
    // Examples only (a group has no id of its own below a top-level group,
    // and no id may be another's group), each once.
    let is_prefix = |a: &Scoped, b: &Scoped| a.file == b.file && b.path.starts_with(&a.path);
    let examples_only = sel.iter().all(|s| s.path.len() >= 2)
        && sel
            .iter()
            .enumerate()
            .all(|(i, a)| sel.iter().enumerate().all(|(j, b)| i == j || !is_prefix(a, b)));
    if !examples_only {
        return Listed::Ordering;
    }
    let listed: Vec<usize> = (0..sel.len()).collect();
    if realised(&sel, None).as_deref() == Some(&listed[..]) {
        return Listed::Defined;
    }
    if sel.len() <= SEEDED_MAX {
        if let Some(seed) = (1..=SEEDS).find(|&s| realised(&sel, Some(s)).as_deref() == Some(&listed[..])) {
            return Listed::Seed(seed);
        }
    }
    Listed::Ordering
}

/// The order (indices into `sel`) RSpec runs `sel` in: definition order,
/// or shuffled with `seed`. `None` when the shuffle ties two siblings
/// (Ruby's sort is not stable: the order is not known).
fn realised(sel: &[Scoped], seed: Option<u64>) -> Option<Vec<usize>> {
    let mut files: Vec<&str> = Vec::new();
    for s in sel {
        if !files.contains(&s.file) {
            files.push(s.file);
        }
    }
    let key = |members: &[usize], depth: usize| -> u64 {
        let s = &sel[members[0]];
        match seed {
            Some(seed) => {
                let scope: Vec<String> = s.path[..=depth].iter().map(u32::to_string).collect();
                jenkins(&format!("{seed}{}[{}]", s.file, scope.join(":")))
            }
            // Files load in the order first named; groups and examples run
            // in the order defined.
            None if depth == 0 => {
                let file = files.iter().position(|f| *f == s.file).unwrap_or(0) as u64;
                (file << 32) | u64::from(s.path[0])
            }
            None => u64::from(s.path[depth]),
        }
    };
    let mut out = Vec::new();
    order_level(sel, (0..sel.len()).collect(), 0, &key, &mut out)?;
    Some(out)
}

/// Order `members` (all in one group at `depth`, or the top level at 0):
/// the group's own examples, then its nested groups, each by `key`.
fn order_level(
    sel: &[Scoped],
    members: Vec<usize>,
    depth: usize,
    key: &dyn Fn(&[usize], usize) -> u64,
    out: &mut Vec<usize>,
) -> Option<()> {
    let mut examples: Vec<Vec<usize>> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for m in members {
        let s = &sel[m];
        if s.path.len() == depth + 1 {
            examples.push(vec![m]);
        } else if let Some(g) = groups.iter_mut().find(|g| {
            let o = &sel[g[0]];
            o.file == s.file && o.path[depth] == s.path[depth]
        }) {
            g.push(m);
        } else {
            groups.push(vec![m]);
        }
    }
    for list in [&mut examples, &mut groups] {
        let mut keyed: Vec<(u64, Vec<usize>)> = list.drain(..).map(|g| (key(&g, depth), g)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        if keyed.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        list.extend(keyed.into_iter().map(|(_, g)| g));
    }
    out.extend(examples.into_iter().flatten());
    for g in groups {
        order_level(sel, g, depth + 1, key, out)?;
    }
    Some(())
}

/// RSpec's `Ordering::Random#jenkins_hash_digest` (Jenkins one-at-a-time,
/// 32 bits).
fn jenkins(s: &str) -> u64 {
    const MAX: u64 = 0xFFFF_FFFF;
    let mut h: u64 = 0;
    for b in s.bytes() {
        h = (h + u64::from(b)) & MAX;
        h = (h + ((h << 10) & MAX)) & MAX;
        h ^= h >> 6;
    }
    h = (h + ((h << 3) & MAX)) & MAX;
    h ^= h >> 11;
    h = (h + ((h << 15) & MAX)) & MAX;
    h
}

/// The file for [`Listed::Ordering`]: registered on the registry itself,
/// because `register_ordering` is ignored once an order is given on the
/// command line, and the plan gives `--order defined` so that a helper's
/// own `config.order = :random` cannot take the order back.
pub(crate) fn ordering_file(ids: &[TestId]) -> String {
    let quoted: Vec<String> =
        ids.iter().map(|i| format!("'{}'", i.0.replace('\\', "\\\\").replace('\'', "\\'"))).collect();
    format!(
        "# Written by flakebox: run the selected examples in the order listed, as\n\
         # far as RSpec's tree allows: each list of siblings by where its last\n\
         # listed example is (a group's own examples still run before its nested\n\
         # groups).\n\
         flakebox_listed = [{}].each_with_index.to_h\n\
         flakebox_last = lambda do |item|\n\
         \x20 ids = item.respond_to?(:descendant_filtered_examples) ? item.descendant_filtered_examples.map(&:id) : [item.id]\n\
         \x20 ids.map {{ |id| flakebox_listed.fetch(id, -1) }}.max || -1\n\
         end\n\
         RSpec.configuration.ordering_registry.register(\n\
         \x20 :global,\n\
         \x20 RSpec::Core::Ordering::Custom.new(lambda do |items|\n\
         \x20   items.each_with_index.sort_by {{ |item, i| [flakebox_last.call(item), i] }}.map(&:first)\n\
         \x20 end)\n\
         )\n",
        quoted.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<TestId> {
        v.iter().map(|i| TestId::new(*i)).collect()
    }

    #[test]
    fn jenkins_is_rubys() {
        // `RSpec::Core::Ordering::Random.new(nil).send(:jenkins_hash_digest, s)`
        // in rspec-core 3.12.
        assert_eq!(jenkins(""), 0);
        assert_eq!(jenkins("1./spec/a_spec.rb[1]"), 2_419_727_397);
        assert_eq!(jenkins("42./spec/b_spec.rb[1:2]"), 947_146_981);
    }

    #[test]
    fn definition_order_is_files_as_first_named_then_examples_before_nested_groups() {
        let a = |p: &str| format!("./spec/a_spec.rb[{p}]");
        let sel: Vec<String> = ["1:1", "1:3", "1:2:1"].iter().map(|p| a(p)).collect();
        let sel: Vec<&str> = sel.iter().map(String::as_str).collect();
        assert_eq!(listed(&ids(&sel)), Listed::Defined);
        assert_eq!(listed(&ids(&["./spec/b_spec.rb[1:2]", "./spec/a_spec.rb[1:1]"])), Listed::Defined);
        // a's groups load together: b between them needs RSpec's shuffle.
        let three = ids(&["./spec/a_spec.rb[2:1]", "./spec/b_spec.rb[1:1]", "./spec/a_spec.rb[1:1]"]);
        assert!(matches!(listed(&three), Listed::Seed(_)), "{:?}", listed(&three));
    }

    #[test]
    fn other_orders_by_a_seed_or_the_ordering_file() {
        // Against definition order in one group: a seed swaps them.
        let Listed::Seed(seed) = listed(&ids(&["./spec/a_spec.rb[1:2]", "./spec/a_spec.rb[1:1]"])) else {
            panic!("no seed")
        };
        let sel = [scoped("./spec/a_spec.rb[1:2]").unwrap(), scoped("./spec/a_spec.rb[1:1]").unwrap()];
        assert_eq!(realised(&sel, Some(seed)), Some(vec![0, 1]));
        // A nested group's example before its parent's own: no strategy can.
        assert_eq!(listed(&ids(&["./spec/a_spec.rb[1:2:1]", "./spec/a_spec.rb[1:1]"])), Listed::Ordering);
        // Files, lines, groups, repeats: the ordering file.
        assert_eq!(listed(&ids(&["spec/a_spec.rb:3", "./spec/a_spec.rb[1:1]"])), Listed::Ordering);
        assert_eq!(listed(&ids(&["./spec/a_spec.rb[1]"])), Listed::Ordering);
        assert_eq!(listed(&ids(&["./spec/a_spec.rb[1]", "./spec/a_spec.rb[1:1]"])), Listed::Ordering);
        assert_eq!(listed(&ids(&["./spec/a_spec.rb[1:1]", "./spec/a_spec.rb[1:1]"])), Listed::Ordering);
        // Long lists are not searched.
        let long: Vec<String> =
            (1..=SEEDED_MAX as u32 + 1).rev().map(|i| format!("./spec/a_spec.rb[1:{i}]")).collect();
        let long: Vec<&str> = long.iter().map(String::as_str).collect();
        assert_eq!(listed(&ids(&long)), Listed::Ordering);
    }

    #[test]
    fn the_ordering_file_quotes_ids_for_ruby() {
        let f = ordering_file(&ids(&["./spec/it's_spec.rb[1:1]", "./a\\b[1:2]"]));
        assert!(f.contains(r"['./spec/it\'s_spec.rb[1:1]', './a\\b[1:2]']"), "{f}");
        assert!(f.contains("ordering_registry.register("), "{f}");
    }
}
