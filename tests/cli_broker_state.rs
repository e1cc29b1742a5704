//! The broker's own state as a `logbus serve` user meets it: a compacted
//! topic created through the CLI while the broker runs gets compacted;
//! topic names at the length limit work end to end.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_logbus");

/// A running `logbus serve` and its addresses; killed when dropped.
struct Serve {
    child: Child,
    native: String,
    http: String,
}

impl Serve {
    /// Starts `logbus serve` on `dir` with ports 0 and waits for its ready line.
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--kafka",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in ready line {line:?}"))
                .to_owned()
        };
        assert!(line.starts_with("ready "), "{line:?}");
        Serve {
            native: field("native="),
            http: field("http="),
            child,
        }
    }

    /// Sends SIGTERM, waits for a clean exit and returns what it logged.
    fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success(), "serve exits 0");
        let mut s = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client command; returns (success, stdout, stderr).
fn logbus(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The JSON body of `GET path` on the admin HTTP face.
fn http_json(addr: &str, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// Bytes of partition 0 of `topic` on storage, as the admin face reports them.
fn size_bytes(http: &str, topic: &str) -> u64 {
    http_json(http, &format!("/v1/topics/{topic}"))["partitions"][0]["size_bytes"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_compacted_topic_created_through_the_cli_while_serve_runs_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let (ok, _, err) = logbus(
        &[
            "topics",
            "create",
            "balances",
            "--compact",
            "--segment-bytes",
            "16384",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    // Ten produces of 2,000 records each: the CLI sends each as about one
    // batch, and segments roll between batches, so ten segments roll.
    for run in 0..10 {
        let lines: String = (run * 2_000..(run + 1) * 2_000)
            .map(|i| format!("k{}:v{i}\n", i % 100))
            .collect();
        let (ok, _, err) = logbus(
            &[
                "produce",
                "balances",
                "--key-separator",
                ":",
                "--partition",
                "0",
                "--server",
                server,
            ],
            &lines,
        );
        assert!(ok, "{err}");
    }
    let produced = size_bytes(&serve.http, "balances");
    assert!(produced > 100_000, "{produced} bytes produced");
    // The cleaner runs a pass at least every 15 s (Kafka's backoff); the
    // sealed segments then hold one record per key.
    let deadline = Instant::now() + Duration::from_secs(90);
    while size_bytes(&serve.http, "balances") > produced / 2 {
        assert!(
            Instant::now() < deadline,
            "not compacted: {} bytes",
            size_bytes(&serve.http, "balances")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out, err) = logbus(
        &[
            "consume",
            "balances",
            "--format",
            "json",
            "--timeout-ms",
            "1000",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    let mut latest = std::collections::BTreeMap::new();
    let mut count = 0;
    for line in out.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        latest.insert(
            r["key"].as_str().unwrap().to_owned(),
            r["value"].as_str().unwrap().to_owned(),
        );
        count += 1;
    }
    assert!(count < 20_000 / 2, "{count} records after compaction");
    for k in 0..100 {
        assert_eq!(latest[&format!("k{k}")], format!("v{}", 19_900 + k));
    }
    serve.terminate();
}

#[test]
fn topic_names_up_to_kafkas_249_characters_work_end_to_end_and_longer_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path());
    let server = serve.native.as_str();
    let created = "c".repeat(249);
    let (ok, _, err) = logbus(
        &[
            "topics",
            "create",
            &created,
            "--partitions",
            "2",
            "--server",
            server,
        ],
        "",
    );
    assert!(ok, "{err}");
    // Auto-created on first produce, also at the limit.
    let auto = format!("{}{}", "a".repeat(246), "xyz");
    for topic in [&created, &auto] {
        let (ok, _, err) = logbus(
            &["produce", topic, "--partition", "0", "--server", server],
            "one\ntwo\n",
        );
        assert!(ok, "{topic}: {err}");
    }
    let consume = |server: &str, topic: &str| {
        let (ok, out, err) = logbus(
            &[
                "consume",
                topic,
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
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(consume(server, &created), vec!["one", "two"]);
    assert_eq!(consume(server, &auto), vec!["one", "two"]);
    let too_long = "z".repeat(250);
    let (ok, _, err) = logbus(&["topics", "create", &too_long, "--server", server], "");
    assert!(!ok);
    assert!(err.contains("249"), "{err}");
    let logged = serve.terminate();
    assert!(!logged.contains("WARN"), "{logged}");
    // Every file name fitted: the restart finds both topics whole.
    let serve = Serve::start(dir.path());
    assert_eq!(consume(&serve.native, &created), vec!["one", "two"]);
    assert_eq!(consume(&serve.native, &auto), vec!["one", "two"]);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&format!("{created}.topic")), "{names:?}");
    assert!(names.contains(&format!("{created}-1")), "{names:?}");
    serve.terminate();
}

#[test]
fn a_storage_error_is_logged_at_warn_with_its_cause_and_foreign_entries_survive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x-0"), "a user's file").unwrap();
    std::fs::create_dir(dir.path().join("notes-1")).unwrap();
    std::fs::write(dir.path().join("notes-1/todo.txt"), "milk").unwrap();
    let serve = Serve::start(dir.path());
    let (ok, _, err) = logbus(&["topics", "create", "x", "--server", &serve.native], "");
    assert!(!ok);
    assert!(err.contains("KAFKA_STORAGE_ERROR"), "{err}");
    let logged = serve.terminate();
    let warn = logged
        .lines()
        .find(|l| l.contains("WARN") && l.contains("creating a topic failed"))
        .unwrap_or_else(|| panic!("no WARN in {logged}"));
    assert!(warn.contains("exists"), "no cause in {warn}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x-0")).unwrap(),
        "a user's file"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes-1/todo.txt")).unwrap(),
        "milk"
    );
}
