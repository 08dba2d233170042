//! Manifest decoding (criterion): tagkeeper's schema-driven decoder against apache-avro's
//! generic reader on the same 10,000-entry manifest (zstd, Java's schema, realistic stats).
//! The generic reader only builds `Value` trees, so its time is a lower bound of what the old
//! decode path (trees, then conversion) cost.

#![allow(clippy::panic, clippy::unwrap_used, clippy::print_stdout)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tagkeeper::format::manifest::decode_manifest;
use tagkeeper::format::manifest_write::encode_manifest;

/// A real manifest of the fixtures, its entries repeated under new names to 10,000.
fn big_manifest() -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/warehouse/default.db/tagged/manifest"
    );
    let mut seed = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.starts_with("manifest-") && !name.starts_with("manifest-list-") {
            let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
            seed.extend(decode_manifest(&bytes, &name).unwrap());
        }
    }
    assert!(!seed.is_empty());
    let entries: Vec<_> = (0..10_000)
        .map(|i| {
            let mut e = seed[i % seed.len()].clone();
            e.file.file_name = format!("data-{i:08}-0000-0000-0000-000000000000-0.parquet");
            e.file.commit_snapshot = Some(i as i64);
            e
        })
        .collect();
    encode_manifest(&entries).unwrap()
}

fn decode(c: &mut Criterion) {
    let bytes = big_manifest();
    let mut g = c.benchmark_group("decode_manifest_10k");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("tagkeeper", |b| {
        b.iter(|| {
            let entries = decode_manifest(&bytes, "m").unwrap();
            assert_eq!(entries.len(), 10_000);
        })
    });
    g.bench_function("apache_avro_generic_values", |b| {
        b.iter(|| {
            let mut n = 0;
            for v in apache_avro::Reader::new(&bytes[..]).unwrap() {
                std::hint::black_box(v.unwrap());
                n += 1;
            }
            assert_eq!(n, 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
