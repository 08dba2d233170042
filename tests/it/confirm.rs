//! Progress bars are drawn on a terminal only. Destructive commands on a terminal print their
//! plan and ask; only `y` goes on, and then
//! exactly the plan shown is executed. Scripts (no terminal), `--json` and `--yes` are never
//! asked. Dry runs say so in their first word. The terminal is a real pseudo-terminal from
//! util-linux `script`, with the answer typed on its input.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::*;

fn files(dir: &Path) -> BTreeSet<String> {
    crate::fixtures::walk(dir).into_iter().collect()
}

fn snapshots(dir: &Path) -> BTreeSet<String> {
    files(dir)
        .into_iter()
        .filter(|f| f.starts_with("snapshot/snapshot-"))
        .collect()
}

/// Run tagkeeper on a pseudo-terminal (stdin, stdout and stderr all the terminal), typing
/// `answer`. None when `script` is not installed.
fn on_terminal(args: &[&str], answer: &str) -> Option<Output> {
    on_terminal_env(args, answer, &[])
}

/// [`on_terminal`] with more environment variables.
fn on_terminal_env(args: &[&str], answer: &str, vars: &[(&str, &str)]) -> Option<Output> {
    if Command::new("script").arg("--version").output().is_err() {
        skipped("confirm: util-linux `script` is not installed");
        return None;
    }
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let cmd: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_tagkeeper"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut child = Command::new("script")
        .args(["-qec", &cmd.join(" "), "/dev/null"])
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

const EXPIRE: [&str; 5] = ["expire-snapshots", "", "--retain-min", "1", "--older-than"];

fn expire_args(dir: &Path) -> Vec<&str> {
    let mut a = EXPIRE.to_vec();
    a[1] = dir.to_str().unwrap();
    a.push("1d");
    a
}

#[test]
fn no_deletes_nothing_and_exits_1() {
    let (_keep, dir) = copy_table("tagged");
    let before = files(&dir);
    let Some(out) = on_terminal(&expire_args(&dir), "n\n") else {
        return;
    };
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Would expire 5 snapshot(s) 1..=5")
            && text.contains("Expire these snapshots and delete these files? [y/N]")
            && text.contains("expire-snapshots: not confirmed, nothing was changed"),
        "{text}"
    );
    assert_eq!(files(&dir), before);
    // Enter alone is no, too.
    let out = on_terminal(&expire_args(&dir), "\n").unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(files(&dir), before);
}

#[test]
fn yes_executes_exactly_the_plan_shown() {
    let (_keep, dir) = copy_table("tagged");
    let (_keep2, twin) = copy_table("tagged");
    let Some(out) = on_terminal(&expire_args(&dir), "y\n") else {
        return;
    };
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let asked = text.find("[y/N]").expect("asked");
    let done = text.find("Expired 5 snapshot(s) 1..=5").expect("executed");
    assert!(asked < done, "{text}");
    // The same files are gone as in a script's run of the command.
    let script = tagkeeper(&expire_args(&twin));
    assert!(script.status.success(), "{}", stderr(&script));
    assert_eq!(files(&dir), files(&twin));
    assert_eq!(
        snapshots(&dir),
        BTreeSet::from(["snapshot/snapshot-6".to_string()])
    );
}

#[test]
fn yes_json_and_scripts_are_never_asked() {
    for flag in ["--yes", "-y", "--json"] {
        let (_keep, dir) = copy_table("tagged");
        let mut args = expire_args(&dir);
        args.push(flag);
        // Nothing is typed: a question would read end-of-input and decline.
        let Some(out) = on_terminal(&args, "") else {
            return;
        };
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{flag}: {text}");
        assert!(!text.contains("[y/N]"), "{flag}: {text}");
        assert_eq!(snapshots(&dir).len(), 1, "{flag}");
    }
    // No terminal (a pipe, as in cron): not asked.
    let (_keep, dir) = copy_table("tagged");
    let out = tagkeeper(&expire_args(&dir));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("[y/N]"));
    assert_eq!(snapshots(&dir).len(), 1);
}

#[test]
fn every_destructive_command_asks_on_a_terminal() {
    // Each declined run changes nothing and names its command.
    let (_keep, dir) = copy_table("tagged");
    let before = files(&dir);
    let d = dir.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["delete-tag", d, "daily-3"], "delete-tag"),
        (
            vec!["expire-tags", d, "--older-than", "2999-01-01T00:00:00Z"],
            "expire-tags",
        ),
        (vec!["rollback-to", d, "--snapshot", "3"], "rollback-to"),
        (
            vec!["remove-orphan-files", d, "--older-than", "1d"],
            "remove-orphan-files",
        ),
        (vec!["maintain", d], "maintain"),
        (
            vec!["expire-changelogs", d, "--delete-all"],
            "expire-changelogs",
        ),
    ];
    for (args, name) in cases {
        let Some(out) = on_terminal(&args, "no\n") else {
            return;
        };
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {text}");
        assert!(text.contains("[y/N]"), "{name}: {text}");
        assert!(
            text.contains(&format!("{name}: not confirmed, nothing was changed")),
            "{name}: {text}"
        );
        assert_eq!(files(&dir), before, "{name}");
    }
}

