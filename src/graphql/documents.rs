//! Parsed documents kept by their text, so a client that sends the same
//! query again (every sales rep's queue, every lead detail) is not parsed
//! again.
//!
//! async-graphql's parser is a PEG parser (pest) and costs more per request
//! than anything else before execution: about 12 % of the server's CPU under
//! the lead-detail workload (bench/RESULTS.md). A document is the same tree
//! whoever sends it, so the tree, the operation it selects and its cost
//! (`execute::cost`) are computed once per text and operation name and
//! shared. Everything that depends on the request — variables, the viewer,
//! validation, the limits — still applies to every request.
//!
//! The cache is bounded by the bytes of text it holds
//! ([`CACHED_TEXT_BYTES`]) and takes only documents up to
//! [`LARGEST_CACHED`] bytes, so a client sending many distinct documents
//! only evicts documents, never grows the process. Entries are looked up by
//! a keyed hash and then compared by text: a collision, made on purpose or
//! not, is a miss, never another client's document.

use super::execute::Cost;
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// The text of all cached documents together, in bytes.
const CACHED_TEXT_BYTES: u64 = 4 * 1024 * 1024;

/// The largest document text cached, in bytes; larger ones are parsed on
/// every request.
const LARGEST_CACHED: usize = 64 * 1024;

/// A document that parsed, with what the checks before execution need.
pub struct Parsed {
    query: String,
    operation_name: Option<String>,
    pub document: ExecutableDocument,
    /// The selected operation's type (`execute::operation_type`).
    pub operation: Option<OperationType>,
    /// What it selects, fragments expanded (`execute::cost`).
    pub cost: Cost,
}

impl Parsed {
    pub fn new(
        query: &str,
        operation_name: Option<&str>,
        document: ExecutableDocument,
        operation: Option<OperationType>,
        cost: Cost,
    ) -> Self {
        Parsed {
            query: query.to_owned(),
            operation_name: operation_name.map(str::to_owned),
            document,
            operation,
            cost,
        }
    }
}

/// Parsed documents by text and operation name.
pub struct Documents {
    cache: moka::sync::Cache<u64, Arc<Parsed>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Documents {
    fn default() -> Self {
        Documents {
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHED_TEXT_BYTES)
                .weigher(|_, parsed: &Arc<Parsed>| {
                    u32::try_from(parsed.query.len()).unwrap_or(u32::MAX)
                })
                .build(),
            hasher: Default::default(),
        }
    }
}

impl Documents {
    fn key(&self, query: &str, operation_name: Option<&str>) -> u64 {
        let mut h = self.hasher.build_hasher();
        query.hash(&mut h);
        operation_name.hash(&mut h);
        h.finish()
    }

    /// The parsed document of exactly this text and operation name, when
    /// this instance has parsed it before.
    pub fn get(&self, query: &str, operation_name: Option<&str>) -> Option<Arc<Parsed>> {
        let parsed = self.cache.get(&self.key(query, operation_name))?;
        (parsed.query == query && parsed.operation_name.as_deref() == operation_name)
            .then_some(parsed)
    }

    /// Keep a document that passed the checks before execution.
    pub fn insert(&self, parsed: Arc<Parsed>) {
        if parsed.query.len() <= LARGEST_CACHED {
            let key = self.key(&parsed.query, parsed.operation_name.as_deref());
            self.cache.insert(key, parsed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parsed(query: &str, operation_name: Option<&str>) -> Arc<Parsed> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        Arc::new(Parsed::new(
            query,
            operation_name,
            document,
            None,
            Cost::default(),
        ))
    }

    #[test]
    fn a_document_is_found_by_its_exact_text_and_operation() {
        let documents = Documents::default();
        documents.insert(parsed("query A { a } query B { b }", Some("A")));
        assert!(
            documents
                .get("query A { a } query B { b }", Some("A"))
                .is_some()
        );
        assert!(
            documents
                .get("query A { a } query B { b }", Some("B"))
                .is_none()
        );
        assert!(documents.get("query A { a } query B { b }", None).is_none());
        assert!(
            documents
                .get("query A { a } query B { b } ", Some("A"))
                .is_none()
        );
    }

    #[test]
    fn a_colliding_key_is_a_miss_not_another_document() {
        let documents = Documents::default();
        let other = parsed("{ b }", None);
        // Store another document under the key of `{ a }`, as a collision
        // would.
        documents.cache.insert(documents.key("{ a }", None), other);
        assert!(documents.get("{ a }", None).is_none());
    }

    #[test]
    fn large_documents_are_not_kept() {
        let documents = Documents::default();
        let query = format!("{{ a {} }}", " ".repeat(LARGEST_CACHED));
        documents.insert(parsed(&query, None));
        assert!(documents.get(&query, None).is_none());
    }
}
