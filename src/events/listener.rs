//! PostgreSQL: `LISTEN leadgraph_events` on a connection of its own, so an
//! event committed through any instance wakes this instance's dispatcher.
//!
//! A notification carries the event's sequence only and is only a wake-up:
//! the dispatcher reads the outbox past its last sequence. After every
//! (re)connection the dispatcher is woken too, since notifications sent while
//! the connection was down are lost; the periodic poll covers the rest.

use super::bus::Shared;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The channel `record_stage_change` notifies.
pub const CHANNEL: &str = "leadgraph_events";

pub(super) async fn run(url: String, application_name: String, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = Duration::from_millis(50);
    loop {
        match connect(&url, &application_name).await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(50);
                tracing::debug!(%application_name, "listening for events");
                shared.wake.notify_one();
                loop {
                    tokio::select! {
                        _ = stop.wait_for(|stopped| *stopped) => return,
                        received = listener.try_recv() => match received {
                            Ok(Some(_)) => shared.wake.notify_one(),
                            // Lost and already re-established (LISTEN again).
                            Ok(None) => {
                                tracing::info!("event listener reconnected");
                                shared.wake.notify_one();
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "event listener connection failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, ?backoff, "cannot LISTEN for events; retrying");
            }
        }
        // Whatever was committed meanwhile is found by the poll or the
        // re-read after the next connection.
        shared.wake.notify_one();
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(url: &str, application_name: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name(application_name);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
