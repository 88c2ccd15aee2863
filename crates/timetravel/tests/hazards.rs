//! Hazard instants and zone parsing, for fixed `now`s (never the real clock).

use flakebox_timetravel::{hazards, parse_zone_lists, zone, Family, Hazard, ZoneError, DEFAULT_ZONES};
use jiff::Timestamp;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid timestamp literal")
}

fn list(now: &str, zone_name: &str) -> Vec<Hazard> {
    let z = zone(zone_name).expect("zone in tzdb");
    hazards(ts(now), &z.tz, &z.name, &[])
}

fn at<'a>(hz: &'a [Hazard], instant: &str) -> &'a Hazard {
    let t = ts(instant);
    hz.iter().find(|h| h.instant == t).unwrap_or_else(|| panic!("no hazard at {instant}: {hz:#?}"))
}

fn of(hz: &[Hazard], family: Family) -> Vec<(String, String)> {
    hz.iter().filter(|h| h.family == family).map(|h| (h.instant.to_string(), h.label.clone())).collect()
}

/// Like [`of`], with only the first label of each instant (the family's own;
/// other hazards at the same instant add theirs after it).
fn own(hz: &[Hazard], family: Family) -> Vec<(String, String)> {
    of(hz, family)
        .into_iter()
        .map(|(t, l)| (t, l.split(" / ").next().unwrap_or_default().to_string()))
        .collect()
}

const NOW: &str = "2026-11-22T12:00:00Z";

#[test]
fn berlin_next_dst_transitions_both_directions() {
    let hz = list(NOW, "Europe/Berlin");
    assert_eq!(
        of(&hz, Family::Dst),
        vec![
            ("2027-03-28T00:59:59Z".into(), "DST start in Europe/Berlin (−1 s)".into()),
            ("2027-03-28T01:00:01Z".into(), "DST start in Europe/Berlin (+1 s)".into()),
            ("2027-10-31T00:59:59Z".into(), "DST end in Europe/Berlin (−1 s)".into()),
            ("2027-10-31T01:00:01Z".into(), "DST end in Europe/Berlin (+1 s)".into()),
        ]
    );
}

#[test]
fn half_hour_dst_and_west_of_utc() {
    // Lord Howe moves its clocks by 30 minutes; now is in its summer time.
    let hz = list(NOW, "Australia/Lord_Howe");
    let dst = of(&hz, Family::Dst);
    assert_eq!(dst.len(), 4, "{dst:?}");
    assert_eq!(dst[0].0, "2027-04-03T14:59:59Z"); // 02:00 +11 → 01:30 +10:30
    assert!(dst[0].1.starts_with("DST end in Australia/Lord_Howe"));
    assert_eq!(dst[2].0, "2027-10-02T15:29:59Z"); // 02:00 +10:30 → 02:30 +11
    assert!(dst[2].1.starts_with("DST start in Australia/Lord_Howe"));

    let hz = list(NOW, "America/Los_Angeles");
    let dst = of(&hz, Family::Dst);
    assert_eq!(dst[0].0, "2027-03-14T09:59:59Z");
    assert_eq!(dst[2].0, "2027-11-07T08:59:59Z");
}

#[test]
fn zones_without_dst_have_no_dst_hazards() {
    for z in ["UTC", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"] {
        let hz = list(NOW, z);
        assert!(of(&hz, Family::Dst).is_empty(), "{z}: {hz:#?}");
    }
}

#[test]
fn leap_day_is_first_instant_that_is_29_february_locally_and_in_utc() {
    // At or east of UTC: UTC midnight (it is already 29 February locally).
    for z in ["UTC", "Europe/Berlin", "Pacific/Kiritimati"] {
        let hz = list(NOW, z);
        assert_eq!(
            of(&hz, Family::LeapDay),
            vec![
                ("2028-02-29T00:00:00Z".into(), "leap day 2028-02-29".into()),
                ("2028-03-01T00:00:00Z".into(), "1 March 2028 (after leap day)".into()),
            ],
            "{z}"
        );
    }
    // West of UTC: local midnight (it is already 29 February in UTC).
    let hz = list(NOW, "America/Los_Angeles");
    let leap = of(&hz, Family::LeapDay);
    assert_eq!(leap[0].0, "2028-02-29T08:00:00Z");
    assert_eq!(leap[1].0, "2028-03-01T08:00:00Z");

    // On a leap day itself, the next one is four years away.
    let hz = list("2028-02-29T12:00:00Z", "UTC");
    assert_eq!(of(&hz, Family::LeapDay)[0].0, "2032-02-29T00:00:00Z");
    // Just before it, it is this year's.
    let hz = list("2028-02-28T23:59:00Z", "UTC");
    assert_eq!(of(&hz, Family::LeapDay)[0].0, "2028-02-29T00:00:00Z");
}

