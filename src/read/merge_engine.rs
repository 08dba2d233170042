//! The merge engines of primary-key tables: how the versions of one key become its row, as
//! Java Paimon 1.4 merges them (`mergetree/compact/*MergeFunction`, `aggregate/Field*Agg`).
//!
//! Pure logic: [`Engine::resolve`] sees the versions of one key in merge order (by
//! `sequence.field` when set, then by sequence number, as Java's `SortMergeReader` with its
//! `UserDefinedSeqComparator`) and reads their values through [`Values`]; it says which whole
//! row wins, or builds the row cell by cell. The I/O and the k-way merge are in `merge.rs`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, Int8Array, StringArray,
    Time32MillisecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};

use crate::error::{Error, Result};

/// `_VALUE_KIND` of a delete (-D); -U is 1.
pub(crate) const KIND_DELETE: i8 = 3;

/// `+I` and `+U` add a row; `-U` and `-D` retract.
pub(crate) fn is_add(kind: i8) -> bool {
    kind == 0 || kind == 2
}

/// One version of a key: where its row is, its sequence number and row kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub slot: usize,
    pub row: usize,
    pub seq: i64,
    pub kind: i8,
    /// The `sequence.field` values in a byte-comparable form (empty without the option).
    pub order: Vec<u8>,
}

/// Merge order of the versions of a key (Java's `SortMergeReader`: user-defined sequence
/// fields first, then the sequence number).
pub(crate) fn sort_versions(versions: &mut [Version]) {
    versions.sort_by(|a, b| a.order.cmp(&b.order).then(a.seq.cmp(&b.seq)));
}

/// A value of a cell, for the aggregations that compute or compare.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Bool(bool),
    /// Every integer type, dates, times and timestamps (the column type says which).
    Int(i64),
    F32(f32),
    F64(f64),
    /// Unscaled (the scale is the column's).
    Decimal(i128),
    Str(String),
    Bytes(Vec<u8>),
}

/// Java's order of values (`InternalRowUtils.compare`); `None` across kinds.
fn cmp_scalar(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    use Scalar as S;
    Some(match (a, b) {
        (S::Bool(x), S::Bool(y)) => x.cmp(y),
        (S::Int(x), S::Int(y)) => x.cmp(y),
        (S::F32(x), S::F32(y)) => x.partial_cmp(y)?,
        (S::F64(x), S::F64(y)) => x.partial_cmp(y)?,
        (S::Decimal(x), S::Decimal(y)) => x.cmp(y),
        (S::Str(x), S::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (S::Bytes(x), S::Bytes(y)) => x.cmp(y),
        _ => return None,
    })
}

/// Values of the versions of the key being merged.
pub(crate) trait Values {
    /// The value of column `col` of version `v` (an index into the versions); `None` is NULL.
    fn get(&self, v: usize, col: usize) -> Result<Option<Scalar>>;
    /// Whether that value is NULL (cheaper than [`Values::get`]).
    fn is_null(&self, v: usize, col: usize) -> bool;
}

/// A cell of a merged row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    /// The value of this column in that version (by index into the versions).
    From(usize),
    Value(Scalar),
}

/// What the versions of a key merge into.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// No row (deleted, or only retractions).
    Drop,
    /// The whole row of that version.
    Whole(usize),
    /// A row built cell by cell, one per column.
    Cells(Vec<Cell>),
}

/// A merge engine with its per-column settings (columns are the read targets).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Engine {
    /// `DeduplicateMergeFunction`.
    Deduplicate { ignore_delete: bool },
    /// `FirstRowMergeFunction`.
    FirstRow { ignore_delete: bool },
    /// `PartialUpdateMergeFunction`.
    PartialUpdate(PartialUpdate),
    /// `AggregateMergeFunction`.
    Aggregate(Aggregate),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartialUpdate {
    pub ignore_delete: bool,
    pub remove_record_on_delete: bool,
    /// Per column: the sequence fields of its sequence group (the group's own fields
    /// included), empty when the column is in no group.
    pub groups: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aggregate {
    pub remove_record_on_delete: bool,
    pub columns: Vec<FieldAgg>,
}

/// One column's aggregate function.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldAgg {
    pub name: String,
    pub func: AggFunc,
    pub arrow_type: ArrowType,
    /// `fields.<f>.ignore-retract` (`FieldIgnoreRetractAgg`).
    pub ignore_retract: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AggFunc {
    /// Key columns (`FieldPrimaryKeyAgg`): the input.
    PrimaryKey,
    Sum,
    Product,
    Max,
    Min,
    LastValue,
    LastNonNullValue,
    FirstValue,
    FirstNonNullValue,
    Listagg {
        delimiter: String,
    },
    BoolAnd,
    BoolOr,
}

impl AggFunc {
    /// The function named in `fields.<f>.aggregate-function`, checked against the column
    /// type as Java's factories check it; anything else is refused by name.
    pub(crate) fn parse(name: &str, field: &str, t: &ArrowType, delimiter: &str) -> Result<Self> {
        let numeric = matches!(
            t,
            ArrowType::Int8
                | ArrowType::Int16
                | ArrowType::Int32
                | ArrowType::Int64
                | ArrowType::Float32
                | ArrowType::Float64
                | ArrowType::Decimal128(..)
        );
        let wrong_type = || {
            Err(Error::Unsupported(format!(
                "aggregate function '{name}' of column '{field}' does not take type {t}"
            )))
        };
        let f = match name {
            "sum" | "product" if !numeric => return wrong_type(),
            "sum" => AggFunc::Sum,
            "product" => AggFunc::Product,
            "max" | "min" if !comparable(t) => return wrong_type(),
            "max" => AggFunc::Max,
            "min" => AggFunc::Min,
            "last_value" => AggFunc::LastValue,
            "last_non_null_value" => AggFunc::LastNonNullValue,
            "first_value" => AggFunc::FirstValue,
            // `FieldFirstNonNullValueAggLegacyFactory` keeps the old spelling.
            "first_non_null_value" | "first_not_null_value" => AggFunc::FirstNonNullValue,
            "listagg" if *t != ArrowType::Utf8 => return wrong_type(),
            "listagg" => AggFunc::Listagg {
                delimiter: delimiter.to_string(),
            },
            "bool_and" | "bool_or" if *t != ArrowType::Boolean => return wrong_type(),
            "bool_and" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            "count" => {
                return Err(Error::Unsupported(format!(
                    "aggregate function 'count' of column '{field}': Java Paimon 1.4 has no \
                     such function, so tagkeeper does not guess its semantics"
                )))
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "aggregate function '{other}' of column '{field}' (tagkeeper merges sum, \
                     product, max, min, last_value, last_non_null_value, first_value, \
                     first_non_null_value, listagg, bool_and and bool_or)"
                )))
            }
        };
        Ok(f)
    }

    fn name(&self) -> &'static str {
        match self {
            AggFunc::PrimaryKey => "primary-key",
            AggFunc::Sum => "sum",
            AggFunc::Product => "product",
            AggFunc::Max => "max",
            AggFunc::Min => "min",
            AggFunc::LastValue => "last_value",
            AggFunc::LastNonNullValue => "last_non_null_value",
            AggFunc::FirstValue => "first_value",
            AggFunc::FirstNonNullValue => "first_non_null_value",
            AggFunc::Listagg { .. } => "listagg",
            AggFunc::BoolAnd => "bool_and",
            AggFunc::BoolOr => "bool_or",
        }
    }
}

