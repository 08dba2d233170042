//! Avro data files (`file.format = avro`, as Java writes them): decoded with apache-avro — the
//! crate that already reads manifests — into Arrow batches whose columns carry the file's own
//! names and types, which [`super::evolve::map_file`] then maps to the target columns like a
//! Parquet file's (by the field ids of the schema the file was written with, through names).
//!
//! Types follow Java's `AvroSchemaConverter`: a nullable column is a union with `null`;
//! BOOLEAN, INT (TINYINT and SMALLINT too), BIGINT, FLOAT, DOUBLE, STRING and BYTES map to
//! themselves; DECIMAL is `bytes` or `fixed` with the decimal logical type; DATE, TIME and
//! TIMESTAMP use the date, time and timestamp (or local-timestamp) logical types. Nested types
//! (ARRAY, MAP, ROW) are refused by name.
//!
//! Memory: the file's bytes (one data file, at most `target-file-size`) and one batch of
//! decoded rows.

use std::io::Cursor;
use std::sync::Arc;

use apache_avro::schema::Schema as AvroSchema;
use apache_avro::types::Value;
use apache_avro::Reader;
use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    Time32MillisecondBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;

use crate::error::{Error, Result};

/// One column being decoded.
enum Column {
    Bool(BooleanBuilder),
    Int(Int32Builder),
    Long(Int64Builder),
    Float(Float32Builder),
    Double(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Date(Date32Builder),
    TimeMillis(Time32MillisecondBuilder),
    TimeMicros(Time64MicrosecondBuilder),
    TsMillis(TimestampMillisecondBuilder),
    TsMicros(TimestampMicrosecondBuilder),
    Decimal(Decimal128Builder),
}

impl Column {
    /// The column for a field's schema (a `[null, T]` union is a nullable `T`).
    fn of(schema: &AvroSchema) -> std::result::Result<(DataType, bool, Column), String> {
        let (inner, nullable) = match schema {
            AvroSchema::Union(u) => {
                let non_null: Vec<&AvroSchema> = u
                    .variants()
                    .iter()
                    .filter(|s| !matches!(s, AvroSchema::Null))
                    .collect();
                match non_null.as_slice() {
                    [one] => (*one, true),
                    _ => return Err(format!("a union of {} types", non_null.len())),
                }
            }
            other => (other, false),
        };
        let (t, c) = match inner {
            AvroSchema::Boolean => (DataType::Boolean, Column::Bool(BooleanBuilder::new())),
            AvroSchema::Int => (DataType::Int32, Column::Int(Int32Builder::new())),
            AvroSchema::Long => (DataType::Int64, Column::Long(Int64Builder::new())),
            AvroSchema::Float => (DataType::Float32, Column::Float(Float32Builder::new())),
            AvroSchema::Double => (DataType::Float64, Column::Double(Float64Builder::new())),
            AvroSchema::String | AvroSchema::Uuid => {
                (DataType::Utf8, Column::Str(StringBuilder::new()))
            }
            AvroSchema::Bytes | AvroSchema::Fixed(_) => {
                (DataType::Binary, Column::Bin(BinaryBuilder::new()))
            }
            AvroSchema::Date => (DataType::Date32, Column::Date(Date32Builder::new())),
            AvroSchema::TimeMillis => (
                DataType::Time32(TimeUnit::Millisecond),
                Column::TimeMillis(Time32MillisecondBuilder::new()),
            ),
            AvroSchema::TimeMicros => (
                DataType::Time64(TimeUnit::Microsecond),
                Column::TimeMicros(Time64MicrosecondBuilder::new()),
            ),
            AvroSchema::TimestampMillis | AvroSchema::LocalTimestampMillis => (
                DataType::Timestamp(TimeUnit::Millisecond, None),
                Column::TsMillis(TimestampMillisecondBuilder::new()),
            ),
            AvroSchema::TimestampMicros | AvroSchema::LocalTimestampMicros => (
                DataType::Timestamp(TimeUnit::Microsecond, None),
                Column::TsMicros(TimestampMicrosecondBuilder::new()),
            ),
            AvroSchema::Decimal(d) => {
                let (p, s) = (d.precision, d.scale);
                let (p, s) = (
                    u8::try_from(p).map_err(|_| format!("decimal precision {p}"))?,
                    i8::try_from(s).map_err(|_| format!("decimal scale {s}"))?,
                );
                if p > 38 {
                    return Err(format!("decimal precision {p} (at most 38 is supported)"));
                }
                let b = Decimal128Builder::new()
                    .with_precision_and_scale(p, s)
                    .map_err(|e| e.to_string())?;
                (DataType::Decimal128(p, s), Column::Decimal(b))
            }
            AvroSchema::Array(_) => return Err("ARRAY columns".into()),
            AvroSchema::Map(_) => return Err("MAP columns".into()),
            AvroSchema::Record(_) => return Err("ROW columns".into()),
            other => return Err(format!("Avro type {other:?}")),
        };
        Ok((t, nullable, c))
    }

