//! The command line as scripts see it: one JSON document on stdout, the documented shapes,
//! exit codes 0 / 1 / 2, and nothing secret in any output.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::*;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn json_of(args: &[&str]) -> Value {
    let out = tagkeeper(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", stdout(&out)))
}

#[test]
fn snapshots_json_shape() {
    let t = fixture("tagged");
    let v = json_of(&["snapshots", "--json", t.to_str().unwrap()]);
    assert_eq!(keys(&v), set(&["earliest", "latest", "snapshots"]));
    assert_eq!(
        (v["earliest"].as_i64(), v["latest"].as_i64()),
        (Some(1), Some(6))
    );
    let snaps = v["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 6);
    for s in snaps {
        assert_eq!(
            keys(s),
            set(&[
                "id",
                "time_millis",
                "commit_kind",
                "schema_id",
                "total_record_count",
                "delta_record_count",
                "watermark"
            ])
        );
    }
    assert_eq!(snaps[2]["commit_kind"], "APPEND");
    assert_eq!(snaps[5]["total_record_count"], 48);
    assert!(snaps[0]["watermark"].is_null());
}

#[test]
fn tags_json_shape() {
    let t = fixture("tagged");
    let v = json_of(&["--json", "tags", t.to_str().unwrap()]);
    assert_eq!(keys(&v), set(&["tags"]));
    let tags = v["tags"].as_array().unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["daily-3", "first", "latest", "release-a", "release-b"]
    );
    for t in tags {
        assert_eq!(
            keys(t),
            set(&[
                "name",
                "snapshot_id",
                "create_time",
                "time_retained_secs",
                "snapshot_time_millis",
                "expires_at",
                "expired",
                "snapshot_live"
            ])
        );
    }
    assert_eq!(tags[0]["time_retained_secs"], 86400.0);
    assert!(tags[0]["expires_at"].as_str().is_some());
    // daily-3 was created with the fixture, a day's retention long past; the others have none.
    let expired: Vec<bool> = tags
        .iter()
        .map(|t| t["expired"].as_bool().unwrap())
        .collect();
    assert_eq!(expired, [true, false, false, false, false]);
    let text = stdout(&tagkeeper(&["tags", t.to_str().unwrap()]));
    let daily = text.lines().find(|l| l.starts_with("daily-3")).unwrap();
    assert!(daily.trim_end().ends_with("(expired)"), "{text}");
    assert_eq!(tags[0]["snapshot_live"], true);
    let sized = json_of(&["tags", "--json", "--sizes", t.to_str().unwrap()]);
    for t in sized["tags"].as_array().unwrap() {
        for k in ["total_bytes", "exclusive_bytes", "shared_bytes"] {
            assert!(t[k].is_i64(), "{k} in {t}");
        }
    }
    assert!(tags[1]["create_time"].is_null());
}

