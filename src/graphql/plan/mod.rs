//! Prepared plans: the hot queries (the sales queue, the lead detail)
//! answered without async-graphql's per-field machinery.
//!
//! async-graphql stays the executor of record. A plan answers a query only
//! when all of these hold:
//! - its fields lie in the subset [`compile`] knows (leads and a lead with
//!   their plain fields, owner, persona, source campaign, qualification,
//!   deal amount, stage history, score breakdown and interaction pages);
//! - the same document, operation, role and the variables that could
//!   change its validation or cost were already answered by the executor
//!   without a single error on this instance ([`Plans`] remembers that):
//!   validation, the complexity and depth limits and field visibility are
//!   the executor's, never re-implemented here;
//! - running it meets no error at all (a hidden campaign, a row that does
//!   not decode, a bad cursor): the plan then gives up and the executor
//!   answers, errors and all. Plans only read, so running twice is safe.
//!
//! The answer is the same JSON, byte for byte, as the executor's:
//! `tests/api/plans.rs` compares both over a generated corpus of documents.
//! See docs/performance.md for what it saves.

pub mod compile;
pub mod run;

use crate::auth::Viewer;
use async_graphql::Variables;
use async_graphql::parser::types::ExecutableDocument;
use std::hash::{BuildHasher, Hash, Hasher};

/// Documents (with role and the variables that matter) the executor has
/// answered without errors, so plans may answer them.
pub struct Plans {
    validated: moka::sync::Cache<u64, ()>,
    /// Keyed with a random seed: nobody can make an unvalidated document
    /// collide with a validated one on purpose.
    hasher: std::collections::hash_map::RandomState,
}

/// How many validated documents an instance remembers.
const VALIDATED: u64 = 10_000;

impl Default for Plans {
    fn default() -> Self {
        Plans {
            validated: moka::sync::Cache::new(VALIDATED),
            hasher: Default::default(),
        }
    }
}

/// A query a plan may answer: its plan and the key of its validation.
pub struct Candidate {
    pub plan: compile::Plan,
    key: u64,
}

impl Plans {
    /// The plan of this use of `document`, when plans cover it.
    pub fn candidate(
        &self,
        viewer: &Viewer,
        document: &ExecutableDocument,
        query: &str,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Option<Candidate> {
        let plan = compile::compile(document, operation_name, variables).ok()?;
        let mut h = self.hasher.build_hasher();
        viewer.role.hash(&mut h);
        query.hash(&mut h);
        operation_name.hash(&mut h);
        // Variables that only carry an id or a cursor change neither
        // validation nor cost; every other one is part of the key.
        let mut names: Vec<&async_graphql::Name> = variables
            .keys()
            .filter(|name| !plan.free_variables.contains(name))
            .collect();
        names.sort();
        for name in names {
            name.hash(&mut h);
            serde_json::to_string(&variables[name])
                .unwrap_or_default()
                .hash(&mut h);
        }
        Some(Candidate {
            plan,
            key: h.finish(),
        })
    }

    /// Whether the executor answered this use without errors before.
    pub fn validated(&self, candidate: &Candidate) -> bool {
        self.validated.contains_key(&candidate.key)
    }

    /// The executor answered it without errors: plans may from now on.
    pub fn remember(&self, candidate: &Candidate) {
        self.validated.insert(candidate.key, ());
    }
}
