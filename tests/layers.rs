//! Design §8's layering, checked on the sources: `record` and `log` (and
//! `protocol`, when it exists) never import tokio or the layers above them;
//! the broker uses only `log`, `record` and `clock` below it.

use std::fs;
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

fn check(layer: &str, forbidden: &[&str]) {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(layer),
        &mut files,
    );
    for (path, text) in files {
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for f in forbidden {
                assert!(!line.contains(f), "{path} imports `{f}`: {line}");
            }
        }
    }
}

#[test]
fn record_log_and_protocol_never_import_tokio_or_upper_layers() {
    let upper = [
        "tokio",
        "crate::broker",
        "crate::server",
        "crate::client",
        "crate::admin",
    ];
    check("record", &[&upper[..], &["crate::log"]].concat());
    check("log", &upper);
    check("protocol", &upper);
}

#[test]
fn the_broker_uses_only_log_record_and_clock_below_it() {
    check(
        "broker",
        &[
            "crate::server",
            "crate::client",
            "crate::admin",
            "crate::protocol",
        ],
    );
}
