//! Periods and tag names of automatic tags, exactly as Java's `TagPeriodHandler` computes them
//! (paimon-format.md §7.6), and the time zones of `sink.*-time-zone` (Java's `ZoneId.of`).
//!
//! A tag named by a period's start time marks the *end* of that period: the daily tag
//! `2024-01-01` is created from the first snapshot at or after `2024-01-02 00:00` (+ delay).
//! All arithmetic is on zone-less wall-clock times, as Java does it on `LocalDateTime`.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone};

/// `tag.period-formatter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formatter {
    /// `with_dashes` (default): `2024-01-01`, `2024-01-01 10`.
    WithDashes,
    /// `without_dashes`: `20240101`, `20240101 10`.
    WithoutDashes,
    /// `without_dashes_and_spaces` (Paimon 1.4+): `20240101`, `2024010110`.
    WithoutDashesAndSpaces,
}

impl FromStr for Formatter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "with_dashes" => Ok(Formatter::WithDashes),
            "without_dashes" => Ok(Formatter::WithoutDashes),
            "without_dashes_and_spaces" => Ok(Formatter::WithoutDashesAndSpaces),
            _ => Err(format!(
                "{s:?} is not a period formatter (with_dashes, without_dashes, without_dashes_and_spaces)"
            )),
        }
    }
}

/// The period of automatic tags: `tag.creation-period`, or `tag.creation-period-duration`,
/// which overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// `daily`: names `yyyy-MM-dd` (or without dashes).
    Daily(Formatter),
    /// `hourly`: names `yyyy-MM-dd HH` (per formatter).
    Hourly(Formatter),
    /// `two-hours`: names always `yyyy-MM-dd HH`.
    TwoHours,
    /// `tag.creation-period-duration`: names always `yyyyMMddHHmm`.
    Every(Duration),
}

/// The digits-and-literals shape of a tag name, Java `DateTimeFormatter` with fixed widths.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// yyyy-MM-dd
    Day,
    /// yyyyMMdd
    DayCompact,
    /// yyyy-MM-dd HH
    Hour,
    /// yyyyMMdd HH
    HourCompact,
    /// yyyyMMddHH
    HourPacked,
    /// yyyyMMddHHmm
    Minute,
}

impl Pattern {
    fn format(self, t: NaiveDateTime) -> String {
        let f = match self {
            Pattern::Day => "%Y-%m-%d",
            Pattern::DayCompact => "%Y%m%d",
            Pattern::Hour => "%Y-%m-%d %H",
            Pattern::HourCompact => "%Y%m%d %H",
            Pattern::HourPacked => "%Y%m%d%H",
            Pattern::Minute => "%Y%m%d%H%M",
        };
        t.format(f).to_string()
    }

    /// Strict parse: exact widths, exact literals, a real calendar date (Java's
    /// `ResolverStyle.STRICT`).
    fn parse(self, s: &str) -> Option<NaiveDateTime> {
        // Layout as (field widths, literal after each field).
        let fields: &[(usize, Option<u8>)] = match self {
            Pattern::Day => &[(4, Some(b'-')), (2, Some(b'-')), (2, None)],
            Pattern::DayCompact => &[(4, None), (2, None), (2, None)],
            Pattern::Hour => &[(4, Some(b'-')), (2, Some(b'-')), (2, Some(b' ')), (2, None)],
            Pattern::HourCompact => &[(4, None), (2, None), (2, Some(b' ')), (2, None)],
            Pattern::HourPacked => &[(4, None), (2, None), (2, None), (2, None)],
            Pattern::Minute => &[(4, None), (2, None), (2, None), (2, None), (2, None)],
        };
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut values = [0u32; 5];
        for (i, (width, literal)) in fields.iter().enumerate() {
            let digits = bytes.get(pos..pos + width)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            values[i] = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            pos += width;
            if let Some(l) = literal {
                if bytes.get(pos) != Some(l) {
                    return None;
                }
                pos += 1;
            }
        }
        if pos != bytes.len() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(values[0] as i32, values[1], values[2])?;
        date.and_hms_opt(values[3], values[4], 0)
    }
}

