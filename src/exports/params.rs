//! The parameters of an export, as `name=value` pairs — an HTTP query
//! string, or the flags of `leadgraph export` turned into the same pairs —
//! checked and turned into the domain's terms. One parser for both, so the
//! command line and the API refuse the same things with the same words.
//!
//! Lists may repeat the parameter (`stage=SQL&stage=MQL`) or separate values
//! with commas (`stage=SQL,MQL`). Enum values are case-insensitive. Times
//! are RFC 3339 (`2026-03-01T00:00:00Z`) or a date (`2026-03-01`, midnight
//! UTC). Ids are the API's global ids. An unknown parameter is refused (a
//! typo must not silently export everything).

use crate::error::{AppError, AppResult};
use crate::global_id::{self, NodeType};
use crate::kpis::model::{GroupBy, Period};
use crate::leads::channel::Channel;
use crate::leads::lifecycle::LeadStage;
use crate::leads::model::{Direction, LeadFilter, Order, OrderField};
use crate::validate;
use chrono::{DateTime, NaiveDate, Utc};

/// What `GET /export/leads.csv` asks.
#[derive(Clone, Debug, Default)]
pub struct LeadExportSpec {
    pub filter: LeadFilter,
    pub order: Order,
    /// Start the file with a UTF-8 byte order mark (for Excel).
    pub bom: bool,
}

/// Which KPI table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Funnel,
    CostPerLead,
}

impl Report {
    /// The spelling in parameters and file names.
    pub fn name(self) -> &'static str {
        match self {
            Report::Funnel => "funnel",
            Report::CostPerLead => "cost-per-lead",
        }
    }
}

/// What `GET /export/kpis.csv` asks.
#[derive(Clone, Copy, Debug)]
pub struct KpiExportSpec {
    pub report: Report,
    pub period: Period,
    pub group_by: GroupBy,
    pub bom: bool,
}

/// Parameters of the leads export (the GraphQL `LeadFilter` and `LeadOrder`).
pub const LEAD_PARAMS: [&str; 14] = [
    "stage",
    "channel",
    "campaignId",
    "personaId",
    "ownerId",
    "unassigned",
    "scoreMin",
    "scoreMax",
    "createdFrom",
    "createdTo",
    "search",
    "orderBy",
    "direction",
    "bom",
];

/// Parameters of the KPI export.
pub const KPI_PARAMS: [&str; 5] = ["report", "groupBy", "from", "to", "bom"];

/// The GraphQL plural spellings, accepted as aliases.
fn canonical(name: &str) -> &str {
    match name {
        "stages" => "stage",
        "channels" => "channel",
        "campaignIds" => "campaignId",
        "personaIds" => "personaId",
        other => other,
    }
}

/// The pairs grouped by parameter, unknown names refused.
struct Pairs<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Pairs<'a> {
    fn new(raw: &'a [(String, String)], known: &[&str]) -> AppResult<Self> {
        let mut pairs = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let name = canonical(name);
            if !known.contains(&name) {
                return Err(AppError::bad_input(
                    name,
                    format!("unknown parameter `{name}`; known: {}", known.join(", ")),
                ));
            }
            pairs.push((name, value.as_str()));
        }
        Ok(Pairs { pairs })
    }

    /// Every value of a list parameter (repeated and comma-separated),
    /// `None` when it is not given.
    fn list(&self, name: &str) -> AppResult<Option<Vec<&'a str>>> {
        let mut values = Vec::new();
        let mut given = false;
        for (n, v) in &self.pairs {
            if *n == name {
                given = true;
                values.extend(v.split(',').map(str::trim).filter(|s| !s.is_empty()));
            }
        }
        if !given {
            return Ok(None);
        }
        validate::list_lens(&[(name, Some(values.len()))])?;
        Ok(Some(values))
    }

    /// The value of a single parameter; given twice is an error.
    fn one(&self, name: &str) -> AppResult<Option<&'a str>> {
        let mut found = None;
        for (n, v) in &self.pairs {
            if *n == name {
                if found.is_some() {
                    return Err(AppError::bad_input(
                        name,
                        format!("`{name}` is given more than once"),
                    ));
                }
                found = Some(v.trim());
            }
        }
        Ok(found)
    }

    fn enums<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
        all: &[&str],
    ) -> AppResult<Option<Vec<T>>> {
        self.list(name)?
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| parse(&v.to_uppercase()).ok_or_else(|| bad_enum(name, v, all)))
                    .collect()
            })
            .transpose()
    }

    fn ids(&self, name: &str, kind: NodeType) -> AppResult<Option<Vec<i64>>> {
        self.list(name)?
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| global_id::decode(kind, v, name))
                    .collect()
            })
            .transpose()
    }

    fn int(&self, name: &str) -> AppResult<Option<i32>> {
        self.one(name)?
            .map(|v| {
                v.parse::<i32>()
                    .map_err(|_| AppError::bad_input(name, format!("`{name}` must be an integer")))
            })
            .transpose()
    }

    fn bool(&self, name: &str) -> AppResult<Option<bool>> {
        self.one(name)?
            .map(|v| match v.to_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(AppError::bad_input(
                    name,
                    format!("`{name}` must be true or false"),
                )),
            })
            .transpose()
    }

    fn time(&self, name: &str) -> AppResult<Option<DateTime<Utc>>> {
        self.one(name)?.map(|v| time(name, v)).transpose()
    }
}

