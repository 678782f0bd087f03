//! The event bus of one instance (docs/events.md).
//!
//! One dispatcher per instance reads new outbox rows once, by sequence, and
//! broadcasts them (`Arc<Event>`) to every subscriber of the instance; a
//! subscriber costs no query per event. The dispatcher is woken right after a
//! GraphQL mutation commits (the HTTP and WebSocket handlers call
//! [`EventBus::wake`]), by
//! PostgreSQL `NOTIFY` (see `listener`), and by a periodic poll, the safety net
//! for writes made outside a request and for dropped notifications.
//!
//! Its position `P` means "every event with `seq <= P` is final". On SQLite
//! that holds for whatever a read returns: one writer connection commits in
//! sequence order. On PostgreSQL, transactions commit in any order, so a
//! sequence value can become visible after a higher one. When a read shows a
//! gap, the dispatcher waits until every transaction that was writing to the
//! outbox at that moment (seen in `pg_locks`) has ended, re-reads, and only
//! then steps past what is still missing (a rolled-back transaction).
//!
//! A subscriber takes `(receiver, P)` atomically, replays `(after, P]` from
//! the outbox, then follows the broadcast, skipping `seq <= last`. When it
//! lags behind the broadcast buffer it re-reads the outbox past its last
//! sequence: events are never silently skipped.

use super::outbox;
use crate::auth::policy::{LeadFacts, LeadScope};
use crate::config::Config;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::leads::lifecycle::LeadStage;
use entity::{lead, stage_event};
use futures::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};

/// Outbox rows read at once.
const PAGE: u64 = 500;
/// How soon a pending PostgreSQL gap is checked again.
const GAP_RECHECK: Duration = Duration::from_millis(10);
/// How often the retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long start-up waits for in-flight outbox writers before it goes on.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// One outbox event as the bus hands it out.
#[derive(Debug)]
pub struct Event {
    pub row: stage_event::Model,
    /// The lead as it was read with the event (`None`: merged away since).
    pub lead: Option<lead::Model>,
}

impl Event {
    pub fn new(row: stage_event::Model, lead: Option<lead::Model>) -> Self {
        Event { row, lead }
    }
}

impl Event {
    pub fn to_stage(&self) -> AppResult<LeadStage> {
        LeadStage::from_code(&self.row.to_stage)
    }
}

/// Which events a subscriber receives.
#[derive(Clone, Debug)]
pub struct Filter {
    /// The viewer's scope, applied to the lead as it is right after the
    /// change: the event's `to` stage and owner.
    pub scope: LeadScope,
    /// `None`: every stage.
    pub to_stages: Option<Vec<LeadStage>>,
}

impl Filter {
    /// An event whose stage cannot be read is admitted to no one (and logged).
    pub fn admits(&self, row: &stage_event::Model) -> bool {
        let to = match LeadStage::from_code(&row.to_stage) {
            Ok(to) => to,
            Err(err) => {
                tracing::error!(seq = row.seq, error = %err, "unreadable outbox event");
                return false;
            }
        };
        self.to_stages.as_ref().is_none_or(|s| s.contains(&to))
            && self.scope.admits(LeadFacts {
                stage: to,
                owner_id: row.owner_id,
            })
    }
}

/// Why a subscription stream ended early.
#[derive(Debug, Clone)]
pub enum FollowError {
    /// The missed events could not be read, or the server is stopping:
    /// resubscribe with the cursor of `resume_after`.
    Interrupted { resume_after: i64 },
    /// The retention deleted events the subscriber had not received.
    Expired(AppError),
}

/// The bus of one instance; dropping the last handle stops its tasks.
pub struct EventBus {
    shared: Arc<Shared>,
    listener_name: Option<String>,
}

pub(super) struct Shared {
    sender: broadcast::Sender<Arc<Event>>,
    /// The dispatcher's position; held while sending, so that a new
    /// subscriber gets a receiver and a position that agree.
    position: Mutex<i64>,
    pub(super) wake: Notify,
    pub(super) stop: watch::Sender<bool>,
    /// The dispatcher's position after each batch, for followers that read
    /// the outbox themselves (the webhook deliverers).
    progress: watch::Sender<i64>,
    retention_days: u32,
}