impl Period {
    /// The length of one period.
    pub fn length(&self) -> Duration {
        match self {
            Period::Daily(_) => Duration::from_secs(86_400),
            Period::Hourly(_) => Duration::from_secs(3_600),
            Period::TwoHours => Duration::from_secs(7_200),
            Period::Every(d) => *d,
        }
    }

    /// One period as a calendar delta; `None` when it is too long to represent.
    fn delta(&self) -> Option<TimeDelta> {
        TimeDelta::try_milliseconds(i64::try_from(self.length().as_millis()).ok()?)
    }

    /// The option that sets the period, for messages.
    pub fn option_name(&self) -> &'static str {
        match self {
            Period::Every(_) => "tag.creation-period-duration",
            _ => "tag.creation-period",
        }
    }

    /// Refuse a period too long for tag-time arithmetic: one period back and two forward from
    /// the Unix epoch (the origin Java floors to) must stay within chrono's calendar (years
    /// -262143 to 262143). Java's `LocalDateTime` reaches further, but its names would then
    /// be meaningless anyway.
    pub fn validate_length(&self) -> Result<(), String> {
        let epoch = NaiveDateTime::default();
        let ok = self
            .previous_tag_time(epoch)
            .and_then(|t| self.next_tag_time(t))
            .and_then(|t| self.next_tag_time(t))
            .and_then(|t| self.next_tag_time(t))
            .is_some();
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} ({}) is too long: tag times one period away leave the calendar range \
                 tagkeeper supports (years -262143 to 262143)",
                self.option_name(),
                describe_duration(self.length())
            ))
        }
    }

    fn pattern(&self) -> Pattern {
        match self {
            Period::Daily(Formatter::WithDashes) => Pattern::Day,
            Period::Daily(_) => Pattern::DayCompact,
            Period::Hourly(Formatter::WithDashes) | Period::TwoHours => Pattern::Hour,
            Period::Hourly(Formatter::WithoutDashes) => Pattern::HourCompact,
            Period::Hourly(Formatter::WithoutDashesAndSpaces) => Pattern::HourPacked,
            Period::Every(_) => Pattern::Minute,
        }
    }

    /// Java `checkArgument(onePeriod() > delay)`.
    pub fn validate_delay(&self, delay: Duration) -> Result<(), String> {
        if delay < self.length() {
            Ok(())
        } else {
            Err(format!(
                "tag.creation-delay ({}s) must be shorter than one period ({}s)",
                delay.as_secs_f64(),
                self.length().as_secs_f64()
            ))
        }
    }

    /// The tag name of a period (`timeToTag`).
    pub fn tag_name(&self, period_start: NaiveDateTime) -> String {
        self.pattern().format(period_start)
    }

    /// The period start a tag name denotes (`tagToTime`); `None` when the name is not an
    /// automatic tag of this period. The daily handler, like Java's, looks only at the part
    /// before the first space, so `2024-01-01 10` is a daily tag too.
    pub fn tag_time(&self, name: &str) -> Option<NaiveDateTime> {
        match self {
            Period::Daily(_) => {
                let day = name.split(' ').next().unwrap_or(name);
                self.pattern().parse(day)
            }
            _ => self.pattern().parse(name),
        }
    }

    /// Java `isAutoTag`.
    pub fn is_auto_tag(&self, name: &str) -> bool {
        self.tag_time(name).is_some()
    }

    /// Java `normalizeToPreviousTag`: the wall-clock time read as UTC epoch millis, truncated
    /// (Java's long division, toward zero) to a multiple of the period, minus one period.
    /// `None` when the result leaves the calendar range (a huge period, or an absurd time).
    pub fn previous_tag_time(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let delta = self.delta()?;
        let millis = t.and_utc().timestamp_millis();
        let period = delta.num_milliseconds().max(1);
        let floored = (millis / period) * period;
        let normalized = DateTime::from_timestamp_millis(floored)?.naive_utc();
        normalized.checked_sub_signed(delta)
    }

    /// Java `nextTagTime`; `None` past the end of the calendar.
    pub fn next_tag_time(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        t.checked_add_signed(self.delta()?)
    }
}

