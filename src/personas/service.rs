//! Personas: validation, access through the policy, and the criteria the
//! scoring reads.

use super::fit::PersonaCriteria;
use crate::auth::Viewer;
use crate::auth::policy::{self, Capability};
use crate::db::Db;
use crate::error::{AppError, AppResult, is_unique_violation};
use crate::scoring::service::{Selection, rescore_selection};
use crate::validate;
use entity::persona;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};
use serde::Deserialize;

/// At most this many entries in each list of a persona.
pub const MAX_LIST: usize = validate::MAX_LIST;

/// A JSON array of strings; anything else reads as empty.
pub fn strings(value: &serde_json::Value) -> Vec<String> {
    Vec::<String>::deserialize(value).unwrap_or_default()
}

/// The criteria of a persona, as the fit engine sees them.
pub fn criteria(m: &persona::Model) -> PersonaCriteria {
    PersonaCriteria {
        id: m.id,
        industries: strings(&m.industries),
        company_size_min: m.company_size_min,
        company_size_max: m.company_size_max,
        countries: strings(&m.countries),
        job_title_keywords: strings(&m.job_title_keywords),
    }
}

/// The criteria of every persona in use, oldest first (ties go to it).
pub async fn criteria_in_use(db: &impl ConnectionTrait) -> AppResult<Vec<PersonaCriteria>> {
    Ok(in_use().all(db).await?.iter().map(criteria).collect())
}

fn in_use() -> sea_orm::Select<persona::Entity> {
    persona::Entity::find()
        .filter(persona::Column::DeletedAt.is_null())
        .order_by_asc(persona::Column::Id)
}

/// `personas`.
pub async fn list(viewer: &Viewer, db: &impl ConnectionTrait) -> AppResult<Vec<persona::Model>> {
    policy::require(viewer, Capability::ReadPersonas)?;
    Ok(in_use().all(db).await?)
}

/// A whole persona as given (`createPersona`, `updatePersona`); the service
/// checks it.
#[derive(Clone, Debug, Default)]
pub struct PersonaSpec {
    pub name: String,
    pub description: Option<String>,
    pub industries: Option<Vec<String>>,
    pub company_size_min: Option<i32>,
    pub company_size_max: Option<i32>,
    pub countries: Option<Vec<String>>,
    pub job_title_keywords: Option<Vec<String>>,
}

/// A checked `PersonaSpec`.
struct Checked {
    name: String,
    description: Option<String>,
    industries: Vec<String>,
    company_size_min: Option<i32>,
    company_size_max: Option<i32>,
    countries: Vec<String>,
    job_title_keywords: Vec<String>,
}

fn text_list(field: &str, values: Option<&[String]>) -> AppResult<Vec<String>> {
    let values = values.unwrap_or_default();
    if values.len() > MAX_LIST {
        return Err(AppError::bad_input(
            field,
            format!("{field} holds at most {MAX_LIST} entries"),
        ));
    }
    values
        .iter()
        .map(|v| {
            validate::text(field, Some(v), validate::MAX_STRING)?.ok_or_else(|| {
                AppError::bad_input(field, format!("{field} must not hold empty entries"))
            })
        })
        .collect()
}

