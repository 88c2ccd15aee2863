//! Which instant probes a test cannot tell apart, so the first pass can run
//! one of each kind.
//!
//! The month boundaries of the next 13 months ([`Family::MonthEnd`]) and the
//! days on which "today + 1 month / year / 30 / 365 days" crosses a month end
//! or 29 February ([`Family::OffsetCrossing`]) probe *calendar facts*: the
//! day of the month, the month's length, a leap year, the local time of
//! day, whether the UTC date is the local one, and whether calendar
//! arithmetic from that day lands on a month end, 29 February or 1 March
//! (and clamps). The UTC offset itself and the UTC time of day are what the
//! DST and UTC-midnight probes are about, not these. Two
//! instants of the same family with the same [`Facts`] differ only in which
//! month of which year it is, which those hazards are not about; the
//! earliest of each kind stands for the others in the first pass.
//!
//! A test that compares with a fixed date (an expiry) tells months apart:
//! its outcome changes once over the probes that ran, and the skipped
//! instants between those two probes are run once the differences are
//! confirmed ([`Plan::refinements`](crate::Plan)), so its window starts
//! where the full set would start it. What
//! stays unprobed is a test failing only on a skipped day and passing on
//! both sides of it and on the day standing for it: a dependence on the
//! month itself (or the weekday), which no hazard here targets;
//! `--all-probes` runs every instant.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::hazards::{Family, Hazard};

/// The calendar facts of one civil date that the hazards are about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DayFacts {
    day: i8,
    days_in_month: i8,
    /// January, February, March, December: the months whose edges are
    /// year ends or leap-day edges; every other month is "other" (0).
    month: i8,
    leap_year: bool,
}

fn day_facts(d: Date) -> DayFacts {
    let month = match d.month() {
        m @ (1 | 2 | 3 | 12) => m,
        _ => 0,
    };
    DayFacts { day: d.day(), days_in_month: d.days_in_month(), month, leap_year: d.in_leap_year() }
}

/// The facts of a date that calendar arithmetic lands on, as far as the
/// hazards go: a month end, 29 February or 1 March (its [`DayFacts`]) or
/// any other day (`None`).
fn landing(d: Date) -> Option<DayFacts> {
    let hazard =
        d.day() == d.days_in_month() || (d.month(), d.day()) == (2, 29) || (d.month(), d.day()) == (3, 1);
    hazard.then(|| day_facts(d))
}

/// What a test could learn from the clock at one instant, in the zone in
/// effect and in UTC, as far as the calendar hazards go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Facts {
    /// The local date's facts and the local time of day (ns).
    local: (DayFacts, i64),
    /// The UTC date's facts, and the UTC date minus the local one in days.
    utc: (DayFacts, i32),
    /// Where calendar arithmetic from the local date lands ([`landing`],
    /// and whether the day of the month was clamped): −1 day, +1 day,
    /// +1 month and, but for month boundaries, +1 year, +30 days, +365
    /// days (the offsets the hazards probe, and yesterday, which tells a
    /// month's first day apart).
    arithmetic: Vec<Option<(Option<DayFacts>, bool)>>,
}

pub(crate) fn facts(t: Timestamp, zone: &TimeZone, family: Family) -> Facts {
    let at = |z: &TimeZone| {
        let zoned = t.to_zoned(z.clone());
        let time = zoned.time();
        let ns = ((i64::from(time.hour()) * 60 + i64::from(time.minute())) * 60 + i64::from(time.second()))
            * 1_000_000_000
            + i64::from(time.subsec_nanosecond());
        (zoned.date(), ns)
    };
    let (local, local_ns) = at(zone);
    let utc = t.to_zoned(TimeZone::UTC).date();
    // (span, whether it can clamp the day of the month). A month boundary
    // is about the month's edges: the days around it and "+1 month" from
    // its last day; where +1 year, +30 or +365 days land on a month end or
    // 29 February is what the offset-crossing days probe.
    let mut spans = vec![((-1).days(), false), (1.day(), false), (1.month(), true)];
    if family != Family::MonthEnd {
        spans.extend([(1.year(), true), (30.days(), false), (365.days(), false)]);
    }
    let arithmetic = spans
        .into_iter()
        .map(|(s, clamps)| {
            local.checked_add(s).ok().map(|to| (landing(to), clamps && to.day() != local.day()))
        })
        .collect();
    Facts { local: (day_facts(local), local_ns), utc: (day_facts(utc), (utc - local).get_days()), arithmetic }
}

/// The hazards about calendar facts only (see the module docs); every other
/// hazard is about its instant itself (now, New Year, a DST change, 2038, an
/// offset of years, `--at`) and always runs. A month boundary that is also
/// another hazard (an offset-crossing day merged into it: its label joins
/// several, see [`Hazard::label`]) is about that day too and runs.
fn collapsible(h: &Hazard) -> bool {
    match h.family {
        Family::OffsetCrossing => true,
        Family::MonthEnd => !h.label.contains(" / "),
        _ => false,
    }
}

