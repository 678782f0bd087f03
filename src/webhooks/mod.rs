//! Signed webhooks built on the event outbox (docs/webhooks.md).
//!
//! A webhook is an outside URL that receives lead events as signed JSON
//! POSTs (the Standard Webhooks convention). Each webhook keeps its own
//! cursor in the outbox: a deliverer, run by exactly one instance at a time
//! (a lease row with expiry), turns the events after the cursor into
//! delivery rows in one transaction with the cursor's move, then sends the
//! due deliveries in order per lead, with retries. Nothing is lost across a
//! restart: the cursor and the deliveries are in the database.
//!
//! `model` (kinds, statuses, inputs), `signing`, `address` (SSRF rules),
//! `retry` (the schedule) and `payload` are pure; `sender` makes the HTTP
//! call, `service` is what the API asks, `worker` runs the deliverers.

pub mod address;
pub mod model;
pub mod payload;
pub mod retry;
pub mod sender;
pub mod service;
pub mod signing;
pub mod worker;

pub mod resolver;
pub mod types;

use crate::config::Config;
use crate::error::AppResult;
use std::sync::Arc;
use tokio::sync::Notify;

/// What the API and the worker of one instance share.
pub struct Webhooks {
    pub sender: sender::Sender,
    pub retry: retry::RetryPolicy,
    pub allow_private: bool,
    /// Wakes this instance's deliverers (a new webhook, a redelivery, a
    /// reactivation); other instances notice at their next poll.
    pub wake: Arc<Notify>,
    /// Set when this instance's manager has stopped and released its leases.
    pub finished: tokio::sync::watch::Sender<bool>,
}

impl Webhooks {
    pub fn from_config(config: &Config) -> AppResult<Self> {
        Ok(Webhooks {
            sender: sender::Sender::new(config.webhook_timeout, config.webhook_allow_private)?,
            retry: retry::RetryPolicy {
                base: config.webhook_retry_base,
                max_delay: config.webhook_retry_max_delay,
                window: config.webhook_retry_window,
            },
            allow_private: config.webhook_allow_private,
            wake: Arc::new(Notify::new()),
            finished: tokio::sync::watch::channel(false).0,
        })
    }

    /// Wait (at most `limit`) until the manager has let its attempts in
    /// flight finish and released its leases, after the event bus stopped.
    pub async fn wait_finished(&self, limit: std::time::Duration) {
        let mut finished = self.finished.subscribe();
        if tokio::time::timeout(limit, finished.wait_for(|done| *done))
            .await
            .is_err()
        {
            tracing::warn!("webhook deliverers still running at exit; their leases expire");
        }
    }
}
