//! Reading a CSV header into lead fields, and the cells into a `NewLead`:
//! pure functions (docs/import-export.md has the table of aliases).

use crate::leads::channel::Channel;

/// A lead field a column can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Email,
    FirstName,
    LastName,
    Company,
    JobTitle,
    Country,
    CompanySize,
    Industry,
    Phone,
    SourceChannel,
    /// The source campaign, by name or id.
    Campaign,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::Company,
        Field::JobTitle,
        Field::Country,
        Field::CompanySize,
        Field::Industry,
        Field::Phone,
        Field::SourceChannel,
        Field::Campaign,
    ];

    /// The field's name as the API spells it (`createLead`'s input), which
    /// is also what row errors name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Company => "company",
            Field::JobTitle => "jobTitle",
            Field::Country => "country",
            Field::CompanySize => "companySize",
            Field::Industry => "industry",
            Field::Phone => "phone",
            Field::SourceChannel => "sourceChannel",
            Field::Campaign => "campaign",
        }
    }

    /// Header spellings read as this field, [`normalize`]d: the field's
    /// own name first.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Email => &[
                "email",
                "emailaddress",
                "mail",
                "workemail",
                "businessemail",
            ],
            Field::FirstName => &["firstname", "givenname", "forename"],
            Field::LastName => &["lastname", "surname", "familyname"],
            Field::Company => &[
                "company",
                "companyname",
                "organization",
                "organisation",
                "account",
                "accountname",
            ],
            Field::JobTitle => &["jobtitle", "title", "position"],
            Field::Country => &["country", "countrycode"],
            Field::CompanySize => &[
                "companysize",
                "employees",
                "numberofemployees",
                "employeecount",
                "headcount",
                "size",
            ],
            Field::Industry => &["industry", "sector"],
            Field::Phone => &["phone", "phonenumber", "telephone", "tel", "mobile"],
            Field::SourceChannel => &["sourcechannel", "channel", "source", "leadsource"],
            Field::Campaign => &[
                "campaign",
                "campaignname",
                "campaignid",
                "sourcecampaign",
                "sourcecampaignid",
            ],
        }
    }

    /// The field a header (or a `--map` target) names, if any.
    pub fn from_alias(text: &str) -> Option<Field> {
        let key = normalize(text);
        Field::ALL
            .into_iter()
            .find(|f| f.aliases().contains(&key.as_str()))
    }
}

/// A header or field name as compared: lower case, letters and digits only
/// (`E-Mail` → `email`, `first_name` → `firstname`, `Job Title` → `jobtitle`).
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A `--map` target: a field name or alias, or `ignore` / `-` / empty to
/// leave the column out. `Err` names the accepted fields.
pub fn parse_target(text: &str) -> Result<Option<Field>, String> {
    let key = normalize(text);
    if key.is_empty() || key == "ignore" || key == "skip" {
        return Ok(None);
    }
    Field::from_alias(text).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown field {text:?}: use one of {}, or ignore",
            names.join(", ")
        )
    })
}

/// A `column=field` option (the last `=` separates them, so a column
/// name may hold one).
pub fn parse_override(text: &str) -> Result<(String, Option<Field>), String> {
    let (column, field) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("{text:?} is not column=field"))?;
    let column = column.trim();
    if column.is_empty() {
        return Err(format!("{text:?} names no column"));
    }
    Ok((column.to_owned(), parse_target(field)?))
}

/// How the columns of a header are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Per column of the header, the field it fills.
    pub columns: Vec<Option<Field>>,
    /// The header cells as in the file (trimmed).
    pub headers: Vec<String>,
    /// Columns no field claims, by their header.
    pub unknown: Vec<String>,
}

impl Mapping {
    /// The index of the column that fills `field`.
    pub fn column_of(&self, field: Field) -> Option<usize> {
        self.columns.iter().position(|c| *c == Some(field))
    }
}

