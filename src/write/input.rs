//! Input files for `tagkeeper write`: Parquet, CSV (with a header) and JSON lines, read into
//! Arrow batches with exactly the table's columns. A column the table lacks, a column the input
//! lacks, a value that cannot be cast, or a null in a NOT NULL column is an error naming the
//! column and the file.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl InputFormat {
    /// Guess from a file name's extension.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".parquet") {
            Some(InputFormat::Parquet)
        } else if lower.ends_with(".csv") {
            Some(InputFormat::Csv)
        } else if lower.ends_with(".jsonl")
            || lower.ends_with(".ndjson")
            || lower.ends_with(".json")
        {
            Some(InputFormat::JsonLines)
        } else {
            None
        }
    }
}

const BATCH_ROWS: usize = 8192;

fn bad(name: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("input {name}: {reason}"))
}

/// Read an input file into batches with the table's schema.
pub fn read_input(
    bytes: Bytes,
    format: InputFormat,
    target: &SchemaRef,
    name: &str,
) -> Result<Vec<RecordBatch>> {
    let raw: Vec<RecordBatch> = match format {
        InputFormat::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(|e| bad(name, format!("not a readable Parquet file: {e}")))?
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| bad(name, e))?;
            reader
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(name, e))?
        }
        InputFormat::Csv => {
            let header = csv_header(&bytes)
                .ok_or_else(|| bad(name, "empty CSV file (a header line is required)"))?;
            let fields: Vec<Field> = header
                .iter()
                .map(|h| {
                    target
                        .field_with_name(h)
                        .map(|f| f.as_ref().clone().with_nullable(true))
                        .map_err(|_| {
                            bad(name, format!("column '{h}' is not a column of the table"))
                        })
                })
                .collect::<Result<_>>()?;
            let schema = Arc::new(Schema::new(fields));
            let reader = arrow::csv::ReaderBuilder::new(schema)
                .with_header(true)
                .with_batch_size(BATCH_ROWS)
                .build(Cursor::new(bytes))
                .map_err(|e| bad(name, e))?;
            reader
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(name, e))?
        }
        InputFormat::JsonLines => {
            let loose = Arc::new(Schema::new(
                target
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            ));
            let reader = arrow::json::ReaderBuilder::new(loose)
                .with_strict_mode(true)
                .with_batch_size(BATCH_ROWS)
                .build(Cursor::new(bytes))
                .map_err(|e| bad(name, e))?;
            reader
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| bad(name, e))?
        }
    };
    raw.iter().map(|b| conform(b, target, name)).collect()
}

fn csv_header(bytes: &[u8]) -> Option<Vec<String>> {
    let mut reader = arrow::csv::reader::Format::default().with_header(true);
    reader = reader.with_delimiter(b',');
    let (schema, _) = reader.infer_schema(Cursor::new(bytes), Some(0)).ok()?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    (!names.is_empty()).then_some(names)
}

/// Reorder, cast and check a batch against the table's schema.
pub fn conform(batch: &RecordBatch, target: &SchemaRef, name: &str) -> Result<RecordBatch> {
    let input = batch.schema();
    for f in input.fields() {
        if target.field_with_name(f.name()).is_err() {
            return Err(bad(
                name,
                format!("column '{}' is not a column of the table", f.name()),
            ));
        }
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|field| {
            let idx = input
                .index_of(field.name())
                .map_err(|_| bad(name, format!("column '{}' is missing", field.name())))?;
            let col = batch.column(idx);
            let cast = if col.data_type() == field.data_type() {
                Arc::clone(col)
            } else {
                cast_with_options(col, field.data_type(), &options).map_err(|e| {
                    bad(
                        name,
                        format!(
                            "column '{}' has type {} which cannot be written as {}: {e}",
                            field.name(),
                            col.data_type(),
                            field.data_type()
                        ),
                    )
                })?
            };
            if !field.is_nullable() && cast.null_count() > 0 {
                return Err(bad(
                    name,
                    format!(
                        "column '{}' is NOT NULL but has {} null value(s)",
                        field.name(),
                        cast.null_count()
                    ),
                ));
            }
            Ok(cast)
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(Arc::clone(target), columns).map_err(|e| bad(name, e))
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::DataType;

    use super::*;

    fn target() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn csv_in_any_column_order() {
        let csv = Bytes::from_static(b"name,id\na,1\n,2\n");
        let batches = read_input(csv, InputFormat::Csv, &target(), "x.csv").unwrap();
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].schema(), target());
    }

    #[test]
    fn json_lines() {
        let j = Bytes::from_static(b"{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2}\n");
        let batches = read_input(j, InputFormat::JsonLines, &target(), "x.jsonl").unwrap();
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].column(1).null_count(), 1);
    }

    #[test]
    fn errors_name_the_column() {
        let cases: [(&[u8], InputFormat, &str); 5] = [
            (
                b"id,extra\n1,2\n",
                InputFormat::Csv,
                "column 'extra' is not a column",
            ),
            (b"name\na\n", InputFormat::Csv, "column 'id' is missing"),
            (b"id,name\nx,a\n", InputFormat::Csv, "x.in"),
            (
                b"{\"id\": null, \"name\": \"a\"}\n",
                InputFormat::JsonLines,
                "column 'id' is NOT NULL",
            ),
            (b"{\"id\": 1, \"zzz\": 2}\n", InputFormat::JsonLines, "zzz"),
        ];
        for (data, format, want) in cases {
            let err = read_input(Bytes::copy_from_slice(data), format, &target(), "x.in")
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
