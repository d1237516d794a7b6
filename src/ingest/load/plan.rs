//! The reconciliation's rule: the input rows of one bucket of keys weighed against the stored
//! version and content of each key, into the action each input row takes. One rule, in one
//! place, whatever the table and the run's parallelism.
//!
//! The rows of a key are ordered by version (latest first, unknown last), then by a
//! snapshot's sequence number (latest first), by content hash (greatest first) and by file and
//! line; the first is the key's winner. With [`Mode::Versioned`] (rows of an export) the winner
//! is:
//! - `insert` when the key is not stored;
//! - `unchanged` when it is the stored version with the same content, or an older version;
//! - `replace` when it is the stored version with other content and a greater hash (the stored
//!   row is replaced and recorded as a conflict);
//! - `conflict` when it is the stored version with other content and a smaller hash
//!   (quarantined);
//! - `update` when it is a later version (or the stored row has none).
//!
//! With [`Mode::Derived`], the winner replaces the stored row (`update`) whenever they differ.
//! Every other row of the key is `unchanged` when it has the winner's content, `conflict` when
//! it has the winner's version and sequence with other content, and `superseded` otherwise.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{
    make_comparator, new_null_array, Array, ArrayRef, AsArray, Int64Array, RecordBatch,
    StringArray, StringBuilder, UInt32Array,
};
use datafusion::arrow::compute::{cast, take, SortOptions};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::HashMap;

use crate::ingest::row_hash;
use crate::tables::{Table, TICKETS};

use super::reconcile::Mode;
use super::TableCounts;

/// What an input row does to the stored table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Insert,
    Update,
    Replace,
    Conflict,
    Unchanged,
    Superseded,
}

impl Action {
    pub(super) fn name(self) -> &'static str {
        match self {
            Action::Insert => "insert",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Conflict => "conflict",
            Action::Unchanged => "unchanged",
            Action::Superseded => "superseded",
        }
    }

    /// Whether the plan keeps the row: it is committed, or quarantined as a conflict.
    fn planned(self) -> bool {
        !matches!(self, Action::Unchanged | Action::Superseded)
    }
}

/// The schema of a plan: the target's columns (as the input has them), `_file`, `_line`, the
/// hash the row was weighed against `_th` (the stored row's, or its key's winner's) and
/// `_action`.
pub(super) fn plan_schema(input: &Schema, target: &Table) -> Result<SchemaRef, ArrowError> {
    let mut fields = Vec::new();
    for name in target
        .columns
        .iter()
        .map(|c| c.name)
        .chain(["_file", "_line"])
    {
        fields.push(input.field_with_name(name)?.clone());
    }
    fields.push(Field::new("_th", DataType::Utf8, true));
    fields.push(Field::new("_action", DataType::Utf8, false));
    Ok(Arc::new(Schema::new(fields)))
}

/// The plan of rows whose keys appear once in the input and are not stored: inserts.
pub(super) fn inserts(input: &RecordBatch, target: &Table) -> Result<RecordBatch, ArrowError> {
    let schema = plan_schema(&input.schema(), target)?;
    let n = input.num_rows();
    let mut columns = schema
        .fields()
        .iter()
        .take(schema.fields().len() - 2)
        .map(|f| column(input, f.name()))
        .collect::<Result<Vec<_>, _>>()?;
    columns.push(new_null_array(&DataType::Utf8, n));
    columns.push(Arc::new(StringArray::from(vec![Action::Insert.name(); n])));
    RecordBatch::try_new(schema, columns)
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name} in a plan's input")))
}

/// Content hashes of some rows of a batch, computed only for the rows that need one: a key's
/// only row needs none unless the key is stored.
struct Hashes {
    /// Where each row's hash is in `hashes` (`u32::MAX`: not computed).
    at: Vec<u32>,
    hashes: StringArray,
}