/// Types whose values [`scalar`] reads (and so max/min and sequence groups compare).
pub(crate) fn comparable(t: &ArrowType) -> bool {
    matches!(
        t,
        ArrowType::Boolean
            | ArrowType::Int8
            | ArrowType::Int16
            | ArrowType::Int32
            | ArrowType::Int64
            | ArrowType::Float32
            | ArrowType::Float64
            | ArrowType::Decimal128(..)
            | ArrowType::Utf8
            | ArrowType::Binary
            | ArrowType::Date32
            | ArrowType::Time32(TimeUnit::Millisecond)
            | ArrowType::Timestamp(..)
    )
}

impl Engine {
    /// Merge the versions of one key, in merge order (see [`sort_versions`]); `kinds` were
    /// checked by the caller.
    pub(crate) fn resolve(
        &self,
        versions: &[Version],
        values: &dyn Values,
        width: usize,
    ) -> Result<Outcome> {
        // Java's `ReducerMergeFunctionWrapper`: a key with a single version is that version,
        // unmerged, for every engine (and dropped by `DropDeleteReader` when a retraction).
        if let [only] = versions {
            return Ok(if is_add(only.kind) {
                Outcome::Whole(0)
            } else {
                Outcome::Drop
            });
        }
        match self {
            Engine::Deduplicate { ignore_delete } => {
                let last = versions
                    .iter()
                    .rposition(|v| !*ignore_delete || is_add(v.kind));
                Ok(match last {
                    Some(i) if is_add(versions[i].kind) => Outcome::Whole(i),
                    _ => Outcome::Drop,
                })
            }
            Engine::FirstRow { ignore_delete } => {
                for (i, v) in versions.iter().enumerate() {
                    if is_add(v.kind) {
                        return Ok(Outcome::Whole(i));
                    }
                    if !ignore_delete {
                        return Err(Error::Unsupported(
                            "the first-row merge engine cannot merge DELETE/UPDATE_BEFORE \
                             records unless 'ignore-delete' is set (as Java's \
                             FirstRowMergeFunction refuses them)"
                                .into(),
                        ));
                    }
                }
                Ok(Outcome::Drop)
            }
            Engine::PartialUpdate(p) => p.resolve(versions, values, width),
            Engine::Aggregate(a) => a.resolve(versions, values),
        }
    }
}

// ----- partial-update -----

impl PartialUpdate {
    fn grouped(&self) -> bool {
        self.groups.iter().any(|g| !g.is_empty())
    }

    /// `PartialUpdateMergeFunction.add` for each version, then `getResult`.
    fn resolve(&self, versions: &[Version], values: &dyn Values, width: usize) -> Result<Outcome> {
        let mut row = vec![Cell::Null; width];
        let (mut filled, mut meet_insert, mut delete_row) = (false, false, false);
        for (i, v) in versions.iter().enumerate() {
            delete_row = false;
            if !is_add(v.kind) {
                // The first version initialises every field, even a retraction's.
                if !filled {
                    row = vec![Cell::From(i); width];
                    filled = true;
                }
                if self.ignore_delete {
                    continue;
                }
                if self.grouped() {
                    self.retract_groups(&mut row, i, values)?;
                    continue;
                }
                if self.remove_record_on_delete {
                    if v.kind == KIND_DELETE {
                        delete_row = true;
                        row = vec![Cell::From(i); width];
                    }
                    continue;
                }
                return Err(Error::Unsupported(
                    "the partial-update merge engine cannot merge delete records unless \
                     'ignore-delete', 'partial-update.remove-record-on-delete' or sequence \
                     groups are set (as Java's PartialUpdateMergeFunction refuses them)"
                        .into(),
                ));
            }
            if self.grouped() {
                self.update_groups(&mut row, i, values)?;
            } else {
                for (col, cell) in row.iter_mut().enumerate() {
                    if !values.is_null(i, col) {
                        *cell = Cell::From(i);
                    }
                }
            }
            meet_insert = true;
            filled = true;
        }
        Ok(if delete_row || !meet_insert {
            Outcome::Drop
        } else {
            Outcome::Cells(row)
        })
    }

    /// Whether version `v` has a value for some field of the group (`isEmptySequenceGroup`).
    fn group_empty(group: &[usize], v: usize, values: &dyn Values) -> bool {
        group.iter().all(|&f| values.is_null(v, f))
    }

