//! The five environment factors flakebox can isolate, and sets of them;
//! and `order`, the factor `diagnose` alone examines (a test run alone and
//! in other orders), which a report names beside them.
//!
//! This is the one place the factor model lives: `run --share`, `diagnose
//! --factors`, the sandbox configuration and the JSON report all speak it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One source of non-hermeticity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Factor {
    /// The network: isolated means a new netns with only `lo`.
    Net,
    /// The filesystem: isolated means fresh tmpfs and a copy-on-write layer.
    Fs,
    /// The wall clock: isolated means frozen by the shim.
    Time,
    /// The database: isolated means a throwaway PostgreSQL.
    Db,
    /// Operating-system randomness: isolated means served by the shim from
    /// a seed (`run --seed`), so a run can be replayed.
    Rand,
    /// The order of the tests (diagnose only, through a test runner):
    /// isolated means the test runs alone. Never in [`Factor::ALL`] nor in a
    /// run's isolation: no sandbox isolates it, and `run --share` does not
    /// parse it.
    Order,
}

impl Factor {
    /// Every environment factor (those a run isolates), in report order.
    pub const ALL: [Factor; 5] = [Factor::Net, Factor::Fs, Factor::Time, Factor::Db, Factor::Rand];

    pub fn name(self) -> &'static str {
        match self {
            Factor::Net => "net",
            Factor::Fs => "fs",
            Factor::Time => "time",
            Factor::Db => "db",
            Factor::Rand => "rand",
            Factor::Order => "order",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A factor name that is not one of the five.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown factor `{}`: expected one of net, fs, time, db, rand (comma-separated, e.g. `net,time`)",
    .0.escape_debug()
)]
pub struct UnknownFactor(pub String);

impl FromStr for Factor {
    type Err = UnknownFactor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "net" | "network" => Ok(Factor::Net),
            "fs" | "filesystem" => Ok(Factor::Fs),
            "time" | "clock" => Ok(Factor::Time),
            "db" | "database" | "postgres" => Ok(Factor::Db),
            "rand" | "random" | "entropy" => Ok(Factor::Rand),
            _ => Err(UnknownFactor(s.trim().to_string())),
        }
    }
}

/// A set of factors (a bit set: cheap to copy, ordered iteration).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FactorSet(u8);

impl FactorSet {
    pub const EMPTY: FactorSet = FactorSet(0);

    pub fn all() -> Self {
        Factor::ALL.iter().copied().collect()
    }

    pub fn only(f: Factor) -> Self {
        FactorSet(f.bit())
    }

    pub fn contains(self, f: Factor) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn insert(&mut self, f: Factor) {
        self.0 |= f.bit();
    }

    pub fn remove(&mut self, f: Factor) {
        self.0 &= !f.bit();
    }

    pub fn with(mut self, f: Factor) -> Self {
        self.insert(f);
        self
    }

    pub fn without(mut self, f: Factor) -> Self {
        self.remove(f);
        self
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = Factor> {
        Factor::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// Parse `net,time` style lists; each element may itself be a list, so
    /// both `--share net,fs` and `--share net --share fs` work.
    pub fn parse_lists<S: AsRef<str>>(items: &[S]) -> Result<Self, UnknownFactor> {
        let mut set = FactorSet::EMPTY;
        for item in items {
            for part in item.as_ref().split(',').filter(|p| !p.trim().is_empty()) {
                set.insert(part.parse()?);
            }
        }
        Ok(set)
    }
}

impl FromIterator<Factor> for FactorSet {
    fn from_iter<I: IntoIterator<Item = Factor>>(iter: I) -> Self {
        let mut s = FactorSet::EMPTY;
        for f in iter {
            s.insert(f);
        }
        s
    }
}

impl fmt::Debug for FactorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for FactorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(Factor::name).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for FactorSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for FactorSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<Factor> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comma_lists_and_repeats() {
        let s = FactorSet::parse_lists(&["net,time", "fs"]).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Factor::Net, Factor::Fs, Factor::Time]);
        assert_eq!(s.to_string(), "net,fs,time");
    }

    #[test]
    fn parses_rand_and_its_aliases() {
        for name in ["rand", "random", "entropy"] {
            assert_eq!(name.parse::<Factor>(), Ok(Factor::Rand));
        }
        assert_eq!(Factor::Rand.to_string(), "rand");
    }

    #[test]
    fn names_the_bad_factor() {
        let e = FactorSet::parse_lists(&["net,dns"]).unwrap_err();
        assert_eq!(e, UnknownFactor("dns".into()));
        assert!(e.to_string().contains("`dns`"));
    }

    /// Found by the property tests (crates/flakebox/tests/parsers.rs): a
    /// control character in the input broke the message over two lines.
    #[test]
    fn errors_stay_on_one_line() {
        let e = FactorSet::parse_lists(&["net,d\nb"]).unwrap_err();
        assert_eq!(e, UnknownFactor("d\nb".into()));
        assert!(e.to_string().starts_with("unknown factor `d\\nb`:"), "{e}");
    }

    #[test]
    fn set_algebra() {
        let all = FactorSet::all();
        assert_eq!(all.len(), 5);
        assert!(all.contains(Factor::Rand));
        let s = all.without(Factor::Db);
        assert!(!s.contains(Factor::Db) && s.contains(Factor::Net));
        assert_eq!(FactorSet::only(Factor::Time).with(Factor::Net).len(), 2);
        assert_eq!(FactorSet::EMPTY.to_string(), "none");
    }

    #[test]
    fn order_is_named_but_never_an_environment_factor() {
        assert_eq!(Factor::Order.to_string(), "order");
        assert_eq!(serde_json::to_string(&Factor::Order).unwrap(), r#""order""#);
        assert!(!FactorSet::all().contains(Factor::Order));
        assert!("order".parse::<Factor>().is_err());
    }

    #[test]
    fn serializes_as_list() {
        let s = FactorSet::only(Factor::Time).with(Factor::Net);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["net","time"]"#);
        let back: FactorSet = serde_json::from_str(r#"["time","net"]"#).unwrap();
        assert_eq!(back, s);
    }
}
