//! Results written to a file for a BI tool or a script (`--out FILE`): CSV, JSON, NDJSON or
//! Parquet, chosen by the file's extension. The file appears whole or not at all: rows go to
//! a temporary file beside it, renamed over it at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use futures::{Stream, StreamExt};

use super::format::{Format, OutputError, Printer};

/// The formats a result file can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line (`.ndjson` or `.jsonl`).
    Ndjson,
    Parquet,
}

/// The extensions `--out` understands.
pub const EXTENSIONS: &str = ".csv, .json, .ndjson (or .jsonl), .parquet";

impl FileFormat {
    /// The format a file name asks for.
    pub fn of(path: &Path) -> Result<FileFormat, OutputError> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match extension.as_str() {
            "csv" => Ok(FileFormat::Csv),
            "json" => Ok(FileFormat::Json),
            "ndjson" | "jsonl" => Ok(FileFormat::Ndjson),
            "parquet" => Ok(FileFormat::Parquet),
            _ => Err(OutputError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "cannot tell the format of {} from its extension; use {EXTENSIONS}",
                    path.display()
                ),
            ))),
        }
    }
}

/// Errors of writing a result file, with the file named.
#[derive(Debug, thiserror::Error)]
pub enum OutFileError {
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: OutputError },
    /// The query failed while its rows were being written (the file is left unchanged).
    #[error(transparent)]
    Query(#[from] DataFusionError),
}

/// Write a result of `schema` from `batches` to `path`; the number of rows written.
pub async fn write_file<S>(
    path: &Path,
    schema: SchemaRef,
    batches: S,
) -> Result<usize, OutFileError>
where
    S: Stream<Item = Result<RecordBatch, DataFusionError>> + Unpin,
{
    let failed = |source: OutputError| OutFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let format = FileFormat::of(path).map_err(failed)?;
    let tmp = temporary_beside(path);
    let result = write_to(&tmp, format, schema, batches).await;
    match result {
        Ok(rows) => {
            std::fs::rename(&tmp, path).map_err(|e| failed(e.into()))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(match e {
                Written::Output(e) => failed(e),
                Written::Query(e) => OutFileError::Query(e),
            })
        }
    }
}

enum Written {
    Output(OutputError),
    Query(DataFusionError),
}

impl<E: Into<OutputError>> From<E> for Written {
    fn from(e: E) -> Written {
        Written::Output(e.into())
    }
}

async fn write_to<S>(
    tmp: &Path,
    format: FileFormat,
    schema: SchemaRef,
    mut batches: S,
) -> Result<usize, Written>
where
    S: Stream<Item = Result<RecordBatch, DataFusionError>> + Unpin,
{
    let file = File::create(tmp)?;
    let mut rows = 0;
    if format == FileFormat::Parquet {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| OutputError::Arrow(e.into()))?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(Written::Query)?;
            rows += batch.num_rows();
            writer
                .write(&batch)
                .map_err(|e| OutputError::Arrow(e.into()))?;
        }
        writer.close().map_err(|e| OutputError::Arrow(e.into()))?;
        return Ok(rows);
    }
    let text = match format {
        FileFormat::Csv => Format::Csv,
        FileFormat::Json => Format::Json,
        _ => Format::Ndjson,
    };
    let mut out = BufWriter::new(file);
    let mut printer = Printer::new(schema, text, &mut out);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(Written::Query)?;
        rows += batch.num_rows();
        printer.batch(&batch)?;
    }
    printer.finish()?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(rows)
}

/// A temporary name in the same folder (so the final rename stays on one file system).
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1, 2, 3]))]).unwrap()
    }

    #[tokio::test]
    async fn writes_each_format_whole() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["r.csv", "r.json", "r.ndjson", "r.parquet"] {
            let path = dir.path().join(name);
            let b = batch();
            let rows = write_file(&path, b.schema(), futures::stream::iter(vec![Ok(b)]))
                .await
                .unwrap();
            assert_eq!(rows, 3);
        }
        let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(csv, "x\n1\n2\n3\n");
        let json = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
        assert_eq!(json.trim(), r#"[{"x":1},{"x":2},{"x":3}]"#);
        let file = File::open(dir.path().join("r.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let back: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(back, 3);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 4, "no temporary file left behind");
    }

    #[tokio::test]
    async fn a_failing_query_leaves_the_file_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "before").unwrap();
        let b = batch();
        let stream = futures::stream::iter(vec![
            Ok(b.clone()),
            Err(DataFusionError::Execution("boom".into())),
        ]);
        let err = write_file(&path, b.schema(), stream).await.unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before");
        assert!(FileFormat::of(Path::new("r.xlsx")).is_err());
    }
}