#[test]
fn dry_runs_say_so_first() {
    let (_keep, dir) = copy_table("tagged");
    let d = dir.to_str().unwrap();
    for args in [
        vec![
            "expire-snapshots",
            d,
            "--retain-min",
            "1",
            "--older-than",
            "1d",
            "--dry-run",
        ],
        vec!["delete-tag", d, "daily-3", "--dry-run"],
        vec!["rollback-to", d, "--snapshot", "3", "--dry-run"],
        vec!["remove-orphan-files", d, "--dry-run"],
        vec!["maintain", d, "--dry-run"],
    ] {
        let out = tagkeeper(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with("DRY RUN: "), "{args:?}: {text}");
        // A real run's report does not.
        let json = tagkeeper(&[&args[..], &["--json"]].concat());
        assert!(stdout(&json).starts_with('{'), "{args:?}");
    }
    let out = tagkeeper(&[
        "expire-snapshots",
        d,
        "--retain-min",
        "1",
        "--older-than",
        "1d",
    ]);
    assert!(!stdout(&out).starts_with("DRY RUN"), "{}", stdout(&out));
}

#[test]
fn progress_bars_only_on_a_terminal() {
    let (_keep, dir) = copy_table("tagged");
    let d = dir.to_str().unwrap();
    let now = [("TAGKEEPER_PROGRESS_DELAY_MS", "0")];
    let args = ["remove-orphan-files", d, "--dry-run"];
    let Some(out) = on_terminal_env(&args, "", &now) else {
        return;
    };
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    // Every phase of the orphan scan, with its total (12 manifest lists: base and delta of 6
    // snapshots; 6 manifests). Drawing is rate-limited: the last frames may be skipped.
    for bar in [
        "listing directories [",
        "reading manifest lists [",
        "/12 (",
        "reading manifests [",
        "/6 (",
    ] {
        assert!(text.contains(bar), "{bar}: {text}");
    }
    // Not with --json, -q, or the default delay on a quick run; never without a terminal.
    for extra in ["--json", "-q"] {
        let mut a = args.to_vec();
        a.push(extra);
        let out = on_terminal_env(&a, "", &now).unwrap();
        assert!(
            !stdout(&out).contains("reading manifests"),
            "{extra}: {}",
            stdout(&out)
        );
    }
    let out = on_terminal(&args, "").unwrap();
    assert!(
        !stdout(&out).contains("reading manifests"),
        "{}",
        stdout(&out)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
        .args(args)
        .env("TAGKEEPER_PROGRESS_DELAY_MS", "0")
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("reading"), "{}", stderr(&out));
}

#[test]
fn summaries_first_files_with_list_and_a_cut_short_run_says_so() {
    let (_keep, dir) = copy_table("tagged");
    let d = dir.to_str().unwrap();
    let args = [
        "expire-snapshots",
        d,
        "--retain-min",
        "1",
        "--older-than",
        "1d",
        "--max-deletes",
        "2",
        "--dry-run",
    ];
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&tagkeeper(&[&args[..], &["--json"]].concat()))).unwrap();
    assert_eq!(json["limit_reached"], true);
    assert_eq!(json["expired_snapshots"], serde_json::json!([1, 2]));
    let paths: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "{json:#}");

    let text = stdout(&tagkeeper(&args));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "DRY RUN: Would expire 2 snapshot(s) 1..=2; earliest is now 3"
    );
    assert!(lines[1].starts_with("  manifest lists: 2 file(s), ") && lines[1].ends_with(" KiB"));
    assert!(text.contains("stopped at the expire limit"), "{text}");
    assert!(
        text.contains("  (2 file(s); --list shows each, --json has them all)"),
        "{text}"
    );
    assert!(paths.iter().all(|p| !text.contains(p)), "{text}");

    let listed = stdout(&tagkeeper(&[&args[..], &["--list"]].concat()));
    for p in &paths {
        let line = listed
            .lines()
            .find(|l| l.contains(p))
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(line.ends_with("(manifest list)"), "{line}");
    }
    // Without the limit the run is not cut short and does not say so.
    let all = stdout(&tagkeeper(&[&args[..6], &["--dry-run"]].concat()));
    assert!(!all.contains("stopped at the expire limit"), "{all}");
}
