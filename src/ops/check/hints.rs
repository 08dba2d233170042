//! Java's hint rules applied to a listing of `snapshot/` or `changelog/`: which ids a reader
//! sees, and what about the hints and ids would mislead one. Pure: ids and hint bytes in,
//! findings out. Ids come from file names, so any value up to `i64::MAX` is possible: all
//! arithmetic is checked and gaps are reported as ranges between adjacent listed ids, so the
//! cost and the report size depend on the files that exist, never on the ids' magnitude.

use crate::format::ids::SnapshotId;

use super::{Problem, ProblemKind};

/// Gap ranges named in a report; the rest are counted.
const SHOWN_GAPS: usize = 10;

/// What a reader of one snapshot (or changelog) directory sees (pure analysis of a listing and
/// the hints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotDir {
    /// Ids a reader can reach: from the effective earliest to the effective latest.
    pub visible: Vec<SnapshotId>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// A hint as Java reads it (`HintFileUtils`): a decimal number, used only when positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    Absent,
    /// Zero or negative (tagkeeper's rollback writes `-1` when no changelog remains): Java
    /// ignores it and lists, as if there were no hint.
    Ignored,
    Id(i64),
    Garbage,
}

fn read_hint(raw: Option<&[u8]>) -> Hint {
    let Some(raw) = raw else { return Hint::Absent };
    match std::str::from_utf8(raw)
        .ok()
        .map(str::trim)
        .map(str::parse::<i64>)
    {
        Some(Ok(id)) if id > 0 => Hint::Id(id),
        Some(Ok(_)) => Hint::Ignored,
        _ => Hint::Garbage,
    }
}

/// [`analyze_versioned_dir`] for `snapshot/`.
pub fn analyze_snapshot_dir(
    dir: &str,
    ids: &[SnapshotId],
    latest_hint: Option<&[u8]>,
    earliest_hint: Option<&[u8]>,
) -> SnapshotDir {
    analyze_versioned_dir(dir, "snapshot", ids, latest_hint, earliest_hint)
}

