//! Helpers for the interop tests in `tests/`: Bolide servers started in-process on
//! 127.0.0.1:0, for stock clients to talk to.

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

/// A name server running on its own runtime thread, stopped on drop.
#[derive(Debug)]
pub struct NamesrvProcess {
    pub addr: String,
    trigger: ShutdownTrigger,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NamesrvProcess {
    /// Starts a name server keeping its KV config under `dir`.
    pub fn start(dir: &Path) -> std::io::Result<NamesrvProcess> {
        let config = NamesrvConfig {
            kv_config_path: dir.join("kvConfig.json"),
            ..NamesrvConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?.to_string();
        let (trigger, shutdown) = shutdown_channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                if let Err(error) = bolide_namesrv::run(config, listener, shutdown).await {
                    tracing_free_log(&format!("name server failed: {error}"));
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        });
        Ok(NamesrvProcess {
            addr,
            trigger,
            thread: Some(thread),
        })
    }
}

impl Drop for NamesrvProcess {
    fn drop(&mut self) {
        self.trigger.trigger();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing_free_log("name server thread panicked");
        }
    }
}

/// How long [`BrokerProcess::start_with`] waits for the broker to appear in name servers.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A broker running on its own runtime thread, stopped on drop: a master registered with one
/// name server, listening on 127.0.0.1 (no fast port: stock clients leave the VIP channel off).
#[derive(Debug)]
pub struct BrokerProcess {
    /// `127.0.0.1:port`, the address the broker registers and clients connect to.
    pub addr: String,
    config: BrokerConfig,
    trigger: ShutdownTrigger,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl BrokerProcess {
    /// A configuration for tests: broker-a of DefaultCluster storing under `store_dir`,
    /// registered with `namesrv_addr`, ASYNC_FLUSH, 64 MiB CommitLog files and a small key
    /// index, so that a test maps megabytes rather than the gigabytes of the defaults.
    /// `listen_port` 0 lets [`BrokerProcess::start_with`] pick a free port.
    pub fn test_config(store_dir: &Path, namesrv_addr: &str) -> BrokerConfig {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".to_owned(),
            broker_name: "broker-a".to_owned(),
            namesrv_addr: Some(namesrv_addr.to_owned()),
            broker_ip1: loopback,
            broker_ip2: loopback,
            listen_port: 0,
            store_path_root_dir: store_dir.to_owned(),
            mapped_file_size_commit_log_bytes: 64 * 1024 * 1024,
            max_hash_slot_num: 50_000,
            max_index_num: 200_000,
            ..BrokerConfig::default()
        }
    }

    /// Starts [`BrokerProcess::test_config`] on a free port.
    pub fn start(store_dir: &Path, namesrv_addr: &str) -> std::io::Result<BrokerProcess> {
        BrokerProcess::start_with(BrokerProcess::test_config(store_dir, namesrv_addr))
    }

    /// Starts a broker on 127.0.0.1:`config.listen_port` (a free port when 0) and, when it
    /// has name servers, returns once each of them lists it: a producer started earlier would
    /// find no route for TBW102 and fail its first send.
    pub fn start_with(config: BrokerConfig) -> std::io::Result<BrokerProcess> {
        let mut broker = BrokerProcess::spawn(config)?;
        if let Err(error) = broker.wait_until_registered(REGISTRATION_TIMEOUT) {
            let stopped = broker.shutdown_and_join();
            let error = match stopped {
                Ok(()) => error,
                Err(failure) => format!("{error}; the broker failed: {failure}"),
            };
            return Err(std::io::Error::other(error));
        }
        Ok(broker)
    }

    fn spawn(mut config: BrokerConfig) -> std::io::Result<BrokerProcess> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let main =
            runtime.block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, config.listen_port)))?;
        // The advertised address must be the bound one: it is registered and stored in ids.
        config.listen_port = main.local_addr()?.port();
        let addr = config.broker_addr();
        let (trigger, shutdown) = shutdown_channel();
        let run_config = config.clone();
        let thread = std::thread::spawn(move || {
            let listeners = Listeners {
                main,
                fast: None,
                ha: None,
            };
            let result = runtime
                .block_on(bolide_broker::server::run(run_config, listeners, shutdown))
                .map_err(|error| error.to_string());
            runtime.shutdown_timeout(Duration::from_secs(5));
            result
        });
        Ok(BrokerProcess {
            addr,
            config,
            trigger,
            thread: Some(thread),
        })
    }

    /// Polls every name server until its cluster table lists this broker at its address.
    fn wait_until_registered(&self, timeout: Duration) -> Result<(), String> {
        let namesrv_addrs = self.config.namesrv_addrs();
        if namesrv_addrs.is_empty() {
            return Ok(());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        let client = NamesrvClient::new(
            Arc::new(RemotingClient::new(ClientConfig::default())),
            Duration::from_secs(3),
        );
        let deadline = Instant::now() + timeout;
        let mut pending = namesrv_addrs;
        loop {
            pending.retain(|namesrv| !runtime.block_on(self.is_listed_by(&client, namesrv)));
            if pending.is_empty() {
                return Ok(());
            }
            if self
                .thread
                .as_ref()
                .is_some_and(|thread| thread.is_finished())
            {
                return Err(format!("broker {} stopped before registering", self.addr));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "broker {} not registered with {pending:?} after {timeout:?}",
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn is_listed_by(&self, client: &NamesrvClient, namesrv: &str) -> bool {
        let Ok(cluster) = client.cluster_info(namesrv).await else {
            return false;
        };
        let broker_id = u64::try_from(self.config.broker_id).unwrap_or(u64::MAX);
        cluster
            .broker_addr_table
            .get(&self.config.broker_name)
            .and_then(|broker| broker.broker_addrs.get(&broker_id))
            .is_some_and(|addr| *addr == self.addr)
    }

    /// The configuration running, with the port actually bound.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Shuts the broker down and waits for it: consumer offsets saved, store closed, the
    /// store directory unlocked. Returns the broker's own error, if it failed.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown_and_join()
    }

    /// Stops this broker and starts a new one on the same store directory and port, as an
    /// operator restarting a broker process would.
    pub fn restart(mut self) -> Result<BrokerProcess, String> {
        self.shutdown_and_join()?;
        BrokerProcess::start_with(self.config.clone())
            .map_err(|error| format!("cannot restart on {}: {error}", self.addr))
    }

    fn shutdown_and_join(&mut self) -> Result<(), String> {
        self.trigger.trigger();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("broker thread panicked".to_owned())),
            None => Ok(()),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_and_join() {
            tracing_free_log(&format!("broker failed: {error}"));
        }
    }
}

#[allow(clippy::print_stderr)]
fn tracing_free_log(message: &str) {
    eprintln!("{message}");
}