fn locked(m: &Mutex<i64>) -> MutexGuard<'_, i64> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn subscribe(&self) -> (broadcast::Receiver<Arc<Event>>, i64) {
        let position = locked(&self.position);
        (self.sender.subscribe(), *position)
    }

    fn position(&self) -> i64 {
        *locked(&self.position)
    }

    fn publish(&self, event: Arc<Event>) {
        let mut position = locked(&self.position);
        *position = event.row.seq;
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(event);
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.shared.stop.send_replace(true);
    }
}

impl EventBus {
    /// Prune, find the present, and start the dispatcher (and, on
    /// PostgreSQL, the listener) of this instance.
    pub async fn start(db: &Db, config: &Config) -> AppResult<Arc<EventBus>> {
        if let Err(err) = outbox::prune(&db.write, config.event_retention_days).await {
            tracing::warn!(error = %err, "event retention failed at start");
        }
        let postgres = db.backend() == DbBackend::Postgres;
        let position = if postgres {
            settle(&db.read).await?
        } else {
            outbox::max_seq(&db.read).await?
        };
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            sender: broadcast::channel(config.event_buffer.max(1)).0,
            position: Mutex::new(position),
            wake: Notify::new(),
            stop,
            progress: watch::channel(position).0,
            retention_days: config.event_retention_days,
        });
        let listener_name = format!("leadgraph-events-{}", uuid::Uuid::new_v4().simple());
        let dispatcher = Dispatcher {
            shared: shared.clone(),
            read: db.read.clone(),
            write: db.write.clone(),
            postgres,
            poll: config.event_poll_interval.max(Duration::from_millis(10)),
            last: position,
            final_through: position,
            pending: None,
        };
        tokio::spawn(dispatcher.run());
        if postgres {
            tokio::spawn(super::listener::run(
                config.database_url.clone(),
                listener_name.clone(),
                shared.clone(),
            ));
        }
        tracing::debug!(position, "event bus started");
        Ok(Arc::new(EventBus {
            shared,
            listener_name: postgres.then_some(listener_name),
        }))
    }

    /// Read the outbox now (after a commit that may have added events).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Stop the dispatcher and listener and end every subscription.
    pub fn shutdown(&self) {
        self.shared.stop.send_replace(true);
    }

    /// Resolves when the bus is shut down.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.shared.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        }
    }

    /// Whether the bus has been shut down.
    pub fn is_stopped(&self) -> bool {
        *self.shared.stop.borrow()
    }

    /// Everything up to this sequence has been dispatched.
    pub fn position(&self) -> i64 {
        self.shared.position()
    }

    /// The `application_name` of the PostgreSQL LISTEN connection.
    pub fn listener_name(&self) -> Option<&str> {
        self.listener_name.as_deref()
    }

    /// The dispatcher's position, changed after each dispatched batch:
    /// every event up to it is final (no PostgreSQL gap can fill below it).
    pub fn progress(&self) -> watch::Receiver<i64> {
        self.shared.progress.subscribe()
    }

    pub fn retention_days(&self) -> u32 {
        self.shared.retention_days
    }

    /// The events `filter` admits: those after `after` (replayed from the
    /// outbox), or from now on when `after` is `None`; then live, in order.
    pub fn follow(
        &self,
        db: DatabaseConnection,
        filter: Filter,
        after: Option<i64>,
    ) -> impl Stream<Item = Result<Arc<Event>, FollowError>> + Send + 'static + use<> {
        let (rx, position) = self.shared.subscribe();
        let follower = Follower {
            shared: self.shared.clone(),
            stop: self.shared.stop.subscribe(),
            db,
            filter,
            rx,
            last: after.unwrap_or(position),
            catch_up_to: position,
            buffered: VecDeque::new(),
            done: false,
        };
        futures::stream::unfold(follower, |mut f| async move {
            let item = f.next().await?;
            Some((item, f))
        })
    }
}

