//! kill -9 of a SYNC_FLUSH broker in the middle of sends: after a restart every acknowledged
//! message is there to be consumed. Real processes (the `mqbroker` binary), real signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_client::protocol::message::decode_records;
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use common::{client, fields};
use parking_lot::Mutex;

fn free_port() -> u16 {
    // listenPort - 2 (the fast port) must be free too: probe both.
    loop {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if port > 1024 && std::net::TcpListener::bind(("0.0.0.0", port - 2)).is_ok() {
            drop(probe);
            return port;
        }
    }
}

fn start_broker(dir: &std::path::Path, port: u16) -> Child {
    let config = dir.join("broker.properties");
    std::fs::write(
        &config,
        format!(
            "brokerName=broker-a\nbrokerIP1=127.0.0.1\nlistenPort={port}\nstorePathRootDir={}\n\
             flushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=16777216\n",
            dir.join("store").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mqbroker"))
        .arg("-c")
        .arg(&config)
        .env("BOLIDE_PID_DIR", dir.join("run"))
        .env("NAMESRV_ADDR", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "broker did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn send_request(topic: &str, queue_id: i32, body: Vec<u8>) -> RemotingCommand {
    let queue = queue_id.to_string();
    RemotingCommand::request(
        RequestCode::SEND_MESSAGE_V2,
        fields(&[
            ("a", "pg"),
            ("b", topic),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", &queue),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
        ]),
    )
    .with_body(body)
}

#[test]
fn every_acknowledged_sync_flush_message_survives_kill_nine() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = start_broker(dir.path(), port);
    let addr = format!("127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    runtime.block_on(async {
        let client = client();
        let mut writers = Vec::new();
        for writer in 0..8u32 {
            let (client, addr, acknowledged) = (client.clone(), addr.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                for sequence in 0u32.. {
                    let body = format!("{writer}-{sequence}").into_bytes();
                    let request = send_request("Crash", (writer % 4) as i32, body.clone());
                    match client.invoke(&addr, request, Duration::from_secs(5)).await {
                        Ok(response) if response.code == ResponseCode::SUCCESS => {
                            acknowledged.lock().insert(body);
                        }
                        // The broker died: whatever was not acknowledged may be lost.
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        broker.kill().unwrap(); // SIGKILL
        broker.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
    });
    let acknowledged = acknowledged.lock().clone();
    assert!(
        acknowledged.len() > 100,
        "only {} sends acknowledged",
        acknowledged.len()
    );

    let mut broker = start_broker(dir.path(), port);
    let stored = runtime.block_on(async {
        let client = client();
        let mut stored = BTreeSet::new();
        for queue in 0..4 {
            let mut offset = 0u64;
            loop {
                let request = RemotingCommand::request(
                    RequestCode::PULL_MESSAGE,
                    fields(&[
                        ("consumerGroup", "cg"),
                        ("topic", "Crash"),
                        ("queueId", &queue.to_string()),
                        ("queueOffset", &offset.to_string()),
                        ("maxMsgNums", "32"),
                        ("sysFlag", "4"),
                        ("commitOffset", "0"),
                        ("suspendTimeoutMillis", "0"),
                        ("subscription", "*"),
                        ("subVersion", "0"),
                    ]),
                );
                let response = client
                    .invoke(&addr, request, Duration::from_secs(5))
                    .await
                    .unwrap();
                if response.code != ResponseCode::SUCCESS {
                    break;
                }
                let messages = decode_records(&response.body, true).expect("intact records");
                for message in &messages {
                    assert!(stored.insert(message.body.to_vec()), "duplicate record");
                    assert_eq!(
                        message.queue_offset as u64, offset,
                        "offsets are contiguous"
                    );
                    offset += 1;
                }
            }
        }
        stored
    });
    broker.kill().unwrap();
    broker.wait().unwrap();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        lost.first().map(|b| String::from_utf8_lossy(b))
    );
}
