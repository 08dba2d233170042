//! Schema evolution: a data file written under an older schema is read into the target schema
//! by field id, as Java's `SchemaEvolutionUtil` and pypaimon do. A renamed column keeps its id,
//! so its values follow it; a column added later has no id in the file and reads as NULL; a
//! dropped column's id is not in the target, so it is never read. Types changed by ALTER
//! TABLE are cast to the target type.
//!
//! A file's columns get their ids from the Parquet field ids when the writer recorded them
//! (Java and tagkeeper do), otherwise from the file's own schema (`_SCHEMA_ID` of its meta)
//! by name (pypaimon writes no field ids; ORC and Avro files are always matched this way).
//!
//! Pure: it looks at Arrow schemas and decoded table schemas, never at storage.

use std::collections::HashMap;

use arrow::array::{new_null_array, Array, ArrayRef, Int64Array, Int8Array, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType as ArrowType, Schema};

use crate::error::{Error, Result};
use crate::format::schema::TableSchema;

/// Arrow's metadata key for a Parquet field id.
const PARQUET_FIELD_ID: &str = "PARQUET:field_id";
/// The system column holding a primary-key row's sequence number.
pub(crate) const SEQUENCE_NUMBER: &str = "_SEQUENCE_NUMBER";
/// The system column holding a primary-key row's kind (0 +I, 1 -U, 2 +U, 3 -D).
pub(crate) const VALUE_KIND: &str = "_VALUE_KIND";
/// Prefix of the key columns of a primary-key file (the key is read from the value columns).
const KEY_PREFIX: &str = "_KEY_";

/// A column of the target schema that is read from data files.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetColumn {
    /// Paimon field id.
    pub id: i64,
    /// Name in the target schema.
    pub name: String,
    /// Arrow type the values are cast to.
    pub arrow_type: ArrowType,
}

/// How the columns of one file become the target columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileMapping {
    /// Root columns of the file to read, ascending (a Parquet projection).
    pub projection: Vec<usize>,
    /// For each target column: its position in the projected batch, or `None` to fill NULLs.
    pub columns: Vec<Option<usize>>,
    /// Positions of `_SEQUENCE_NUMBER` and `_VALUE_KIND` in the projected batch (key-value
    /// files only).
    pub system: Option<(usize, usize)>,
}

/// One batch of a file in target form.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    /// The target columns, in target order.
    pub columns: Vec<ArrayRef>,
    /// Rows in the batch.
    pub rows: usize,
    /// Sequence numbers and row kinds, for key-value files.
    pub system: Option<(Int64Array, Int8Array)>,
}

/// Work out which columns of a file to read and where each target column comes from.
///
/// `file_schema` is the schema the file was written with (`None` when it cannot be loaded;
/// then Parquet field ids are required). With `key_value`, the file is a primary-key file:
/// its system columns are required and its `_KEY_` columns are skipped.
pub(crate) fn map_file(
    file: &Schema,
    file_schema: Option<&TableSchema>,
    targets: &[TargetColumn],
    key_value: bool,
    path: &str,
) -> Result<FileMapping> {
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    let (mut seq, mut kind) = (None, None);
    for (i, field) in file.fields().iter().enumerate() {
        let name = field.name().as_str();
        if key_value {
            match name {
                SEQUENCE_NUMBER => {
                    seq = Some(i);
                    continue;
                }
                VALUE_KIND => {
                    kind = Some(i);
                    continue;
                }
                n if n.starts_with(KEY_PREFIX) => continue,
                _ => {}
            }
        }
        let recorded = field
            .metadata()
            .get(PARQUET_FIELD_ID)
            .and_then(|v| v.parse::<i64>().ok());
        let id = recorded.or_else(|| file_schema.and_then(|s| s.field(name)).map(|f| f.id));
        match id {
            Some(id) => {
                by_id.entry(id).or_insert(i);
            }
            None if file_schema.is_none() => {
                return Err(Error::data_file(
                    path,
                    format!(
                        "column '{name}' has no field id (Parquet field ids are read; ORC and \
                         Avro files are matched by name) and the schema the file was written \
                         with is unknown, so it cannot be matched to the table's columns"
                    ),
                ))
            }
            // A column the file's schema does not know (e.g. written by another tool): skip.
            None => {}
        }
    }
    let system = if key_value {
        match (seq, kind) {
            (Some(s), Some(k)) => Some((s, k)),
            _ => {
                return Err(Error::data_file(
                    path,
                    format!(
                        "a data file of a primary-key table needs the {SEQUENCE_NUMBER} and \
                         {VALUE_KIND} columns"
                    ),
                ))
            }
        }
    } else {
        None
    };
    let wanted: Vec<Option<usize>> = targets.iter().map(|t| by_id.get(&t.id).copied()).collect();
    let mut projection: Vec<usize> = wanted.iter().flatten().copied().collect();
    if let Some((s, k)) = system {
        projection.extend([s, k]);
    }
    if projection.is_empty() && !file.fields().is_empty() {
        // Reading no column at all would lose the row count: read the first one and ignore it.
        projection.push(0);
    }
    projection.sort_unstable();
    projection.dedup();
    let position = |file_idx: usize| projection.iter().position(|&p| p == file_idx);
    let columns = wanted.iter().map(|w| w.and_then(position)).collect();
    let system = system.and_then(|(s, k)| Some((position(s)?, position(k)?)));
    Ok(FileMapping {
        projection,
        columns,
        system,
    })
}

