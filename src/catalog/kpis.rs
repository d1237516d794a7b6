//! The catalog: the bundled KPI queries plus a workspace's own `queries/*.sql`, which add to
//! them and override one by name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::header::{self, Header};
use super::CatalogError;

/// The period parameters a KPI query may use.
pub const PARAMETERS: [&str; 2] = ["$period_start", "$period_end"];

macro_rules! bundled {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/queries/", $file)),
        )
    };
}

/// The KPI queries shipped with `kpi` (the repository's `queries/` folder), compiled in.
const BUNDLED: &[(&str, &str)] = &[
    bundled!("backlog.sql"),
    bundled!("csat.sql"),
    bundled!("csat_score.sql"),
    bundled!("first_contact_resolution.sql"),
    bundled!("first_response_compliance.sql"),
    bundled!("first_response_hours_median.sql"),
    bundled!("first_response_hours_p90.sql"),
    bundled!("problem_resolution_rate.sql"),
    bundled!("productivity.sql"),
    bundled!("reopen_rate.sql"),
    bundled!("resolution_compliance.sql"),
    bundled!("resolution_hours_median.sql"),
    bundled!("resolution_hours_p90.sql"),
];

/// Where a KPI's query comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Shipped with `kpi`: the file name in the repository's `queries/`.
    Bundled(&'static str),
    /// The workspace's own file.
    Workspace(PathBuf),
}

/// One KPI: its header and its query.
#[derive(Debug, Clone)]
pub struct Kpi {
    pub header: Header,
    /// The whole file (header comments included, so that line numbers are the file's).
    pub sql: String,
    pub origin: Origin,
}

impl Kpi {
    /// Parse and check one KPI file: its header and its parameters.
    pub fn parse(text: &str, origin: Origin) -> Result<Kpi, CatalogError> {
        let location = location(&origin);
        let header = header::parse(text).map_err(|e| CatalogError::Header {
            location: location.clone(),
            line: e.line,
            message: e.message,
        })?;
        check_parameters(text, &location)?;
        Ok(Kpi {
            header,
            sql: text.to_string(),
            origin,
        })
    }

    pub fn name(&self) -> &str {
        &self.header.name
    }

    /// The file, for messages: its path, or `queries/NAME.sql (bundled)`.
    pub fn location(&self) -> String {
        location(&self.origin)
    }
}

fn location(origin: &Origin) -> String {
    match origin {
        Origin::Bundled(file) => format!("queries/{file} (bundled)"),
        Origin::Workspace(path) => path.display().to_string(),
    }
}

/// Every `$name` placeholder must be one of [`PARAMETERS`].
fn check_parameters(text: &str, location: &str) -> Result<(), CatalogError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| CatalogError::Header {
            location: location.to_string(),
            line: e.location.line as usize,
            message: format!("cannot read the SQL: {}", e.message),
        })?;
    for token in tokens {
        if let Token::Placeholder(name) = &token.token {
            if !PARAMETERS.contains(&name.as_str()) {
                return Err(CatalogError::Parameter {
                    location: location.to_string(),
                    line: token.span.start.line as usize,
                    name: name.clone(),
                    hint: crate::names::hint(name, PARAMETERS),
                });
            }
        }
    }
    Ok(())
}

/// The KPIs a workspace can run, by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Sorted by name.
    kpis: Vec<Arc<Kpi>>,
}

impl Catalog {
    /// The bundled KPIs only.
    pub fn bundled() -> Result<Catalog, CatalogError> {
        let kpis = BUNDLED
            .iter()
            .map(|(file, text)| Kpi::parse(text, Origin::Bundled(file)).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Catalog::sorted(kpis))
    }