    /// Version `v`'s sequence fields against the row's (ascending, NULL first, as the
    /// generated `RecordComparator`).
    fn cmp_group(group: &[usize], v: usize, row: &[Cell], values: &dyn Values) -> Result<Ordering> {
        for &f in group {
            let ours = values.get(v, f)?;
            let theirs = cell_value(&row[f], f, values)?;
            let o = match (&ours, &theirs) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => cmp_scalar(a, b).ok_or_else(|| {
                    Error::Unsupported(format!("comparing sequence-group values {a:?}, {b:?}"))
                })?,
            };
            if o != Ordering::Equal {
                return Ok(o);
            }
        }
        Ok(Ordering::Equal)
    }

    /// `updateWithSequenceGroup` without aggregators.
    fn update_groups(&self, row: &mut [Cell], v: usize, values: &dyn Values) -> Result<()> {
        for col in 0..row.len() {
            let group = &self.groups[col];
            if group.is_empty() {
                if !values.is_null(v, col) {
                    row[col] = Cell::From(v);
                }
                continue;
            }
            if Self::group_empty(group, v, values) {
                continue;
            }
            if Self::cmp_group(group, v, row, values)? != Ordering::Less {
                if group.contains(&col) {
                    for &f in group {
                        row[f] = Cell::From(v);
                    }
                } else {
                    row[col] = Cell::From(v);
                }
            }
        }
        Ok(())
    }

    /// `retractWithSequenceGroup` without aggregators: a newer retraction of a group clears
    /// its fields and moves its sequence fields on.
    fn retract_groups(&self, row: &mut [Cell], v: usize, values: &dyn Values) -> Result<()> {
        let mut updated = vec![false; row.len()];
        for col in 0..row.len() {
            let group = &self.groups[col];
            if group.is_empty() || Self::group_empty(group, v, values) {
                continue;
            }
            if Self::cmp_group(group, v, row, values)? != Ordering::Less {
                if group.contains(&col) {
                    for &f in group {
                        if !updated[f] {
                            row[f] = Cell::From(v);
                            updated[f] = true;
                        }
                    }
                } else {
                    row[col] = Cell::Null;
                }
            }
        }
        Ok(())
    }
}

fn cell_value(cell: &Cell, col: usize, values: &dyn Values) -> Result<Option<Scalar>> {
    Ok(match cell {
        Cell::Null => None,
        Cell::From(v) => values.get(*v, col)?,
        Cell::Value(s) => Some(s.clone()),
    })
}

// ----- aggregation -----

impl Aggregate {
    /// `AggregateMergeFunction.add` for each version, then `getResult` (an INSERT unless the
    /// last version was a -D with `aggregation.remove-record-on-delete`).
    fn resolve(&self, versions: &[Version], values: &dyn Values) -> Result<Outcome> {
        let width = self.columns.len();
        let mut row = vec![Cell::Null; width];
        // `FieldFirstValueAgg` / `FieldFirstNonNullValueAgg` state, kept across a delete.
        let mut initialized = vec![false; width];
        let mut delete_row = false;
        for (i, v) in versions.iter().enumerate() {
            delete_row = self.remove_record_on_delete && v.kind == KIND_DELETE;
            if delete_row {
                row = vec![Cell::From(i); width];
                continue;
            }
            let retract = !is_add(v.kind);
            for (col, agg) in self.columns.iter().enumerate() {
                let acc = std::mem::replace(&mut row[col], Cell::Null);
                row[col] = if retract {
                    agg.retract(acc, i, col, values)?
                } else {
                    agg.agg(acc, i, col, values, &mut initialized[col])?
                };
            }
        }
        Ok(if delete_row {
            Outcome::Drop
        } else {
            Outcome::Cells(row)
        })
    }
}

impl FieldAgg {
    fn agg(
        &self,
        acc: Cell,
        v: usize,
        col: usize,
        values: &dyn Values,
        initialized: &mut bool,
    ) -> Result<Cell> {
        let input_null = values.is_null(v, col);
        let input = Cell::From(v);
        let acc_null =
            matches!(acc, Cell::Null) || matches!(&acc, Cell::From(a) if values.is_null(*a, col));
        Ok(match &self.func {
            AggFunc::PrimaryKey | AggFunc::LastValue => input,
            AggFunc::LastNonNullValue => {
                if input_null {
                    acc
                } else {
                    input
                }
            }
            AggFunc::FirstValue => {
                if *initialized {
                    acc
                } else {
                    *initialized = true;
                    input
                }
            }
            AggFunc::FirstNonNullValue => {
                if !*initialized && !input_null {
                    *initialized = true;
                    input
                } else {
                    acc
                }
            }
            // Every other function ignores a NULL on either side.
            _ if acc_null => input,
            _ if input_null => acc,
            AggFunc::Max | AggFunc::Min => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                let o = cmp_scalar(&a, &b).ok_or_else(|| self.mismatch(&a, &b))?;
                let take = if self.func == AggFunc::Max {
                    o == Ordering::Less
                } else {
                    o == Ordering::Greater
                };
                if take {
                    input
                } else {
                    acc
                }
            }
            AggFunc::Sum | AggFunc::Product => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                let op = if self.func == AggFunc::Sum {
                    Arith::Add
                } else {
                    Arith::Mul
                };
                arith(op, &a, &b, &self.arrow_type)
                    .map(|r| r.map_or(Cell::Null, Cell::Value))
                    .ok_or_else(|| self.mismatch(&a, &b))?
            }
            AggFunc::Listagg { delimiter } => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                match (&a, &b) {
                    (_, Scalar::Str(s)) if s.is_empty() => acc,
                    (Scalar::Str(s), _) if s.is_empty() => input,
                    (Scalar::Str(x), Scalar::Str(y)) => {
                        Cell::Value(Scalar::Str(format!("{x}{delimiter}{y}")))
                    }
                    _ => return Err(self.mismatch(&a, &b)),
                }
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                match (&a, &b) {
                    (Scalar::Bool(x), Scalar::Bool(y)) => {
                        let r = if self.func == AggFunc::BoolAnd {
                            *x && *y
                        } else {
                            *x || *y
                        };
                        Cell::Value(Scalar::Bool(r))
                    }
                    _ => return Err(self.mismatch(&a, &b)),
                }
            }
        })
    }

    fn retract(&self, acc: Cell, v: usize, col: usize, values: &dyn Values) -> Result<Cell> {
        if self.ignore_retract {
            return Ok(acc);
        }
        let input_null = values.is_null(v, col);
        let acc_null =
            matches!(acc, Cell::Null) || matches!(&acc, Cell::From(a) if values.is_null(*a, col));
        Ok(match &self.func {
            AggFunc::PrimaryKey => Cell::From(v),
            AggFunc::LastValue => Cell::Null,
            AggFunc::LastNonNullValue => {
                if input_null {
                    acc
                } else {
                    Cell::Null
                }
            }
            AggFunc::Sum if input_null => acc,
            AggFunc::Sum if acc_null => {
                let b = self.input(v, col, values)?;
                let zero = zero_like(&b);
                arith(Arith::Sub, &zero, &b, &self.arrow_type)
                    .map(|r| r.map_or(Cell::Null, Cell::Value))
                    .ok_or_else(|| self.mismatch(&zero, &b))?
            }
            AggFunc::Sum => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                arith(Arith::Sub, &a, &b, &self.arrow_type)
                    .map(|r| r.map_or(Cell::Null, Cell::Value))
                    .ok_or_else(|| self.mismatch(&a, &b))?
            }
            AggFunc::Product if acc_null || input_null => acc,
            AggFunc::Product => {
                let (a, b) = (self.value(&acc, col, values)?, self.input(v, col, values)?);
                match (&a, &b) {
                    (Scalar::Int(_), Scalar::Int(0)) => {
                        return Err(Error::Unsupported(format!(
                            "retracting a product of column '{}' by zero (Java fails on the \
                             division)",
                            self.name
                        )))
                    }
                    (Scalar::Decimal(_), _) => {
                        return Err(Error::Unsupported(format!(
                            "retracting a DECIMAL product of column '{}' (Java's BigDecimal \
                             division)",
                            self.name
                        )))
                    }
                    _ => {}
                }
                arith(Arith::Div, &a, &b, &self.arrow_type)
                    .map(|r| r.map_or(Cell::Null, Cell::Value))
                    .ok_or_else(|| self.mismatch(&a, &b))?
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "aggregate function '{}' of column '{}' does not support retraction (-U/-D \
                     records), as in Java; 'fields.{}.ignore-retract' makes it ignore them",
                    other.name(),
                    self.name,
                    self.name
                )))
            }
        })
    }

    fn value(&self, cell: &Cell, col: usize, values: &dyn Values) -> Result<Scalar> {
        cell_value(cell, col, values)?
            .ok_or_else(|| Error::Unsupported(format!("NULL in column '{}'", self.name)))
    }

    fn input(&self, v: usize, col: usize, values: &dyn Values) -> Result<Scalar> {
        self.value(&Cell::From(v), col, values)
    }

    fn mismatch(&self, a: &Scalar, b: &Scalar) -> Error {
        Error::Unsupported(format!(
            "aggregate function '{}' of column '{}' cannot combine {a:?} and {b:?}",
            self.func.name(),
            self.name
        ))
    }
}

