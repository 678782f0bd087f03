//! The documented operations (`docs/operations/*.graphql`, one user story
//! per file) and their trusted-documents manifest, `leadgraph operations
//! manifest` (docs/frontend.md#persisted-operations).
//!
//! Each file starts with a `#` comment header that tells the story and has a
//! `# Role: ROLE …` line, then holds one named operation (and its
//! fragments). A client sends the document **without the header**: that
//! text, byte for byte, is the manifest's `body`, and its SHA-256 (lower-case
//! hex) the `id` — the `sha256Hash` of Apollo's persisted queries.

use crate::auth::Role;
use crate::error::{AppError, AppResult};
use async_graphql::parser::types::{DocumentOperations, OperationType};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Where the documented operations live, from the repository's root.
pub const DIR: &str = "docs/operations";

/// One documented operation.
#[derive(Clone, Debug)]
pub struct Operation {
    pub file: PathBuf,
    /// The role that runs it, from the header's `# Role:` line.
    pub role: Role,
    pub name: String,
    /// `query`, `mutation` or `subscription`.
    pub kind: &'static str,
    /// The document as a client sends it: the file without its header.
    pub body: String,
    /// SHA-256 of `body`, lower-case hex.
    pub id: String,
}

/// `leadgraph operations` arguments.
#[derive(Debug, clap::Subcommand)]
pub enum OperationsCommand {
    /// Print the trusted-documents manifest (Apollo's persisted query
    /// manifest format) of the documented operations in DIR.
    Manifest {
        #[arg(default_value = DIR)]
        dir: PathBuf,
    },
}

fn problem(file: &Path, message: impl std::fmt::Display) -> AppError {
    AppError::bad_input("operations", format!("{}: {message}", file.display()))
}

/// SHA-256 of `text`, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Split a file into its `#` header and the document after it (blank lines
/// between them belong to neither).
fn split_header(text: &str) -> (Vec<&str>, &str) {
    let mut header = Vec::new();
    let mut rest = text;
    while let Some(line) = rest.lines().next() {
        let trimmed = line.trim();
        if !(trimmed.starts_with('#') || trimmed.is_empty()) {
            break;
        }
        if trimmed.starts_with('#') {
            header.push(trimmed);
        }
        let skip = rest.find('\n').map_or(rest.len(), |i| i + 1);
        rest = &rest[skip..];
    }
    (header, rest)
}

/// Read one documented operation.
pub fn parse(file: &Path, text: &str) -> AppResult<Operation> {
    let (header, body) = split_header(text);
    let role = header
        .iter()
        .find_map(|line| line.trim_start_matches('#').trim().strip_prefix("Role:"))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| problem(file, "no `# Role: ROLE` line in the comment header"))?;
    let role = Role::parse(role.trim_end_matches([',', '.', ';']))
        .ok_or_else(|| problem(file, format!("unknown role in `# Role: {role}`")))?;
    let document = async_graphql::parser::parse_query(body).map_err(|e| problem(file, e))?;
    let (name, operation) = match &document.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => operations
            .iter()
            .next()
            .map(|(name, op)| (name.to_string(), op))
            .ok_or_else(|| problem(file, "no operation"))?,
        DocumentOperations::Multiple(operations) => {
            return Err(problem(
                file,
                format!("{} operations; one per file", operations.len()),
            ));
        }
        DocumentOperations::Single(_) => {
            return Err(problem(file, "the operation has no name"));
        }
    };
    let kind = match operation.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    Ok(Operation {
        file: file.to_owned(),
        role,
        name,
        kind,
        id: sha256_hex(body),
        body: body.to_owned(),
    })
}

/// Every `*.graphql` file of `dir`, by file name; operation names are unique.
pub fn load(dir: &Path) -> AppResult<Vec<Operation>> {
    let entries = std::fs::read_dir(dir).map_err(|e| problem(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| problem(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "graphql") {
            files.push(path);
        }
    }
    files.sort();
    let mut operations: Vec<Operation> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| problem(&file, e))?;
        let operation = parse(&file, &text)?;
        if let Some(other) = operations.iter().find(|o| o.name == operation.name) {
            return Err(problem(
                &file,
                format!(
                    "operation {} is also in {}",
                    operation.name,
                    other.file.display()
                ),
            ));
        }
        operations.push(operation);
    }
    if operations.is_empty() {
        return Err(problem(dir, "no .graphql file"));
    }
    Ok(operations)
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    version: u32,
    operations: Vec<ManifestEntry<'a>>,
}

#[derive(Serialize)]
struct ManifestEntry<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    body: &'a str,
}

/// The manifest of `operations` (Apollo's `apollo-persisted-query-manifest`
/// format, version 1), pretty-printed, with a final newline.
pub fn manifest(operations: &[Operation]) -> AppResult<String> {
    let manifest = Manifest {
        format: "apollo-persisted-query-manifest",
        version: 1,
        operations: operations
            .iter()
            .map(|o| ManifestEntry {
                id: &o.id,
                name: &o.name,
                kind: o.kind,
                body: &o.body,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| AppError::internal_from("writing the manifest", e))?;
    text.push('\n');
    Ok(text)
}

/// `leadgraph operations …`.
pub fn run(command: &OperationsCommand) -> AppResult<()> {
    match command {
        OperationsCommand::Manifest { dir } => {
            print!("{}", manifest(&load(dir)?)?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_file_without_its_header_and_the_id_its_sha256() {
        let text = "# Story: x\n# Role: SALES (and ADMIN)\n\nquery Q { me { id } }\n";
        let op = parse(Path::new("q.graphql"), text).expect("parses");
        assert_eq!(op.body, "query Q { me { id } }\n");
        assert_eq!(op.role, Role::Sales);
        assert_eq!((op.name.as_str(), op.kind), ("Q", "query"));
        assert_eq!(op.id, sha256_hex("query Q { me { id } }\n"));
        // SHA-256 of "abc" (FIPS 180-2).
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_file_without_role_name_or_with_two_operations_is_refused() {
        let cases = [
            ("query Q { me { id } }", "no `# Role: ROLE` line"),
            ("# Role: NOBODY\nquery Q { me { id } }", "unknown role"),
            ("# Role: SALES\n{ me { id } }", "has no name"),
            (
                "# Role: SALES\nquery A { me { id } }\nquery B { me { id } }",
                "2 operations",
            ),
            ("# Role: SALES\nquery A { me { id }", "x.graphql"),
        ];
        for (text, expected) in cases {
            let err = parse(Path::new("x.graphql"), text).expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
            assert!(err.to_string().starts_with("x.graphql: "), "{err}");
        }
    }
}