/// A time zone as Java's `ZoneId.of` accepts it: a region (`Asia/Shanghai`), `UTC`/`Z`, an
/// offset (`+08:00`, `-8`), or a prefixed offset (`GMT+08:00`, `UTC-8`, `UT+1`); or the
/// machine's zone (Java's `ZoneId.systemDefault()`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The machine's local zone.
    Local,
    /// A fixed offset.
    Fixed(FixedOffset),
    /// An IANA region.
    Region(chrono_tz::Tz),
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::Fixed(chrono::Offset::fix(&chrono::Utc))
    }

    /// Parse a zone id.
    pub fn parse(id: &str) -> Result<Zone, String> {
        let s = id.trim();
        if s == "Z" {
            return Ok(Zone::utc());
        }
        for prefix in ["GMT", "UTC", "UT"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Ok(Zone::utc());
                }
                if rest.starts_with('+') || rest.starts_with('-') {
                    return parse_offset(rest)
                        .map(Zone::Fixed)
                        .ok_or_else(|| bad_zone(id));
                }
            }
        }
        if s.starts_with('+') || s.starts_with('-') {
            return parse_offset(s).map(Zone::Fixed).ok_or_else(|| bad_zone(id));
        }
        chrono_tz::Tz::from_str(s)
            .map(Zone::Region)
            .map_err(|_| bad_zone(id))
    }

    /// The wall-clock time of an instant in this zone.
    pub fn local_time(&self, epoch_millis: i64) -> Option<NaiveDateTime> {
        let utc = DateTime::from_timestamp_millis(epoch_millis)?;
        Some(match self {
            Zone::Local => utc.with_timezone(&chrono::Local).naive_local(),
            Zone::Fixed(o) => utc.with_timezone(o).naive_local(),
            Zone::Region(tz) => utc.with_timezone(tz).naive_local(),
        })
    }

    /// The first instant, not before `not_before` (epoch ms) where possible, at which this
    /// zone's wall clock shows `local` or later: the instant itself when `local` occurs once;
    /// of the two in a repeated hour (clocks set back), the first one not before
    /// `not_before` (the wall clock passes `local` again there); inside a skipped hour
    /// (clocks set forward), the moment the clock jumps past it. `None` outside the calendar.
    pub fn first_instant_at_or_after(&self, local: NaiveDateTime, not_before: i64) -> Option<i64> {
        // DST gaps start and end on whole minutes and last at most a few hours; stepping over
        // a day of minutes finds the end of any gap.
        let mut t = local;
        for _ in 0..=24 * 60 {
            let at = self.instants(t);
            if let Some(last) = at.last() {
                return Some(
                    at.iter()
                        .copied()
                        .find(|i| *i >= not_before)
                        .unwrap_or(*last),
                );
            }
            t = t.checked_add_signed(TimeDelta::minutes(1))?;
        }
        None
    }

    /// The instants whose wall-clock time here is `local`, earliest first: none in a skipped
    /// hour, two in a repeated one.
    fn instants(&self, local: NaiveDateTime) -> Vec<i64> {
        fn all<Tz: TimeZone>(r: LocalResult<DateTime<Tz>>) -> Vec<i64> {
            match r {
                LocalResult::Single(a) => vec![a.timestamp_millis()],
                LocalResult::Ambiguous(a, b) => {
                    let (a, b) = (a.timestamp_millis(), b.timestamp_millis());
                    vec![a.min(b), a.max(b)]
                }
                LocalResult::None => Vec::new(),
            }
        }
        match self {
            Zone::Local => all(chrono::Local.from_local_datetime(&local)),
            Zone::Fixed(o) => all(o.from_local_datetime(&local)),
            Zone::Region(tz) => all(tz.from_local_datetime(&local)),
        }
    }
}

/// A duration for messages: whole days, hours, minutes or seconds when it is one.
pub(crate) fn describe_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || s == 0 {
        return format!("{} ms", d.as_millis());
    }
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("min", 60)] {
        if s % len == 0 {
            return format!("{} {unit}", s / len);
        }
    }
    format!("{s} s")
}