/// Why a header cannot be imported at all (nothing is written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    NoEmail,
    /// Two columns fill one field.
    Twice {
        field: Field,
        first: String,
        second: String,
    },
    /// An override names a column the header does not have.
    NoSuchColumn(String),
    /// The same column is overridden twice.
    OverriddenTwice(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::NoEmail => f.write_str(
                "the header has no email column (name one email, e-mail or email address, or map one with column=email)",
            ),
            HeaderError::Twice {
                field,
                first,
                second,
            } => write!(
                f,
                "the columns {first:?} and {second:?} both map to {}; map one of them to another field or ignore it",
                field.name()
            ),
            HeaderError::NoSuchColumn(column) => {
                write!(f, "the mapping names the column {column:?}, which the header does not have")
            }
            HeaderError::OverriddenTwice(column) => {
                write!(f, "the mapping names the column {column:?} twice")
            }
        }
    }
}

/// Map a header: each override applies to the column whose header equals
/// its column (exactly after trimming, else by [`normalize`]d form); every
/// other column by its aliases. A column no field claims is reported in
/// `unknown`; an email column is required and a field may be filled by one
/// column only.
pub fn map_header(
    headers: &[String],
    overrides: &[(String, Option<Field>)],
) -> Result<Mapping, HeaderError> {
    let headers: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
    let mut columns: Vec<Option<Field>> = headers.iter().map(|h| Field::from_alias(h)).collect();
    let mut overridden = vec![false; headers.len()];
    for (column, field) in overrides {
        let wanted = column.trim();
        let index = headers
            .iter()
            .position(|h| h == wanted)
            .or_else(|| {
                let key = normalize(wanted);
                let mut matches = headers
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| !key.is_empty() && normalize(h) == key);
                match (matches.next(), matches.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            })
            .ok_or_else(|| HeaderError::NoSuchColumn(column.clone()))?;
        if overridden[index] {
            return Err(HeaderError::OverriddenTwice(column.clone()));
        }
        overridden[index] = true;
        columns[index] = *field;
    }
    // An override wins over a column that claims the same field by alias.
    for i in 0..columns.len() {
        let Some(field) = columns[i] else { continue };
        if overridden[i] {
            continue;
        }
        let taken = columns
            .iter()
            .zip(&overridden)
            .any(|(c, o)| *o && *c == Some(field));
        if taken {
            columns[i] = None;
        }
    }
    for field in Field::ALL {
        let mut holders = columns
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == Some(field));
        if let (Some((a, _)), Some((b, _))) = (holders.next(), holders.next()) {
            return Err(HeaderError::Twice {
                field,
                first: headers[a].clone(),
                second: headers[b].clone(),
            });
        }
    }
    if !columns.contains(&Some(Field::Email)) {
        return Err(HeaderError::NoEmail);
    }
    let unknown = headers
        .iter()
        .zip(&columns)
        .zip(&overridden)
        .filter(|((_, c), o)| c.is_none() && !**o)
        .map(|((h, _), _)| h.clone())
        .collect();
    Ok(Mapping {
        columns,
        headers,
        unknown,
    })
}

/// The delimiter of a file from its first line: whichever of `,`, `;` and
/// tab occurs most often outside quotes (`,` on a tie or when none does).
pub fn detect_delimiter(first_line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in first_line {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

/// A delimiter option: `,`, `;`, `tab` (or a tab), `|`.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "tab" | "\\t" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        other => Err(format!("unknown delimiter {other:?}: use , ; tab or |")),
    }
}

/// The delimiter as the report shows it.
pub fn delimiter_text(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "\\t".to_owned(),
        other => char::from(other).to_string(),
    }
}

