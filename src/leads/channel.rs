//! Where a lead came from, as the domain and the database spell it.

use crate::error::{AppError, AppResult};

/// Where a lead came from (a lead's source, a campaign's or an interaction's channel).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    OrganicSearch,
    PaidSearch,
    Social,
    Email,
    Content,
    Webinar,
    Event,
    Referral,
    Direct,
    Other,
}

impl Channel {
    /// Every channel, in the contract's order (KPI groups follow it).
    pub const ALL: [Channel; 10] = [
        Channel::OrganicSearch,
        Channel::PaidSearch,
        Channel::Social,
        Channel::Email,
        Channel::Content,
        Channel::Webinar,
        Channel::Event,
        Channel::Referral,
        Channel::Direct,
        Channel::Other,
    ];

    /// The stored spelling (`lead.source_channel`, `campaign.channel`,
    /// `interaction.channel`), e.g. `"PAID_SEARCH"`.
    pub fn code(self) -> &'static str {
        match self {
            Channel::OrganicSearch => "ORGANIC_SEARCH",
            Channel::PaidSearch => "PAID_SEARCH",
            Channel::Social => "SOCIAL",
            Channel::Email => "EMAIL",
            Channel::Content => "CONTENT",
            Channel::Webinar => "WEBINAR",
            Channel::Event => "EVENT",
            Channel::Referral => "REFERRAL",
            Channel::Direct => "DIRECT",
            Channel::Other => "OTHER",
        }
    }

    /// The channel of a stored code; an unknown one is a broken database.
    pub fn from_code(code: &str) -> AppResult<Self> {
        Self::parse(code)
            .ok_or_else(|| AppError::internal(format!("unknown stored channel {code:?}")))
    }

    /// The channel spelled `code`, if any.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;

    #[test]
    fn channel_codes_are_pinned() {
        let codes: Vec<_> = Channel::ALL.iter().map(|c| (*c, c.code())).collect();
        assert_eq!(
            codes,
            [
                (OrganicSearch, "ORGANIC_SEARCH"),
                (PaidSearch, "PAID_SEARCH"),
                (Social, "SOCIAL"),
                (Email, "EMAIL"),
                (Content, "CONTENT"),
                (Webinar, "WEBINAR"),
                (Event, "EVENT"),
                (Referral, "REFERRAL"),
                (Direct, "DIRECT"),
                (Other, "OTHER"),
            ]
        );
        for channel in Channel::ALL {
            assert_eq!(Channel::from_code(channel.code()).ok(), Some(channel));
        }
        assert!(matches!(
            Channel::from_code("paid_search"),
            Err(AppError::Internal { message: m, .. }) if m.contains("\"paid_search\"")
        ));
    }
}
