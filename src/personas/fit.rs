//! ICP fit of docs/personas.md as pure functions: how well a lead matches a
//! persona, and which persona it matches best.

use crate::scoring::engine::{LeadAttributes, contains_ci, eq_ci, present};
use serde::{Deserialize, Serialize};

/// A persona's criteria; empty lists and unset bounds are not criteria.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonaCriteria {
    /// Personas are created in id order, so the lower id wins a tie.
    pub id: i64,
    pub industries: Vec<String>,
    pub company_size_min: Option<i32>,
    pub company_size_max: Option<i32>,
    pub countries: Vec<String>,
    pub job_title_keywords: Vec<String>,
}

/// Satisfied criteria / criteria, in `0..=1`; `None` for a persona without
/// criteria, which matches nobody.
pub fn fit(persona: &PersonaCriteria, lead: &LeadAttributes) -> Option<f64> {
    let (satisfied, criteria) = counts(persona, lead);
    (criteria > 0).then(|| f64::from(satisfied) / f64::from(criteria))
}

/// The persona with the highest fit > 0 and that fit; ties go to the one
/// created first (lowest id). `None` when no persona fits at all.
pub fn best_persona(personas: &[PersonaCriteria], lead: &LeadAttributes) -> Option<(i64, f64)> {
    personas
        .iter()
        .filter_map(|p| fit(p, lead).map(|f| (p.id, f)))
        .filter(|(_, f)| *f > 0.0)
        .fold(None, |best, (id, f)| match best {
            Some((best_id, best_f)) if best_f > f || (best_f == f && best_id < id) => best,
            _ => Some((id, f)),
        })
}

/// (satisfied, criteria)
fn counts(persona: &PersonaCriteria, lead: &LeadAttributes) -> (u32, u32) {
    let industry = present(lead.industry.as_deref());
    let country = present(lead.country.as_deref());
    let job_title = present(lead.job_title.as_deref());
    let mut criteria = Vec::with_capacity(4);
    if !persona.industries.is_empty() {
        criteria.push(industry.is_some_and(|i| persona.industries.iter().any(|x| eq_ci(i, x))));
    }
    if persona.company_size_min.is_some() || persona.company_size_max.is_some() {
        criteria.push(lead.company_size.is_some_and(|size| {
            persona.company_size_min.is_none_or(|min| size >= min)
                && persona.company_size_max.is_none_or(|max| size <= max)
        }));
    }
    if !persona.countries.is_empty() {
        criteria.push(country.is_some_and(|c| persona.countries.iter().any(|x| eq_ci(c, x))));
    }
    if !persona.job_title_keywords.is_empty() {
        criteria.push(
            job_title.is_some_and(|t| persona.job_title_keywords.iter().any(|k| contains_ci(t, k))),
        );
    }
    let satisfied = criteria.iter().filter(|ok| **ok).count();
    // At most four criteria: the casts cannot truncate.
    (satisfied as u32, criteria.len() as u32)
}

