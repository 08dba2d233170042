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

use super::period::{Formatter, Period, Zone};
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
        let delay = duration("tag.creation-delay")?.unwrap_or_default();
        period.validate_delay(delay)?;
        let num_retained_max = opt("tag.num-retained-max")
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("tag.num-retained-max = {v:?} is not a count"))
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

    /// When, by the machine's clock, the current period ends plus the delay: the moment a
    /// process-time table may next need a tag (a second later, so the end has passed). `None`
    /// in watermark mode, where tags follow the data's time, not the clock.
    pub fn next_period_end_millis(&self, now_millis: i64) -> Option<i64> {
        if self.mode != Mode::ProcessTime {
            return None;
        }
        let local = self.zone.local_time(now_millis)?;
        let end = self.period.next_tag_time(
            self.period
                .next_tag_time(self.period.previous_tag_time(local)),
        );
        let due = end + self.delay();
        Some(now_millis + (due - local).num_milliseconds() + 1_000)
    }

    fn delay(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::milliseconds(self.delay.as_millis().min(i64::MAX as u128) as i64)
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
    /// Resume as Java does: after the newest automatic tag, or from the earliest snapshot.
    pub fn resume(config: AutoTagConfig, last: Option<LastAutoTag>, earliest: Option<i64>) -> Self {
        match last {
            Some(l) => Planner {
                next_tag: Some(config.period.next_tag_time(l.time)),
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
        }
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

    /// Process the snapshot `next_snapshot` (Java `tryToCreateTags`).
    pub fn process(
        &mut self,
        id: i64,
        time_millis: i64,
        watermark: Option<i64>,
    ) -> Option<Decision> {
        debug_assert_eq!(id, self.next_snapshot);
        self.next_snapshot = id + 1;
        let time = self.config.snapshot_time(time_millis, watermark)?;
        let period = self.config.period;
        let due = match self.next_tag {
            None => true,
            Some(next) => time - self.config.delay() >= period.next_tag_time(next),
        };
        if !due {
            // A snapshot that does not end the pending period: nor did any expired one before
            // it (snapshot times only grow), so the next trigger is certain.
            self.blind = false;
            return None;
        }
        let previous = period.previous_tag_time(time);
        if self.blind {
            self.blind = false;
            // Every period from the pending one up to `previous` ended at or before this
            // snapshot, possibly at an expired one.
            let mut names = Vec::new();
            let mut p = self.next_tag.unwrap_or(previous);
            while p <= previous && names.len() < 10_000 {
                names.push(period.tag_name(p));
                p = period.next_tag_time(p);
            }
            self.next_tag = Some(period.next_tag_time(previous));
            return Some(Decision::Missed {
                names,
                snapshot_id: id,
            });
        }
        let this = match self.next_tag {
            Some(next) if self.config.completion => next,
            _ => previous,
        };
        self.next_tag = Some(period.next_tag_time(this));
        Some(Decision::Tag {
            name: period.tag_name(this),
            snapshot_id: id,
        })
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
mod tests {
    //! Scenarios from Java's `TagAutoManagerTest` (the names it asserts), plus completion,
    //! zones, and the expired-history rule.
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    fn config(opts: &[(&str, &str)]) -> AutoTagConfig {
        let get = |k: &str| {
            opts.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        match AutoTagConfig::from_options(&get).unwrap() {
            Setting::Enabled(c) => c,
            Setting::Disabled(why) => panic!("{why}"),
        }
    }

    /// Watermark-mode snapshots 1.. with these watermarks: the tag names created, in order.
    fn names(opts: &[(&str, &str)], watermarks: &[Option<i64>]) -> Vec<String> {
        decide(opts, watermarks)
            .into_iter()
            .filter_map(|d| match d {
                Decision::Tag { name, .. } => Some(name),
                Decision::Missed { .. } => None,
            })
            .collect()
    }

    fn decide(opts: &[(&str, &str)], watermarks: &[Option<i64>]) -> Vec<Decision> {
        let mut p = Planner::resume(config(opts), None, Some(1));
        let mut out = Vec::new();
        for (i, w) in watermarks.iter().enumerate() {
            out.extend(p.process(i as i64 + 1, 0, *w));
        }
        out
    }

    const HOURLY_WM: [(&str, &str); 2] = [
        ("tag.automatic-creation", "watermark"),
        ("tag.creation-period", "hourly"),
    ];

    #[test]
    fn java_test_tag() {
        let w = [
            "2023-07-18T12:12:00",
            "2023-07-18T12:59:00",
            "2023-07-18T13:00:00",
            "2023-07-18T14:00:00",
            "2023-07-18T15:00:00",
        ]
        .map(|s| Some(utc(s)));
        assert_eq!(
            names(&HOURLY_WM, &w),
            [
                "2023-07-18 11",
                "2023-07-18 12",
                "2023-07-18 13",
                "2023-07-18 14"
            ]
        );
    }

    #[test]
    fn java_test_tag_delay() {
        let mut opts = HOURLY_WM.to_vec();
        opts.push(("tag.creation-delay", "10 s"));
        let w = [
            "2023-07-18T12:00:09",
            "2023-07-18T13:00:09",
            "2023-07-18T13:00:10",
        ]
        .map(|s| Some(utc(s)));
        let d = decide(&opts, &w);
        assert_eq!(
            d,
            [
                Decision::Tag {
                    name: "2023-07-18 11".into(),
                    snapshot_id: 1
                },
                Decision::Tag {
                    name: "2023-07-18 12".into(),
                    snapshot_id: 3
                }
            ]
        );
    }

    #[test]
    fn java_test_null_and_min_watermarks_are_skipped() {
        let w = [
            None,
            Some(i64::MIN),
            Some(utc("2023-07-18T12:00:09")),
            None,
            Some(utc("2023-07-18T13:00:10")),
        ];
        assert_eq!(
            decide(&HOURLY_WM, &w),
            [
                Decision::Tag {
                    name: "2023-07-18 11".into(),
                    snapshot_id: 3
                },
                Decision::Tag {
                    name: "2023-07-18 12".into(),
                    snapshot_id: 5
                }
            ]
        );
    }

    #[test]
    fn java_test_two_hours_and_daily_and_formatters() {
        let two = [
            ("tag.automatic-creation", "watermark"),
            ("tag.creation-period", "two-hours"),
        ];
        let w = [
            "2023-07-18T12:00:01",
            "2023-07-18T13:00:01",
            "2023-07-18T14:00:09",
        ]
        .map(|s| Some(utc(s)));
        assert_eq!(names(&two, &w), ["2023-07-18 10", "2023-07-18 12"]);

        let daily = [("tag.automatic-creation", "watermark")];
        let w = [
            "2023-07-18T12:00:01",
            "2023-07-19T12:00:01",
            "2023-07-20T12:00:01",
        ]
        .map(|s| Some(utc(s)));
        assert_eq!(
            names(&daily, &w),
            ["2023-07-17", "2023-07-18", "2023-07-19"]
        );

        let mut compact = daily.to_vec();
        compact.push(("tag.period-formatter", "without_dashes"));
        let w = ["2023-07-18T12:12:00", "2023-07-19T12:12:00"].map(|s| Some(utc(s)));
        assert_eq!(names(&compact, &w), ["20230717", "20230718"]);

        let w = ["2023-07-18T12:12:00", "2023-07-18T13:13:00"].map(|s| Some(utc(s)));
        let mut hourly = HOURLY_WM.to_vec();
        hourly.push(("tag.period-formatter", "without_dashes"));
        assert_eq!(names(&hourly, &w), ["20230718 11", "20230718 12"]);
        hourly.pop();
        hourly.push(("tag.period-formatter", "without_dashes_and_spaces"));
        assert_eq!(names(&hourly, &w), ["2023071811", "2023071812"]);

        let every = [
            ("tag.automatic-creation", "watermark"),
            ("tag.creation-period-duration", "30 min"),
        ];
        let w = ["2023-07-18T12:12:00", "2023-07-18T13:13:00"].map(|s| Some(utc(s)));
        assert_eq!(names(&every, &w), ["202307181130", "202307181230"]);
    }

    #[test]
    fn gaps_are_skipped_without_completion_and_filled_one_per_snapshot_with_it() {
        let w = [
            "2023-07-18T12:10:00",
            "2023-07-18T16:10:00",
            "2023-07-18T16:20:00",
            "2023-07-18T16:30:00",
            "2023-07-18T16:40:00",
        ]
        .map(|s| Some(utc(s)));
        assert_eq!(names(&HOURLY_WM, &w), ["2023-07-18 11", "2023-07-18 15"]);
        let mut on = HOURLY_WM.to_vec();
        on.push(("tag.automatic-completion", "true"));
        assert_eq!(
            decide(&on, &w),
            ["11", "12", "13", "14", "15"]
                .iter()
                .enumerate()
                .map(|(i, h)| Decision::Tag {
                    name: format!("2023-07-18 {h}"),
                    snapshot_id: i as i64 + 1
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn process_time_uses_the_commit_time_in_the_zone() {
        let opts = [
            ("tag.automatic-creation", "process-time"),
            ("sink.process-time-zone", "Asia/Shanghai"),
        ];
        let mut p = Planner::resume(config(&opts), None, Some(1));
        // 2023-07-18T17:00Z is 2023-07-19 01:00 in Shanghai: the previous day is the 18th.
        let d = p.process(1, utc("2023-07-18T17:00:00"), Some(0));
        assert_eq!(
            d,
            Some(Decision::Tag {
                name: "2023-07-18".into(),
                snapshot_id: 1
            })
        );
        // 2023-07-19T15:59Z is 23:59 local: not yet the end of the 19th.
        assert_eq!(p.process(2, utc("2023-07-19T15:59:00"), None), None);
        assert_eq!(
            p.process(3, utc("2023-07-19T16:00:00"), None),
            Some(Decision::Tag {
                name: "2023-07-19".into(),
                snapshot_id: 3
            })
        );
        // The same watermarks in watermark mode with the default zone (UTC).
        let wm = config(&[("tag.automatic-creation", "watermark")]);
        assert_eq!(
            wm.snapshot_time(0, Some(utc("2023-07-18T17:00:00"))),
            NaiveDateTime::parse_from_str("2023-07-18 17:00", "%Y-%m-%d %H:%M").ok()
        );
    }

    #[test]
    fn periods_whose_snapshots_expired_unseen_are_missed_not_guessed() {
        let cfg = config(&HOURLY_WM);
        let tag_time = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        // Last auto tag '2023-07-18 11' on snapshot 1; snapshots 2..=9 expired.
        let last = LastAutoTag {
            time: tag_time("2023-07-18 11:00"),
            snapshot_id: SnapshotId(1),
        };
        let mut p = Planner::resume(cfg.clone(), Some(last.clone()), Some(10));
        p.jump_to(10);
        assert_eq!(p.next_snapshot(), 10);
        // Snapshot 10 at 15:20 ends periods 12, 13 and 14, but an expired snapshot may have
        // ended 14 first.
        assert_eq!(
            p.process(10, 0, Some(utc("2023-07-18T15:20:00"))),
            Some(Decision::Missed {
                names: vec![
                    "2023-07-18 12".into(),
                    "2023-07-18 13".into(),
                    "2023-07-18 14".into()
                ],
                snapshot_id: 10
            })
        );
        // From here on history is seen: 16:05 ends period 15.
        assert_eq!(p.process(11, 0, Some(utc("2023-07-18T15:50:00"))), None);
        assert_eq!(
            p.process(12, 0, Some(utc("2023-07-18T16:05:00"))),
            Some(Decision::Tag {
                name: "2023-07-18 15".into(),
                snapshot_id: 12
            })
        );
        // A first retained snapshot that ends no period proves the expired ones did not
        // either: Java's restore scenario (testTag) then tags exactly as Java.
        let mut p = Planner::resume(cfg.clone(), Some(last), Some(10));
        p.jump_to(10);
        assert_eq!(p.process(10, 0, Some(utc("2023-07-18T12:50:00"))), None);
        assert_eq!(
            p.process(11, 0, Some(utc("2023-07-18T13:05:00"))),
            Some(Decision::Tag {
                name: "2023-07-18 12".into(),
                snapshot_id: 11
            })
        );
        // No automatic tag yet and snapshot 1 expired: the first period is missed too.
        let mut p = Planner::resume(cfg, None, Some(5));
        assert_eq!(
            p.process(5, 0, Some(utc("2023-07-18T12:30:00"))),
            Some(Decision::Missed {
                names: vec!["2023-07-18 11".into()],
                snapshot_id: 5
            })
        );
    }

    #[test]
    fn retention_counts_snapshots_and_refuses_shared_ones() {
        let tags = [
            ("a".to_string(), 3),
            ("b".to_string(), 1),
            ("c".to_string(), 2),
            ("d".to_string(), 4),
        ];
        assert_eq!(over_retention(&tags, 2).unwrap(), ["b", "c"]);
        assert_eq!(over_retention(&tags, 4).unwrap(), Vec::<String>::new());
        let shared = [("a".to_string(), 1), ("b".to_string(), 1), ("c".into(), 2)];
        assert!(over_retention(&shared, 1).unwrap_err().contains("a, b"));
        assert_eq!(over_retention(&shared, 2).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn options_are_validated() {
        let get = |opts: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                opts.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(matches!(
            AutoTagConfig::from_options(&get(&[])),
            Ok(Setting::Disabled(_))
        ));
        assert!(matches!(
            AutoTagConfig::from_options(&get(&[("tag.automatic-creation", "batch")])),
            Ok(Setting::Disabled(_))
        ));
        for bad in [
            &[("tag.automatic-creation", "sometimes")][..],
            &[
                ("tag.automatic-creation", "watermark"),
                ("tag.creation-delay", "1 d"),
            ],
            &[
                ("tag.automatic-creation", "watermark"),
                ("tag.creation-period", "weekly"),
            ],
            &[
                ("tag.automatic-creation", "process-time"),
                ("sink.process-time-zone", "Nowhere/Land"),
            ],
            &[
                ("tag.automatic-creation", "watermark"),
                ("tag.num-retained-max", "-1"),
            ],
        ] {
            let leaked: &'static [(&'static str, &'static str)] = Box::leak(bad.to_vec().into());
            assert!(
                AutoTagConfig::from_options(&get(leaked)).is_err(),
                "{bad:?}"
            );
        }
        // Enum values are case-insensitive, as Java reads them.
        let c = config(&[
            ("tag.automatic-creation", "Process-Time"),
            ("tag.creation-period", "HOURLY"),
        ]);
        assert_eq!(c.mode, Mode::ProcessTime);
    }

    proptest! {
        /// Without expirations, resuming from the tags created so far (what every one-shot run
        /// does) gives exactly the tags of one uninterrupted pass (what Java's writer does).
        #[test]
        fn resuming_from_tags_equals_one_pass(
            steps in proptest::collection::vec(0i64..5_400_000, 1..60),
            cuts in proptest::collection::vec(any::<bool>(), 60),
            completion in any::<bool>(),
        ) {
            let mut opts = HOURLY_WM.to_vec();
            if completion {
                opts.push(("tag.automatic-completion", "true"));
            }
            let cfg = config(&opts);
            let mut t = utc("2023-07-18T10:00:00");
            let times: Vec<i64> = steps.iter().map(|s| { t += s; t }).collect();
            let mut one = Planner::resume(cfg.clone(), None, Some(1));
            let expected: Vec<Decision> = times
                .iter()
                .enumerate()
                .filter_map(|(i, w)| one.process(i as i64 + 1, 0, Some(*w)))
                .collect();
            let mut got: Vec<Decision> = Vec::new();
            let mut i = 0usize;
            while i < times.len() {
                let last = got.iter().rev().find_map(|d| match d {
                    Decision::Tag { name, snapshot_id } => Some(LastAutoTag {
                        time: cfg.period.tag_time(name).unwrap(),
                        snapshot_id: SnapshotId(*snapshot_id),
                    }),
                    Decision::Missed { .. } => None,
                });
                let mut p = Planner::resume(cfg.clone(), last, Some(1));
                // Re-walk from where the tags say, up to the next cut.
                let end = (i + 1..times.len()).find(|j| cuts[*j]).unwrap_or(times.len());
                while (p.next_snapshot() as usize) <= end {
                    let id = p.next_snapshot();
                    if let Some(d) = p.process(id, 0, Some(times[id as usize - 1])) {
                        if !got.contains(&d) {
                            got.push(d);
                        }
                    }
                }
                i = end;
            }
            prop_assert_eq!(got, expected);
        }
    }
}