impl FileMapping {
    /// Turn a batch read with [`FileMapping::projection`] into target columns.
    pub(crate) fn apply(
        &self,
        batch: &RecordBatch,
        targets: &[TargetColumn],
        path: &str,
    ) -> Result<Chunk> {
        let rows = batch.num_rows();
        let columns = self
            .columns
            .iter()
            .zip(targets)
            .map(|(source, target)| match source {
                None => Ok(new_null_array(&target.arrow_type, rows)),
                Some(p) => conform(batch.column(*p), &target.arrow_type).map_err(|e| {
                    Error::data_file(path, format!("column of '{}': {e}", target.name))
                }),
            })
            .collect::<Result<Vec<_>>>()?;
        let system = match self.system {
            None => None,
            Some((s, k)) => {
                let seq = conform(batch.column(s), &ArrowType::Int64)
                    .map_err(|e| Error::data_file(path, format!("{SEQUENCE_NUMBER}: {e}")))?;
                let kind = conform(batch.column(k), &ArrowType::Int8)
                    .map_err(|e| Error::data_file(path, format!("{VALUE_KIND}: {e}")))?;
                let seq = seq.as_any().downcast_ref::<Int64Array>().cloned();
                let kind = kind.as_any().downcast_ref::<Int8Array>().cloned();
                match (seq, kind) {
                    (Some(s), Some(k)) if s.null_count() == 0 && k.null_count() == 0 => {
                        Some((s, k))
                    }
                    _ => {
                        return Err(Error::data_file(
                            path,
                            format!("{SEQUENCE_NUMBER} and {VALUE_KIND} must not be null"),
                        ))
                    }
                }
            }
        };
        Ok(Chunk {
            columns,
            rows,
            system,
        })
    }
}

