//! The transport end to end over real sockets on 127.0.0.1:0: responses matched by opaque
//! even when they finish out of order, timeouts, oneway, reconnection, idle close, the
//! connection cap, and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bolide_client::protocol::{ExtFields, RemotingCommand, ResponseCode};
use bolide_client::remoting::{
    ClientConfig, ConnectionHandle, RemotingClient, RemotingError, RequestProcessor, ServerConfig,
    ShutdownTrigger, serve, shutdown_channel,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Code 1: echo the body after `delay_ms` (an extFields value). Code 2: count, no answer.
#[derive(Default)]
struct TestProcessor {
    oneway_seen: AtomicUsize,
    closed: AtomicUsize,
}

impl RequestProcessor for TestProcessor {
    async fn process(
        &self,
        _c: &ConnectionHandle,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        match request.code {
            1 => {
                let delay: u64 = request
                    .ext_fields
                    .get("delay_ms")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Some(
                    RemotingCommand::response_to(&request, 0, None).with_body(request.body.clone()),
                )
            }
            2 => {
                self.oneway_seen.fetch_add(1, Ordering::SeqCst);
                Some(RemotingCommand::response_to(&request, 0, None))
            }
            _ => Some(RemotingCommand::response_to(
                &request,
                ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                None,
            )),
        }
    }

    fn connection_closed(&self, _c: &ConnectionHandle) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

struct Server {
    addr: String,
    processor: Arc<TestProcessor>,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config: ServerConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let processor = Arc::new(TestProcessor::default());
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(serve(listener, processor.clone(), config, shutdown));
    Server {
        addr,
        processor,
        trigger,
        task,
    }
}

fn echo(delay_ms: u64, body: &str) -> RemotingCommand {
    let mut fields = ExtFields::new();
    fields.insert("delay_ms".into(), delay_ms.to_string());
    RemotingCommand::request(1, fields).with_body(body.as_bytes().to_vec())
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default())
}

#[tokio::test]
async fn out_of_order_responses_reach_their_requests() {
    let server = start(ServerConfig::default()).await;
    let client = Arc::new(client());
    let slow = {
        let client = client.clone();
        let addr = server.addr.clone();
        tokio::spawn(async move {
            client
                .invoke(&addr, echo(2_000, "slow"), Duration::from_secs(5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fast = client
        .invoke(&server.addr, echo(0, "fast"), Duration::from_secs(3))
        .await
        .expect("fast");
    assert_eq!(&fast.body[..], b"fast");
    // The fast answer overtook the slow one on the same connection.
    assert!(
        !slow.is_finished(),
        "fast response waited behind the slow one"
    );
    let slow = slow.await.expect("join").expect("slow");
    assert_eq!(&slow.body[..], b"slow");
}

#[tokio::test]
async fn timeout_names_the_request_and_the_connection_survives() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    let error = client
        .invoke(&server.addr, echo(500, "late"), Duration::from_millis(100))
        .await
        .expect_err("times out");
    assert!(
        matches!(error, RemotingError::Timeout { code: 1, .. }),
        "{error}"
    );
    let ok = client
        .invoke(&server.addr, echo(0, "next"), Duration::from_secs(3))
        .await
        .expect("next");
    assert_eq!(&ok.body[..], b"next");
}

#[tokio::test]
async fn oneway_requests_get_no_response() {
    let server = start(ServerConfig::default()).await;
    let client = client();
    for _ in 0..3 {
        client
            .invoke_oneway(
                &server.addr,
                RemotingCommand::request(2, ExtFields::new()),
                Duration::from_secs(1),
            )
            .await
            .expect("oneway");
    }
    // A raw socket shows that nothing comes back for a oneway request.
    let mut raw = TcpStream::connect(&server.addr).await.expect("connect");
    let mut frame = bytes::BytesMut::new();
    let request = RemotingCommand::request(2, ExtFields::new()).with_oneway();
    bolide_client::protocol::encode_frame(&request, &mut frame).expect("encode");
    raw.write_all(&frame).await.expect("write");
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(300), raw.read(&mut buf)).await;
    assert!(read.is_err(), "server answered a oneway request");
    assert_eq!(server.processor.oneway_seen.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn client_reconnects_after_the_server_restarts() {
    let server = start(ServerConfig::default()).await;
    let addr = server.addr.clone();
    let client = client();
    client
        .invoke(&addr, echo(0, "one"), Duration::from_secs(3))
        .await
        .expect("first");
    server.trigger.trigger();
    server.task.await.expect("server stops");
    assert!(
        client
            .invoke(&addr, echo(0, "down"), Duration::from_secs(1))
            .await
            .is_err()
    );
    // Same port, new server.
    let listener = TcpListener::bind(&addr).await.expect("rebind");
    let (_trigger, shutdown) = shutdown_channel();
    tokio::spawn(serve(
        listener,
        Arc::new(TestProcessor::default()),
        ServerConfig::default(),
        shutdown,
    ));
    let again = client
        .invoke(&addr, echo(0, "two"), Duration::from_secs(3))
        .await
        .expect("reconnected");
    assert_eq!(&again.body[..], b"two");
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = start(ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let mut raw = TcpStream::connect(&server.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), raw.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "idle connection stayed open: {read:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.processor.closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_others_keep_working() {
    let server = start(ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    })
    .await;
    let first = client();
    let second = client();
    first
        .invoke(&server.addr, echo(0, "a"), Duration::from_secs(3))
        .await
        .expect("first");
    second
        .invoke(&server.addr, echo(0, "b"), Duration::from_secs(3))
        .await
        .expect("second");
    let third = client();
    assert!(
        third
            .invoke(&server.addr, echo(0, "c"), Duration::from_secs(1))
            .await
            .is_err()
    );
    first
        .invoke(&server.addr, echo(0, "a2"), Duration::from_secs(3))
        .await
        .expect("first again");
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let server = start(ServerConfig::default()).await;
    let client = Arc::new(client());
    let pending = {
        let client = client.clone();
        let addr = server.addr.clone();
        tokio::spawn(async move {
            client
                .invoke(&addr, echo(300, "finish"), Duration::from_secs(3))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.trigger.trigger();
    let answer = pending
        .await
        .expect("join")
        .expect("answered during shutdown");
    assert_eq!(&answer.body[..], b"finish");
    tokio::time::timeout(Duration::from_secs(7), server.task)
        .await
        .expect("server stopped")
        .expect("join");
    assert!(
        TcpStream::connect(&server.addr).await.is_err(),
        "still accepting after shutdown"
    );
}
