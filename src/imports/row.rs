//! One CSV record into a checked lead: cells decoded, converted and
//! validated exactly as `createLead` validates (pure; the campaigns are
//! read beforehand into a [`Campaigns`] directory).

use super::mapping::{self, Field, Mapping};
use super::model::RowError;
use crate::error::AppError;
use crate::global_id::{self, NodeType};
use crate::leads::model::NewLead;
use crate::leads::service::{CheckedLead, validate_new};
use std::collections::HashMap;

/// The campaigns a row may name, by id and by name.
#[derive(Clone, Debug, Default)]
pub struct Campaigns {
    ids: std::collections::HashSet<i64>,
    by_name: HashMap<String, i64>,
    /// Lower-cased names; `None` where two campaigns differ only by case.
    by_folded: HashMap<String, Option<i64>>,
}

impl Campaigns {
    pub fn new(campaigns: impl IntoIterator<Item = (i64, String)>) -> Self {
        let mut directory = Campaigns::default();
        for (id, name) in campaigns {
            directory.ids.insert(id);
            directory
                .by_folded
                .entry(name.to_lowercase())
                .and_modify(|seen| *seen = None)
                .or_insert(Some(id));
            directory.by_name.insert(name, id);
        }
        directory
    }

    /// The campaign a cell names: its exact name, its name in another
    /// case, its global id or its number.
    pub fn find(&self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        if let Some(id) = self.by_name.get(text) {
            return Ok(*id);
        }
        match self.by_folded.get(&text.to_lowercase()) {
            Some(Some(id)) => return Ok(*id),
            Some(None) => {
                return Err(format!(
                    "{text:?} names several campaigns that differ only in letter case: write the exact name"
                ));
            }
            None => {}
        }
        let id = text.parse::<i64>().ok().or_else(|| {
            global_id::decode_any(text)
                .filter(|(kind, _)| *kind == NodeType::Campaign)
                .map(|(_, id)| id)
        });
        match id {
            Some(id) if self.ids.contains(&id) => Ok(id),
            _ => Err(format!("no campaign is named {text:?} or has this id")),
        }
    }
}