/// For each hazard (sorted by instant), the index of the hazard that stands
/// for it in the first pass: itself, or the earliest earlier hazard of the
/// same collapsible family with the same [`Facts`].
pub(crate) fn representatives(hazards: &[Hazard], zone: &TimeZone) -> Vec<usize> {
    let mut seen: Vec<(Family, Facts, usize)> = Vec::new();
    hazards
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if !collapsible(h) {
                return i;
            }
            let f = facts(h.instant, zone, h.family);
            match seen.iter().find(|(fam, fs, _)| *fam == h.family && *fs == f) {
                Some(&(_, _, rep)) => rep,
                None => {
                    seen.push((h.family, f, i));
                    i
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hazards::hazards;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("tzdb")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("instant")
    }

    #[test]
    fn month_ends_of_the_same_kind_share_facts_and_others_do_not() {
        let z = berlin();
        // End of May, August and October 2027: 31-day months, +1 month
        // clamps to a 30-day month end.
        let may = facts(ts("2027-05-31T21:59:59Z"), &z, Family::MonthEnd);
        let aug = facts(ts("2027-08-31T21:59:59Z"), &z, Family::MonthEnd);
        assert_eq!(may, aug, "two summer 31-day month ends followed by a 30-day month");
        let jul = facts(ts("2027-07-31T21:59:59Z"), &z, Family::MonthEnd);
        assert_ne!(jul, may, "+1 month from 31 July is 31 August, not clamped");
        let oct = facts(ts("2027-10-31T22:59:59Z"), &z, Family::MonthEnd);
        assert_eq!(oct, may, "winter time: another UTC offset, the DST probes' business");
        let jan = facts(ts("2027-01-31T22:59:59Z"), &z, Family::MonthEnd);
        assert_ne!(jan, oct, "+1 month from 31 January lands in February");
        // The same month's end a year later: the same month boundary, but
        // not the same offset-crossing day (+365 days from 30 Nov 2027
        // crosses 29 Feb 2028).
        let nov = |t: &str, f| facts(ts(t), &z, f);
        let (a, b) = ("2026-11-30T22:59:59Z", "2027-11-30T22:59:59Z");
        assert_eq!(nov(a, Family::MonthEnd), nov(b, Family::MonthEnd));
        assert_ne!(nov(a, Family::OffsetCrossing), nov(b, Family::OffsetCrossing));
    }

    #[test]
    fn only_month_boundaries_and_offset_crossings_are_stood_for() {
        let z = berlin();
        let now = ts("2026-11-22T12:00:00Z");
        let hz = hazards(now, &z, "Europe/Berlin", &[]);
        let reps = representatives(&hz, &z);
        assert_eq!(reps.len(), hz.len());
        let mut stood_for = 0;
        for (i, &r) in reps.iter().enumerate() {
            assert!(r <= i, "the earliest of a kind stands for it");
            if r != i {
                stood_for += 1;
                assert_eq!(hz[r].family, hz[i].family);
                assert!(collapsible(&hz[i]), "{:?}", hz[i]);
                assert_eq!(facts(hz[r].instant, &z, hz[r].family), facts(hz[i].instant, &z, hz[i].family));
                assert_eq!(reps[r], r, "a representative stands for itself");
            }
        }
        assert!(stood_for > 0, "13 months of boundaries repeat kinds");
        // For this now in Berlin: 10 of the 53 instants.
        assert_eq!(stood_for, 10);
        // The end of November 2026 is also two offset-crossing days: it runs,
        // and stands for nothing else.
        let nov = |t: &str| hz.iter().position(|h| h.instant == ts(t)).expect("a month end");
        let (a, b) = (nov("2026-11-30T22:59:59Z"), nov("2027-11-30T22:59:59Z"));
        assert!(hz[a].label.contains(" / ") && reps[a] == a, "{:?}", &hz[a]);
        assert!(reps.iter().enumerate().all(|(i, &r)| r != a || i == a));
        // The end of June stands for itself no more: the end of April does,
        // and for the end of November 2027 (where +1 month lands in
        // December on no month end, as from April into May).
        let (apr, jun) = (nov("2027-04-30T21:59:59Z"), nov("2027-06-30T21:59:59Z"));
        assert_eq!((reps[jun], reps[b]), (apr, apr));
        // Nor the end of October (winter time): the end of May does.
        let (may, oct) = (nov("2027-05-31T21:59:59Z"), nov("2027-10-31T22:59:59Z"));
        assert_eq!(reps[oct], may);
        // The start of August stays: the day before it ends a 31-day month.
        let aug = nov("2027-07-31T22:00:00Z");
        assert_eq!(reps[aug], aug);
        for (i, h) in hz.iter().enumerate() {
            if !collapsible(h) {
                assert_eq!(reps[i], i, "{h:?} always runs");
            }
        }
    }
}