fn zero_like(s: &Scalar) -> Scalar {
    match s {
        Scalar::F32(_) => Scalar::F32(0.0),
        Scalar::F64(_) => Scalar::F64(0.0),
        Scalar::Decimal(_) => Scalar::Decimal(0),
        _ => Scalar::Int(0),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// Java's arithmetic on the column type: integers wrap at their width (Java's `(byte)`,
/// `(short)`, `int`, `long`), floats in their precision; decimals as `DecimalUtils` and
/// `Decimal.fromBigDecimal` (rounded half-up to the scale, NULL beyond the precision).
/// `None`: not numbers of the type; `Some(None)`: NULL.
fn arith(op: Arith, a: &Scalar, b: &Scalar, t: &ArrowType) -> Option<Option<Scalar>> {
    use Scalar as S;
    Some(Some(match (a, b, t) {
        (S::Int(x), S::Int(y), _) => {
            let (x, y) = (*x, *y);
            let wide = match op {
                Arith::Add => x.wrapping_add(y),
                Arith::Sub => x.wrapping_sub(y),
                Arith::Mul => x.wrapping_mul(y),
                Arith::Div => x.checked_div(y)?,
            };
            S::Int(match t {
                ArrowType::Int8 => i64::from(wide as i8),
                ArrowType::Int16 => i64::from(wide as i16),
                ArrowType::Int32 => i64::from(wide as i32),
                ArrowType::Int64 => wide,
                _ => return None,
            })
        }
        (S::F32(x), S::F32(y), _) => S::F32(match op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
        }),
        (S::F64(x), S::F64(y), _) => S::F64(match op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
        }),
        (S::Decimal(x), S::Decimal(y), ArrowType::Decimal128(p, s)) => {
            let r = match op {
                Arith::Add => x.checked_add(*y)?,
                Arith::Sub => x.checked_sub(*y)?,
                Arith::Mul => round_half_up(x.checked_mul(*y)?, u32::try_from(*s).ok()?)?,
                Arith::Div => return None,
            };
            let limit = 10i128.checked_pow(u32::from(*p))?;
            if r.abs() >= limit {
                return Some(None);
            }
            S::Decimal(r)
        }
        _ => return None,
    }))
}

/// Drop `digits` decimal digits, rounding half away from zero (`RoundingMode.HALF_UP`).
fn round_half_up(v: i128, digits: u32) -> Option<i128> {
    if digits == 0 {
        return Some(v);
    }
    let d = 10i128.checked_pow(digits)?;
    let (q, r) = (v / d, v % d);
    Some(if r.abs() * 2 >= d { q + v.signum() } else { q })
}

// ----- Arrow values -----

/// The value at `row` of an array of a [`comparable`] type; `None` for NULL.
pub(crate) fn scalar(array: &dyn Array, row: usize) -> Result<Option<Scalar>> {
    if array.is_null(row) {
        return Ok(None);
    }
    macro_rules! get {
        ($t:ty) => {
            array
                .as_any()
                .downcast_ref::<$t>()
                .map(|a| a.value(row))
                .ok_or_else(|| {
                    Error::Unsupported(format!("merging values of type {}", array.data_type()))
                })?
        };
    }
    Ok(Some(match array.data_type() {
        ArrowType::Boolean => Scalar::Bool(get!(BooleanArray)),
        ArrowType::Int8 => Scalar::Int(i64::from(get!(Int8Array))),
        ArrowType::Int16 => Scalar::Int(i64::from(get!(Int16Array))),
        ArrowType::Int32 => Scalar::Int(i64::from(get!(Int32Array))),
        ArrowType::Int64 => Scalar::Int(get!(Int64Array)),
        ArrowType::Date32 => Scalar::Int(i64::from(get!(Date32Array))),
        ArrowType::Time32(TimeUnit::Millisecond) => {
            Scalar::Int(i64::from(get!(Time32MillisecondArray)))
        }
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => {
            Scalar::Int(get!(TimestampMillisecondArray))
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            Scalar::Int(get!(TimestampMicrosecondArray))
        }
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => {
            Scalar::Int(get!(TimestampNanosecondArray))
        }
        ArrowType::Float32 => Scalar::F32(get!(Float32Array)),
        ArrowType::Float64 => Scalar::F64(get!(Float64Array)),
        ArrowType::Decimal128(..) => Scalar::Decimal(get!(Decimal128Array)),
        ArrowType::Utf8 => Scalar::Str(get!(StringArray).to_string()),
        ArrowType::Binary => Scalar::Bytes(get!(BinaryArray).to_vec()),
        other => {
            return Err(Error::Unsupported(format!(
                "merging values of type {other}"
            )))
        }
    }))
}