fn bad_enum(name: &str, value: &str, all: &[&str]) -> AppError {
    AppError::bad_input(
        name,
        format!(
            "`{value}` is not a valid {name}; use one of {}",
            all.join(", ")
        ),
    )
}

/// RFC 3339, or a date meaning its midnight UTC; within the years the API
/// accepts, to the microsecond (as the GraphQL `DateTime`).
pub fn time(name: &str, value: &str) -> AppResult<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(|d| d.and_time(Default::default()).and_utc())
        })
        .map_err(|_| {
            AppError::bad_input(
                name,
                format!("`{name}` must be an RFC 3339 timestamp or a date (YYYY-MM-DD)"),
            )
        })?;
    let t = validate::truncate_micros(parsed);
    if !validate::timestamp_in_range(t) {
        return Err(AppError::bad_input(
            name,
            format!("`{name}` is out of the supported range of years"),
        ));
    }
    Ok(t)
}

fn codes<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| code(*v)).collect()
}

/// The leads export's parameters.
pub fn lead_export(raw: &[(String, String)]) -> AppResult<LeadExportSpec> {
    let p = Pairs::new(raw, &LEAD_PARAMS)?;
    let stages = codes(&LeadStage::ALL, LeadStage::code);
    let channels = codes(&Channel::ALL, Channel::code);
    let filter = LeadFilter {
        stages: p.enums("stage", LeadStage::parse, &stages)?,
        channels: p.enums("channel", Channel::parse, &channels)?,
        campaign_ids: p.ids("campaignId", NodeType::Campaign)?,
        persona_ids: p.ids("personaId", NodeType::Persona)?,
        owner_id: p
            .one("ownerId")?
            .map(|v| global_id::decode(NodeType::User, v, "ownerId"))
            .transpose()?,
        unassigned: p.bool("unassigned")?,
        score_min: p.int("scoreMin")?,
        score_max: p.int("scoreMax")?,
        created_from: p.time("createdFrom")?,
        created_to: p.time("createdTo")?,
        search: p.one("search")?.map(str::to_owned),
    };
    if let Some(search) = filter.search.as_deref() {
        validate::text("search", Some(search), validate::MAX_STRING)?;
    }
    let mut order = Order::default();
    if let Some(field) = p.one("orderBy")? {
        order.field = match field.to_uppercase().as_str() {
            "SCORE" => OrderField::Score,
            "CREATED_AT" => OrderField::CreatedAt,
            "UPDATED_AT" => OrderField::UpdatedAt,
            "STAGE_CHANGED_AT" => OrderField::StageChangedAt,
            _ => {
                return Err(bad_enum(
                    "orderBy",
                    field,
                    &["SCORE", "CREATED_AT", "UPDATED_AT", "STAGE_CHANGED_AT"],
                ));
            }
        };
    }
    if let Some(direction) = p.one("direction")? {
        order.direction = match direction.to_uppercase().as_str() {
            "ASC" => Direction::Asc,
            "DESC" => Direction::Desc,
            _ => return Err(bad_enum("direction", direction, &["ASC", "DESC"])),
        };
    }
    Ok(LeadExportSpec {
        filter,
        order,
        bom: p.bool("bom")?.unwrap_or(false),
    })
}

