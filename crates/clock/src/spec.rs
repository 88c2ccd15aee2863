//! The `--time` spec: what the fake wall clock shows, and how it moves.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::civil::{days_from_civil, days_in_month, format_rfc3339, MONTH_NAMES};
use crate::duration::format_duration;

/// `--help` text for the time spec grammar.
pub const TIME_SPEC_HELP: &str = "\
TIME SPEC: WHEN[~HOW]

WHEN is one of:
  2024-02-29T23:59:58Z           an RFC 3339 instant: Z or an offset such as
  2024-03-10T01:59:59-08:00      -08:00 is required; up to 9 fractional digits
  2024-02-29T23:59:58.250Z       ('t', 'z' and a space for 'T' are accepted too)
  2024-02-29                     a date alone: midnight UTC
  @1709251198  @1709251198.25    seconds since the Unix epoch (may be negative)
  now                            the moment the run starts
  +3d  -90m  +1h30m  +2w         an offset from now; units: w d h m s ms us ns

HOW is one of (default ~frozen, except offsets, which default to ~tick):
  ~frozen                        the clock stands still at WHEN
  ~tick                          the clock starts at WHEN and runs at real speed
  ~step=1ms                      the first read returns WHEN and every read
                                 advances the clock by the step (units as above)

Examples: 2024-02-29T23:59:58Z  @0~tick  -90m  +1d~frozen  now~step=10us

Only the wall clock (CLOCK_REALTIME and TAI, gettimeofday, time, ...) is faked;
monotonic clocks keep running, so sleeps and timeouts still take real time. Leap
seconds (:60) cannot be represented in Unix time and are refused.";

const EXAMPLES: &str =
    "2024-02-29T23:59:58Z, 2024-03-10T01:59:59-08:00, @1709251198, 2024-02-29T23:59:58Z~tick, +3d, -90m, 2024-01-01T00:00:00Z~step=1ms, now";

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A bad time spec: names the offending part and why, and shows accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time spec {spec:?}: {part:?}: {reason} (accepted, e.g.: {EXAMPLES})")]
pub struct TimeSpecError {
    /// The whole spec as given.
    pub spec: String,
    /// The offending part of it.
    pub part: String,
    /// What is wrong with that part.
    pub reason: String,
}

/// An instant as seconds and nanoseconds since the Unix epoch (UTC, no leap seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixTime {
    pub sec: i64,
    /// Always in 0..1_000_000_000, also for instants before 1970.
    pub nsec: u32,
}

impl UnixTime {
    pub fn from_system_time(t: SystemTime) -> UnixTime {
        let nanos = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        UnixTime::from_nanos(nanos)
    }

    /// Saturates at the ends of the i64 seconds range.
    fn from_nanos(nanos: i128) -> UnixTime {
        let sec = nanos.div_euclid(NANOS_PER_SEC);
        let nsec = nanos.rem_euclid(NANOS_PER_SEC) as u32;
        match i64::try_from(sec) {
            Ok(sec) => UnixTime { sec, nsec },
            Err(_) if sec < 0 => UnixTime { sec: i64::MIN, nsec: 0 },
            Err(_) => UnixTime { sec: i64::MAX, nsec: 999_999_999 },
        }
    }

    fn nanos(self) -> i128 {
        i128::from(self.sec) * NANOS_PER_SEC + i128::from(self.nsec)
    }

    /// RFC 3339 (UTC) when the year is 0000..=9999, else `@SECONDS[.FRACTION]`;
    /// either re-parses to exactly this instant.
    pub fn to_spec_string(self) -> String {
        format_rfc3339(self.sec, self.nsec).unwrap_or_else(|| {
            let n = self.nanos();
            let (sign, abs) = if n < 0 { ("-", -n) } else { ("", n) };
            let whole = abs / NANOS_PER_SEC;
            let frac = abs % NANOS_PER_SEC;
            if frac == 0 {
                format!("@{sign}{whole}")
            } else {
                let f = format!("{frac:09}");
                format!("@{sign}{whole}.{}", f.trim_end_matches('0'))
            }
        })
    }
}

