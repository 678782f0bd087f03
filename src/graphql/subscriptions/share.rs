//! Identical subscriptions share the work of each event.
//!
//! Executing a subscription's selection set over an event and serializing
//! the result costs tens of microseconds; done once per subscriber, one
//! event to thousands of subscribers takes hundreds of milliseconds. So the
//! WebSocket layer renders a live event once per [`ShareKey`] and every
//! subscriber with that key sends the same payload in its own frame.
//!
//! The key holds what the rendering can depend on: the document, variables
//! and operation name, the viewer's role, and the one viewer-specific fact
//! resolvers reachable from an event consult, the lead scope (SALES: MQL or
//! beyond, *or owned by the viewer*). The rendering runs as a canonical
//! viewer of the same role whose user id is the viewer's own only when the
//! viewer owns the event's lead, and [`NOBODY`] otherwise, so a payload
//! rendered for one viewer holds nothing another viewer with the same key
//! could not see. Which events a subscriber gets is still decided per
//! subscriber (`bus::Filter`), and order, replay, lag and errors stay with its
//! own `Follower`.
//!
//! Renderings are kept per event in a [`RenderCache`]: a live event is one
//! `Arc` for every subscriber of the instance, so they share its renderings;
//! an event a follower replays from the outbox is its own copy (its lead read
//! at another moment) and is rendered for it alone.
//!
//! Resolvers under `StageChangeEvent` must depend on the viewer only through
//! its role and lead scope; a new one that reads more of the viewer (its user
//! id beyond the scope, its subject) needs that in the key.

use crate::auth::policy::{self, LeadScope};
use crate::auth::{Role, Viewer};
use crate::events::bus::Event;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Request, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OnceCell;

/// The user id of the canonical viewer who owns nothing.
pub const NOBODY: i64 = -1;

/// A subscription's operation, as far as its rendering depends on it.
#[derive(Debug)]
pub struct SharedOperation {
    pub query: String,
    pub variables: async_graphql::Variables,
    pub operation_name: Option<String>,
    pub role: Role,
    /// The variables the event's selection set uses, as JSON: the others
    /// (`after`, `toStages`) only choose the events.
    variables_key: String,
    /// The hash of the identity, computed once: keys are hashed per event
    /// and subscriber.
    hash: u64,
}

impl SharedOperation {
    /// `used`: the variables the rendering depends on.
    pub fn new(
        query: String,
        variables: async_graphql::Variables,
        operation_name: Option<String>,
        role: Role,
        used: &HashSet<Name>,
    ) -> Self {
        let used: BTreeMap<&Name, &async_graphql::Value> = variables
            .iter()
            .filter(|(n, _)| used.contains(*n))
            .collect();
        let variables_key = serde_json::to_string(&used).unwrap_or_default();
        let mut operation = SharedOperation {
            query,
            variables,
            operation_name,
            role,
            variables_key,
            hash: 0,
        };
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&operation.identity(), &mut hasher);
        operation.hash = std::hash::Hasher::finish(&hasher);
        operation
    }

    fn identity(&self) -> (&str, &str, Option<&str>, Role) {
        (
            &self.query,
            &self.variables_key,
            self.operation_name.as_deref(),
            self.role,
        )
    }
}

impl PartialEq for SharedOperation {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
            || (self.hash == other.hash && self.identity() == other.identity())
    }
}

impl Eq for SharedOperation {}

impl std::hash::Hash for SharedOperation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The operation of a subscription whose events can be shared: the
/// selected operation is a subscription with exactly one root field and no
/// directive on it (so exactly one event stream, always opened).
pub fn shared_operation(request: &mut Request, role: Role) -> Option<Arc<SharedOperation>> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match (&document.operations, name.as_deref()) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .iter()
            .find_map(|(n, op)| (n.as_str() == name).then_some(op))?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    if operation.node.ty != OperationType::Subscription {
        return None;
    }
    let [selection] = operation.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &selection.node else {
        return None;
    };
    if !field.node.directives.is_empty() || field.node.name.node == "__typename" {
        return None;
    }
    let mut used = HashSet::new();
    selection_variables(
        document,
        &field.node.selection_set.node,
        &mut used,
        &mut HashSet::new(),
    );
    Some(Arc::new(SharedOperation::new(
        request.query.clone(),
        request.variables.clone(),
        name,
        role,
        &used,
    )))
}