/// An array of the computed values of one column (sum, product, listagg, bool_and/or).
pub(crate) fn build(t: &ArrowType, values: &[Scalar]) -> Result<ArrayRef> {
    let bad = || Error::Unsupported(format!("building merged values of type {t}"));
    // Integer-backed arrays, from a vector of their native values (a value out of range is
    // refused, never wrapped).
    macro_rules! natives {
        ($arr:ty, $n:ty) => {
            Arc::new(<$arr>::from(
                values
                    .iter()
                    .map(|v| match v {
                        Scalar::Int(i) => <$n>::try_from(*i).map_err(|_| bad()),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<$n>>>()?,
            )) as ArrayRef
        };
    }
    Ok(match t {
        ArrowType::Int8 => natives!(Int8Array, i8),
        ArrowType::Int16 => natives!(Int16Array, i16),
        ArrowType::Int32 => natives!(Int32Array, i32),
        ArrowType::Int64 => natives!(Int64Array, i64),
        ArrowType::Date32 => natives!(Date32Array, i32),
        ArrowType::Time32(TimeUnit::Millisecond) => natives!(Time32MillisecondArray, i32),
        ArrowType::Timestamp(unit, tz) => {
            let a: ArrayRef = match unit {
                TimeUnit::Millisecond => natives!(TimestampMillisecondArray, i64),
                TimeUnit::Microsecond => natives!(TimestampMicrosecondArray, i64),
                TimeUnit::Nanosecond => natives!(TimestampNanosecondArray, i64),
                TimeUnit::Second => return Err(bad()),
            };
            arrow::compute::cast(&a, &ArrowType::Timestamp(*unit, tz.clone())).map_err(|_| bad())?
        }
        ArrowType::Binary => Arc::new(BinaryArray::from(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Bytes(b) => Ok(b.as_slice()),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>>>()?,
        )),
        ArrowType::Float32 => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::F32(f) => Ok(*f),
                    _ => Err(bad()),
                })
                .collect::<Result<Float32Array>>()?,
        ),
        ArrowType::Float64 => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::F64(f) => Ok(*f),
                    _ => Err(bad()),
                })
                .collect::<Result<Float64Array>>()?,
        ),
        ArrowType::Decimal128(p, s) => Arc::new(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Decimal(d) => Ok(*d),
                    _ => Err(bad()),
                })
                .collect::<Result<Decimal128Array>>()?
                .with_precision_and_scale(*p, *s)
                .map_err(|_| bad())?,
        ),
        ArrowType::Utf8 => Arc::new(StringArray::from(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Str(s) => Ok(s.as_str()),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>>>()?,
        )),
        ArrowType::Boolean => Arc::new(BooleanArray::from(
            values
                .iter()
                .map(|v| match v {
                    Scalar::Bool(b) => Ok(*b),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>>>()?,
        )),
        _ => return Err(bad()),
    })
}

// ----- options -----

/// The table options a merge engine reads, with the read's columns.
pub(crate) struct EngineOptions<'a> {
    pub options: &'a BTreeMap<String, String>,
    /// The read targets: (name, Arrow type).
    pub columns: Vec<(String, ArrowType)>,
    pub primary_keys: &'a [String],
    pub sequence_fields: &'a [String],
}

