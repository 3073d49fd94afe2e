//! Helpers for the interop tests in `tests/`: Bolide servers started in-process on
//! 127.0.0.1:0, for stock clients to talk to.

use std::path::Path;
use std::time::Duration;

use bolide_client::remoting::{ShutdownTrigger, shutdown_channel};
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

#[allow(clippy::print_stderr)]
fn tracing_free_log(message: &str) {
    eprintln!("{message}");
}