/// The variables a selection set refers to, through its fragments too.
fn selection_variables<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    used: &mut HashSet<Name>,
    fragments: &mut HashSet<&'a Name>,
) {
    let directives = |list: &[Positioned<Directive>], used: &mut HashSet<Name>| {
        for d in list {
            for (_, value) in &d.node.arguments {
                value_variables!(value.node, used);
            }
        }
    };
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                for (_, value) in &f.node.arguments {
                    value_variables!(value.node, used);
                }
                directives(&f.node.directives, used);
                selection_variables(document, &f.node.selection_set.node, used, fragments);
            }
            Selection::FragmentSpread(spread) => {
                directives(&spread.node.directives, used);
                let name = &spread.node.fragment_name.node;
                if fragments.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    directives(&fragment.node.directives, used);
                    selection_variables(
                        document,
                        &fragment.node.selection_set.node,
                        used,
                        fragments,
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                directives(&inline.node.directives, used);
                selection_variables(document, &inline.node.selection_set.node, used, fragments);
            }
        }
    }
}

/// Record the variables in an argument's value.
macro_rules! value_variables {
    ($value:expr, $used:expr) => {{
        let _ = $value.clone().into_const_with(|name| {
            $used.insert(name);
            Ok::<_, std::convert::Infallible>(Value::Null)
        });
    }};
}
use value_variables;

/// Subscribers with equal keys get the same rendering of an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    pub operation: Arc<SharedOperation>,
    /// The canonical viewer's user id: the viewer's own if it owns the
    /// event's lead and that widens what it sees, else [`NOBODY`].
    pub user_id: i64,
}

impl ShareKey {
    /// The key of `viewer`'s subscription `operation` for `event`.
    pub fn new(operation: &Arc<SharedOperation>, viewer: &Viewer, event: &Event) -> Self {
        let owns = |user: i64| {
            event.row.owner_id == Some(user)
                || event
                    .lead
                    .as_ref()
                    .is_some_and(|l| l.owner_id == Some(user))
        };
        let user_id = match policy::lead_scope(viewer) {
            LeadScope::QualifiedOrOwnedBy(user) if owns(user) => user,
            _ => NOBODY,
        };
        ShareKey {
            operation: operation.clone(),
            user_id,
        }
    }

    /// The viewer the rendering runs as.
    pub fn viewer(&self, subscriber: &Viewer) -> Viewer {
        Viewer {
            user_id: self.user_id,
            subject: String::from("system:shared-subscription"),
            role: self.operation.role,
            expires_at: subscriber.expires_at,
        }
    }
}

/// An event rendered for one key, ready to be framed for any subscriber.
#[derive(Debug)]
pub struct Rendered {
    /// The GraphQL response as JSON: the `payload` of a `next` (or legacy
    /// `data`) message.
    pub payload: String,
    /// The response's errors as JSON when they end the operation as a whole.
    pub fatal: Option<serde_json::Value>,
}

type Cell = Arc<OnceCell<Arc<Rendered>>>;

/// The renderings of the events subscribers hold, by event and share key.
///
/// An event is known by its allocation: the cache holds a `Weak` to it, which
/// keeps the address from being reused, and an entry is dropped once no
/// follower holds its event any more. So the renderings of an event live
/// exactly as long as the event is being delivered, and two copies of the
/// same outbox row (live, and replayed by a follower) never share.
#[derive(Default)]
pub struct RenderCache(Mutex<HashMap<usize, HeldEvent>>);

struct HeldEvent {
    event: Weak<Event>,
    renderings: HashMap<ShareKey, Cell>,
}

