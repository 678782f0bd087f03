//! Global ids: `base64url("Lead:42")`, the public name of every node.
//!
//! Part of the public contract (clients store them) and of stored data (a
//! merge's history reason names the merged lead by it), so the format lives
//! here, beside the domain, and the GraphQL layer only wraps it in `ID`.

use crate::error::{AppError, AppResult};
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
    Webhook,
    WebhookDelivery,
}

impl NodeType {
    pub fn name(self) -> &'static str {
        match self {
            NodeType::Lead => "Lead",
            NodeType::User => "User",
            NodeType::Interaction => "Interaction",
            NodeType::ScoringRule => "ScoringRule",
            NodeType::Persona => "Persona",
            NodeType::Campaign => "Campaign",
            NodeType::Webhook => "Webhook",
            NodeType::WebhookDelivery => "WebhookDelivery",
        }
    }

    pub const ALL: [NodeType; 8] = [
        NodeType::Lead,
        NodeType::User,
        NodeType::Interaction,
        NodeType::ScoringRule,
        NodeType::Persona,
        NodeType::Campaign,
        NodeType::Webhook,
        NodeType::WebhookDelivery,
    ];
}

pub fn encode(kind: NodeType, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name()))
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
    (number > 0 && encode(kind, number) == id).then_some((kind, number))
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
            prop_assert_eq!(decode_any(&format!("{}{pad}", encode(kind, n))), None);
            prop_assert_eq!(decode_any(&format!(" {}", encode(kind, n))), None);
            let standard = base64::engine::general_purpose::STANDARD.encode(format!("Lead:{n}"));
            if standard != encode(kind, n) {
                prop_assert_eq!(decode_any(&standard), None);
            }
        }

        #[test]
        fn garbage_never_decodes_to_a_wrong_kind(s in ".{0,40}") {
            if let Some((kind, n)) = decode_any(&s) {
                prop_assert_eq!(encode(kind, n), s);
            }
        }
    }
}