/// PostgreSQL: the present at start-up, once every transaction that was
/// writing to the outbox has ended (so nothing below it can still appear).
async fn settle(db: &DatabaseConnection) -> AppResult<i64> {
    let position = outbox::max_seq(db).await?;
    let writers = outbox_writers(db).await?;
    let started = Instant::now();
    while any_alive(db, &writers).await? {
        if started.elapsed() > SETTLE_LIMIT {
            tracing::warn!(
                ?writers,
                "outbox writers still running after {SETTLE_LIMIT:?}; starting anyway"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(position)
}

const OUTBOX_WRITERS: &str = "SELECT virtualtransaction FROM pg_locks \
    WHERE locktype = 'relation' AND granted AND mode = 'RowExclusiveLock' \
    AND relation = 'stage_event'::regclass \
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// The (virtual) transactions holding a write lock on the outbox right now.
async fn outbox_writers(db: &DatabaseConnection) -> AppResult<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, OUTBOX_WRITERS))
        .await?;
    rows.iter()
        .map(|r| {
            r.try_get::<String>("", "virtualtransaction")
                .map_err(AppError::from)
        })
        .collect()
}

/// Whether any of `writers` is still running.
async fn any_alive(db: &DatabaseConnection, writers: &[String]) -> AppResult<bool> {
    if writers.is_empty() {
        return Ok(false);
    }
    let now = outbox_writers(db).await?;
    Ok(writers.iter().any(|w| now.contains(w)))
}

/// A PostgreSQL gap: sequences up to `through` may still appear until
/// `writers` have all ended.
struct Pending {
    through: i64,
    writers: Vec<String>,
}

struct Dispatcher {
    shared: Arc<Shared>,
    read: DatabaseConnection,
    write: DatabaseConnection,
    postgres: bool,
    poll: Duration,
    /// The last event dispatched.
    last: i64,
    /// Every sequence up to here is final even if missing (PostgreSQL).
    final_through: i64,
    pending: Option<Pending>,
}

impl Dispatcher {
    async fn run(mut self) {
        let mut stop = self.shared.stop.subscribe();
        let mut next_prune = Instant::now() + PRUNE_EVERY;
        loop {
            let wait = if self.pending.is_some() {
                GAP_RECHECK
            } else {
                self.poll
            };
            tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => break,
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            if let Err(err) = self.pump().await {
                tracing::warn!(error = %err, last = self.last, "reading the event outbox failed; retrying");
            }
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                if let Err(err) = outbox::prune(&self.write, self.shared.retention_days).await {
                    tracing::warn!(error = %err, "event retention failed");
                }
            }
        }
        tracing::debug!(last = self.last, "event dispatcher stopped");
    }

    /// Dispatch every new final event.
    async fn pump(&mut self) -> AppResult<()> {
        loop {
            let rows = outbox::read_after(&self.read, self.last, None, PAGE).await?;
            let full = rows.len() as u64 == PAGE;
            let high = rows.last().map_or(self.last, |r| r.seq);
            let mut ready = Vec::with_capacity(rows.len());
            let mut gap = None;
            let mut expected = self.last + 1;
            for row in rows {
                if !self.postgres || row.seq == expected || row.seq <= self.final_through {
                    expected = row.seq + 1;
                    ready.push(row);
                } else {
                    gap = Some(row.seq);
                    break;
                }
            }
            self.dispatch(ready).await?;
            if self
                .pending
                .as_ref()
                .is_some_and(|p| p.through <= self.last)
            {
                self.pending = None;
            }
            let Some(_first_after_gap) = gap else {
                if full {
                    continue;
                }
                return Ok(());
            };
            match self.pending.take() {
                None => {
                    let writers = outbox_writers(&self.read).await?;
                    self.pending = Some(Pending {
                        through: high,
                        writers,
                    });
                    return Ok(());
                }
                Some(pending) => {
                    if any_alive(&self.read, &pending.writers).await? {
                        self.pending = Some(pending);
                        return Ok(());
                    }
                    // Whatever is still missing up to `through` was rolled
                    // back; re-read once more, then step past it.
                    self.final_through = self.final_through.max(pending.through);
                }
            }
        }
    }

    async fn dispatch(&mut self, rows: Vec<stage_event::Model>) -> AppResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let refs: Vec<&stage_event::Model> = rows.iter().collect();
        let leads = outbox::load_leads(&self.read, &refs).await?;
        let count = rows.len();
        for row in rows {
            let seq = row.seq;
            let lead = leads.get(&row.lead_id).cloned();
            self.shared.publish(Arc::new(Event::new(row, lead)));
            self.last = seq;
        }
        self.shared.progress.send_replace(self.last);
        metrics::counter!("leadgraph_events_dispatched_total").increment(count as u64);
        Ok(())
    }
}

