//! Paimon data types as they appear in `schema/schema-N` (`DataTypeJsonParser` in Java).
//!
//! Atomic types are strings such as `"INT NOT NULL"`, `"DECIMAL(10, 2)"`, `"TIMESTAMP(6)"`;
//! nested types are objects (`{"type": "ARRAY", "element": …}`). Types tagkeeper does not need
//! to understand are kept as [`TypeRoot::Other`] with their original text.

use std::fmt;

use serde_json::Value;

/// Length Paimon uses for `STRING` (`VARCHAR(2147483647)`) and `BYTES`.
pub const MAX_LENGTH: u32 = i32::MAX as u32;

/// Smallest and largest DECIMAL precision Paimon accepts (`DecimalType`).
pub const MIN_DECIMAL_PRECISION: u32 = 1;
/// See [`MIN_DECIMAL_PRECISION`].
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// A Paimon data type with its nullability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataType {
    /// The kind of type.
    pub root: TypeRoot,
    /// `false` when declared `NOT NULL`.
    pub nullable: bool,
}

/// The kind of a [`DataType`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TypeRoot {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Float,
    Double,
    Decimal {
        precision: u32,
        scale: u32,
    },
    Char(u32),
    VarChar(u32),
    Binary(u32),
    VarBinary(u32),
    Date,
    Time(u32),
    Timestamp(u32),
    TimestampLtz(u32),
    Array(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Row(Vec<RowField>),
    /// A type tagkeeper does not interpret (e.g. `VARIANT`, `MULTISET`), kept verbatim.
    Other(String),
}

/// A field of a nested `ROW` type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowField {
    /// Field id.
    pub id: i64,
    /// Field name.
    pub name: String,
    /// Field type.
    pub data_type: DataType,
}

impl DataType {
    /// A nullable type of the given root.
    pub fn nullable(root: TypeRoot) -> Self {
        DataType {
            root,
            nullable: true,
        }
    }

    /// The same types, all nullable: statistics rows (min, max) are written that way.
    pub fn all_nullable(types: &[DataType]) -> Vec<DataType> {
        types
            .iter()
            .map(|t| DataType {
                nullable: true,
                ..t.clone()
            })
            .collect()
    }

