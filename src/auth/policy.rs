//! The one table of who may do what (docs/roles.md). Services ask it; nothing
//! else decides access. Row rules come out as a [`LeadScope`] that the lead
//! queries turn into SQL, so no query loads a lead it then drops.

use super::{Role, Viewer};
use crate::interactions::kind::InteractionKind;
use crate::leads::lifecycle::{self, Actor, LeadStage, Requirement, TransitionError};

/// Stages SALES sees whoever owns the lead.
pub const SALES_VISIBLE_STAGES: [LeadStage; 4] = [
    LeadStage::Mql,
    LeadStage::Sql,
    LeadStage::Opportunity,
    LeadStage::Customer,
];

/// Interaction kinds SALES may record.
pub const SALES_INTERACTION_KINDS: [InteractionKind; 3] = [
    InteractionKind::Call,
    InteractionKind::Meeting,
    InteractionKind::EmailReply,
];

/// Which leads a viewer sees (the "leads visible" row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadScope {
    All,
    /// Stage in [`SALES_VISIBLE_STAGES`] or owned by this user.
    QualifiedOrOwnedBy(i64),
    Nothing,
}

/// The owner of a lead the viewer creates: SALES owns what it creates (an
/// unowned LEAD would be invisible to it); other roles create unowned leads.
pub fn owner_of_created_lead(viewer: &Viewer) -> Option<i64> {
    (viewer.role == Role::Sales).then_some(viewer.user_id)
}

pub fn lead_scope(viewer: &Viewer) -> LeadScope {
    match viewer.role {
        Role::Admin | Role::Marketing => LeadScope::All,
        Role::Sales => LeadScope::QualifiedOrOwnedBy(viewer.user_id),
        Role::Ingest => LeadScope::Nothing,
    }
}

/// The facts about one lead that access depends on.
#[derive(Clone, Copy, Debug)]
pub struct LeadFacts {
    pub stage: LeadStage,
    pub owner_id: Option<i64>,
}

impl LeadScope {
    pub fn admits(self, lead: LeadFacts) -> bool {
        match self {
            LeadScope::All => true,
            LeadScope::Nothing => false,
            LeadScope::QualifiedOrOwnedBy(user) => {
                SALES_VISIBLE_STAGES.contains(&lead.stage) || lead.owner_id == Some(user)
            }
        }
    }
}

/// Something a viewer wants to do to one lead.
#[derive(Clone, Copy, Debug)]
pub enum LeadAction {
    UpdateFields,
    RecordInteraction(InteractionKind),
    Transition {
        to: LeadStage,
    },
    Qualify,
    /// `new_owner`: the user the lead goes to (`None` = release).
    Assign {
        new_owner: Option<i64>,
    },
    Merge,
    Erase,
}

/// Why a lead action is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The viewer cannot see the lead: answer as if it did not exist.
    Invisible,
    Forbidden(String),
    InvalidTransition(String),
}

/// May `viewer` act on `lead` at all? The lead must be visible (else it is
/// [`Denied::Invisible`], answered like a missing lead) and, for SALES, its
/// own or unowned: another rep's visible lead is read-only. INGEST, being
/// write-only, may only record interactions, blind. `action` is what is
/// asked, since INGEST's blind recording passes where nothing else does.
pub fn may_act_on(viewer: &Viewer, lead: LeadFacts, action: LeadAction) -> Result<(), Denied> {
    let ingest_write =
        viewer.role == Role::Ingest && matches!(action, LeadAction::RecordInteraction(_));
    if !ingest_write && !lead_scope(viewer).admits(lead) {
        return Err(Denied::Invisible);
    }
    // Claiming and releasing have their own rule (the assign row) below.
    let read_only = viewer.role == Role::Sales
        && lead.owner_id.is_some_and(|owner| owner != viewer.user_id)
        && !matches!(action, LeadAction::Assign { .. });
    if read_only {
        return Err(Denied::Forbidden(
            "SALES may not change a lead owned by another rep (it is read-only to them)".into(),
        ));
    }
    Ok(())
}

