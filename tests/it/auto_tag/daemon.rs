//! The daemons (`auto-tag --every`, `maintain --every`) as an operator sees them: real
//! processes, their stderr events, a real HTTP scrape of `--metrics-addr`, the `--health-file`,
//! SIGTERM, and `--max-failed-rounds`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{local_history, DAILY_UTC};

/// Generous: these tests are about behaviour, not speed (the machine may be busy).
const PATIENCE: Duration = Duration::from_secs(90);

/// A daemon process and the lines of its stderr, as they come.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn spawn(args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Wait for the first JSON event (after those seen) that `pred` accepts.
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"));
                    self.seen.push(line);
                    if pred(&v) {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "the daemon did not log the expected event; saw {:#?}",
            self.seen
        );
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to end by itself: its exit code, every stderr line, its stdout.
    fn exit(mut self) -> (Option<i32>, Vec<String>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the daemon did not exit; saw {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // The reader thread ends at the end of stderr.
        self.seen.extend(self.lines.iter());
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        (status.code(), self.seen, stdout)
    }
}

/// A plain HTTP/1.1 GET: the status line and the body.
fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    (status, body.to_string())
}

/// The value of the sample named exactly `name` (with its labels).
fn sample(metrics: &str, name: &str) -> f64 {
    let found: Vec<f64> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .collect();
    assert_eq!(found.len(), 1, "{name} in {metrics}");
    found[0]
}

#[tokio::test]
async fn auto_tag_daemon_serves_metrics_writes_health_and_exits_0_on_sigterm() {
    let (dir, t) = local_history(&DAILY_UTC).await;
    let table = t.location().to_string();
    let health = dir.path().join("health.json");
    let mut d = Daemon::spawn(&[
        "auto-tag",
        &table,
        "--every",
        "1s",
        "--json",
        "--metrics-addr",
        "127.0.0.1:0",
        "--health-file",
        health.to_str().unwrap(),
    ]);
    // The first event names the port bound.
    let started = d.wait_for(|_| true);
    assert_eq!(started["event"], "started", "{started}");
    assert_eq!(started["level"], "info");
    let addr = started["metrics_addr"].as_str().unwrap().to_string();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    // Two rounds: the first creates the four tags, the second finds nothing to do.
    let first = d.wait_for(|v| v["event"] == "round");
    assert_eq!(first["round"], 1);
    assert_eq!(first["tags_created"], 4);
    assert_eq!((&first["done"], &first["failed"]), (&1.into(), &0.into()));
    let second = d.wait_for(|v| v["event"] == "round");
    assert_eq!(second["round"], 2);
    assert_eq!(second["tags_created"], 0);
    let created = d
        .seen
        .iter()
        .filter(|l| l.contains(r#""outcome":"created""#))
        .count();
    assert_eq!(created, 4);

    let (status, metrics) = http_get(&addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let label = format!("{{table=\"{table}\"}}");
    assert_eq!(sample(&metrics, "tagkeeper_up"), 1.0);
    assert!(sample(&metrics, "tagkeeper_rounds_total") >= 2.0);
    assert_eq!(sample(&metrics, "tagkeeper_round_failures_total"), 0.0);
    assert_eq!(sample(&metrics, "tagkeeper_tags_created_total"), 4.0);
    assert_eq!(sample(&metrics, "tagkeeper_snapshots_expired_total"), 0.0);
    assert_eq!(
        sample(&metrics, &format!("tagkeeper_table_failures_total{label}")),
        0.0
    );
    let last_success = sample(
        &metrics,
        &format!("tagkeeper_table_last_success_timestamp_seconds{label}"),
    );
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(last_success > now - 600.0 && last_success <= now + 1.0);
    assert!(sample(&metrics, "tagkeeper_last_round_duration_seconds") >= 0.0);
    for family in [
        "tagkeeper_up gauge",
        "tagkeeper_rounds_total counter",
        "tagkeeper_round_failures_total counter",
        "tagkeeper_tags_created_total counter",
        "tagkeeper_snapshots_expired_total counter",
        "tagkeeper_table_failures_total counter",
        "tagkeeper_table_last_success_timestamp_seconds gauge",
        "tagkeeper_last_round_duration_seconds gauge",
    ] {
        assert!(
            metrics.contains(&format!("\n# TYPE {family}\n")),
            "{family}"
        );
        let name = family.split(' ').next().unwrap();
        assert!(metrics.contains(&format!("# HELP {name} ")), "{name}");
    }
    let (status, _) = http_get(&addr, "/");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // Written before the round's summary line: at least as new as round 2.
    let h: Value = serde_json::from_str(&std::fs::read_to_string(&health).unwrap()).unwrap();
    assert_eq!(h["command"], "auto-tag");
    assert!(h["round"].as_u64().unwrap() >= 2, "{h:#}");
    assert_eq!(h["consecutive_failed_rounds"], 0);
    assert_eq!(h["max_failed_rounds"], 3);
    let start = chrono::DateTime::parse_from_rfc3339(h["last_round_start"].as_str().unwrap());
    let end = chrono::DateTime::parse_from_rfc3339(h["last_round_end"].as_str().unwrap());
    assert!(start.unwrap() <= end.unwrap());
    let tables = h["tables"].as_object().unwrap();
    assert_eq!(tables.keys().collect::<Vec<_>>(), [&table]);
    assert_eq!(tables[&table]["last_error"], Value::Null);
    assert_eq!(tables[&table]["consecutive_failures"], 0);
    assert!(tables[&table]["last_success"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    d.sigterm();
    let (code, lines, stdout) = d.exit();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(stdout, "", "the daemon writes nothing on stdout");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        (&last["event"], &last["reason"], &last["exit_code"]),
        (&"stopped".into(), &"signal".into(), &0.into())
    );
    // Exactly one summary per round, numbered without gaps.
    let rounds: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "round")
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"], i + 1);
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".tmp")));
}

