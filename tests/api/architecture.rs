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