/// One subscriber's position in the event stream.
struct Follower {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    db: DatabaseConnection,
    filter: Filter,
    rx: broadcast::Receiver<Arc<Event>>,
    /// The last sequence handled (delivered or filtered out).
    last: i64,
    /// Replay from the outbox while `last` is below this.
    catch_up_to: i64,
    buffered: VecDeque<Arc<Event>>,
    done: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<Arc<Event>, FollowError>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.buffered.pop_front() {
                return Some(Ok(event));
            }
            if self.last < self.catch_up_to {
                if let Err(err) = self.replay_page().await {
                    self.done = true;
                    return Some(Err(err));
                }
                continue;
            }
            let received = tokio::select! {
                biased;
                received = self.rx.recv() => received,
                _ = self.stop.wait_for(|stopped| *stopped) => {
                    self.done = true;
                    return Some(Err(FollowError::Interrupted { resume_after: self.last }));
                }
            };
            match received {
                Ok(event) => {
                    if event.row.seq <= self.last {
                        continue;
                    }
                    self.last = event.row.seq;
                    if self.filter.admits(&event.row) {
                        return Some(Ok(event));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        last = self.last,
                        "subscriber lagged; reading the outbox"
                    );
                    metrics::counter!("leadgraph_event_subscriber_lagged_total").increment(1);
                    self.catch_up_to = self.shared.position();
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(FollowError::Interrupted {
                        resume_after: self.last,
                    }));
                }
            }
        }
    }

    /// Read the next page of `(last, catch_up_to]` from the outbox.
    async fn replay_page(&mut self) -> Result<(), FollowError> {
        let interrupted = |last: i64, err: AppError| {
            tracing::warn!(error = %err, last, "replaying events failed");
            FollowError::Interrupted { resume_after: last }
        };
        let rows = outbox::read_after(&self.db, self.last, Some(self.catch_up_to), PAGE)
            .await
            .map_err(|e| interrupted(self.last, e))?;
        // Read after the page: a prune that committed before the page was
        // read shows here.
        let pruned = outbox::pruned_through(&self.db)
            .await
            .map_err(|e| interrupted(self.last, e))?;
        if pruned > self.last {
            return Err(FollowError::Expired(outbox::expired(
                self.shared.retention_days,
            )));
        }
        let visible: Vec<&stage_event::Model> =
            rows.iter().filter(|r| self.filter.admits(r)).collect();
        let leads = outbox::load_leads(&self.db, &visible)
            .await
            .map_err(|e| interrupted(self.last, e))?;
        let exhausted = (rows.len() as u64) < PAGE;
        for row in rows {
            self.last = row.seq;
            if self.filter.admits(&row) {
                let lead = leads.get(&row.lead_id).cloned();
                self.buffered.push_back(Arc::new(Event::new(row, lead)));
            }
        }
        if exhausted {
            // Everything up to the dispatcher's position is final.
            self.last = self.last.max(self.catch_up_to);
        }
        Ok(())
    }
}
