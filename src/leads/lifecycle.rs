//! The stage machine of docs/lifecycle.md, as pure data and functions.

use crate::auth::Role;
use crate::error::{AppError, AppResult};

/// Where a lead stands in the funnel.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LeadStage {
    /// Identified contact with a first, faint interest.
    Lead,
    /// Marketing-qualified: enough engagement and fit.
    Mql,
    /// Sales-qualified: budget, need and authority confirmed.
    Sql,
    /// In negotiation.
    Opportunity,
    /// Bought.
    Customer,
    /// Out of the funnel, with a reason; may be recycled.
    Disqualified,
}

impl LeadStage {
    /// Funnel order (LEAD = 1 … CUSTOMER = 5); DISQUALIFIED is not in it.
    pub fn rank(self) -> Option<i32> {
        match self {
            LeadStage::Lead => Some(1),
            LeadStage::Mql => Some(2),
            LeadStage::Sql => Some(3),
            LeadStage::Opportunity => Some(4),
            LeadStage::Customer => Some(5),
            LeadStage::Disqualified => None,
        }
    }

    pub const FUNNEL: [LeadStage; 5] = [
        LeadStage::Lead,
        LeadStage::Mql,
        LeadStage::Sql,
        LeadStage::Opportunity,
        LeadStage::Customer,
    ];

    pub const ALL: [LeadStage; 6] = [
        LeadStage::Lead,
        LeadStage::Mql,
        LeadStage::Sql,
        LeadStage::Opportunity,
        LeadStage::Customer,
        LeadStage::Disqualified,
    ];

    /// The stored spelling (`lead.stage`, the history and the outbox), e.g. `"MQL"`.
    pub fn code(self) -> &'static str {
        match self {
            LeadStage::Lead => "LEAD",
            LeadStage::Mql => "MQL",
            LeadStage::Sql => "SQL",
            LeadStage::Opportunity => "OPPORTUNITY",
            LeadStage::Customer => "CUSTOMER",
            LeadStage::Disqualified => "DISQUALIFIED",
        }
    }

    /// The stage of a stored code; an unknown one is a broken database.
    pub fn from_code(code: &str) -> AppResult<Self> {
        Self::parse(code)
            .ok_or_else(|| AppError::internal(format!("unknown stored lead stage {code:?}")))
    }

    /// The stage spelled `code`, if any.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Who asks for a transition.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Role),
    /// Automatic promotion by the scoring engine (`system:scoring`).
    Scoring,
}

/// What a transition needs besides the right actor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Nothing,
    /// Budget, need and authority all confirmed.
    Bant,
    /// May carry a `dealAmount`.
    DealAmount,
    /// A non-empty `reason`.
    Reason,
}

struct Rule {
    from: &'static [LeadStage],
    to: LeadStage,
    roles: &'static [Role],
    by_scoring: bool,
    requires: Requirement,
}

use LeadStage::*;
use Role::*;

