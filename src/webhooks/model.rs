//! What the webhook services take and give: event kinds, statuses, inputs.

use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::LeadStage;
use crate::patch::Patch;

/// The kind of a webhook event. Every stage change is a `StageChanged`;
/// some are also more specific (`LeadCreated`, `LeadQualified`), and a
/// delivery's type is the most specific kind of its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Any stage change, creation included.
    StageChanged,
    /// A new lead (its first stage).
    LeadCreated,
    /// A lead moved to SQL.
    LeadQualified,
    /// Sent by `testWebhook` only; no lead.
    WebhookTest,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::StageChanged,
        EventKind::LeadCreated,
        EventKind::LeadQualified,
        EventKind::WebhookTest,
    ];

    /// The stored code and the payload's `type`.
    pub fn code(self) -> &'static str {
        match self {
            EventKind::StageChanged => "STAGE_CHANGED",
            EventKind::LeadCreated => "LEAD_CREATED",
            EventKind::LeadQualified => "LEAD_QUALIFIED",
            EventKind::WebhookTest => "WEBHOOK_TEST",
        }
    }

    pub fn from_code(code: &str) -> AppResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or_else(|| AppError::internal(format!("unknown stored webhook event {code:?}")))
    }

    /// The most specific kind of a stage change.
    pub fn of_change(from: Option<LeadStage>, to: LeadStage) -> EventKind {
        match (from, to) {
            (None, _) => EventKind::LeadCreated,
            (Some(_), LeadStage::Sql) => EventKind::LeadQualified,
            _ => EventKind::StageChanged,
        }
    }

    /// Whether a webhook subscribed to `self` receives an event of `kind`:
    /// `StageChanged` covers every stage change.
    pub fn covers(self, kind: EventKind) -> bool {
        self == kind || (self == EventKind::StageChanged && kind != EventKind::WebhookTest)
    }
}

/// Whether a webhook receives its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookStatus {
    /// Deliveries are sent and retried.
    Active,
    /// A delivery exhausted its retries: nothing is sent until the webhook
    /// is reactivated (an update, or a successful test or redelivery); new
    /// events still become pending deliveries, so none is lost.
    Failing,
}

impl WebhookStatus {
    pub fn code(self) -> &'static str {
        match self {
            WebhookStatus::Active => "ACTIVE",
            WebhookStatus::Failing => "FAILING",
        }
    }

    pub fn from_code(code: &str) -> AppResult<Self> {
        match code {
            "ACTIVE" => Ok(WebhookStatus::Active),
            "FAILING" => Ok(WebhookStatus::Failing),
            other => Err(AppError::internal(format!(
                "unknown stored webhook status {other:?}"
            ))),
        }
    }
}

/// Where one delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; `nextAttemptAt` says when it is tried.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Retries exhausted (or a test that failed); `redeliver` sends it again.
    Failed,
}

impl DeliveryStatus {
    pub fn code(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Succeeded => "SUCCEEDED",
            DeliveryStatus::Failed => "FAILED",
        }
    }

    pub fn from_code(code: &str) -> AppResult<Self> {
        match code {
            "PENDING" => Ok(DeliveryStatus::Pending),
            "SUCCEEDED" => Ok(DeliveryStatus::Succeeded),
            "FAILED" => Ok(DeliveryStatus::Failed),
            other => Err(AppError::internal(format!(
                "unknown stored delivery status {other:?}"
            ))),
        }
    }
}

/// A webhook to create.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventKind>,
    /// `None`: every stage.
    pub to_stages: Option<Vec<LeadStage>>,
    pub description: Option<String>,
}

/// A change to a webhook; `Keep` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<EventKind>>,
    pub to_stages: Patch<Vec<LeadStage>>,
    pub description: Patch<String>,
}

/// Comma-separated codes, as stored.
pub fn join_codes<T: Copy>(items: &[T], code: impl Fn(T) -> &'static str) -> String {
    items.iter().map(|i| code(*i)).collect::<Vec<_>>().join(",")
}

/// The stored event kinds of a webhook.
pub fn events_of(stored: &str) -> AppResult<Vec<EventKind>> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(EventKind::from_code)
        .collect()
}

/// The stored stage filter of a webhook.
pub fn stages_of(stored: Option<&str>) -> AppResult<Option<Vec<LeadStage>>> {
    stored
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .map(LeadStage::from_code)
                .collect()
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_changes() {
        use LeadStage::*;
        assert_eq!(EventKind::of_change(None, Lead), EventKind::LeadCreated);
        assert_eq!(
            EventKind::of_change(Some(Mql), Sql),
            EventKind::LeadQualified
        );
        assert_eq!(
            EventKind::of_change(Some(Sql), Opportunity),
            EventKind::StageChanged
        );
        assert!(EventKind::StageChanged.covers(EventKind::LeadQualified));
        assert!(EventKind::StageChanged.covers(EventKind::LeadCreated));
        assert!(!EventKind::LeadQualified.covers(EventKind::StageChanged));
        assert!(!EventKind::StageChanged.covers(EventKind::WebhookTest));
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind.code()).ok(), Some(kind));
        }
        let stored = join_codes(
            &[EventKind::LeadQualified, EventKind::LeadCreated],
            EventKind::code,
        );
        assert_eq!(stored, "LEAD_QUALIFIED,LEAD_CREATED");
        assert_eq!(
            events_of(&stored).ok(),
            Some(vec![EventKind::LeadQualified, EventKind::LeadCreated])
        );
    }
}