/// A company size cell: a whole number, thousands separators (`,` `.` `'`
/// `_` or spaces between digit groups) allowed; negative numbers pass, for
/// the lead's validation to refuse them with its own message.
pub fn parse_size(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let bad = || format!("{trimmed:?} is not a whole number of employees");
    let grouped = digits.contains([',', '.', '\'', '_', ' ']);
    let plain: String = if grouped {
        let groups: Vec<&str> = digits.split([',', '.', '\'', '_', ' ']).collect();
        let well_formed = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups[1..].iter().all(|g| g.len() == 3);
        if !well_formed {
            return Err(bad());
        }
        groups.concat()
    } else {
        digits.to_owned()
    };
    if plain.is_empty() || !plain.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: i64 = plain
        .parse()
        .map_err(|_| format!("{trimmed:?} is too large a number of employees"))?;
    let value = if negative { -value } else { value };
    i32::try_from(value).map_err(|_| format!("{trimmed:?} is too large a number of employees"))
}

/// A channel cell: its API name in any case, spaces and hyphens for
/// underscores (`Paid search`, `paid-search`, `PAID_SEARCH`).
pub fn parse_channel(text: &str) -> Result<Channel, String> {
    let code: String = text
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            other => other.to_ascii_uppercase(),
        })
        .collect();
    Channel::parse(&code).ok_or_else(|| {
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.code()).collect();
        format!(
            "{:?} is not a channel: use one of {}",
            text.trim(),
            names.join(", ")
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn common_headers_map_by_their_aliases() {
        let m = map_header(
            &headers(&[
                "E-Mail",
                "First Name",
                "last_name",
                "Company",
                "Title",
                "Country",
                "Employees",
                "Industry",
                "Phone number",
                "Channel",
                "Campaign",
                "Favourite colour",
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            m.columns,
            vec![
                Some(Field::Email),
                Some(Field::FirstName),
                Some(Field::LastName),
                Some(Field::Company),
                Some(Field::JobTitle),
                Some(Field::Country),
                Some(Field::CompanySize),
                Some(Field::Industry),
                Some(Field::Phone),
                Some(Field::SourceChannel),
                Some(Field::Campaign),
                None,
            ]
        );
        assert_eq!(m.unknown, vec!["Favourite colour".to_owned()]);
    }

    #[test]
    fn every_field_is_found_by_its_own_name_and_aliases() {
        for field in Field::ALL {
            assert_eq!(Field::from_alias(field.name()), Some(field));
            for alias in field.aliases() {
                assert_eq!(Field::from_alias(alias), Some(field), "{alias}");
            }
        }
    }

    #[test]
    fn no_alias_names_two_fields() {
        let mut seen = std::collections::HashSet::new();
        for field in Field::ALL {
            for alias in field.aliases() {
                assert!(seen.insert(*alias), "{alias} is an alias twice");
                assert_eq!(normalize(alias), *alias, "aliases are normalized");
            }
        }
    }

    #[test]
    fn a_header_without_email_is_refused() {
        assert_eq!(
            map_header(&headers(&["name", "company"]), &[]),
            Err(HeaderError::NoEmail)
        );
    }

    #[test]
    fn overrides_map_ignore_and_win_over_aliases() {
        let h = headers(&["Mail address", "email", "Firma", "Title"]);
        let m = map_header(
            &h,
            &[
                ("Mail address".into(), Some(Field::Email)),
                ("firma".into(), Some(Field::Company)),
                ("Title".into(), None),
            ],
        )
        .unwrap();
        // `email` lost to the override of `Mail address`, and is unknown now.
        assert_eq!(
            m.columns,
            vec![Some(Field::Email), None, Some(Field::Company), None]
        );
        assert_eq!(m.unknown, vec!["email".to_owned()]);
        assert_eq!(
            map_header(&h, &[("Nope".into(), Some(Field::Email))]),
            Err(HeaderError::NoSuchColumn("Nope".into()))
        );
        assert!(matches!(
            map_header(&headers(&["email", "e-mail"]), &[]),
            Err(HeaderError::Twice {
                field: Field::Email,
                ..
            })
        ));
    }

    #[test]
    fn overrides_parse() {
        assert_eq!(
            parse_override("Firma=company"),
            Ok(("Firma".into(), Some(Field::Company)))
        );
        assert_eq!(
            parse_override("a=b=first_name"),
            Ok(("a=b".into(), Some(Field::FirstName)))
        );
        assert_eq!(parse_override("Notes=ignore"), Ok(("Notes".into(), None)));
        assert!(parse_override("Notes").is_err());
        assert!(parse_override("=email").is_err());
        assert!(parse_override("x=favourite colour").is_err());
    }

    #[test]
    fn delimiters_are_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"email,name\n"), b',');
        assert_eq!(detect_delimiter(b"email;name;company\r\n"), b';');
        assert_eq!(detect_delimiter(b"\"a;b;c\",d\n"), b',');
        assert_eq!(detect_delimiter(b"email\tname\n"), b'\t');
        assert_eq!(detect_delimiter(b"email\n"), b',');
        assert_eq!(detect_delimiter(b"a;b\nc,d,e,f"), b';');
    }

    #[test]
    fn sizes_parse_with_group_separators() {
        assert_eq!(parse_size("250"), Ok(250));
        assert_eq!(parse_size(" 1,200 "), Ok(1200));
        assert_eq!(parse_size("1.200.000"), Ok(1_200_000));
        assert_eq!(parse_size("-5"), Ok(-5));
        for bad in ["", "abc", "12,00", "1,2345", "50-200", "3.5", "99999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn channels_parse_loosely() {
        assert_eq!(parse_channel("Paid search"), Ok(Channel::PaidSearch));
        assert_eq!(parse_channel("organic-search"), Ok(Channel::OrganicSearch));
        assert_eq!(parse_channel("WEBINAR"), Ok(Channel::Webinar));
        assert!(parse_channel("fax").is_err());
    }

    proptest! {
        /// Case, spaces, hyphens and underscores never change what a
        /// header maps to.
        #[test]
        fn decoration_never_changes_the_mapping(
            field in prop::sample::select(Field::ALL.to_vec()),
            upper in any::<bool>(),
            sep in prop::sample::select(vec!["", " ", "_", "-", "."]),
        ) {
            let alias = field.aliases()[0];
            let mut text = String::new();
            for (i, c) in alias.chars().enumerate() {
                if i > 0 && i % 3 == 0 { text.push_str(sep); }
                text.push(if upper { c.to_ascii_uppercase() } else { c });
            }
            prop_assert_eq!(Field::from_alias(&format!("  {text} ")), Some(field));
        }

        /// Any header with one email column maps, and every column is
        /// either mapped or reported as unknown.
        #[test]
        fn every_column_is_mapped_or_reported(extra in prop::collection::vec("[a-z ]{1,12}", 0..8)) {
            let mut h = vec!["email".to_owned()];
            h.extend(extra.into_iter().filter(|e| Field::from_alias(e).is_none()));
            let m = map_header(&h, &[]).unwrap();
            prop_assert_eq!(m.columns.iter().filter(|c| c.is_some()).count() + m.unknown.len(), h.len());
        }

        /// A detected delimiter is always one of the three, and the one
        /// that separates a header written with it.
        #[test]
        fn a_header_written_with_a_delimiter_is_read_with_it(
            cells in prop::collection::vec("[a-z]{1,8}", 2..8),
            delimiter in prop::sample::select(vec![b',', b';', b'\t']),
        ) {
            let line = cells.join(&char::from(delimiter).to_string());
            prop_assert_eq!(detect_delimiter(line.as_bytes()), delimiter);
        }

        /// Sizes written with or without group separators read back.
        #[test]
        fn sizes_round_trip(n in 0i32..i32::MAX, sep in prop::sample::select(vec!["", ",", ".", " "])) {
            let digits = n.to_string();
            let mut text = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 { text.push_str(sep); }
                text.push(c);
            }
            prop_assert_eq!(parse_size(&text), Ok(n));
        }
    }
}