/// May `viewer` do `action` to `lead`? First [`may_act_on`], then the row
/// of the action.
pub fn authorize_lead(
    viewer: &Viewer,
    lead: LeadFacts,
    action: LeadAction,
) -> Result<Requirement, Denied> {
    may_act_on(viewer, lead, action)?;
    let role = viewer.role;
    let forbid = |what: &str| {
        Err(Denied::Forbidden(format!(
            "{} may not {what}",
            role_name(role)
        )))
    };
    match action {
        LeadAction::UpdateFields => match role {
            Role::Admin | Role::Marketing | Role::Sales => Ok(Requirement::Nothing),
            Role::Ingest => forbid("update leads"),
        },
        LeadAction::RecordInteraction(kind) => match role {
            Role::Admin | Role::Marketing | Role::Ingest => Ok(Requirement::Nothing),
            Role::Sales if SALES_INTERACTION_KINDS.contains(&kind) => Ok(Requirement::Nothing),
            Role::Sales => {
                forbid("record this kind of interaction (only CALL, MEETING, EMAIL_REPLY)")
            }
        },
        LeadAction::Transition { to } => {
            match lifecycle::check(Actor::User(role), lead.stage, to) {
                Ok(requirement) => Ok(requirement),
                Err(TransitionError::NotInTable { from, to }) => {
                    Err(Denied::InvalidTransition(format!(
                        "a lead cannot move from {} to {}",
                        stage_name(from),
                        stage_name(to)
                    )))
                }
                Err(TransitionError::NotForActor { from, to }) => forbid(&format!(
                    "move a lead from {} to {}",
                    stage_name(from),
                    stage_name(to)
                )),
            }
        }
        LeadAction::Qualify => match role {
            Role::Admin | Role::Sales => Ok(Requirement::Nothing),
            _ => forbid("qualify leads"),
        },
        LeadAction::Assign { new_owner } => match role {
            Role::Admin => Ok(Requirement::Nothing),
            Role::Sales => match (lead.owner_id, new_owner) {
                (None, Some(to)) if to == viewer.user_id => Ok(Requirement::Nothing),
                (Some(from), None) if from == viewer.user_id => Ok(Requirement::Nothing),
                _ => forbid(
                    "assign leads other than claiming an unowned lead or releasing their own",
                ),
            },
            _ => forbid("assign leads"),
        },
        LeadAction::Merge => match role {
            Role::Admin | Role::Marketing => Ok(Requirement::Nothing),
            _ => forbid("merge leads"),
        },
        LeadAction::Erase => match role {
            Role::Admin => Ok(Requirement::Nothing),
            _ => forbid("erase leads"),
        },
    }
}

/// Capabilities that do not depend on a particular lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Any query field but `me`: INGEST reads nothing.
    Read,
    CreateLead,
    CaptureLead,
    RecordInteractions,
    ListUsers,
    ReadPersonas,
    WritePersonas,
    ReadScoring,
    WriteScoring,
    ReadCampaigns,
    WriteCampaigns,
    ReadCampaignCost,
    ReadKpis,
    MergeLeads,
    EraseLeads,
    Subscribe,
    /// Create, change, list, test webhooks (within [`webhook_scope`]).
    ManageWebhooks,
    /// Import leads from a CSV file (`importLeads`, `leadgraph import`).
    ImportLeads,
}

pub fn allows(role: Role, capability: Capability) -> bool {
    use Capability::*;
    use Role::*;
    match capability {
        Read => matches!(role, Admin | Marketing | Sales),
        CreateLead => matches!(role, Admin | Marketing | Sales),
        // captureLead records a FORM_SUBMIT, which SALES may not record.
        CaptureLead => matches!(role, Admin | Marketing | Ingest),
        RecordInteractions => true,
        ListUsers => matches!(role, Admin | Marketing | Sales),
        ReadPersonas => matches!(role, Admin | Marketing | Sales),
        WritePersonas => matches!(role, Admin | Marketing),
        ReadScoring | WriteScoring => matches!(role, Admin | Marketing),
        ReadCampaigns => matches!(role, Admin | Marketing | Sales),
        WriteCampaigns => matches!(role, Admin | Marketing),
        ReadCampaignCost => matches!(role, Admin | Marketing),
        ReadKpis => matches!(role, Admin | Marketing | Sales),
        MergeLeads => matches!(role, Admin | Marketing),
        EraseLeads => matches!(role, Admin),
        Subscribe => matches!(role, Admin | Marketing | Sales),
        // SALES too: its webhooks carry only what its subscriptions would.
        ManageWebhooks => matches!(role, Admin | Marketing | Sales),
        // An import creates and updates leads by the thousand: a marketing task.
        ImportLeads => matches!(role, Admin | Marketing),
    }
}

