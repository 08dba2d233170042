//! The configuration and the decision procedure of automatic tags: Java's `TagAutoCreation`
//! (paimon-format.md §7.6) as a pure state machine. The caller feeds snapshots in id order;
//! the planner says which tag each one gets.
//!
//! One deliberate difference from Java, for safety: Java's writer sees every snapshot as it is
//! committed, tagkeeper runs later and may find that snapshots since the last automatic tag
//! have expired. The tag for a period belongs to the *first* snapshot at or after the period's
//! end (plus delay); when the snapshots before the first retained one were never examined, that
//! first snapshot may not be it (an expired one may have come earlier). Java would tag it
//! anyway; tagkeeper reports such periods as missed and never tags them with a snapshot that
//! may be the wrong one. When nothing expired in between, the tags are exactly Java's.

use std::time::Duration;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::period::{describe_duration, Formatter, Period, Zone};

/// The shortest `tag.creation-period-duration` whose periods all get distinct names.
const MIN_PERIOD_DURATION: Duration = Duration::from_secs(60);
use crate::error::{Error, Result};
use crate::format::duration::parse_duration;
use crate::format::ids::SnapshotId;

/// `tag.automatic-creation` modes that create tags from snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A snapshot's time is its commit time in `sink.process-time-zone`.
    ProcessTime,
    /// A snapshot's time is its watermark in `sink.watermark-time-zone`; snapshots without a
    /// watermark are skipped.
    Watermark,
}

/// The settings of automatic tag creation for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoTagConfig {
    /// How a snapshot's time is read.
    pub mode: Mode,
    /// Period and name format.
    pub period: Period,
    /// `tag.creation-delay`.
    pub delay: Duration,
    /// `tag.num-retained-max`: automatic tags kept (the oldest are deleted).
    pub num_retained_max: Option<u64>,
    /// `tag.default-time-retained`, written into each new tag.
    pub time_retained: Option<Duration>,
    /// `tag.automatic-completion`.
    pub completion: bool,
    /// The zone of snapshot times.
    pub zone: Zone,
    /// `tag.time-expire-enabled`: expire tags past their retention in the same run.
    pub time_expire: bool,
}

const NUM_RETAINED_MAX_ZERO: &str = "tag.num-retained-max = 0 would delete every automatic tag \
     as soon as it is created; set it to 1 or more, or set tag.automatic-creation = none to \
     create no tags";

/// Whether a table's options enable automatic tags.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// Tags are created.
    Enabled(AutoTagConfig),
    /// Not by tagkeeper, and why (`none`, or `batch`, which Java runs at the end of batch
    /// writes).
    Disabled(String),
}

