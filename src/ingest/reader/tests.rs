use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

use super::*;

fn mapping(source: &str) -> SourceMapping {
    crate::ingest::test_mapping("s", source)
}

const TICKETS: &str = r#"shape = "tickets"
columns = { ticket_id = "Id", created_at = "Created", status = "Status", assignee = { header = "Name", occurrence = 2 } }
"#;

/// One read row: its line and values (`None` for NULL), or a malformed line's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    line: u64,
    values: Vec<Option<String>>,
    malformed: Option<(String, String)>,
}

fn read_all(reader: &mut BatchReader, batch_rows: usize) -> Vec<Row> {
    let mut out = Vec::new();
    while let Some(batch) = reader.next_batch(batch_rows).unwrap() {
        for (i, &line) in batch.lines.iter().enumerate() {
            out.push(Row {
                line,
                values: batch
                    .columns
                    .iter()
                    .map(|c| (!c.is_null(i)).then(|| c.value(i).to_string()))
                    .collect(),
                malformed: None,
            });
        }
        for m in &batch.malformed {
            out.push(Row {
                line: m.line,
                values: Vec::new(),
                malformed: Some((m.raw.clone(), m.reason.clone())),
            });
        }
    }
    out.sort_by_key(|r| r.line);
    out
}

fn rows(path: &Path, mapping: &SourceMapping) -> Vec<Row> {
    let (mut reader, _) = BatchReader::open(path, mapping).unwrap();
    read_all(&mut reader, 2)
}

fn values(row: &Row) -> Vec<Option<&str>> {
    row.values.iter().map(|v| v.as_deref()).collect()
}

#[test]
fn csv_with_bom_crlf_quotes_and_repeated_headers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let text = "\u{feff}Id;Name;Created;Status;Name\r\n\
                1;Ana;02/03/2026 08:00;Open;Bruno\r\n\
                2;\"Costa; C.\";02/03/2026 09:00;\"Multi\r\nline\";\r\n\
                3;x\r\n";
    std::fs::write(&path, text).unwrap();
    let m = mapping(&format!("delimiter = \";\"\n{TICKETS}"));
    let got = rows(&path, &m);
    assert_eq!(got.len(), 3);
    assert_eq!(
        values(&got[0]),
        [
            Some("1"),
            Some("02/03/2026 08:00"),
            Some("Open"),
            Some("Bruno")
        ]
    );
    assert_eq!(got[0].line, 2);
    assert_eq!(values(&got[1])[2], Some("Multi\r\nline"));
    assert_eq!(values(&got[1])[3], Some(""));
    // A short row is not a row: reported with its line, its text and the field counts.
    assert_eq!(
        got[2].malformed,
        Some((
            "3;x".into(),
            "malformed line: 2 fields, header has 5".into()
        ))
    );
    assert_eq!(got[2].line, 5);
}

#[test]
fn csv_line_numbers_with_either_line_end() {
    let dir = tempfile::tempdir().unwrap();
    let m = mapping(&format!("delimiter = \";\"\n{TICKETS}"));
    for end in ["\n", "\r\n"] {
        let path = dir.path().join("lines.csv");
        let text = [
            "Id;Name;Created;Status;Name",
            "1;a;b;c;d",
            "2;\"x",
            "y\";b;c;d",
            "",
            "3;a;b;c;d",
            "",
        ]
        .join(end);
        std::fs::write(&path, text).unwrap();
        let lines: Vec<u64> = rows(&path, &m).iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 6], "line end {end:?}");
    }
}

#[test]
fn csv_in_latin1_and_utf16() {
    let dir = tempfile::tempdir().unwrap();
    let m = mapping(&format!("encoding = \"latin1\"\n{TICKETS}"));
    let path = dir.path().join("latin1.csv");
    let mut bytes = b"Id,Name,Created,Status,Name\n7,x,2026-03-02,Conclu".to_vec();
    bytes.extend([0xED, b'd', b'o', b',', b'J', b'o', 0xE3, b'o', b'\n']);
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        values(&rows(&path, &m)[0]),
        [
            Some("7"),
            Some("2026-03-02"),
            Some("Concluído"),
            Some("João")
        ]
    );

    let m = mapping(&format!("encoding = \"utf-16\"\n{TICKETS}"));
    let path = dir.path().join("utf16.csv");
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "Id,Name,Created,Status,Name\n8,y,2026-03-02,Aberto,Zoë\n".encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(values(&rows(&path, &m)[0])[3], Some("Zoë"));
}

#[test]
fn missing_headers_fail_fast_and_suggest_the_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "Id;Name;Created;Status\n1;a;b;c\n").unwrap();
    let err = BatchReader::open(&path, &mapping(TICKETS))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(
            "t.csv: missing header(s) 'Id', 'Created', 'Status', 'Name' (occurrence 2) required by \
             source 's'; the file's headers are: 'Id;Name;Created;Status' (one header only: is \
             the delimiter ';' rather than ','?)"
        ),
        "{err}"
    );
    let m = mapping(&format!("delimiter = \";\"\n{TICKETS}"));
    let err = BatchReader::open(&path, &m).err().unwrap().to_string();
    assert!(
        err.contains("missing header(s) 'Name' (occurrence 2)"),
        "{err}"
    );
}

#[test]
fn ndjson_keys_nulls_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.ndjson");
    std::fs::write(
        &path,
        "{\"id\": \"9\", \"at\": \"2026-03-02T08:00:00Z\", \"state\": \"new\", \"n\": 3}\n\n\
         {\"id\": 10, \"at\": null, \"state\": \"open\"}\n\
         not json\n",
    )
    .unwrap();
    let m = mapping(
        "shape = \"snapshots\"\nformat = \"ndjson\"\n\
         columns = { ticket_id = \"id\", updated_at = \"at\", status = \"state\", sequence = \"n\" }\n\
         constants = { created_at = \"2026-03-01T00:00:00Z\" }\n",
    );
    let got = rows(&path, &m);
    assert_eq!(
        values(&got[0]),
        [
            Some("9"),
            Some("2026-03-02T08:00:00Z"),
            Some("new"),
            Some("3")
        ]
    );
    assert_eq!(got[1].line, 3);
    assert_eq!(values(&got[1]), [Some("10"), None, Some("open"), None]);
    assert_eq!(got[2].line, 4);
    let (raw, reason) = got[2].malformed.clone().unwrap();
    assert_eq!(raw, "not json");
    assert!(reason.starts_with("not a JSON object"), "{reason}");
    assert_eq!(got.len(), 3);
}

#[test]
fn parquet_columns_arrive_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        (
            "Id",
            Arc::new(Int64Array::from(vec![Some(1), Some(2)])) as ArrayRef,
        ),
        (
            "Created",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_772_449_200_000_000), None])
                    .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "Status",
            Arc::new(StringArray::from(vec!["open", "closed"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let m = mapping(
        "shape = \"tickets\"\nformat = \"parquet\"\n\
         columns = { ticket_id = \"Id\", created_at = \"Created\", status = \"Status\" }\n",
    );
    let got = rows(&path, &m);
    assert_eq!(
        values(&got[0]),
        [Some("1"), Some("2026-03-02T11:00:00Z"), Some("open")]
    );
    assert_eq!(values(&got[1]), [Some("2"), None, Some("closed")]);
    assert_eq!(got[1].line, 2);
}
