//! Calendar hazard instants: the moments at which time bombs go off.
//!
//! Everything here is a pure function of `now` and the zone in effect, so the
//! CLI (and the tests) can pass a fixed `now` and get the same list every time.
//!
//! Conventions (they are part of what users see in labels and reports):
//! - "±1 s" hazards (midnights, DST transitions) are the last second before
//!   the boundary and the second after it (boundary − 1 s, boundary + 1 s).
//! - "both sides" hazards (end of month, New Year) are the last second before
//!   the boundary and the boundary itself (its first second).
//! - "local" means the zone in effect; midnight, month end and New Year are
//!   computed both locally and in UTC where the issue asks for it.
//! - The leap-day hazard is the first instant at which it is 29 February
//!   *both* in the zone in effect and in UTC, i.e. `max(local start of day,
//!   UTC start of day)`. A single instant then catches code that takes "today"
//!   from the local clock and code that takes it from UTC; for a zone at or
//!   east of UTC it is 00:00:00Z, for a zone west of UTC it is local midnight.
//!   The same rule gives the 1 March after it.
//! - Date hazards ("today + 365 days is 29 February") hold for a whole day:
//!   an existing hazard at which that day holds both locally and in UTC
//!   carries the label; else the leap-day rule gives the instant.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;

/// Which kind of hazard an instant is. Serialized in kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// The frozen "now" every other probe is compared with.
    Now,
    /// Local or UTC midnight ±1 s.
    Midnight,
    /// Last second of this month / first second of the next (local).
    MonthEnd,
    /// Next New Year, both sides, local and UTC.
    NewYear,
    /// Next 29 February and the 1 March after it.
    LeapDay,
    /// A UTC-offset transition of the zone in effect (DST or otherwise).
    Dst,
    /// now + 1 day / 1 year / 5 years / 10 years (calendar arithmetic, local).
    Offset,
    /// A day on which today + 1 month, + 1 year, + 30 days or + 365 days
    /// lands on a month end, the first of a month, 29 February or 1 March.
    OffsetCrossing,
    /// 2038-01-19T03:14:07Z and 03:14:08Z (signed 32-bit `time_t`).
    Y2038,
    /// An instant the user asked for with `--at`.
    Extra,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Now => "now",
            Family::Midnight => "midnight",
            Family::MonthEnd => "month-end",
            Family::NewYear => "new-year",
            Family::LeapDay => "leap-day",
            Family::Dst => "dst",
            Family::Offset => "offset",
            Family::OffsetCrossing => "offset-crossing",
            Family::Y2038 => "y2038",
            Family::Extra => "extra",
        }
    }
}

/// One instant to freeze the clock at, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    pub instant: Timestamp,
    /// Human label; when several hazards fall on the same instant their labels
    /// are joined with " / " (e.g. "midnight in UTC (−1 s) / UTC midnight (−1 s)").
    pub label: String,
    /// The family of the first hazard found at this instant (in the order of
    /// the list in [`hazards`]), so `now` always keeps [`Family::Now`].
    pub family: Family,
}

/// The last second a signed 32-bit `time_t` can hold.
pub const Y2038_LAST: i64 = i32::MAX as i64; // 2038-01-19T03:14:07Z

/// How far ahead to look for the zone's next offset transitions. Two years is
/// enough to see both directions of any yearly DST rule; zones whose only
/// future change is further away get no DST hazard (documented limitation).
const DST_HORIZON_DAYS: i64 = 2 * 366;

