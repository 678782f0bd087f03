//! Campaigns and their daily spend: the cost side of the KPIs. Budget and
//! spend are hidden from SALES (docs/roles.md): absent from its introspection
//! and refused when asked.

pub mod loader;
pub mod resolver;
pub mod service;
pub mod types;