#[cfg(test)]
// A failed unwrap in a test is a failed test, which is what we want.
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    /// All four criteria.
    fn cto_persona(id: i64) -> PersonaCriteria {
        PersonaCriteria {
            id,
            industries: strings(&["Software", "SaaS"]),
            company_size_min: Some(50),
            company_size_max: Some(500),
            countries: strings(&["DE", "AT", "CH"]),
            job_title_keywords: strings(&["CTO", "head of"]),
        }
    }

    fn lead() -> LeadAttributes {
        LeadAttributes {
            job_title: Some("Head of Engineering".into()),
            industry: Some("software".into()),
            country: Some("de".into()),
            email: "jane@acme.example".into(),
            company_size: Some(200),
        }
    }

    #[test]
    fn all_criteria_satisfied_is_one() {
        // industry, size, country, job title: 4 / 4
        assert_eq!(fit(&cto_persona(1), &lead()), Some(1.0));
    }

    #[test]
    fn fit_is_the_share_of_satisfied_criteria() {
        let persona = cto_persona(1);
        let no_size = LeadAttributes {
            company_size: None,
            ..lead()
        };
        // 3 / 4: a missing size fails its criterion.
        assert_eq!(fit(&persona, &no_size), Some(0.75));
        let french_sales = LeadAttributes {
            country: Some("FR".into()),
            job_title: Some("Sales Manager".into()),
            ..lead()
        };
        // industry and size: 2 / 4
        assert_eq!(fit(&persona, &french_sales), Some(0.5));
        let nothing = LeadAttributes {
            email: "x@y.example".into(),
            ..LeadAttributes::default()
        };
        // 0 / 4
        assert_eq!(fit(&persona, &nothing), Some(0.0));
    }

    #[test]
    fn empty_lists_and_unset_bounds_are_not_criteria() {
        let industry_only = PersonaCriteria {
            id: 1,
            industries: strings(&["Retail", "SOFTWARE"]),
            ..PersonaCriteria::default()
        };
        // 1 / 1, whatever the lead's country or size.
        assert_eq!(fit(&industry_only, &lead()), Some(1.0));
        let industry_and_country = PersonaCriteria {
            countries: strings(&["FR"]),
            ..industry_only
        };
        // 1 / 2
        assert_eq!(fit(&industry_and_country, &lead()), Some(0.5));
    }

    #[test]
    fn a_persona_without_criteria_matches_nobody() {
        let empty = PersonaCriteria {
            id: 1,
            ..PersonaCriteria::default()
        };
        assert_eq!(fit(&empty, &lead()), None);
        assert_eq!(best_persona(&[empty], &lead()), None);
    }

    #[test]
    fn size_is_one_criterion_with_inclusive_bounds() {
        let sized = |min, max| PersonaCriteria {
            id: 1,
            company_size_min: min,
            company_size_max: max,
            ..PersonaCriteria::default()
        };
        let size = |n| LeadAttributes {
            company_size: Some(n),
            ..lead()
        };
        assert_eq!(fit(&sized(Some(50), Some(500)), &size(50)), Some(1.0));
        assert_eq!(fit(&sized(Some(50), Some(500)), &size(500)), Some(1.0));
        assert_eq!(fit(&sized(Some(50), Some(500)), &size(49)), Some(0.0));
        assert_eq!(fit(&sized(Some(50), Some(500)), &size(501)), Some(0.0));
        assert_eq!(fit(&sized(Some(50), None), &size(1_000_000)), Some(1.0));
        assert_eq!(fit(&sized(None, Some(10)), &size(0)), Some(1.0));
        assert_eq!(fit(&sized(None, Some(10)), &size(11)), Some(0.0));
        // Bounds the wrong way round hold for no size.
        assert_eq!(fit(&sized(Some(10), Some(5)), &size(7)), Some(0.0));
        let unknown = LeadAttributes {
            company_size: None,
            ..lead()
        };
        assert_eq!(fit(&sized(None, Some(10)), &unknown), Some(0.0));
    }

    #[test]
    fn text_criteria_are_case_insensitive() {
        let persona = PersonaCriteria {
            id: 1,
            industries: strings(&["SOFTWARE"]),
            countries: strings(&["De"]),
            job_title_keywords: strings(&["ENGINEERING"]),
            ..PersonaCriteria::default()
        };
        assert_eq!(fit(&persona, &lead()), Some(1.0));
    }

    #[test]
    fn industries_and_countries_need_equality_keywords_a_substring() {
        let persona = PersonaCriteria {
            id: 1,
            industries: strings(&["Soft"]),
            countries: strings(&["D"]),
            job_title_keywords: strings(&["eng"]),
            ..PersonaCriteria::default()
        };
        // Only the keyword matches: 1 / 3.
        assert_eq!(fit(&persona, &lead()), Some(1.0 / 3.0));
    }

    #[test]
    fn blank_attributes_count_as_missing() {
        let persona = PersonaCriteria {
            id: 1,
            industries: strings(&[""]),
            job_title_keywords: strings(&[""]),
            ..PersonaCriteria::default()
        };
        let blank = LeadAttributes {
            industry: Some(String::new()),
            job_title: Some(String::new()),
            ..lead()
        };
        assert_eq!(fit(&persona, &blank), Some(0.0));
    }

    #[test]
    fn best_persona_takes_the_highest_fit() {
        let half = PersonaCriteria {
            id: 1,
            industries: strings(&["Software"]),
            countries: strings(&["FR"]),
            ..PersonaCriteria::default()
        };
        let full = cto_persona(2);
        let zero = PersonaCriteria {
            id: 3,
            countries: strings(&["US"]),
            ..PersonaCriteria::default()
        };
        // Fits: 1 → 0.5, 2 → 1.0, 3 → 0.0
        let personas = [half.clone(), full, zero.clone()];
        assert_eq!(best_persona(&personas, &lead()), Some((2, 1.0)));
        assert_eq!(best_persona(&[zero.clone(), half], &lead()), Some((1, 0.5)));
        assert_eq!(best_persona(&[zero], &lead()), None);
        assert_eq!(best_persona(&[], &lead()), None);
    }

    #[test]
    fn ties_go_to_the_persona_created_first() {
        let a = PersonaCriteria {
            id: 5,
            industries: strings(&["Software"]),
            ..PersonaCriteria::default()
        };
        let b = PersonaCriteria { id: 9, ..a.clone() };
        let c = PersonaCriteria { id: 7, ..a.clone() };
        assert_eq!(
            best_persona(&[a.clone(), b.clone(), c.clone()], &lead()),
            Some((5, 1.0))
        );
        assert_eq!(
            best_persona(&[b.clone(), c.clone(), a.clone()], &lead()),
            Some((5, 1.0))
        );
        assert_eq!(best_persona(&[b, c], &lead()), Some((7, 1.0)));
        // Equal ratios from different counts are a tie too: 1/2 and 2/4.
        let two_of_four = PersonaCriteria {
            id: 2,
            countries: strings(&["FR"]),
            job_title_keywords: strings(&["CFO"]),
            ..cto_persona(2)
        };
        let one_of_two = PersonaCriteria {
            id: 8,
            industries: strings(&["Software"]),
            countries: strings(&["FR"]),
            ..PersonaCriteria::default()
        };
        assert_eq!(fit(&two_of_four, &lead()), Some(0.5));
        assert_eq!(
            best_persona(&[one_of_two, two_of_four], &lead()),
            Some((2, 0.5))
        );
    }

    #[test]
    fn criteria_serialize_in_camel_case() {
        let value = serde_json::to_value(cto_persona(3)).unwrap();
        assert_eq!(value["companySizeMin"], 50);
        assert_eq!(value["jobTitleKeywords"][0], "CTO");
    }

    // ---- properties ----

    fn arb_list() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop::sample::select(vec!["software", "DE", "cto", "Head", "", "x"]),
            0..3,
        )
        .prop_map(|v| v.into_iter().map(String::from).collect())
    }

    fn arb_persona() -> impl Strategy<Value = PersonaCriteria> {
        (
            0..20i64,
            arb_list(),
            prop::option::of(0..600i32),
            prop::option::of(0..600i32),
            arb_list(),
            arb_list(),
        )
            .prop_map(
                |(id, industries, min, max, countries, keywords)| PersonaCriteria {
                    id,
                    industries,
                    company_size_min: min,
                    company_size_max: max,
                    countries,
                    job_title_keywords: keywords,
                },
            )
    }

    fn arb_lead() -> impl Strategy<Value = LeadAttributes> {
        let text = || {
            prop::option::of(prop::sample::select(vec![
                "Software",
                "de",
                "CTO",
                "Head of Sales",
                "",
                "y",
            ]))
            .prop_map(|v| v.map(String::from))
        };
        (text(), text(), text(), prop::option::of(0..600i32)).prop_map(
            |(job_title, industry, country, company_size)| LeadAttributes {
                job_title,
                industry,
                country,
                email: "a@b.example".into(),
                company_size,
            },
        )
    }

    fn has_criteria(p: &PersonaCriteria) -> bool {
        !p.industries.is_empty()
            || !p.countries.is_empty()
            || !p.job_title_keywords.is_empty()
            || p.company_size_min.is_some()
            || p.company_size_max.is_some()
    }

    proptest! {
        #[test]
        fn fit_is_within_zero_and_one(persona in arb_persona(), lead in arb_lead()) {
            match fit(&persona, &lead) {
                Some(f) => {
                    prop_assert!(has_criteria(&persona));
                    prop_assert!((0.0..=1.0).contains(&f));
                }
                None => prop_assert!(!has_criteria(&persona)),
            }
        }

        #[test]
        fn best_persona_fits_best_and_first(
            personas in prop::collection::vec(arb_persona(), 0..6),
            lead in arb_lead(),
        ) {
            let fits: Vec<(i64, f64)> = personas
                .iter()
                .filter_map(|p| fit(p, &lead).map(|f| (p.id, f)))
                .collect();
            match best_persona(&personas, &lead) {
                Some((id, f)) => {
                    prop_assert!(f > 0.0);
                    prop_assert!(fits.contains(&(id, f)));
                    for (other_id, other) in &fits {
                        prop_assert!(*other < f || (*other == f && *other_id >= id));
                    }
                }
                None => prop_assert!(fits.iter().all(|(_, f)| *f == 0.0)),
            }
        }
    }
}