/// The hazard instants for `now` in `zone` (named `zone_name` in labels),
/// plus `extra` (labelled "--at"), sorted by instant and deduplicated.
///
/// Hazards that cannot be represented (e.g. beyond year 9999) are skipped
/// rather than failing: a partial list is still useful.
pub fn hazards(now: Timestamp, zone: &TimeZone, zone_name: &str, extra: &[Timestamp]) -> Vec<Hazard> {
    let mut out = Vec::new();
    let mut push = |instant: Option<Timestamp>, label: String, family: Family| {
        if let Some(instant) = instant {
            out.push(Hazard { instant, label, family });
        }
    };
    let local = now.to_zoned(zone.clone());
    let utc = now.to_zoned(TimeZone::UTC);

    push(Some(now), "now".into(), Family::Now);

    // In a zone that is UTC under another name the local hazards would only
    // repeat the UTC ones with a second label.
    let is_utc = zone.to_fixed_offset().is_ok_and(|o| o == jiff::tz::Offset::UTC);
    let local_and_utc = |local_what: String, utc_what: String| {
        let mut v = vec![(&utc, utc_what)];
        if !is_utc {
            v.insert(0, (&local, local_what));
        }
        v
    };

    // Next midnight, local and UTC: date arithmetic around the boundary.
    for (z, what) in local_and_utc(format!("midnight in {zone_name}"), "UTC midnight".into()) {
        let midnight = z.date().tomorrow().ok().and_then(|d| start_of(d, z.time_zone()));
        push(plus(midnight, -1), format!("{what} (−1 s)"), Family::Midnight);
        push(plus(midnight, 1), format!("{what} (+1 s)"), Family::Midnight);
    }

    // End of this month / start of the next, local: month-length
    // assumptions, "last day of month" arithmetic, monthly partitions. The
    // later month boundaries follow the New Year, so that one keeps its
    // family.
    let this_month = local.date().first_of_month();
    let month_boundary = |k: i64| {
        let (Ok(ending), Ok(next_month)) =
            (this_month.checked_add(k.months()), this_month.checked_add((k + 1).months()))
        else {
            return Vec::new();
        };
        let start = start_of(next_month, zone);
        vec![
            (plus(start, -1), format!("end of {} (last second)", ending.strftime("%B %Y"))),
            (start, format!("start of {} (first second)", next_month.strftime("%B %Y"))),
        ]
    };
    for (at, label) in month_boundary(0) {
        push(at, label, Family::MonthEnd);
    }

    // Next New Year, both sides, local and UTC: hard-coded years and expiry
    // constants are the commonest time bomb of all.
    for (z, place) in local_and_utc(format!("in {zone_name}"), "UTC".into()) {
        let year = z.year().saturating_add(1);
        let start = Date::new(year, 1, 1).ok().and_then(|d| start_of(d, z.time_zone()));
        let (before, at) = if place == "UTC" {
            (format!("next New Year {year} (UTC, −1 s)"), format!("next New Year {year} (UTC)"))
        } else {
            (format!("next New Year {year} {place} (−1 s)"), format!("next New Year {year} {place}"))
        };
        push(plus(start, -1), before, Family::NewYear);
        push(start, at, Family::NewYear);
    }

    // Every later month boundary of the next 13 months: each calendar
    // month's end is seen once, this month's twice.
    for k in 1..MONTH_BOUNDARIES {
        for (at, label) in month_boundary(k) {
            push(at, label, Family::MonthEnd);
        }
    }

    // Next 29 February (see the module docs for which instant) and 1 March.
    if let Some((feb29, mar1)) = next_leap_day(now, zone) {
        let year = feb29.to_zoned(TimeZone::UTC).year();
        push(Some(feb29), format!("leap day {year}-02-29"), Family::LeapDay);
        push(Some(mar1), format!("1 March {year} (after leap day)"), Family::LeapDay);
    }

    // Next offset transitions of the zone, one forward and one back.
    for t in next_transitions(now, zone) {
        let what = t.describe(zone_name);
        push(plus(Some(t.at), -1), format!("{what} (−1 s)"), Family::Dst);
        push(plus(Some(t.at), 1), format!("{what} (+1 s)"), Family::Dst);
    }

    // Calendar offsets from now, in the zone in effect so "+1 year" keeps the
    // local wall time (jiff clamps 29 February to 28 February).
    for (span, label) in
        [(1.day(), "+1 day"), (1.year(), "+1 year"), (5.years(), "+5 years"), (10.years(), "+10 years")]
    {
        push(local.checked_add(span).ok().map(|z| z.timestamp()), label.into(), Family::Offset);
    }

    // Days on which "today + 1 month / 1 year / 30 days / 365 days" lands on
    // a month end (or the first after it), 29 February or 1 March.
    let leap = next_leap_day(now, zone);
    let horizon = leap.map(|(_, mar1)| mar1.to_zoned(TimeZone::UTC).date());
    // They are placed once every other hazard is known (see below).
    let mut date_hazards = Vec::new();
    for (span, what) in
        [(1.month(), "+1 month"), (1.year(), "+1 year"), (30.days(), "+30 days"), (365.days(), "+365 days")]
    {
        date_hazards.extend(offset_crossings(local.date(), span, what, horizon));
    }

    // Signed 32-bit time_t overflow.
    push(Timestamp::from_second(Y2038_LAST).ok(), "2038 rollover (last second)".into(), Family::Y2038);
    push(
        Timestamp::from_second(Y2038_LAST + 1).ok(),
        "2038 rollover (first second after)".into(),
        Family::Y2038,
    );

    for &at in extra {
        push(Some(at), "--at".into(), Family::Extra);
    }

    // Date hazards: any instant at which it is that day both locally and in
    // UTC will do, so an existing hazard is reused when one is; else the
    // first such instant.
    let mut out = dedupe(out);
    for (day, label) in date_hazards {
        let same_day =
            |t: Timestamp| t.to_zoned(zone.clone()).date() == day && t.to_zoned(TimeZone::UTC).date() == day;
        if let Some(h) = out.iter_mut().find(|h| h.instant > now && same_day(h.instant)) {
            if !h.label.split(" / ").any(|l| l == label) {
                h.label.push_str(" / ");
                h.label.push_str(&label);
            }
            continue;
        }
        if let Some(at) = both_start(day, zone).filter(|&t| t > now && same_day(t)) {
            out.push(Hazard { instant: at, label, family: Family::OffsetCrossing });
        }
    }
    dedupe(out)
}