    /// The bundled KPIs plus the `*.sql` files of `dir` (when it exists), which override a
    /// bundled KPI of the same name.
    pub fn load(dir: &Path) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::bundled()?;
        let mut own: Vec<Arc<Kpi>> = Vec::new();
        for path in sql_files(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|source| CatalogError::Read {
                path: path.clone(),
                source,
            })?;
            let kpi = Kpi::parse(&text, Origin::Workspace(path))?;
            if let Some(first) = own.iter().find(|k| k.name() == kpi.name()) {
                return Err(CatalogError::Duplicate {
                    name: kpi.name().to_string(),
                    first: first.location(),
                    second: kpi.location(),
                });
            }
            own.push(Arc::new(kpi));
        }
        catalog
            .kpis
            .retain(|k| !own.iter().any(|o| o.name() == k.name()));
        catalog.kpis.extend(own);
        Ok(Catalog::sorted(catalog.kpis))
    }

    fn sorted(mut kpis: Vec<Arc<Kpi>>) -> Catalog {
        kpis.sort_by(|a, b| a.name().cmp(b.name()));
        Catalog { kpis }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Kpi>> {
        self.kpis.iter()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.kpis.iter().map(|k| k.name())
    }

    pub fn len(&self) -> usize {
        self.kpis.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kpis.is_empty()
    }

    /// The KPI named `name`, or an error with the closest name.
    pub fn get(&self, name: &str) -> Result<&Arc<Kpi>, CatalogError> {
        self.kpis
            .iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| CatalogError::Unknown {
                name: name.to_string(),
                hint: crate::names::hint(name, self.names()),
            })
    }

    /// The `kpi_catalog` table: one row per KPI with its header and where it comes from.
    pub fn batch(&self) -> RecordBatch {
        let text = |f: &dyn Fn(&Kpi) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(
                self.kpis.iter().map(|k| f(k)).collect::<Vec<_>>(),
            ))
        };
        let columns = vec![
            text(&|k| Some(k.header.name.clone())),
            text(&|k| Some(k.header.title.clone())),
            text(&|k| k.header.title_pt_br.clone()),
            text(&|k| Some(k.header.unit.to_string())),
            text(&|k| Some(k.header.direction.to_string())),
            text(&|k| Some(k.header.description.clone())),
            text(&|k| k.header.description_pt_br.clone()),
            text(&|k| Some(k.location())),
        ];
        let fields: Vec<Field> = CATALOG_COLUMNS
            .iter()
            .map(|(name, nullable, _)| Field::new(*name, DataType::Utf8, *nullable))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::empty())))
    }
}

/// The columns of `kpi_catalog`: name, nullable, meaning (the README documents them).
pub const CATALOG_COLUMNS: [(&str, bool, &str); 8] = [
    (
        "name",
        false,
        "The KPI's name, used by `kpi run`, targets and results.",
    ),
    ("title", false, "Its title in English."),
    ("title_pt_br", true, "Its title in Brazilian Portuguese."),
    (
        "unit",
        false,
        "percent (a share from 0 to 1), hours, count, score or ratio.",
    ),
    ("direction", false, "higher_is_better or lower_is_better."),
    ("description", false, "What it measures and how."),
    (
        "description_pt_br",
        true,
        "The description in Brazilian Portuguese.",
    ),
    (
        "source",
        false,
        "Its file: a workspace path, or `queries/NAME.sql (bundled)`.",
    ),
];

/// The `*.sql` files of `dir` in name order (none when it does not exist).
fn sql_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CatalogError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| CatalogError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_matches_the_queries_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let on_disk: Vec<String> = sql_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let listed: Vec<&str> = BUNDLED.iter().map(|(f, _)| *f).collect();
        assert_eq!(
            on_disk, listed,
            "list every queries/*.sql in BUNDLED, in name order"
        );
        let catalog = Catalog::bundled().unwrap();
        for kpi in catalog.iter() {
            let Origin::Bundled(file) = kpi.origin else {
                unreachable!()
            };
            assert_eq!(
                file,
                format!("{}.sql", kpi.name()),
                "file named after its KPI"
            );
        }
    }

    #[test]
    fn workspace_files_add_and_override() {
        let dir = tempfile::tempdir().unwrap();
        let own = "-- name: csat\n-- title: Own CSAT\n-- unit: percent\n-- direction: higher_is_better\n-- description: ours\nSELECT 1.0 AS value\n";
        std::fs::write(dir.path().join("mine.sql"), own).unwrap();
        std::fs::write(
            dir.path().join("extra.sql"),
            own.replace("csat", "extra_kpi"),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a query").unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        assert_eq!(catalog.len(), Catalog::bundled().unwrap().len() + 1);
        assert_eq!(catalog.get("csat").unwrap().header.title, "Own CSAT");
        let err = catalog.get("csta").unwrap_err().to_string();
        assert!(err.contains("did you mean 'csat'?"), "{err}");

        std::fs::write(dir.path().join("twin.sql"), own).unwrap();
        let err = Catalog::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("mine.sql") && err.contains("twin.sql"),
            "{err}"
        );
    }

    #[test]
    fn unknown_parameters_name_their_line() {
        let text = "-- name: x\n-- title: X\n-- unit: count\n-- direction: lower_is_better\n-- description: d\nSELECT count(*) AS value FROM tickets\nWHERE created_at >= $period_start\n  AND created_at < $period_ends\n";
        let err = Kpi::parse(text, Origin::Workspace("q/x.sql".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "q/x.sql:8: unknown parameter $period_ends; did you mean '$period_end'?"
        );
    }
}
