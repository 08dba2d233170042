//! Multi-table runs (`maintain`, `expire-snapshots`, `expire-tags`, `remove-orphan-files`,
//! `check` over several TABLEs or `--warehouse`): on a warehouse of pypaimon and Java fixture
//! copies in two databases, one of them damaged, every readable table ends exactly as the
//! single-table command leaves a copy of it (same report, same remaining files), the damaged
//! one reports its error and keeps every file, the filters pick exactly the expected tables,
//! and `--json` prints exactly one document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{copy_dir, fixture, repo, stderr, stdout, tagkeeper};
use crate::consumers::file_set;

/// The tables of the warehouse: `db.table` and the fixture it is a copy of.
const TABLES: [(&str, &str); 4] = [
    ("sales.orders", "tagged"),
    ("sales.returns", "java:pk_compacted"),
    ("web.events_1", "append_many"),
    ("web.events_broken", "partitioned_overwrite"),
];

/// A cutoff after every fixture's snapshots: with --retain-min 1 everything but the latest
/// snapshot may expire, the same on every run.
const FAR: &str = "2100-01-01T00:00:00Z";

fn source(fixture_name: &str) -> PathBuf {
    match fixture_name.strip_prefix("java:") {
        Some(j) => repo().join("testdata/java/warehouse/default.db").join(j),
        None => fixture(fixture_name),
    }
}

fn table_dir(root: &Path, qualified: &str) -> PathBuf {
    let (db, t) = qualified.split_once('.').unwrap();
    root.join(format!("{db}.db")).join(t)
}

/// A warehouse with the four tables (events_broken's oldest snapshot unreadable) and a
/// directory that is no table; and, separately, an undamaged copy of each readable table to
/// run the single-table command on.
fn warehouse() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let reference = dir.path().join("reference");
    for (name, fixture_name) in TABLES {
        copy_dir(&source(fixture_name), &table_dir(&wh, name));
        copy_dir(&source(fixture_name), &reference.join(name));
    }
    std::fs::write(
        table_dir(&wh, "web.events_broken").join("snapshot/snapshot-1"),
        b"{ not json",
    )
    .unwrap();
    std::fs::create_dir_all(wh.join("web.db/not_a_table/x")).unwrap();
    (dir, wh, reference)
}

/// Exactly one JSON document on stdout.
fn one_document(out: &std::process::Output) -> Value {
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON: {e}: {}", stdout(out)));
    assert_eq!(docs.len(), 1, "{}", stdout(out));
    docs.into_iter().next().unwrap()
}

/// Each table's name (the last two path segments) and outcome: `ok` or the error kind.
fn outcomes(doc: &Value) -> Vec<(String, String)> {
    doc["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no tables: {doc:#}"))
        .iter()
        .map(|t| {
            let loc = t["table"].as_str().unwrap();
            let mut parts = loc.rsplit('/');
            let table = parts.next().unwrap();
            let db = parts.next().unwrap().trim_end_matches(".db");
            let outcome = if t["ok"] == true {
                assert!(t.get("error").is_none(), "{t}");
                "ok".to_string()
            } else {
                t["error"]["kind"].as_str().unwrap().to_string()
            };
            (format!("{db}.{table}"), outcome)
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn result_of<'a>(doc: &'a Value, qualified: &str) -> &'a Value {
    let (db, t) = qualified.split_once('.').unwrap();
    let suffix = format!("/{db}.db/{t}");
    &doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["table"].as_str().unwrap().ends_with(&suffix))
        .unwrap_or_else(|| panic!("{qualified} not in {doc:#}"))["result"]
}

/// Run the single-table form of `args` (the table goes where `TABLE` is) on the reference copy
/// of `qualified`: its one document.
fn single(args: &[&str], reference: &Path, qualified: &str) -> (Option<i32>, Value) {
    let table = reference.join(qualified);
    let table = table.to_str().unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "TABLE" { table } else { a })
        .collect();
    let out = tagkeeper(&args);
    (out.status.code(), one_document(&out))
}

/// A report without the time it took (remove-orphan-files reports it).
fn without_duration(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("duration_millis");
    }
    v
}

