//! Importing leads from CSV files (docs/import-export.md): the header
//! mapped to lead fields (`mapping.rs`, pure), each row read and validated
//! as `createLead` validates (`row.rs`, pure), and the rows written in
//! chunks through the lead service's bulk paths, one transaction per chunk
//! (`service.rs`). Used by `leadgraph import leads` (`cli_import.rs`) and
//! the `importLeads` mutation (`resolver.rs`, `types.rs`).

pub mod mapping;
pub mod model;
pub mod resolver;
pub mod row;
pub mod service;
pub mod types;
