//! The CLI covers what the protocol does: binary values, tombstones,
//! timestamps, repeated headers, one partition, group deletion, adding
//! partitions, every topic setting by Kafka's name, and a benchmark that
//! cleans up after itself.

mod cli_common;

use cli_common::{Serve, logbus, logbus_bytes};

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn binary_values_travel_as_base64_or_hex_and_tombstones_as_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    // 00 ff 0a 80: not text, and holds a newline.
    let (code, _, err) = logbus_bytes(
        &[
            "produce",
            "bin",
            "--value-format",
            "base64",
            "--key-separator",
            ":",
            "--null-marker",
            "NULL",
            "--server",
            server,
        ],
        b"a:AP8KgA==\nb:NULL\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = logbus_bytes(
        &[
            "produce",
            "bin",
            "--value-format",
            "hex",
            "--server",
            server,
        ],
        b"00ff0a80\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let consume = |extra: &[&str]| {
        let mut args = vec![
            "consume",
            "bin",
            "--max",
            "3",
            "--timeout-ms",
            "5000",
            "--server",
            server,
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = logbus(&args, "");
        assert!(ok, "{err}");
        out
    };
    assert_eq!(
        consume(&["--value-format", "hex", "--null-marker", "<null>"]),
        "a\t00ff0a80\nb\t<null>\n00ff0a80\n"
    );
    assert_eq!(
        consume(&["--value-format", "base64"]),
        "a\tAP8KgA==\nb\t\nAP8KgA==\n"
    );
    let records = json_lines(&consume(&["--format", "json", "--value-format", "hex"]));
    assert_eq!(records[0]["value"], "00ff0a80");
    assert!(records[1]["value"].is_null(), "a tombstone is null");
    // Text output keeps every byte in value_hex.
    let records = json_lines(&consume(&["--format", "json"]));
    assert_eq!(records[0]["value_hex"], "00ff0a80");

    let (code, _, err) = logbus_bytes(
        &[
            "produce",
            "bin",
            "--value-format",
            "hex",
            "--server",
            server,
        ],
        b"abc\n",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1: not hex"), "{err}");
    serve.terminate();
}

#[test]
fn timestamps_and_repeated_headers_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(
        &[
            "produce",
            "t",
            "--timestamp-separator",
            "|",
            "--header",
            "via=a",
            "--header",
            "via=b",
            "--server",
            server,
        ],
        "1000|first\n2026-12-02T10:00:00Z|second\n",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = logbus(
        &[
            "consume",
            "t",
            "--format",
            "json",
            "--max",
            "2",
            "--timeout-ms",
            "5000",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let records = json_lines(&out);
    assert_eq!(records[0]["timestamp"], 1000);
    assert_eq!(records[1]["timestamp"], 1_796_205_600_000_i64);
    assert_eq!(
        records[0]["headers"],
        serde_json::json!([{"key": "via", "value": "a"}, {"key": "via", "value": "b"}])
    );
    let (ok, out, err) = logbus(
        &[
            "consume",
            "t",
            "--print-timestamp",
            "--max",
            "1",
            "--timeout-ms",
            "5000",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1000\tfirst\n");
    let (ok, _, err) = logbus(
        &[
            "produce",
            "t",
            "--timestamp-separator",
            "|",
            "--server",
            server,
        ],
        "yesterday|x\n",
    );
    assert!(!ok);
    assert!(err.contains("line 1: bad timestamp \"yesterday\""), "{err}");
    serve.terminate();
}

#[test]
fn partitions_are_added_and_read_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(&["topics", "create", "t", "--server", server], "");
    assert!(ok, "{err}");
    let (ok, out, err) = logbus(
        &[
            "topics",
            "alter",
            "t",
            "--partitions",
            "3",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "topic t now has 3 partitions\n");
    let (ok, _, err) = logbus(
        &[
            "topics",
            "alter",
            "t",
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("the topic has 3 partitions and can grow to at most 10000"),
        "{err}"
    );
    for p in ["0", "2"] {
        let (ok, _, err) = logbus(
            &["produce", "t", "--partition", p, "--server", server],
            &format!("in-{p}\n"),
        );
        assert!(ok, "{err}");
    }
    let (ok, out, err) = logbus(
        &[
            "consume",
            "t",
            "--partition",
            "2",
            "--timeout-ms",
            "300",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "in-2\n");
    let (ok, _, err) = logbus(
        &[
            "consume",
            "t",
            "--partition",
            "7",
            "--timeout-ms",
            "300",
            "--server",
            server,
        ],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("topic t has no partition 7 (it has 3 partitions)"),
        "{err}"
    );
    serve.terminate();
}

#[test]
fn groups_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(&["produce", "t", "--server", server], "a\n");
    assert!(ok, "{err}");
    let (ok, _, err) = logbus(
        &[
            "consume",
            "t",
            "--group",
            "g",
            "--max",
            "1",
            "--timeout-ms",
            "5000",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = logbus(&["groups", "delete", "g", "--server", server], "");
    assert!(ok, "{err}");
    assert_eq!(out, "deleted group g\n");
    let (_, out, _) = logbus(&["groups", "list", "--server", server], "");
    assert_eq!(out, "");
    serve.terminate();
}

#[test]
fn every_topic_setting_is_set_by_its_kafka_name_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(
        &[
            "topics",
            "create",
            "t",
            "--server",
            server,
            "--config",
            "cleanup.policy=compact,delete",
            "--config",
            "retention.ms=86400000",
            "--config",
            "retention.bytes=1073741824",
            "--config",
            "segment.bytes=1048576",
            "--config",
            "segment.ms=3600000",
            "--config",
            "max.message.bytes=2097152",
            "--config",
            "min.compaction.lag.ms=1000",
            "--config",
            "delete.retention.ms=60000",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = logbus(&["topics", "describe", "t", "--server", server], "");
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "cleanup.policy=compact,delete retention.ms=86400000 retention.bytes=1073741824 \
             segment.bytes=1048576 segment.ms=3600000 max.message.bytes=2097152 \
             min.compaction.lag.ms=1000 delete.retention.ms=60000"
        ),
        "{out}"
    );
    for (args, expected) in [
        (
            &["--segment-bytes", "1"][..],
            "segment.bytes=1 is out of range: 14 to 2147483647",
        ),
        (
            &["--config", "segment.bytes=1"],
            "segment.bytes=1 is out of range",
        ),
        (
            &["--config", "retention.ms=soon"],
            "retention.ms=soon: not a whole number",
        ),
        (
            &["--config", "compression.type=zstd"],
            "a Kafka setting logbus does not have",
        ),
        (
            &["--config", "retention=1"],
            "unknown topic setting \"retention\"; known: cleanup.policy",
        ),
    ] {
        let mut all = vec!["topics", "create", "u", "--server", server];
        all.extend_from_slice(args);
        let (ok, _, err) = logbus(&all, "");
        assert!(!ok, "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let (_, out, _) = logbus(&["topics", "list", "--server", server], "");
    assert_eq!(
        out, "t\t1 partition\n",
        "nothing created by a refused command"
    );
    serve.terminate();
}

#[test]
fn bench_against_a_running_broker_deletes_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    for mode in ["produce", "consume", "e2e"] {
        let (ok, _, err) = logbus(
            &[
                "bench",
                mode,
                "--records",
                "200",
                "--batch",
                "10",
                "--rate",
                "100000",
                "--server",
                server,
            ],
            "",
        );
        assert!(ok, "{mode}: {err}");
    }
    let (ok, out, err) = logbus(&["topics", "list", "--server", server], "");
    assert!(ok, "{err}");
    assert_eq!(out, "", "bench left topics behind");
    serve.terminate();
}

#[test]
fn the_default_data_directory_is_ignored_by_git() {
    let ignore =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.gitignore")).unwrap();
    assert!(
        ignore
            .lines()
            .any(|l| l == "/logbus-data" || l == "logbus-data/"),
        "{ignore}"
    );
}