/// Where the fake clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// The moment the spec is resolved (the run starts).
    Now,
    /// A fixed instant.
    At(UnixTime),
    /// Now plus this many nanoseconds (negative: the past).
    FromNow { nanos: i128 },
}

/// A parsed time spec (see [`TIME_SPEC_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeSpec {
    /// The clock stands still.
    Frozen(Anchor),
    /// The clock starts at the anchor and runs at real speed.
    Ticking(Anchor),
    /// The first read returns the anchor; each read advances by `step_ns`.
    Step { start: Anchor, step_ns: u64 },
}

impl Default for TimeSpec {
    /// `now`: frozen at the moment the run starts.
    fn default() -> Self {
        TimeSpec::Frozen(Anchor::Now)
    }
}

/// How the shim moves its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShimMode {
    Frozen,
    Ticking,
    Step,
}

impl ShimMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ShimMode::Frozen => "frozen",
            ShimMode::Ticking => "ticking",
            ShimMode::Step => "step",
        }
    }
}

/// A resolved spec: exactly what the shim is told through the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimClock {
    pub mode: ShimMode,
    /// The fake instant: frozen there, ticking from there, or the first step read.
    pub instant_sec: i64,
    pub instant_nsec: u32,
    /// Step mode: nanoseconds added per read (0 otherwise).
    pub step_ns: u64,
    /// The real wall time at which the fake clock read the instant. Ticking mode
    /// hands it to the shim so every process of the tree shares one timeline.
    pub origin_sec: i64,
    pub origin_nsec: u32,
}

pub const ENV_TIME_MODE: &str = "FLAKEBOX_TIME_MODE";
pub const ENV_TIME_SEC: &str = "FLAKEBOX_TIME_SEC";
pub const ENV_TIME_NSEC: &str = "FLAKEBOX_TIME_NSEC";
pub const ENV_TIME_STEP_NS: &str = "FLAKEBOX_TIME_STEP_NS";
pub const ENV_TIME_ORIGIN_SEC: &str = "FLAKEBOX_TIME_ORIGIN_SEC";
pub const ENV_TIME_ORIGIN_NSEC: &str = "FLAKEBOX_TIME_ORIGIN_NSEC";
/// `1` when the clockwatch supervisor fakes the clock of programs the shim cannot
/// reach: the shim then does not warn when one is exec'd.
pub const ENV_CLOCKWATCH: &str = "FLAKEBOX_CLOCKWATCH";
/// Path of the trace file the shim appends events to (see [`crate::trace`]).
pub const ENV_TRACE: &str = "FLAKEBOX_TRACE";
/// The seed of OS randomness (decimal u64); unset, the shim passes it through.
pub const ENV_SEED: &str = "FLAKEBOX_SEED";
/// Set by the shim at exec: the new image's place in the process tree.
pub const ENV_RAND_ID: &str = "FLAKEBOX_RAND_ID";

impl ShimClock {
    pub fn instant(&self) -> UnixTime {
        UnixTime { sec: self.instant_sec, nsec: self.instant_nsec }
    }

    /// The same clock started again at real time `now`: a ticking clock reads the
    /// instant at `now` (so every run of a diagnosis starts from one instant);
    /// frozen and step clocks are unchanged.
    pub fn restarted(&self, now: SystemTime) -> ShimClock {
        let now = UnixTime::from_system_time(now);
        ShimClock { origin_sec: now.sec, origin_nsec: now.nsec, ..*self }
    }