#[tokio::test]
async fn maintain_daemon_counts_expired_snapshots_in_its_metrics() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("snapshot.num-retained.min", "2"));
    opts.push(("snapshot.num-retained.max", "2"));
    let (_dir, t) = local_history(&opts).await;
    let table = t.location().to_string();
    let mut d = Daemon::spawn(&[
        "maintain",
        &table,
        "--every",
        "1s",
        "--json",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let addr = d.wait_for(|v| v["event"] == "started")["metrics_addr"]
        .as_str()
        .unwrap()
        .to_string();
    let first = d.wait_for(|v| v["event"] == "round");
    assert_eq!(
        (&first["tags_created"], &first["snapshots_expired"]),
        (&4.into(), &4.into()),
        "{first}"
    );
    let expired: Vec<Value> = d
        .seen
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["outcome"] == "snapshots_expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (
            &expired[0]["count"],
            &expired[0]["first"],
            &expired[0]["last"]
        ),
        (&4.into(), &1.into(), &4.into())
    );
    d.wait_for(|v| v["event"] == "round" && v["round"] == 2);
    let (_, metrics) = http_get(&addr, "/metrics");
    assert_eq!(sample(&metrics, "tagkeeper_snapshots_expired_total"), 4.0);
    assert_eq!(sample(&metrics, "tagkeeper_tags_created_total"), 4.0);
    assert_eq!(sample(&metrics, "tagkeeper_round_failures_total"), 0.0);
    d.sigterm();
    let (code, lines, _) = d.exit();
    assert_eq!(code, Some(0), "{lines:#?}");
}

/// `maintain --warehouse W --every`: each round lists the warehouse again, so a table created
/// while the daemon runs is maintained from the next round on; `--exclude` holds.
#[tokio::test]
async fn maintain_daemon_over_a_warehouse_picks_up_new_tables() {
    let mut opts = DAILY_UTC.to_vec();
    opts.push(("snapshot.num-retained.min", "2"));
    opts.push(("snapshot.num-retained.max", "2"));
    let (_dir, t) = local_history(&opts).await;
    let wh = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(t.location());
    crate::common::copy_dir(src, &wh.path().join("sales.db/a"));
    crate::common::copy_dir(src, &wh.path().join("sales.db/skipped"));
    let mut d = Daemon::spawn(&[
        "maintain",
        "--warehouse",
        wh.path().to_str().unwrap(),
        "--exclude",
        "sales.skipped",
        "--every",
        "1s",
        "--json",
    ]);
    let first = d.wait_for(|v| v["event"] == "round");
    assert_eq!(
        (
            &first["tables"],
            &first["done"],
            &first["snapshots_expired"]
        ),
        (&1.into(), &1.into(), &4.into()),
        "{first}"
    );
    // Copied beside the warehouse, then moved in whole: a round never sees half a table.
    let staging = wh.path().join("staging-b");
    crate::common::copy_dir(src, &staging);
    std::fs::rename(&staging, wh.path().join("sales.db/b")).unwrap();
    let later = d.wait_for(|v| v["event"] == "round" && v["tables"] == 2);
    assert_eq!(
        (&later["done"], &later["snapshots_expired"]),
        (&2.into(), &4.into()),
        "the new table's 4 snapshots, none of a's again: {later}"
    );
    d.sigterm();
    let (code, lines, _) = d.exit();
    assert_eq!(code, Some(0), "{lines:#?}");
    // The excluded table was never touched.
    assert!(wh
        .path()
        .join("sales.db/skipped/snapshot/snapshot-1")
        .exists());
    assert!(!wh.path().join("sales.db/b/snapshot/snapshot-1").exists());
}

