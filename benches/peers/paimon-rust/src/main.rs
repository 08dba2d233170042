//! Peer benchmark runner for paimon-rust (the crates.io `paimon` crate).
//!
//!     paimon-rust-peer plan TABLE_PATH [--snapshot N | --tag NAME]
//!         Opens the table at a local path (local-filesystem FileIO, latest schema from
//!         TABLE/schema/), time-travels with `scan.snapshot-id` / `scan.tag-name` and plans a
//!         scan (read builder -> new_scan -> plan -> splits). Prints one JSON line:
//!         {"tool":"paimon-rust","version":"0.4.0","snapshot":S,"files":N,"splits":K,
//!          "seconds":<open + plan, in-process>,"process_seconds":<since process start>}
//!
//!     paimon-rust-peer raw LIST_FILE
//!         The "raw read" baseline: reads the bytes of every file named in LIST_FILE (one
//!         absolute path a line) and nothing else; no decoding. Prints
//!         {"tool":"raw","files":N,"bytes":B,"seconds":<reading only>,"process_seconds":...}
//!
//! process_seconds is measured from the process start time in /proc/self/stat (clock-tick,
//! i.e. 10 ms, resolution); the benchmark driver measures the whole process itself.

use std::collections::HashMap;
use std::time::Instant;

use paimon::catalog::Identifier;
use paimon::io::FileIO;
use paimon::table::SchemaManager;
use paimon::Table;

const PAIMON_VERSION: &str = "0.4.0";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Seconds since this process started, from /proc (Linux only; NaN elsewhere).
fn process_seconds() -> f64 {
    fn read() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name; starttime is field 22 overall.
        let rest = &stat[stat.rfind(')')? + 2..];
        let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        // CLK_TCK is 100 on every Linux this runs on.
        Some(uptime - start_ticks / 100.0)
    }
    read().unwrap_or(f64::NAN)
}

async fn plan(path: &str, snapshot: Option<i64>, tag: Option<String>) -> Result<String, BoxError> {
    let t0 = Instant::now();
    let location = std::fs::canonicalize(path)?
        .to_str()
        .ok_or("table path is not UTF-8")?
        .to_string();
    let file_io: FileIO = FileIO::from_path(&location)?.build()?;
    let schema = SchemaManager::new(file_io.clone(), location.clone())
        .latest()
        .await?
        .ok_or("no schema under TABLE/schema/")?;
    let name = location.rsplit('/').next().unwrap_or("t").to_string();
    let table = Table::new(
        file_io,
        Identifier::new("default", name),
        location,
        (*schema).clone(),
        None,
    );
    let mut options = HashMap::new();
    if let Some(id) = snapshot {
        options.insert("scan.snapshot-id".to_string(), id.to_string());
    }
    if let Some(tag) = &tag {
        options.insert("scan.tag-name".to_string(), tag.clone());
    }
    let table = if options.is_empty() {
        table
    } else {
        table.copy_with_time_travel_strict(options).await?
    };
    let builder = table.new_read_builder();
    let plan = builder.new_scan().plan().await?;
    let splits = plan.splits();
    let files: usize = splits.iter().map(|s| s.data_files().len()).sum();
    let seconds = t0.elapsed().as_secs_f64();
    let snap = plan
        .snapshot_id()
        .map_or("null".to_string(), |s| s.to_string());
    Ok(format!(
        "{{\"tool\":\"paimon-rust\",\"version\":\"{PAIMON_VERSION}\",\"snapshot\":{snap},\"files\":{files},\"splits\":{},\"seconds\":{seconds:.6},\"process_seconds\":{:.3}}}",
        splits.len(),
        process_seconds()
    ))
}

fn raw(list: &str) -> Result<String, BoxError> {
    let names = std::fs::read_to_string(list)?;
    let names: Vec<&str> = names.lines().filter(|l| !l.is_empty()).collect();
    let t0 = Instant::now();
    let mut bytes = 0usize;
    for name in &names {
        bytes += std::hint::black_box(std::fs::read(name)?).len();
    }
    let seconds = t0.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"tool\":\"raw\",\"files\":{},\"bytes\":{bytes},\"seconds\":{seconds:.6},\"process_seconds\":{:.3}}}",
        names.len(),
        process_seconds()
    ))
}

fn usage() -> BoxError {
    "usage: paimon-rust-peer plan TABLE [--snapshot N | --tag NAME] | raw LIST_FILE".into()
}

fn run() -> Result<String, BoxError> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().ok_or_else(usage)?;
    let target = args.next().ok_or_else(usage)?;
    match cmd.as_str() {
        "raw" => raw(&target),
        "plan" => {
            let (mut snapshot, mut tag) = (None, None);
            while let Some(flag) = args.next() {
                let value = args.next().ok_or_else(usage)?;
                match flag.as_str() {
                    "--snapshot" => snapshot = Some(value.parse()?),
                    "--tag" => tag = Some(value),
                    _ => return Err(usage()),
                }
            }
            // Multi-threaded runtime with the machine's cores, as an application would use it.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(plan(&target, snapshot, tag))
        }
        _ => Err(usage()),
    }
}

fn main() {
    match run() {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("paimon-rust-peer: error: {e}");
            std::process::exit(1);
        }
    }
}
