//! The documentation stands on its own: nothing a user reads (rustdoc and
//! comments in the sources, the README, ARCHITECTURE.md, docs/, Cargo.toml)
//! points at notes outside the repository. Design decisions are cited as
//! `docs/design.md §N`, which ships with the code.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "../shared",
    "issue notes",
    "issue note)",
    "(design §",
    " design §",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
            out.push(path);
        }
    }
}

#[test]
fn documentation_cites_nothing_a_user_does_not_have() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for dir in ["src", "docs", "examples", "benches"] {
        files(&root.join(dir), &mut all);
    }
    for file in ["README.md", "ARCHITECTURE.md", "Cargo.toml"] {
        all.push(root.join(file));
    }
    let mut found = Vec::new();
    for path in &all {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "citations a user cannot follow:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_design_document_has_the_sections_the_code_cites() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).unwrap();
    for n in 1..=12 {
        assert!(
            design.contains(&format!("\n## {n}. ")),
            "docs/design.md lacks §{n}"
        );
    }
}
