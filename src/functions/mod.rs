//! The business-time SQL functions: thin DataFusion adapters over [`crate::calendar`].
//!
//! Each function lives in its own file with the same shape: a `…Func` struct, its
//! `ScalarUDFImpl` with `documentation()`, and tests. Argument coercion, calendar resolution
//! and the array loops they share are in `args`. Nothing here knows how business time is
//! computed; nothing in `calendar` knows about Arrow.

mod args;
mod business_add;
mod business_hours;
mod business_seconds;
mod is_business_time;
mod next_business_open;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

use crate::calendar::CalendarRegistry;

pub use business_add::BusinessAddFunc;
pub use business_hours::BusinessHoursFunc;
pub use business_seconds::BusinessSecondsFunc;
pub use is_business_time::IsBusinessTimeFunc;
pub use next_business_open::NextBusinessOpenFunc;

/// The workspace's calendars as held by a function: equal and hashed by identity, since two
/// functions are the same only if they answer from the same calendars.
#[derive(Debug, Clone)]
pub struct Calendars(pub Arc<CalendarRegistry>);

impl PartialEq for Calendars {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Calendars {}

impl Hash for Calendars {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

/// Every business-time function, bound to `calendars`.
pub fn all(calendars: &Arc<CalendarRegistry>) -> Vec<ScalarUDF> {
    let c = || Calendars(Arc::clone(calendars));
    vec![
        ScalarUDF::from(BusinessSecondsFunc::new(c())),
        ScalarUDF::from(BusinessHoursFunc::new(c())),
        ScalarUDF::from(BusinessAddFunc::new(c())),
        ScalarUDF::from(IsBusinessTimeFunc::new(c())),
        ScalarUDF::from(NextBusinessOpenFunc::new(c())),
    ]
}

/// Each business-time function's name and the 0-based position of its optional calendar
/// argument (after its fixed arguments): what the shell completes with calendar names.
pub fn calendar_arguments() -> [(&'static str, usize); 5] {
    [
        business_seconds::PARAMS,
        business_hours::PARAMS,
        business_add::PARAMS,
        is_business_time::PARAMS,
        next_business_open::PARAMS,
    ]
    .map(|p| (p.name, p.fixed.len()))
}

/// Register every business-time function in a session.
pub fn register(ctx: &SessionContext, calendars: &Arc<CalendarRegistry>) {
    for udf in all(calendars) {
        ctx.register_udf(udf);
    }
}

#[cfg(test)]
pub(crate) mod test_support;

/// The documentation every business-time function starts from.
fn doc(
    description: &str,
    syntax: &str,
    example: &str,
) -> datafusion::logical_expr::DocumentationBuilder {
    use datafusion::logical_expr::{DocSection, Documentation};
    const SECTION: DocSection = DocSection {
        include: true,
        label: "Business Time Functions",
        description: Some("Business-hours arithmetic over the calendars in kpi.toml"),
    };
    Documentation::builder(SECTION, description, syntax)
        .with_sql_example(format!("```sql\n{example}\n```"))
}
