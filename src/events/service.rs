//! Opening a subscription: who may subscribe, to which events, from where.

use super::bus::{Event, Filter, FollowError};
use super::outbox;
use crate::app::AppState;
use crate::auth::{Viewer, policy};
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::LeadStage;
use futures::Stream;
use std::sync::Arc;

/// The stage changes `viewer` may see whose `to` is in `to_stages` (all when
/// `None`): every one after the cursor `after` first, or from now on without
/// it; then live, in sequence order.
#[tracing::instrument(skip(state, viewer), fields(subject = %viewer.subject))]
pub async fn subscribe(
    state: &AppState,
    viewer: &Viewer,
    to_stages: Option<Vec<LeadStage>>,
    after: Option<&str>,
) -> AppResult<impl Stream<Item = Result<Arc<Event>, FollowError>> + Send + 'static + use<>> {
    may_subscribe(viewer)?;
    if to_stages.as_ref().is_some_and(Vec::is_empty) {
        return Err(AppError::bad_input(
            "toStages",
            "toStages needs at least one stage; omit it for every stage",
        ));
    }
    let after = match after {
        Some(cursor) => {
            let seq = outbox::decode_cursor(cursor)?;
            outbox::check_resumable(&state.db.read, seq, state.events.retention_days()).await?;
            Some(seq)
        }
        None => None,
    };
    let filter = Filter {
        scope: policy::lead_scope(viewer),
        to_stages,
    };
    Ok(state.events.follow(state.db.read.clone(), filter, after))
}

/// Whether `viewer` may subscribe to events at all (INGEST may not).
pub fn may_subscribe(viewer: &Viewer) -> AppResult<()> {
    policy::require(viewer, policy::Capability::Subscribe)
}
