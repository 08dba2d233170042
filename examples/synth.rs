//! Build a synthetic Paimon table (metadata written through the real commit path, data files
//! as empty placeholders or absent) at a location, for benchmarks and peer comparisons.
//!
//!     cargo run --release --example synth -- /tmp/bench/t1 --snapshots 1000 --files 10000 --tags 20
//!
//! Options: --snapshots S, --files F, --tags T, --partitions P, --overwrite-every N,
//! --overwrite-until S (overwrites only in the first S commits),
//! --placeholders (write an empty object per data file), --no-commit-snapshot,
//! --merge-min-count N (`manifest.merge-min-count`; a large N keeps one small manifest per
//! commit, the shape of a table fed by many small commits).

#![allow(clippy::print_stdout)]

use std::time::Instant;

use tagkeeper::io::{open_location, StoreOptions};
use tagkeeper::write::synthetic::{build, SyntheticSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args.next().ok_or("usage: synth LOCATION [options]")?;
    let mut spec = SyntheticSpec::default();
    while let Some(flag) = args.next() {
        let mut num = || -> Result<usize, Box<dyn std::error::Error>> {
            Ok(args.next().ok_or("missing value")?.parse()?)
        };
        match flag.as_str() {
            "--snapshots" => spec.snapshots = num()?,
            "--files" => spec.files = num()?,
            "--tags" => spec.tags = num()?,
            "--partitions" => spec.partitions = num()?,
            "--overwrite-every" => spec.overwrite_every = num()?,
            "--overwrite-until" => spec.overwrite_until = num()?,
            "--placeholders" => spec.write_placeholders = true,
            "--no-commit-snapshot" => spec.record_commit_snapshot = false,
            "--merge-min-count" => spec.merge.min_count = num()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if !location.contains("://") {
        std::fs::create_dir_all(&location)?;
    }
    let store = open_location(&location, &StoreOptions::default())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let built = rt.block_on(build(store, &spec))?;
    println!(
        "built {location}: {} snapshots, {} files, {} tags in {:.1} s",
        spec.snapshots,
        spec.files,
        built.tags.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
