//! Guards on the source itself: walls between modules that the compiler
//! does not keep.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its path relative to the crate root.
fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source file");
            let relative = path
                .strip_prefix(root)
                .expect("under the crate")
                .to_path_buf();
            out.push((relative, text));
        }
    }
}

/// What writes the history (`stage_change`) or the outbox (`stage_event`)
/// table, or wakes the outbox's listeners; matched on the source with
/// whitespace squeezed and case ignored.
const OUTBOX_WRITES: &[&str] = &[
    "stage_change::entity::insert",
    "stage_event::entity::insert",
    "stage_change::activemodel",
    "stage_event::activemodel",
    "insert into stage_change",
    "insert into stage_event",
    "insert into \"stage_change\"",
    "insert into \"stage_event\"",
    "pg_notify",
];

fn squeezed(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Only `src/events` writes history rows and outbox events (and sends
/// their NOTIFY); `src/seed` bulk-writes synthetic history for the reference
/// data set (no outbox: it has no subscribers to deliver to).
#[test]
fn only_the_events_module_writes_history_and_outbox() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    assert!(
        files.len() > 10,
        "no sources found under {}",
        root.display()
    );
    let allowed = |path: &Path| path.starts_with("src/events") || path.starts_with("src/seed");
    let mut offenders = Vec::new();
    let mut in_events = Vec::new();
    for (path, text) in &files {
        let text = squeezed(text);
        for pattern in OUTBOX_WRITES {
            if text.contains(pattern) {
                if allowed(path) {
                    in_events.push(*pattern);
                } else {
                    offenders.push(format!("{}: {pattern}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "write history and outbox rows through crate::events::record_stage_changes, not here:\n{}",
        offenders.join("\n")
    );
    // The guard still looks for what the writer really says.
    for pattern in [
        "stage_change::entity::insert",
        "stage_event::entity::insert",
        "pg_notify",
    ] {
        assert!(
            in_events.contains(&pattern),
            "src/events no longer has {pattern:?}"
        );
    }
}

/// Files that speak GraphQL: the `graphql` layer, each domain's GraphQL edge
/// (`types.rs`, `resolver.rs`, `loader.rs`), and the composition roots that
/// wire the schema into the server and the command line.
fn speaks_graphql(path: &Path) -> bool {
    path.starts_with("src/graphql")
        || ["src/app.rs", "src/cli.rs", "src/main.rs", "src/lib.rs"]
            .iter()
            .any(|root| path == Path::new(root))
        || path.file_name().is_some_and(|name| {
            ["types.rs", "resolver.rs", "loader.rs"]
                .iter()
                .any(|edge| name == *edge)
        })
}

/// The domain core (services, pure logic, `auth/`, the events core, the
/// seed, errors, configuration) knows nothing of GraphQL: it names neither
/// async-graphql nor the GraphQL layer nor any domain's GraphQL edge, and
/// never takes the per-request DataLoaders.
#[test]
fn the_domain_core_knows_nothing_of_graphql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let domains: Vec<String> = std::fs::read_dir(root.join("src"))
        .expect("read src")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.is_dir()
                .then(|| path.file_name()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    let mut forbidden: Vec<String> = ["async_graphql", "crate::graphql", "Loaders", "DataLoader"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for edge in ["types", "resolver", "loader"] {
        forbidden.push(format!("super::{edge}"));
        for domain in &domains {
            forbidden.push(format!("{domain}::{edge}"));
        }
    }
    let mut core = Vec::new();
    let mut offenders = Vec::new();
    for (path, text) in &files {
        if speaks_graphql(path) {
            continue;
        }
        core.push(path.clone());
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or(line);
            for pattern in &forbidden {
                if code.contains(pattern.as_str()) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    // The guard looks at what it must: services, pure logic, auth, events.
    for must in [
        "src/auth/policy.rs",
        "src/events/bus.rs",
        "src/leads/lifecycle.rs",
        "src/scoring/engine.rs",
        "src/error.rs",
    ] {
        assert!(
            core.iter().any(|path| path == Path::new(must)),
            "{must} is no longer checked as domain core"
        );
    }
    assert!(
        core.iter()
            .filter(|path| path.to_string_lossy().contains("service"))
            .count()
            >= 7,
        "the services are no longer checked: {core:?}"
    );
    assert!(
        offenders.is_empty(),
        "the domain core must not speak GraphQL (convert in the resolver, see docs/architecture.md):\n{}",
        offenders.join("\n")
    );
}