/// The files of every table of the warehouse.
fn all_files(wh: &Path) -> BTreeMap<&'static str, BTreeSet<String>> {
    TABLES
        .iter()
        .map(|(name, _)| (*name, file_set(&table_dir(wh, name))))
        .collect()
}

/// expire-snapshots over the warehouse: each readable table exactly as expire-snapshots on it
/// alone (report and remaining files), the damaged one reported with kind `corrupt` and not
/// touched, exit 2 (`incomplete`), one document; the summary adds the tables' reports up.
#[test]
fn expire_snapshots_over_a_warehouse_is_each_table_alone() {
    let (_d, wh, reference) = warehouse();
    let before = all_files(&wh);
    let flags = ["--retain-min", "1", "--older-than", FAR];
    let w = wh.to_str().unwrap();
    let mut args = vec![
        "--json",
        "expire-snapshots",
        "--warehouse",
        w,
        "--parallel",
        "3",
    ];
    args.extend(flags);
    let out = tagkeeper(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(
        outcomes(&doc),
        pairs(&[
            ("sales.orders", "ok"),
            ("sales.returns", "ok"),
            ("web.events_1", "ok"),
            ("web.events_broken", "corrupt"),
        ]),
        "database, then table order; not_a_table skipped: {doc:#}"
    );
    assert_eq!(doc["error"]["kind"], "incomplete", "{doc:#}");
    assert_eq!(doc["error"]["exit_code"], 2, "{doc:#}");
    let broken = &doc["tables"][3];
    assert_eq!(broken["error"]["exit_code"], 2, "{broken}");
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("snapshot-1"),
        "{broken}"
    );
    assert!(broken.get("result").is_none(), "{broken}");

    let mut single_args = vec!["--json", "expire-snapshots", "TABLE"];
    single_args.extend(flags);
    let (mut snapshots, mut files, mut bytes) = (0, 0, 0);
    for name in ["sales.orders", "sales.returns", "web.events_1"] {
        let (code, alone) = single(&single_args, &reference, name);
        assert_eq!(code, Some(0), "{name}: {alone:#}");
        assert_eq!(result_of(&doc, name), &alone, "{name}");
        let expired = alone["expired_snapshots"].as_array().unwrap().len();
        assert!(expired > 0, "{name} expires something: {alone:#}");
        snapshots += expired as i64;
        for t in alone["totals"].as_object().unwrap().values() {
            files += t[0].as_i64().unwrap();
            bytes += t[1].as_i64().unwrap();
        }
        assert_eq!(
            file_set(&table_dir(&wh, name)),
            file_set(&reference.join(name)),
            "{name}: the same files remain"
        );
        assert_ne!(file_set(&table_dir(&wh, name)), before[name], "{name}");
    }
    assert_eq!(
        file_set(&table_dir(&wh, "web.events_broken")),
        before["web.events_broken"],
        "nothing of the damaged table deleted"
    );
    assert_eq!(
        doc["summary"],
        serde_json::json!({
            "tables": 4, "ok": 3, "failed": 1,
            "totals": {"snapshots": snapshots, "files": files, "bytes": bytes}
        }),
        "{doc:#}"
    );
}

