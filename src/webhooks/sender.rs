//! One HTTP attempt of a delivery: sign, POST, time it, classify the answer.
//!
//! The client follows no redirects and uses no proxy from the environment;
//! host names are resolved by [`CheckedResolver`], which drops every address
//! the SSRF rules refuse, so the connection goes only to a checked address
//! (a name that resolves to `127.0.0.1` cannot sneak past the check made at
//! creation). IP literals are checked before the request.

use super::address::{self, Host};
use super::signing;
use crate::error::{AppError, AppResult};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// At most this much of an answer's body is read (and then dropped).
const MAX_ANSWER: usize = 64 * 1024;

/// The outcome of one attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why it failed, in a few words (never the answer's body).
    pub error: Option<String>,
    /// Metric label: `succeeded`, `http_error`, `network_error`, `refused_address`.
    pub outcome: &'static str,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Resolves names with the system resolver and keeps only the addresses a
/// webhook may reach.
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || address::forbidden(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = if found.is_empty() {
                    format!("{host} does not resolve").into()
                } else {
                    format!("{host} resolves only to addresses webhooks may not reach").into()
                };
                return Err(err);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> AppResult<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("leadgraph-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(std::sync::Arc::new(CheckedResolver { allow_private }))
            .build()
            .map_err(|e| AppError::internal_from("building the webhook HTTP client", e))?;
        Ok(Sender {
            client,
            allow_private,
        })
    }

    /// POST `body` to `url`, signed with every secret in `secrets`.
    pub async fn send(
        &self,
        url: &str,
        secrets: &[&str],
        msg_id: &str,
        body: Vec<u8>,
    ) -> AppResult<Attempt> {
        let started = Instant::now();
        let refused = |why: String| Attempt {
            status: None,
            latency: started.elapsed(),
            error: Some(why),
            outcome: "refused_address",
        };
        // The rules may have changed since the URL was stored.
        let url = match address::check_url("url", url, self.allow_private) {
            Ok((url, Host::Ip(_) | Host::Name(_))) => url,
            Err(err) => return Ok(refused(err.to_string())),
        };
        let timestamp = crate::validate::now().timestamp();
        let signature = signing::header(secrets, msg_id, timestamp, &body)?;
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                let text = error_chain(&err);
                let outcome = if text.contains("may not reach") {
                    "refused_address"
                } else {
                    "network_error"
                };
                return Ok(Attempt {
                    status: None,
                    latency: started.elapsed(),
                    error: Some(text),
                    outcome,
                });
            }
        };
        let status = response.status().as_u16();
        // Drain a little of the answer so the connection can be reused.
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        let ok = (200..300).contains(&status);
        Ok(Attempt {
            status: Some(status),
            latency: started.elapsed(),
            error: (!ok).then(|| format!("HTTP {status}")),
            outcome: if ok { "succeeded" } else { "http_error" },
        })
    }
}

/// An error and its causes in one line, clipped.
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}
