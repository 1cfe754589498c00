//! The image files of the shared data folder. Std only: used by the tests through
//! `tests/common/mod.rs` and by the examples through `#[path]`.

use std::path::Path;

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
