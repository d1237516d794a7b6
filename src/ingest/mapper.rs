//! Turning one export row into canonical values: NULL tokens, value maps, constants, and typed
//! parsing (timestamps in the source's formats and zone, integers, canonical vocabularies).
//! A value that cannot be used becomes a [`Rejection`] naming the column, the raw value and the
//! reason, so the row can be quarantined instead of silently dropped or half-loaded.

use std::collections::BTreeMap;

use crate::config::sources::MAPPABLE;
use crate::config::SourceMapping;

use super::reader::Row;
use super::timestamp::TimestampParser;
use crate::tables::{Kind, TICKETS, TICKET_EVENTS};

/// A canonical value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Text(String),
    /// UTC µs.
    Time(i64),
    Int(i64),
}

impl Value {
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn time(&self) -> Option<i64> {
        match self {
            Value::Time(t) => Some(*t),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// Why a row (or one of its values) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    /// The source column (header) the value came from, or the canonical column.
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// How one canonical column is filled.
#[derive(Debug)]
struct Target {
    name: String,
    /// The header, for rejections.
    header: String,
    kind: Kind,
    /// Source value → canonical value.
    map: Option<BTreeMap<String, String>>,
    /// Allowed canonical values (empty: any).
    vocabulary: &'static [&'static str],
}

/// Maps the rows of one source to canonical values.
#[derive(Debug)]
pub struct Mapper {
    targets: Vec<Target>,
    constants: Vec<(String, Value)>,
    nulls: Vec<String>,
    timestamps: TimestampParser,
}

/// The canonical values of one row, by column name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub line: u64,
    values: BTreeMap<String, Value>,
}

impl Fields {
    pub fn get(&self, column: &str) -> &Value {
        self.values.get(column).unwrap_or(&Value::Null)
    }

    pub fn set(&mut self, column: &str, value: Value) {
        self.values.insert(column.to_string(), value);
    }
}

/// The type of a mapped column: canonical columns have theirs; `sequence` orders snapshots.
fn kind_of(column: &str) -> Kind {
    if column == "sequence" {
        return Kind::Integer;
    }
    TICKETS
        .column(column)
        .or_else(|| TICKET_EVENTS.column(column))
        .map_or(Kind::Text, |c| c.kind)
}

/// The value map and vocabulary of a column; the status map serves all three status columns.
fn mapping_of<'a>(
    mapping: &'a SourceMapping,
    column: &str,
) -> (
    Option<&'a BTreeMap<String, String>>,
    &'static [&'static str],
) {
    let key = mapping_key(column);
    let vocabulary = MAPPABLE
        .iter()
        .find(|(c, _)| *c == key)
        .map_or(&[][..], |(_, v)| *v);
    (mapping.values.get(key), vocabulary)
}

impl Mapper {
    pub fn new(mapping: &SourceMapping) -> Result<Mapper, Rejection> {
        let targets = mapping
            .columns
            .iter()
            .map(|(name, r)| {
                let (map, vocabulary) = mapping_of(mapping, name);
                Target {
                    name: name.clone(),
                    header: r.header.clone(),
                    kind: kind_of(name),
                    map: map.cloned(),
                    vocabulary,
                }
            })
            .collect::<Vec<_>>();
        let timestamps = TimestampParser::new(mapping.timestamp_formats.clone(), mapping.timezone);
        let mut mapper = Mapper {
            targets,
            constants: Vec::new(),
            nulls: mapping.null_values.clone(),
            timestamps,
        };
        // Constants go through the same conversion as column values, once.
        let mut constants = vec![(
            "source_system".to_string(),
            Value::Text(mapping.source_system.clone()),
        )];
        for (name, raw) in &mapping.constants {
            let (map, vocabulary) = mapping_of(mapping, name);
            let target = Target {
                name: name.clone(),
                header: format!("constants.{name}"),
                kind: kind_of(name),
                map: map.cloned(),
                vocabulary,
            };
            constants.push((name.clone(), mapper.convert(&target, raw, 0)?));
        }
        mapper.constants = constants;
        Ok(mapper)
    }

    /// The canonical values of `row`, or every rejected value of it.
    pub fn map(&self, row: &Row) -> Result<Fields, Vec<Rejection>> {
        let mut fields = Fields {
            line: row.line,
            values: BTreeMap::new(),
        };
        let mut rejections = Vec::new();
        for (name, value) in &self.constants {
            fields.values.insert(name.clone(), value.clone());
        }
        for (target, raw) in self.targets.iter().zip(&row.values) {
            let value = match raw {
                None => Value::Null,
                Some(raw) => match self.convert(target, raw, row.line) {
                    Ok(v) => v,
                    Err(r) => {
                        rejections.push(r);
                        continue;
                    }
                },
            };
            fields.values.insert(target.name.clone(), value);
        }
        if rejections.is_empty() {
            Ok(fields)
        } else {
            Err(rejections)
        }
    }