impl Hashes {
    /// The hashes of `rows` of `columns`, on `threads` threads.
    fn of(
        columns: &[ArrayRef],
        len: usize,
        mut rows: Vec<u32>,
        threads: usize,
    ) -> Result<Hashes, ArrowError> {
        rows.sort_unstable();
        rows.dedup();
        let indices = UInt32Array::from(rows.clone());
        let taken = columns
            .iter()
            .map(|c| take(c, &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        let hashes = row_hash::hashes_on(&taken, rows.len(), threads)
            .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
        let mut at = vec![u32::MAX; len];
        for (i, &r) in rows.iter().enumerate() {
            at[r as usize] = i as u32;
        }
        Ok(Hashes { at, hashes })
    }

    /// Whether row `r`'s hash was computed.
    fn has(&self, r: usize) -> bool {
        self.at[r] != u32::MAX
    }

    /// The hash of row `r` (computed).
    fn get(&self, r: usize) -> &str {
        self.hashes.value(self.at[r] as usize)
    }
}

/// The plan of one bucket, in key order, in batches of at most `batch_rows`
/// rows (only the rows it keeps: see [`Action::planned`]); the counts go to `counts`. Hashes
/// are computed on `threads` threads.
///
/// `input` has the target's columns, `_file`, `_line` and the sequence `_s`; `stored` the
/// target's columns of the stored rows of the bucket.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    target: &Table,
    input: &RecordBatch,
    stored: &RecordBatch,
    mode: Mode,
    batch_rows: usize,
    threads: usize,
    counts: &mut TableCounts,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let rows = input.num_rows();
    let content = target
        .columns
        .iter()
        .map(|c| column(input, c.name))
        .collect::<Result<Vec<_>, _>>()?;
    // The stored rows read as the input reads them, so the same row has the same hash.
    let stored_content = target
        .columns
        .iter()
        .zip(&content)
        .map(|(c, like)| cast(&column(stored, c.name)?, like.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let key_of = |columns: &[ArrayRef]| -> Vec<ArrayRef> {
        target
            .key
            .iter()
            .map(|k| {
                let i = target
                    .columns
                    .iter()
                    .position(|c| c.name == *k)
                    .expect("a key is a column");
                Arc::clone(&columns[i])
            })
            .collect()
    };
    let input_keys = key_of(&content);
    let keys = RowConverter::new(
        input_keys
            .iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let key_rows = keys.convert_columns(&input_keys)?;
    let stored_rows = keys.convert_columns(&key_of(&stored_content))?;
    let version = versions(target, input)?;
    let sequence = as_i64(&column(input, "_s")?)?;
    let file = cast(&column(input, "_file")?, &DataType::Utf8)?;
    let file = file.as_string::<i32>();
    let line = cast(&column(input, "_line")?, &DataType::UInt64)?;
    let line = line.as_primitive::<UInt64Type>();
    let stored_version = versions(target, stored)?;

    // Latest version first, unknown last; then the latest sequence; the greatest hash; file
    // and line. The hash is compared only between rows of the same version and sequence.
    let latest = |a: &Int64Array, i: usize, j: usize| match (a.is_valid(i), a.is_valid(j)) {
        (true, true) => a.value(j).cmp(&a.value(i)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => Ordering::Equal,
    };
    let same = |a: &Int64Array, i: usize, b: &Int64Array, j: usize| {
        a.is_valid(i) == b.is_valid(j) && (a.is_null(i) || a.value(i) == b.value(j))
    };
    let by_place = |a: usize, b: usize| {
        file.value(a)
            .cmp(file.value(b))
            .then_with(|| line.value(a).cmp(&line.value(b)))
    };

    // The rows by key, each key's rows by version and sequence; the stored row of each key.
    let mut sorted: Vec<u32> = (0..rows as u32).collect();
    sorted.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        key_rows
            .row(a)
            .cmp(&key_rows.row(b))
            .then_with(|| latest(&version, a, b))
            .then_with(|| latest(&sequence, a, b))
            .then_with(|| by_place(a, b))
    });
    // Whether input row `r` and stored row `t` have the same content, value by value.
    let comparators = content
        .iter()
        .zip(&stored_content)
        .map(|(a, b)| make_comparator(a.as_ref(), b.as_ref(), SortOptions::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let same_content = |r: usize, t: usize| comparators.iter().all(|c| c(r, t) == Ordering::Equal);
    let stored_at: HashMap<_, usize> = (0..stored.num_rows())
        .map(|i| (stored_rows.row(i), i))
        .collect();
    // Hashes are needed only where versions do not decide: between rows of a key with the
    // same version, and between the latest row and a stored row of its version (or any stored
    // row, for derived rows). A row's version is a function of its content (see
    // [`versions`]), so rows of different versions differ.
    let mut groups = Vec::new();
    let (mut hashed, mut stored_hashed) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < rows {
        let top = sorted[start] as usize;
        let key = key_rows.row(top);
        let mut end = start + 1;
        while end < rows && key_rows.row(sorted[end] as usize) == key {
            end += 1;
        }
        let group = &sorted[start..end];
        let mut ties = false;
        for pair in group.windows(2) {
            if same(&version, pair[0] as usize, &version, pair[1] as usize) {
                hashed.extend_from_slice(pair);
                ties = true;
            }
        }
        let at = stored_at.get(&key).copied();
        let mut as_stored = false;
        if let Some(t) = at {
            if mode == Mode::Derived || same(&version, top, &stored_version, t) {
                // The top row's version ties with the stored one's: so do the rows sharing
                // its version, any of which may win. When it alone has it and it is the
                // stored row as it is (an export read again), no hash decides anything.
                let tied: Vec<u32> = group
                    .iter()
                    .copied()
                    .take_while(|&r| same(&version, r as usize, &version, top))
                    .collect();
                if tied.len() == 1 && same_content(top, t) {
                    as_stored = true;
                } else {
                    hashed.extend(tied);
                    stored_hashed.push(t as u32);
                }
            }
        }
        groups.push((start, end, at, ties, as_stored));
        start = end;
    }
    let hash = Hashes::of(&content, rows, hashed, threads)?;
    let stored_hash = Hashes::of(&stored_content, stored.num_rows(), stored_hashed, threads)?;

    let mut actions = vec![Action::Unchanged; rows];
    let mut against: Vec<Option<&str>> = vec![None; rows];
    for (start, end, at, ties, as_stored) in groups {
        let group = &mut sorted[start..end];
        if ties {
            group.sort_unstable_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                latest(&version, a, b)
                    .then_with(|| latest(&sequence, a, b))
                    .then_with(|| hash.get(b).cmp(hash.get(a)))
                    .then_with(|| by_place(a, b))
            });
        }
        let w = group[0] as usize;
        actions[w] = match at {
            None => Action::Insert,
            Some(_) if as_stored => Action::Unchanged,
            Some(t) if stored_hash.has(t) => {
                let (h, th) = (hash.get(w), stored_hash.get(t));
                against[w] = Some(th);
                match mode {
                    _ if h == th => Action::Unchanged,
                    Mode::Derived => Action::Update,
                    Mode::Versioned if h > th => Action::Replace,
                    Mode::Versioned => Action::Conflict,
                }
            }
            Some(t)
                if stored_version.is_null(t)
                    || (version.is_valid(w) && version.value(w) > stored_version.value(t)) =>
            {
                Action::Update
            }
            Some(_) => Action::Unchanged,
        };
        for &r in &group[1..] {
            let r = r as usize;
            actions[r] = if !same(&version, r, &version, w) {
                Action::Superseded
            } else if hash.get(r) == hash.get(w) {
                Action::Unchanged
            } else if same(&sequence, r, &sequence, w) {
                against[r] = Some(hash.get(w));
                Action::Conflict
            } else {
                Action::Superseded
            };
        }
    }

    counts.read += rows as u64;
    for action in &actions {
        match action {
            Action::Insert => counts.inserted += 1,
            Action::Update | Action::Replace => counts.updated += 1,
            Action::Conflict => counts.quarantined += 1,
            Action::Superseded => counts.superseded += 1,
            Action::Unchanged => counts.unchanged += 1,
        }
    }

    let schema = plan_schema(&input.schema(), target)?;
    let kept: Vec<u32> = sorted
        .into_iter()
        .filter(|&i| actions[i as usize].planned())
        .collect();
    let columns = schema
        .fields()
        .iter()
        .take(schema.fields().len() - 2)
        .map(|f| column(input, f.name()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut batches = Vec::new();
    for part in kept.chunks(batch_rows.max(1)) {
        let indices = UInt32Array::from(part.to_vec());
        let mut out = columns
            .iter()
            .map(|c| take(c, &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut th = StringBuilder::with_capacity(part.len(), part.len() * 32);
        let mut action = StringBuilder::with_capacity(part.len(), part.len() * 8);
        for &i in part {
            th.append_option(against[i as usize]);
            action.append_value(actions[i as usize].name());
        }
        out.push(Arc::new(th.finish()));
        out.push(Arc::new(action.finish()));
        batches.push(RecordBatch::try_new(Arc::clone(&schema), out)?);
    }
    Ok(batches)
}

/// The version of each row of `batch` (with the target's columns), which decides which row of
/// a key is the latest: a ticket's `updated_at`, or without one its latest milestone
/// (`created_at`, `first_response_at`, `resolved_at`, `closed_at`); events have none (an event's
/// id is its content).
pub(super) fn versions(target: &Table, batch: &RecordBatch) -> Result<Int64Array, ArrowError> {
    let n = batch.num_rows();
    if target.name != TICKETS.name {
        return Ok(Int64Array::new_null(n));
    }
    let updated = as_i64(&column(batch, "updated_at")?)?;
    let milestones = [
        "created_at",
        "first_response_at",
        "resolved_at",
        "closed_at",
    ]
    .iter()
    .map(|name| as_i64(&column(batch, name)?))
    .collect::<Result<Vec<_>, _>>()?;
    Ok((0..n)
        .map(|i| {
            if updated.is_valid(i) {
                return Some(updated.value(i));
            }
            milestones
                .iter()
                .filter(|m| m.is_valid(i))
                .map(|m| m.value(i))
                .max()
        })
        .collect())
}

/// A version or sequence column as `Int64` (timestamps as their microseconds).
fn as_i64(array: &ArrayRef) -> Result<Int64Array, ArrowError> {
    Ok(cast(array, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::TimestampMicrosecondArray;

    use super::*;

    /// Tickets `(key, version, team)`, with the columns a plan reads after the table's.
    fn tickets(rows: &[(&str, i64, &str)], input: bool) -> RecordBatch {
        let n = rows.len();
        let schema = TICKETS.schema();
        let mut fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let mut columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                let ts = || {
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![0; n]).with_timezone_opt(Some("UTC")),
                    ) as ArrayRef
                };
                match f.name().as_str() {
                    "ticket_id" => {
                        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0)))
                    }
                    "team" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                    "source_system" => Arc::new(StringArray::from(vec!["s"; n])),
                    "status" => Arc::new(StringArray::from(vec!["open"; n])),
                    "created_at" => ts(),
                    // The version.
                    "updated_at" => Arc::new(
                        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                            .with_timezone_opt(Some("UTC")),
                    ),
                    _ => new_null_array(f.data_type(), n),
                }
            })
            .collect();
        if input {
            fields.push(Field::new("_file", DataType::Utf8, false));
            fields.push(Field::new("_line", DataType::UInt64, false));
            fields.push(Field::new("_s", DataType::Int64, true));
            columns.push(Arc::new(StringArray::from(vec!["f.csv"; n])));
            columns.push(Arc::new(
                datafusion::arrow::array::UInt64Array::from_iter_values(1..=n as u64),
            ));
            columns.push(Arc::new(Int64Array::new_null(n)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    fn run(
        input: &[(&str, i64, &str)],
        stored: &[(&str, i64, &str)],
        mode: Mode,
    ) -> (Vec<(String, String, String)>, TableCounts) {
        let mut counts = TableCounts::default();
        let mut out = Vec::new();
        let batches = plan(
            &TICKETS,
            &tickets(input, true),
            &tickets(stored, false),
            mode,
            2,
            2,
            &mut counts,
        )
        .unwrap();
        for batch in batches {
            let id = batch
                .column_by_name("ticket_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let team = batch
                .column_by_name("team")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let action = batch
                .column_by_name("_action")
                .unwrap()
                .as_string::<i32>()
                .clone();
            for i in 0..batch.num_rows() {
                out.push((
                    id.value(i).into(),
                    team.value(i).into(),
                    action.value(i).into(),
                ));
            }
        }
        out.sort();
        (out, counts)
    }

    /// The hash of a ticket `(key, version, team)`'s content.
    fn hash(row: (&str, i64, &str)) -> String {
        let batch = tickets(&[row], false);
        let content: Vec<ArrayRef> = TICKETS
            .columns
            .iter()
            .map(|c| Arc::clone(batch.column_by_name(c.name).unwrap()))
            .collect();
        row_hash::hashes(&content, 1).unwrap().value(0).to_string()
    }

    fn planned(key: &str, team: &str, action: &str) -> (String, String, String) {
        (key.into(), team.into(), action.into())
    }

    #[test]
    fn each_key_has_one_winner_weighed_against_the_stored_version() {
        let stored = [
            ("B", 10, "x"),
            ("C", 10, "x"),
            ("D", 10, "x"),
            ("G", 10, "x"),
        ];
        let input = [
            ("A", 1, "x"),
            ("B", 10, "x"),
            ("C", 20, "y"),
            ("D", 5, "y"),
            ("E", 10, "x"),
            ("E", 10, "y"),
            ("F", 10, "x"),
            ("F", 20, "y"),
            ("F", 20, "y"),
            ("G", 10, "y"),
        ];
        let (out, counts) = run(&input, &stored, Mode::Versioned);
        let (e_wins, e_loses) = if hash(("E", 10, "y")) > hash(("E", 10, "x")) {
            ("y", "x")
        } else {
            ("x", "y")
        };
        let g = if hash(("G", 10, "y")) > hash(("G", 10, "x")) {
            "replace"
        } else {
            "conflict"
        };
        let mut expected = vec![
            planned("A", "x", "insert"),
            planned("C", "y", "update"),
            planned("E", e_wins, "insert"),
            planned("E", e_loses, "conflict"),
            planned("F", "y", "insert"),
            planned("G", "y", g),
        ];
        expected.sort();
        assert_eq!(out, expected);
        let replaced = u64::from(g == "replace");
        assert_eq!(
            (
                counts.read,
                counts.inserted,
                counts.updated,
                counts.quarantined
            ),
            (10, 3, 1 + replaced, 2 - replaced)
        );
        // B and D (stored, not newer), one repeated F: unchanged; the older F: superseded.
        assert_eq!((counts.unchanged, counts.superseded), (3, 1));
    }

    #[test]
    fn a_ticket_s_version_is_its_update_or_its_latest_milestone() {
        let mut batch = tickets(&[("A", 7, "x"), ("B", 0, "x"), ("C", 0, "x")], false);
        let mut columns = batch.columns().to_vec();
        let at = |name: &str| batch.schema().index_of(name).unwrap();
        let times = |values: [Option<i64>; 3]| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from(values.to_vec()).with_timezone_opt(Some("UTC")),
            )
        };
        columns[at("updated_at")] = times([Some(7), None, None]);
        columns[at("created_at")] = times([Some(1), Some(2), None]);
        columns[at("resolved_at")] = times([Some(9), Some(4), None]);
        columns[at("closed_at")] = times([None, Some(3), None]);
        batch = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let v = versions(&TICKETS, &batch).unwrap();
        assert_eq!(v.iter().collect::<Vec<_>>(), vec![Some(7), Some(4), None]);
    }

    #[test]
    fn a_derived_row_replaces_the_stored_one_when_they_differ() {
        // A is derived as it is stored (its version is part of its content).
        let stored = [("A", 5, "x"), ("B", 10, "x")];
        let (out, counts) = run(
            &[("A", 5, "x"), ("B", 5, "y"), ("C", 5, "z")],
            &stored,
            Mode::Derived,
        );
        assert_eq!(
            out,
            vec![planned("B", "y", "update"), planned("C", "z", "insert")]
        );
        assert_eq!(
            (counts.unchanged, counts.updated, counts.inserted),
            (1, 1, 1)
        );
    }
}
