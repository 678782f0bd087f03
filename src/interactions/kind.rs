//! What a lead did, as the domain and the database spell it.

use crate::error::{AppError, AppResult};

/// What the lead did (or what sales did with it).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InteractionKind {
    PageVisit,
    FormSubmit,
    ContentDownload,
    WebinarRegistered,
    WebinarAttended,
    EmailOpen,
    EmailClick,
    DemoRequest,
    QuoteRequest,
    Call,
    Meeting,
    EmailReply,
    Unsubscribe,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 13] = [
        InteractionKind::PageVisit,
        InteractionKind::FormSubmit,
        InteractionKind::ContentDownload,
        InteractionKind::WebinarRegistered,
        InteractionKind::WebinarAttended,
        InteractionKind::EmailOpen,
        InteractionKind::EmailClick,
        InteractionKind::DemoRequest,
        InteractionKind::QuoteRequest,
        InteractionKind::Call,
        InteractionKind::Meeting,
        InteractionKind::EmailReply,
        InteractionKind::Unsubscribe,
    ];

    /// The stored spelling (`interaction.kind`, `scoring_rule.interaction_kind`),
    /// e.g. `"FORM_SUBMIT"`.
    pub fn code(self) -> &'static str {
        match self {
            InteractionKind::PageVisit => "PAGE_VISIT",
            InteractionKind::FormSubmit => "FORM_SUBMIT",
            InteractionKind::ContentDownload => "CONTENT_DOWNLOAD",
            InteractionKind::WebinarRegistered => "WEBINAR_REGISTERED",
            InteractionKind::WebinarAttended => "WEBINAR_ATTENDED",
            InteractionKind::EmailOpen => "EMAIL_OPEN",
            InteractionKind::EmailClick => "EMAIL_CLICK",
            InteractionKind::DemoRequest => "DEMO_REQUEST",
            InteractionKind::QuoteRequest => "QUOTE_REQUEST",
            InteractionKind::Call => "CALL",
            InteractionKind::Meeting => "MEETING",
            InteractionKind::EmailReply => "EMAIL_REPLY",
            InteractionKind::Unsubscribe => "UNSUBSCRIBE",
        }
    }

    /// The kind of a stored code; an unknown one is a broken database.
    pub fn from_code(code: &str) -> AppResult<Self> {
        Self::parse(code)
            .ok_or_else(|| AppError::internal(format!("unknown stored interaction kind {code:?}")))
    }

    /// The kind spelled `code`, if any.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InteractionKind::*;

    #[test]
    fn interaction_kind_codes_are_pinned() {
        let codes: Vec<_> = InteractionKind::ALL
            .iter()
            .map(|k| (*k, k.code()))
            .collect();
        assert_eq!(
            codes,
            [
                (PageVisit, "PAGE_VISIT"),
                (FormSubmit, "FORM_SUBMIT"),
                (ContentDownload, "CONTENT_DOWNLOAD"),
                (WebinarRegistered, "WEBINAR_REGISTERED"),
                (WebinarAttended, "WEBINAR_ATTENDED"),
                (EmailOpen, "EMAIL_OPEN"),
                (EmailClick, "EMAIL_CLICK"),
                (DemoRequest, "DEMO_REQUEST"),
                (QuoteRequest, "QUOTE_REQUEST"),
                (Call, "CALL"),
                (Meeting, "MEETING"),
                (EmailReply, "EMAIL_REPLY"),
                (Unsubscribe, "UNSUBSCRIBE"),
            ]
        );
        for kind in InteractionKind::ALL {
            assert_eq!(InteractionKind::from_code(kind.code()).ok(), Some(kind));
        }
        assert!(matches!(
            InteractionKind::from_code("Call"),
            Err(AppError::Internal { message: m, .. }) if m.contains("\"Call\"")
        ));
    }
}
