//! A cheap tidy check over every Rust file of the workspace (dsp/ has a stricter one of
//! its own): each starts with a `//!` header saying what it is for, and none has grown
//! past 1,500 lines.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_has_a_header_and_a_reasonable_length() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["engine", "dsp", "scheme", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.strip_prefix(&root).unwrap_or(path).display();
        assert!(text.starts_with("//!"), "{name} has no //! header");
        let lines = text.lines().count();
        assert!(lines <= 1500, "{name} has {lines} lines: split it");
    }
}
