//! A broker started in-process on 127.0.0.1:0 over a temp store, and a raw remoting client
//! to talk to it frame by frame.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bolide_broker::config::BrokerConfig;
use bolide_broker::server::{Listeners, run};
use bolide_client::protocol::{ExtFields, RemotingCommand};
use bolide_client::remoting::{ClientConfig, RemotingClient, ShutdownTrigger, shutdown_channel};
use tokio::net::TcpListener;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A broker on its own runtime thread, stopped (cleanly) on drop.
pub struct TestBroker {
    pub addr: String,
    pub port: u16,
    trigger: ShutdownTrigger,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The configuration tests start from: small files, no name server, loopback address.
pub fn test_config(dir: &Path) -> BrokerConfig {
    BrokerConfig {
        store_path_root_dir: dir.to_path_buf(),
        mapped_file_size_commit_log_bytes: 16 << 20,
        namesrv_addr: None,
        broker_ip1: [127, 0, 0, 1].into(),
        broker_ip2: [127, 0, 0, 1].into(),
        broker_name: "broker-a".into(),
        ..BrokerConfig::default()
    }
}

impl TestBroker {
    /// Starts on `port` (0 = any free port).
    pub fn start(mut config: BrokerConfig, port: u16) -> TestBroker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", port)))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        config.listen_port = port;
        let (trigger, shutdown) = shutdown_channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listeners = Listeners {
                    main: listener,
                    fast: None,
                    ha: None,
                };
                if let Err(error) = run(config, listeners, shutdown).await {
                    panic!("broker failed: {error}");
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        TestBroker {
            addr: format!("127.0.0.1:{port}"),
            port,
            trigger,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.trigger.trigger();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("broker thread");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.trigger.trigger();
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}

pub fn client() -> Arc<RemotingClient> {
    Arc::new(RemotingClient::new(ClientConfig::default()))
}

pub fn fields(pairs: &[(&str, &str)]) -> ExtFields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub async fn call(
    client: &RemotingClient,
    addr: &str,
    request: RemotingCommand,
) -> RemotingCommand {
    client
        .invoke(addr, request, TIMEOUT)
        .await
        .expect("response")
}