    fn convert(&self, target: &Target, raw: &str, line: u64) -> Result<Value, Rejection> {
        let trimmed = raw.trim();
        if self.nulls.iter().any(|n| n == trimmed) {
            return Ok(Value::Null);
        }
        let reject = |reason: String| Rejection {
            line,
            column: target.header.clone(),
            value: raw.to_string(),
            reason,
        };
        let mapped = target.map.as_ref().and_then(|m| {
            m.get(trimmed).or_else(|| {
                m.iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(trimmed))
                    .map(|(_, v)| v)
            })
        });
        let text = mapped.map_or(trimmed, String::as_str);
        match target.kind {
            Kind::Text => {
                if !target.vocabulary.is_empty() {
                    let canonical = target
                        .vocabulary
                        .iter()
                        .find(|v| v.eq_ignore_ascii_case(text));
                    return match canonical {
                        Some(v) => Ok(Value::Text(v.to_string())),
                        None => Err(reject(format!(
                            "unknown {} with no mapping (add it under [sources.NAME.values.{}] \
                             or use one of {})",
                            mapping_key(&target.name),
                            mapping_key(&target.name),
                            target.vocabulary.join(", ")
                        ))),
                    };
                }
                Ok(Value::Text(text.to_string()))
            }
            Kind::Timestamp => self.timestamps.parse(text).map(Value::Time).map_err(reject),
            Kind::Integer | Kind::Count | Kind::BigInt => {
                parse_integer(text).map(Value::Int).ok_or_else(|| {
                    reject(format!(
                        "not an integer ({} expects a whole number)",
                        target.name
                    ))
                })
            }
            // No stored column is a boolean: only the derived SLA views have such columns.
            Kind::Boolean => Err(reject(format!(
                "{} is derived, not loaded from exports",
                target.name
            ))),
        }
    }
}

fn mapping_key(column: &str) -> &str {
    match column {
        "from_status" | "to_status" => "status",
        other => other,
    }
}

/// A whole number, also written as a decimal with a zero fraction (`3.0`, as spreadsheets do).
fn parse_integer(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        let f: f64 = text.parse().ok()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper(source: &str) -> Mapper {
        Mapper::new(&crate::ingest::test_mapping("s", source)).unwrap()
    }

    const SOURCE: &str = r#"shape = "tickets"
timezone = "America/Sao_Paulo"
timestamp_formats = ["%d/%m/%Y %H:%M"]
null_values = ["", "?", "NULL"]
columns = { ticket_id = "Id", created_at = "Created", status = "Status", priority = "Prio", csat_score = "CSAT" }
constants = { channel = "email" }
values.status = { "Waiting on contact" = "pending", "Fechado" = "closed" }
values.priority = { "P1" = "urgent" }
"#;

    fn row(values: &[Option<&str>]) -> Row {
        Row {
            line: 7,
            values: values.iter().map(|v| v.map(str::to_string)).collect(),
            malformed: None,
        }
    }

    #[test]
    fn values_are_mapped_typed_and_nulled() {
        let m = mapper(SOURCE);
        let f = m
            .map(&row(&[
                Some("42"),
                Some("02/03/2026 08:00"),
                Some(" waiting on CONTACT "),
                Some("P1"),
                Some("4.0"),
            ]))
            .unwrap();
        assert_eq!(f.get("ticket_id"), &Value::Text("42".into()));
        assert_eq!(f.get("created_at"), &Value::Time(1_772_449_200_000_000));
        assert_eq!(f.get("status"), &Value::Text("pending".into()));
        assert_eq!(f.get("priority"), &Value::Text("urgent".into()));
        assert_eq!(f.get("csat_score"), &Value::Int(4));
        assert_eq!(f.get("channel"), &Value::Text("email".into()));
        assert_eq!(f.get("source_system"), &Value::Text("s".into()));
        let f = m
            .map(&row(&[
                Some("43"),
                Some("?"),
                Some("Open"),
                Some("NULL"),
                None,
            ]))
            .unwrap();
        assert_eq!(f.get("created_at"), &Value::Null);
        assert_eq!(f.get("status"), &Value::Text("open".into()));
        assert_eq!(f.get("priority"), &Value::Null);
    }

    #[test]
    fn bad_values_are_rejected_with_their_column_and_reason() {
        let m = mapper(SOURCE);
        let err = m
            .map(&row(&[
                Some("44"),
                Some("2026-03-02"),
                Some("Escalated"),
                Some("P1"),
                Some("great"),
            ]))
            .unwrap_err();
        let summary: Vec<_> = err
            .iter()
            .map(|r| (r.line, r.column.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (7, "Created", "2026-03-02"),
                (7, "Status", "Escalated"),
                (7, "CSAT", "great")
            ]
        );
        assert!(
            err[0].reason.starts_with("unparseable timestamp"),
            "{}",
            err[0].reason
        );
        assert!(
            err[1].reason.starts_with(
                "unknown status with no mapping (add it under [sources.NAME.values.status]"
            ),
            "{}",
            err[1].reason
        );
        assert!(
            err[2].reason.contains("not an integer"),
            "{}",
            err[2].reason
        );
    }
}