/// The KPI export's parameters: `report`, `from` and `to` are required;
/// `groupBy` defaults as in GraphQL (funnel `NONE`, costPerLead `CHANNEL`).
pub fn kpi_export(raw: &[(String, String)]) -> AppResult<KpiExportSpec> {
    let p = Pairs::new(raw, &KPI_PARAMS)?;
    let required = |name: &str| AppError::bad_input(name, format!("`{name}` is required"));
    let report = match p.one("report")? {
        None => return Err(required("report")),
        Some(r) => match r.to_lowercase().replace('_', "-").as_str() {
            "funnel" => Report::Funnel,
            "cost-per-lead" | "costperlead" => Report::CostPerLead,
            _ => return Err(bad_enum("report", r, &["funnel", "cost-per-lead"])),
        },
    };
    let from = p.time("from")?.ok_or_else(|| required("from"))?;
    let to = p.time("to")?.ok_or_else(|| required("to"))?;
    let group_by = match p.one("groupBy")? {
        None => match report {
            Report::Funnel => GroupBy::None,
            Report::CostPerLead => GroupBy::Channel,
        },
        Some(g) => match g.to_uppercase().as_str() {
            "NONE" => GroupBy::None,
            "CHANNEL" => GroupBy::Channel,
            "CAMPAIGN" => GroupBy::Campaign,
            "PERSONA" => GroupBy::Persona,
            _ => {
                return Err(bad_enum(
                    "groupBy",
                    g,
                    &["NONE", "CHANNEL", "CAMPAIGN", "PERSONA"],
                ));
            }
        },
    };
    Ok(KpiExportSpec {
        report,
        period: Period { from, to },
        group_by,
        bom: p.bool("bom")?.unwrap_or(false),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn field(err: AppError) -> String {
        match err {
            AppError::BadInput { field, .. } => field,
            other => panic!("not bad input: {other:?}"),
        }
    }

    #[test]
    fn lead_filters_parse_like_the_graphql_filter() {
        let campaign = global_id::encode(NodeType::Campaign, 3);
        let spec = lead_export(&pairs(&[
            ("stage", "sql,MQL"),
            ("stages", "CUSTOMER"),
            ("channel", "paid_search"),
            ("campaignId", &campaign),
            ("scoreMin", "-5"),
            ("createdFrom", "2026-03-01"),
            ("createdTo", "2026-04-01T02:00:00+02:00"),
            ("unassigned", "true"),
            ("orderBy", "score"),
            ("direction", "asc"),
            ("bom", "1"),
        ]))
        .unwrap();
        assert_eq!(
            spec.filter.stages,
            Some(vec![LeadStage::Sql, LeadStage::Mql, LeadStage::Customer])
        );
        assert_eq!(spec.filter.channels, Some(vec![Channel::PaidSearch]));
        assert_eq!(spec.filter.campaign_ids, Some(vec![3]));
        assert_eq!(spec.filter.score_min, Some(-5));
        assert_eq!(
            spec.filter.created_from.unwrap().to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        assert_eq!(
            spec.filter.created_to.unwrap().to_rfc3339(),
            "2026-04-01T00:00:00+00:00"
        );
        assert_eq!(spec.filter.unassigned, Some(true));
        assert_eq!(spec.order.field, OrderField::Score);
        assert_eq!(spec.order.direction, Direction::Asc);
        assert!(spec.bom);
        let none = lead_export(&[]).unwrap();
        assert!(none.filter.stages.is_none() && !none.bom);
        assert_eq!(none.order, Order::default());
    }

    #[test]
    fn bad_lead_parameters_name_the_parameter() {
        let persona = global_id::encode(NodeType::Persona, 1);
        for (list, name) in [
            (vec![("stage", "WON")], "stage"),
            (vec![("channel", "TV")], "channel"),
            (vec![("campaignId", persona.as_str())], "campaignId"),
            (vec![("ownerId", "42")], "ownerId"),
            (vec![("scoreMin", "ten")], "scoreMin"),
            (vec![("scoreMax", "1"), ("scoreMax", "2")], "scoreMax"),
            (vec![("createdFrom", "yesterday")], "createdFrom"),
            (vec![("createdTo", "99999-01-01")], "createdTo"),
            (vec![("unassigned", "maybe")], "unassigned"),
            (vec![("orderBy", "EMAIL")], "orderBy"),
            (vec![("direction", "UP")], "direction"),
            (vec![("stges", "SQL")], "stges"),
            (vec![("report", "funnel")], "report"),
        ] {
            let err = lead_export(&pairs(&list)).expect_err(name);
            assert_eq!(field(err), name);
        }
        let many = vec!["SQL"; 101].join(",");
        assert_eq!(
            field(lead_export(&pairs(&[("stage", &many)])).unwrap_err()),
            "stage"
        );
    }

    #[test]
    fn kpi_parameters() {
        let spec = kpi_export(&pairs(&[
            ("report", "cost-per-lead"),
            ("from", "2026-03-01"),
            ("to", "2026-04-01"),
        ]))
        .unwrap();
        assert_eq!(spec.report, Report::CostPerLead);
        assert_eq!(spec.group_by, GroupBy::Channel);
        let spec = kpi_export(&pairs(&[
            ("report", "FUNNEL"),
            ("groupBy", "campaign"),
            ("from", "2026-03-01T00:00:00Z"),
            ("to", "2026-04-01T00:00:00Z"),
        ]))
        .unwrap();
        assert_eq!(spec.report, Report::Funnel);
        assert_eq!(spec.group_by, GroupBy::Campaign);
        assert_eq!(
            kpi_export(&pairs(&[("report", "funnel"), ("to", "2026-04-01")]))
                .map_err(field)
                .unwrap_err(),
            "from"
        );
        for (list, name) in [
            (vec![("from", "2026-03-01"), ("to", "2026-04-01")], "report"),
            (
                vec![
                    ("report", "roi"),
                    ("from", "2026-03-01"),
                    ("to", "2026-04-01"),
                ],
                "report",
            ),
            (
                vec![
                    ("report", "funnel"),
                    ("groupBy", "OWNER"),
                    ("from", "2026-03-01"),
                    ("to", "2026-04-01"),
                ],
                "groupBy",
            ),
            (vec![("report", "funnel"), ("stage", "SQL")], "stage"),
        ] {
            assert_eq!(field(kpi_export(&pairs(&list)).unwrap_err()), name);
        }
    }
}