impl RenderCache {
    /// The rendering of `event` for `key`, made by `render` if no one has
    /// made it yet (concurrent callers wait for the first one).
    pub async fn get_or_render<F, Fut>(
        &self,
        event: &Arc<Event>,
        key: ShareKey,
        render: F,
    ) -> Arc<Rendered>
    where
        F: FnOnce(ShareKey) -> Fut,
        Fut: Future<Output = Rendered>,
    {
        let cell = {
            let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let address = Arc::as_ptr(event) as usize;
            if !held.contains_key(&address) {
                // A new event: forget those no follower holds any more.
                held.retain(|_, h| h.event.strong_count() > 0);
            }
            let entry = held.entry(address).or_insert_with(|| HeldEvent {
                event: Arc::downgrade(event),
                renderings: HashMap::new(),
            });
            entry.renderings.entry(key.clone()).or_default().clone()
        };
        if let Some(rendered) = cell.get() {
            return rendered.clone();
        }
        cell.get_or_init(|| async { Arc::new(render(key).await) })
            .await
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::stage_event;

    fn viewer(user_id: i64, role: Role) -> Viewer {
        Viewer {
            user_id,
            subject: format!("user-{user_id}"),
            role,
            expires_at: i64::MAX,
        }
    }

    fn event(owner: Option<i64>, to: &str) -> Event {
        let row = stage_event::Model {
            seq: 1,
            lead_id: 7,
            from_stage: Some("LEAD".into()),
            to_stage: to.into(),
            actor: "a".into(),
            reason: None,
            owner_id: owner,
            occurred_at: chrono::Utc::now(),
        };
        Event::new(row, None)
    }

    fn op(role: Role) -> Arc<SharedOperation> {
        let mut request = Request::new("subscription { leadQualified { cursor } }");
        shared_operation(&mut request, role).expect("shared")
    }

    fn op_with(query: &str, variables: serde_json::Value) -> Option<Arc<SharedOperation>> {
        let mut request =
            Request::new(query).variables(async_graphql::Variables::from_json(variables));
        shared_operation(&mut request, Role::Sales)
    }

    #[test]
    fn the_owner_of_the_lead_renders_alone_everyone_else_as_nobody() {
        let sales = op(Role::Sales);
        let e = event(Some(1), "SQL");
        let (owner, other, third) = (
            ShareKey::new(&sales, &viewer(1, Role::Sales), &e),
            ShareKey::new(&sales, &viewer(2, Role::Sales), &e),
            ShareKey::new(&sales, &viewer(3, Role::Sales), &e),
        );
        assert_eq!(owner.user_id, 1);
        assert_eq!(owner.viewer(&viewer(1, Role::Sales)).user_id, 1);
        assert_eq!(other.user_id, NOBODY);
        assert_eq!(other, third, "non-owners share");
        assert_ne!(owner, other);
        // MARKETING and ADMIN see everything: no user matters, but the role does.
        let m = ShareKey::new(&op(Role::Marketing), &viewer(1, Role::Marketing), &e);
        let a = ShareKey::new(&op(Role::Admin), &viewer(1, Role::Admin), &e);
        assert_eq!(m.user_id, NOBODY);
        assert_ne!(m, a);
        assert_ne!(m, other);
        assert_eq!(m.viewer(&viewer(1, Role::Marketing)).role, Role::Marketing);
    }

    #[test]
    fn only_the_variables_of_the_selection_set_are_in_the_key() {
        use serde_json::json;
        const Q: &str = "subscription($after: String, $n: Int) { leadQualified(after: $after) { \
            cursor lead { ...F } } } fragment F on Lead { interactions(first: $n) { edges { cursor } } }";
        let a = op_with(Q, json!({"after": "x", "n": 1})).expect("shared");
        let b = op_with(Q, json!({"after": "y", "n": 1})).expect("shared");
        let c = op_with(Q, json!({"after": "x", "n": 2})).expect("shared");
        assert_eq!(a, b, "the cursor only chooses the events");
        assert_ne!(
            a, c,
            "a variable of the selection set changes the rendering"
        );
        let other = op_with("subscription { leadQualified { to } }", json!({})).expect("shared");
        assert_ne!(a, other);
        assert_ne!(op(Role::Sales), op(Role::Marketing));
    }

    #[tokio::test]
    async fn renderings_are_shared_per_held_event_and_forgotten_with_it() {
        let cache = RenderCache::default();
        let sales = op(Role::Sales);
        let rendered = |n: &str| Rendered {
            payload: n.to_owned(),
            fatal: None,
        };
        let live = Arc::new(event(None, "SQL"));
        let key = ShareKey::new(&sales, &viewer(2, Role::Sales), &live);
        let first = cache
            .get_or_render(&live, key.clone(), |_| async { rendered("first") })
            .await;
        let again = cache
            .get_or_render(&live, key.clone(), |_| async { rendered("again") })
            .await;
        assert_eq!(again.payload, "first", "the same event and key share");
        // A follower's replayed copy of the same outbox row is rendered alone.
        let replayed = Arc::new(event(None, "SQL"));
        let own = cache
            .get_or_render(&replayed, key.clone(), |_| async { rendered("replay") })
            .await;
        assert_eq!(own.payload, "replay");
        drop((first, again, own));
        drop(live);
        drop(replayed);
        let next = Arc::new(event(None, "SQL"));
        let _ = cache
            .get_or_render(&next, key, |_| async { rendered("next") })
            .await;
        let held = cache.0.lock().expect("lock").len();
        assert_eq!(held, 1, "events no follower holds are forgotten");
    }

    #[test]
    fn only_single_field_subscriptions_are_shared() {
        use serde_json::json;
        let none = |q: &str| op_with(q, json!({})).is_none();
        assert!(none("query { me { id } }"));
        assert!(none(
            "subscription { a: leadQualified { to } b: leadQualified { to } }"
        ));
        assert!(none(
            "subscription { leadQualified @include(if: true) { to } }"
        ));
        assert!(none(
            "subscription { ... on SubscriptionRoot { leadQualified { to } } }"
        ));
        assert!(none("subscription { __typename }"));
        assert!(none("not graphql"));
        assert!(!none("subscription S { leadQualified { to } }"));
    }
}