fn flag(options: &BTreeMap<String, String>, key: &str) -> bool {
    options
        .get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `ignore-delete` with its fallback keys (`CoreOptions.IGNORE_DELETE`).
pub(crate) fn ignore_delete(options: &BTreeMap<String, String>) -> bool {
    match options.get("ignore-delete") {
        Some(v) => v.eq_ignore_ascii_case("true"),
        None => [
            "first-row.ignore-delete",
            "deduplicate.ignore-delete",
            "partial-update.ignore-delete",
        ]
        .iter()
        .any(|k| flag(options, k)),
    }
}

/// The sequence groups of a partial-update table: `fields.<f1,f2>.sequence-group = a,b`.
/// Returns (sequence fields, grouped fields) pairs by name.
pub(crate) fn sequence_groups(
    options: &BTreeMap<String, String>,
) -> Vec<(Vec<String>, Vec<String>)> {
    options
        .iter()
        .filter_map(|(k, v)| {
            let fields = k.strip_prefix("fields.")?.strip_suffix(".sequence-group")?;
            let split = |s: &str| s.split(',').map(|x| x.trim().to_string()).collect();
            Some((split(fields), split(v)))
        })
        .collect()
}

impl EngineOptions<'_> {
    fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }

    /// The engine of the table (`merge-engine`), or why it is refused.
    pub(crate) fn engine(&self) -> Result<Engine> {
        let o = self.options;
        let name = o.get("merge-engine").map_or("deduplicate", String::as_str);
        match name.to_ascii_lowercase().as_str() {
            "deduplicate" => Ok(Engine::Deduplicate {
                ignore_delete: ignore_delete(o),
            }),
            "first-row" => Ok(Engine::FirstRow {
                ignore_delete: ignore_delete(o),
            }),
            "partial-update" => self.partial_update().map(Engine::PartialUpdate),
            "aggregation" => self.aggregate().map(Engine::Aggregate),
            other => Err(Error::Unsupported(format!(
                "the table uses merge-engine '{other}'; tagkeeper merges deduplicate, first-row, \
                 partial-update and aggregation"
            ))),
        }
    }

    fn partial_update(&self) -> Result<PartialUpdate> {
        let o = self.options;
        for (k, _) in o.iter() {
            let refused = k == "partial-update.remove-record-on-sequence-group"
                || k == "fields.default-aggregate-function"
                || (k.starts_with("fields.") && k.ends_with(".aggregate-function"));
            if refused {
                return Err(Error::Unsupported(format!(
                    "the partial-update table sets '{k}'; tagkeeper merges partial-update \
                     tables without aggregate functions or remove-record-on-sequence-group"
                )));
            }
        }
        let mut groups = vec![Vec::new(); self.columns.len()];
        for (seq, fields) in sequence_groups(o) {
            let mut seq_at = Vec::new();
            for f in &seq {
                seq_at.push(self.position(f).ok_or_else(|| {
                    Error::Unsupported(format!("sequence group field '{f}' is not read"))
                })?);
            }
            for (_, t) in seq_at.iter().map(|&i| &self.columns[i]) {
                if !comparable(t) {
                    return Err(Error::Unsupported(format!(
                        "sequence group fields of type {t}"
                    )));
                }
            }
            for f in fields.iter().chain(&seq) {
                if let Some(i) = self.position(f) {
                    groups[i].clone_from(&seq_at);
                }
            }
        }
        Ok(PartialUpdate {
            ignore_delete: ignore_delete(o),
            remove_record_on_delete: flag(o, "partial-update.remove-record-on-delete"),
            groups,
        })
    }

    fn aggregate(&self) -> Result<Aggregate> {
        let o = self.options;
        let default = o.get("fields.default-aggregate-function");
        let mut columns = Vec::new();
        for (name, t) in &self.columns {
            // `AggregateMergeFunction.getAggFuncName`: sequence fields keep the last value,
            // key fields the input, others their function or the default.
            let func = if self.sequence_fields.contains(name) {
                AggFunc::LastValue
            } else if self.primary_keys.contains(name) {
                AggFunc::PrimaryKey
            } else {
                let f = o
                    .get(&format!("fields.{name}.aggregate-function"))
                    .or(default)
                    .map_or("last_non_null_value", String::as_str);
                if flag(o, &format!("fields.{name}.distinct")) {
                    return Err(Error::Unsupported(format!(
                        "'fields.{name}.distinct' (distinct {f})"
                    )));
                }
                let delimiter = o
                    .get(&format!("fields.{name}.list-agg-delimiter"))
                    .map_or(",", String::as_str);
                AggFunc::parse(f, name, t, delimiter)?
            };
            columns.push(FieldAgg {
                name: name.clone(),
                func,
                arrow_type: t.clone(),
                ignore_retract: flag(o, &format!("fields.{name}.ignore-retract")),
            });
        }
        Ok(Aggregate {
            remove_record_on_delete: flag(o, "aggregation.remove-record-on-delete"),
            columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_values_build_arrays_of_temporal_and_binary_types() {
        let ints = [Scalar::Int(19_000), Scalar::Int(-1)];
        let dates = build(&ArrowType::Date32, &ints).unwrap();
        let dates = dates.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!((dates.value(0), dates.value(1)), (19_000, -1));
        let utc = Some(Arc::from("UTC"));
        let ts_type = ArrowType::Timestamp(TimeUnit::Microsecond, utc);
        let ts = build(&ts_type, &ints).unwrap();
        assert_eq!(ts.data_type(), &ts_type);
        let bytes = build(&ArrowType::Binary, &[Scalar::Bytes(vec![1, 2])]).unwrap();
        let bytes = bytes.as_any().downcast_ref::<BinaryArray>().unwrap();
        assert_eq!(bytes.value(0), [1, 2]);
        // A date out of i32 range and a value of the wrong kind are refused, not wrapped.
        assert!(build(&ArrowType::Date32, &[Scalar::Int(i64::MAX)]).is_err());
        assert!(build(&ArrowType::Date32, &[Scalar::Str("x".into())]).is_err());
    }

    /// Versions as rows of values (column 0 is the key).
    struct Rows(Vec<Vec<Option<Scalar>>>);

    impl Values for Rows {
        fn get(&self, v: usize, col: usize) -> Result<Option<Scalar>> {
            Ok(self.0[v][col].clone())
        }
        fn is_null(&self, v: usize, col: usize) -> bool {
            self.0[v][col].is_none()
        }
    }

    fn versions(kinds: &[i8]) -> Vec<Version> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| Version {
                slot: 0,
                row: i,
                seq: i as i64,
                kind,
                order: Vec::new(),
            })
            .collect()
    }

    fn int(v: i64) -> Option<Scalar> {
        Some(Scalar::Int(v))
    }

    fn text(v: &str) -> Option<Scalar> {
        Some(Scalar::Str(v.into()))
    }

    /// The values of a merged row.
    fn values_of(out: &Outcome, rows: &Rows) -> Vec<Option<Scalar>> {
        match out {
            Outcome::Cells(cells) => cells
                .iter()
                .enumerate()
                .map(|(col, c)| cell_value(c, col, rows).unwrap())
                .collect(),
            Outcome::Whole(v) => rows.0[*v].clone(),
            Outcome::Drop => panic!("no row"),
        }
    }

    fn agg(funcs: &[(&str, ArrowType, bool)]) -> Engine {
        let mut columns = vec![FieldAgg {
            name: "k".into(),
            func: AggFunc::PrimaryKey,
            arrow_type: ArrowType::Int64,
            ignore_retract: false,
        }];
        for (i, (f, t, ignore_retract)) in funcs.iter().enumerate() {
            columns.push(FieldAgg {
                name: format!("c{i}"),
                func: AggFunc::parse(f, &format!("c{i}"), t, "|").unwrap(),
                arrow_type: t.clone(),
                ignore_retract: *ignore_retract,
            });
        }
        Engine::Aggregate(Aggregate {
            remove_record_on_delete: false,
            columns,
        })
    }

    #[test]
    fn versions_order_by_sequence_field_then_sequence_number() {
        let v = |seq: i64, order: &[u8]| Version {
            slot: 0,
            row: seq as usize,
            seq,
            kind: 0,
            order: order.to_vec(),
        };
        let mut got = vec![v(0, &[5]), v(1, &[3]), v(2, &[5]), v(3, &[9])];
        sort_versions(&mut got);
        let seqs: Vec<i64> = got.iter().map(|v| v.seq).collect();
        // A tie on the sequence field (5) keeps the later sequence number last.
        assert_eq!(seqs, vec![1, 0, 2, 3]);
        let engine = Engine::Deduplicate {
            ignore_delete: false,
        };
        let rows = Rows(vec![vec![int(1)]; 4]);
        assert_eq!(engine.resolve(&got, &rows, 1).unwrap(), Outcome::Whole(3));
    }

    #[test]
    fn deduplicate_and_first_row() {
        let rows = Rows(vec![vec![int(1)]; 3]);
        let dedup = |ignore_delete| Engine::Deduplicate { ignore_delete };
        let vs = versions(&[0, 2, 3]);
        assert_eq!(dedup(false).resolve(&vs, &rows, 1).unwrap(), Outcome::Drop);
        assert_eq!(
            dedup(true).resolve(&vs, &rows, 1).unwrap(),
            Outcome::Whole(1)
        );
        let first = |ignore_delete| Engine::FirstRow { ignore_delete };
        assert_eq!(
            first(false).resolve(&versions(&[0, 2]), &rows, 1).unwrap(),
            Outcome::Whole(0)
        );
        assert_eq!(
            first(true)
                .resolve(&versions(&[1, 0, 3]), &rows, 1)
                .unwrap(),
            Outcome::Whole(1)
        );
        let err = first(false)
            .resolve(&versions(&[3, 0]), &rows, 1)
            .unwrap_err();
        assert!(err.to_string().contains("ignore-delete"), "{err}");
        // A single version is itself (Java's ReducerMergeFunctionWrapper): no error, and a
        // lone retraction is dropped.
        assert_eq!(
            first(false).resolve(&versions(&[3]), &rows, 1).unwrap(),
            Outcome::Drop
        );
    }

    fn partial(ignore_delete: bool, remove: bool, groups: Vec<Vec<usize>>) -> Engine {
        Engine::PartialUpdate(PartialUpdate {
            ignore_delete,
            remove_record_on_delete: remove,
            groups,
        })
    }

    #[test]
    fn partial_update_keeps_earlier_values_where_later_rows_are_null() {
        let rows = Rows(vec![
            vec![int(1), text("a"), None, int(3)],
            vec![int(1), None, int(20), None],
            vec![int(1), text("c"), None, None],
        ]);
        let e = partial(false, false, vec![Vec::new(); 4]);
        let out = e.resolve(&versions(&[0, 0, 0]), &rows, 4).unwrap();
        assert_eq!(
            values_of(&out, &rows),
            vec![int(1), text("c"), int(20), int(3)]
        );
        // Deletes: refused by default, skipped with ignore-delete (but a delete first still
        // initialises the row, as Java's initRow), a removal with remove-record-on-delete.
        let rows = Rows(vec![
            vec![int(1), text("old"), int(5), None],
            vec![int(1), None, int(6), None],
        ]);
        let vs = versions(&[3, 0]);
        let err = partial(false, false, vec![Vec::new(); 4])
            .resolve(&vs, &rows, 4)
            .unwrap_err();
        assert!(err.to_string().contains("ignore-delete"), "{err}");
        let out = partial(true, false, vec![Vec::new(); 4])
            .resolve(&vs, &rows, 4)
            .unwrap();
        assert_eq!(
            values_of(&out, &rows),
            vec![int(1), text("old"), int(6), None]
        );
        let e = partial(false, true, vec![Vec::new(); 4]);
        assert_eq!(
            e.resolve(&versions(&[0, 3]), &rows, 4).unwrap(),
            Outcome::Drop
        );
        // -U with remove-record-on-delete is ignored; only inserts → the row stays.
        let out = e.resolve(&versions(&[0, 1]), &rows, 4).unwrap();
        assert_eq!(
            values_of(&out, &rows),
            vec![int(1), text("old"), int(5), None]
        );
    }

    #[test]
    fn partial_update_sequence_groups_keep_the_newest_group_values() {
        // Columns: k, a (group g), g; b (no group).
        let g = vec![2];
        let e = partial(false, false, vec![Vec::new(), g.clone(), g, Vec::new()]);
        let rows = Rows(vec![
            vec![int(1), text("a5"), int(5), int(1)],
            vec![int(1), text("a3"), int(3), None],
            vec![int(1), None, int(5), int(7)],
            vec![int(1), text("x"), None, None],
        ]);
        let out = e.resolve(&versions(&[0, 0, 0, 0]), &rows, 4).unwrap();
        // g=3 is older (ignored); the tie g=5 wins and sets a to NULL; a group without a
        // sequence value is skipped.
        assert_eq!(values_of(&out, &rows), vec![int(1), None, int(5), int(7)]);
        // A newer retraction of the group clears it and moves g on.
        let rows = Rows(vec![
            vec![int(1), text("a5"), int(5), int(1)],
            vec![int(1), text("a5"), int(6), None],
        ]);
        let out = e.resolve(&versions(&[0, 3]), &rows, 4).unwrap();
        // Only inserts met: an INSERT; a is cleared, b kept.
        assert_eq!(values_of(&out, &rows), vec![int(1), None, int(6), int(1)]);
    }

    #[test]
    fn aggregate_functions_match_java() {
        let t = ArrowType::Int32;
        let s = ArrowType::Utf8;
        let b = ArrowType::Boolean;
        let e = agg(&[
            ("sum", t.clone(), false),
            ("product", t.clone(), false),
            ("max", t.clone(), false),
            ("min", s.clone(), false),
            ("last_value", s.clone(), false),
            ("last_non_null_value", s.clone(), false),
            ("first_value", s.clone(), false),
            ("first_non_null_value", s.clone(), false),
            ("listagg", s.clone(), false),
            ("bool_and", b.clone(), false),
            ("bool_or", b.clone(), false),
        ]);
        let bo = |v: bool| Some(Scalar::Bool(v));
        let rows = Rows(vec![
            vec![
                int(1),
                int(2),
                int(3),
                int(5),
                text("m"),
                text("x"),
                text("x"),
                None,
                None,
                text("p"),
                bo(true),
                None,
            ],
            vec![
                int(1),
                None,
                int(4),
                int(9),
                text("b"),
                None,
                None,
                text("f"),
                text("n"),
                text(""),
                None,
                bo(false),
            ],
            vec![
                int(1),
                int(10),
                None,
                int(1),
                None,
                text("z"),
                None,
                text("g"),
                text("o"),
                text("q"),
                bo(false),
                bo(true),
            ],
        ]);
        let out = e.resolve(&versions(&[0, 0, 0]), &rows, 12).unwrap();
        assert_eq!(
            values_of(&out, &rows),
            vec![
                int(1),
                int(12),
                int(12),
                int(9),
                text("b"),
                text("z"),
                text("x"),
                None,
                text("n"),
                text("p|q"),
                bo(false),
                bo(true),
            ]
        );
    }

    #[test]
    fn aggregate_arithmetic_wraps_and_decimals_round_like_java() {
        let t8 = ArrowType::Int8;
        assert_eq!(
            arith(Arith::Add, &Scalar::Int(120), &Scalar::Int(10), &t8),
            Some(Some(Scalar::Int(-126)))
        );
        let d = ArrowType::Decimal128(4, 2);
        // 1.25 * 1.25 = 1.5625 → 1.56; 0.05 * 0.15 = 0.0075 → 0.01 (half up).
        assert_eq!(
            arith(Arith::Mul, &Scalar::Decimal(125), &Scalar::Decimal(125), &d),
            Some(Some(Scalar::Decimal(156)))
        );
        assert_eq!(
            arith(Arith::Mul, &Scalar::Decimal(5), &Scalar::Decimal(15), &d),
            Some(Some(Scalar::Decimal(1)))
        );
        assert_eq!(
            arith(Arith::Mul, &Scalar::Decimal(-5), &Scalar::Decimal(15), &d),
            Some(Some(Scalar::Decimal(-1)))
        );
        // Beyond the precision: NULL (Decimal.fromBigDecimal).
        assert_eq!(
            arith(Arith::Add, &Scalar::Decimal(9999), &Scalar::Decimal(1), &d),
            Some(None)
        );
        assert_eq!(
            arith(
                Arith::Add,
                &Scalar::F32(0.1),
                &Scalar::F32(0.2),
                &ArrowType::Float32
            ),
            Some(Some(Scalar::F32(0.1f32 + 0.2f32)))
        );
    }

    #[test]
    fn aggregate_retractions_as_java_or_refused() {
        let t = ArrowType::Int64;
        let e = agg(&[
            ("sum", t.clone(), false),
            ("product", t.clone(), false),
            ("last_value", t.clone(), false),
            ("last_non_null_value", t.clone(), false),
            ("max", t.clone(), true),
        ]);
        let rows = Rows(vec![
            vec![int(1), int(10), int(12), int(7), int(7), int(9)],
            vec![int(1), int(3), int(4), int(1), None, int(100)],
        ]);
        let out = e.resolve(&versions(&[0, 1]), &rows, 6).unwrap();
        // sum 10-3, product 12/4, last_value NULL, last_non_null kept (NULL retracted),
        // max ignores the retraction; an aggregated row is an INSERT even after a -U.
        assert_eq!(
            values_of(&out, &rows),
            vec![int(1), int(7), int(3), None, int(7), int(9)]
        );
        // A retraction first: sum starts from its negation.
        let rows = Rows(vec![
            vec![int(1), int(4), None, None, None, None],
            vec![int(1), int(1), None, None, None, None],
        ]);
        let out = e.resolve(&versions(&[3, 0]), &rows, 6).unwrap();
        assert_eq!(values_of(&out, &rows)[1], int(-3));
        // max without ignore-retract refuses, naming the function and column.
        let e = agg(&[("max", t.clone(), false)]);
        let rows = Rows(vec![vec![int(1), int(1)], vec![int(1), int(2)]]);
        let err = e.resolve(&versions(&[0, 3]), &rows, 2).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("'max'") && msg.contains("'c0'"), "{msg}");
        // remove-record-on-delete: a -D last removes the row.
        let Engine::Aggregate(mut a) = agg(&[("sum", t.clone(), false)]) else {
            unreachable!()
        };
        a.remove_record_on_delete = true;
        let e = Engine::Aggregate(a);
        assert_eq!(
            e.resolve(&versions(&[0, 3]), &rows, 2).unwrap(),
            Outcome::Drop
        );
        let out = e.resolve(&versions(&[3, 0]), &rows, 2).unwrap();
        // An insert after the delete starts from the deleted row's values: 1 + 2.
        assert_eq!(values_of(&out, &rows), vec![int(1), int(3)]);
    }

    #[test]
    fn unknown_and_mistyped_functions_are_refused_by_name() {
        for f in ["count", "collect", "merge_map", "hll_sketch", "nonsense"] {
            let err = AggFunc::parse(f, "c", &ArrowType::Int64, ",").unwrap_err();
            assert!(
                matches!(&err, Error::Unsupported(m) if m.contains(&format!("'{f}'"))),
                "{err}"
            );
        }
        let err = AggFunc::parse("sum", "c", &ArrowType::Utf8, ",").unwrap_err();
        assert!(err.to_string().contains("'sum'"), "{err}");
        let err = AggFunc::parse("bool_and", "c", &ArrowType::Int32, ",").unwrap_err();
        assert!(err.to_string().contains("'bool_and'"), "{err}");
    }

    #[test]
    fn options_pick_functions_defaults_and_refusals() {
        let opts = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let columns = vec![
            ("k".to_string(), ArrowType::Int64),
            ("ts".to_string(), ArrowType::Int64),
            ("a".to_string(), ArrowType::Int64),
            ("b".to_string(), ArrowType::Utf8),
        ];
        let pk = vec!["k".to_string()];
        let seq = vec!["ts".to_string()];
        let o = opts(&[
            ("merge-engine", "aggregation"),
            ("fields.default-aggregate-function", "sum"),
            ("fields.b.aggregate-function", "listagg"),
            ("fields.b.list-agg-delimiter", ";"),
        ]);
        let e = EngineOptions {
            options: &o,
            columns: columns.clone(),
            primary_keys: &pk,
            sequence_fields: &seq,
        }
        .engine()
        .unwrap();
        let Engine::Aggregate(a) = e else {
            panic!("{e:?}")
        };
        let funcs: Vec<AggFunc> = a.columns.iter().map(|c| c.func.clone()).collect();
        assert_eq!(
            funcs,
            vec![
                AggFunc::PrimaryKey,
                AggFunc::LastValue,
                AggFunc::Sum,
                AggFunc::Listagg {
                    delimiter: ";".into()
                }
            ]
        );
        let refused = |kv: &[(&str, &str)]| {
            let o = opts(kv);
            EngineOptions {
                options: &o,
                columns: columns.clone(),
                primary_keys: &pk,
                sequence_fields: &[],
            }
            .engine()
            .unwrap_err()
            .to_string()
        };
        assert!(refused(&[("merge-engine", "other")]).contains("'other'"));
        assert!(refused(&[
            ("merge-engine", "partial-update"),
            ("fields.a.aggregate-function", "sum")
        ])
        .contains("fields.a.aggregate-function"));
        assert!(refused(&[
            ("merge-engine", "aggregation"),
            ("fields.a.aggregate-function", "count")
        ])
        .contains("'count'"));
        assert!(refused(&[
            ("merge-engine", "aggregation"),
            ("fields.b.aggregate-function", "listagg"),
            ("fields.b.distinct", "true")
        ])
        .contains("fields.b.distinct"));
        // ignore-delete and its fallback keys.
        assert!(ignore_delete(&opts(&[(
            "partial-update.ignore-delete",
            "true"
        )])));
        assert!(!ignore_delete(&opts(&[
            ("ignore-delete", "false"),
            ("first-row.ignore-delete", "true")
        ])));
    }
}