/// --include / --exclude select exactly the tables whose `db.table` match, over a warehouse
/// and over TABLE locations; a failed check (problems found) is exit 1, and the human output
/// is one block per table and a summary line.
#[test]
fn filters_pick_exactly_the_matching_tables() {
    let (_d, wh, _reference) = warehouse();
    let before = all_files(&wh);
    let w = wh.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--json", "check", "--warehouse", w];
        args.extend(extra);
        let out = tagkeeper(&args);
        (out.status.code(), one_document(&out))
    };

    let (code, doc) = run(&["--include", "sales.*"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(
        outcomes(&doc),
        pairs(&[("sales.orders", "ok"), ("sales.returns", "ok")])
    );
    assert!(doc.get("error").is_none(), "{doc:#}");

    let (code, doc) = run(&["--include", "*.events_*", "--exclude", "*_broken"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(outcomes(&doc), pairs(&[("web.events_1", "ok")]));

    let (code, doc) = run(&["--database", "web"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(
        outcomes(&doc),
        pairs(&[
            ("web.events_1", "ok"),
            ("web.events_broken", "problems_found")
        ])
    );
    assert_eq!(doc["error"]["kind"], "problems_found", "{doc:#}");
    // A report that ends in a failure keeps its report.
    assert_eq!(doc["tables"][1]["result"]["whole"], false, "{doc:#}");

    let (code, doc) = run(&["--include", "s?les.or*", "--include", "web.events_1"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(
        outcomes(&doc),
        pairs(&[("sales.orders", "ok"), ("web.events_1", "ok")])
    );

    // Nothing matches: an empty run, with a warning naming the pattern.
    let out = tagkeeper(&["--json", "check", "--warehouse", w, "--include", "nope.*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(outcomes(&doc), pairs(&[]));
    assert!(
        stderr(&out).contains("--include \"nope.*\" matched no table"),
        "{}",
        stderr(&out)
    );

    // TABLE locations, filtered by their last two segments, in the order given.
    let t = |n: &str| table_dir(&wh, n).to_str().unwrap().to_string();
    let (returns, orders, events) = (t("sales.returns"), t("sales.orders"), t("web.events_1"));
    let out = tagkeeper(&[
        "check",
        &returns,
        &orders,
        &events,
        "--exclude",
        "sales.orders",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let headers: Vec<&str> = text.lines().filter(|l| !l.starts_with("  ")).collect();
    let (mut snapshots, mut data_files) = (0, 0);
    for table in [&returns, &events] {
        let alone = one_document(&tagkeeper(&["--json", "check", table]));
        snapshots += alone["snapshots"].as_u64().unwrap();
        data_files += alone["data_files"].as_u64().unwrap();
    }
    assert_eq!(
        headers,
        [
            format!("{returns}: ok"),
            format!("{events}: ok"),
            format!(
                "2 table(s): 2 ok, 0 failed; problems: 0, snapshots: {snapshots}, data_files: \
                 {data_files}"
            )
        ],
        "{text}"
    );
    assert_eq!(all_files(&wh), before, "check changes nothing");
}

/// Dry runs over several TABLEs: each table's plan, exactly the single-table dry run's, and
/// nothing changed: maintain, expire-tags, expire-snapshots and remove-orphan-files.
#[test]
fn dry_runs_print_each_tables_plan_and_change_nothing() {
    let (_d, wh, reference) = warehouse();
    let before = all_files(&wh);
    let names = ["sales.orders", "sales.returns", "web.events_1"];
    let locations: Vec<String> = names
        .iter()
        .map(|n| table_dir(&wh, n).to_str().unwrap().to_string())
        .collect();
    // An absolute cutoff, so that both runs report the same one.
    let cutoff = (chrono::Utc::now().timestamp_millis() - 2 * 3_600_000).to_string();
    for command in [
        &["maintain", "--dry-run"][..],
        &["expire-tags", "--dry-run", "--older-than", FAR],
        &["expire-snapshots", "--dry-run", "--retain-min", "1"],
        &["remove-orphan-files", "--dry-run", "--older-than", &cutoff],
    ] {
        let mut args = vec!["--json", command[0]];
        args.extend(locations.iter().map(String::as_str));
        args.extend(&command[1..]);
        let out = tagkeeper(&args);
        assert_eq!(out.status.code(), Some(0), "{command:?}: {}", stderr(&out));
        let doc = one_document(&out);
        assert_eq!(
            outcomes(&doc),
            pairs(&[
                ("sales.orders", "ok"),
                ("sales.returns", "ok"),
                ("web.events_1", "ok")
            ])
        );
        let mut single_args = vec!["--json", command[0], "TABLE"];
        single_args.extend(&command[1..]);
        for name in names {
            let (code, alone) = single(&single_args, &reference, name);
            assert_eq!(code, Some(0), "{command:?} {name}: {alone:#}");
            assert_eq!(
                without_duration(result_of(&doc, name)),
                without_duration(&alone),
                "{command:?} {name}"
            );
            assert_eq!(alone["dry_run"], true);
        }
        assert_eq!(all_files(&wh), before, "{command:?} changed nothing");
    }
    // The text form: a block per table, the single-table text indented.
    let out = tagkeeper(&[
        "expire-tags",
        &locations[0],
        &locations[2],
        "--dry-run",
        "--older-than",
        FAR,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alone = tagkeeper(&[
        "expire-tags",
        reference.join("sales.orders").to_str().unwrap(),
        "--dry-run",
        "--older-than",
        FAR,
    ]);
    let indented: String = stdout(&alone).lines().map(|l| format!("  {l}\n")).collect();
    let alone = one_document(&tagkeeper(&[
        "--json",
        "expire-tags",
        reference.join("sales.orders").to_str().unwrap(),
        "--dry-run",
        "--older-than",
        FAR,
    ]));
    let tags = alone["deleted_tags"].as_array().unwrap().len();
    let files: u64 = alone["deleted"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["files"].as_u64().unwrap())
        .sum();
    // Every tag goes, but their snapshots are retained and keep every file.
    assert_eq!((tags, files), (5, 0), "{alone:#}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "{}: ok\n{indented}{}: ok\n",
            locations[0], locations[2]
        )),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "2 table(s): 2 ok, 0 failed; tags: {tags}, files: {files}, bytes: "
        )),
        "{text}"
    );
}

/// A TABLE that is not a table fails alone (exit 1, `invalid_location`), the others are done;
/// options that only make sense for one table are refused before anything is done.
#[test]
fn per_table_options_are_refused_and_a_missing_table_fails_alone() {
    let (_d, wh, reference) = warehouse();
    let before = all_files(&wh);
    let orders = table_dir(&wh, "sales.orders");
    let orders = orders.to_str().unwrap();
    let missing = wh.join("sales.db/missing");
    let missing = missing.to_str().unwrap();
    let w = wh.to_str().unwrap();
    let plan = wh.join("plan.json");
    let plan = plan.to_str().unwrap();
    for args in [
        &["expire-snapshots", orders, missing, "--plan-out", plan][..],
        &["expire-tags", "--warehouse", w, "--plan-out", plan],
        &["remove-orphan-files", "--warehouse", w, "--plan-out", plan],
        &["--branch", "b", "maintain", orders, missing],
        &["--branch", "b", "check", "--warehouse", w],
        &["expire-snapshots", orders, orders],
        &["check", orders, "--parallel", "0"],
        &["check", "--database", "sales"],
        &["check", orders, "--warehouse", w],
    ] {
        let mut with_json = vec!["--json"];
        with_json.extend(args);
        let out = tagkeeper(&with_json);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let doc = one_document(&out);
        assert_eq!(
            doc["error"]["kind"], "invalid_argument",
            "{args:?}: {doc:#}"
        );
        assert!(doc.get("tables").is_none(), "{args:?}: {doc:#}");
    }
    assert!(!Path::new(plan).exists());
    assert_eq!(all_files(&wh), before);

    let out = tagkeeper(&[
        "--json",
        "expire-tags",
        orders,
        missing,
        "--older-than",
        FAR,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = one_document(&out);
    assert_eq!(
        outcomes(&doc),
        pairs(&[
            ("sales.orders", "ok"),
            ("sales.missing", "invalid_location")
        ])
    );
    assert_eq!(doc["error"]["kind"], "invalid_argument", "{doc:#}");
    let (code, alone) = single(
        &["--json", "expire-tags", "TABLE", "--older-than", FAR],
        &reference,
        "sales.orders",
    );
    assert_eq!(code, Some(0), "{alone:#}");
    assert_eq!(result_of(&doc, "sales.orders"), &alone);
    assert_eq!(
        file_set(&table_dir(&wh, "sales.orders")),
        file_set(&reference.join("sales.orders"))
    );
}

/// Locations are printed redacted: a known secret that happens to be part of a path is masked
/// in every table's entry, in the text form and the JSON form alike.
#[test]
fn locations_are_redacted() {
    let secret = "Sup3rSecretValue42";
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join(secret).join("wh");
    copy_dir(&fixture("tagged"), &wh.join("sales.db/orders"));
    let w = wh.to_str().unwrap();
    for json in [true, false] {
        let mut args = vec!["check", "--warehouse", w];
        if json {
            args.insert(0, "--json");
        }
        // A secret of the environment (store options apply to object-store URLs only).
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
            .args(&args)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.contains(secret), "{text}");
        let masked = format!("{}/***/wh/sales.db/orders", dir.path().display());
        if json {
            let doc = one_document(&out);
            assert_eq!(doc["tables"][0]["table"], masked.as_str(), "{doc:#}");
        } else {
            assert!(text.starts_with(&format!("{masked}: ok\n")), "{text}");
        }
    }
}

/// Every command over the warehouse (not a dry run) does to each table, the damaged one
/// included, exactly what the single-table command does to a copy of it: the same report or
/// the same error kind and exit code, and the same remaining files.
#[test]
fn every_command_over_a_warehouse_is_each_table_alone() {
    let cutoff = (chrono::Utc::now().timestamp_millis() - 2 * 3_600_000).to_string();
    // Each command, how the damaged table ends (alone too, as checked below) and the exit
    // code of the run. maintain and expire-tags never read the damaged snapshot: with the
    // table's options (snapshot.num-retained.min 10) none of its 7 snapshots expires.
    for (command, broken, exit) in [
        (&["maintain"][..], "ok", 0),
        (&["expire-tags", "--older-than", FAR], "ok", 0),
        (
            &["remove-orphan-files", "--older-than", &cutoff],
            "aborted",
            2,
        ),
        (&["check"], "problems_found", 1),
    ] {
        let (_d, wh, reference) = warehouse();
        // The reference copy of the damaged table, damaged alike.
        std::fs::write(
            reference.join("web.events_broken/snapshot/snapshot-1"),
            b"{ not json",
        )
        .unwrap();
        let mut args = vec!["--json", command[0], "--warehouse", wh.to_str().unwrap()];
        args.extend(&command[1..]);
        let out = tagkeeper(&args);
        let doc = one_document(&out);
        let mut single_args = vec!["--json", command[0], "TABLE"];
        single_args.extend(&command[1..]);
        let mut worst = 0;
        for (i, (name, _)) in TABLES.iter().enumerate() {
            let (code, alone) = single(&single_args, &reference, name);
            let entry = &doc["tables"][i];
            assert!(
                entry["table"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{}", name.replacen('.', ".db/", 1))),
                "{command:?}: {entry}"
            );
            worst = worst.max(code.unwrap());
            match alone.get("error") {
                None => {
                    assert_eq!(entry["ok"], true, "{command:?} {name}: {entry}");
                    assert_eq!(
                        without_duration(&entry["result"]),
                        without_duration(&alone),
                        "{command:?} {name}"
                    );
                }
                Some(error) => {
                    assert_eq!(entry["ok"], false, "{command:?} {name}: {entry}");
                    assert_eq!(entry["error"]["kind"], error["kind"], "{command:?} {name}");
                    assert_eq!(entry["error"]["exit_code"], code.unwrap(), "{command:?}");
                    // A failure after the report keeps the report, as alone.
                    let mut report = alone.clone();
                    report.as_object_mut().unwrap().remove("error");
                    if report.as_object().unwrap().is_empty() {
                        assert!(entry.get("result").is_none(), "{command:?} {name}");
                    } else {
                        assert_eq!(
                            without_duration(&entry["result"]),
                            without_duration(&report),
                            "{command:?} {name}"
                        );
                    }
                }
            }
            assert_eq!(
                file_set(&table_dir(&wh, name)),
                file_set(&reference.join(name)),
                "{command:?} {name}: the same files remain"
            );
        }
        assert_eq!(doc["tables"].as_array().unwrap().len(), TABLES.len());
        assert_eq!(
            out.status.code(),
            Some(worst),
            "{command:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            outcomes(&doc),
            pairs(&[
                ("sales.orders", "ok"),
                ("sales.returns", "ok"),
                ("web.events_1", "ok"),
                ("web.events_broken", broken),
            ]),
            "{command:?}"
        );
        assert_eq!(worst, exit, "{command:?}");
        let overall = match exit {
            0 => Value::Null,
            1 => serde_json::json!({"kind": "problems_found", "exit_code": 1}),
            _ => serde_json::json!({"kind": "incomplete", "exit_code": 2}),
        };
        let got = doc.get("error").map_or(
            Value::Null,
            |e| serde_json::json!({"kind": e["kind"], "exit_code": e["exit_code"]}),
        );
        assert_eq!(got, overall, "{command:?}");
        let failed = usize::from(broken != "ok");
        assert_eq!(
            (&doc["summary"]["ok"], &doc["summary"]["failed"]),
            (&Value::from(4 - failed), &Value::from(failed)),
            "{command:?}"
        );
    }
}
