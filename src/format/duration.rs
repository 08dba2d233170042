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

#[cfg(test)]
mod tests {
    use super::*;

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
