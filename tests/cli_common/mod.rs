//! Helpers of the CLI subprocess tests: a `logbus serve` on free ports,
//! client commands run to completion or kept running, signals, and waits on
//! a condition with a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_logbus");

/// A running `logbus serve` and its addresses.
pub struct Serve {
    pub child: Child,
    pub native: String,
    pub http: String,
    pub kafka: String,
}

impl Serve {
    /// Starts `logbus serve` on `dir` with ports 0 and waits for its ready line.
    pub fn start(dir: &Path) -> Serve {
        Serve::start_with(dir, &[])
    }

    /// As [`Serve::start`], with `global` options before the command.
    pub fn start_with(dir: &Path, global: &[&str]) -> Serve {
        Serve::start_full(dir, global, &[])
    }

    /// As [`Serve::start`], with `global` options before the command and
    /// `extra` options of `serve`.
    pub fn start_full(dir: &Path, global: &[&str], extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(global)
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
            .args(extra)
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
        assert!(
            line.split_whitespace()
                .last()
                .is_some_and(|w| w.starts_with("kafka=")),
            "kafka= is the ready line's last field: {line:?}"
        );
        Serve {
            native: field("native="),
            http: field("http="),
            kafka: field("kafka="),
            child,
        }
    }

    /// Sends SIGTERM and waits; returns what it logged on stderr.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            self.child.wait().unwrap().success(),
            "serve exits 0 on SIGTERM"
        );
        self.stderr()
    }

    /// Kills with SIGKILL and waits.
    pub fn kill9(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.stderr()
    }

    fn stderr(&mut self) -> String {
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

/// Runs a client command; returns (success, stdout, stderr).
pub fn logbus(args: &[&str], stdin: &str) -> (bool, String, String) {
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

pub fn http_get(addr: &str, path: &str) -> String {
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

/// Runs a client command with `stdin` as raw bytes; returns (exit code,
/// stdout, stderr).
pub fn logbus_bytes(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs a command whose stdout is a pipe nobody reads any more (as
/// `logbus ... | head` after `head` exits); returns (exit code, stderr).
pub fn logbus_into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

/// Starts a client command and leaves it running, all three streams piped.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `signal` (`INT`, `TERM`, ...) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `condition` until it holds; panics naming `what` after 30 s.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The high watermark of `topic`'s partition 0 as `topics describe` prints it.
pub fn end_offset(server: &str, topic: &str) -> Option<i64> {
    let (ok, out, _) = logbus(&["topics", "describe", topic, "--server", server], "");
    if !ok {
        return None;
    }
    out.lines()
        .find(|l| l.split_whitespace().next() == Some("0"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
}
