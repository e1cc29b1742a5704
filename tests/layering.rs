//! The layering of design §8, checked by reading the sources: `record`,
//! `clock` and `partitioner` are leaves, `log` knows only `record` and
//! `clock`, `protocol` and `kafka_codec` are pure codecs, none of them may
//! touch tokio or a layer above; the broker uses only `log`, `record`, `clock` and
//! `partitioner` below it; the server is a shell over broker and protocol;
//! the client speaks the protocol and never touches the broker; the admin
//! face uses only the broker and the `observe` seam.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The crate modules a source refers to as `crate::NAME`, plus `tokio` or
/// `async` runtimes named anywhere in code (comments are skipped).
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
            rest = &rest[at + 7..];
        }
        for runtime in ["tokio", "async_std", "smol", "mio"] {
            if code
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == runtime)
            {
                found.push(runtime.to_string());
            }
        }
    }
    found
}

/// Fails if a file under `src/LAYER` refers to anything outside `allowed`.
fn check(layer: &str, allowed: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mut violations = Vec::new();
    for file in sources(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for name in references(&text) {
            if !allowed.contains(&name.as_str()) {
                violations.push(format!("{}: refers to {name}", file.display()));
            }
        }
    }
    violations
}

#[test]
fn record_is_a_leaf() {
    assert_eq!(check("record", &["record"]), Vec::<String>::new());
}

#[test]
fn log_knows_only_record_and_clock() {
    assert_eq!(
        check("log", &["log", "record", "clock"]),
        Vec::<String>::new()
    );
}

#[test]
fn protocol_is_a_pure_codec() {
    assert_eq!(
        check("protocol", &["protocol", "record"]),
        Vec::<String>::new()
    );
}

#[test]
fn kafka_codec_is_a_pure_codec() {
    // Kafka's wire format only: no tokio, no broker, no native protocol.
    assert_eq!(check("kafka_codec", &["kafka_codec"]), Vec::<String>::new());
}

#[test]
fn broker_uses_only_log_record_and_clock_below_it() {
    // tokio is allowed here: the broker's async surface is waiting (design §8).
    assert_eq!(
        check(
            "broker",
            &["broker", "log", "record", "clock", "partitioner", "tokio"]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn admin_uses_only_the_broker_and_the_observe_seam() {
    // It serves HTTP on tokio; it must not reach into the native server,
    // the client or the protocol codec.
    assert_eq!(
        check(
            "admin",
            &[
                "admin", "broker", "log", "record", "clock", "observe", "tokio"
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn server_uses_broker_protocol_record_and_log_types_only() {
    // `observe` is the leaf seam it reports through (the `DiskWatch`).
    assert_eq!(
        check(
            "server",
            &[
                "server", "broker", "protocol", "record", "log", "observe", "tokio"
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn kafka_listener_is_a_shell_over_broker_and_kafka_codec() {
    // It must not reach into the native protocol or the client; of the
    // native server it reuses only `server::limits`.
    assert_eq!(
        check(
            "kafka",
            &[
                "kafka",
                "kafka_codec",
                "server",
                "broker",
                "record",
                "log",
                "observe",
                "tokio"
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn client_knows_protocol_record_and_partitioner_never_the_broker() {
    assert_eq!(
        check(
            "client",
            &["client", "protocol", "record", "partitioner", "tokio"]
        ),
        Vec::<String>::new()
    );
}

fn leaf_file(name: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name))
            .unwrap();
    references(&text)
}

#[test]
fn partitioner_is_a_leaf() {
    assert_eq!(leaf_file("partitioner.rs"), Vec::<String>::new());
}

#[test]
fn observe_is_a_leaf() {
    assert_eq!(leaf_file("observe.rs"), Vec::<String>::new());
}

#[test]
fn clock_is_a_leaf() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/clock.rs"))
        .unwrap();
    assert_eq!(references(&text), Vec::<String>::new());
}

#[test]
fn the_checker_sees_forbidden_references() {
    let text = "use crate::broker::Broker;\nuse tokio::sync::Notify; // fine comment mentioning crate::server\n";
    assert_eq!(
        references(text),
        vec!["broker".to_string(), "tokio".to_string()]
    );
}
