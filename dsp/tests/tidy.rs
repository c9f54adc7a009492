//! Tidy checks over the compiler's files (the runtime has its own): a `//!` header on
//! each, no file past 1,500 lines, no placeholders, no ignored or should-panic tests.

use std::fs;
use std::path::{Path, PathBuf};

fn compiler_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rs = |dir: PathBuf| -> Vec<PathBuf> {
        fs::read_dir(dir)
            .expect("a directory")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("runtime_"))
            })
            .collect()
    };
    let mut files = rs(root.join("src"));
    files.extend(rs(root.join("src/lower")));
    files.extend(rs(root.join("tests")));
    files.push(root.join("../benches/dsp.rs"));
    files.sort();
    files
}

#[test]
fn every_compiler_file_is_tidy() {
    let banned = [
        ["TO", "DO"].concat(),
        ["FIX", "ME"].concat(),
        ["to", "do!("].concat(),
        ["unimpl", "emented!("].concat(),
        ["#[ig", "nore]"].concat(),
        ["#[should", "_panic"].concat(),
    ];
    let files = compiler_files();
    assert!(files.len() >= 15, "found {files:?}");
    for path in files {
        let text = fs::read_to_string(&path).expect("readable");
        let name = path.display();
        assert!(text.starts_with("//!"), "{name} has no //! header");
        assert!(
            text.lines().count() <= 1500,
            "{name} is past 1,500 lines: split it"
        );
        for b in &banned {
            assert!(!text.contains(b.as_str()), "{name} contains {b}");
        }
    }
}
