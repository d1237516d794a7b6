//! Result formats of `kpi sql`: an aligned table for people, CSV, JSON and NDJSON for programs.

use std::io::Write;

use std::sync::Arc;

use comfy_table::{Cell, ColumnConstraint, Table, Width};
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::{csv, json};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of objects per statement.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Errors of writing results.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Rows of a table page: the table format lays out this many rows at a time, so the first
/// rows of a long result print before the last are computed (as psql does with FETCH_COUNT).
const PAGE_ROWS: usize = 1_000;

/// Prints one statement's result batch by batch in a [`Format`].
pub struct Printer<W: Write> {
    sink: Sink<W>,
}

/// Where a result goes, with what its format keeps between batches.
enum Sink<W: Write> {
    /// A statement without result columns (DDL): nothing to print.
    Nothing,
    Table(TablePages<W>),
    /// The header is written with the first batch (the schema: for a result without any).
    Csv(Box<csv::Writer<W>>, SchemaRef),
    /// One array across all batches.
    Json(json::ArrayWriter<W>),
    Ndjson(json::LineDelimitedWriter<W>),
}

/// The table format, a page of rows at a time.
struct TablePages<W: Write> {
    schema: SchemaRef,
    out: W,
    /// Rows waiting for the next page.
    page: Vec<RecordBatch>,
    /// The content width of each column of the pages printed so far (none yet: empty).
    widths: Vec<u16>,
}

impl<W: Write> Printer<W> {
    /// Start printing a result with `schema` to `out`.
    pub fn new(schema: SchemaRef, format: Format, out: W) -> Printer<W> {
        let sink = if schema.fields().is_empty() {
            Sink::Nothing
        } else {
            match format {
                Format::Table => Sink::Table(TablePages {
                    schema,
                    out,
                    page: Vec::new(),
                    widths: Vec::new(),
                }),
                Format::Csv => Sink::Csv(
                    Box::new(csv::WriterBuilder::new().with_header(true).build(out)),
                    schema,
                ),
                Format::Json => Sink::Json(json::ArrayWriter::new(out)),
                Format::Ndjson => Sink::Ndjson(json::LineDelimitedWriter::new(out)),
            }
        };
        Printer { sink }
    }

    /// Print (or hold, for a table page) the next batch.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        match &mut self.sink {
            Sink::Nothing => {}
            Sink::Table(pages) => {
                pages.page.push(batch.clone());
                if pages.page.iter().map(RecordBatch::num_rows).sum::<usize>() >= PAGE_ROWS {
                    pages.flush()?;
                }
            }
            Sink::Csv(writer, _) => writer.write(&nested_as_text(batch)?)?,
            Sink::Json(writer) => writer.write(batch)?,
            Sink::Ndjson(writer) => writer.write(batch)?,
        }
        Ok(())
    }

    /// End the result.
    pub fn finish(self) -> Result<(), OutputError> {
        let mut out = match self.sink {
            Sink::Nothing => return Ok(()),
            Sink::Table(mut pages) => {
                pages.flush()?;
                pages.out
            }
            Sink::Csv(mut writer, schema) => {
                // The header of a result without batches; nothing once the header is written.
                writer.write(&nested_as_text(&RecordBatch::new_empty(schema))?)?;
                writer.into_inner()
            }
            Sink::Json(mut writer) => {
                writer.finish()?;
                let mut out = writer.into_inner();
                writeln!(out)?;
                out
            }
            Sink::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner()
            }
        };
        out.flush()?;
        Ok(())
    }
}

impl<W: Write> TablePages<W> {
    /// Lay out the held rows. Later pages keep the columns of the first, without its header,
    /// so the whole result reads as one table; a page whose values need wider columns starts
    /// again with a header at the new widths. A result without rows prints its header.
    fn flush(&mut self) -> Result<(), OutputError> {
        let first = self.widths.is_empty();
        if self.page.is_empty() && !first {
            return Ok(());
        }
        let mut table = page_table(&self.schema, &self.page)?;
        self.page.clear();
        let natural = table.column_max_content_widths();
        let fits = !first && natural.iter().zip(&self.widths).all(|(n, w)| n <= w);
        if first {
            self.widths = natural;
        } else {
            if !fits {
                for (w, n) in self.widths.iter_mut().zip(&natural) {
                    *w = (*w).max(*n);
                }
            }
            // An absolute width counts the cell's padding (one space each side); every value
            // fits, so nothing wraps.
            table.set_constraints(
                self.widths
                    .iter()
                    .map(|w| ColumnConstraint::Absolute(Width::Fixed(w.saturating_add(2)))),
            );
        }
        let text = table.to_string();
        if fits {
            // A continuation: the rows and the closing border, without the header again.
            for line in text.lines().skip(3) {
                writeln!(self.out, "{line}")?;
            }
        } else {
            writeln!(self.out, "{text}")?;
        }
        Ok(())
    }
}