impl AutoTagConfig {
    /// Read the settings from table options (`get` looks an option up; flags that override
    /// options are applied by the caller through `get`).
    pub fn from_options(get: &dyn Fn(&str) -> Option<String>) -> Result<Setting, String> {
        let opt = |k: &str| get(k).map(|v| v.trim().to_string());
        let mode = match opt("tag.automatic-creation")
            .unwrap_or_else(|| "none".into())
            .to_ascii_lowercase()
            .as_str()
        {
            "process-time" => Mode::ProcessTime,
            "watermark" => Mode::Watermark,
            "none" => return Ok(Setting::Disabled("tag.automatic-creation is none".into())),
            "batch" => {
                return Ok(Setting::Disabled(
                    "tag.automatic-creation is batch: Java tags at the end of each batch write"
                        .into(),
                ))
            }
            other => {
                return Err(format!(
                    "tag.automatic-creation = {other:?} (expected none, process-time, watermark or batch)"
                ))
            }
        };
        let duration = |k: &str| -> Result<Option<Duration>, String> {
            opt(k)
                .map(|v| parse_duration(&v).map_err(|e| format!("{k}: {e}")))
                .transpose()
        };
        let formatter: Formatter = opt("tag.period-formatter")
            .map(|v| v.parse())
            .transpose()
            .map_err(|e| format!("tag.period-formatter: {e}"))?
            .unwrap_or(Formatter::WithDashes);
        let period = match duration("tag.creation-period-duration")? {
            Some(d) if d.as_millis() == 0 => {
                return Err("tag.creation-period-duration must be positive".into())
            }
            // Names of duration periods are minute-granular (`yyyyMMddHHmm`): two period
            // starts less than a minute apart can fall in one minute and get the same name
            // (a "100 ms" period planned one name 17 times). From a minute up, consecutive
            // starts always lie in different minutes.
            Some(d) if d < MIN_PERIOD_DURATION => {
                return Err(format!(
                    "tag.creation-period-duration ({}) is shorter than a minute: automatic tag \
                     names (yyyyMMddHHmm) are minute-granular, so two periods would get the same \
                     name; the smallest allowed value is 1 min",
                    describe_duration(d)
                ))
            }
            Some(d) => Period::Every(d),
            None => match opt("tag.creation-period")
                .unwrap_or_else(|| "daily".into())
                .to_ascii_lowercase()
                .as_str()
            {
                "daily" => Period::Daily(formatter),
                "hourly" => Period::Hourly(formatter),
                "two-hours" => Period::TwoHours,
                other => {
                    return Err(format!(
                        "tag.creation-period = {other:?} (expected daily, hourly or two-hours)"
                    ))
                }
            },
        };
        period.validate_length()?;
        let delay = duration("tag.creation-delay")?.unwrap_or_default();
        period.validate_delay(delay)?;
        let num_retained_max = opt("tag.num-retained-max")
            .map(|v| match v.parse::<u64>() {
                // Java's writer accepts 0 and then deletes every automatic tag right after
                // creating it (with data cleanup), and a restarted writer (or every run of a
                // scheduler that resumes from tags) creates them all again: refuse it.
                Ok(0) => Err(NUM_RETAINED_MAX_ZERO.to_string()),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("tag.num-retained-max = {v:?} is not a count")),
            })
            .transpose()?;
        let flag = |k: &str, default: bool| -> Result<bool, String> {
            match opt(k).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(format!("{k} = {v:?} (expected true or false)")),
            }
        };
        let zone = match mode {
            Mode::ProcessTime => match opt("sink.process-time-zone") {
                None => Zone::Local,
                Some(z) => Zone::parse(&z).map_err(|e| format!("sink.process-time-zone: {e}"))?,
            },
            Mode::Watermark => {
                Zone::parse(&opt("sink.watermark-time-zone").unwrap_or_else(|| "UTC".into()))
                    .map_err(|e| format!("sink.watermark-time-zone: {e}"))?
            }
        };
        Ok(Setting::Enabled(AutoTagConfig {
            mode,
            period,
            delay,
            num_retained_max,
            time_retained: duration("tag.default-time-retained")?,
            completion: flag("tag.automatic-completion", false)?,
            zone,
            time_expire: flag("tag.time-expire-enabled", true)?,
        }))
    }

    /// The time of a snapshot (`TagTimeExtractor`); `None` skips the snapshot.
    pub fn snapshot_time(&self, time_millis: i64, watermark: Option<i64>) -> Option<NaiveDateTime> {
        match self.mode {
            Mode::ProcessTime => self.zone.local_time(time_millis),
            Mode::Watermark => watermark
                .filter(|w| *w != i64::MIN)
                .and_then(|w| self.zone.local_time(w)),
        }
    }

    /// When, by the machine's clock, the next period's tag falls due: the moment a
    /// process-time table may next need a tag (a second later, so the moment has passed).
    /// Java's trigger is `time - delay >= period end`, so the tag of the period ending at `E`
    /// is due at `E + delay`: the next one not yet due is `floor(local - delay) + period +
    /// delay` (inside the delay window after a boundary, that is the period that just
    /// ended). `None` in watermark mode, where tags follow the data's time, not the clock,
    /// and when the time cannot be computed (beyond the calendar).
    pub fn next_period_end_millis(&self, now_millis: i64) -> Option<i64> {
        if self.mode != Mode::ProcessTime {
            return None;
        }
        let local = self.zone.local_time(now_millis)?;
        let delay = self.delay()?;
        let p = self.period;
        let pending = p.previous_tag_time(local.checked_sub_signed(delay)?)?;
        let end = p.next_tag_time(p.next_tag_time(pending)?)?;
        let due = self
            .zone
            .first_instant_at_or_after(end.checked_add_signed(delay)?, now_millis)?;
        due.max(now_millis).checked_add(1_000)
    }

    fn delay(&self) -> Option<chrono::TimeDelta> {
        chrono::TimeDelta::try_milliseconds(i64::try_from(self.delay.as_millis()).ok()?)
    }

    /// The error for tag-time arithmetic that leaves the calendar, naming the options.
    fn out_of_range(&self, what: &str) -> Error {
        Error::InvalidArgument(format!(
            "{what} leaves the calendar range tagkeeper supports (years -262143 to 262143) \
             with {} = {} and tag.creation-delay = {}",
            self.period.option_name(),
            describe_duration(self.period.length()),
            describe_duration(self.delay)
        ))
    }
}

/// What the planner decided for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Tag this snapshot.
    Tag {
        /// The tag name.
        name: String,
        /// The snapshot.
        snapshot_id: i64,
    },
    /// These periods end before this snapshot, but the snapshots before it expired unseen, so
    /// the snapshot that ended them is unknown: no tags.
    Missed {
        /// Their tag names.
        names: Vec<String>,
        /// The first retained snapshot after them.
        snapshot_id: i64,
    },
}

