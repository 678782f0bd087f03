//! The work on leads: validation, access through the policy, queries with
//! keyset pagination, and every lifecycle change in one transaction.

mod access;
mod bulk;
mod merge;
mod query;
mod store;
mod transitions;

pub use access::*;
pub use bulk::*;
pub use merge::*;
pub use query::*;
pub use store::*;
pub use transitions::*;