/// Write one statement's whole result.
pub fn write_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: Format,
    out: &mut dyn Write,
) -> Result<(), OutputError> {
    let mut printer = Printer::new(schema.clone(), format, out);
    for batch in batches {
        printer.batch(batch)?;
    }
    printer.finish()
}

/// One page of a result as a text table, laid out as Arrow's pretty printer does.
fn page_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table, ArrowError> {
    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    let options = FormatOptions::default().with_display_error(true);
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            table.add_row(formatters.iter().map(|f| Cell::new(f.value(row))));
        }
    }
    Ok(table)
}

/// CSV has no nested values: lists, structs and maps are written as their text form
/// (`[a, b]`, `{k: v}`), as in the table format.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                text.append_value(formatter.value(row).to_string());
            }
        }
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, Int32Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn csv_writes_lists_as_text() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let ids = Int32Array::from(vec![7, 8]);
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(ids) as ArrayRef),
            ("xs", Arc::new(list) as ArrayRef),
        ])
        .unwrap();
        let text = nested_as_text(&batch).unwrap();
        let xs = text
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(xs.value(0), "[1, 2]");
        assert!(xs.is_null(1));

        let mut out = Vec::new();
        write_batches(&batch.schema(), &[batch], Format::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "id,xs\n7,\"[1, 2]\"\n8,\n");
    }

    fn numbers(from: i32, n: i32) -> RecordBatch {
        let ids = Int32Array::from((from..from + n).collect::<Vec<_>>());
        RecordBatch::try_from_iter(vec![("id", Arc::new(ids) as ArrayRef)]).unwrap()
    }

    fn printed(format: Format, batches: &[RecordBatch]) -> String {
        let mut out = Vec::new();
        let mut printer = Printer::new(batches[0].schema(), format, &mut out);
        for b in batches {
            printer.batch(b).unwrap();
        }
        printer.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn results_stream_batch_by_batch_as_one_result() {
        let batches = [numbers(1000, 1000), numbers(0, 1000), numbers(2000, 5)];
        // A table in pages: one header, every row once, in order, every line aligned.
        let table = printed(Format::Table, &batches);
        assert_eq!(table.matches("| id").count(), 1, "{table}");
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| id"))
            .collect();
        assert_eq!(rows.len(), 2005);
        assert_eq!(rows[1000].trim_matches(|c| c == '|' || c == ' '), "0");
        let widths: Vec<usize> = table.lines().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{table}");
        assert!(table.ends_with("+\n"), "{table}");
        // A page that needs wider columns starts again with a header, aligned with its rows.
        let widening = printed(Format::Table, &[numbers(0, 1000), numbers(1000, 1000)]);
        assert_eq!(widening.matches("| id").count(), 2);
        let second = &widening[widening.rfind("+----").unwrap()..];
        assert!(
            widening
                .lines()
                .skip_while(|l| !l.contains("1000"))
                .all(|l| l.chars().count() == second.lines().next().unwrap().chars().count()),
            "{widening}"
        );
        // CSV: one header.
        let csv = printed(Format::Csv, &batches);
        assert_eq!(csv.lines().count(), 2006);
        assert_eq!(csv.matches("id").count(), 1);
        // JSON: one array across batches.
        let json: serde_json::Value =
            serde_json::from_str(&printed(Format::Json, &batches)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 2005);
        assert_eq!(json[2004]["id"], 2004);
        // Empty results: the header, an empty array.
        let empty = [numbers(0, 0)];
        assert_eq!(printed(Format::Csv, &empty), "id\n");
        assert_eq!(printed(Format::Json, &empty), "[]\n");
        assert_eq!(printed(Format::Ndjson, &empty), "");
        assert!(printed(Format::Table, &empty).contains("| id |"));
    }
}
