//! The `logbus` binary as a subprocess: `serve` on port 0 and its ready
//! line, topics, `produce` from stdin, `consume --format json`, group lag;
//! a kill -9 in the middle of `fsync` produces loses no acknowledged record;
//! SIGTERM shuts down cleanly so the restart skips recovery.

mod cli_common;

use cli_common::{Serve, http_get, logbus};
use logbus::client::{Client, Durability, decode_batches};
use logbus::protocol::{FetchPartition, FetchRequest, FetchTopic, IsolationLevel};
use logbus::record::{BatchBuilder, Compression};
use std::time::Duration;

#[test]
fn serve_produce_consume_and_describe_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();

    let (ok, out, err) = logbus(
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("created topic orders"));
    let lines = "k1:one\nk2:two\nk1:three\nno-key-line\n";
    let (ok, _, err) = logbus(
        &[
            "produce",
            "orders",
            "--key-separator",
            ":",
            "--header",
            "trace=t1",
            "--durability",
            "fsync",
            "--server",
            server,
        ],
        lines,
    );
    assert!(ok, "{err}");
    assert_eq!(err.lines().last(), Some("acknowledged 4"));

    let (ok, out, err) = logbus(
        &[
            "consume",
            "orders",
            "--group",
            "billing",
            "--format",
            "json",
            "--max",
            "4",
            "--timeout-ms",
            "5000",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    for r in &records {
        for field in [
            "topic",
            "partition",
            "offset",
            "timestamp",
            "key",
            "value",
            "headers",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
        assert_eq!(
            r["headers"],
            serde_json::json!([{"key": "trace", "value": "t1"}])
        );
    }
    // Per key, in the order produced.
    let values_of_k1: Vec<&str> = records
        .iter()
        .filter(|r| r["key"] == "k1")
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values_of_k1, ["one", "three"]);
    assert!(
        records
            .iter()
            .any(|r| r["key"].is_null() && r["value"] == "no-key-line")
    );

    // The group committed what it printed: lag 0 everywhere.
    let (ok, out, err) = logbus(&["groups", "describe", "billing", "--server", server], "");
    assert!(ok, "{err}");
    let lags: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("orders"))
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(lags, ["0", "0"], "{out}");

    // A second group member reading again starts from the commits: nothing new.
    let (ok, out, _) = logbus(
        &[
            "consume",
            "orders",
            "--group",
            "billing",
            "--timeout-ms",
            "300",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok);
    assert_eq!(out, "");

    assert!(http_get(&serve.http, "/healthz").contains("200 OK"));
    assert!(http_get(&serve.http, "/v1/topics").contains("\"orders\""));
    serve.terminate();
}

#[test]
fn client_errors_print_one_line_and_exit_non_zero() {
    let (ok, _, err) = logbus(&["topics", "list", "--server", "127.0.0.1:1"], "");
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");

    let (ok, _, err) = logbus(&["--workers", "0", "topics", "list"], "");
    assert!(!ok);
    assert!(err.contains("--workers"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    // One runtime thread serves as well as many.
    let serve = Serve::start_with(dir.path(), &["--workers", "1"]);
    let (ok, _, err) = logbus(&["topics", "list", "--server", &serve.native], "");
    assert!(ok, "{err}");
    let (ok, _, err) = logbus(
        &["topics", "create", "bad/name", "--server", &serve.native],
        "",
    );
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (ok, _, err) = logbus(
        &["topics", "describe", "missing", "--server", &serve.native],
        "",
    );
    assert!(!ok);
    assert!(err.to_lowercase().contains("unknown"), "{err}");
    serve.terminate();
}

/// Produces single-record batches with `fsync` until the server dies; returns
/// the acknowledged (offset, value) pairs.
async fn produce_until_dead(
    server: String,
    acked_enough: std::sync::mpsc::Sender<()>,
) -> Vec<(i64, String)> {
    let client = Client::connect(&server).await.unwrap();
    client
        .create_topic("ledger", 1, Default::default())
        .await
        .unwrap();
    let mut acked = Vec::new();
    for i in 0.. {
        let value = format!("entry-{i}");
        let mut builder = BatchBuilder::new(Compression::None);
        builder
            .append(1, Some(b"k"), Some(value.as_bytes()), &[])
            .unwrap();
        let batch = bytes::Bytes::from(builder.build().unwrap());
        match client
            .produce_batches("ledger", 0, batch, Durability::Fsync)
            .await
        {
            Ok(offset) => acked.push((offset, value)),
            Err(_) => return acked,
        }
        if acked.len() == 200 {
            let _ = acked_enough.send(());
        }
    }
    unreachable!()
}

async fn read_all(server: &str, topic: &str) -> Vec<(i64, String)> {
    let client = Client::connect(server).await.unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let response = client
            .fetch(FetchRequest {
                max_wait_ms: 0,
                min_bytes: 1,
                max_bytes: 1 << 20,
                isolation_level: IsolationLevel::default(),
                group_id: None,
                topics: vec![FetchTopic {
                    name: topic.to_owned(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: offset,
                        partition_max_bytes: 1 << 20,
                    }],
                }],
                member: Default::default(),
            })
            .await
            .unwrap();
        let p = &response.topics[0].partitions[0];
        // decode_batches checks every batch's CRC.
        let records = decode_batches(&p.records, offset).unwrap();
        if records.is_empty() {
            return out;
        }
        for r in records {
            offset = r.offset + 1;
            out.push((
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
}

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_fsync_record() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = runtime.spawn(produce_until_dead(serve.native.clone(), tx));
    rx.recv_timeout(Duration::from_secs(60))
        .expect("200 records acknowledged");
    serve.kill9();
    let acked = runtime.block_on(producer).unwrap();
    assert!(acked.len() >= 200);

    let serve = Serve::start(dir.path());
    let stored = runtime.block_on(read_all(&serve.native, "ledger"));
    // Every acknowledged record is there, once, in order, at its offset;
    // at most the unacknowledged tail may be extra.
    assert!(
        stored.len() >= acked.len(),
        "stored {} < acked {}",
        stored.len(),
        acked.len()
    );
    assert_eq!(stored[..acked.len()], acked[..]);
    let log = serve.terminate();
    assert!(
        log.contains("recovered a log"),
        "a restart after kill -9 recovers: {log}"
    );
}

#[test]
fn sigterm_shuts_down_cleanly_and_the_restart_skips_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let lines: String = (0..100).map(|i| format!("line-{i}\n")).collect();
    let (ok, _, err) = logbus(&["produce", "events", "--server", &serve.native], &lines);
    assert!(ok, "{err}");
    let log = serve.terminate();
    assert!(log.contains("shutting down"), "{log}");
    // Every log left its clean-shutdown marker.
    for partition in ["events-0", "__consumer_offsets-0"] {
        assert!(
            dir.path().join(partition).join("clean-shutdown").exists(),
            "{partition}"
        );
    }

    let serve = Serve::start(dir.path());
    let (ok, out, err) = logbus(
        &[
            "consume",
            "events",
            "--max",
            "100",
            "--timeout-ms",
            "5000",
            "--server",
            &serve.native,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, lines, "nothing lost, nothing reordered");
    let log = serve.terminate();
    assert!(
        !log.contains("recovered a log"),
        "clean start expected: {log}"
    );
}