/// Apply Java's hint rules (paimon-format.md §1, `HintFileUtils`) to a listing of a versioned
/// directory — `snapshot/` (`noun` "snapshot") or `changelog/` ("changelog"); `dir` is its key,
/// for messages: `LATEST = h` is used when `<noun>-(h+1)` does not exist, without checking
/// `<noun>-h`; `EARLIEST = h` is used when `<noun>-h` exists; otherwise the listing decides.
pub fn analyze_versioned_dir(
    dir: &str,
    noun: &str,
    ids: &[SnapshotId],
    latest_hint: Option<&[u8]>,
    earliest_hint: Option<&[u8]>,
) -> SnapshotDir {
    let mut out = SnapshotDir::default();
    let mut ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let has = |id: i64| ids.binary_search(&id).is_ok();
    // The id after `h` exists (there is none after `i64::MAX`).
    let has_next = |h: i64| h.checked_add(1).is_some_and(has);
    let mut hint = |name: &str, raw: Option<&[u8]>| -> Option<i64> {
        match read_hint(raw) {
            Hint::Id(h) => Some(h),
            Hint::Absent | Hint::Ignored => None,
            Hint::Garbage => {
                out.problems.push(Problem {
                    kind: ProblemKind::Hint,
                    path: format!("{dir}/{name}"),
                    detail: format!("does not hold a {noun} id"),
                });
                None
            }
        }
    };
    let latest_hint = hint("LATEST", latest_hint);
    let earliest_hint = hint("EARLIEST", earliest_hint);
    let (Some(&min), Some(&max)) = (ids.first(), ids.last()) else {
        for (name, h) in [("LATEST", latest_hint), ("EARLIEST", earliest_hint)] {
            if let Some(h) = h {
                out.problems.push(Problem {
                    kind: ProblemKind::Hint,
                    path: format!("{dir}/{name}"),
                    detail: format!("names {noun} {h}, but there is no {noun}"),
                });
            }
        }
        return out;
    };
    let latest = match latest_hint {
        Some(h) if !has_next(h) && !has(h) => {
            out.problems.push(Problem {
                kind: ProblemKind::Hint,
                path: format!("{dir}/LATEST"),
                detail: format!(
                    "names {noun} {h}, which does not exist (nor does the next one): readers take \
                     it as the latest and fail"
                ),
            });
            max
        }
        Some(h) if !has_next(h) => h,
        Some(h) if h != max => {
            out.warnings.push(format!(
                "{dir}/LATEST names {noun} {h}, but the latest is {max} (a stale hint; readers list)"
            ));
            max
        }
        _ => max,
    };
    let earliest = match earliest_hint {
        Some(h) if has(h) => h,
        Some(h) => {
            out.warnings.push(format!(
                "{dir}/EARLIEST names {noun} {h}, which does not exist (a stale hint; readers list)"
            ));
            min
        }
        None => min,
    };
    if earliest > latest {
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/EARLIEST"),
            detail: format!(
                "the earliest {noun} readers see ({earliest}) is after the latest ({latest})"
            ),
        });
        return out;
    }
    let below: Vec<i64> = ids.iter().copied().filter(|i| *i < earliest).collect();
    if let (Some(a), Some(b)) = (below.first(), below.last()) {
        out.warnings.push(format!(
            "{} {noun}(s) in {a}..={b} lie below EARLIEST ({earliest}): readers do not see them \
             (left by an interrupted expiration); they are not checked",
            below.len()
        ));
    }
    let beyond: Vec<i64> = ids.iter().copied().filter(|i| *i > latest).collect();
    if let (Some(a), Some(b)) = (beyond.first(), beyond.last()) {
        // `latest < a`, so its successor exists as a number.
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/{noun}-{a}"),
            detail: format!(
                "{} {noun}(s) in {a}..={b} lie beyond LATEST ({latest}) and {noun} {} is missing: \
                 the next {noun} written would make them visible again (an interrupted rollback? \
                 run it again)",
                beyond.len(),
                latest.saturating_add(1)
            ),
        });
    }
    let visible: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|i| (earliest..=latest).contains(i))
        .collect();
    // `earliest` and `latest` both exist here, so every missing id lies between two adjacent
    // visible ones.
    let gaps = gaps(&visible);
    if let Some((first, _)) = gaps.first() {
        let missing: u128 = gaps.iter().map(|(a, b)| (b - a) as u128 + 1).sum();
        let shown: Vec<String> = gaps
            .iter()
            .take(SHOWN_GAPS)
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}..={b}")
                }
            })
            .collect();
        let more = gaps.len().saturating_sub(SHOWN_GAPS);
        out.problems.push(Problem {
            kind: ProblemKind::SnapshotIds,
            path: format!("{dir}/{noun}-{first}"),
            detail: format!(
                "{noun}s {earliest}..={latest} have {missing} missing id(s) in {} gap(s): {}{}",
                gaps.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", and {more} more gap(s)")
                } else {
                    String::new()
                }
            ),
        });
    }
    out.visible = visible.into_iter().map(SnapshotId).collect();
    out
}

