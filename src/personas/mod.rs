//! Personas: ideal customer profiles and a lead's fit to them (docs/personas.md).

pub mod fit;
pub mod resolver;
pub mod service;
pub mod types;