    /// The `FLAKEBOX_*` variables that configure the shim for this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut v = vec![
            (ENV_TIME_MODE.to_string(), self.mode.as_str().to_string()),
            (ENV_TIME_SEC.to_string(), self.instant_sec.to_string()),
            (ENV_TIME_NSEC.to_string(), self.instant_nsec.to_string()),
        ];
        match self.mode {
            ShimMode::Frozen => {}
            ShimMode::Ticking => {
                v.push((ENV_TIME_ORIGIN_SEC.to_string(), self.origin_sec.to_string()));
                v.push((ENV_TIME_ORIGIN_NSEC.to_string(), self.origin_nsec.to_string()));
            }
            ShimMode::Step => v.push((ENV_TIME_STEP_NS.to_string(), self.step_ns.to_string())),
        }
        v
    }

    /// The start instant as RFC 3339 UTC (or `@SECONDS` outside years 0..=9999);
    /// it re-parses to exactly the same instant.
    pub fn instant_rfc3339(&self) -> String {
        self.instant().to_spec_string()
    }

    /// A spec that replays this clock from the same instant with `--time`.
    pub fn replay_spec(&self) -> String {
        let at = self.instant_rfc3339();
        match self.mode {
            ShimMode::Frozen => at,
            ShimMode::Ticking => format!("{at}~tick"),
            ShimMode::Step => format!("{at}~step={}", format_duration(self.step_ns)),
        }
    }

    /// One line for humans, e.g. `frozen at 2024-02-29T23:59:58Z`.
    pub fn describe(&self) -> String {
        let at = self.instant_rfc3339();
        match self.mode {
            ShimMode::Frozen => format!("frozen at {at}"),
            ShimMode::Ticking => format!("ticking from {at}"),
            ShimMode::Step => format!("starting at {at}, +{} per read", format_duration(self.step_ns)),
        }
    }
}

impl TimeSpec {
    /// Fixes the instant, relative to `now` (the start of the run).
    pub fn resolve(&self, now: SystemTime) -> ShimClock {
        let now = UnixTime::from_system_time(now);
        let at = |a: &Anchor| match *a {
            Anchor::Now => now,
            Anchor::At(t) => t,
            Anchor::FromNow { nanos } => UnixTime::from_nanos(now.nanos().saturating_add(nanos)),
        };
        let (mode, instant, step_ns) = match self {
            TimeSpec::Frozen(a) => (ShimMode::Frozen, at(a), 0),
            TimeSpec::Ticking(a) => (ShimMode::Ticking, at(a), 0),
            TimeSpec::Step { start, step_ns } => (ShimMode::Step, at(start), *step_ns),
        };
        ShimClock {
            mode,
            instant_sec: instant.sec,
            instant_nsec: instant.nsec,
            step_ns,
            origin_sec: now.sec,
            origin_nsec: now.nsec,
        }
    }
}

fn format_signed_duration(nanos: i128) -> String {
    let sign = if nanos < 0 { '-' } else { '+' };
    match u64::try_from(nanos.unsigned_abs()) {
        Ok(n) => format!("{sign}{}", format_duration(n)),
        Err(_) => format!("{sign}{}ns", nanos.unsigned_abs()),
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Now => f.write_str("now"),
            Anchor::At(t) => f.write_str(&t.to_spec_string()),
            Anchor::FromNow { nanos } => f.write_str(&format_signed_duration(*nanos)),
        }
    }
}

/// The canonical spelling; it parses back to the same spec.
impl fmt::Display for TimeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSpec::Frozen(a) => write!(f, "{a}~frozen"),
            TimeSpec::Ticking(a) => write!(f, "{a}~tick"),
            TimeSpec::Step { start, step_ns } => {
                write!(f, "{start}~step={}", format_duration(*step_ns))
            }
        }
    }
}

struct Parser<'a> {
    spec: &'a str,
}

/// An RFC 3339 instant as every flag that takes one reads it (`--time`'s
/// instants, timetravel's `--at` and `--now`): one grammar, one set of
/// messages naming the bad field.
pub fn parse_instant(s: &str) -> Result<UnixTime, TimeSpecError> {
    Parser { spec: s }.rfc3339(s)
}