#[test]
fn files_json_shape_and_selectors() {
    let t = fixture("tagged");
    let t = t.to_str().unwrap();
    let v = json_of(&["files", "--json", t]);
    assert_eq!(
        keys(&v),
        set(&[
            "snapshot_id",
            "files",
            "total_files",
            "total_bytes",
            "total_rows"
        ])
    );
    assert_eq!(v["snapshot_id"], 6);
    let files = v["files"].as_array().unwrap();
    assert_eq!(v["total_files"].as_u64(), Some(files.len() as u64));
    for f in files {
        assert_eq!(
            keys(f),
            set(&[
                "path",
                "partition",
                "bucket",
                "level",
                "file_size",
                "row_count"
            ])
        );
        assert!(fixture("tagged")
            .join(f["path"].as_str().unwrap())
            .is_file());
    }
    let sum: i64 = files.iter().map(|f| f["file_size"].as_i64().unwrap()).sum();
    assert_eq!(v["total_bytes"].as_i64(), Some(sum));

    let by_tag = json_of(&["files", "--json", t, "--tag", "daily-3"]);
    assert_eq!(
        (by_tag["snapshot_id"].as_i64(), by_tag["tag"].as_str()),
        (Some(3), Some("daily-3"))
    );
    let by_id = json_of(&["files", "--json", t, "--snapshot", "3"]);
    assert_eq!(by_id["files"], by_tag["files"]);

    // Two selectors at once is a usage error: exit 1.
    let out = tagkeeper(&["files", t, "--snapshot", "3", "--tag", "first"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn schema_json_shape() {
    let v = json_of(&[
        "schema",
        "--json",
        fixture("pk_fixed_bucket").to_str().unwrap(),
    ]);
    assert_eq!(
        keys(&v),
        set(&[
            "id",
            "fields",
            "partition_keys",
            "primary_keys",
            "options",
            "comment"
        ])
    );
    assert_eq!(v["primary_keys"], serde_json::json!(["dt", "k"]));
    assert_eq!(v["options"]["bucket"], "2");
    assert_eq!(v["fields"][1]["type"], "BIGINT NOT NULL");
}

#[test]
fn human_output_is_an_aligned_table() {
    let out = tagkeeper(&["snapshots", fixture("append_many").to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID  COMMITTED (UTC)"), "{text}");
    assert_eq!(lines.len(), 14, "header, 12 rows, summary:\n{text}");
    // Columns line up: "KIND" starts at the same offset in every row.
    let at = lines[0].find("KIND").unwrap();
    assert!(
        lines[1..13].iter().all(|l| &l[at..at + 6] == "APPEND"),
        "{text}"
    );
}

/// `files` human output (written while formatted, not built as one table of strings) says what
/// its JSON says: one aligned row per file in the same order, then the totals.
#[test]
fn files_human_output_is_the_json_report_as_an_aligned_table() {
    let t = fixture("partitioned_overwrite");
    let t = t.to_str().unwrap();
    let v = json_of(&["files", "--json", t]);
    let out = tagkeeper(&["files", t]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let files = v["files"].as_array().unwrap();
    assert!(files.len() > 2, "{v}");
    assert_eq!(
        lines.len(),
        files.len() + 2,
        "header, a row per file, totals:\n{text}"
    );
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["PATH", "PARTITION", "BUCKET", "LEVEL", "BYTES", "ROWS"]
    );
    for (line, f) in lines[1..=files.len()].iter().zip(files) {
        let partition: Vec<String> = f["partition"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                // A NULL partition value (Paimon's default partition name on disk).
                Value::Null => format!("{k}=NULL"),
                other => format!("{k}={other}"),
            })
            .collect();
        let want = [
            f["path"].as_str().unwrap().to_string(),
            partition.join(","),
            f["bucket"].to_string(),
            f["level"].to_string(),
            f["file_size"].to_string(),
            f["row_count"].to_string(),
        ];
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells, want, "{text}");
        // Every column starts where its header does.
        for (name, cell) in header.iter().zip(&want).skip(1) {
            let at = lines[0].find(name).unwrap();
            assert_eq!(&line[at..at + cell.len()], cell, "{name} in {line:?}");
        }
    }
    assert_eq!(
        lines[files.len() + 1],
        format!(
            "{} files, {} ({} bytes), {} rows in snapshot {}",
            v["total_files"],
            human_bytes(v["total_bytes"].as_i64().unwrap()),
            v["total_bytes"],
            v["total_rows"],
            v["snapshot_id"]
        )
    );
}

/// `bytes` as the CLI prints them, for the KiB-sized fixtures (one decimal).
fn human_bytes(n: i64) -> String {
    assert!((1024..1024 * 1024).contains(&n), "fixture size {n}");
    format!("{:.1} KiB", n as f64 / 1024.0)
}

#[test]
fn user_errors_exit_1_with_a_json_error_document() {
    let t = fixture("tagged");
    let t = t.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["files", "--json", t, "--tag", "nope"], "tag_not_found"),
        (
            &["files", "--json", t, "--snapshot", "99"],
            "snapshot_not_found",
        ),
        (
            &["tags", "--json", "/nonexistent/table"],
            "invalid_location",
        ),
        (
            &["files", "--json", t, "--timestamp", "1000"],
            "no_snapshot_at_time",
        ),
    ];
    for (args, kind) in cases {
        let out = tagkeeper(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["error"]["kind"], kind, "{args:?}");
        assert_eq!(v["error"]["exit_code"], 1);
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    }
}

#[test]
fn not_a_table_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tagkeeper(&["snapshots", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a Paimon table"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_documents_exit_codes() {
    let out = tagkeeper(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("Exit codes:") && text.contains("2  corrupt or unreadable metadata"),
        "{text}"
    );
    let out = tagkeeper(&["nonsense-command"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn credentials_never_appear_in_output() {
    let secret = "sUpErSeCrEt-Value-123";
    // Failures at every verbosity (-vv logs every request the store makes).
    for verbosity in ["-v", "-vv"] {
        let out = tagkeeper(&[
            verbosity,
            "--json",
            "snapshots",
            "s3://AKIAEXAMPLE:sUpErSeCrEt-Value-123@bucket/t",
            "--store-option",
            &format!("aws_secret_access_key={secret}"),
            "--store-option",
            "aws_access_key_id=AKIAEXAMPLE",
            "--store-option",
            "aws_endpoint=http://127.0.0.1:9",
            "--store-option",
            "aws_allow_http=true",
        ]);
        assert!(!out.status.success());
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(secret), "{verbosity}: secret leaked:\n{all}");
        assert!(
            !all.contains("AKIAEXAMPLE:"),
            "{verbosity}: user info leaked:\n{all}"
        );
        // The failure really was reported (not a silent exit).
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert!(v["error"]["message"].is_string(), "{verbosity}: {v}");
    }
    let unknown = tagkeeper(&[
        "snapshots",
        "s3://b/t",
        "--store-option",
        &format!("bogus_key={secret}"),
    ]);
    assert_eq!(unknown.status.code(), Some(1));
    let all = format!("{}{}", stdout(&unknown), stderr(&unknown));
    assert!(all.contains("bogus_key") && !all.contains(secret), "{all}");
}

/// A successful run with credentials given, at -vv with --json: the JSON report and the logs
/// hold no secret. Through a file:// URL (store options accepted, always runs) and, with the
/// S3 server of scripts/with-moto.sh, through s3:// with the secret in a store option.
#[tokio::test]
async fn credentials_never_appear_in_successful_json_output() {
    let secret = "sUpErSeCrEt-Value-456";
    let check = |args: &[&str], context: &str| {
        let out = tagkeeper(args);
        assert!(out.status.success(), "{context}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{context}: not JSON ({e}): {}", stdout(&out)));
        assert!(
            v["snapshots"].as_array().is_some_and(|s| !s.is_empty()),
            "{context}: {v}"
        );
        assert!(!stderr(&out).is_empty(), "{context}: -vv logged nothing");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(secret), "{context}: secret leaked:\n{all}");
    };
    let (_d, t) = copy_table("append_many");
    let url = format!("file://{}", t.display());
    check(
        &[
            "-vv",
            "--json",
            "snapshots",
            &url,
            "--store-option",
            &format!("aws_secret_access_key={secret}"),
        ],
        "file://",
    );
    let Ok(base) = std::env::var("TAGKEEPER_S3_URL") else {
        skipped("successful S3 output without credentials: run through scripts/with-moto.sh");
        return;
    };
    let loc = format!("{}/{}/t", base.trim_end_matches('/'), uuid::Uuid::new_v4());
    let store = tagkeeper::io::open_location(&loc, &Default::default()).unwrap();
    let table = tagkeeper::write::create_table(store, &crate::write::spec(true, &[]), 1)
        .await
        .unwrap();
    crate::write::commit_rows(&table, &[(1, Some("a"), "2024-01-01")], None).await;
    check(
        &[
            "-vv",
            "--json",
            "snapshots",
            &loc,
            "--store-option",
            &format!("aws_secret_access_key={secret}"),
            "--store-option",
            "aws_access_key_id=AKIAEXAMPLE",
        ],
        "s3://",
    );
}

/// A period duration under a minute would give two periods the same minute-granular tag name
/// (a `100 ms` dry run planned one name 17 times): refused, naming the smallest allowed value,
/// with nothing created.
#[test]
fn auto_tag_refuses_period_durations_whose_names_would_collide() {
    let (_d, t) = copy_table("tagged");
    let before = crate::fixtures::walk(&t);
    for dry in [true, false] {
        let mut args = vec![
            "--json",
            "auto-tag",
            t.to_str().unwrap(),
            "--mode",
            "process-time",
            "--period-duration",
            "100 ms",
            "--time-zone",
            "UTC",
        ];
        if dry {
            args.push("--dry-run");
        }
        let out = tagkeeper(&args);
        // auto-tag reports each table's failure and ends incomplete (exit 2).
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["tables"][0]["status"], "failed", "{v}");
        assert_eq!(v["tables"][0]["tags"], serde_json::json!([]), "{v}");
        let m = v["tables"][0]["message"].as_str().unwrap();
        assert!(m.contains("smallest allowed value is 1 min"), "{m}");
    }
    assert_eq!(crate::fixtures::walk(&t), before);
}

/// One parser for every duration and `--older-than`: units required (w, d, h, min, s, ms, with
/// fractions), a bare number refused with the fix suggested (epoch milliseconds need 13
/// digits), and every command's `--older-than` takes a duration or a time alike.
#[test]
fn time_arguments_need_a_unit_and_every_older_than_takes_a_duration_or_a_time() {
    let (_d, dir) = copy_table("tagged");
    let t = dir.to_str().unwrap();
    let refused = [
        (vec!["expire-snapshots", t, "--older-than", "7", "--dry-run"], "--older-than 7: a bare number is ambiguous; give a duration with a unit ('7d' for 7 days before now, '7h', '7min') or a time ('2024-01-02T00:00:00Z'); epoch milliseconds need 13 digits"),
        (vec!["expire-tags", t, "--older-than", "30", "--dry-run"], "--older-than 30: a bare number is ambiguous"),
        (vec!["remove-orphan-files", t, "--older-than", "3", "--dry-run"], "--older-than 3: a bare number is ambiguous"),
        (vec!["expire-consumers", t, "--older-than", "5", "--dry-run"], "--older-than 5: a bare number is ambiguous"),
        (vec!["create-tag", t, "x", "--time-retained", "7"], "--time-retained: \"7\" has no unit: write e.g. '7d' (days), '7h' (hours) or '7min' (minutes)"),
        (vec!["auto-tag", t, "--mode", "process-time", "--delay", "10", "--dry-run"], "--delay: \"10\" has no unit"),
        (vec!["auto-tag", t, "--every", "60", "--mode", "process-time"], "--every: \"60\" has no unit"),
        (vec!["expire-snapshots", t, "--older-than", "3 fortnights", "--dry-run"], "not a duration ('7d', '1.5h', '2w', '30 min') or a time"),
    ];
    for (args, message) in refused {
        let out = tagkeeper(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    let before = crate::consumers::file_set(&dir);
    for args in [
        vec!["expire-snapshots", t, "--older-than", "1w", "--dry-run"],
        vec!["expire-snapshots", t, "--older-than", "1.5h", "--dry-run"],
        vec!["expire-tags", t, "--older-than", "30d", "--dry-run"],
        vec![
            "expire-tags",
            t,
            "--older-than",
            "2024-01-02T00:00:00Z",
            "--dry-run",
        ],
        vec![
            "remove-orphan-files",
            t,
            "--older-than",
            "2 weeks",
            "--dry-run",
        ],
        vec![
            "expire-consumers",
            t,
            "--older-than",
            "1700000000000",
            "--dry-run",
        ],
    ] {
        let out = tagkeeper(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        crate::consumers::file_set(&dir),
        before,
        "dry runs changed nothing"
    );
    // A fractional retention is stored as Java writes a Duration: seconds with nanoseconds.
    let out = tagkeeper(&["create-tag", t, "fraction", "--time-retained", "1.5h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tag: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tag/tag-fraction")).unwrap()).unwrap();
    assert_eq!(tag["tagTimeRetained"].as_f64(), Some(5400.0), "{tag}");
}

/// A store endpoint that accepts connections and never answers: `--timeout` stops the command
/// at its bound with kind `timed_out`, and without it the per-request timeout and the one retry
/// budget fail the command within about a minute (it used to wait 15 minutes and more).
#[test]
fn a_hung_endpoint_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // accepted, never answered
        }
    });
    let endpoint = format!("aws_endpoint=http://127.0.0.1:{port}");
    let base = [
        "--json",
        "snapshots",
        "s3://bucket/db.db/t",
        "--store-option",
        endpoint.as_str(),
        "--store-option",
        "aws_allow_http=true",
        "--store-option",
        "aws_access_key_id=AKIDEXAMPLE",
        "--store-option",
        "aws_secret_access_key=notasecret",
        "--store-option",
        "aws_region=us-east-1",
    ];
    let mut with_timeout = base.to_vec();
    with_timeout.extend(["--timeout", "3s"]);
    let start = std::time::Instant::now();
    let out = tagkeeper(&with_timeout);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "timed_out", "{doc}");
    assert!(
        took < std::time::Duration::from_secs(15),
        "--timeout 3s took {took:?}"
    );

    let start = std::time::Instant::now();
    let out = tagkeeper(&base);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "storage", "{doc}");
    assert!(
        took < std::time::Duration::from_secs(90),
        "a hung endpoint held the command for {took:?}"
    );
}

