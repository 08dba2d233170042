//! Java Paimon's duration strings (`TimeUtils.parseDuration`): a number and an optional unit,
//! e.g. `1 d`, `12h`, `30 min`, `500ms`. No unit means milliseconds, as in Java.

use std::time::Duration;

/// Parse a duration such as `1 d` or `90 min`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "{text:?} is not a duration (expected e.g. '1 d', '12h', '30 min')"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?}: number out of range"))?;
    let per: Duration = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => Duration::from_millis(1),
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => Duration::from_nanos(1),
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => {
            Duration::from_micros(1)
        }
        "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
        "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
        "h" | "hour" | "hours" => Duration::from_secs(3600),
        "d" | "day" | "days" => Duration::from_secs(86400),
        other => return Err(format!("{text:?}: unknown time unit {other:?}")),
    };
    per.checked_mul(u32::try_from(n).map_err(|_| format!("{text:?}: number out of range"))?)
        .ok_or_else(|| format!("{text:?}: duration out of range"))
}

/// A duration given on the command line: a number (fractions allowed) and a unit, one of `w`,
/// `d`, `h`, `min` (or `m`), `s`, `ms` and their long forms (`2 weeks`, `1.5h`, `90 min`). A
/// bare number is refused: Java reads it as milliseconds, which is never what a person typing
/// `7` means (a retention of 7 ms, or a cutoff in 1970). Table options keep Java's rule
/// ([`parse_duration`]).
pub fn parse_cli_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    if num.is_empty() || num.chars().filter(|c| *c == '.').count() > 1 {
        return Err(format!(
            "{text:?} is not a duration (expected a number and a unit, e.g. '7d', '36 h', \
             '1.5h', '2w', '30 min')"
        ));
    }
    if unit.is_empty() {
        return Err(format!(
            "{text:?} has no unit: write e.g. '{num}d' (days), '{num}h' (hours) or '{num}min' \
             (minutes)"
        ));
    }
    let secs_per: f64 = match unit.as_str() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 0.001,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "week" | "weeks" => 604_800.0,
        other => {
            return Err(format!(
                "{text:?}: unknown time unit {other:?} (use w, d, h, min, s or ms)"
            ))
        }
    };
    let n: f64 = num.parse().map_err(|_| format!("{text:?}: not a number"))?;
    let millis = (n * secs_per * 1000.0).round();
    if !millis.is_finite() || !(0.0..=1e15).contains(&millis) {
        return Err(format!("{text:?}: duration out of range"));
    }
    Ok(Duration::from_millis(millis as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_durations_need_a_unit_and_take_weeks_and_fractions() {
        let d = |t| parse_cli_duration(t);
        assert_eq!(d("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(d("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(d("2 weeks"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(d("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("30 min"), Ok(Duration::from_secs(1800)));
        assert_eq!(d("36 h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
        let bare = d("7").unwrap_err();
        assert!(bare.contains("no unit") && bare.contains("'7d'"), "{bare}");
        assert!(d("d").is_err());
        assert!(d("1.2.3h").is_err());
        assert!(d("3 fortnights").unwrap_err().contains("unknown time unit"));
    }

    #[test]
    fn java_duration_strings() {
        assert_eq!(parse_duration("1 d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43200)));
        assert_eq!(parse_duration("30 min"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2 days"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }
}
