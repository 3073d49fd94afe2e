//! In-process servers for the root package's client tests: a name server and brokers on
//! 127.0.0.1:0, each a tokio task stopped through its shutdown trigger.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide_broker::config::BrokerConfig;
use bolide_broker::server::Listeners;
use bolide_client::namesrv::NamesrvClient;
use bolide_client::remoting::{ClientConfig, RemotingClient, ShutdownTrigger, shutdown_channel};
use bolide_namesrv::NamesrvConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const TIMEOUT: Duration = Duration::from_secs(3);
/// The longest any wait for a condition lasts (a bound, not a speed assertion).
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// A server task and the trigger that stops it.
pub struct Server {
    pub addr: String,
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops in time")
            .expect("no panic");
    }
}

pub async fn start_namesrv(dir: &Path) -> Server {
    let config = NamesrvConfig {
        kv_config_path: dir.join("kvConfig.json"),
        ..NamesrvConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        bolide_namesrv::run(config, listener, shutdown)
            .await
            .expect("name server runs");
    });
    Server {
        addr,
        trigger,
        task,
    }
}

/// A master broker named `name`, registered with `namesrv`, its config adjusted by `adjust`:
/// returns once every name server serves TBW102 from it, so that auto-creation can go there.
pub async fn start_broker(
    dir: &Path,
    name: &str,
    namesrv: &str,
    adjust: impl FnOnce(&mut BrokerConfig),
) -> Server {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = BrokerConfig {
        broker_cluster_name: "DefaultCluster".to_owned(),
        broker_name: name.to_owned(),
        namesrv_addr: Some(namesrv.to_owned()),
        broker_ip1: loopback,
        broker_ip2: loopback,
        listen_port: main.local_addr().unwrap().port(),
        store_path_root_dir: dir.join(name),
        mapped_file_size_commit_log_bytes: 64 * 1024 * 1024,
        max_hash_slot_num: 50_000,
        max_index_num: 200_000,
        ..BrokerConfig::default()
    };
    adjust(&mut config);
    let addr = config.broker_addr();
    let (trigger, shutdown) = shutdown_channel();
    let task = tokio::spawn(async move {
        bolide_broker::server::run(
            config,
            Listeners {
                main,
                fast: None,
                ha: None,
            },
            shutdown,
        )
        .await
        .expect("broker runs");
    });
    let client = namesrv_client();
    // `namesrv` may list several name servers (`a;b`): wait for every one of them.
    for addr in namesrv.split(';') {
        wait_for("the broker's TBW102 route", || async {
            client
                .route(addr, "TBW102")
                .await
                .ok()
                .flatten()
                .is_some_and(|route| route.broker_datas.iter().any(|b| b.broker_name == name))
        })
        .await;
    }
    Server {
        addr,
        trigger,
        task,
    }
}

pub fn namesrv_client() -> NamesrvClient {
    NamesrvClient::new(
        Arc::new(RemotingClient::new(ClientConfig::default())),
        TIMEOUT,
    )
}

pub async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A name server and one master broker, `broker-a`, registered with it, in a temporary
/// directory; every delay level lasts `delay_level_ms` so that retries come back quickly.
pub struct Cluster {
    pub namesrv: Server,
    pub broker: Server,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(delay_level_ms: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let namesrv = start_namesrv(dir.path()).await;
        let broker = start_broker(dir.path(), "broker-a", &namesrv.addr, |config| {
            config.delay_levels_ms = vec![delay_level_ms; 18];
        })
        .await;
        Cluster {
            namesrv,
            broker,
            dir,
        }
    }

    pub async fn stop(self) {
        self.broker.stop().await;
        self.namesrv.stop().await;
    }
}

/// A free port on 127.0.0.1 (bound, read, released): for a server started later on it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// This test binary run again as a child process executing only the ignored test `entry`,
/// told what to do through the environment variable `key`; killed (SIGKILL) when dropped,
/// so that a failing test leaves nothing behind.
pub struct ChildProcess(std::process::Child);

impl ChildProcess {
    pub fn start(entry: &str, key: &str, value: &str) -> ChildProcess {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([entry, "--exact", "--ignored", "--nocapture"])
            .env(key, value)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        ChildProcess(child)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A writer whose bytes a test reads while the writer is still in use.
#[derive(Clone, Default)]
pub struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

impl Shared {
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
