//! Write-path timings (criterion): a small commit on tables of growing history, and building
//! small synthetic tables. Baselines: `cargo bench --bench write -- --save-baseline main`, then
//! `cargo bench --bench write -- --baseline main` on a branch.

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tagkeeper::clock::ManualClock;
use tagkeeper::io::TableStore;
use tagkeeper::table::Table;
use tagkeeper::write::synthetic::{build, SyntheticSpec};
use tagkeeper::write::{append, CommitOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn one_row(i: i64) -> RecordBatch {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, true),
        arrow::datatypes::Field::new("dt", arrow::datatypes::DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![i])),
            Arc::new(StringArray::from(vec!["p00001"])),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn small_commits(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("commit_one_row");
    group.sample_size(30);
    for history in [10usize, 1000] {
        let table: Table = rt.block_on(async {
            let spec = SyntheticSpec {
                snapshots: history,
                files: history * 10,
                tags: 0,
                ..Default::default()
            };
            build(TableStore::in_memory("t"), &spec)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .table
        });
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let mut i = 0i64;
        group.bench_with_input(BenchmarkId::from_parameter(history), &history, |b, _| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let (t, c) = (table.clone(), clock.clone());
                async move {
                    append(&t, vec![one_row(i)], None, c, &CommitOptions::default())
                        .await
                        .unwrap_or_else(|e| panic!("{e}"))
                }
            })
        });
    }
    group.finish();
}

fn synthetic_builds(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("build_synthetic_small");
    group.sample_size(10);
    for (s, f) in [(100usize, 1_000usize), (500, 5_000)] {
        group.bench_with_input(
            BenchmarkId::new("snapshots_files", format!("{s}_{f}")),
            &(s, f),
            |b, &(s, f)| {
                b.to_async(&rt).iter(|| async move {
                    let spec = SyntheticSpec {
                        snapshots: s,
                        files: f,
                        tags: 5,
                        ..Default::default()
                    };
                    build(TableStore::in_memory("t"), &spec)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, small_commits, synthetic_builds);
criterion_main!(benches);