/// The runs of ids missing between adjacent ids of a sorted, deduplicated list, as inclusive
/// ranges. Linear in the list, whatever the ids.
fn gaps(sorted: &[i64]) -> Vec<(i64, i64)> {
    sorted
        .windows(2)
        .filter_map(|w| {
            // `w[0] < w[1]`, so `w[0] + 1` and `w[1] - 1` cannot overflow.
            let (a, b) = (w[0].checked_add(1)?, w[1].checked_sub(1)?);
            (a <= b).then_some((a, b))
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[i64]) -> Vec<SnapshotId> {
        v.iter().copied().map(SnapshotId).collect()
    }

    fn kinds(d: &SnapshotDir) -> Vec<ProblemKind> {
        d.problems.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn contiguous_ids_and_good_hints_are_whole() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5]), Some(b"5"), Some(b"3"));
        assert_eq!(
            (kinds(&d), d.warnings.len(), d.visible),
            (vec![], 0, ids(&[3, 4, 5]))
        );
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), None, None);
        assert_eq!((kinds(&d), d.visible), (vec![], ids(&[1, 2])));
        let d = analyze_snapshot_dir("snapshot", &[], None, None);
        assert!(d.problems.is_empty() && d.visible.is_empty());
    }

    #[test]
    fn gaps_and_misleading_hints_are_problems() {
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2, 4]), None, None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert!(
            d.problems[0].detail.contains("1 gap(s): 3"),
            "{:?}",
            d.problems
        );
        // LATEST names a missing snapshot whose successor is missing too: Java fails.
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2]), Some(b"4"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &ids(&[1]), Some(b"x"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        let d = analyze_snapshot_dir("snapshot", &[], Some(b"3"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        // An interrupted rollback: LATEST=5, 6 missing, 7 and 8 stranded.
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 7, 8]), Some(b"5"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert_eq!(d.visible, ids(&[5]));
    }

    #[test]
    fn stale_hints_and_leftovers_below_earliest_are_warnings() {
        // LATEST behind with its successor present: readers list. EARLIEST moved first by an
        // interrupted expiration: 3 and 4 are invisible.
        let d = analyze_snapshot_dir("snapshot", &ids(&[3, 4, 5, 6, 7]), Some(b"6"), Some(b"5"));
        assert_eq!(
            (kinds(&d), d.warnings.len()),
            (vec![], 2),
            "{:?}",
            d.warnings
        );
        assert_eq!(d.visible, ids(&[5, 6, 7]));
        let d = analyze_snapshot_dir("snapshot", &ids(&[5, 6]), None, Some(b"2"));
        assert_eq!((kinds(&d), d.warnings.len()), (vec![], 1));
    }

    #[test]
    fn huge_and_far_ids_give_bounded_ranges() {
        const MAX: i64 = i64::MAX;
        // A LATEST hint at the largest id: no successor to probe, no overflow.
        let d = analyze_snapshot_dir("snapshot", &ids(&[MAX]), Some(b"9223372036854775807"), None);
        assert_eq!((kinds(&d), d.visible.clone()), (vec![], ids(&[MAX])));
        let d = analyze_snapshot_dir("snapshot", &ids(&[1]), Some(b"9223372036854775807"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        // snapshot-1 next to snapshot-MAX: one gap range, not 2^63 ids.
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2, MAX]), None, None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert_eq!(d.problems[0].path, "snapshot/snapshot-3");
        assert_eq!(
            d.problems[0].detail,
            "snapshots 1..=9223372036854775807 have 9223372036854775804 missing id(s) in 1 gap(s): \
             3..=9223372036854775806"
        );
        // Stranded beyond LATEST up to MAX.
        let d = analyze_snapshot_dir("snapshot", &ids(&[1, 2, MAX]), Some(b"2"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert!(
            d.problems[0].detail.contains("snapshot 3 is missing"),
            "{:?}",
            d.problems
        );
        // Many gaps: ten named, the rest counted.
        let many: Vec<i64> = (0..30).map(|i| i * 3 + 1).collect();
        let d = analyze_snapshot_dir("snapshot", &ids(&many), None, None);
        assert!(
            d.problems[0]
                .detail
                .starts_with("snapshots 1..=88 have 58 missing id(s) in 29 gap(s): 2..=3, 5..=6,"),
            "{}",
            d.problems[0].detail
        );
        assert!(d.problems[0]
            .detail
            .ends_with(", 29..=30, and 19 more gap(s)"));
    }

    #[test]
    fn changelog_dirs_are_analyzed_alike() {
        let d = analyze_versioned_dir("changelog", "changelog", &ids(&[2, 3, 5]), Some(b"5"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::SnapshotIds]);
        assert_eq!(d.problems[0].path, "changelog/changelog-4");
        assert_eq!(
            d.problems[0].detail,
            "changelogs 2..=5 have 1 missing id(s) in 1 gap(s): 4"
        );
        let d = analyze_versioned_dir("changelog", "changelog", &ids(&[2]), Some(b"7"), None);
        assert_eq!(kinds(&d), vec![ProblemKind::Hint]);
        assert_eq!(d.problems[0].path, "changelog/LATEST");
        // Java ignores a hint that is not positive (tagkeeper's rollback writes -1).
        let d = analyze_versioned_dir("changelog", "changelog", &[], Some(b"-1"), None);
        assert!(d.problems.is_empty() && d.warnings.is_empty());
    }
}