/// The planner's state: Java's `nextSnapshot` / `nextTag`, plus whether the snapshots before
/// the next one were seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Planner {
    config: AutoTagConfig,
    next_snapshot: i64,
    next_tag: Option<NaiveDateTime>,
    /// Snapshots before `next_snapshot` expired without being examined since the last tag.
    blind: bool,
}

/// The newest automatic tag, from which Java resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAutoTag {
    /// Its period start.
    pub time: NaiveDateTime,
    /// Its snapshot.
    pub snapshot_id: SnapshotId,
}

impl Planner {
    /// Resume after the newest automatic tag, or from the earliest snapshot. Fails only when
    /// the period after that tag is beyond the calendar.
    pub fn resume(
        config: AutoTagConfig,
        last: Option<LastAutoTag>,
        earliest: Option<i64>,
    ) -> Result<Self> {
        Ok(match last {
            Some(l) => Planner {
                next_tag: Some(config.period.next_tag_time(l.time).ok_or_else(|| {
                    config.out_of_range(&format!("the period after tag time {}", l.time))
                })?),
                next_snapshot: l.snapshot_id.0 + 1,
                blind: false,
                config,
            },
            None => {
                let first = earliest.unwrap_or(1);
                Planner {
                    config,
                    next_snapshot: first,
                    next_tag: None,
                    // Snapshots before the earliest were never examined by anyone.
                    blind: first > 1,
                }
            }
        })
    }

    /// The id the planner wants next.
    pub fn next_snapshot(&self) -> i64 {
        self.next_snapshot
    }

    /// Java's jump when `next_snapshot` has expired: continue at the earliest retained one,
    /// remembering that the ones in between were not seen.
    pub fn jump_to(&mut self, earliest: i64) {
        if earliest > self.next_snapshot {
            self.next_snapshot = earliest;
            self.blind = true;
        }
    }

    /// Process the snapshot `next_snapshot` (Java `tryToCreateTags`). Fails only when the
    /// snapshot's time is so far from the present that its period is beyond the calendar.
    pub fn process(
        &mut self,
        id: i64,
        time_millis: i64,
        watermark: Option<i64>,
    ) -> Result<Option<Decision>> {
        debug_assert_eq!(id, self.next_snapshot);
        self.next_snapshot = id + 1;
        let Some(time) = self.config.snapshot_time(time_millis, watermark) else {
            return Ok(None);
        };
        let period = self.config.period;
        let range = |c: &AutoTagConfig| c.out_of_range(&format!("snapshot {id} at {time}"));
        let next = |t: NaiveDateTime| period.next_tag_time(t).ok_or_else(|| range(&self.config));
        let due = match self.next_tag {
            None => true,
            Some(pending) => {
                let shifted = self
                    .config
                    .delay()
                    .and_then(|d| time.checked_sub_signed(d))
                    .ok_or_else(|| range(&self.config))?;
                shifted >= next(pending)?
            }
        };
        if !due {
            // A snapshot that does not end the pending period: nor did any expired one before
            // it (snapshot times only grow), so the next trigger is certain.
            self.blind = false;
            return Ok(None);
        }
        let previous = period
            .previous_tag_time(time)
            .ok_or_else(|| range(&self.config))?;
        if self.blind {
            self.blind = false;
            // Every period from the pending one up to `previous` ended at or before this
            // snapshot, possibly at an expired one.
            let mut names = Vec::new();
            let mut p = self.next_tag.unwrap_or(previous);
            while p <= previous && names.len() < 10_000 {
                names.push(period.tag_name(p));
                p = next(p)?;
            }
            self.next_tag = Some(next(previous)?);
            return Ok(Some(Decision::Missed {
                names,
                snapshot_id: id,
            }));
        }
        let this = match self.next_tag {
            Some(pending) if self.config.completion => pending,
            _ => previous,
        };
        self.next_tag = Some(next(this)?);
        Ok(Some(Decision::Tag {
            name: period.tag_name(this),
            snapshot_id: id,
        }))
    }
}

/// Which automatic tags `tag.num-retained-max` deletes: the oldest by snapshot id until at
/// most `max` snapshots carry one (Java counts snapshots, not names). `tags` is every automatic
/// tag as (name, snapshot id). Java refuses to go on when a snapshot it deletes from carries
/// more than one automatic tag; so does this, naming them.
pub fn over_retention(tags: &[(String, i64)], max: u64) -> Result<Vec<String>, String> {
    let mut by_snapshot: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    for (name, id) in tags {
        by_snapshot.entry(*id).or_default().push(name);
    }
    let excess = by_snapshot.len().saturating_sub(max as usize);
    let mut out = Vec::new();
    for (id, names) in by_snapshot.into_iter().take(excess) {
        if names.len() > 1 {
            return Err(format!(
                "snapshot {id} carries more than one automatic tag ({}); Java's writer stops \
                 on this too: delete all but one with delete-tag",
                names.join(", ")
            ));
        }
        out.extend(names.into_iter().map(str::to_string));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