/// How many month boundaries ahead are probed.
const MONTH_BOUNDARIES: i64 = 13;

/// The days `d` after `today` (up to `horizon`, the 1 March after the next
/// leap day) at which `d + span` is 29 February or 1 March of a leap year
/// (`d = target − span`: for a calendar year from 28 February that is the
/// day whose "+1 year" clamps), plus the next day at which `d + span` is the
/// last day of a month and the day after it. Labelled with the date reached.
fn offset_crossings(today: Date, span: jiff::Span, what: &str, horizon: Option<Date>) -> Vec<(Date, String)> {
    let label = |d: Date| d.checked_add(span).ok().map(|to| (d, format!("today {what} = {to}")));
    let mut out = Vec::new();
    let ahead = |d: &Date| *d > today && horizon.is_none_or(|h| *d <= h);
    // The leap years whose 29 February is within the horizon plus span.
    let first = today.year();
    for year in first..=first.saturating_add(5) {
        let (Ok(feb29), Ok(mar1)) = (Date::new(year, 2, 29), Date::new(year, 3, 1)) else {
            continue;
        };
        for target in [feb29, mar1] {
            if let Some(d) = target.checked_sub(span).ok().filter(ahead) {
                out.extend(label(d));
            }
        }
    }
    // The next month end reached (within two months of days: every span
    // here reaches some month's last day within 31 days).
    let mut d = today;
    for _ in 0..62 {
        let Ok(next) = d.tomorrow() else { break };
        d = next;
        let Ok(to) = d.checked_add(span) else { break };
        if to.tomorrow().is_ok_and(|t| t.day() == 1) {
            out.extend(label(d));
            if let Ok(after) = d.tomorrow() {
                out.extend(label(after));
            }
            break;
        }
    }
    out.retain(|(d, _)| ahead(d));
    out
}

/// The first instant at which it is `date` both in `zone` and in UTC.
fn both_start(date: Date, zone: &TimeZone) -> Option<Timestamp> {
    let local = start_of(date, zone)?;
    let utc = start_of(date, &TimeZone::UTC)?;
    Some(local.max(utc))
}

/// Sort by instant and merge hazards that share an instant. The sort is
/// stable, so among equal instants the one pushed first keeps its family and
/// leads the joined label.
pub fn dedupe(mut list: Vec<Hazard>) -> Vec<Hazard> {
    list.sort_by_key(|h| h.instant);
    let mut out: Vec<Hazard> = Vec::with_capacity(list.len());
    for h in list {
        match out.last_mut() {
            Some(last) if last.instant == h.instant => {
                // The same label twice (e.g. `--at` given twice) adds nothing.
                if !last.label.split(" / ").any(|l| l == h.label) {
                    last.label.push_str(" / ");
                    last.label.push_str(&h.label);
                }
            }
            _ => out.push(h),
        }
    }
    out
}

