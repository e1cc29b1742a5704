//! The CLI fails fast with the right message: errors no retry can cure
//! surface at once (not after the delivery timeout), name what is wrong,
//! and say it once.

mod cli_common;

use cli_common::{Serve, logbus, logbus_bytes};

/// What `produce` said on stderr, after checking it failed with status 1
/// without waiting for its delivery timeout (whose expiry the message
/// would mention).
fn produce_fails(args: &[&str], stdin: &str) -> String {
    let (code, _, err) = logbus_bytes(args, stdin.as_bytes());
    assert_eq!(code, Some(1), "{err}");
    assert!(
        !err.contains("delivery timeout"),
        "waited for the timeout: {err}"
    );
    assert_eq!(err.lines().next(), Some("acknowledged 0"), "{err}");
    err
}

#[test]
fn produce_fails_at_once_on_a_missing_partition_or_topic() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_full(dir.path(), &[], &["--no-auto-create"]);
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(
        &[
            "topics",
            "create",
            "t",
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let err = produce_fails(
        &["produce", "t", "--partition", "5", "--server", server],
        "a\n",
    );
    assert!(
        err.contains("topic t has no partition 5 (it has 2)"),
        "{err}"
    );
    let err = produce_fails(&["produce", "nope", "--server", server], "a\n");
    assert!(err.contains("unknown topic nope"), "{err}");
    serve.terminate();
}

#[test]
fn produce_fails_at_once_when_nothing_listens_or_the_host_is_unknown() {
    let err = produce_fails(&["produce", "t", "--server", "127.0.0.1:1"], "a\n");
    assert_eq!(
        err.matches("cannot connect to 127.0.0.1:1").count(),
        1,
        "{err}"
    );
    let err = produce_fails(
        &["produce", "t", "--server", "no-such-host.invalid:7171"],
        "a\n",
    );
    assert_eq!(
        err.matches("cannot connect to no-such-host.invalid")
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn a_negative_partition_is_refused_before_connecting() {
    let (code, _, err) = logbus_bytes(
        &["produce", "t", "--partition=-1", "--server", "127.0.0.1:1"],
        b"a\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--partition"), "{err}");
    assert!(!err.contains("connect"), "{err}");
}

#[test]
fn serve_says_each_problem_once() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    // The address is taken.
    let other = tempfile::tempdir().unwrap();
    let (ok, _, err) = logbus(
        &[
            "serve",
            "--listen",
            &serve.native,
            "--http",
            "127.0.0.1:0",
            "--data",
            &other.path().to_string_lossy(),
        ],
        "",
    );
    assert!(!ok);
    assert_eq!(err.matches("cannot listen on").count(), 1, "{err}");
    // The directory is taken.
    let d = dir.path().display().to_string();
    let (ok, _, err) = logbus(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data",
            &d,
        ],
        "",
    );
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        format!(
            "logbus: cannot open the broker: data directory {d} is already used by another broker: cannot lock {d}: its lock is held by another process"
        )
    );
    serve.terminate();
    // The directory is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let (ok, _, err) = logbus(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data",
            &file.to_string_lossy(),
        ],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains(&format!("{} is not a directory", file.display())),
        "{err}"
    );
}

#[test]
fn errors_name_the_topic_or_group_and_the_real_limits() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    for (args, expected) in [
        (&["topics", "describe", "nope"][..], "topic nope"),
        (&["consume", "nope", "--timeout-ms", "100"], "topic nope"),
        (&["groups", "describe", "nope"], "group nope"),
        (
            &[
                "groups", "reset", "g", "--topic", "nope", "--to", "earliest",
            ],
            "topic nope",
        ),
        (
            &["topics", "create", "big", "--partitions", "100000"],
            "invalid partition count 100000: a topic has 1 to 10000 partitions",
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(["--server", server]);
        let (ok, _, err) = logbus(&args, "");
        assert!(!ok, "{args:?}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    serve.terminate();
}

#[test]
fn counts_agree_with_their_nouns() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, out, err) = logbus(&["topics", "create", "one", "--server", server], "");
    assert!(ok, "{err}");
    assert_eq!(out, "created topic one with 1 partition\n");
    let (ok, out, err) = logbus(
        &[
            "topics",
            "create",
            "two",
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "created topic two with 2 partitions\n");
    let (_, out, _) = logbus(&["topics", "list", "--server", server], "");
    assert_eq!(out, "one\t1 partition\ntwo\t2 partitions\n");
    serve.terminate();
}

#[test]
fn from_takes_iso_8601_and_warns_about_seconds_and_offsets_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(&["produce", "t", "--server", server], "a\nb\n");
    assert!(ok, "{err}");
    let consume = |from: &str| {
        logbus(
            &[
                "consume",
                "t",
                "--from",
                from,
                "--timeout-ms",
                "300",
                "--server",
                server,
            ],
            "",
        )
    };

    let (ok, out, err) = consume("2000-01-01T00:00:00Z");
    assert!(ok, "{err}");
    assert_eq!(out, "a\nb\n");
    let (ok, out, err) = consume("2999-01-01");
    assert!(ok, "{err}");
    assert_eq!(out, "");
    let (ok, _, err) = consume("2026-02-30");
    assert!(!ok);
    assert!(err.contains("no such date 2026-02-30"), "{err}");

    // Seconds where milliseconds are meant: everything matches, and it says why.
    let (ok, out, err) = consume("@1796211437");
    assert!(ok, "{err}");
    assert_eq!(out, "a\nb\n");
    assert!(
        err.contains("@1796211437 is read as milliseconds (1970-01-21T18:56:51.437Z)"),
        "{err}"
    );
    assert!(
        err.contains("write @1796211437000 or 2026-12-02T11:37:17.000Z"),
        "{err}"
    );

    let (ok, out, err) = consume("1000");
    assert!(ok, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("offset 1000 is past the end of t-0 (end offset 2)"),
        "{err}"
    );
    serve.terminate();
}