#[test]
fn year_end_both_sides_local_and_utc() {
    let hz = list(NOW, "Europe/Berlin");
    assert_eq!(
        own(&hz, Family::NewYear),
        vec![
            ("2026-12-31T22:59:59Z".into(), "next New Year 2027 in Europe/Berlin (−1 s)".into()),
            ("2026-12-31T23:00:00Z".into(), "next New Year 2027 in Europe/Berlin".into()),
            ("2026-12-31T23:59:59Z".into(), "next New Year 2027 (UTC, −1 s)".into()),
            ("2027-01-01T00:00:00Z".into(), "next New Year 2027 (UTC)".into()),
        ]
    );
}

#[test]
fn month_end_and_midnights() {
    let hz = list(NOW, "Europe/Berlin");
    let month_ends = own(&hz, Family::MonthEnd);
    assert_eq!(
        month_ends[..2],
        [
            ("2026-11-30T22:59:59Z".into(), "end of November 2026 (last second)".into()),
            ("2026-11-30T23:00:00Z".into(), "start of December 2026 (first second)".into()),
        ]
    );
    // Every month boundary of the next 13 months, both sides (December's is
    // the New Year's: one instant each, the New Year's family first).
    let ends: Vec<&Hazard> =
        hz.iter().filter(|h| h.label.split(" / ").any(|l| l.starts_with("end of "))).collect();
    assert_eq!(ends.len(), 13, "{ends:#?}");
    assert_eq!(hz.iter().filter(|h| h.label.split(" / ").any(|l| l.starts_with("start of "))).count(), 13);
    assert_eq!(at(&hz, "2027-11-30T22:59:59Z").label, "end of November 2027 (last second)");
    assert_eq!(at(&hz, "2027-03-31T21:59:59Z").label, "end of March 2027 (last second)"); // CEST
    assert_eq!(
        at(&hz, "2026-12-31T22:59:59Z").label,
        "next New Year 2027 in Europe/Berlin (−1 s) / end of December 2026 (last second) / today +1 month = 2027-01-31"
    );
    assert_eq!(
        of(&hz, Family::Midnight),
        vec![
            ("2026-11-22T22:59:59Z".into(), "midnight in Europe/Berlin (−1 s)".into()),
            ("2026-11-22T23:00:01Z".into(), "midnight in Europe/Berlin (+1 s)".into()),
            ("2026-11-22T23:59:59Z".into(), "UTC midnight (−1 s)".into()),
            ("2026-11-23T00:00:01Z".into(), "UTC midnight (+1 s)".into()),
        ]
    );
    // In December the month end is the New Year: one instant, both labels.
    let hz = list("2026-12-10T12:00:00Z", "UTC");
    assert!(at(&hz, "2026-12-31T23:59:59Z")
        .label
        .starts_with("end of December 2026 (last second) / next New Year 2027 (UTC, −1 s) / "));
    assert_eq!(at(&hz, "2026-12-31T23:59:59Z").family, Family::MonthEnd);
}

#[test]
fn midnight_in_a_zone_that_skips_it() {
    // America/Santiago springs forward at 24:00 on 2026-09-05: 6 September
    // starts at 01:00 local (04:00Z), and the hazard is the real start of day.
    let hz = list("2026-09-05T12:00:00Z", "America/Santiago");
    // The DST switch is the same instant: one hazard, both labels.
    let h = at(&hz, "2026-09-06T04:00:01Z");
    assert_eq!(h.label, "midnight in America/Santiago (+1 s) / DST start in America/Santiago (+1 s)");
    at(&hz, "2026-09-06T03:59:59Z");
}

#[test]
fn offsets_and_2038() {
    let hz = list(NOW, "Europe/Berlin");
    assert_eq!(
        of(&hz, Family::Offset),
        vec![
            ("2026-11-23T12:00:00Z".into(), "+1 day".into()),
            ("2027-11-22T12:00:00Z".into(), "+1 year".into()),
            ("2031-11-22T12:00:00Z".into(), "+5 years".into()),
            ("2036-11-22T12:00:00Z".into(), "+10 years".into()),
        ]
    );
    assert_eq!(
        of(&hz, Family::Y2038),
        vec![
            ("2038-01-19T03:14:07Z".into(), "2038 rollover (last second)".into()),
            ("2038-01-19T03:14:08Z".into(), "2038 rollover (first second after)".into()),
        ]
    );
    // +1 day is a calendar day: across the fall-back it is 25 hours.
    let hz = list("2027-10-30T12:00:00Z", "Europe/Berlin");
    at(&hz, "2027-10-31T13:00:00Z");
}