/// The start of `date` in `tz`: local midnight, or the first valid instant of
/// the day when the zone skips midnight (DST gaps at 00:00 exist, e.g.
/// America/Santiago): jiff's "compatible" disambiguation picks the later time.
fn start_of(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    date.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

fn plus(t: Option<Timestamp>, secs: i64) -> Option<Timestamp> {
    t.and_then(|t| t.checked_add(SignedDuration::from_secs(secs)).ok())
}

/// The next 29 February instant strictly after `now` and its 1 March, each
/// the first instant at which that date holds both locally and in UTC.
fn next_leap_day(now: Timestamp, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let both = |d: Date| both_start(d, zone);
    let first_year = now.to_zoned(zone.clone()).year().min(now.to_zoned(TimeZone::UTC).year());
    // Leap years are at most 8 years apart (e.g. 2096 → 2104).
    for year in first_year..=first_year.saturating_add(8) {
        let Ok(feb29) = Date::new(year, 2, 29) else {
            continue;
        };
        let Some(at) = both(feb29) else { continue };
        if at > now {
            let mar1 = Date::new(year, 3, 1).ok().and_then(both)?;
            return Some((at, mar1));
        }
    }
    None
}

/// An offset transition of the zone in effect.
#[derive(Clone, Debug)]
struct Transition {
    at: Timestamp,
    forward: bool,
    is_dst: bool,
}

impl Transition {
    fn describe(&self, zone_name: &str) -> String {
        // Label by the direction of the clock change; say "DST" only when the
        // tzdb flag agrees with it (negative-DST zones like Europe/Dublin, or
        // permanent offset changes, get the neutral wording).
        match (self.forward, self.is_dst) {
            (true, true) => format!("DST start in {zone_name}"),
            (false, false) => format!("DST end in {zone_name}"),
            (true, false) => format!("clocks forward in {zone_name}"),
            (false, true) => format!("clocks back in {zone_name}"),
        }
    }
}

/// The next forward and the next backward transition within the horizon.
/// Zones without DST (UTC, Asia/Kolkata, Pacific/Kiritimati) have none.
fn next_transitions(now: Timestamp, zone: &TimeZone) -> Vec<Transition> {
    let horizon =
        now.checked_add(SignedDuration::from_hours(24 * DST_HORIZON_DAYS)).unwrap_or(Timestamp::MAX);
    let (mut forward, mut back) = (None, None);
    for t in zone.following(now) {
        let at = t.timestamp();
        if at > horizon || (forward.is_some() && back.is_some()) {
            break;
        }
        let before = match at.checked_sub(SignedDuration::from_secs(1)) {
            Ok(b) => zone.to_offset(b),
            Err(_) => continue,
        };
        let after = t.offset();
        let tr = Transition { at, forward: after > before, is_dst: t.dst().is_dst() };
        if after > before && forward.is_none() {
            forward = Some(tr);
        } else if after < before && back.is_none() {
            back = Some(tr);
        }
        // after == before: only the abbreviation or DST flag changed; the
        // clock does not jump, so there is nothing to probe.
    }
    let mut v: Vec<Transition> = forward.into_iter().chain(back).collect();
    v.sort_by_key(|t| t.at);
    v
}

/// Calendar days from the local date of `now` to the local date of `at` in
/// `zone` ("in 40 days" means the 40th day after today on the local
/// calendar, not 40 × 24 h).
pub fn days_between(now: Timestamp, at: Timestamp, zone: &TimeZone) -> Option<i64> {
    let a = now.to_zoned(zone.clone()).date();
    let b = at.to_zoned(zone.clone()).date();
    a.until(b).ok().map(|s| i64::from(s.get_days()))
}

/// The zone in effect for this process: `TZ` if set, else /etc/localtime,
/// else UTC (jiff's rules), with a name for labels: the IANA name when known,
/// else the `TZ` value, else "local time".
pub fn zone_in_effect() -> (String, TimeZone) {
    let tz = TimeZone::system();
    let name = match tz.iana_name() {
        Some(n) => n.to_string(),
        None => match std::env::var("TZ") {
            Ok(v) if !v.trim().is_empty() => v.trim_start_matches(':').to_string(),
            _ => "local time".to_string(),
        },
    };
    (name, tz)
}
