//! Durations, one grammar for the whole command line: `--timeout`,
//! `--kill-after`, and the offsets and steps of time specs (`+3d`,
//! `~step=1ms`).
//!
//! `DURATION := (NUMBER UNIT)+`, `NUMBER := DIGITS[.DIGITS]`, units `w d h m
//! s ms us ns`; e.g. `90s`, `1h30m`, `1.5s`, `250ms`. Where a duration
//! stands alone (`--timeout`, `--kill-after`), a plain number is seconds
//! (`30`, `0.5`); in a time spec a unit is required (`+3` is refused).

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Every unit, largest first, in nanoseconds.
const UNITS: [(&str, u128); 8] = [
    ("w", 7 * 86_400 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// The largest duration accepted: `i64::MAX` seconds.
const MAX_NANOS: u128 = i64::MAX as u128 * NANOS_PER_SEC;

/// What is wrong with a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationErrorKind {
    Empty,
    /// A number was expected where this text starts.
    ExpectedNumber {
        at: String,
    },
    /// This number has no unit after it.
    MissingUnit {
        number: String,
    },
    UnknownUnit {
        unit: String,
    },
    Negative,
    TooLarge,
}

/// A command-line duration that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Control characters are escaped so that the message stays one line.
#[error("invalid duration `{}`: {} (examples: 30, 30s, 250ms, 5m, 1h30m)", .input.escape_debug(), self.why())]
pub struct DurationError {
    pub input: String,
    pub kind: DurationErrorKind,
}

impl DurationError {
    fn why(&self) -> String {
        match &self.kind {
            DurationErrorKind::Empty => "empty".into(),
            DurationErrorKind::ExpectedNumber { at } => {
                format!("expected a number at `{}`", at.escape_debug())
            }
            DurationErrorKind::MissingUnit { .. } => "a unit is missing after a number".into(),
            DurationErrorKind::UnknownUnit { unit } => {
                format!("unknown unit `{}`; use w, d, h, m, s, ms, us or ns", unit.escape_debug())
            }
            DurationErrorKind::Negative => "must be a non-negative number".into(),
            DurationErrorKind::TooLarge => "too large".into(),
        }
    }
}

impl DurationErrorKind {
    /// The reason as a time spec's error says it.
    pub(crate) fn spec_reason(&self) -> String {
        match self {
            DurationErrorKind::Empty => "expected a duration such as 3d, 90m, 1h30m or 1ms".into(),
            DurationErrorKind::ExpectedNumber { at } => {
                format!("expected a number at {at:?} (e.g. 3d, 1h30m)")
            }
            DurationErrorKind::MissingUnit { number } => {
                format!("{number} needs a unit: w, d, h, m, s, ms, us or ns")
            }
            DurationErrorKind::UnknownUnit { unit } => {
                format!("unknown unit {unit:?}: expected w, d, h, m, s, ms, us or ns")
            }
            DurationErrorKind::Negative => "the duration must not be negative".into(),
            DurationErrorKind::TooLarge => "the duration is too large".into(),
        }
    }
}

/// A duration standing alone on the command line (`--timeout 30s`): the
/// grammar above, or a plain number of seconds; blanks around are ignored.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let bad = |kind| DurationError { input: s.to_string(), kind };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad(DurationErrorKind::Empty));
    }
    if let Ok(secs) = t.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(bad(DurationErrorKind::Negative));
        }
        return Duration::try_from_secs_f64(secs).map_err(|_| bad(DurationErrorKind::TooLarge));
    }
    let nanos = parse_nanos(t).map_err(bad)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| bad(DurationErrorKind::TooLarge))?;
    Ok(Duration::new(secs, (nanos % NANOS_PER_SEC) as u32))
}

