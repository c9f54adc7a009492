//! zonal's own libraries (the top-level `libs/`, laid out as Extempore's), embedded
//! in the binary so that `(sys:load "libs/core/audio_dsp.xtm")` finds them from any
//! working directory.
//!
//! `sys:load` (in `session.rs`) resolves a path here first: a name in [`LIBRARIES`]
//! loads zonal's version even where the working directory holds another file of that
//! name (an Extempore checkout, whose libraries need Extempore's compiler); any other
//! path, `./libs/...` included, is read from the file system.

/// Every library zonal ships: its `sys:load` path and its text.
pub const LIBRARIES: &[(&str, &str)] = &[
    (
        "libs/base/base.xtm",
        include_str!("../../libs/base/base.xtm"),
    ),
    ("libs/core/adt.xtm", include_str!("../../libs/core/adt.xtm")),
    (
        "libs/core/audio_dsp.xtm",
        include_str!("../../libs/core/audio_dsp.xtm"),
    ),
    (
        "libs/core/math.xtm",
        include_str!("../../libs/core/math.xtm"),
    ),
    (
        "libs/core/rational.xtm",
        include_str!("../../libs/core/rational.xtm"),
    ),
    (
        "libs/core/pc_ivl.xtm",
        include_str!("../../libs/core/pc_ivl.xtm"),
    ),
    (
        "libs/core/instruments.xtm",
        include_str!("../../libs/core/instruments.xtm"),
    ),
    (
        "libs/core/instruments/synths.xtm",
        include_str!("../../libs/core/instruments/synths.xtm"),
    ),
    (
        "libs/core/instruments/analogue.xtm",
        include_str!("../../libs/core/instruments/analogue.xtm"),
    ),
    (
        "libs/core/instruments/drums.xtm",
        include_str!("../../libs/core/instruments/drums.xtm"),
    ),
    (
        "libs/core/instruments/sampler.xtm",
        include_str!("../../libs/core/instruments/sampler.xtm"),
    ),
    (
        "libs/core/pattern-language.xtm",
        include_str!("../../libs/core/pattern-language.xtm"),
    ),
    (
        "libs/core/scheduler.xtm",
        include_str!("../../libs/core/scheduler.xtm"),
    ),
    (
        "libs/core/topclock.xtm",
        include_str!("../../libs/core/topclock.xtm"),
    ),
    (
        "libs/external/instruments_ext.xtm",
        include_str!("../../libs/external/instruments_ext.xtm"),
    ),
];

/// The text of the library `path` names, if zonal ships one by that name.
pub fn embedded(path: &str) -> Option<&'static str> {
    LIBRARIES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

/// The names of the shipped libraries, for messages: "libs/base/base.xtm, ...".
pub fn names() -> String {
    LIBRARIES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_under_libs_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.join("libs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("libs/ is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path.strip_prefix(&root).expect("under the root");
                    on_disk.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut shipped: Vec<String> = LIBRARIES.iter().map(|(n, _)| n.to_string()).collect();
        shipped.sort();
        assert_eq!(on_disk, shipped);
    }
}
