//! The image files of the shared data folder. Std only: used by the tests through
//! `tests/common/mod.rs` and by the examples through `#[path]`.
#![allow(dead_code)]

use std::path::Path;

/// The live photos of the passive evaluation (`examples/eval/passive.rs`) and of the orientation
/// search's measurement: every bona fide photo, every 4th BioID nod frame, the BioID still pair
/// and minivision's live_T1.
pub fn live_photos(root: &Path) -> Vec<String> {
    let mut live = under(&root.join("bonafide"), root);
    live.extend((1..=92).step_by(4).map(|i| format!("bioid/nod/{i:03}.jpg")));
    live.extend(
        [
            "bioid/challenge_right_1.png",
            "bioid/challenge_right_2.png",
            "minivision/live_T1.jpg",
        ]
        .map(String::from),
    );
    live
}

/// Every JPEG and PNG file under `dir`, named by its path relative to `root`: depth first, the
/// entries of each folder in sorted order (so evaluations list them the same way every run).
pub fn under(dir: &Path, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, root, &mut out);
    out
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, root, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("jpg" | "jpeg" | "png")
        ) && let Ok(rel) = p.strip_prefix(root)
        {
            out.push(rel.display().to_string());
        }
    }
}