fn bad_zone(id: &str) -> String {
    format!("{id:?} is not a time zone (e.g. 'UTC', 'Asia/Shanghai', '+08:00', 'GMT-08:00')")
}

/// `+h`, `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss` (Java `ZoneOffset.of`).
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let num = |t: &str| t.parse::<i32>().ok();
    let (h, m, sec) = match (rest.len(), rest.contains(':')) {
        (1 | 2, false) => (num(rest)?, 0, 0),
        (4, false) => (num(&rest[..2])?, num(&rest[2..])?, 0),
        (6, false) => (num(&rest[..2])?, num(&rest[2..4])?, num(&rest[4..])?),
        (5, true) if &rest[2..3] == ":" => (num(&rest[..2])?, num(&rest[3..])?, 0),
        (8, true) if &rest[2..3] == ":" && &rest[5..6] == ":" => {
            (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..])?)
        }
        _ => return None,
    };
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60 + sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn names_match_java_formatters() {
        let at = t("2024-01-02 10:00");
        let cases = [
            (Period::Daily(Formatter::WithDashes), "2024-01-02"),
            (Period::Daily(Formatter::WithoutDashes), "20240102"),
            (Period::Daily(Formatter::WithoutDashesAndSpaces), "20240102"),
            (Period::Hourly(Formatter::WithDashes), "2024-01-02 10"),
            (Period::Hourly(Formatter::WithoutDashes), "20240102 10"),
            (
                Period::Hourly(Formatter::WithoutDashesAndSpaces),
                "2024010210",
            ),
            (Period::TwoHours, "2024-01-02 10"),
            (Period::Every(Duration::from_secs(1800)), "202401021000"),
        ];
        for (p, name) in cases {
            assert_eq!(p.tag_name(at), name, "{p:?}");
            let back = p.tag_time(name).unwrap();
            let expected = if matches!(p, Period::Daily(_)) {
                t("2024-01-02 00:00")
            } else {
                at
            };
            assert_eq!(back, expected, "{p:?}");
        }
    }

    #[test]
    fn parsing_is_strict() {
        let daily = Period::Daily(Formatter::WithDashes);
        assert!(daily.is_auto_tag("2024-02-29"));
        assert!(!daily.is_auto_tag("2023-02-29"), "not a real date");
        assert!(!daily.is_auto_tag("2024-1-02"));
        assert!(!daily.is_auto_tag("2024-01-02x"));
        assert!(!daily.is_auto_tag("release-1"));
        // Java's daily handler reads only the part before the first space.
        assert!(daily.is_auto_tag("2024-01-02 10"));
        assert!(daily.is_auto_tag("2024-01-02 anything"));
        let hourly = Period::Hourly(Formatter::WithDashes);
        assert!(!hourly.is_auto_tag("2024-01-02"));
        assert!(!hourly.is_auto_tag("2024-01-02 24"));
        assert!(hourly.is_auto_tag("2024-01-02 23"));
        let packed = Period::Hourly(Formatter::WithoutDashesAndSpaces);
        assert!(packed.is_auto_tag("2024010223"));
        assert!(!packed.is_auto_tag("20240102 23"));
    }

    #[test]
    fn previous_tag_time_floors_then_steps_back() {
        let daily = Period::Daily(Formatter::WithDashes);
        assert_eq!(
            daily.previous_tag_time(t("2024-01-02 00:30")),
            Some(t("2024-01-01 00:00"))
        );
        assert_eq!(
            daily.previous_tag_time(t("2024-01-02 00:00")),
            Some(t("2024-01-01 00:00"))
        );
        let two = Period::TwoHours;
        assert_eq!(
            two.previous_tag_time(t("2024-01-02 03:59")),
            Some(t("2024-01-02 00:00"))
        );
        let every = Period::Every(Duration::from_secs(45 * 60));
        // Multiples of 45 min since the epoch: 2024-01-02 10:30 is one (1704191400 s / 2700).
        assert_eq!(
            every.previous_tag_time(t("2024-01-02 10:31")),
            Some(t("2024-01-02 09:45"))
        );
        assert_eq!(
            daily.next_tag_time(t("2024-01-01 00:00")),
            Some(t("2024-01-02 00:00"))
        );
    }

    #[test]
    fn huge_periods_are_refused_and_arithmetic_never_panics() {
        let huge = Period::Every(Duration::from_secs(100_000_000 * 86_400));
        let e = huge.validate_length().unwrap_err();
        assert!(
            e.contains("tag.creation-period-duration (100000000 d) is too long"),
            "{e}"
        );
        let millennium = Period::Every(Duration::from_secs(1000 * 365 * 86_400));
        assert_eq!(millennium.validate_length(), Ok(()));
        assert_eq!(
            Period::Daily(Formatter::WithDashes).validate_length(),
            Ok(())
        );
        // At the ends of the calendar a step is None, not a panic.
        let daily = Period::Daily(Formatter::WithDashes);
        assert_eq!(daily.next_tag_time(NaiveDateTime::MAX), None);
        assert_eq!(daily.previous_tag_time(NaiveDateTime::MIN), None);
        assert_eq!(huge.previous_tag_time(t("2024-01-01 00:00")), None);
        let beyond = Period::Every(Duration::MAX);
        assert_eq!(beyond.next_tag_time(t("2024-01-01 00:00")), None);
        assert!(beyond.validate_length().is_err());
    }

    #[test]
    fn first_instant_of_a_wall_clock_time_across_dst() {
        let ms = |s: &str| t(s).and_utc().timestamp_millis();
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        // An ordinary time: CET is UTC+1.
        assert_eq!(
            berlin.first_instant_at_or_after(t("2024-03-30 02:30"), 0),
            Some(ms("2024-03-30 01:30"))
        );
        // 2024-03-31 02:00 CET jumps to 03:00 CEST (01:00Z): 02:30 never shows; the clock
        // passes it at the jump.
        assert_eq!(
            berlin.first_instant_at_or_after(t("2024-03-31 02:30"), 0),
            Some(ms("2024-03-31 01:00"))
        );
        // 2024-10-27 03:00 CEST goes back to 02:00 CET (01:00Z): 02:30 shows at 00:30Z and
        // again at 01:30Z.
        assert_eq!(
            berlin.first_instant_at_or_after(t("2024-10-27 02:30"), 0),
            Some(ms("2024-10-27 00:30"))
        );
        assert_eq!(
            berlin.first_instant_at_or_after(t("2024-10-27 02:30"), ms("2024-10-27 01:00")),
            Some(ms("2024-10-27 01:30"))
        );
        let plus8 = Zone::parse("+08:00").unwrap();
        assert_eq!(
            plus8.first_instant_at_or_after(t("2024-01-02 08:00"), 0),
            Some(ms("2024-01-02 00:00"))
        );
    }

    #[test]
    fn delay_must_be_shorter_than_a_period() {
        let hourly = Period::Hourly(Formatter::WithDashes);
        assert!(hourly.validate_delay(Duration::from_secs(3599)).is_ok());
        assert!(hourly.validate_delay(Duration::from_secs(3600)).is_err());
    }

    #[test]
    fn zones_parse_like_java_zone_id() {
        let at = 1_704_153_600_000; // 2024-01-02T00:00:00Z
        let local = |z: &str| Zone::parse(z).unwrap().local_time(at).unwrap();
        assert_eq!(local("UTC"), t("2024-01-02 00:00"));
        assert_eq!(local("Z"), t("2024-01-02 00:00"));
        assert_eq!(local("Asia/Shanghai"), t("2024-01-02 08:00"));
        assert_eq!(local("+08:00"), t("2024-01-02 08:00"));
        assert_eq!(local("GMT-08:00"), t("2024-01-01 16:00"));
        assert_eq!(local("UTC+8"), t("2024-01-02 08:00"));
        assert_eq!(local("-0530"), t("2024-01-01 18:30"));
        assert_eq!(local("America/Los_Angeles"), t("2024-01-01 16:00"));
        for bad in ["Mars/Base", "+25:00", "GMT+x", ""] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
    }
}