/// Which webhooks a viewer sees and manages (docs/webhooks.md#roles).
/// ADMIN: every webhook. MARKETING and SALES: their own only — a webhook
/// sends its owner's view of the leads to an outside address, so nobody but
/// its owner and ADMIN may read or redirect it (MARKETING does not see
/// ADMIN's webhooks). INGEST: none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookScope {
    All,
    OwnedBy(i64),
    Nothing,
}

impl WebhookScope {
    pub fn admits(self, owner_id: i64) -> bool {
        match self {
            WebhookScope::All => true,
            WebhookScope::OwnedBy(user) => user == owner_id,
            WebhookScope::Nothing => false,
        }
    }
}

pub fn webhook_scope(viewer: &Viewer) -> WebhookScope {
    if !allows(viewer.role, Capability::ManageWebhooks) {
        return WebhookScope::Nothing;
    }
    match viewer.role {
        Role::Admin => WebhookScope::All,
        _ => WebhookScope::OwnedBy(viewer.user_id),
    }
}

/// The leads a webhook's deliveries may carry: those its owner's
/// subscription would receive — the owner's lead scope applied to the lead
/// right after the change (its `to` stage and owner), as `bus::Filter`
/// does. The owner's role is the one stored for the owner now, so a
/// demoted owner's webhooks narrow with it.
pub fn webhook_lead_scope(owner: &Viewer) -> LeadScope {
    lead_scope(owner)
}

/// Whether a webhook's payloads may carry campaign cost: exactly when its
/// owner may read it (`Campaign.budget` is hidden from SALES).
pub fn webhook_shows_cost(owner: Role) -> bool {
    allows(owner, Capability::ReadCampaignCost)
}

/// Query root fields every role may ask: the caller itself.
pub const OPEN_QUERY_FIELDS: [&str; 1] = ["me"];

/// What asking the query root field `field` takes (the schema's query root
/// asks this before every field; introspection is answered before it).
pub fn query_capability(field: &str) -> Option<Capability> {
    (!OPEN_QUERY_FIELDS.contains(&field)).then_some(Capability::Read)
}

/// `Err(FORBIDDEN)` unless the viewer may ask the query root field `field`.
pub fn require_query(viewer: &Viewer, field: &str) -> crate::error::AppResult<()> {
    match query_capability(field) {
        Some(capability) => require(viewer, capability),
        None => Ok(()),
    }
}

/// `Err(FORBIDDEN)` unless the viewer has the capability.
pub fn require(viewer: &Viewer, capability: Capability) -> crate::error::AppResult<()> {
    if allows(viewer.role, capability) {
        Ok(())
    } else {
        Err(crate::error::AppError::forbidden(format!(
            "{} may not {}",
            role_name(viewer.role),
            capability_text(capability)
        )))
    }
}

/// A CSV export (docs/export.md). Each answers exactly what a query root
/// field answers, so it takes exactly what that field takes: the field's
/// gate ([`require_query`]) and the capability its service asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    /// `GET /export/leads.csv`: the rows of `leads`, in the viewer's scope.
    Leads,
    /// `GET /export/kpis.csv?report=funnel`: `funnel`.
    Funnel,
    /// `GET /export/kpis.csv?report=cost-per-lead`: `costPerLead`, hidden
    /// from SALES and INGEST.
    CostPerLead,
}

impl Export {
    /// The query root field the export mirrors.
    pub fn query_field(self) -> &'static str {
        match self {
            Export::Leads => "leads",
            Export::Funnel => "funnel",
            Export::CostPerLead => "costPerLead",
        }
    }
}

/// `Err(FORBIDDEN)` unless the viewer may run the export.
pub fn require_export(viewer: &Viewer, export: Export) -> crate::error::AppResult<()> {
    require_query(viewer, export.query_field())?;
    match export {
        Export::Leads => Ok(()),
        Export::Funnel => require(viewer, Capability::ReadKpis),
        Export::CostPerLead => require(viewer, Capability::ReadCampaignCost),
    }
}