/// Cast a column to the target type when the file stores it differently (an ALTER TABLE type
/// change, or a writer's choice such as a view or large string type).
fn conform(array: &ArrayRef, to: &ArrowType) -> std::result::Result<ArrayRef, String> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    // Strict: a value that does not fit is an error, never a silent NULL.
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(array, to, &strict)
        .map_err(|e| format!("cannot read {} as {to}: {e}", array.data_type()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::Field;

    use super::*;

    fn schema(json_fields: &str) -> TableSchema {
        let text = format!(r#"{{"version":3,"id":0,"fields":[{json_fields}]}}"#);
        TableSchema::decode(text.as_bytes(), "schema/schema-0").unwrap()
    }

    fn target(id: i64, name: &str, t: ArrowType) -> TargetColumn {
        TargetColumn {
            id,
            name: name.into(),
            arrow_type: t,
        }
    }

    #[test]
    fn renamed_added_and_dropped_columns_follow_field_ids() {
        // Written with (id 0 "id", id 1 "name", id 3 "gone"); the target renamed 1 to "label",
        // dropped 3 and added 2 "score".
        let old = schema(
            r#"{"id":0,"name":"id","type":"BIGINT"},{"id":1,"name":"name","type":"STRING"},
               {"id":3,"name":"gone","type":"INT"}"#,
        );
        let file = Schema::new(vec![
            Field::new("id", ArrowType::Int64, true),
            Field::new("name", ArrowType::Utf8, true),
            Field::new("gone", ArrowType::Int32, true),
        ]);
        let targets = [
            target(0, "id", ArrowType::Int64),
            target(1, "label", ArrowType::Utf8),
            target(2, "score", ArrowType::Int32),
        ];
        let m = map_file(&file, Some(&old), &targets, false, "f").unwrap();
        assert_eq!(m.projection, vec![0, 1]);
        assert_eq!(m.columns, vec![Some(0), Some(1), None]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", ArrowType::Int64, true),
                Field::new("name", ArrowType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let chunk = m.apply(&batch, &targets, "f").unwrap();
        assert_eq!(chunk.rows, 2);
        assert_eq!(chunk.columns[2].null_count(), 2);
        assert_eq!(chunk.columns[2].data_type(), &ArrowType::Int32);
    }

    #[test]
    fn parquet_field_ids_win_over_names() {
        // The file calls field 1 "x" and field 0 "y": ids decide, not names.
        let with_id = |name: &str, id: i64, t: ArrowType| {
            Field::new(name, t, true).with_metadata(HashMap::from([(
                PARQUET_FIELD_ID.to_string(),
                id.to_string(),
            )]))
        };
        let file = Schema::new(vec![
            with_id("y", 0, ArrowType::Int32),
            with_id("x", 1, ArrowType::Utf8),
        ]);
        let targets = [
            target(1, "x", ArrowType::Utf8),
            target(0, "y", ArrowType::Int64),
        ];
        let m = map_file(&file, None, &targets, false, "f").unwrap();
        assert_eq!(m.columns, vec![Some(1), Some(0)]);
        let batch = RecordBatch::try_new(
            Arc::new(file),
            vec![
                Arc::new(Int32Array::from(vec![7])),
                Arc::new(StringArray::from(vec!["s"])),
            ],
        )
        .unwrap();
        // INT widened to BIGINT, as after ALTER COLUMN TYPE.
        let chunk = m.apply(&batch, &targets, "f").unwrap();
        assert_eq!(chunk.columns[1].data_type(), &ArrowType::Int64);
    }

    #[test]
    fn key_value_files_need_their_system_columns() {
        let s = schema(r#"{"id":0,"name":"k","type":"BIGINT NOT NULL"}"#);
        let targets = [target(0, "k", ArrowType::Int64)];
        let kv = Schema::new(vec![
            Field::new("_KEY_k", ArrowType::Int64, false),
            Field::new(SEQUENCE_NUMBER, ArrowType::Int64, false),
            Field::new(VALUE_KIND, ArrowType::Int8, false),
            Field::new("k", ArrowType::Int64, false),
        ]);
        let m = map_file(&kv, Some(&s), &targets, true, "f").unwrap();
        assert_eq!(m.projection, vec![1, 2, 3]);
        assert_eq!((m.columns.clone(), m.system), (vec![Some(2)], Some((0, 1))));
        let plain = Schema::new(vec![Field::new("k", ArrowType::Int64, false)]);
        let err = map_file(&plain, Some(&s), &targets, true, "dt=x/bucket-0/f.parquet")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dt=x/bucket-0/f.parquet") && err.contains(SEQUENCE_NUMBER));
    }

    #[test]
    fn unknown_columns_without_any_id_are_an_error_naming_the_file() {
        let file = Schema::new(vec![Field::new("a", ArrowType::Int64, true)]);
        let err = map_file(
            &file,
            None,
            &[target(0, "a", ArrowType::Int64)],
            false,
            "f.parquet",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("f.parquet") && err.contains("'a'"), "{err}");
    }
}
