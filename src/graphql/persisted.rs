//! Persisted operations, for both transports: what a client's
//! `{query?, extensions.persistedQuery}` stands for, resolved into the
//! document text before the executor sees it (the same text as the full
//! document, so prepared plans, keyed by text, keep working).
//!
//! - **Automatic persisted queries** (Apollo's APQ, version 1): a client
//!   sends `extensions.persistedQuery.sha256Hash` alone; an unknown hash is
//!   `PersistedQueryNotFound`, and the client sends it again with the
//!   `query`, which is checked against the hash, kept in a bounded cache
//!   (`LEADGRAPH_APQ_CACHE_SIZE` bytes of document text) and run.
//!   `LEADGRAPH_APQ=false` turns registration off (`PersistedQueryNotSupported`).
//! - **Trusted documents**: the operations of an Apollo persisted query
//!   manifest (`LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST`), loaded and checked at
//!   startup, are always known by their hash; with
//!   `LEADGRAPH_TRUSTED_DOCUMENTS=only` no other document runs.
//!
//! Codes and HTTP statuses: docs/errors.md#persisted-operations.

use crate::config::{Config, TrustedDocuments};
use crate::error::AppError;
use async_graphql::parser::types::OperationType;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The APQ protocol version spoken here.
pub const APQ_VERSION: u64 = 1;

/// The `format` of an Apollo persisted query manifest.
pub const MANIFEST_FORMAT: &str = "apollo-persisted-query-manifest";

const MANIFEST_SETTING: &str = "LEADGRAPH_TRUSTED_DOCUMENTS_MANIFEST";

/// A SHA-256 digest of a document's text.
pub type DocumentHash = [u8; 32];

/// The SHA-256 of `text`.
pub fn sha256(text: &str) -> DocumentHash {
    Sha256::digest(text.as_bytes()).into()
}

/// `hash` as 64 lowercase hexadecimal digits, as clients send it.
pub fn to_hex(hash: &DocumentHash) -> String {
    use std::fmt::Write;
    hash.iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// A hash written as 64 hexadecimal digits (either case).
fn parse_hex(text: &str) -> Option<DocumentHash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

/// Why a persisted operation could not be resolved into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedError {
    /// A hash alone, unknown here: the client should send the query too.
    NotFound,
    /// Automatic persisted queries are off and the hash is not a trusted
    /// document: the client should send the query without the extension.
    NotSupported,
    /// `LEADGRAPH_TRUSTED_DOCUMENTS=only` and the document is not in the
    /// manifest.
    NotTrusted,
    /// A malformed extension, another version, or a query whose hash is not
    /// the one sent: `BAD_USER_INPUT` on `field`.
    BadInput {
        field: &'static str,
        message: String,
    },
}

impl PersistedError {
    pub fn code(&self) -> &'static str {
        match self {
            PersistedError::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            PersistedError::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            PersistedError::NotTrusted => "PERSISTED_QUERY_NOT_TRUSTED",
            PersistedError::BadInput { .. } => "BAD_USER_INPUT",
        }
    }

    /// The message; the first two are the exact words Apollo's clients look
    /// for besides the code (older ones and other libraries only for them).
    pub fn message(&self) -> &str {
        match self {
            PersistedError::NotFound => "PersistedQueryNotFound",
            PersistedError::NotSupported => "PersistedQueryNotSupported",
            PersistedError::NotTrusted => {
                "persisted operations only: this server runs only the operations of its trusted documents manifest, sent by their hash (extensions.persistedQuery.sha256Hash)"
            }
            PersistedError::BadInput { message, .. } => message,
        }
    }

    /// The argument `extensions.field` names, for `BAD_USER_INPUT`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PersistedError::BadInput { field, .. } => Some(field),
            _ => None,
        }
    }

    fn bad(field: &'static str, message: impl Into<String>) -> Self {
        PersistedError::BadInput {
            field,
            message: message.into(),
        }
    }
}

/// Whether `extensions` carries a `persistedQuery` (then `query` may be
/// left out).
pub fn has_persisted_query(extensions: Option<&serde_json::Value>) -> bool {
    extensions
        .and_then(|e| e.get("persistedQuery"))
        .is_some_and(|pq| !pq.is_null())
}

