//! The JSON body of a delivery (docs/webhooks.md#payload).
//!
//! `{id, type, occurredAt, cursor, fromStage, toStage, lead}`: `id` is the
//! delivery's global id (also the `webhook-id` header), `cursor` the
//! event's outbox cursor (the same as `StageChangeEvent.cursor`), `lead` the
//! lead as the webhook's owner may see it when the delivery is created, or
//! `null` when the lead is gone or no longer visible to the owner. Fields a
//! role may not see are left out, not nulled: a SALES owner's payload has
//! no campaign budget at all.

use crate::global_id::{NodeType, encode};
use crate::leads::lifecycle::LeadStage;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{app_user, campaign, lead};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

/// What a delivery's lead is built from.
pub struct LeadView<'a> {
    pub lead: &'a lead::Model,
    pub campaign: Option<&'a campaign::Model>,
    pub owner: Option<&'a app_user::Model>,
    /// The owner's role may see campaign cost (`Capability::ReadCampaignCost`).
    pub shows_cost: bool,
    pub currency: &'a str,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn money(cents: i64, currency: &str) -> Value {
    json!({"amount": Decimal::new(cents, 2).to_string(), "currency": currency})
}

/// The lead object of a payload.
pub fn lead_json(view: &LeadView<'_>) -> Value {
    let l = view.lead;
    let campaign = view.campaign.map(|c| {
        let mut object = json!({
            "id": encode(NodeType::Campaign, c.id),
            "name": c.name,
            "channel": c.channel,
        });
        if view.shows_cost
            && let (Some(map), Some(cents)) = (object.as_object_mut(), c.budget_cents)
        {
            map.insert("budget".into(), money(cents, view.currency));
        }
        object
    });
    let owner = view.owner.map(|o| {
        json!({
            "id": encode(NodeType::User, o.id),
            "subject": o.subject,
            "name": o.name,
            "email": o.email,
        })
    });
    json!({
        "id": encode(NodeType::Lead, l.id),
        "email": l.email,
        "firstName": l.first_name,
        "lastName": l.last_name,
        "company": l.company,
        "jobTitle": l.job_title,
        "industry": l.industry,
        "companySize": l.company_size,
        "country": l.country,
        "phone": l.phone,
        "stage": l.stage,
        "score": l.score,
        "fitScore": l.fit_score,
        "engagementScore": l.engagement_score,
        "icpFit": l.icp_fit,
        "sourceChannel": l.source_channel,
        "sourceCampaign": campaign,
        "owner": owner,
        "qualification": {
            "budget": l.qual_budget,
            "need": l.qual_need,
            "authority": l.qual_authority,
            "timeline": l.qual_timeline,
        },
        "dealAmount": l.deal_amount_cents.map(|c| money(c, view.currency)),
        "disqualificationReason": l.disqualification_reason,
        "createdAt": time(l.created_at),
        "stageChangedAt": time(l.stage_changed_at),
        "version": l.version,
    })
}

/// The stored payload of an event's delivery (without `id`, added when it
/// is sent: [`body`]).
pub fn event_payload(
    kind: &str,
    occurred_at: DateTime<Utc>,
    cursor: &str,
    from: Option<LeadStage>,
    to: LeadStage,
    lead: Option<Value>,
) -> Value {
    json!({
        "type": kind,
        "occurredAt": time(occurred_at),
        "cursor": cursor,
        "fromStage": from.map(LeadStage::code),
        "toStage": to.code(),
        "lead": lead,
    })
}

/// The payload of a `testWebhook` delivery.
pub fn test_payload(at: DateTime<Utc>) -> Value {
    json!({
        "type": "WEBHOOK_TEST",
        "occurredAt": time(at),
        "cursor": null,
        "fromStage": null,
        "toStage": null,
        "lead": null,
    })
}

/// The exact bytes sent: the stored payload with `id` first. The same
/// delivery always gives the same bytes.
pub fn body(msg_id: &str, stored: &str) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("id".into(), Value::String(msg_id.to_owned()));
    if let Ok(Value::Object(rest)) = serde_json::from_str::<Value>(stored) {
        for (k, v) in rest {
            if k != "id" {
                object.insert(k, v);
            }
        }
    }
    serde_json::to_vec(&Value::Object(object)).unwrap_or_else(|_| b"{}".to_vec())
}