impl Parser<'_> {
    fn err(&self, part: &str, reason: impl Into<String>) -> TimeSpecError {
        TimeSpecError { spec: self.spec.to_string(), part: part.to_string(), reason: reason.into() }
    }

    fn parse(&self) -> Result<TimeSpec, TimeSpecError> {
        let s = self.spec;
        if s.trim().is_empty() {
            return Err(self.err(s, "the spec is empty"));
        }
        let (when, how) = match s.split_once('~') {
            Some((w, h)) => (w, Some(h)),
            None => (s, None),
        };
        let anchor = self.when(when)?;
        let offset = matches!(anchor, Anchor::FromNow { .. });
        match how {
            None if offset => Ok(TimeSpec::Ticking(anchor)),
            None | Some("frozen") => Ok(TimeSpec::Frozen(anchor)),
            Some("tick") => Ok(TimeSpec::Ticking(anchor)),
            Some(h) => match h.strip_prefix("step=") {
                Some(d) => {
                    let part = &s[when.len()..];
                    let ns = self.duration(d, part)?;
                    if ns == 0 {
                        return Err(
                            self.err(part, "the step must be positive (use ~frozen for a still clock)")
                        );
                    }
                    let step_ns = u64::try_from(ns).map_err(|_| self.err(part, "the step is too large"))?;
                    Ok(TimeSpec::Step { start: anchor, step_ns })
                }
                None => Err(self.err(
                    &s[when.len()..],
                    "unknown mode: expected ~frozen, ~tick or ~step=DURATION (e.g. ~step=1ms)",
                )),
            },
        }
    }

    fn when(&self, w: &str) -> Result<Anchor, TimeSpecError> {
        if w.eq_ignore_ascii_case("now") {
            return Ok(Anchor::Now);
        }
        if let Some(e) = w.strip_prefix('@') {
            return self.epoch(e, w).map(Anchor::At);
        }
        if let Some(rest) = w.strip_prefix('+') {
            return self.duration(rest, w).map(|nanos| Anchor::FromNow { nanos });
        }
        if let Some(rest) = w.strip_prefix('-') {
            return self.duration(rest, w).map(|nanos| Anchor::FromNow { nanos: -nanos });
        }
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            return self.rfc3339(w).map(Anchor::At);
        }
        Err(self
            .err(w, "expected an RFC 3339 instant, @EPOCH_SECONDS, now, or an offset such as +3d or -90m"))
    }

    /// `SECONDS[.FRACTION]`, optionally negative (`whole` is `@...` for errors).
    fn epoch(&self, e: &str, whole: &str) -> Result<UnixTime, TimeSpecError> {
        let (neg, digits) = match e.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, e),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(
                self.err(whole, "expected @ followed by whole seconds, e.g. @1709251198 or @-86400.5")
            );
        }
        let secs: i128 =
            int.parse::<i64>().map_err(|_| self.err(whole, "the number of seconds is out of range"))?.into();
        let nanos = match frac {
            Some(f) => self.fraction(f, whole)?,
            None => 0,
        };
        let total = secs * NANOS_PER_SEC + i128::from(nanos);
        let total = if neg { -total } else { total };
        let t = UnixTime::from_nanos(total);
        if t.nanos() != total {
            return Err(self.err(whole, "the number of seconds is out of range"));
        }
        Ok(t)
    }

    /// 1 to 9 fractional digits as nanoseconds.
    fn fraction(&self, f: &str, part: &str) -> Result<u32, TimeSpecError> {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(part, "expected digits after the decimal point"));
        }
        if f.len() > 9 {
            return Err(self.err(part, "at most 9 fractional digits (nanoseconds)"));
        }
        let mut n: u32 = 0;
        for b in f.bytes().chain(std::iter::repeat(b'0')).take(9) {
            n = n * 10 + u32::from(b - b'0');
        }
        Ok(n)
    }

    /// A duration of the command line's one grammar (crate::duration), in
    /// nanoseconds.
    fn duration(&self, d: &str, part: &str) -> Result<i128, TimeSpecError> {
        let ns = crate::duration::parse_nanos(d).map_err(|k| self.err(part, k.spec_reason()))?;
        // At most i64::MAX seconds: fits.
        i128::try_from(ns).map_err(|_| self.err(part, "the duration is too large"))
    }

    fn rfc3339(&self, w: &str) -> Result<UnixTime, TimeSpecError> {
        let b = w.as_bytes();
        // Reads exactly n digits at pos, naming the field in the error.
        let num = |pos: usize, n: usize, field: &str| -> Result<u32, TimeSpecError> {
            let part = w.get(pos..(pos + n).min(w.len())).unwrap_or("");
            if pos + n > b.len() || !b[pos..pos + n].iter().all(u8::is_ascii_digit) {
                let shown = if part.is_empty() { w } else { part };
                return Err(self.err(shown, format!("expected {n} digits for the {field}")));
            }
            Ok(part.bytes().fold(0, |a, d| a * 10 + u32::from(d - b'0')))
        };
        let sep = |pos: usize, want: u8, what: &str| -> Result<(), TimeSpecError> {
            if b.get(pos) == Some(&want) {
                Ok(())
            } else {
                let part = w.get(pos..).filter(|p| !p.is_empty()).unwrap_or(w);
                Err(self.err(part, format!("expected '{}' {what}", want as char)))
            }
        };
        let year = num(0, 4, "year (YYYY-MM-DD)")?;
        sep(4, b'-', "after the year (YYYY-MM-DD)")?;
        let month = num(5, 2, "month (YYYY-MM-DD)")?;
        sep(7, b'-', "after the month (YYYY-MM-DD)")?;
        let day = num(8, 2, "day (YYYY-MM-DD)")?;
        let y = i64::from(year);
        if !(1..=12).contains(&month) {
            return Err(self.err(&w[5..7], format!("month {month} does not exist (01..12)")));
        }
        let dim = days_in_month(y, month);
        if day == 0 || day > dim {
            return Err(self.err(
                &w[8..10],
                format!(
                    "day {day} does not exist in {} {year:04} (it has {dim} days)",
                    MONTH_NAMES[month as usize - 1]
                ),
            ));
        }
        let days = days_from_civil(y, month, day);
        if b.len() == 10 {
            return Ok(UnixTime { sec: days * 86_400, nsec: 0 });
        }
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(self.err(&w[10..], "expected 'T' and a time (THH:MM:SS) after the date"));
        }
        let hour = num(11, 2, "hour (THH:MM:SS)")?;
        sep(13, b':', "after the hour (THH:MM:SS)")?;
        let min = num(14, 2, "minute (THH:MM:SS)")?;
        sep(16, b':', "after the minute (THH:MM:SS; seconds are required)")?;
        let sec = num(17, 2, "second (THH:MM:SS)")?;
        if hour > 23 {
            return Err(self.err(&w[11..13], format!("hour {hour} does not exist (00..23)")));
        }
        if min > 59 {
            return Err(self.err(&w[14..16], format!("minute {min} does not exist (00..59)")));
        }
        if sec == 60 {
            return Err(self.err(
                &w[17..19],
                "leap second :60 cannot be represented in Unix time; use :59 or the next minute's :00",
            ));
        }
        if sec > 59 {
            return Err(self.err(&w[17..19], format!("second {sec} does not exist (00..59)")));
        }
        let mut pos = 19;
        let mut nsec = 0;
        if b.get(pos) == Some(&b'.') {
            let nd = b[pos + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            nsec = self.fraction(&w[pos + 1..pos + 1 + nd], &w[pos..pos + 1 + nd])?;
            pos += 1 + nd;
        }
        let offset_secs: i64 = match b.get(pos) {
            Some(b'Z' | b'z') if b.len() == pos + 1 => 0,
            Some(c @ (b'+' | b'-')) => {
                let off = &w[pos..];
                let ob = off.as_bytes();
                let well_formed =
                    ob.len() == 6 && ob[3] == b':' && [1, 2, 4, 5].iter().all(|&i| ob[i].is_ascii_digit());
                if !well_formed {
                    return Err(self.err(off, "expected an offset of the form +HH:MM or -HH:MM"));
                }
                let two = |i: usize| u32::from(ob[i] - b'0') * 10 + u32::from(ob[i + 1] - b'0');
                let (oh, om) = (two(1), two(4));
                if oh > 23 || om > 59 {
                    return Err(self.err(off, "the offset must be within -23:59..+23:59"));
                }
                let o = i64::from(oh * 3600 + om * 60);
                if *c == b'-' {
                    -o
                } else {
                    o
                }
            }
            None => {
                return Err(self
                    .err(w, "missing time zone: end the instant with Z (UTC) or an offset such as -08:00"))
            }
            Some(_) => {
                return Err(self
                    .err(&w[pos..], "expected Z or an offset such as -08:00 (or a fraction such as .250)"))
            }
        };
        let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_secs;
        Ok(UnixTime { sec: secs, nsec })
    }
}

