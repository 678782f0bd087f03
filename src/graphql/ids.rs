//! Opaque global ids (`base64url("Lead:42")`) and the `node` query.

use crate::error::{ApiResult, AppError, AppResult};
use async_graphql::{Context, ID, Interface, Object};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// The kinds of node an id can name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeType {
    Lead,
    User,
    Interaction,
    ScoringRule,
    Persona,
    Campaign,
}

impl NodeType {
    fn name(self) -> &'static str {
        match self {
            NodeType::Lead => "Lead",
            NodeType::User => "User",
            NodeType::Interaction => "Interaction",
            NodeType::ScoringRule => "ScoringRule",
            NodeType::Persona => "Persona",
            NodeType::Campaign => "Campaign",
        }
    }

    const ALL: [NodeType; 6] = [
        NodeType::Lead,
        NodeType::User,
        NodeType::Interaction,
        NodeType::ScoringRule,
        NodeType::Persona,
        NodeType::Campaign,
    ];
}

pub fn encode(kind: NodeType, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Decode any global id into its type and database id. Only the canonical
/// form [`encode`] makes decodes: `Lead:+3`, `Lead:03`, padding, spaces or
/// other base64 spellings of the same id name nothing, so one node has
/// exactly one id (caches and clients may compare ids as strings).
pub fn decode_any(id: &str) -> Option<(NodeType, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.as_bytes()).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (name, number) = text.split_once(':')?;
    let kind = NodeType::ALL.into_iter().find(|k| k.name() == name)?;
    let number: i64 = number.parse().ok()?;
    (number > 0 && encode(kind, number).0 == id).then_some((kind, number))
}

/// Decode an id that must name a `kind`; anything else is `BAD_USER_INPUT` on `field`.
pub fn decode(kind: NodeType, id: &str, field: &str) -> AppResult<i64> {
    match decode_any(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(AppError::bad_input(
            field,
            format!("{field} is not a valid {} id", kind.name()),
        )),
    }
}

/// An object with a global id.
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived, one per node() call"
)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Lead(crate::leads::types::Lead),
    User(crate::users::types::User),
    Interaction(crate::interactions::types::Interaction),
    ScoringRule(crate::scoring::types::ScoringRule),
    Persona(crate::personas::types::Persona),
    Campaign(crate::campaigns::types::Campaign),
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or the
    /// viewer may not see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let viewer = super::viewer(ctx)?;
        let Some((kind, number)) = decode_any(&id) else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<crate::app::Loaders>();
        Ok(match kind {
            NodeType::Lead => loaders.lead(number).await?.map(Node::Lead),
            NodeType::User => crate::users::types::User::visible(viewer, loaders, number)
                .await?
                .map(Node::User),
            NodeType::Interaction => crate::interactions::service::visible_interaction(
                viewer,
                &super::state(ctx).db,
                loaders,
                number,
            )
            .await?
            .map(Node::Interaction),
            // Roles that may not read campaigns get `null`, as for any node they cannot see.
            NodeType::Campaign => {
                match crate::campaigns::types::Campaign::visible(viewer, loaders, number).await {
                    Ok(campaign) => campaign.map(Node::Campaign),
                    Err(crate::error::AppError::Forbidden(_)) => None,
                    Err(err) => return Err(err.into()),
                }
            }
            NodeType::ScoringRule => {
                crate::scoring::types::ScoringRule::visible(viewer, loaders, number)
                    .await?
                    .map(Node::ScoringRule)
            }
            NodeType::Persona => crate::personas::types::Persona::visible(viewer, loaders, number)
                .await?
                .map(Node::Persona),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ids_round_trip(n in 1i64..i64::MAX) {
            for kind in NodeType::ALL {
                prop_assert_eq!(decode_any(&encode(kind, n)), Some((kind, n)));
            }
        }

        #[test]
        fn only_the_canonical_form_decodes(n in 1i64..1_000_000, prefix in "[ +0]{1,3}", pad in "[ =]{1,2}") {
            let kind = NodeType::Lead;
            let raw = |text: String| URL_SAFE_NO_PAD.encode(text);
            prop_assert_eq!(decode_any(&raw(format!("Lead:{prefix}{n}"))), None);
            prop_assert_eq!(decode_any(&raw(format!("Lead:{n} "))), None);
            prop_assert_eq!(decode_any(&format!("{}{pad}", encode(kind, n).0)), None);
            prop_assert_eq!(decode_any(&format!(" {}", encode(kind, n).0)), None);
            let standard = base64::engine::general_purpose::STANDARD.encode(format!("Lead:{n}"));
            if standard != encode(kind, n).0 {
                prop_assert_eq!(decode_any(&standard), None);
            }
        }

        #[test]
        fn garbage_never_decodes_to_a_wrong_kind(s in ".{0,40}") {
            if let Some((kind, n)) = decode_any(&s) {
                prop_assert_eq!(encode(kind, n).0, s);
            }
        }
    }
}