/// docs/lifecycle.md, one row per (from set, to, who).
const RULES: &[Rule] = &[
    Rule {
        from: &[Lead],
        to: Mql,
        roles: &[Marketing, Admin],
        by_scoring: true,
        requires: Requirement::Nothing,
    },
    Rule {
        from: &[Mql],
        to: Sql,
        roles: &[Sales, Admin],
        by_scoring: false,
        requires: Requirement::Bant,
    },
    Rule {
        from: &[Sql],
        to: Opportunity,
        roles: &[Sales, Admin],
        by_scoring: false,
        requires: Requirement::DealAmount,
    },
    Rule {
        from: &[Opportunity],
        to: Customer,
        roles: &[Sales, Admin],
        by_scoring: false,
        requires: Requirement::DealAmount,
    },
    Rule {
        from: &[Lead],
        to: Disqualified,
        roles: &[Marketing, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
    Rule {
        from: &[Mql],
        to: Disqualified,
        roles: &[Marketing, Sales, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
    Rule {
        from: &[Sql, Opportunity],
        to: Disqualified,
        roles: &[Sales, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
    Rule {
        from: &[Mql],
        to: Lead,
        roles: &[Marketing, Sales, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
    Rule {
        from: &[Sql],
        to: Lead,
        roles: &[Sales, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
    Rule {
        from: &[Disqualified],
        to: Lead,
        roles: &[Marketing, Admin],
        by_scoring: false,
        requires: Requirement::Reason,
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// No row of the table moves `from` to `to` (`INVALID_TRANSITION`).
    NotInTable { from: LeadStage, to: LeadStage },
    /// The move exists but not for this actor (`FORBIDDEN`).
    NotForActor { from: LeadStage, to: LeadStage },
}

/// The requirement of moving `from` → `to` for `actor`, or why not.
pub fn check(actor: Actor, from: LeadStage, to: LeadStage) -> Result<Requirement, TransitionError> {
    let mut exists = false;
    for rule in RULES
        .iter()
        .filter(|r| r.to == to && r.from.contains(&from))
    {
        exists = true;
        let allowed = match actor {
            Actor::User(role) => rule.roles.contains(&role),
            Actor::Scoring => rule.by_scoring,
        };
        if allowed {
            return Ok(rule.requires);
        }
    }
    if exists {
        Err(TransitionError::NotForActor { from, to })
    } else {
        Err(TransitionError::NotInTable { from, to })
    }
}

/// The BANT criteria still missing, by name, for the MQL → SQL move.
pub fn missing_bant(budget: bool, need: bool, authority: bool) -> Vec<&'static str> {
    [("budget", budget), ("need", need), ("authority", authority)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect()
}

/// Funnel ranks whose first-reached milestone a move to `to` sets, given the
/// highest rank reached so far (a skipped stage counts as reached).
pub fn new_milestones(reached_rank: i32, to: LeadStage) -> std::ops::RangeInclusive<i32> {
    match to.rank() {
        Some(rank) if rank > reached_rank => (reached_rank + 1).max(2)..=rank,
        #[allow(clippy::reversed_empty_ranges)]
        _ => 1..=0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roles() -> [Role; 4] {
        [Admin, Marketing, Sales, Ingest]
    }

    #[test]
    fn the_table_of_design_section_3() {
        use Requirement as R;
        let u = Actor::User;
        assert_eq!(check(u(Marketing), Lead, Mql), Ok(R::Nothing));
        assert_eq!(check(Actor::Scoring, Lead, Mql), Ok(R::Nothing));
        assert_eq!(check(u(Sales), Mql, Sql), Ok(R::Bant));
        assert_eq!(check(u(Admin), Sql, Opportunity), Ok(R::DealAmount));
        assert_eq!(check(u(Sales), Opportunity, Customer), Ok(R::DealAmount));
        assert_eq!(check(u(Marketing), Lead, Disqualified), Ok(R::Reason));
        assert_eq!(check(u(Sales), Mql, Disqualified), Ok(R::Reason));
        assert_eq!(check(u(Marketing), Mql, Disqualified), Ok(R::Reason));
        assert_eq!(check(u(Sales), Opportunity, Disqualified), Ok(R::Reason));
        assert_eq!(check(u(Marketing), Mql, Lead), Ok(R::Reason));
        assert_eq!(check(u(Sales), Sql, Lead), Ok(R::Reason));
        assert_eq!(check(u(Admin), Disqualified, Lead), Ok(R::Reason));

        assert!(matches!(
            check(u(Sales), Lead, Mql),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(u(Marketing), Mql, Sql),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(u(Marketing), Sql, Lead),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(u(Sales), Disqualified, Lead),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(u(Sales), Lead, Disqualified),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(Actor::Scoring, Mql, Sql),
            Err(TransitionError::NotForActor { .. })
        ));
        assert!(matches!(
            check(u(Admin), Customer, Lead),
            Err(TransitionError::NotInTable { .. })
        ));
        assert!(matches!(
            check(u(Admin), Lead, Sql),
            Err(TransitionError::NotInTable { .. })
        ));
        assert!(matches!(
            check(u(Admin), Opportunity, Lead),
            Err(TransitionError::NotInTable { .. })
        ));
    }

    #[test]
    fn stage_codes_are_pinned() {
        let codes: Vec<_> = LeadStage::ALL.iter().map(|s| (*s, s.code())).collect();
        assert_eq!(
            codes,
            [
                (Lead, "LEAD"),
                (Mql, "MQL"),
                (Sql, "SQL"),
                (Opportunity, "OPPORTUNITY"),
                (Customer, "CUSTOMER"),
                (Disqualified, "DISQUALIFIED"),
            ]
        );
        for stage in LeadStage::ALL {
            assert_eq!(LeadStage::from_code(stage.code()).ok(), Some(stage));
        }
        assert!(matches!(
            LeadStage::from_code("mql"),
            Err(AppError::Internal { message: m, .. }) if m.contains("\"mql\"")
        ));
    }

    #[test]
    fn milestones_count_skipped_stages() {
        assert_eq!(new_milestones(1, Sql).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(new_milestones(3, Customer).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(new_milestones(3, Lead).count(), 0);
        assert_eq!(new_milestones(3, Disqualified).count(), 0);
        assert_eq!(new_milestones(2, Mql).count(), 0);
    }

    #[test]
    fn bant_names_what_is_missing() {
        assert_eq!(missing_bant(true, false, false), vec!["need", "authority"]);
        assert!(missing_bant(true, true, true).is_empty());
    }

    fn stage() -> impl Strategy<Value = LeadStage> {
        prop::sample::select(LeadStage::ALL.to_vec())
    }

    proptest! {
        /// A move to the current stage, out of CUSTOMER, or by INGEST is always refused.
        #[test]
        fn refusals_hold_for_any_stage(from in stage(), to in stage(), role in prop::sample::select(roles().to_vec())) {
            prop_assert!(check(Actor::User(role), from, from).is_err());
            prop_assert!(check(Actor::User(role), Customer, to).is_err());
            prop_assert!(check(Actor::User(Ingest), from, to).is_err());
        }

        /// Scoring only ever promotes LEAD to MQL, and never demotes.
        #[test]
        fn scoring_only_promotes(from in stage(), to in stage()) {
            if check(Actor::Scoring, from, to).is_ok() {
                prop_assert_eq!((from, to), (Lead, Mql));
            }
        }

        /// Whatever is allowed for someone is in the table for everyone else
        /// (NotForActor), and whatever is not in the table is refused for all.
        #[test]
        fn errors_are_consistent(from in stage(), to in stage()) {
            let results: Vec<_> = roles().iter().map(|r| check(Actor::User(*r), from, to)).collect();
            let any_ok = results.iter().any(Result::is_ok);
            for result in results {
                match result {
                    Ok(_) => {}
                    Err(TransitionError::NotForActor { .. }) => prop_assert!(any_ok),
                    Err(TransitionError::NotInTable { .. }) => prop_assert!(!any_ok),
                }
            }
        }
    }
}