#[test]
fn a_daemon_whose_table_keeps_failing_exits_2_after_max_failed_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-table");
    let missing = missing.to_str().unwrap();
    let d = Daemon::spawn(&[
        "maintain",
        missing,
        "--every",
        "1s",
        "--max-failed-rounds",
        "2",
    ]);
    let (code, lines, stdout) = d.exit();
    assert_eq!(code, Some(2), "{lines:#?}");
    assert_eq!(stdout, "");
    // Text form: one summary line per round, the error logged once, then why it stopped.
    let summaries: Vec<&String> = lines.iter().filter(|l| l.contains(" round ")).collect();
    assert_eq!(summaries.len(), 2, "{lines:#?}");
    for (i, s) in summaries.iter().enumerate() {
        assert!(
            s.contains(&format!(
                "maintain round {}: 1 table(s): 0 done, 0 skipped, 1 failed; 0 tag(s) created",
                i + 1
            )),
            "{s}"
        );
    }
    let failed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("{missing}: failed: ")))
        .collect();
    assert_eq!(failed.len(), 1, "{lines:#?}");
    let last = lines.last().unwrap();
    assert!(
        last.contains("maintain stopped reason=max_failed_rounds exit_code=2"),
        "{last}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("\u{1b}[")),
        "no colour in a pipe"
    );
}

/// `-q`: only errors, and with `--json` every line is a JSON object.
#[test]
fn a_quiet_daemon_logs_only_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-table");
    let d = Daemon::spawn(&[
        "auto-tag",
        missing.to_str().unwrap(),
        "--every",
        "1s",
        "--max-failed-rounds",
        "1",
        "--json",
        "-q",
    ]);
    let (code, lines, stdout) = d.exit();
    assert_eq!(code, Some(2), "{lines:#?}");
    assert_eq!(stdout, "");
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{lines:#?}");
    assert!(events.iter().all(|v| v["level"] == "error"), "{lines:#?}");
    assert_eq!(events[0]["outcome"], "failed");
    assert_eq!(events[1]["event"], "stopped");
    assert_eq!(events[1]["error"]["kind"], "incomplete");
}

/// A location holding a secret (here: a store option's value in its path) shows redacted in
/// the table label, the health file and the events.
#[test]
fn daemon_outputs_never_hold_credentials() {
    const SECRET: &str = "s3cr3t-Value-9876";
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join(SECRET).join("t");
    let health = dir.path().join("health.json");
    let secret_option = format!("aws_secret_access_key={SECRET}");
    let mut d = Daemon::spawn(&[
        "maintain",
        table.to_str().unwrap(),
        "--every",
        "1s",
        "--max-failed-rounds",
        "0",
        "--json",
        "--store-option",
        &secret_option,
        "--metrics-addr",
        "127.0.0.1:0",
        "--health-file",
        health.to_str().unwrap(),
    ]);
    let addr = d.wait_for(|v| v["event"] == "started")["metrics_addr"]
        .as_str()
        .unwrap()
        .to_string();
    d.wait_for(|v| v["event"] == "round");
    let (_, metrics) = http_get(&addr, "/metrics");
    let masked = table.to_str().unwrap().replace(SECRET, "***");
    assert_eq!(
        sample(
            &metrics,
            &format!("tagkeeper_table_failures_total{{table=\"{masked}\"}}")
        ),
        1.0,
        "{metrics}"
    );
    let h = std::fs::read_to_string(&health).unwrap();
    let doc: Value = serde_json::from_str(&h).unwrap();
    assert!(doc["tables"][&masked]["last_error"].is_string(), "{h}");
    d.sigterm();
    let (code, lines, _) = d.exit();
    assert_eq!(code, Some(2), "stopped after a failed round: {lines:#?}");
    for text in [metrics.as_str(), h.as_str(), &lines.join("\n")] {
        assert!(!text.contains(SECRET), "{text}");
    }
}