/// The subcommands `--help` lists, read from its "Commands:" section.
fn subcommands() -> BTreeSet<String> {
    let help = stdout(&tagkeeper(&["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line starts two spaces in; wrapped descriptions are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn completions_cover_every_command_and_parse_in_their_shell() {
    let commands = subcommands();
    assert!(
        commands.contains("expire-snapshots") && commands.contains("man"),
        "{commands:?}"
    );
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = tagkeeper(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        let missing: Vec<_> = commands
            .iter()
            .filter(|c| !script.contains(c.as_str()))
            .collect();
        assert!(missing.is_empty(), "{shell} completions miss {missing:?}");
    }
    // bash itself accepts the script (syntax check, nothing executed).
    let script = stdout(&tagkeeper(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tagkeeper.bash");
    std::fs::write(&path, script).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let out = tagkeeper(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_document_every_command() {
    let page = stdout(&tagkeeper(&["man"]));
    assert!(
        page.starts_with(".ie") && page.contains(".TH tagkeeper 1"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = tagkeeper(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pages: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut want: BTreeSet<String> = subcommands()
        .iter()
        .map(|c| format!("tagkeeper-{c}.1"))
        .collect();
    want.insert("tagkeeper.1".into());
    assert_eq!(pages, want);
    let expire = std::fs::read_to_string(dir.path().join("tagkeeper-expire-snapshots.1")).unwrap();
    assert!(expire.contains("older\\-than"), "{expire}");
}
