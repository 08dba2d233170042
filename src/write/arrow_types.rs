//! Paimon types ↔ Arrow types, as pypaimon maps them (it writes Parquet through pyarrow).

use std::sync::Arc;

use arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};

use crate::error::{Error, Result};
use crate::format::schema::TableSchema;
use crate::format::types::{DataType, RowField, TypeRoot};

/// The Arrow type of a Paimon type.
pub fn arrow_type(t: &DataType) -> Result<ArrowType> {
    Ok(match &t.root {
        TypeRoot::Boolean => ArrowType::Boolean,
        TypeRoot::TinyInt => ArrowType::Int8,
        TypeRoot::SmallInt => ArrowType::Int16,
        TypeRoot::Int => ArrowType::Int32,
        TypeRoot::BigInt => ArrowType::Int64,
        TypeRoot::Float => ArrowType::Float32,
        TypeRoot::Double => ArrowType::Float64,
        TypeRoot::Decimal { precision, scale } => {
            let p = u8::try_from(*precision).map_err(|_| unsupported(t))?;
            let s = i8::try_from(*scale).map_err(|_| unsupported(t))?;
            ArrowType::Decimal128(p, s)
        }
        TypeRoot::Char(_) | TypeRoot::VarChar(_) => ArrowType::Utf8,
        TypeRoot::Binary(_) | TypeRoot::VarBinary(_) => ArrowType::Binary,
        TypeRoot::Date => ArrowType::Date32,
        TypeRoot::Time(_) => ArrowType::Time32(TimeUnit::Millisecond),
        TypeRoot::Timestamp(p) => ArrowType::Timestamp(time_unit(*p), None),
        TypeRoot::TimestampLtz(p) => ArrowType::Timestamp(time_unit(*p), Some("UTC".into())),
        _ => return Err(unsupported(t)),
    })
}

fn time_unit(precision: u32) -> TimeUnit {
    match precision {
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

fn unsupported(t: &DataType) -> Error {
    Error::Unsupported(format!(
        "writing columns of type {} is not supported",
        t.sql()
    ))
}

/// The Arrow field of a column (nullability from the Paimon type).
pub fn arrow_field(f: &RowField) -> Result<Field> {
    Ok(Field::new(
        &f.name,
        arrow_type(&f.data_type)?,
        f.data_type.nullable,
    ))
}

/// The Arrow schema of a table's columns.
pub fn arrow_schema(schema: &TableSchema) -> Result<Arc<Schema>> {
    let fields = schema
        .fields
        .iter()
        .map(arrow_field)
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Parse a `NAME:TYPE` column definition's type (e.g. `BIGINT`, `STRING NOT NULL`,
/// `DECIMAL(10,2)`), refusing types the writer cannot produce.
pub fn parse_column_type(text: &str) -> Result<DataType> {
    let t = DataType::parse(text).map_err(Error::InvalidArgument)?;
    if let TypeRoot::Other(raw) = &t.root {
        return Err(Error::InvalidArgument(format!(
            "unknown column type {raw:?}"
        )));
    }
    arrow_type(&t)?;
    Ok(t)
}
