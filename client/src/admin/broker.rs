//! Brokers: runtime statistics (`clusterList`, `brokerStatus`) and configuration
//! (`getBrokerConfig`, `updateBrokerConfig`).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{AdminClient, AdminError, decoded};
use crate::properties;
use crate::protocol::broker_header::GetBrokerConfigResponseHeader;
use crate::protocol::header::CommandHeader;
use crate::protocol::route::KvTable;
use crate::protocol::{ExtFields, RequestCode};

/// One broker address as the name server lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BrokerAddr {
    pub cluster: String,
    pub broker_name: String,
    /// 0 for the master, 1.. for slaves.
    pub broker_id: u64,
    pub addr: String,
}

impl std::fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (id {}, {})",
            self.broker_name, self.broker_id, self.addr
        )
    }
}

/// A broker and what it answered to GET_BROKER_RUNTIME_INFO. A broker that cannot be
/// reached keeps its row with the error, as Java's `clusterList` keeps a row of blanks.
#[derive(Debug)]
pub struct BrokerRuntime {
    pub broker: BrokerAddr,
    pub stats: Result<KvTable, AdminError>,
}

/// A broker's configuration as GET_BROKER_CONFIG gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfigView {
    /// The configuration's DataVersion, JSON text.
    pub version: String,
    /// Key → value, sorted by key.
    pub entries: BTreeMap<String, String>,
}

const BROKER_SUBJECT: &str = "broker";

impl AdminClient {
    /// GET_BROKER_RUNTIME_INFO: the broker's statistics as key/value strings.
    pub async fn runtime_info(&self, addr: &str) -> Result<KvTable, AdminError> {
        let code = RequestCode::GET_BROKER_RUNTIME_INFO;
        let response = self
            .broker_call(addr, BROKER_SUBJECT, code, ExtFields::new(), Bytes::new())
            .await?;
        decoded(addr, "KVTable", KvTable::decode(&response.body))
    }

    /// Every broker of every cluster (or of `cluster` only) with its runtime statistics.
    pub async fn cluster_runtime(
        &self,
        cluster: Option<&str>,
    ) -> Result<Vec<BrokerRuntime>, AdminError> {
        let brokers = match cluster {
            Some(cluster) => self.cluster_brokers(cluster).await?,
            None => {
                let info = self.cluster_info().await?;
                let mut all = Vec::new();
                for name in info.cluster_addr_table.keys() {
                    all.extend(self.cluster_brokers(name).await?);
                }
                all
            }
        };
        let total = brokers.len();
        let mut rows = Vec::with_capacity(total);
        for (step, broker) in brokers.into_iter().enumerate() {
            self.report(step, total, &format!("reading runtime info of {broker}"));
            let stats = self.runtime_info(&broker.addr).await;
            rows.push(BrokerRuntime { broker, stats });
        }
        Ok(rows)
    }

    /// GET_BROKER_CONFIG.
    pub async fn broker_config(&self, addr: &str) -> Result<BrokerConfigView, AdminError> {
        let code = RequestCode::GET_BROKER_CONFIG;
        let response = self
            .broker_call(addr, BROKER_SUBJECT, code, ExtFields::new(), Bytes::new())
            .await?;
        let version = decoded(
            addr,
            "GET_BROKER_CONFIG header",
            GetBrokerConfigResponseHeader::from_ext_fields(&response.ext_fields),
        )?
        .version;
        let text = String::from_utf8_lossy(&response.body);
        let entries = properties::read_text(&text, "GET_BROKER_CONFIG body").map_err(|e| {
            AdminError::NotFound(format!("broker {addr} sent unreadable configuration: {e}"))
        })?;
        Ok(BrokerConfigView {
            version,
            entries: entries.into_iter().map(|e| (e.key, e.value)).collect(),
        })
    }

    /// UPDATE_BROKER_CONFIG with one `key=value`. The broker refuses keys it cannot change
    /// while running, and says which.
    pub async fn update_broker_config(
        &self,
        addr: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AdminError> {
        if key.trim().is_empty() || key.contains(['=', ':', ' ', '\n']) {
            return Err(AdminError::Invalid(format!(
                "config key {key:?} is not a property name"
            )));
        }
        let body = format!("{key}={}\n", properties::escape_value(value));
        let code = RequestCode::UPDATE_BROKER_CONFIG;
        self.broker_call(
            addr,
            &format!("config key {key}"),
            code,
            ExtFields::new(),
            Bytes::from(body),
        )
        .await
        .map(drop)
    }
}
