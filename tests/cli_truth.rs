//! The CLI tells the truth: `produce` counts what the broker stored, also
//! when it fails midway or is interrupted; `consume --group` leaves its
//! group on SIGINT/SIGTERM; a closed stdout ends a command quietly with
//! status 1; lag and group states read the same in the CLI, the admin JSON
//! and the metrics.

mod cli_common;

use cli_common::{
    Serve, end_offset, http_get, logbus, logbus_bytes, logbus_into_closed_pipe, signal, spawn,
    wait_until,
};
use std::io::{BufRead, BufReader, Read, Write};

#[test]
fn produce_counts_the_records_stored_before_a_line_that_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let mut stdin: Vec<u8> = (1..=10)
        .flat_map(|i| format!("r{i}\n").into_bytes())
        .collect();
    stdin.extend_from_slice(b"bad \xff line\nr12\n");
    let (code, _, err) = logbus_bytes(&["produce", "t", "--server", &serve.native], &stdin);
    assert_eq!(code, Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "acknowledged 10", "{err}");
    assert!(lines[1].contains("line 11 of stdin is not UTF-8"), "{err}");
    assert_eq!(end_offset(&serve.native, "t"), Some(10));
    serve.terminate();
}

/// Starts `produce`, feeds it `lines`, waits until the broker stored them
/// with stdin still open (as a user typing), sends `sig`; returns the exit
/// code and stderr.
fn interrupt_produce(server: &str, lines: usize, sig: &str) -> (Option<i32>, String) {
    let mut child = spawn(&["produce", "typed", "--server", server]);
    // Held open until the command exited: an end of input must not race the signal.
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..lines {
        writeln!(stdin, "line-{i}").unwrap();
    }
    stdin.flush().unwrap();
    wait_until("the typed lines to be stored", || {
        end_offset(server, "typed") == Some(lines as i64)
    });
    signal(&child, sig);
    let status = child.wait().unwrap();
    drop(stdin);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn produce_on_sigint_prints_the_true_count_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let (code, err) = interrupt_produce(&serve.native, 5, "INT");
    assert_eq!(code, Some(130), "{err}");
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        ["acknowledged 5", "logbus: stopped by SIGINT"]
    );
    serve.terminate();
}

#[test]
fn produce_on_sigterm_prints_the_true_count_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let (code, err) = interrupt_produce(&serve.native, 3, "TERM");
    assert_eq!(code, Some(143), "{err}");
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        ["acknowledged 3", "logbus: stopped by SIGTERM"]
    );
    serve.terminate();
}

/// The group's state and LAG column from `groups describe`.
fn describe(server: &str, group: &str) -> (String, Vec<String>) {
    let (ok, out, err) = logbus(&["groups", "describe", group, "--server", server], "");
    assert!(ok, "{err}");
    let state = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("state="))
        .unwrap()
        .to_owned();
    let lags = out
        .lines()
        .filter(|l| l.trim_start().starts_with("events"))
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    (state, lags)
}

#[test]
fn consume_group_on_sigint_commits_what_it_printed_and_leaves_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(&["produce", "events", "--server", server], "a\nb\nc\n");
    assert!(ok, "{err}");
    let mut child = spawn(&["consume", "events", "--group", "g", "--server", server]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        printed.push(line);
    }
    assert_eq!(printed, ["a\n", "b\n", "c\n"]);
    wait_until("the printed records to be committed", || {
        describe(server, "g").1 == ["0"]
    });
    signal(&child, "INT");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    // Left at once, not after the session timeout: the group is empty now,
    // so its offsets can be reset right away.
    assert_eq!(describe(server, "g").0, "Empty");
    let (ok, _, err) = logbus(
        &[
            "groups", "reset", "g", "--topic", "events", "--to", "earliest", "--server", server,
        ],
        "",
    );
    assert!(ok, "{err}");
    serve.terminate();
}

#[test]
fn a_closed_stdout_ends_commands_quietly_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(&["produce", "events", "--server", server], "a\nb\n");
    assert!(ok, "{err}");
    let (ok, _, err) = logbus(
        &[
            "consume",
            "events",
            "--group",
            "g",
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
    for args in [
        &["topics", "list", "--server", server][..],
        &["topics", "describe", "events", "--server", server],
        &["groups", "list", "--server", server],
        &["groups", "describe", "g", "--server", server],
        &["consume", "events", "--max", "2", "--server", server],
    ] {
        let (code, err) = logbus_into_closed_pipe(args);
        assert_eq!((code, err.as_str()), (Some(1), ""), "{args:?}");
    }
    let (code, err) =
        logbus_into_closed_pipe(&["dump", &dir.path().join("events-0").to_string_lossy()]);
    assert_eq!((code, err.as_str()), (Some(1), ""));
    serve.terminate();
}

#[test]
fn lag_without_a_commit_is_unknown_in_the_cli_the_json_and_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(
        &[
            "topics",
            "create",
            "events",
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = logbus(
        &["produce", "events", "--partition", "0", "--server", server],
        "a\nb\nc\n",
    );
    assert!(ok, "{err}");
    // One record of partition 0 read and committed; partition 1 never committed.
    let (ok, _, err) = logbus(
        &[
            "consume",
            "events",
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
    let (state, lags) = describe(server, "g");
    assert_eq!(
        (state.as_str(), lags),
        ("Empty", vec!["2".into(), "-".into()])
    );

    let body = http_get(&serve.http, "/v1/groups/g");
    let json: serde_json::Value =
        serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["state"], "Empty");
    let lags: Vec<&serde_json::Value> = json["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["lag"])
        .collect();
    assert_eq!(lags, [&serde_json::json!(2), &serde_json::Value::Null]);
    assert_eq!(json["total_lag"], 2);

    let metrics = http_get(&serve.http, "/metrics");
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("logbus_group_lag{"))
        .collect();
    assert_eq!(
        series,
        ["logbus_group_lag{group=\"g\",topic=\"events\",partition=\"0\"} 2"],
        "{metrics}"
    );
    serve.terminate();
}