fn capability_text(capability: Capability) -> &'static str {
    use Capability::*;
    match capability {
        Read => "read anything but `me`",
        CreateLead => "create leads",
        CaptureLead => "capture leads",
        RecordInteractions => "record interactions",
        ListUsers => "list users",
        ReadPersonas => "read personas",
        WritePersonas => "change personas",
        ReadScoring => "read scoring rules",
        WriteScoring => "change scoring rules",
        ReadCampaigns => "read campaigns",
        WriteCampaigns => "change campaigns",
        ReadCampaignCost => "read campaign cost",
        ReadKpis => "read KPIs",
        MergeLeads => "merge leads",
        EraseLeads => "erase leads",
        Subscribe => "subscribe to events",
        ManageWebhooks => "manage webhooks",
        ImportLeads => "import leads",
    }
}

fn role_name(role: Role) -> &'static str {
    role.code()
}

fn stage_name(stage: LeadStage) -> &'static str {
    stage.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn viewer(role: Role, user_id: i64) -> Viewer {
        Viewer {
            user_id,
            subject: format!("user{user_id}"),
            role,
            expires_at: i64::MAX,
        }
    }

    fn facts(stage: LeadStage, owner_id: Option<i64>) -> LeadFacts {
        LeadFacts { stage, owner_id }
    }

    #[test]
    fn sales_sees_qualified_or_own_leads() {
        let sales = viewer(Role::Sales, 7);
        let scope = lead_scope(&sales);
        assert!(!scope.admits(facts(LeadStage::Lead, None)));
        assert!(!scope.admits(facts(LeadStage::Disqualified, Some(8))));
        assert!(scope.admits(facts(LeadStage::Lead, Some(7))));
        assert!(scope.admits(facts(LeadStage::Mql, Some(8))));
        assert!(scope.admits(facts(LeadStage::Customer, None)));
        assert!(!lead_scope(&viewer(Role::Ingest, 1)).admits(facts(LeadStage::Sql, None)));
    }

    #[test]
    fn assignment_rules() {
        let sales = viewer(Role::Sales, 7);
        let lead = facts(LeadStage::Sql, None);
        assert!(authorize_lead(&sales, lead, LeadAction::Assign { new_owner: Some(7) }).is_ok());
        assert!(authorize_lead(&sales, lead, LeadAction::Assign { new_owner: Some(8) }).is_err());
        let own = facts(LeadStage::Sql, Some(7));
        assert!(authorize_lead(&sales, own, LeadAction::Assign { new_owner: None }).is_ok());
        assert!(authorize_lead(&sales, own, LeadAction::Assign { new_owner: Some(8) }).is_err());
        let other = facts(LeadStage::Sql, Some(8));
        assert!(authorize_lead(&sales, other, LeadAction::Assign { new_owner: Some(7) }).is_err());
        let marketing = viewer(Role::Marketing, 1);
        assert!(
            authorize_lead(&marketing, lead, LeadAction::Assign { new_owner: Some(1) }).is_err()
        );
        let admin = viewer(Role::Admin, 1);
        assert!(authorize_lead(&admin, other, LeadAction::Assign { new_owner: Some(9) }).is_ok());
    }

    #[test]
    fn sales_records_only_personal_kinds() {
        let sales = viewer(Role::Sales, 7);
        let lead = facts(LeadStage::Mql, None);
        assert!(
            authorize_lead(
                &sales,
                lead,
                LeadAction::RecordInteraction(InteractionKind::Call)
            )
            .is_ok()
        );
        assert!(matches!(
            authorize_lead(
                &sales,
                lead,
                LeadAction::RecordInteraction(InteractionKind::PageVisit)
            ),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn ingest_writes_blind_and_reads_nothing() {
        let ingest = viewer(Role::Ingest, 3);
        let lead = facts(LeadStage::Lead, None);
        assert!(
            authorize_lead(
                &ingest,
                lead,
                LeadAction::RecordInteraction(InteractionKind::PageVisit)
            )
            .is_ok()
        );
        assert_eq!(
            authorize_lead(&ingest, lead, LeadAction::UpdateFields),
            Err(Denied::Invisible)
        );
        assert!(!allows(Role::Ingest, Capability::Subscribe));
        assert!(!allows(Role::Ingest, Capability::ListUsers));
    }

    #[test]
    fn capability_rows() {
        use Capability::*;
        for (cap, admin, marketing, sales, ingest) in [
            (ReadPersonas, true, true, true, false),
            (WritePersonas, true, true, false, false),
            (ReadScoring, true, true, false, false),
            (WriteScoring, true, true, false, false),
            (ReadCampaigns, true, true, true, false),
            (WriteCampaigns, true, true, false, false),
            (ReadCampaignCost, true, true, false, false),
            (ReadKpis, true, true, true, false),
            (Subscribe, true, true, true, false),
            (CaptureLead, true, true, false, true),
            (CreateLead, true, true, true, false),
            (ManageWebhooks, true, true, true, false),
            (ImportLeads, true, true, false, false),
        ] {
            assert_eq!(allows(Role::Admin, cap), admin, "{cap:?}");
            assert_eq!(allows(Role::Marketing, cap), marketing, "{cap:?}");
            assert_eq!(allows(Role::Sales, cap), sales, "{cap:?}");
            assert_eq!(allows(Role::Ingest, cap), ingest, "{cap:?}");
        }
    }

    #[test]
    fn another_reps_lead_is_read_only_to_sales() {
        let sam = viewer(Role::Sales, 7);
        for stage in [LeadStage::Mql, LeadStage::Sql, LeadStage::Opportunity] {
            let theirs = facts(stage, Some(8));
            assert!(lead_scope(&sam).admits(theirs), "visible");
            for action in [
                LeadAction::UpdateFields,
                LeadAction::Qualify,
                LeadAction::RecordInteraction(InteractionKind::Call),
                LeadAction::Transition {
                    to: LeadStage::Opportunity,
                },
                LeadAction::Transition {
                    to: LeadStage::Disqualified,
                },
                LeadAction::Transition {
                    to: LeadStage::Lead,
                },
            ] {
                assert!(
                    matches!(
                        authorize_lead(&sam, theirs, action),
                        Err(Denied::Forbidden(_))
                    ),
                    "{stage:?} {action:?}"
                );
            }
            // Its own and unowned leads stay its to work.
            for owner in [Some(7), None] {
                let lead = facts(LeadStage::Sql, owner);
                let to_opportunity = LeadAction::Transition {
                    to: LeadStage::Opportunity,
                };
                assert!(authorize_lead(&sam, lead, to_opportunity).is_ok());
                assert!(authorize_lead(&sam, lead, LeadAction::Qualify).is_ok());
                assert!(authorize_lead(&sam, lead, LeadAction::UpdateFields).is_ok());
            }
        }
        // ADMIN and MARKETING are not bound by ownership.
        let theirs = facts(LeadStage::Sql, Some(8));
        let admin = viewer(Role::Admin, 1);
        let to_opportunity = LeadAction::Transition {
            to: LeadStage::Opportunity,
        };
        assert!(authorize_lead(&admin, theirs, to_opportunity).is_ok());
        let marketing = viewer(Role::Marketing, 2);
        assert!(authorize_lead(&marketing, theirs, LeadAction::UpdateFields).is_ok());
    }

    #[test]
    fn ingest_reads_nothing_but_me() {
        let ingest = viewer(Role::Ingest, 3);
        for field in [
            "lead",
            "leads",
            "node",
            "users",
            "campaigns",
            "personas",
            "scoringRules",
            "scoringSettings",
            "funnel",
            "costPerLead",
            "leadRelevance",
            "anything added later",
        ] {
            let err = require_query(&ingest, field).expect_err(field);
            assert_eq!(err.code(), "FORBIDDEN", "{field}");
        }
        assert!(require_query(&ingest, "me").is_ok());
        for role in [Role::Admin, Role::Marketing, Role::Sales] {
            assert!(require_query(&viewer(role, 1), "leads").is_ok());
        }
    }

    #[test]
    fn exports_take_what_their_query_fields_take() {
        for (export, admin, marketing, sales, ingest) in [
            (Export::Leads, true, true, true, false),
            (Export::Funnel, true, true, true, false),
            (Export::CostPerLead, true, true, false, false),
        ] {
            for (role, allowed) in [
                (Role::Admin, admin),
                (Role::Marketing, marketing),
                (Role::Sales, sales),
                (Role::Ingest, ingest),
            ] {
                let answer = require_export(&viewer(role, 1), export);
                assert_eq!(answer.is_ok(), allowed, "{export:?} {role:?}");
                if let Err(err) = answer {
                    assert_eq!(err.code(), "FORBIDDEN");
                }
            }
        }
    }

    #[test]
    fn merging_and_erasing_are_capabilities() {
        for (role, merge, erase) in [
            (Role::Admin, true, true),
            (Role::Marketing, true, false),
            (Role::Sales, false, false),
            (Role::Ingest, false, false),
        ] {
            assert_eq!(allows(role, Capability::MergeLeads), merge, "{role:?}");
            assert_eq!(allows(role, Capability::EraseLeads), erase, "{role:?}");
        }
    }

    #[test]
    fn webhook_rows() {
        // ADMIN manages every webhook; MARKETING and SALES their own; INGEST none.
        let admin = webhook_scope(&viewer(Role::Admin, 1));
        assert!(admin.admits(1) && admin.admits(2));
        for role in [Role::Marketing, Role::Sales] {
            let own = webhook_scope(&viewer(role, 2));
            assert!(own.admits(2), "{role:?}");
            assert!(!own.admits(1), "{role:?} must not see ADMIN's webhooks");
        }
        assert_eq!(
            webhook_scope(&viewer(Role::Ingest, 3)),
            WebhookScope::Nothing
        );
        assert!(!WebhookScope::Nothing.admits(3));
        // Deliveries carry what the owner's subscription would.
        let sales = viewer(Role::Sales, 7);
        assert_eq!(webhook_lead_scope(&sales), lead_scope(&sales));
        assert!(!webhook_lead_scope(&sales).admits(facts(LeadStage::Lead, None)));
        assert!(webhook_lead_scope(&sales).admits(facts(LeadStage::Sql, Some(8))));
        assert!(
            webhook_lead_scope(&viewer(Role::Marketing, 2)).admits(facts(LeadStage::Lead, None))
        );
        assert!(webhook_shows_cost(Role::Admin) && webhook_shows_cost(Role::Marketing));
        assert!(!webhook_shows_cost(Role::Sales) && !webhook_shows_cost(Role::Ingest));
    }

    fn any_role() -> impl Strategy<Value = Role> {
        prop::sample::select(vec![
            Role::Admin,
            Role::Marketing,
            Role::Sales,
            Role::Ingest,
        ])
    }
    fn any_stage() -> impl Strategy<Value = LeadStage> {
        prop::sample::select(LeadStage::ALL.to_vec())
    }

    proptest! {
        /// A lead the viewer cannot see is invisible to every action but
        /// INGEST's blind recording: no existence leak through errors.
        #[test]
        fn invisible_leads_stay_invisible(role in any_role(), stage in any_stage(), owner in prop::option::of(1i64..5), me in 1i64..5) {
            let v = viewer(role, me);
            let lead = facts(stage, owner);
            if !lead_scope(&v).admits(lead) {
                for action in [LeadAction::UpdateFields, LeadAction::Qualify, LeadAction::Merge, LeadAction::Erase,
                               LeadAction::Transition { to: LeadStage::Mql }, LeadAction::Assign { new_owner: Some(me) }] {
                    prop_assert_eq!(authorize_lead(&v, lead, action), Err(Denied::Invisible));
                }
            }
        }

        /// SALES changes nothing on a lead another rep owns: every action is
        /// refused (FORBIDDEN when it sees the lead, NOT_FOUND otherwise).
        #[test]
        fn sales_never_acts_on_another_reps_lead(stage in any_stage(), me in 1i64..5, other in 5i64..9,
                                                 to in any_stage(), new_owner in prop::option::of(1i64..9)) {
            let v = viewer(Role::Sales, me);
            let lead = facts(stage, Some(other));
            for action in [LeadAction::UpdateFields, LeadAction::Qualify, LeadAction::Merge, LeadAction::Erase,
                           LeadAction::Transition { to }, LeadAction::Assign { new_owner },
                           LeadAction::RecordInteraction(InteractionKind::Call)] {
                let denied = authorize_lead(&v, lead, action);
                prop_assert!(denied.is_err(), "{:?} {:?}", stage, action);
                if lead_scope(&v).admits(lead) {
                    prop_assert!(matches!(denied, Err(Denied::Forbidden(_))), "{:?} {:?}", stage, action);
                }
            }
        }
    }
}
