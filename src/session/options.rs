//! The `kpi.*` session settings: a DataFusion config extension, so `SET kpi.as_of = '…'`,
//! `SHOW kpi.as_of` and `information_schema.df_settings` work like any DataFusion setting,
//! and a bad value is refused when it is set, naming the setting and the value.

use std::any::Any;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};

/// The `kpi.*` settings of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiOptions {
    /// The instant everything is evaluated as of; `None` means "now" when a query runs.
    pub as_of: Option<DateTime<Utc>>,
}

impl KpiOptions {
    const AS_OF: &'static str = "as_of";
}

/// Read an `as_of` value: an RFC 3339 instant with its offset, or `now` (also the empty text).
pub fn parse_as_of(value: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("now") {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(value)
        .or_else(|_| DateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            format!(
                "invalid instant '{value}': use RFC 3339 with an offset, such as \
                 2026-06-30T23:59:59Z or 2026-06-30T20:59:59-03:00, or 'now'"
            )
        })
}

impl ConfigExtension for KpiOptions {
    const PREFIX: &'static str = "kpi";
}

impl ExtensionOptions for KpiOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            KpiOptions::AS_OF => {
                self.as_of = parse_as_of(value).map_err(|e| {
                    DataFusionError::Configuration(format!("kpi.{}: {e}", KpiOptions::AS_OF))
                })?;
                Ok(())
            }
            other => Err(DataFusionError::Configuration(format!(
                "unknown setting 'kpi.{other}'; known: kpi.{}",
                KpiOptions::AS_OF
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![ConfigEntry {
            key: format!("{}.{}", KpiOptions::PREFIX, KpiOptions::AS_OF),
            value: Some(
                self.as_of
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                    .unwrap_or_else(|| "now".to_string()),
            ),
            description: "The instant SLA and KPI figures are evaluated as of (RFC 3339), or \
                          'now' (the default)",
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_accepts_instants_with_offsets_and_now() {
        let mut o = KpiOptions::default();
        o.set("as_of", "2026-06-30T20:00:00-03:00").unwrap();
        assert_eq!(
            o.entries()[0].value.as_deref(),
            Some("2026-06-30T23:00:00Z")
        );
        o.set("as_of", "now").unwrap();
        assert_eq!(o.as_of, None);
        let err = o.set("as_of", "2026-06-31").unwrap_err().to_string();
        assert!(
            err.contains("kpi.as_of") && err.contains("'2026-06-31'"),
            "{err}"
        );
        let err = o.set("asof", "now").unwrap_err().to_string();
        assert!(
            err.contains("kpi.asof") && err.contains("kpi.as_of"),
            "{err}"
        );
    }
}