/// A record read into a lead, or why it cannot be: the first fault found.
pub fn read_row(
    record: &csv::ByteRecord,
    line: u64,
    end_line: u64,
    mapping: &Mapping,
    campaigns: &Campaigns,
) -> Result<CheckedLead, RowError> {
    let width = mapping.headers.len();
    let extra_filled = record.iter().skip(width).any(|cell| !cell.is_empty());
    if record.len() < width || extra_filled {
        let span = if end_line > line {
            format!(" (the row runs from line {line} to line {end_line}: an unbalanced quote?)")
        } else if record.iter().any(|cell| cell.contains(&b'\n')) {
            " (a cell runs over a line break: an unbalanced quote?)".to_owned()
        } else {
            String::new()
        };
        return Err(RowError {
            line,
            column: None,
            field: None,
            code: "BAD_USER_INPUT".into(),
            message: format!(
                "the row has {} cells, the header {width}{span}",
                record.len()
            ),
        });
    }
    let fault = |field: Field, message: String| RowError {
        line,
        column: mapping.column_of(field).map(|i| mapping.headers[i].clone()),
        field: Some(field.name().to_owned()),
        code: "BAD_USER_INPUT".into(),
        message,
    };
    let mut cells: HashMap<Field, String> = HashMap::new();
    for (i, target) in mapping.columns.iter().enumerate() {
        let Some(field) = target else { continue };
        let bytes = record.get(i).unwrap_or_default();
        let text = std::str::from_utf8(bytes).map_err(|err| {
            fault(
                *field,
                format!(
                    "{} is not valid UTF-8 (byte {} of the cell); save the file as UTF-8",
                    field.name(),
                    err.valid_up_to() + 1
                ),
            )
        })?;
        if !text.trim().is_empty() {
            cells.insert(*field, text.to_owned());
        }
    }
    let mut take = |field: Field| cells.remove(&field);
    let email =
        take(Field::Email).ok_or_else(|| fault(Field::Email, "email is required".to_owned()))?;
    let company_size = take(Field::CompanySize)
        .map(|text| mapping::parse_size(&text).map_err(|m| fault(Field::CompanySize, m)))
        .transpose()?;
    let source_channel = take(Field::SourceChannel)
        .map(|text| mapping::parse_channel(&text).map_err(|m| fault(Field::SourceChannel, m)))
        .transpose()?;
    let source_campaign_id = take(Field::Campaign)
        .map(|text| campaigns.find(&text).map_err(|m| fault(Field::Campaign, m)))
        .transpose()?;
    let new = NewLead {
        email,
        first_name: take(Field::FirstName),
        last_name: take(Field::LastName),
        company: take(Field::Company),
        job_title: take(Field::JobTitle),
        industry: take(Field::Industry),
        company_size,
        country: take(Field::Country),
        phone: take(Field::Phone),
        source_channel,
        source_campaign_id,
    };
    validate_new(&new, "").map_err(|err| match &err {
        AppError::BadInput { field, message } => match Field::from_alias(field) {
            Some(field) => fault(field, message.clone()),
            None => RowError {
                line,
                column: None,
                field: Some(field.clone()),
                code: err.code().to_owned(),
                message: message.clone(),
            },
        },
        other => RowError {
            line,
            column: None,
            field: None,
            code: other.code().to_owned(),
            message: other.public_message(),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::imports::mapping::map_header;

    fn mapping(headers: &[&str]) -> Mapping {
        let headers: Vec<String> = headers.iter().map(|s| (*s).to_owned()).collect();
        map_header(&headers, &[]).unwrap()
    }

    fn record(cells: &[&[u8]]) -> csv::ByteRecord {
        csv::ByteRecord::from(cells.to_vec())
    }

    fn campaigns() -> Campaigns {
        Campaigns::new([(3, "Spring Webinar".to_owned()), (4, "SEO".to_owned())])
    }

    #[test]
    fn a_row_reads_into_a_checked_lead() {
        let m = mapping(&["Email", "Country", "Employees", "Channel", "Campaign"]);
        let lead = read_row(
            &record(&[
                b" Ada@Example.COM ",
                b"de",
                b"1,200",
                b"paid search",
                b"spring webinar",
            ]),
            2,
            2,
            &m,
            &campaigns(),
        )
        .unwrap();
        assert_eq!(lead.email, "ada@example.com");
        assert_eq!(lead.country.as_deref(), Some("DE"));
        assert_eq!(lead.company_size, Some(1200));
        assert_eq!(
            lead.source_channel,
            Some(crate::leads::channel::Channel::PaidSearch)
        );
        assert_eq!(lead.source_campaign_id, Some(3));
    }

    #[test]
    fn each_fault_names_its_line_column_and_field() {
        let m = mapping(&["E-mail", "Country", "Size", "First name", "Campaign"]);
        let c = campaigns();
        let err = |cells: &[&[u8]]| read_row(&record(cells), 7, 7, &m, &c).unwrap_err();
        let e = err(&[b"not-an-email", b"", b"", b"", b""]);
        assert_eq!(
            (
                e.line,
                e.column.as_deref(),
                e.field.as_deref(),
                e.code.as_str()
            ),
            (7, Some("E-mail"), Some("email"), "BAD_USER_INPUT")
        );
        let e = err(&[b"a@b.co", b"XX", b"", b"", b""]);
        assert_eq!(e.column.as_deref(), Some("Country"));
        let e = err(&[b"a@b.co", b"", b"-3", b"", b""]);
        assert_eq!(e.field.as_deref(), Some("companySize"));
        assert!(e.message.contains("negative"), "{}", e.message);
        let e = err(&[b"a@b.co", b"", b"", b"Ad\0a", b""]);
        assert_eq!(e.field.as_deref(), Some("firstName"));
        let long = "x".repeat(300);
        let e = err(&[b"a@b.co", b"", b"", long.as_bytes(), b""]);
        assert!(e.message.contains("256"), "{}", e.message);
        let e = err(&[b"a@b.co", b"", b"", b"\xff\xfe", b""]);
        assert!(e.message.contains("UTF-8"), "{}", e.message);
        let e = err(&[b"a@b.co", b"", b"", b"", b"Autumn"]);
        assert_eq!(e.field.as_deref(), Some("campaign"));
        let e = err(&[b"", b"", b"", b"", b""]);
        assert!(e.message.contains("required"));
        let e = err(&[b"a@b.co", b"DE"]);
        assert_eq!((e.column, e.field), (None, None));
        assert!(e.message.contains("2 cells"), "{}", e.message);
        // Empty cells beyond the header are harmless; filled ones are not.
        assert!(read_row(&record(&[b"a@b.co", b"", b"", b"", b"", b""]), 2, 2, &m, &c).is_ok());
        assert!(
            read_row(
                &record(&[b"a@b.co", b"", b"", b"", b"", b"x"]),
                2,
                2,
                &m,
                &c
            )
            .is_err()
        );
    }

    #[test]
    fn campaigns_are_found_by_name_case_number_or_global_id() {
        let c = Campaigns::new([
            (3, "Spring".to_owned()),
            (4, "spring".to_owned()),
            (5, "SEO".to_owned()),
        ]);
        assert_eq!(c.find("Spring"), Ok(3));
        assert_eq!(c.find("spring"), Ok(4));
        assert!(c.find("SPRING").is_err(), "ambiguous by case");
        assert_eq!(c.find("seo"), Ok(5));
        assert_eq!(c.find("5"), Ok(5));
        assert_eq!(c.find(&global_id::encode(NodeType::Campaign, 4)), Ok(4));
        assert!(c.find(&global_id::encode(NodeType::Lead, 4)).is_err());
        assert!(c.find("9").is_err());
    }
}