    fn append(&mut self, v: &Value) -> std::result::Result<(), String> {
        let v = match v {
            Value::Union(_, inner) => inner.as_ref(),
            other => other,
        };
        let mismatch = || format!("a value {v:?} where the schema says otherwise");
        match (self, v) {
            (Column::Bool(b), Value::Null) => b.append_null(),
            (Column::Int(b), Value::Null) => b.append_null(),
            (Column::Long(b), Value::Null) => b.append_null(),
            (Column::Float(b), Value::Null) => b.append_null(),
            (Column::Double(b), Value::Null) => b.append_null(),
            (Column::Str(b), Value::Null) => b.append_null(),
            (Column::Bin(b), Value::Null) => b.append_null(),
            (Column::Date(b), Value::Null) => b.append_null(),
            (Column::TimeMillis(b), Value::Null) => b.append_null(),
            (Column::TimeMicros(b), Value::Null) => b.append_null(),
            (Column::TsMillis(b), Value::Null) => b.append_null(),
            (Column::TsMicros(b), Value::Null) => b.append_null(),
            (Column::Decimal(b), Value::Null) => b.append_null(),
            (Column::Bool(b), Value::Boolean(x)) => b.append_value(*x),
            (Column::Int(b), Value::Int(x)) => b.append_value(*x),
            (Column::Long(b), Value::Long(x)) => b.append_value(*x),
            (Column::Float(b), Value::Float(x)) => b.append_value(*x),
            (Column::Double(b), Value::Double(x)) => b.append_value(*x),
            (Column::Str(b), Value::String(x)) => b.append_value(x),
            (Column::Str(b), Value::Uuid(x)) => b.append_value(x.to_string()),
            (Column::Bin(b), Value::Bytes(x) | Value::Fixed(_, x)) => b.append_value(x),
            (Column::Date(b), Value::Date(x)) => b.append_value(*x),
            (Column::TimeMillis(b), Value::TimeMillis(x)) => b.append_value(*x),
            (Column::TimeMicros(b), Value::TimeMicros(x)) => b.append_value(*x),
            (Column::TsMillis(b), Value::TimestampMillis(x) | Value::LocalTimestampMillis(x)) => {
                b.append_value(*x)
            }
            (Column::TsMicros(b), Value::TimestampMicros(x) | Value::LocalTimestampMicros(x)) => {
                b.append_value(*x)
            }
            (Column::Decimal(b), Value::Decimal(d)) => {
                let bytes: Vec<u8> = d.try_into().map_err(|e| format!("a decimal: {e}"))?;
                b.append_value(unscaled(&bytes)?)
            }
            _ => return Err(mismatch()),
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Int(b) => Arc::new(b.finish()),
            Column::Long(b) => Arc::new(b.finish()),
            Column::Float(b) => Arc::new(b.finish()),
            Column::Double(b) => Arc::new(b.finish()),
            Column::Str(b) => Arc::new(b.finish()),
            Column::Bin(b) => Arc::new(b.finish()),
            Column::Date(b) => Arc::new(b.finish()),
            Column::TimeMillis(b) => Arc::new(b.finish()),
            Column::TimeMicros(b) => Arc::new(b.finish()),
            Column::TsMillis(b) => Arc::new(b.finish()),
            Column::TsMicros(b) => Arc::new(b.finish()),
            // The builder was made with the column's precision and scale, which `finish` keeps.
            Column::Decimal(b) => Arc::new(b.finish()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Bool(b) => b.len(),
            Column::Int(b) => b.len(),
            Column::Long(b) => b.len(),
            Column::Float(b) => b.len(),
            Column::Double(b) => b.len(),
            Column::Str(b) => b.len(),
            Column::Bin(b) => b.len(),
            Column::Date(b) => b.len(),
            Column::TimeMillis(b) => b.len(),
            Column::TimeMicros(b) => b.len(),
            Column::TsMillis(b) => b.len(),
            Column::TsMicros(b) => b.len(),
            Column::Decimal(b) => b.len(),
        }
    }
}

/// A big-endian two's-complement unscaled decimal (at most 16 bytes).
fn unscaled(bytes: &[u8]) -> std::result::Result<i128, String> {
    if bytes.len() > 16 {
        return Err(format!("a decimal of {} bytes", bytes.len()));
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0
    };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Ok(i128::from_be_bytes(buf))
}

/// The batches of one Avro data file, decoded `batch_size` rows at a time.
pub(crate) struct AvroBatches {
    reader: Reader<'static, Cursor<Bytes>>,
    schema: SchemaRef,
    names: Vec<String>,
    columns: Vec<Column>,
    batch_size: usize,
    left: Option<usize>,
    key: String,
}

impl AvroBatches {
    /// Open the file's bytes (`key` names it in errors); `limit` stops after that many rows.
    pub(crate) fn open(
        bytes: Bytes,
        key: &str,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Result<Self> {
        let bad = |e: String| Error::data_file(key, format!("not readable as Avro: {e}"));
        let reader = Reader::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
        let AvroSchema::Record(record) = reader.writer_schema().clone() else {
            return Err(bad("the file's schema is not a record".into()));
        };
        let mut fields = Vec::new();
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for f in &record.fields {
            let (t, nullable, c) = Column::of(&f.schema).map_err(|e| {
                Error::Unsupported(format!(
                    "data file {key}: column '{}' is stored as {e}, which tagkeeper does not \
                     read from Avro yet",
                    f.name
                ))
            })?;
            fields.push(Field::new(&f.name, t, nullable));
            names.push(f.name.clone());
            columns.push(c);
        }
        Ok(AvroBatches {
            reader,
            schema: Arc::new(Schema::new(fields)),
            names,
            columns,
            batch_size: batch_size.max(1),
            left: limit,
            key: key.to_string(),
        })
    }

    /// The Arrow schema of the batches: the file's columns, with their names.
    pub(crate) fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let want = match self.left {
            Some(0) => return Ok(None),
            Some(n) => n.min(self.batch_size),
            None => self.batch_size,
        };
        let bad = |e: String| Error::data_file(&self.key, format!("not readable as Avro: {e}"));
        let mut rows = 0;
        while rows < want {
            let Some(record) = self.reader.next() else {
                break;
            };
            let record = record.map_err(|e| bad(e.to_string()))?;
            let Value::Record(fields) = record else {
                return Err(bad("a row that is not a record".into()));
            };
            if fields.len() != self.columns.len() {
                return Err(bad(format!(
                    "a row of {} fields where the schema has {}",
                    fields.len(),
                    self.columns.len()
                )));
            }
            for ((name, v), (col, want_name)) in
                fields.iter().zip(self.columns.iter_mut().zip(&self.names))
            {
                if name != want_name {
                    return Err(bad(format!("field {name} where {want_name} was expected")));
                }
                col.append(v)
                    .map_err(|e| bad(format!("column '{name}': {e}")))?;
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        if let Some(n) = self.left.as_mut() {
            *n -= rows;
        }
        debug_assert!(self.columns.iter().all(|c| c.len() == rows));
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }
}

impl Iterator for AvroBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_decimals_are_sign_extended() {
        assert_eq!(unscaled(&[0x01, 0x00]).unwrap(), 256);
        assert_eq!(unscaled(&[0xFF]).unwrap(), -1);
        assert_eq!(unscaled(&[0xFF, 0x38]).unwrap(), -200);
        assert_eq!(unscaled(&[]).unwrap(), 0);
        assert!(unscaled(&[0; 17]).is_err());
    }

    #[test]
    fn a_written_avro_file_reads_back_as_arrow() {
        use apache_avro::Writer;
        let schema = AvroSchema::parse_str(
            r#"{"type":"record","name":"r","fields":[
                {"name":"id","type":"long"},
                {"name":"name","type":["null","string"]},
                {"name":"day","type":["null",{"type":"int","logicalType":"date"}]}
            ]}"#,
        )
        .unwrap();
        let mut w = Writer::new(&schema, Vec::new());
        for i in 0..5i64 {
            let mut r = apache_avro::types::Record::new(&schema).unwrap();
            r.put("id", i);
            r.put(
                "name",
                if i == 2 {
                    Value::Union(0, Box::new(Value::Null))
                } else {
                    Value::Union(1, Box::new(Value::String(format!("n{i}"))))
                },
            );
            r.put(
                "day",
                Value::Union(1, Box::new(Value::Date(19000 + i as i32))),
            );
            w.append(r).unwrap();
        }
        let bytes = Bytes::from(w.into_inner().unwrap());
        let bytes_again = |_: &RecordBatch| bytes.clone();
        let batches: Vec<RecordBatch> = AvroBatches::open(bytes.clone(), "f.avro", 2, None)
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            batches
                .iter()
                .map(RecordBatch::num_rows)
                .collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(b.schema().field(2).data_type(), &DataType::Date32);
        assert_eq!(b.column(1).null_count(), 1);
        let limited: usize = AvroBatches::open(bytes_again(&b), "f.avro", 2, Some(3))
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(limited, 3);
        assert!(AvroBatches::open(Bytes::from_static(b"nope"), "x.avro", 2, None).is_err());
    }
}
