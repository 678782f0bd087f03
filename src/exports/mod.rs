//! CSV exports of leads and KPI tables (docs/export.md), over HTTP
//! (`GET /export/leads.csv`, `GET /export/kpis.csv`) and on the command line
//! (`leadgraph export leads|kpis`).
//!
//! An export answers exactly what the GraphQL field it mirrors answers to
//! the same viewer: the leads through `leads::service::list` (the viewer's
//! scope in the SQL), the KPIs through `kpis::service`, access through
//! `policy::require_export`. This module only parses parameters and writes
//! CSV.

pub mod cell;
pub mod cli;
pub mod http;
pub mod kpis;
pub mod leads;
pub mod params;

use chrono::{DateTime, Timelike, Utc};

/// The file name an export suggests: `leads-2026-12-04.csv` (today, UTC),
/// `funnel-channel-2026-03-01-2026-04-01.csv`.
pub fn file_name(what: &str, kpi: Option<&params::KpiExportSpec>) -> String {
    match kpi {
        None => format!("{what}-{}.csv", Utc::now().format("%Y-%m-%d")),
        Some(spec) => format!(
            "{what}-{}-{}-{}.csv",
            format!("{:?}", spec.group_by).to_lowercase(),
            day(spec.period.from),
            day(spec.period.to)
        ),
    }
}

/// A date, with the time when it is not midnight.
fn day(t: DateTime<Utc>) -> String {
    if t.num_seconds_from_midnight() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%dT%H%M%SZ").to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kpis::model::{GroupBy, Period};

    #[test]
    fn kpi_file_names_say_report_grouping_and_period() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let spec = params::KpiExportSpec {
            report: params::Report::CostPerLead,
            period: Period {
                from: t("2026-03-01T00:00:00Z"),
                to: t("2026-04-01T12:30:00Z"),
            },
            group_by: GroupBy::Campaign,
            bom: false,
        };
        assert_eq!(
            file_name(spec.report.name(), Some(&spec)),
            "cost-per-lead-campaign-2026-03-01-2026-04-01T123000Z.csv"
        );
        assert!(file_name("leads", None).starts_with("leads-20"));
    }
}
