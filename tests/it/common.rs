//! Shared helpers: fixture paths, table copies, the CLI binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tagkeeper::io::StoreOptions;
use tagkeeper::table::Table;

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixture(table: &str) -> PathBuf {
    repo().join("testdata/warehouse/default.db").join(table)
}

/// Every fixture table that has recorded expectations.
pub(crate) fn fixture_tables() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("testdata/expected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "fixtures missing: {names:?}");
    names
}

pub(crate) fn expected(table: &str) -> Value {
    let text = std::fs::read_to_string(
        repo()
            .join("testdata/expected")
            .join(format!("{table}.json")),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

pub(crate) async fn open(path: &Path) -> Table {
    Table::open(path.to_str().unwrap(), &StoreOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// A private copy of a fixture table, to break or modify.
pub(crate) fn copy_table(table: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join(table);
    copy_dir(&fixture(table), &dest);
    (dir, dest)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Run the CLI binary.
pub(crate) fn tagkeeper(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
        .args(args)
        .output()
        .expect("run tagkeeper")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Tell the person running the tests that something was skipped. Written to the real stderr,
/// past the test harness's output capture, so it shows in a plain `cargo test`.
pub fn skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}");
}

/// Rewrite an Avro container file record by record with apache-avro (none of tagkeeper's
/// encoders, so a test can plant what tagkeeper itself would never write). The schema is kept;
/// the codec becomes null.
pub(crate) fn rewrite_avro(path: &Path, mut edit: impl FnMut(&mut apache_avro::types::Value)) {
    let bytes = std::fs::read(path).unwrap();
    let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
    let schema = reader.writer_schema().clone();
    let records: Vec<apache_avro::types::Value> = reader.map(|r| r.unwrap()).collect();
    let mut writer = apache_avro::Writer::new(&schema, Vec::new());
    for mut r in records {
        edit(&mut r);
        writer.append(r).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

/// The field `name` of an Avro record (looking through a union).
pub(crate) fn avro_field<'a>(
    record: &'a mut apache_avro::types::Value,
    name: &str,
) -> &'a mut apache_avro::types::Value {
    use apache_avro::types::Value;
    let record = match record {
        Value::Union(_, inner) => inner.as_mut(),
        other => other,
    };
    let Value::Record(fields) = record else {
        panic!("not a record: {record:?}");
    };
    let value = fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"));
    match value {
        Value::Union(_, inner) => inner.as_mut(),
        other => other,
    }
}

/// Append records to an Avro container file (rewritten with apache-avro, codec null).
pub(crate) fn append_avro(path: &Path, records: &[apache_avro::types::Value]) {
    let bytes = std::fs::read(path).unwrap();
    let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
    let schema = reader.writer_schema().clone();
    let existing: Vec<apache_avro::types::Value> = reader.map(|r| r.unwrap()).collect();
    let mut writer = apache_avro::Writer::new(&schema, Vec::new());
    for r in existing.into_iter().chain(records.iter().cloned()) {
        writer.append(r).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}
