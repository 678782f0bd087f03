//! Users: one row per JWT subject, created on first sight; `me` and `users`.

pub mod resolver;
pub mod service;
pub mod types;
