//! The KPI tables as CSV: the answer of the KPI service (`kpis::service`,
//! the very functions behind GraphQL's `funnel` and `costPerLead`), one row
//! per group. Nothing is computed here but the formatting; a KPI table has
//! one row per channel, campaign or persona, so it is written whole.

use super::cell::{self, text};
use super::leads::{csv_error, finish};
use super::params::{KpiExportSpec, Report};
use crate::auth::Viewer;
use crate::auth::policy::{self, Export};
use crate::error::AppResult;
use crate::kpis::calc;
use crate::kpis::service::{self, Cohorts};
use crate::leads::lifecycle::LeadStage;
use crate::validate::cents_text;
use sea_orm::ConnectionTrait;

/// The funnel's columns: per stage `<stage>_reached`, and from MQL on
/// `<stage>_conversion` (GraphQL `conversionFromPrevious`) and
/// `<stage>_avg_days` (`avgDaysFromPrevious`).
pub fn funnel_columns() -> Vec<String> {
    let mut columns = vec!["key".to_owned(), "label".to_owned(), "new_leads".to_owned()];
    for (i, stage) in LeadStage::FUNNEL.iter().enumerate() {
        let name = stage.code().to_lowercase();
        columns.push(format!("{name}_reached"));
        if i > 0 {
            columns.push(format!("{name}_conversion"));
            columns.push(format!("{name}_avg_days"));
        }
    }
    columns.push("disqualified".to_owned());
    columns.push("overall_conversion".to_owned());
    columns
}

/// The cost table's columns (GraphQL `CostRow`, money split into an exact
/// decimal amount and a `currency` column).
pub const COST_COLUMNS: [&str; 14] = [
    "key",
    "label",
    "currency",
    "spend",
    "leads",
    "mqls",
    "sqls",
    "customers",
    "cost_per_lead",
    "cost_per_mql",
    "cost_per_sql",
    "cost_per_customer",
    "revenue",
    "roi",
];

/// The whole CSV file of a KPI report.
pub async fn export(
    viewer: &Viewer,
    db: &impl ConnectionTrait,
    spec: &KpiExportSpec,
    currency: &str,
) -> AppResult<Vec<u8>> {
    let cohorts = Cohorts::default();
    let mut w = cell::writer();
    match spec.report {
        Report::Funnel => {
            policy::require_export(viewer, Export::Funnel)?;
            let groups = service::funnel(viewer, db, &cohorts, &spec.period, spec.group_by).await?;
            w.write_record(funnel_columns()).map_err(csv_error)?;
            for (group, counts) in groups {
                let (key, label) = group.key_and_label();
                let mut row = vec![
                    text(&key).into_owned(),
                    text(&label).into_owned(),
                    counts.new_leads.to_string(),
                ];
                for stage in calc::stage_figures(&counts) {
                    row.push(stage.reached.to_string());
                    if stage.index > 0 {
                        row.push(cell::float(stage.conversion_from_previous));
                        row.push(cell::float(stage.avg_days_from_previous));
                    }
                }
                row.push(counts.disqualified.to_string());
                row.push(cell::float(calc::overall_conversion(&counts)));
                w.write_record(&row).map_err(csv_error)?;
            }
        }
        Report::CostPerLead => {
            policy::require_export(viewer, Export::CostPerLead)?;
            let rows =
                service::cost_per_lead(viewer, db, &cohorts, &spec.period, spec.group_by).await?;
            w.write_record(COST_COLUMNS).map_err(csv_error)?;
            let money = |cents: Option<i128>| cents.map(cents_text).unwrap_or_default();
            for (group, f) in rows {
                let (key, label) = group.key_and_label();
                w.write_record([
                    text(&key).into_owned(),
                    text(&label).into_owned(),
                    text(currency).into_owned(),
                    cents_text(f.spend_cents),
                    f.leads.to_string(),
                    f.mqls.to_string(),
                    f.sqls.to_string(),
                    f.customers.to_string(),
                    money(f.cost_per_lead),
                    money(f.cost_per_mql),
                    money(f.cost_per_sql),
                    money(f.cost_per_customer),
                    cents_text(f.revenue_cents),
                    cell::float(f.roi),
                ])
                .map_err(csv_error)?;
            }
        }
    }
    let body = finish(w)?;
    Ok(if spec.bom {
        [cell::BOM, &body].concat()
    } else {
        body
    })
}
