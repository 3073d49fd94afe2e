//! The admin API behind `mqadmin`: typed calls to name servers and brokers for topics,
//! clusters, consumer groups, messages and broker configuration (Java `DefaultMQAdminExt`).
//!
//! [`AdminClient`] fans a request out the way Java's admin tools do, so that its answers
//! agree with theirs: topic-wide reports go to one address of every broker in the topic's
//! route, group-wide reports use the route of the group's `%RETRY%` topic (the only route a
//! group has), and cluster-wide changes go to each master the name server lists for the
//! cluster. Every error names the server, the topic or group, the response code and the
//! remark, so that an operator can tell which of many brokers refused and why.
//!
//! `cli` turns RocketMQ's `mqadmin` command lines into these calls and prints the answers.

mod broker;
pub mod cli;
mod consumer;
mod error;
mod message;
pub mod report;
pub mod table;
pub mod time;
mod topic;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::namesrv::{ClientError, NamesrvClient};
use crate::protocol::header::CommandHeader;
use crate::protocol::route::{BrokerData, ClusterInfo, TopicList, TopicRouteData};
use crate::protocol::{ExtFields, ProtocolError, RemotingCommand, ResponseCode};
use crate::remoting::{ClientConfig, RemotingClient};

pub use broker::{BrokerAddr, BrokerConfigView, BrokerRuntime};
pub use consumer::{GroupSummary, ResetOffsets};
pub use error::{AdminError, response_code_name};
pub use message::{QueryKind, decode_body, retry_topic};
pub use topic::TopicSpec;

/// How long one request may take; Java's admin default is 5 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Receives the progress of operations that visit several servers, one call per server
/// visited: the step (1-based), the number of steps, and what the step does.
pub type Progress = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

/// Admin calls over one set of name servers. Cheap to clone; connections are shared.
#[derive(Clone)]
pub struct AdminClient {
    remoting: Arc<RemotingClient>,
    namesrv: NamesrvClient,
    namesrv_addrs: Vec<String>,
    timeout: Duration,
    progress: Option<Progress>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("namesrv_addrs", &self.namesrv_addrs)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// A client of the name servers `namesrv_addrs` (at least one), each request bounded by
    /// `timeout`.
    pub fn new(namesrv_addrs: Vec<String>, timeout: Duration) -> Result<Self, AdminError> {
        if namesrv_addrs.is_empty() {
            return Err(AdminError::NoNamesrv);
        }
        let remoting = Arc::new(RemotingClient::new(ClientConfig::default()));
        Ok(AdminClient {
            namesrv: NamesrvClient::new(remoting.clone(), timeout),
            remoting,
            namesrv_addrs,
            timeout,
            progress: None,
        })
    }