fn check(input: &PersonaSpec) -> AppResult<Checked> {
    let name = validate::text("input.name", Some(&input.name), validate::MAX_STRING)?
        .ok_or_else(|| AppError::bad_input("input.name", "input.name must not be empty"))?;
    let description = validate::text(
        "input.description",
        input.description.as_deref(),
        validate::MAX_STRING,
    )?;
    let industries = text_list("input.industries", input.industries.as_deref())?;
    let job_title_keywords = text_list(
        "input.jobTitleKeywords",
        input.job_title_keywords.as_deref(),
    )?;
    let countries = text_list("input.countries", input.countries.as_deref())?
        .iter()
        .map(|c| {
            validate::country("input.countries", Some(c))?.ok_or_else(|| {
                AppError::bad_input("input.countries", "input.countries holds an empty code")
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let company_size_min = validate::non_negative("input.companySizeMin", input.company_size_min)?;
    let company_size_max = validate::non_negative("input.companySizeMax", input.company_size_max)?;
    if let (Some(min), Some(max)) = (company_size_min, company_size_max)
        && min > max
    {
        return Err(AppError::bad_input(
            "input.companySizeMin",
            "companySizeMin must not exceed companySizeMax",
        ));
    }
    Ok(Checked {
        name,
        description,
        industries,
        company_size_min,
        company_size_max,
        countries,
        job_title_keywords,
    })
}

fn set(am: &mut persona::ActiveModel, c: Checked) {
    am.name = Set(c.name);
    am.description = Set(c.description);
    am.industries = Set(serde_json::json!(c.industries));
    am.company_size_min = Set(c.company_size_min);
    am.company_size_max = Set(c.company_size_max);
    am.countries = Set(serde_json::json!(c.countries));
    am.job_title_keywords = Set(serde_json::json!(c.job_title_keywords));
}

fn name_taken() -> AppError {
    AppError::conflict("a persona with this name already exists")
}

/// `CONFLICT` when another persona in use has this name.
async fn check_name_free(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<i64>,
) -> AppResult<()> {
    let mut query = persona::Entity::find()
        .filter(persona::Column::DeletedAt.is_null())
        .filter(persona::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(persona::Column::Id.ne(id));
    }
    match query.one(db).await? {
        Some(_) => Err(name_taken()),
        None => Ok(()),
    }
}

fn unique_to_conflict(err: DbErr) -> AppError {
    if is_unique_violation(&err) {
        name_taken()
    } else {
        err.into()
    }
}

/// `createPersona`. Leads match it from the next rescoring on.
#[tracing::instrument(skip_all, fields(subject = %viewer.subject))]
pub async fn create(
    viewer: &Viewer,
    db: &DatabaseConnection,
    input: PersonaSpec,
) -> AppResult<persona::Model> {
    policy::require(viewer, Capability::WritePersonas)?;
    let checked = check(&input)?;
    check_name_free(db, &checked.name, None).await?;
    let mut am = persona::ActiveModel {
        created_at: Set(validate::now()),
        deleted_at: Set(None),
        ..Default::default()
    };
    set(&mut am, checked);
    persona::Entity::insert(am)
        .exec_with_returning(db)
        .await
        .map_err(unique_to_conflict)
}

/// `updatePersona`: replace every field. Leads are rematched on the next rescoring.
#[tracing::instrument(skip_all, fields(persona_id = id))]
pub async fn update(
    viewer: &Viewer,
    db: &DatabaseConnection,
    id: i64,
    input: PersonaSpec,
) -> AppResult<persona::Model> {
    policy::require(viewer, Capability::WritePersonas)?;
    let checked = check(&input)?;
    let current = persona::Entity::find_by_id(id)
        .filter(persona::Column::DeletedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("persona"))?;
    check_name_free(db, &checked.name, Some(id)).await?;
    let mut am: persona::ActiveModel = current.into();
    set(&mut am, checked);
    // A deletion racing with this leaves a deleted persona deleted: harmless.
    match persona::Entity::update(am).exec(db).await {
        Ok(model) => Ok(model),
        Err(DbErr::RecordNotUpdated) => Err(AppError::not_found("persona")),
        Err(err) => Err(unique_to_conflict(err)),
    }
}

/// `deletePersona`: the persona stops matching at once, and its leads are
/// rematched (rescored, in batches) before this returns. The row stays as a
/// tombstone, so a lead written by a rescoring that raced with the deletion
/// still names an existing persona until its next rescoring; its name is free.
#[tracing::instrument(skip_all, fields(persona_id = id))]
pub async fn delete(viewer: &Viewer, db: &Db, id: i64) -> AppResult<bool> {
    policy::require(viewer, Capability::WritePersonas)?;
    let now = validate::now();
    let deleted = persona::Entity::update_many()
        .col_expr(persona::Column::DeletedAt, Expr::value(now))
        .filter(persona::Column::Id.eq(id))
        .filter(persona::Column::DeletedAt.is_null())
        .exec(&db.write)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(AppError::not_found("persona"));
    }
    rescore_selection(db, &Selection::Persona(id), now).await?;
    Ok(true)
}