/// `(NUMBER UNIT)+` in nanoseconds, at most [`MAX_NANOS`].
pub(crate) fn parse_nanos(d: &str) -> Result<u128, DurationErrorKind> {
    if d.is_empty() {
        return Err(DurationErrorKind::Empty);
    }
    let mut total: u128 = 0;
    let mut rest = d;
    while !rest.is_empty() {
        let nd = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (num, after) = rest.split_at(nd);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(DurationErrorKind::ExpectedNumber { at: rest.to_string() });
        }
        let nu = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(nu);
        let size = match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, size)) => *size,
            None if unit.is_empty() => {
                return Err(DurationErrorKind::MissingUnit { number: num.to_string() })
            }
            None => return Err(DurationErrorKind::UnknownUnit { unit: unit.to_string() }),
        };
        let whole: u128 = match int {
            "" => 0,
            i => i.parse::<u64>().map_err(|_| DurationErrorKind::TooLarge)?.into(),
        };
        // Fraction digits beyond a nanosecond of the largest unit change nothing.
        let frac = &frac[..frac.len().min(18)];
        let part: u128 = match frac {
            "" => 0,
            f => {
                f.parse::<u128>().map_err(|_| DurationErrorKind::TooLarge)? * size
                    / 10u128.pow(f.len() as u32)
            }
        };
        total = whole
            .checked_mul(size)
            .and_then(|v| v.checked_add(part))
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= MAX_NANOS)
            .ok_or(DurationErrorKind::TooLarge)?;
        rest = after;
    }
    Ok(total)
}

/// `1ms`, `1s500ms`, `90s`: exact, largest units first (days at most).
pub fn format_duration(ns: u64) -> String {
    if ns == 0 {
        return "0ns".to_string();
    }
    let mut rest = u128::from(ns);
    let mut s = String::new();
    for (name, size) in UNITS.iter().skip(1) {
        if rest >= *size {
            s.push_str(&format!("{}{name}", rest / size));
            rest %= size;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property tests (crates/flakebox/tests/parsers.rs): a
    /// control character in the input broke the message over two lines.
    #[test]
    fn errors_stay_on_one_line() {
        for s in ["en0fN\nNaN", ".5n\r", "1\nx"] {
            let msg = parse_duration(s).unwrap_err().to_string();
            assert!(!msg.contains(['\n', '\r']), "{msg}");
            assert!(msg.contains(&format!("`{}`", s.escape_debug())), "{msg}");
        }
    }

    #[test]
    fn parses_units_and_plain_seconds() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 5m ").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        // What only time specs took before: weeks, micro- and nanoseconds.
        assert_eq!(parse_duration("1w").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("1s5us7ns").unwrap(), Duration::new(1, 5_007));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn names_the_bad_part() {
        let e = |s: &str| parse_duration(s).unwrap_err().to_string();
        assert!(e("5x").contains("unknown unit `x`"));
        assert!(e("").contains("empty"));
        assert!(e("m5").contains("expected a number at `m5`"));
        assert!(e("-3").contains("non-negative"));
        assert!(e("1.2.3s").contains("expected a number at `1.2.3s`"));
        assert!(e("1e30").contains("too large"));
        assert!(e("999999999999999999999s").contains("too large"));
        assert!(e("5x").starts_with("invalid duration `5x`"));
    }

    #[test]
    fn nanos_need_units_and_are_exact() {
        assert_eq!(parse_nanos("1h30m"), Ok(5_400 * NANOS_PER_SEC));
        assert_eq!(parse_nanos("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_nanos("3"), Err(DurationErrorKind::MissingUnit { number: "3".into() }));
        assert_eq!(parse_nanos("3y"), Err(DurationErrorKind::UnknownUnit { unit: "y".into() }));
        assert_eq!(parse_nanos(""), Err(DurationErrorKind::Empty));
        assert_eq!(parse_nanos(&format!("{}s", i64::MAX)), Ok(MAX_NANOS));
        assert_eq!(parse_nanos(&format!("{}s1ns", i64::MAX)), Err(DurationErrorKind::TooLarge));
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(format_duration(0), "0ns");
        assert_eq!(format_duration(1_500_000_000), "1s500ms");
        assert_eq!(format_duration(8 * 86_400 * 1_000_000_000), "8d");
    }
}
