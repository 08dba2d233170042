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
    let mut p = Planner::resume(config(opts), None, Some(1)).unwrap();
    let mut out = Vec::new();
    for (i, w) in watermarks.iter().enumerate() {
        out.extend(p.process(i as i64 + 1, 0, *w).unwrap());
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
    let mut p = Planner::resume(config(&opts), None, Some(1)).unwrap();
    // 2023-07-18T17:00Z is 2023-07-19 01:00 in Shanghai: the previous day is the 18th.
    let d = p.process(1, utc("2023-07-18T17:00:00"), Some(0)).unwrap();
    assert_eq!(
        d,
        Some(Decision::Tag {
            name: "2023-07-18".into(),
            snapshot_id: 1
        })
    );
    // 2023-07-19T15:59Z is 23:59 local: not yet the end of the 19th.
    assert_eq!(
        p.process(2, utc("2023-07-19T15:59:00"), None).unwrap(),
        None
    );
    assert_eq!(
        p.process(3, utc("2023-07-19T16:00:00"), None).unwrap(),
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
    let mut p = Planner::resume(cfg.clone(), Some(last.clone()), Some(10)).unwrap();
    p.jump_to(10);
    assert_eq!(p.next_snapshot(), 10);
    // Snapshot 10 at 15:20 ends periods 12, 13 and 14, but an expired snapshot may have
    // ended 14 first.
    assert_eq!(
        p.process(10, 0, Some(utc("2023-07-18T15:20:00"))).unwrap(),
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
    assert_eq!(
        p.process(11, 0, Some(utc("2023-07-18T15:50:00"))).unwrap(),
        None
    );
    assert_eq!(
        p.process(12, 0, Some(utc("2023-07-18T16:05:00"))).unwrap(),
        Some(Decision::Tag {
            name: "2023-07-18 15".into(),
            snapshot_id: 12
        })
    );
    // A first retained snapshot that ends no period proves the expired ones did not
    // either: Java's restore scenario (testTag) then tags exactly as Java.
    let mut p = Planner::resume(cfg.clone(), Some(last), Some(10)).unwrap();
    p.jump_to(10);
    assert_eq!(
        p.process(10, 0, Some(utc("2023-07-18T12:50:00"))).unwrap(),
        None
    );
    assert_eq!(
        p.process(11, 0, Some(utc("2023-07-18T13:05:00"))).unwrap(),
        Some(Decision::Tag {
            name: "2023-07-18 12".into(),
            snapshot_id: 11
        })
    );
    // No automatic tag yet and snapshot 1 expired: the first period is missed too.
    let mut p = Planner::resume(cfg, None, Some(5)).unwrap();
    assert_eq!(
        p.process(5, 0, Some(utc("2023-07-18T12:30:00"))).unwrap(),
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
        let mut one = Planner::resume(cfg.clone(), None, Some(1)).unwrap();
        let expected: Vec<Decision> = times
            .iter()
            .enumerate()
            .filter_map(|(i, w)| one.process(i as i64 + 1, 0, Some(*w)).unwrap())
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
            let mut p = Planner::resume(cfg.clone(), last, Some(1)).unwrap();
            // Re-walk from where the tags say, up to the next cut.
            let end = (i + 1..times.len()).find(|j| cuts[*j]).unwrap_or(times.len());
            while (p.next_snapshot() as usize) <= end {
                let id = p.next_snapshot();
                if let Some(d) = p.process(id, 0, Some(times[id as usize - 1])).unwrap() {
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

/// The daemon's next wake-up for `opts` at `now` (UTC), as a UTC time.
fn wake(opts: &[(&str, &str)], now: &str) -> Option<String> {
    let at = config(opts).next_period_end_millis(utc(now))?;
    chrono::DateTime::from_timestamp_millis(at).map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
}

#[test]
fn wake_up_is_the_next_period_end_plus_delay_not_yet_due() {
    let daily = [
        ("tag.automatic-creation", "process-time"),
        ("sink.process-time-zone", "UTC"),
    ];
    let mut daily_delay = daily.to_vec();
    daily_delay.push(("tag.creation-delay", "10 min"));
    let w = |opts: &[(&str, &str)], now: &str| wake(opts, now).unwrap();
    // No delay: the coming midnight; at midnight itself that day's tag is due now, so the
    // next one.
    assert_eq!(w(&daily, "2024-01-01T23:00:00"), "2024-01-02T00:00:01");
    assert_eq!(w(&daily, "2024-01-02T00:00:00"), "2024-01-03T00:00:01");
    assert_eq!(w(&daily, "2024-01-02T00:05:00"), "2024-01-03T00:00:01");
    // With a delay: before the boundary, the boundary plus the delay.
    assert_eq!(
        w(&daily_delay, "2024-01-01T23:00:00"),
        "2024-01-02T00:10:01"
    );
    // Inside the delay window the period that just ended is not due yet: its moment, not
    // a day later.
    assert_eq!(
        w(&daily_delay, "2024-01-02T00:00:00"),
        "2024-01-02T00:10:01"
    );
    assert_eq!(
        w(&daily_delay, "2024-01-02T00:09:59"),
        "2024-01-02T00:10:01"
    );
    // Exactly at boundary + delay it is due (Java: time - delay >= end): the next one.
    assert_eq!(
        w(&daily_delay, "2024-01-02T00:10:00"),
        "2024-01-03T00:10:01"
    );
    assert_eq!(
        w(&daily_delay, "2024-01-02T12:00:00"),
        "2024-01-03T00:10:01"
    );

    let hourly = [
        ("tag.automatic-creation", "process-time"),
        ("sink.process-time-zone", "UTC"),
        ("tag.creation-period", "hourly"),
        ("tag.creation-delay", "10 min"),
    ];
    assert_eq!(w(&hourly, "2024-01-02T09:59:00"), "2024-01-02T10:10:01");
    assert_eq!(w(&hourly, "2024-01-02T10:05:00"), "2024-01-02T10:10:01");
    assert_eq!(w(&hourly, "2024-01-02T10:10:00"), "2024-01-02T11:10:01");
    assert_eq!(
        w(&hourly[..3], "2024-01-02T10:05:00"),
        "2024-01-02T11:00:01"
    );

    // Another zone: Shanghai midnight is 16:00Z.
    let shanghai = [
        ("tag.automatic-creation", "process-time"),
        ("sink.process-time-zone", "Asia/Shanghai"),
        ("tag.creation-delay", "1 h"),
    ];
    assert_eq!(w(&shanghai, "2024-01-01T15:30:00"), "2024-01-01T17:00:01");
    assert_eq!(w(&shanghai, "2024-01-01T16:30:00"), "2024-01-01T17:00:01");
    assert_eq!(w(&shanghai, "2024-01-01T17:00:00"), "2024-01-02T17:00:01");

    // Watermark mode follows the data, not the clock.
    assert_eq!(
        wake(
            &[("tag.automatic-creation", "watermark")],
            "2024-01-01T23:00:00"
        ),
        None
    );
}

#[test]
fn wake_up_across_daylight_saving_changes() {
    let berlin = |period: &'static str| {
        [
            ("tag.automatic-creation", "process-time"),
            ("sink.process-time-zone", "Europe/Berlin"),
            ("tag.creation-period", period),
        ]
    };
    let w = |opts: &[(&str, &str)], now: &str| wake(opts, now).unwrap();
    // 2024-03-31 02:00 CET jumps to 03:00 CEST (01:00Z). At 01:30 CET the hour ending at
    // 02:00 is due when the wall clock passes 02:00: at the jump.
    assert_eq!(
        w(&berlin("hourly"), "2024-03-31T00:30:00"),
        "2024-03-31T01:00:01"
    );
    // 2024-10-27 03:00 CEST goes back to 02:00 CET (01:00Z). The hour ending at 03:00 is
    // due when the clock shows 03:00 CET (02:00Z), from the first 02:10 (CEST, 00:10Z) as
    // from the second (CET, 01:10Z).
    assert_eq!(
        w(&berlin("hourly"), "2024-10-27T00:10:00"),
        "2024-10-27T02:00:01"
    );
    assert_eq!(
        w(&berlin("hourly"), "2024-10-27T01:10:00"),
        "2024-10-27T02:00:01"
    );
    // The day of 2024-10-27 has 25 hours: its end is 23:00Z, not 22:00Z.
    assert_eq!(
        w(&berlin("daily"), "2024-10-26T23:00:00"),
        "2024-10-27T23:00:01"
    );
}

#[test]
fn watermarks_are_read_in_the_watermark_zone() {
    // Java's WatermarkExtractor: the watermark instant in sink.watermark-time-zone.
    let hourly = [
        ("tag.automatic-creation", "watermark"),
        ("tag.creation-period", "hourly"),
        ("sink.watermark-time-zone", "Asia/Shanghai"),
    ];
    let w = [
        "2023-07-18T04:12:00", // 12:12 in Shanghai
        "2023-07-18T04:59:00",
        "2023-07-18T05:00:00",
        "2023-07-18T06:30:00",
    ]
    .map(|s| Some(utc(s)));
    assert_eq!(
        names(&hourly, &w),
        ["2023-07-18 11", "2023-07-18 12", "2023-07-18 13"]
    );
    let daily = [
        ("tag.automatic-creation", "watermark"),
        ("sink.watermark-time-zone", "-08:00"),
    ];
    // 2023-07-19T07:00Z is 2023-07-18 23:00 at -08:00: the previous day is the 17th; at
    // 08:00Z the 19th begins there and the 18th is tagged.
    let w = [
        "2023-07-19T07:00:00",
        "2023-07-19T07:59:00",
        "2023-07-19T08:00:00",
    ]
    .map(|s| Some(utc(s)));
    assert_eq!(names(&daily, &w), ["2023-07-17", "2023-07-18"]);
    // The process-time zone does not apply in watermark mode.
    let mut mixed = daily.to_vec();
    mixed.push(("sink.process-time-zone", "Asia/Shanghai"));
    assert_eq!(names(&mixed, &w), ["2023-07-17", "2023-07-18"]);
}

#[test]
fn huge_durations_are_errors_never_panics() {
    let err = |opts: &[(&str, &str)]| {
        let get = |k: &str| {
            opts.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        AutoTagConfig::from_options(&get).unwrap_err()
    };
    let e = err(&[
        ("tag.automatic-creation", "process-time"),
        ("tag.creation-period-duration", "100000000 d"),
    ]);
    assert!(
        e.contains("tag.creation-period-duration (100000000 d) is too long"),
        "{e}"
    );
    let e = err(&[
        ("tag.automatic-creation", "process-time"),
        ("tag.creation-delay", "100000000 d"),
    ]);
    assert!(e.contains("tag.creation-delay"), "{e}");
    let e = err(&[
        ("tag.automatic-creation", "watermark"),
        ("tag.num-retained-max", "0"),
    ]);
    assert!(e.contains("tag.num-retained-max = 0"), "{e}");

    // A watermark at the end of the calendar: the period after it does not exist.
    let mut p = Planner::resume(config(&HOURLY_WM), None, Some(1)).unwrap();
    let end = NaiveDateTime::MAX.and_utc().timestamp_millis();
    assert!(matches!(
        p.process(1, 0, Some(end)),
        Ok(Some(Decision::Tag { .. }))
    ));
    let e = p.process(2, 0, Some(end)).unwrap_err().to_string();
    assert!(
        e.contains("snapshot 2 at") && e.contains("tag.creation-period = 1 h"),
        "{e}"
    );
    // A configuration built by hand with a delay no option parser would accept.
    let mut cfg = config(&[("tag.automatic-creation", "process-time")]);
    cfg.delay = Duration::MAX;
    assert_eq!(cfg.next_period_end_millis(utc("2024-01-01T00:00:00")), None);
    let mut p = Planner::resume(cfg, None, Some(1)).unwrap();
    assert!(p.process(1, utc("2024-01-01T00:00:00"), None).is_ok());
    let e = p.process(2, utc("2024-01-02T00:00:00"), None).unwrap_err();
    assert!(e.to_string().contains("tag.creation-delay"), "{e}");
}

/// A period shorter than a minute would give two periods the same minute-granular name: it is
/// refused, naming the smallest allowed value. From a minute up, every period's name differs.
#[test]
fn sub_minute_period_durations_are_refused() {
    let try_with = |d: &str| {
        let opts = [
            ("tag.automatic-creation", "process-time"),
            ("tag.creation-period-duration", d),
        ];
        let get = |k: &str| {
            opts.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        AutoTagConfig::from_options(&get).map(|_| ())
    };
    for d in ["100 ms", "59 s", "59999 ms"] {
        let e = try_with(d).unwrap_err();
        assert!(e.contains("smallest allowed value is 1 min"), "{d}: {e}");
    }
    for d in ["1 min", "61 s", "90 s"] {
        assert!(try_with(d).is_ok(), "{d}");
    }
    // 90 seconds: consecutive period starts over a day all get distinct names.
    let every = Period::Every(Duration::from_secs(90));
    let mut t = NaiveDateTime::default();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..960 {
        assert!(seen.insert(every.tag_name(t)), "{t}");
        t = every.next_tag_time(t).unwrap();
    }
}
