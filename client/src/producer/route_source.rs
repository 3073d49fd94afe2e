//! Where clients get topic routes: GET_ROUTEINFO_BY_TOPIC from a list of name servers, the
//! first picked at random and kept while it answers, the others tried round-robin when it
//! fails; and the UNREGISTER_CLIENT a client sends its brokers at shutdown. Shared by the
//! producer and the push consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::namesrv::NamesrvClient;
use crate::protocol::broker_header::UnregisterClientRequestHeader;
use crate::protocol::header::CommandHeader;
use crate::protocol::route::TopicRouteData;
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

/// UNREGISTER_CLIENT to each broker in `addrs`, then closes the connection to it. Failures
/// are logged: the broker drops a silent client after 120 s anyway.
pub(crate) async fn unregister_client(
    remoting: &RemotingClient,
    addrs: Vec<String>,
    header: &UnregisterClientRequestHeader,
    timeout: Duration,
) {
    for addr in addrs {
        let request =
            RemotingCommand::request(RequestCode::UNREGISTER_CLIENT, header.to_ext_fields());
        match remoting.invoke(&addr, request, timeout).await {
            Ok(response) if response.code == ResponseCode::SUCCESS => {}
            Ok(response) => tracing::warn!(
                "unregister from {addr} refused: code {}, {}",
                response.code,
                response.remark_text()
            ),
            Err(error) => tracing::warn!("unregister from {addr} failed: {error}"),
        }
        remoting.close(&addr);
    }
}

#[derive(Debug)]
pub(crate) struct RouteSource {
    namesrv: NamesrvClient,
    addrs: Vec<String>,
    /// The name server asked first: random at start, moved on when one fails.
    index: AtomicUsize,
}

impl RouteSource {
    pub(crate) fn new(
        remoting: Arc<RemotingClient>,
        addrs: Vec<String>,
        timeout: Duration,
    ) -> Self {
        let start = rand::random_range(0..addrs.len().max(1));
        RouteSource {
            namesrv: NamesrvClient::new(remoting, timeout),
            addrs,
            index: AtomicUsize::new(start),
        }
    }

    /// `topic`'s route from the current name server, failing over to the others.
    /// `Ok(None)`: a name server answered that the topic does not exist. `Err`: every name
    /// server failed, each failure described.
    pub(crate) async fn route(&self, topic: &str) -> Result<Option<TopicRouteData>, String> {
        let start = self.index.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..self.addrs.len() {
            let index = (start + step) % self.addrs.len();
            match self.namesrv.route(&self.addrs[index], topic).await {
                Ok(route) => {
                    self.index.store(index, Ordering::Relaxed);
                    return Ok(route);
                }
                Err(error) => failures.push(error.to_string()),
            }
        }
        Err(format!("every name server failed: {}", failures.join("; ")))
    }
}
