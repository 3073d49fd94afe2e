//! The `mqnamesrv` binary and `bin/mqshutdown` as an operator uses them: `-p`, config errors
//! that name the line, the PID file, and a graceful stop by script.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mqnamesrv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqnamesrv"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn print_config_shows_defaults_and_file_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = mqnamesrv().arg("-p").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l == "listenPort=9876"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "scanNotActiveBrokerInterval=10000"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "brokerChannelExpiredTime=120000"),
        "{text}"
    );

    let file = dir.path().join("ns.properties");
    std::fs::write(&file, "# comment\nlistenPort = 9999\nnoSuchKey=1\n").unwrap();
    let out = mqnamesrv().arg("-c").arg(&file).arg("-p").output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "listenPort=9999")
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        warnings.contains("noSuchKey") && warnings.contains("line 3"),
        "{warnings}"
    );
}

#[test]
fn bad_config_is_an_error_naming_file_line_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.properties");
    std::fs::write(
        &file,
        "listenPort=9876\n\nscanNotActiveBrokerInterval=soon\n",
    )
    .unwrap();
    let out = mqnamesrv().arg("-c").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("bad.properties"), "{error}");
    assert!(error.contains("line 3"), "{error}");
    assert!(
        error.contains("scanNotActiveBrokerInterval") && error.contains("soon"),
        "{error}"
    );

    let missing = mqnamesrv()
        .args(["-c", "/nonexistent/ns.properties"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/ns.properties"));
}

#[test]
fn runs_writes_a_pid_file_and_stops_gracefully_by_mqshutdown() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("ns.properties");
    let kv = dir.path().join("kvConfig.json");
    std::fs::write(
        &file,
        format!("listenPort={port}\nkvConfigPath={}\n", kv.display()),
    )
    .unwrap();
    let pid_dir = dir.path().join("run");
    let mut child = mqnamesrv()
        .arg("-c")
        .arg(&file)
        .env("BOLIDE_PID_DIR", &pid_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    assert!(
        first_line.contains("The Name Server boot success"),
        "{first_line}"
    );
    let pid_file = pid_dir.join(format!("mqnamesrv-{port}.pid"));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("serving");

    let shutdown = Command::new(repo_root().join("bin/mqshutdown"))
        .arg("namesrv")
        .env("BOLIDE_PID_DIR", &pid_dir)
        .output()
        .unwrap();
    assert!(
        shutdown.status.success(),
        "{}",
        String::from_utf8_lossy(&shutdown.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "mqnamesrv did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!pid_file.exists(), "PID file left behind");

    let again = Command::new(repo_root().join("bin/mqshutdown"))
        .arg("namesrv")
        .env("BOLIDE_PID_DIR", &pid_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("No mqnamesrv running"));
}