    /// Reports each server visited by long operations to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv_addrs
    }

    /// The typed name-server calls, for requests that target one name server.
    pub fn namesrv(&self) -> &NamesrvClient {
        &self.namesrv
    }

    fn report(&self, step: usize, total: usize, line: &str) {
        if let Some(progress) = &self.progress {
            progress(step + 1, total, line);
        }
    }

    /// Asks the name servers in order until one answers; the last error otherwise. Reads
    /// go to any one name server, as Java's admin client does.
    async fn ask_any_namesrv<T, F, Fut>(&self, mut call: F) -> Result<T, AdminError>
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut last = None;
        for addr in &self.namesrv_addrs {
            match call(addr.clone()).await {
                Ok(value) => return Ok(value),
                Err(error) => last = Some(error),
            }
        }
        Err(last.map_or(AdminError::NoNamesrv, AdminError::Namesrv))
    }

    pub async fn cluster_info(&self) -> Result<ClusterInfo, AdminError> {
        self.ask_any_namesrv(|addr| async move { self.namesrv.cluster_info(&addr).await })
            .await
    }

    pub async fn all_topics(&self) -> Result<TopicList, AdminError> {
        self.ask_any_namesrv(|addr| async move { self.namesrv.all_topics(&addr).await })
            .await
    }

    /// The topic's route; an error naming the topic when no name server knows it.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData, AdminError> {
        let route = self
            .ask_any_namesrv(|addr| async move { self.namesrv.route(&addr, topic).await })
            .await?;
        route.ok_or_else(|| AdminError::NoRoute {
            topic: topic.to_owned(),
            namesrv: self.namesrv_addrs.join(";"),
        })
    }

    /// One address per broker of the route (master if present, else a slave), as Java's
    /// `selectBrokerAddr` chooses, with the broker's name.
    pub fn route_addrs(route: &TopicRouteData) -> Vec<(String, String)> {
        route
            .broker_datas
            .iter()
            .filter_map(|data| {
                let addr = data.select_addr()?;
                Some((data.broker_name.clone(), addr.to_owned()))
            })
            .collect()
    }

    /// Every broker of `cluster`: name, id and address, masters first within each name.
    pub async fn cluster_brokers(&self, cluster: &str) -> Result<Vec<BrokerAddr>, AdminError> {
        let info = self.cluster_info().await?;
        let Some(names) = info.cluster_addr_table.get(cluster) else {
            let known: Vec<&str> = info.cluster_addr_table.keys().map(String::as_str).collect();
            return Err(AdminError::UnknownCluster {
                cluster: cluster.to_owned(),
                known: known.join(", "),
            });
        };
        let mut brokers = Vec::new();
        for name in names {
            let Some(data) = info.broker_addr_table.get(name) else {
                continue;
            };
            brokers.extend(data.broker_addrs.iter().map(|(&id, addr)| BrokerAddr {
                cluster: cluster.to_owned(),
                broker_name: name.clone(),
                broker_id: id,
                addr: addr.clone(),
            }));
        }
        Ok(brokers)
    }

    /// The masters of `cluster`; an error when it has none, since a change sent nowhere
    /// must not look like success.
    pub async fn cluster_masters(&self, cluster: &str) -> Result<Vec<BrokerAddr>, AdminError> {
        let masters: Vec<BrokerAddr> = self
            .cluster_brokers(cluster)
            .await?
            .into_iter()
            .filter(|broker| broker.broker_id == BrokerData::MASTER_ID)
            .collect();
        if masters.is_empty() {
            return Err(AdminError::NoMaster {
                cluster: cluster.to_owned(),
            });
        }
        Ok(masters)
    }

    /// Sends a request to a broker; any code but SUCCESS becomes an error naming `subject`
    /// (the topic or group the request was about).
    async fn broker_call(
        &self,
        addr: &str,
        subject: &str,
        code: i32,
        ext_fields: ExtFields,
        body: Bytes,
    ) -> Result<RemotingCommand, AdminError> {
        let response = self
            .broker_call_any(addr, subject, code, ext_fields, body)
            .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(AdminError::Broker {
                addr: addr.to_owned(),
                subject: subject.to_owned(),
                request_code: code,
                code: response.code,
                remark: response.remark_text().to_owned(),
            });
        }
        Ok(response)
    }

    /// Like [`Self::broker_call`] but hands back refusals too, for callers that treat some
    /// codes (QUERY_NOT_FOUND) as an empty answer.
    async fn broker_call_any(
        &self,
        addr: &str,
        subject: &str,
        code: i32,
        ext_fields: ExtFields,
        body: Bytes,
    ) -> Result<RemotingCommand, AdminError> {
        let request = RemotingCommand::request(code, ext_fields).with_body(body);
        self.remoting
            .invoke(addr, request, self.timeout)
            .await
            .map_err(|source| AdminError::Remoting {
                subject: subject.to_owned(),
                source,
            })
    }

    async fn broker_header_call(
        &self,
        addr: &str,
        subject: &str,
        code: i32,
        header: &impl CommandHeader,
    ) -> Result<RemotingCommand, AdminError> {
        self.broker_call(addr, subject, code, header.to_ext_fields(), Bytes::new())
            .await
    }
}

/// Maps a body decoding failure to an error naming the server and what was decoded.
fn decoded<T>(
    addr: &str,
    what: &'static str,
    result: Result<T, ProtocolError>,
) -> Result<T, AdminError> {
    result.map_err(|source| AdminError::Decode {
        addr: addr.to_owned(),
        what,
        source,
    })
}
