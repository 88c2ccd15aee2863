//! The far-apart time zones probed with the clock at "now".

use jiff::tz::TimeZone;

/// Zones far apart, each chosen for a class of bug:
/// - `UTC`: code that only works in the author's zone (or only in UTC);
/// - `Pacific/Pago_Pago` (UTC−11) and `Pacific/Kiritimati` (UTC+14): the
///   extremes, where the local date differs from the UTC date for most of the
///   day and offsets fall outside a naive ±12 h range;
/// - `Asia/Kolkata` (UTC+5:30): offsets that are not whole hours;
/// - `Australia/Lord_Howe`: a 30-minute DST shift;
/// - `America/Los_Angeles`: a common DST zone west of UTC.
pub const DEFAULT_ZONES: &[&str] = &[
    "UTC",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Los_Angeles",
];

/// A `--zones` entry that the time zone database does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZoneError {
    #[error(
        "unknown time zone `{zone}`: not found in the time zone database \
         (/usr/share/zoneinfo); use IANA names such as `Europe/Berlin` or `UTC`, \
         comma-separated"
    )]
    Unknown { zone: String },
    #[error("`--zones` was given but names no zone (use `--no-zones` to skip zone probes)")]
    Empty,
}

/// A validated zone: the name to put in `TZ` and the parsed zone.
#[derive(Clone, Debug)]
pub struct Zone {
    /// The canonical IANA name (the spelling of the tzdb file, because glibc
    /// looks `TZ` up as a path and is case-sensitive where jiff is not).
    pub name: String,
    pub tz: TimeZone,
}

/// Validate one zone name against the tzdb.
pub fn zone(name: &str) -> Result<Zone, ZoneError> {
    let trimmed = name.trim();
    // Only IANA names: POSIX strings like "EST5EDT" or "UTC+3" mean different
    // things to different libcs, so they make poor probes.
    let unknown = || ZoneError::Unknown { zone: trimmed.to_string() };
    if trimmed.is_empty() {
        return Err(unknown());
    }
    let tz = TimeZone::get(trimmed).map_err(|_| unknown())?;
    // jiff answers `Etc/Unknown` with its "unknown" zone (which acts as UTC);
    // accepting it would probe UTC under a misleading name.
    if tz.is_unknown() {
        return Err(unknown());
    }
    let name = tz.iana_name().unwrap_or(trimmed).to_string();
    Ok(Zone { name, tz })
}

/// Parse `--zones` values: each item may itself be a comma-separated list,
/// so `--zones UTC,Asia/Kolkata` and `--zones UTC --zones Asia/Kolkata` both
/// work. Duplicates are dropped, order is kept. The first unknown zone is the
/// error.
pub fn parse_zone_lists<S: AsRef<str>>(items: &[S]) -> Result<Vec<Zone>, ZoneError> {
    let mut out: Vec<Zone> = Vec::new();
    for item in items {
        for part in item.as_ref().split(',').filter(|p| !p.trim().is_empty()) {
            let z = zone(part)?;
            if !out.iter().any(|o| o.name == z.name) {
                out.push(z);
            }
        }
    }
    if out.is_empty() {
        return Err(ZoneError::Empty);
    }
    Ok(out)
}

/// [`DEFAULT_ZONES`], validated against this host's tzdb (a host without one
/// of them gets the error naming it, rather than a silently skipped probe).
pub fn default_zones() -> Result<Vec<Zone>, ZoneError> {
    parse_zone_lists(DEFAULT_ZONES)
}
