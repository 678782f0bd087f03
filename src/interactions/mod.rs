//! Interactions: the signals of a lead (visits, downloads, calls …),
//! recorded one by one, in batches, or by a form capture; idempotent on
//! `externalId`.

pub mod kind;
pub mod loader;
pub mod model;
pub mod resolver;
pub mod service;
pub mod types;
