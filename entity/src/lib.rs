//! SeaORM entities of leadgraph: one module per table, data only.
//!
//! Enumerations (stages, channels, kinds, roles) are stored as their
//! SCREAMING_SNAKE GraphQL names in text columns; the application crate owns
//! their meaning. Money is stored as integer cents, exact on every database.

pub mod app_user;
pub mod campaign;
pub mod campaign_spend;
pub mod event_retention;
pub mod interaction;
pub mod lead;
pub mod persona;
pub mod scoring_rule;
pub mod scoring_settings;
pub mod stage_change;
pub mod stage_event;
pub mod webhook;
pub mod webhook_delivery;