impl FromStr for TimeSpec {
    type Err = TimeSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Parser { spec: s }.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(sec: i64, nsec: u32) -> Anchor {
        Anchor::At(UnixTime { sec, nsec })
    }

    fn parse(s: &str) -> TimeSpec {
        match s.parse() {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn bad(s: &str) -> TimeSpecError {
        match s.parse::<TimeSpec>() {
            Ok(t) => panic!("{s} parsed as {t:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn instants() {
        assert_eq!(parse("2024-02-29T23:59:58Z"), TimeSpec::Frozen(at(1_709_251_198, 0)));
        assert_eq!(parse("2024-03-10T01:59:59-08:00"), TimeSpec::Frozen(at(1_710_064_799, 0)));
        assert_eq!(parse("2024-03-10T09:59:59+00:00"), TimeSpec::Frozen(at(1_710_064_799, 0)));
        assert_eq!(parse("2024-03-10t09:59:59z"), TimeSpec::Frozen(at(1_710_064_799, 0)));
        assert_eq!(parse("2024-03-10 09:59:59Z"), TimeSpec::Frozen(at(1_710_064_799, 0)));
        assert_eq!(parse("2024-02-29T23:59:58.25Z"), TimeSpec::Frozen(at(1_709_251_198, 250_000_000)));
        assert_eq!(parse("1969-12-31T23:59:59.999999999Z"), TimeSpec::Frozen(at(-1, 999_999_999)));
        assert_eq!(parse("2024-02-29"), TimeSpec::Frozen(at(1_709_164_800, 0)));
        assert_eq!(parse("0000-01-01T00:00:00Z"), TimeSpec::Frozen(at(-62_167_219_200, 0)));
        assert_eq!(parse("2024-01-01T00:00:00+05:30"), TimeSpec::Frozen(at(1_704_047_400, 0)));
    }

    #[test]
    fn epochs_now_and_modes() {
        assert_eq!(parse("@1709251198"), TimeSpec::Frozen(at(1_709_251_198, 0)));
        assert_eq!(parse("@0.5"), TimeSpec::Frozen(at(0, 500_000_000)));
        assert_eq!(parse("@-1.25"), TimeSpec::Frozen(at(-2, 750_000_000)));
        assert_eq!(parse("@-86400"), TimeSpec::Frozen(at(-86_400, 0)));
        assert_eq!(parse("now"), TimeSpec::Frozen(Anchor::Now));
        assert_eq!(parse("now~tick"), TimeSpec::Ticking(Anchor::Now));
        assert_eq!(parse("@0~tick"), TimeSpec::Ticking(at(0, 0)));
        assert_eq!(parse("@0~frozen"), TimeSpec::Frozen(at(0, 0)));
        assert_eq!(
            parse("2024-01-01T00:00:00Z~step=1ms"),
            TimeSpec::Step { start: at(1_704_067_200, 0), step_ns: 1_000_000 }
        );
        assert_eq!(parse("now~step=1s500ms"), TimeSpec::Step { start: Anchor::Now, step_ns: 1_500_000_000 });
        assert_eq!(TimeSpec::default(), parse("now"));
    }

    #[test]
    fn offsets() {
        let h = 3_600 * NANOS_PER_SEC;
        assert_eq!(parse("+3d"), TimeSpec::Ticking(Anchor::FromNow { nanos: 72 * h }));
        assert_eq!(parse("-90m"), TimeSpec::Ticking(Anchor::FromNow { nanos: -3 * h / 2 }));
        assert_eq!(parse("+1h30m"), TimeSpec::Ticking(Anchor::FromNow { nanos: 3 * h / 2 }));
        assert_eq!(parse("+2w"), TimeSpec::Ticking(Anchor::FromNow { nanos: 336 * h }));
        assert_eq!(parse("-1d~frozen"), TimeSpec::Frozen(Anchor::FromNow { nanos: -24 * h }));
        assert_eq!(parse("+5us"), TimeSpec::Ticking(Anchor::FromNow { nanos: 5_000 }));
    }

    #[test]
    fn instants_alone_share_the_time_spec_grammar() {
        let at = |s: &str| parse_instant(s).map(|t| (t.sec, t.nsec));
        assert_eq!(at("2024-02-29T23:59:58.25Z"), Ok((1_709_251_198, 250_000_000)));
        assert_eq!(at("2024-03-01T00:59:58+01:00"), Ok((1_709_251_198, 0)));
        assert_eq!(at("2027-01-01"), Ok((1_798_761_600, 0)));
        // What is a time spec but not an instant is refused, naming the part.
        for (bad, part) in [("now", "now"), ("+3d", "+3d"), ("2024-02-30T00:00:00Z", "30")] {
            let e = parse_instant(bad).expect_err(bad);
            assert_eq!(e.part, part, "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases: &[(&str, &str, &str)] = &[
            ("2024-02-30T00:00:00Z", "30", "February 2024 (it has 29 days)"),
            ("2023-02-29T00:00:00Z", "29", "February 2023 (it has 28 days)"),
            ("2024-13-01T00:00:00Z", "13", "month 13"),
            ("2024-00-01T00:00:00Z", "00", "month 0"),
            ("2024-01-01T24:00:00Z", "24", "hour 24"),
            ("2024-01-01T23:60:00Z", "60", "minute 60"),
            ("2016-12-31T23:59:60Z", "60", "leap second"),
            ("2024-01-01T00:00:00", "2024-01-01T00:00:00", "missing time zone"),
            ("2024-01-01T00:00Z", "Z", "expected ':'"),
            ("2024-01-01T00:00:00.Z", ".", "digits after the decimal point"),
            ("2024-01-01T00:00:00.1234567891Z", ".1234567891", "at most 9"),
            ("2024-01-01T00:00:00+25:00", "+25:00", "offset"),
            ("2024-01-01T00:00:00+0100", "+0100", "+HH:MM"),
            ("2024-01-01T00:00:00Zjunk", "Zjunk", "expected Z"),
            ("2024-1-01", "1-", "2 digits for the month"),
            ("24-01-01", "24-0", "4 digits for the year"),
            ("yesterday", "yesterday", "RFC 3339"),
            ("+3", "+3", "needs a unit"),
            ("+3y", "+3y", "unknown unit \"y\""),
            ("+", "+", "expected a duration"),
            ("@abc", "@abc", "whole seconds"),
            ("@1.", "@1.", "digits after the decimal point"),
            ("@99999999999999999999", "@99999999999999999999", "out of range"),
            ("now~ticking", "~ticking", "unknown mode"),
            ("now~step=0ms", "~step=0ms", "positive"),
            ("now~step=fast", "~step=fast", "expected a number"),
            ("", "", "empty"),
        ];
        for (spec, part, reason) in cases {
            let e = bad(spec);
            assert_eq!(&e.part, part, "{spec}: {e}");
            assert!(e.reason.contains(reason), "{spec}: reason {:?} lacks {reason:?}", e.reason);
            let text = e.to_string();
            assert!(text.contains(&format!("{part:?}")), "{text}");
            assert!(text.contains("2024-02-29T23:59:58Z") && text.contains("+3d"), "{text}");
        }
    }

    #[test]
    fn resolve_and_env() {
        let now = UNIX_EPOCH + Duration::new(1_700_000_000, 123);
        let c = parse("2024-02-29T23:59:58.5Z").resolve(now);
        assert_eq!(c.mode, ShimMode::Frozen);
        assert_eq!((c.instant_sec, c.instant_nsec), (1_709_251_198, 500_000_000));
        assert_eq!(
            c.env(),
            vec![
                ("FLAKEBOX_TIME_MODE".to_string(), "frozen".to_string()),
                ("FLAKEBOX_TIME_SEC".to_string(), "1709251198".to_string()),
                ("FLAKEBOX_TIME_NSEC".to_string(), "500000000".to_string()),
            ]
        );
        assert_eq!(c.instant_rfc3339(), "2024-02-29T23:59:58.5Z");
        assert_eq!(c.replay_spec(), "2024-02-29T23:59:58.5Z");

        let c = parse("-90m").resolve(now);
        assert_eq!(c.mode, ShimMode::Ticking);
        assert_eq!((c.instant_sec, c.instant_nsec), (1_700_000_000 - 5_400, 123));
        assert_eq!((c.origin_sec, c.origin_nsec), (1_700_000_000, 123));
        let env = c.env();
        assert!(env.contains(&("FLAKEBOX_TIME_ORIGIN_SEC".to_string(), "1700000000".to_string())));
        assert!(env.contains(&("FLAKEBOX_TIME_ORIGIN_NSEC".to_string(), "123".to_string())));
        assert_eq!(c.replay_spec(), "2023-11-14T20:43:20.000000123Z~tick");

        let c = parse("now~step=1ms").resolve(now);
        assert_eq!(c.mode, ShimMode::Step);
        assert!(c.env().contains(&("FLAKEBOX_TIME_STEP_NS".to_string(), "1000000".to_string())));
        assert_eq!(c.replay_spec(), "2023-11-14T22:13:20.000000123Z~step=1ms");

        let later = c.restarted(now + Duration::from_secs(60));
        assert_eq!(later.instant(), c.instant());
        assert_eq!((later.origin_sec, later.origin_nsec), (1_700_000_060, 123));

        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        let c = parse("now").resolve(before);
        assert_eq!((c.instant_sec, c.instant_nsec), (-2, 500_000_000));
    }

    #[test]
    fn printed_specs_reparse_to_the_same_instant() {
        let now = UNIX_EPOCH + Duration::new(1_700_000_000, 0);
        for spec in [
            "2024-02-29T23:59:58Z",
            "2024-03-10T01:59:59.000000001-08:00",
            "@-1.5",
            "@300000000000.25",
            "@-70000000000",
            "now~step=1s500ms",
            "+1h30m~tick",
            "-90m~frozen",
        ] {
            let c = parse(spec).resolve(now);
            let again = parse(&c.replay_spec()).resolve(UNIX_EPOCH);
            assert_eq!(again.mode, c.mode, "{spec}");
            assert_eq!((again.instant_sec, again.instant_nsec), (c.instant_sec, c.instant_nsec), "{spec}");
            assert_eq!(again.step_ns, c.step_ns, "{spec}");
            // Display is canonical and parses back to the same spec.
            let t = parse(spec);
            assert_eq!(parse(&t.to_string()), t, "{spec} -> {t}");
        }
    }

    #[test]
    fn durations_format_exactly() {
        assert_eq!(format_duration(1_000_000), "1ms");
        assert_eq!(format_duration(1_500_000_000), "1s500ms");
        assert_eq!(format_duration(90 * 60 * 1_000_000_000), "1h30m");
        assert_eq!(format_duration(1), "1ns");
    }
}
