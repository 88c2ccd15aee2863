//! Durations on the command line: `30s`, `5m`, `1h30m`, `250ms`, or plain seconds.

use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration `{s}`: {why} (examples: 30, 30s, 250ms, 5m, 1h30m)");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("empty"));
    }
    if let Ok(secs) = t.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(bad("must be a non-negative number"))
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad(&format!("expected a number at `{rest}`")));
        }
        let value: f64 =
            rest[..num_len].parse().map_err(|_| bad(&format!("`{}` is not a number", &rest[..num_len])))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => return Err(bad("a unit is missing after a number")),
            u => return Err(bad(&format!("unknown unit `{u}`; use ms, s, m, h or d"))),
        };
        total += Duration::from_secs_f64(value * scale);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_plain_seconds() {
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn names_the_bad_part() {
        assert!(parse("5x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("m5").unwrap_err().contains("expected a number at `m5`"));
        assert!(parse("-3").unwrap_err().contains("non-negative"));
    }
}
