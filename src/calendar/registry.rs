//! The calendars of a workspace by name, each with its business-time index, built on first use
//! and shared by every query of the process. An index grows (in whole decades, within
//! [`MIN_YEAR`, `MAX_YEAR`)) when a query brings instants outside it; beyond those years the
//! index answers exactly by walking days.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Datelike, Utc};

use super::definition::Calendar;
use super::index::BusinessIndex;
use super::CalendarError;

/// The years indexed before any query asks for more.
pub const INITIAL_YEARS: (i32, i32) = (2000, 2040);
/// The index never grows below this year or to this year and beyond.
pub const MIN_YEAR: i32 = 1600;
pub const MAX_YEAR: i32 = 2600;

#[derive(Debug)]
struct Entry {
    calendar: Arc<Calendar>,
    index: RwLock<Option<Arc<BusinessIndex>>>,
}

/// Named calendars and their indexes; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct CalendarRegistry {
    entries: BTreeMap<String, Entry>,
    default: Option<String>,
}

impl CalendarRegistry {
    /// A registry of `calendars`; `default` must name one of them.
    pub fn new(
        calendars: impl IntoIterator<Item = Calendar>,
        default: Option<String>,
    ) -> Result<CalendarRegistry, CalendarError> {
        let entries: BTreeMap<String, Entry> = calendars
            .into_iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    Entry {
                        calendar: Arc::new(c),
                        index: RwLock::new(None),
                    },
                )
            })
            .collect();
        let registry = CalendarRegistry {
            entries,
            default: None,
        };
        if let Some(name) = &default {
            registry.calendar(name)?;
        }
        Ok(CalendarRegistry {
            default,
            ..registry
        })
    }

    /// Calendar names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    fn known(&self) -> String {
        if self.entries.is_empty() {
            "none (define [calendars.NAME] in kpi.toml)".to_string()
        } else {
            self.names().collect::<Vec<_>>().join(", ")
        }
    }

    /// The name to use for an optional calendar argument: the given one or the default.
    pub fn resolve<'a>(&'a self, name: Option<&'a str>) -> Result<&'a str, CalendarError> {
        match name {
            Some(name) => Ok(name),
            None => self.default_name().ok_or_else(|| CalendarError::NoDefault {
                known: self.known(),
            }),
        }
    }

    pub fn calendar(&self, name: &str) -> Result<&Arc<Calendar>, CalendarError> {
        self.entry(name).map(|e| &e.calendar)
    }

    fn entry(&self, name: &str) -> Result<&Entry, CalendarError> {
        self.entries
            .get(name)
            .ok_or_else(|| CalendarError::Unknown {
                name: name.to_string(),
                known: self.known(),
            })
    }

    /// The index of calendar `name`, grown if needed to cover the instants `span` (µs) within
    /// the supported years.
    pub fn index(
        &self,
        name: &str,
        span: Option<(i64, i64)>,
    ) -> Result<Arc<BusinessIndex>, CalendarError> {
        let entry = self.entry(name)?;
        let wanted = span.map(years_of);
        {
            let guard = entry.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_ref() {
                if covers(index.years(), wanted) {
                    return Ok(Arc::clone(index));
                }
            }
        }
        let mut guard = entry.index.write().unwrap_or_else(|e| e.into_inner());
        let current = guard.as_ref().map(|i| i.years()).unwrap_or(INITIAL_YEARS);
        if let Some(index) = guard.as_ref() {
            if covers(index.years(), wanted) {
                return Ok(Arc::clone(index));
            }
        }
        let (mut first, mut end) = current;
        if let Some((lo, hi)) = wanted {
            first = first.min(lo.div_euclid(10) * 10).max(MIN_YEAR);
            end = end.max((hi.div_euclid(10) + 1) * 10).min(MAX_YEAR);
        }
        let index = Arc::new(BusinessIndex::build(
            Arc::clone(&entry.calendar),
            first,
            end,
        )?);
        *guard = Some(Arc::clone(&index));
        Ok(index)
    }
}

/// The local years (with a year of margin) that instants `lo..=hi` fall in, clamped to the
/// supported range.
fn years_of((lo, hi): (i64, i64)) -> (i32, i32) {
    let year = |t: i64| {
        DateTime::<Utc>::from_timestamp_micros(t)
            .map(|d| d.year())
            .unwrap_or(if t < 0 { MIN_YEAR } else { MAX_YEAR })
    };
    (
        (year(lo) - 1).clamp(MIN_YEAR, MAX_YEAR - 1),
        (year(hi) + 1).clamp(MIN_YEAR, MAX_YEAR - 1),
    )
}

fn covers((first, end): (i32, i32), wanted: Option<(i32, i32)>) -> bool {
    wanted.is_none_or(|(lo, hi)| first <= lo && hi < end)
}
