//! Tidy checks over the runtime's own files: a `//!` header on each, no file past 1,500
//! lines, no placeholders, no ignored or should-panic tests.

use std::fs;
use std::path::{Path, PathBuf};

fn runtime_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("src/runtime"))
        .expect("src/runtime")
        .map(|e| e.expect("entry").path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    files.extend(
        fs::read_dir(root.join("src/runtime/tests"))
            .expect("src/runtime/tests")
            .map(|e| e.expect("entry").path()),
    );
    files.extend(
        fs::read_dir(root.join("tests"))
            .expect("tests")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("runtime_") && n.ends_with(".rs"))
            }),
    );
    files.sort();
    files
}

#[test]
fn every_runtime_file_is_tidy() {
    let banned = [
        ["TO", "DO"].concat(),
        ["to", "do!("].concat(),
        ["unimpl", "emented!("].concat(),
        ["#[ig", "nore]"].concat(),
        ["#[should", "_panic"].concat(),
    ];
    let files = runtime_files();
    assert!(files.len() >= 10, "found {files:?}");
    for path in files {
        let text = fs::read_to_string(&path).expect("read");
        let name = path.display();
        assert!(text.starts_with("//!"), "{name} has no //! header");
        assert!(text.lines().count() <= 1500, "{name} is past 1,500 lines");
        for word in &banned {
            assert!(!text.contains(word.as_str()), "{name} contains {word}");
        }
    }
}