    /// Parse the `type` member of a schema field (a string or an object).
    pub fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Self::parse(s),
            Value::Object(obj) => {
                let head = obj
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or("a nested type needs a string 'type' member")?;
                let (name, nullable) = split_not_null(head);
                let root = match name.to_ascii_uppercase().as_str() {
                    "ARRAY" => TypeRoot::Array(Box::new(Self::member(obj, "element")?)),
                    "MULTISET" => TypeRoot::Other(value.to_string()),
                    "MAP" => TypeRoot::Map(
                        Box::new(Self::member(obj, "key")?),
                        Box::new(Self::member(obj, "value")?),
                    ),
                    "ROW" => {
                        let fields = obj
                            .get("fields")
                            .and_then(Value::as_array)
                            .ok_or("a ROW type needs a 'fields' array")?;
                        TypeRoot::Row(
                            fields
                                .iter()
                                .map(RowField::from_json)
                                .collect::<Result<_, _>>()?,
                        )
                    }
                    _ => TypeRoot::Other(value.to_string()),
                };
                Ok(DataType { root, nullable })
            }
            other => Err(format!(
                "a type must be a string or an object, found {other}"
            )),
        }
    }

    fn member(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Self, String> {
        Self::from_json(
            obj.get(key)
                .ok_or_else(|| format!("missing '{key}' in nested type"))?,
        )
    }

    /// Parse an atomic type string such as `DECIMAL(10, 2) NOT NULL`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (body, nullable) = split_not_null(text.trim());
        let upper = body.to_ascii_uppercase();
        let (name, args, suffix) = split_args(&upper)?;
        let arg = |i: usize, default: u32| -> Result<u32, String> {
            match args.get(i) {
                Some(a) => a
                    .parse()
                    .map_err(|_| format!("bad type argument '{a}' in {text}")),
                None => Ok(default),
            }
        };
        let root = match (name, suffix) {
            ("BOOLEAN", "") => TypeRoot::Boolean,
            ("TINYINT", "") => TypeRoot::TinyInt,
            ("SMALLINT", "") => TypeRoot::SmallInt,
            ("INT" | "INTEGER", "") => TypeRoot::Int,
            ("BIGINT", "") => TypeRoot::BigInt,
            ("FLOAT", "") => TypeRoot::Float,
            ("DOUBLE", "") => TypeRoot::Double,
            ("DECIMAL" | "NUMERIC" | "DEC", "") => {
                let (precision, scale) = (arg(0, 10)?, arg(1, 0)?);
                // Paimon's DecimalType limits. Unbounded, a scale from a damaged schema would
                // size buffers (a partition value renders `scale` digits) to gigabytes.
                if !(MIN_DECIMAL_PRECISION..=MAX_DECIMAL_PRECISION).contains(&precision)
                    || scale > precision
                {
                    return Err(format!(
                        "type {text}: DECIMAL precision must be between {MIN_DECIMAL_PRECISION} \
                         and {MAX_DECIMAL_PRECISION} and scale between 0 and the precision \
                         (found precision {precision}, scale {scale})"
                    ));
                }
                TypeRoot::Decimal { precision, scale }
            }
            ("CHAR", "") => TypeRoot::Char(arg(0, 1)?),
            ("VARCHAR", "") => TypeRoot::VarChar(arg(0, 1)?),
            ("STRING", "") => TypeRoot::VarChar(MAX_LENGTH),
            ("BINARY", "") => TypeRoot::Binary(arg(0, 1)?),
            ("VARBINARY", "") => TypeRoot::VarBinary(arg(0, 1)?),
            ("BYTES", "") => TypeRoot::VarBinary(MAX_LENGTH),
            ("DATE", "") => TypeRoot::Date,
            ("TIME", "") => TypeRoot::Time(arg(0, 0)?),
            ("TIMESTAMP", "") => TypeRoot::Timestamp(arg(0, 6)?),
            ("TIMESTAMP", "WITH LOCAL TIME ZONE") | ("TIMESTAMP_LTZ", "") => {
                TypeRoot::TimestampLtz(arg(0, 6)?)
            }
            _ => TypeRoot::Other(body.to_string()),
        };
        Ok(DataType { root, nullable })
    }

    /// The type as Paimon prints it (`asSQLString`), e.g. `STRING`, `DECIMAL(10, 2) NOT NULL`.
    pub fn sql(&self) -> String {
        let body = match &self.root {
            TypeRoot::Boolean => "BOOLEAN".to_string(),
            TypeRoot::TinyInt => "TINYINT".to_string(),
            TypeRoot::SmallInt => "SMALLINT".to_string(),
            TypeRoot::Int => "INT".to_string(),
            TypeRoot::BigInt => "BIGINT".to_string(),
            TypeRoot::Float => "FLOAT".to_string(),
            TypeRoot::Double => "DOUBLE".to_string(),
            TypeRoot::Decimal { precision, scale } => format!("DECIMAL({precision}, {scale})"),
            TypeRoot::Char(n) => format!("CHAR({n})"),
            TypeRoot::VarChar(MAX_LENGTH) => "STRING".to_string(),
            TypeRoot::VarChar(n) => format!("VARCHAR({n})"),
            TypeRoot::Binary(n) => format!("BINARY({n})"),
            TypeRoot::VarBinary(MAX_LENGTH) => "BYTES".to_string(),
            TypeRoot::VarBinary(n) => format!("VARBINARY({n})"),
            TypeRoot::Date => "DATE".to_string(),
            TypeRoot::Time(p) => format!("TIME({p})"),
            TypeRoot::Timestamp(p) => format!("TIMESTAMP({p})"),
            TypeRoot::TimestampLtz(p) => format!("TIMESTAMP({p}) WITH LOCAL TIME ZONE"),
            TypeRoot::Array(e) => format!("ARRAY<{}>", e.sql()),
            TypeRoot::Map(k, v) => format!("MAP<{}, {}>", k.sql(), v.sql()),
            TypeRoot::Row(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} {}", f.name, f.data_type.sql()))
                    .collect();
                format!("ROW<{}>", inner.join(", "))
            }
            TypeRoot::Other(raw) => raw.clone(),
        };
        if self.nullable {
            body
        } else {
            format!("{body} NOT NULL")
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

impl RowField {
    /// Parse a `{"id":…, "name":…, "type":…}` field object.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let id = value
            .get("id")
            .and_then(Value::as_i64)
            .ok_or("a field needs an integer 'id'")?;
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a field needs a string 'name'")?
            .to_string();
        let data_type = DataType::from_json(value.get("type").ok_or("a field needs a 'type'")?)
            .map_err(|e| format!("field '{name}': {e}"))?;
        Ok(RowField {
            id,
            name,
            data_type,
        })
    }
}

