//! Damaged segments met through the faces a user has: `logbus consume`
//! (plain and as a group member, over the native protocol) fails loudly
//! with a non-zero exit after printing what precedes the damage, never
//! exits 0 having skipped records; `/metrics` counts it; `logbus verify`
//! reports it and exits non-zero, and `--skip-damaged` gives it up so
//! consumers read on.

mod common;

use logbus::broker::{Broker, BrokerConfig, TopicConfig};
use logbus::log::{Durability, LogConfig};
use logbus::record::BatchHeader;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_logbus");

struct Serve {
    child: Child,
    native: String,
    http: String,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http",
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
        assert!(line.starts_with("ready "), "{line:?}");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap()
                .to_owned()
        };
        Serve {
            native: field("native="),
            http: field("http="),
            child,
        }
    }

    /// SIGTERM, wait; returns stderr.
    fn stop(mut self) -> String {
        let id = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &id])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.child.wait().unwrap().success());
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        err
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// Topics `flipped` and `magic`, 60 batches of 10 records each, segments
/// of 4 KiB; a clean shutdown.
fn write_data(dir: &Path) {
    let broker = Broker::open(BrokerConfig::dir(dir)).unwrap();
    // Now, so that retention keeps them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for topic in ["flipped", "magic"] {
        let config = TopicConfig {
            partitions: 1,
            log: LogConfig {
                segment_bytes: 4096,
                ..LogConfig::default()
            },
            ..TopicConfig::default()
        };
        broker.create_topic(topic, config).unwrap();
        for i in 0..60 {
            let mut b = common::batch(&format!("v{i:02}"), 10, now);
            broker
                .produce_raw(topic, 0, &mut b, Durability::Written)
                .unwrap();
        }
    }
    broker.close().unwrap();
}

/// Damages batch 2 of the partition's second segment (flipping a payload
/// byte, or its magic); returns its base offset.
fn damage(partition_dir: &Path, magic: bool) -> i64 {
    let mut segs: Vec<_> = std::fs::read_dir(partition_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segs.sort();
    let mut bytes = std::fs::read(&segs[1]).unwrap();
    let mut at = 0;
    for _ in 0..2 {
        at += BatchHeader::parse(&bytes[at..])
            .unwrap()
            .unwrap()
            .total_len();
    }
    let h = BatchHeader::parse(&bytes[at..]).unwrap().unwrap();
    if magic {
        bytes[at + 16] = 7;
    } else {
        bytes[at + h.total_len() - 2] ^= 0x55;
    }
    std::fs::write(&segs[1], bytes).unwrap();
    h.base_offset
}

fn consume(serve: &Serve, topic: &str, group: Option<&str>) -> Output {
    let mut args = vec![
        "consume",
        topic,
        "--format",
        "json",
        "--timeout-ms",
        "3000",
        "--server",
        &serve.native,
    ];
    if let Some(g) = group {
        args.extend(["--group", g]);
    }
    run(&args)
}

fn offsets(out: &Output) -> Vec<i64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["offset"].as_i64().unwrap()
        })
        .collect()
}

#[test]
fn consume_fails_loudly_at_damage_and_verify_reports_it_until_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    write_data(tmp.path());
    let flipped = damage(&tmp.path().join("flipped-0"), false);
    let magic = damage(&tmp.path().join("magic-0"), true);

    let serve = Serve::start(tmp.path());
    for (topic, first) in [("flipped", flipped), ("magic", magic)] {
        for group in [None, Some("g")] {
            let out = consume(&serve, topic, group);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{topic} {group:?}: consume must not exit 0 past damage; stderr {stderr}"
            );
            assert!(stderr.contains("CORRUPT_MESSAGE"), "{topic}: {stderr}");
            assert_eq!(
                offsets(&out),
                (0..first).collect::<Vec<_>>(),
                "{topic} {group:?}: every record before the damage, none after"
            );
        }
    }
    let metrics = http_get(&serve.http, "/metrics");
    for topic in ["flipped", "magic"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "logbus_topic_damaged_reads_total{{topic=\"{topic}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no damage counter for {topic} in {metrics}"));
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 1, "{line}");
    }
    let log = serve.stop();
    assert!(
        log.contains("WARN")
            && log.contains("damaged")
            && log.contains(&format!("offsets {flipped}..")),
        "damage is logged at WARN with its offsets: {log}"
    );

    let data = tmp.path().to_str().unwrap();
    let out = run(&["verify", data]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "verify exits non-zero on damage: {stdout}"
    );
    assert!(
        stdout.contains(&format!("DAMAGED flipped-0: offsets {flipped}..")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("DAMAGED magic-0: offsets {magic}..")),
        "{stdout}"
    );

    let out = run(&["verify", "--skip-damaged", data]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["verify", data]);
    assert!(
        out.status.success(),
        "nothing damaged is left: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let serve = Serve::start(tmp.path());
    let out = consume(&serve, "flipped", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = offsets(&out);
    assert_eq!(read.first(), Some(&0));
    assert_eq!(
        read.last(),
        Some(&599),
        "records after the skipped range are read"
    );
    assert!(!read.contains(&flipped), "the skipped range is given up");
    serve.stop();
}

#[test]
fn verify_refuses_a_data_directory_a_broker_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(tmp.path());
    let out = run(&["verify", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stop the broker"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serve.stop();
}