/// The hash of `extensions.persistedQuery`, when there is one.
fn requested_hash(
    extensions: Option<&serde_json::Value>,
) -> Result<Option<DocumentHash>, PersistedError> {
    let Some(pq) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    if pq.is_null() {
        return Ok(None);
    }
    let serde_json::Value::Object(pq) = pq else {
        return Err(PersistedError::bad(
            "extensions.persistedQuery",
            "`extensions.persistedQuery` must be an object {version, sha256Hash}",
        ));
    };
    match pq.get("version") {
        Some(v) if v.as_u64() == Some(APQ_VERSION) => {}
        _ => {
            return Err(PersistedError::bad(
                "extensions.persistedQuery.version",
                format!("unsupported persisted query version: only {APQ_VERSION} is supported"),
            ));
        }
    }
    pq.get("sha256Hash")
        .and_then(serde_json::Value::as_str)
        .and_then(parse_hex)
        .map(Some)
        .ok_or_else(|| {
            PersistedError::bad(
                "extensions.persistedQuery.sha256Hash",
                "`sha256Hash` must be the SHA-256 of the document as 64 hexadecimal digits",
            )
        })
}

/// The document a request runs, and whether it is to be registered once it
/// has passed the checks made before execution.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub query: String,
    pub registration: Registration,
}

/// The hash under which a resolved document is to be registered, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration(Option<DocumentHash>);

/// The persisted operations of this instance: trusted documents and the
/// automatic persisted queries registered here.
pub struct Persisted {
    /// The manifest's operations: never evicted.
    trusted: HashMap<DocumentHash, Arc<str>>,
    /// Only trusted documents run.
    only: bool,
    /// Registered documents, weighed by their length in bytes; `None` when
    /// automatic persisted queries are off.
    registered: Option<moka::sync::Cache<DocumentHash, Arc<str>>>,
}

impl Persisted {
    /// The settings' persisted operations: the manifest read and checked;
    /// an error names the setting and the offending entry.
    pub fn from_config(config: &Config) -> Result<Self, AppError> {
        let only = config.trusted_documents == TrustedDocuments::Only;
        let trusted = match &config.trusted_documents_manifest {
            Some(path) => load_manifest(path)?,
            None if only => {
                return Err(AppError::config(
                    "LEADGRAPH_TRUSTED_DOCUMENTS",
                    format!(
                        "`only` needs a manifest of the trusted documents in {MANIFEST_SETTING}"
                    ),
                ));
            }
            None => HashMap::new(),
        };
        if !trusted.is_empty() {
            tracing::info!(operations = trusted.len(), only, "trusted documents loaded");
        }
        let registered = config.apq.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.apq_cache_size)
                // Admission by frequency: a flood of one-off registrations
                // does not evict the documents clients keep using.
                .eviction_policy(moka::policy::EvictionPolicy::tiny_lfu())
                .weigher(|_, text: &Arc<str>| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build()
        });
        Ok(Persisted {
            trusted,
            only,
            registered,
        })
    }

    /// The document of one operation: `query` as sent, or the one
    /// `extensions.persistedQuery` names.
    pub fn resolve(
        &self,
        query: Option<String>,
        extensions: Option<&serde_json::Value>,
    ) -> Result<Resolved, PersistedError> {
        let hash = requested_hash(extensions)?;
        let resolved = match (hash, query) {
            (None, None) => Err(PersistedError::bad("query", "`query` is required")),
            (None, Some(query)) => {
                if self.only && !self.trusted.contains_key(&sha256(&query)) {
                    Err(PersistedError::NotTrusted)
                } else {
                    Ok(Resolved {
                        query,
                        registration: Registration(None),
                    })
                }
            }
            (Some(hash), None) => self.lookup(&hash).map(|text| Resolved {
                query: text.to_string(),
                registration: Registration(None),
            }),
            (Some(hash), Some(query)) => {
                if sha256(&query) != hash {
                    Err(PersistedError::bad(
                        "extensions.persistedQuery.sha256Hash",
                        "the `query` does not have this `sha256Hash`: hash the document exactly as sent",
                    ))
                } else if self.trusted.contains_key(&hash) {
                    Ok(Resolved {
                        query,
                        registration: Registration(None),
                    })
                } else if self.only {
                    Err(PersistedError::NotTrusted)
                } else if self.registered.is_none() {
                    Err(PersistedError::NotSupported)
                } else {
                    Ok(Resolved {
                        query,
                        registration: Registration(Some(hash)),
                    })
                }
            }
        };
        let outcome = match &resolved {
            Ok(Resolved {
                registration: Registration(Some(_)),
                ..
            }) => "registration",
            Ok(_) if hash.is_some() => "hit",
            Ok(_) => return resolved,
            Err(PersistedError::NotFound) => "miss",
            Err(_) => "refused",
        };
        metrics::counter!("leadgraph_persisted_queries_total", "outcome" => outcome).increment(1);
        resolved
    }

    fn lookup(&self, hash: &DocumentHash) -> Result<Arc<str>, PersistedError> {
        if let Some(text) = self.trusted.get(hash) {
            return Ok(text.clone());
        }
        if self.only {
            return Err(PersistedError::NotTrusted);
        }
        let registered = self
            .registered
            .as_ref()
            .ok_or(PersistedError::NotSupported)?;
        registered.get(hash).ok_or(PersistedError::NotFound)
    }

    /// Keep a resolved registration: called once its document has parsed
    /// and passed the limits, so only documents that can run are kept.
    pub fn register(&self, registration: Registration, text: &str) {
        if let (Registration(Some(hash)), Some(cache)) = (registration, &self.registered) {
            cache.insert(hash, Arc::from(text));
            // Registrations are rare (once per document and instance):
            // evicting at once keeps the bound exact rather than eventual.
            cache.run_pending_tasks();
        }
    }
}