#[test]
fn now_first_sorted_and_deduplicated() {
    let now = ts(NOW);
    let z = zone("UTC").unwrap();
    let extra = [now, ts("2030-01-01T00:00:00Z"), ts("2030-01-01T00:00:00Z"), ts("2000-01-01T00:00:00Z")];
    let hz = hazards(now, &z.tz, &z.name, &extra);
    // Strictly increasing: sorted, no instant twice.
    assert!(hz.windows(2).all(|w| w[0].instant < w[1].instant));
    // `--at now` merges into now and keeps its family.
    let h = at(&hz, NOW);
    assert_eq!((h.family, h.label.as_str()), (Family::Now, "now / --at"));
    // The same `--at` twice is one hazard with one label.
    assert_eq!(at(&hz, "2030-01-01T00:00:00Z").label, "--at");
    // Past instants are kept (the user asked for them) and sort first.
    assert_eq!(hz[0].instant, ts("2000-01-01T00:00:00Z"));
    // In UTC the local and UTC midnights are one hazard with one label.
    assert_eq!(at(&hz, "2026-11-22T23:59:59Z").label, "UTC midnight (−1 s)");
    assert_eq!(of(&hz, Family::NewYear).len(), 2);
}

#[test]
fn default_zones_are_valid_and_bad_zones_are_named() {
    let zs = parse_zone_lists(DEFAULT_ZONES).expect("defaults in tzdb");
    let names: Vec<&str> = zs.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, DEFAULT_ZONES);

    let e = parse_zone_lists(&["UTC,Europe/Berlni", "Asia/Kolkata"]).unwrap_err();
    assert_eq!(e, ZoneError::Unknown { zone: "Europe/Berlni".into() });
    assert!(e.to_string().contains("`Europe/Berlni`"), "{e}");
    assert!(matches!(parse_zone_lists(&["Etc/Unknown"]), Err(ZoneError::Unknown { .. })));
    assert_eq!(parse_zone_lists(&[" , "]).unwrap_err(), ZoneError::Empty);

    // Repeats and comma lists combine, duplicates dropped, order kept; the
    // name is the tzdb's spelling (glibc's TZ lookup is case-sensitive).
    let zs = parse_zone_lists(&["utc,Asia/Kolkata", "UTC", "europe/berlin"]).unwrap();
    let names: Vec<&str> = zs.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["UTC", "Asia/Kolkata", "Europe/Berlin"]);
}

#[test]
fn days_on_which_a_year_or_a_month_from_today_crosses_29_february_or_a_month_end() {
    // The case: "now + 1 year" lands next to 29 February 2028 from
    // 2027-02-28 to 2027-03-01; a year ahead of 2026-11-22 that is within
    // the horizon (up to the next leap day's 1 March).
    let hz = list(NOW, "UTC");
    let labels = |t: &str| at(&hz, t).label.split(" / ").map(str::to_string).collect::<Vec<_>>();
    // 28 February 2027 + 1 year clamps to 28 February 2028: an existing
    // hazard (the month end's last second) is that day, so it carries it.
    assert!(labels("2027-02-28T23:59:59Z").contains(&"today +1 year = 2028-02-28".to_string()));
    // 1 March 2027: +365 days is 29 February 2028, +1 year 1 March 2028;
    // in UTC that day starts at the month boundary, which carries it.
    let mar1 = labels("2027-03-01T00:00:00Z");
    for l in ["today +365 days = 2028-02-29", "today +1 year = 2028-03-01"] {
        assert!(mar1.contains(&l.to_string()), "{mar1:?}");
    }
    // + 30 days and + 1 month reach 29 February from January 2028.
    assert_eq!(at(&hz, "2028-01-30T00:00:00Z").label, "today +30 days = 2028-02-29");
    assert_eq!(at(&hz, "2028-01-29T00:00:00Z").label, "today +1 month = 2028-02-29");
    assert_eq!(at(&hz, "2028-01-29T00:00:00Z").family, Family::OffsetCrossing);
    // The next month end reached: 1 December + 30 days = 31 December.
    assert!(labels("2026-12-01T00:00:00Z").contains(&"today +30 days = 2026-12-31".to_string()));

    // West of UTC the day must hold in both: local midnight, not UTC's.
    let hz = list(NOW, "America/Los_Angeles");
    let h = hz.iter().find(|h| h.label.contains("today +365 days = 2028-02-29")).expect("found");
    assert_eq!(h.instant, ts("2027-03-01T08:00:00Z"));

    // Nothing past the horizon, nothing before now.
    let hz = list(NOW, "Europe/Berlin");
    let crossing: Vec<Timestamp> =
        hz.iter().filter(|h| h.label.contains("today +")).map(|h| h.instant).collect();
    assert!(crossing.iter().all(|&t| t > ts(NOW) && t <= ts("2028-03-01T00:00:00Z")), "{crossing:?}");
}

#[test]
fn default_probe_count() {
    // 2026-11-22: 23 instants in Berlin and 15 in UTC before the later
    // month boundaries and the offset crossings; the README gives these.
    assert_eq!(list(NOW, "Europe/Berlin").len(), 53);
    assert_eq!(list(NOW, "UTC").len(), 43);
}