fn split_not_null(text: &str) -> (&str, bool) {
    let trimmed = text.trim_end();
    let upper = trimmed.to_ascii_uppercase();
    if upper.ends_with(" NOT NULL") {
        (
            trimmed[..trimmed.len() - " NOT NULL".len()].trim_end(),
            false,
        )
    } else if upper.ends_with(" NULL") {
        (trimmed[..trimmed.len() - " NULL".len()].trim_end(), true)
    } else {
        (trimmed, true)
    }
}

/// `NAME(a, b) SUFFIX` → (`NAME`, [a, b], `SUFFIX`).
fn split_args(text: &str) -> Result<(&str, Vec<&str>, &str), String> {
    match text.find('(') {
        None => match text.split_once(' ') {
            Some((name, suffix)) => Ok((name, Vec::new(), suffix.trim())),
            None => Ok((text, Vec::new(), "")),
        },
        Some(open) => {
            let close = text[open..]
                .find(')')
                .map(|c| c + open)
                .ok_or_else(|| format!("unbalanced parenthesis in type {text}"))?;
            let args = text[open + 1..close].split(',').map(str::trim).collect();
            Ok((text[..open].trim(), args, text[close + 1..].trim()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_atomic_types() {
        let cases = [
            ("INT", TypeRoot::Int, true),
            ("BIGINT NOT NULL", TypeRoot::BigInt, false),
            ("STRING", TypeRoot::VarChar(MAX_LENGTH), true),
            ("VARCHAR(10)", TypeRoot::VarChar(10), true),
            (
                "DECIMAL(38, 9)",
                TypeRoot::Decimal {
                    precision: 38,
                    scale: 9,
                },
                true,
            ),
            ("TIMESTAMP(3)", TypeRoot::Timestamp(3), true),
            (
                "TIMESTAMP(6) WITH LOCAL TIME ZONE NOT NULL",
                TypeRoot::TimestampLtz(6),
                false,
            ),
            ("DATE", TypeRoot::Date, true),
            ("BYTES", TypeRoot::VarBinary(MAX_LENGTH), true),
            ("VARIANT", TypeRoot::Other("VARIANT".into()), true),
        ];
        for (text, root, nullable) in cases {
            let t = DataType::parse(text).unwrap_or_else(|e| unreachable!("{text}: {e}"));
            assert_eq!((t.root.clone(), t.nullable), (root, nullable), "{text}");
            assert_eq!(DataType::parse(&t.sql()).ok(), Some(t), "{text} round trip");
        }
    }

    #[test]
    fn parses_nested_types() {
        let v: Value = serde_json::from_str(
            r#"{"type":"ROW NOT NULL","fields":[{"id":5,"name":"a","type":"INT"},
               {"id":6,"name":"b","type":{"type":"ARRAY","element":"STRING NOT NULL"}}]}"#,
        )
        .unwrap_or_default();
        let t = DataType::from_json(&v).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(t.sql(), "ROW<a INT, b ARRAY<STRING NOT NULL>> NOT NULL");
    }

    #[test]
    fn decimal_bounds_are_paimon_s() {
        for ok in [
            "DECIMAL(1, 0)",
            "DECIMAL(38, 38)",
            "DECIMAL(38, 0)",
            "DECIMAL",
            "DEC(5)",
        ] {
            assert!(DataType::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "DECIMAL(0, 0)",
            "DECIMAL(39, 2)",
            "DECIMAL(10, 11)",
            "DECIMAL(38, 4000000000)",
            "NUMERIC(4294967295, 0)",
            "DECIMAL(10, -1)",
        ] {
            let e = DataType::parse(bad).err().unwrap_or_default();
            assert!(
                e.contains("DECIMAL precision must be between 1 and 38")
                    || e.contains("bad type argument"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(DataType::parse("DECIMAL(x, 2)").is_err());
        assert!(DataType::from_json(&Value::Bool(true)).is_err());
    }
}
