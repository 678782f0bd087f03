//! GraphQL types of personas.

use crate::app::Loaders;
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::error::AppResult;
use crate::graphql::ids::{NodeType, encode};
use async_graphql::{ID, InputObject, Object};
use entity::persona;

/// An ideal customer profile. Its criteria are the non-empty lists and the
/// size bounds; a lead's fit is the share of criteria it satisfies.
pub struct Persona(pub persona::Model);

impl Persona {
    /// A persona by id for `node(id)`: `None` when deleted or not readable.
    pub async fn visible(viewer: &Viewer, loaders: &Loaders, id: i64) -> AppResult<Option<Self>> {
        if !policy::allows(viewer.role, Capability::ReadPersonas) {
            return Ok(None);
        }
        Ok(loaders
            .personas
            .load_one(id)
            .await?
            .filter(|p| p.deleted_at.is_none())
            .map(Persona))
    }
}

#[Object]
impl Persona {
    /// Global id.
    pub async fn id(&self) -> ID {
        encode(NodeType::Persona, self.0.id)
    }
    /// Unique.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Free text for the people who use the persona.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The lead's industry is one of these (case-insensitive).
    async fn industries(&self) -> Vec<String> {
        super::service::strings(&self.0.industries)
    }
    /// With `companySizeMax`, one criterion: the company size is within the bounds.
    async fn company_size_min(&self) -> Option<i32> {
        self.0.company_size_min
    }
    /// With `companySizeMin`, one criterion (inclusive bounds).
    async fn company_size_max(&self) -> Option<i32> {
        self.0.company_size_max
    }
    /// ISO 3166-1 alpha-2 codes; the lead's country is one of them.
    async fn countries(&self) -> Vec<String> {
        super::service::strings(&self.0.countries)
    }
    /// The lead's job title contains one of these (case-insensitive).
    async fn job_title_keywords(&self) -> Vec<String> {
        super::service::strings(&self.0.job_title_keywords)
    }
}

/// A whole persona; `updatePersona` replaces every field. Lists hold at most
/// 100 entries of at most 256 characters.
#[derive(InputObject, Clone, Debug)]
pub struct PersonaInput {
    /// Unique among the personas; at most 256 characters.
    pub name: String,
    /// At most 256 characters.
    pub description: Option<String>,
    /// Matched case-insensitively; empty or omitted: not a criterion.
    pub industries: Option<Vec<String>>,
    /// At least 0, at most `companySizeMax`.
    pub company_size_min: Option<i32>,
    /// At least 0.
    pub company_size_max: Option<i32>,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Option<Vec<String>>,
    /// Substrings of the job title, case-insensitive.
    pub job_title_keywords: Option<Vec<String>>,
}

impl From<PersonaInput> for super::service::PersonaSpec {
    fn from(input: PersonaInput) -> Self {
        super::service::PersonaSpec {
            name: input.name,
            description: input.description,
            industries: input.industries,
            company_size_min: input.company_size_min,
            company_size_max: input.company_size_max,
            countries: input.countries,
            job_title_keywords: input.job_title_keywords,
        }
    }
}