#[derive(Deserialize)]
struct Manifest {
    format: String,
    version: u64,
    operations: Vec<ManifestOperation>,
}

#[derive(Deserialize)]
struct ManifestOperation {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    body: String,
}

/// Read and check an Apollo persisted query manifest: its format and
/// version, and for every operation that its id is the SHA-256 of its body,
/// that the body parses and that it defines the named operation of the
/// declared type.
fn load_manifest(path: &Path) -> Result<HashMap<DocumentHash, Arc<str>>, AppError> {
    let fail = |message: String| AppError::config(MANIFEST_SETTING, message);
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    parse_manifest(&text).map_err(|message| fail(format!("{shown}: {message}")))
}

fn parse_manifest(text: &str) -> Result<HashMap<DocumentHash, Arc<str>>, String> {
    let manifest: Manifest = serde_json::from_str(text)
        .map_err(|e| format!("not an Apollo persisted query manifest: {e}"))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(format!(
            "`format` is {:?}; expected {MANIFEST_FORMAT:?}",
            manifest.format
        ));
    }
    if manifest.version != 1 {
        return Err(format!(
            "`version` is {}; only version 1 is supported",
            manifest.version
        ));
    }
    let mut trusted = HashMap::with_capacity(manifest.operations.len());
    for (i, op) in manifest.operations.into_iter().enumerate() {
        let entry = format!("operations[{i}] (name {:?}, id {:?})", op.name, op.id);
        let hash = sha256(&op.body);
        let Some(id) = parse_hex(&op.id) else {
            return Err(format!("{entry}: `id` must be 64 hexadecimal digits"));
        };
        if id != hash {
            return Err(format!(
                "{entry}: `id` is not the SHA-256 of `body` (which is {})",
                to_hex(&hash)
            ));
        }
        let document = async_graphql::parser::parse_query(&op.body)
            .map_err(|e| format!("{entry}: `body` does not parse: {e}"))?;
        let expected = match op.kind.as_str() {
            "query" => OperationType::Query,
            "mutation" => OperationType::Mutation,
            "subscription" => OperationType::Subscription,
            other => {
                return Err(format!(
                    "{entry}: `type` is {other:?}; expected query, mutation or subscription"
                ));
            }
        };
        let found = document
            .operations
            .iter()
            .find(|(name, _)| name.is_some_and(|n| n.as_str() == op.name));
        match found {
            Some((_, operation)) if operation.node.ty == expected => {}
            Some(_) => {
                return Err(format!(
                    "{entry}: operation {:?} is not a {}",
                    op.name, op.kind
                ));
            }
            None => {
                return Err(format!(
                    "{entry}: `body` defines no operation named {:?}",
                    op.name
                ));
            }
        }
        trusted.insert(hash, Arc::from(op.body));
    }
    Ok(trusted)
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const QUERY: &str = "query Me { me { id } }";

    fn config(configure: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::for_database("sqlite::memory:");
        configure(&mut config);
        config
    }

    fn store(configure: impl FnOnce(&mut Config)) -> Persisted {
        Persisted::from_config(&config(configure)).expect("persisted")
    }

    fn manifest_of(operations: &[(&str, &str, &str)]) -> String {
        let operations: Vec<_> = operations
            .iter()
            .map(|(name, kind, body)| {
                json!({"id": to_hex(&sha256(body)), "name": name, "type": kind, "body": body})
            })
            .collect();
        json!({"format": MANIFEST_FORMAT, "version": 1, "operations": operations}).to_string()
    }

    /// A store whose manifest holds `QUERY`, in mode `mode`.
    fn trusted(mode: TrustedDocuments, apq: bool) -> (Persisted, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, manifest_of(&[("Me", "query", QUERY)])).expect("write");
        let persisted = store(|c| {
            c.trusted_documents = mode;
            c.trusted_documents_manifest = Some(path);
            c.apq = apq;
        });
        (persisted, dir)
    }

    fn ext(hash: &str) -> serde_json::Value {
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
    }

    fn hash_of(text: &str) -> String {
        to_hex(&sha256(text))
    }

    /// Resolve, registering as the executor does once admitted.
    fn run(
        p: &Persisted,
        query: Option<&str>,
        extensions: Option<serde_json::Value>,
    ) -> Result<String, PersistedError> {
        let resolved = p.resolve(query.map(str::to_owned), extensions.as_ref())?;
        p.register(resolved.registration, &resolved.query);
        Ok(resolved.query)
    }

    #[test]
    fn hashes_are_sha256_in_lowercase_hex() {
        assert_eq!(
            hash_of(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let upper = hash_of(QUERY).to_ascii_uppercase();
        assert_eq!(parse_hex(&upper), Some(sha256(QUERY)));
        for bad in ["", "abc", &"g".repeat(64), &"é".repeat(32), &"a".repeat(65)] {
            assert_eq!(parse_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_extension_is_checked_before_anything() {
        let p = store(|_| {});
        let field = |r: Result<String, PersistedError>| r.expect_err("refused").field();
        assert_eq!(
            field(run(&p, None, Some(json!({"persistedQuery": "abc"})))),
            Some("extensions.persistedQuery")
        );
        for version in [json!(2), json!("1"), json!(null)] {
            let e = json!({"persistedQuery": {"version": version, "sha256Hash": hash_of(QUERY)}});
            let err = run(&p, Some(QUERY), Some(e)).expect_err("refused");
            assert_eq!(err.code(), "BAD_USER_INPUT");
            assert_eq!(err.field(), Some("extensions.persistedQuery.version"));
        }
        for hash in [json!("xyz"), json!(1), json!(null)] {
            let e = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
            assert_eq!(
                field(run(&p, None, Some(e))),
                Some("extensions.persistedQuery.sha256Hash")
            );
        }
        // No extension, a null one, or other extensions: the query as sent.
        assert_eq!(run(&p, Some(QUERY), None).as_deref(), Ok(QUERY));
        let other = json!({"persistedQuery": null, "tracing": true});
        assert_eq!(run(&p, Some(QUERY), Some(other)).as_deref(), Ok(QUERY));
        assert_eq!(
            run(&p, None, None).expect_err("no document").field(),
            Some("query")
        );
    }

    #[test]
    fn automatic_persisted_queries_miss_then_register_then_hit() {
        let p = store(|_| {});
        let hash = hash_of(QUERY);
        assert_eq!(
            run(&p, None, Some(ext(&hash))),
            Err(PersistedError::NotFound)
        );
        assert_eq!(PersistedError::NotFound.message(), "PersistedQueryNotFound");
        assert_eq!(run(&p, Some(QUERY), Some(ext(&hash))).as_deref(), Ok(QUERY));
        assert_eq!(run(&p, None, Some(ext(&hash))).as_deref(), Ok(QUERY));
        // Either letter case names the same document.
        let upper = hash.to_ascii_uppercase();
        assert_eq!(run(&p, None, Some(ext(&upper))).as_deref(), Ok(QUERY));
    }

    #[test]
    fn nothing_is_registered_before_the_executor_admits_it() {
        let p = store(|_| {});
        let hash = hash_of(QUERY);
        let resolved = p
            .resolve(Some(QUERY.to_owned()), Some(&ext(&hash)))
            .expect("resolves");
        assert_eq!(resolved.query, QUERY);
        // Not registered (the document failed a limit, say).
        assert_eq!(
            run(&p, None, Some(ext(&hash))),
            Err(PersistedError::NotFound)
        );
    }

    #[test]
    fn a_query_must_have_the_hash_it_is_sent_with() {
        let p = store(|_| {});
        let other = "query Other { me { id name } }";
        let err = run(&p, Some(other), Some(ext(&hash_of(QUERY)))).expect_err("mismatch");
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert_eq!(err.field(), Some("extensions.persistedQuery.sha256Hash"));
        // Nobody can make a hash stand for another document.
        assert_eq!(
            run(&p, None, Some(ext(&hash_of(QUERY)))),
            Err(PersistedError::NotFound)
        );
        // One changed character is another document.
        let spaced = format!("{QUERY} ");
        assert!(run(&p, Some(&spaced), Some(ext(&hash_of(QUERY)))).is_err());
    }

    #[test]
    fn with_apq_off_only_trusted_documents_are_known_by_hash() {
        let p = store(|c| c.apq = false);
        let hash = hash_of(QUERY);
        assert_eq!(
            run(&p, None, Some(ext(&hash))),
            Err(PersistedError::NotSupported)
        );
        assert_eq!(
            run(&p, Some(QUERY), Some(ext(&hash))),
            Err(PersistedError::NotSupported)
        );
        assert_eq!(run(&p, Some(QUERY), None).as_deref(), Ok(QUERY));
        let (p, _dir) = trusted(TrustedDocuments::Off, false);
        assert_eq!(run(&p, None, Some(ext(&hash))).as_deref(), Ok(QUERY));
        let other = "{ me { id } }";
        assert_eq!(
            run(&p, None, Some(ext(&hash_of(other)))),
            Err(PersistedError::NotSupported)
        );
    }

    #[test]
    fn only_mode_runs_manifest_operations_and_nothing_else() {
        let (p, _dir) = trusted(TrustedDocuments::Only, true);
        let hash = hash_of(QUERY);
        assert_eq!(run(&p, None, Some(ext(&hash))).as_deref(), Ok(QUERY));
        assert_eq!(run(&p, Some(QUERY), Some(ext(&hash))).as_deref(), Ok(QUERY));
        // The text of a manifest operation is that operation.
        assert_eq!(run(&p, Some(QUERY), None).as_deref(), Ok(QUERY));
        let other = "{ me { id } }";
        let introspection = "{ __schema { types { name } } }";
        for refused in [
            run(&p, Some(other), None),
            run(&p, Some(introspection), None),
            run(&p, None, Some(ext(&hash_of(other)))),
            run(&p, Some(other), Some(ext(&hash_of(other)))),
        ] {
            assert_eq!(refused, Err(PersistedError::NotTrusted));
        }
        assert!(
            PersistedError::NotTrusted
                .message()
                .starts_with("persisted operations only")
        );
        // The refused registration was not kept.
        assert_eq!(
            p.registered.as_ref().map(|c| {
                c.run_pending_tasks();
                c.entry_count()
            }),
            Some(0)
        );
    }

    #[test]
    fn the_cache_holds_at_most_its_size_in_document_bytes() {
        let p = store(|c| c.apq_cache_size = 1_000);
        let documents: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    "query Q{i:03} {{ me {{ id name email role }} }} # {}",
                    "x".repeat(60)
                )
            })
            .collect();
        for doc in &documents {
            run(&p, Some(doc), Some(ext(&hash_of(doc)))).expect("registered");
        }
        let cache = p.registered.as_ref().expect("apq on");
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= 1_000, "{}", cache.weighted_size());
        let kept = documents
            .iter()
            .filter(|doc| run(&p, None, Some(ext(&hash_of(doc)))).is_ok())
            .count();
        assert!(kept < documents.len() / 2, "{kept} kept");
        // A document larger than the whole cache runs but is not kept.
        let big = format!("{{ me {{ id }} }} # {}", "y".repeat(2_000));
        assert!(run(&p, Some(&big), Some(ext(&hash_of(&big)))).is_ok());
        cache.run_pending_tasks();
        assert_eq!(
            run(&p, None, Some(ext(&hash_of(&big)))),
            Err(PersistedError::NotFound)
        );
    }

    /// A flood of one-off registrations (anyone with a token can send
    /// them) does not push out the documents clients keep using: the cache
    /// (moka's default TinyLFU) admits a newcomer only if it is used more
    /// than what it would evict. With an LRU policy this test fails.
    #[test]
    fn a_flood_of_registrations_does_not_evict_what_is_used() {
        let p = store(|c| c.apq_cache_size = 2_000);
        let popular = format!("query Popular {{ me {{ id }} }} # {}", "p".repeat(60));
        run(&p, Some(&popular), Some(ext(&hash_of(&popular)))).expect("registered");
        for _ in 0..20 {
            run(&p, None, Some(ext(&hash_of(&popular)))).expect("hit");
        }
        for i in 0..2_000 {
            let junk = format!("query J{i} {{ me {{ id }} }} # {}", "j".repeat(60));
            run(&p, Some(&junk), Some(ext(&hash_of(&junk)))).expect("runs");
        }
        assert_eq!(
            run(&p, None, Some(ext(&hash_of(&popular)))).as_deref(),
            Ok(popular.as_str())
        );
    }

    fn manifest_error(text: &str) -> String {
        parse_manifest(text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
    }

    #[test]
    fn a_manifest_is_checked_entry_by_entry() {
        let good = manifest_of(&[
            ("Me", "query", QUERY),
            (
                "Add",
                "mutation",
                "mutation Add { createLead(input: {email: \"a@b.co\"}) { id } }",
            ),
            (
                "Sub",
                "subscription",
                "subscription Sub { leadQualified { cursor } }",
            ),
        ]);
        assert_eq!(parse_manifest(&good).expect("valid").len(), 3);
        let empty = json!({"format": MANIFEST_FORMAT, "version": 1, "operations": []});
        assert!(
            parse_manifest(&empty.to_string())
                .expect("valid")
                .is_empty()
        );

        assert!(manifest_error("[]").contains("not an Apollo persisted query manifest"));
        let wrong_format = json!({"format": "relay", "version": 1, "operations": []});
        assert!(manifest_error(&wrong_format.to_string()).contains("`format`"));
        let wrong_version = json!({"format": MANIFEST_FORMAT, "version": 2, "operations": []});
        assert!(manifest_error(&wrong_version.to_string()).contains("`version`"));

        let entry = |id: String, name: &str, kind: &str, body: &str| {
            json!({"format": MANIFEST_FORMAT, "version": 1, "operations": [
                {"id": hash_of(QUERY), "name": "Me", "type": "query", "body": QUERY},
                {"id": id, "name": name, "type": kind, "body": body},
            ]})
            .to_string()
        };
        let other = "query Other { me { name } }";
        let cases = [
            (
                entry(hash_of(QUERY), "Other", "query", other),
                "`id` is not the SHA-256",
            ),
            (
                entry("abc".into(), "Other", "query", other),
                "64 hexadecimal digits",
            ),
            (
                entry(
                    hash_of("query Broken {"),
                    "Broken",
                    "query",
                    "query Broken {",
                ),
                "does not parse",
            ),
            (
                entry(hash_of(other), "Other", "mutation", other),
                "is not a mutation",
            ),
            (
                entry(hash_of(other), "Missing", "query", other),
                "no operation named \"Missing\"",
            ),
            (
                entry(hash_of(other), "Other", "fragment", other),
                "`type` is \"fragment\"",
            ),
        ];
        for (text, expected) in cases {
            let message = manifest_error(&text);
            assert!(message.starts_with("operations[1] (name "), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn settings_that_do_not_work_are_named() {
        let err = Persisted::from_config(&config(|c| c.trusted_documents = TrustedDocuments::Only))
            .err()
            .expect("only needs a manifest");
        assert!(
            err.to_string().starts_with("LEADGRAPH_TRUSTED_DOCUMENTS:"),
            "{err}"
        );
        assert!(err.to_string().contains(MANIFEST_SETTING), "{err}");
        let err = Persisted::from_config(&config(|c| {
            c.trusted_documents_manifest = Some("/nonexistent/manifest.json".into());
        }))
        .err()
        .expect("unreadable");
        assert!(err.to_string().starts_with(MANIFEST_SETTING), "{err}");
        assert!(
            err.to_string().contains("/nonexistent/manifest.json"),
            "{err}"
        );
    }

    proptest! {
        /// Hex is read back exactly, and no text makes the reader panic.
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(any::<u8>()), text in ".{0,70}") {
            prop_assert_eq!(parse_hex(&to_hex(&bytes)), Some(bytes));
            let _ = parse_hex(&text);
        }

        /// A registered hash only ever stands for the text it was the hash of.
        #[test]
        fn a_hash_resolves_only_to_its_own_text(a in "[a-z{} ]{1,40}", b in "[a-z{} ]{1,40}") {
            let p = store(|_| {});
            let ha = hash_of(&a);
            prop_assert!(run(&p, Some(&a), Some(ext(&ha))).is_ok());
            if a != b {
                prop_assert!(run(&p, Some(&b), Some(ext(&ha))).is_err());
            }
            prop_assert_eq!(run(&p, None, Some(ext(&ha))), Ok(a.clone()));
        }
    }
}
