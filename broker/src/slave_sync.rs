//! A slave's copy of its master's metadata (protocol.md §7 "Reading from slaves", Java
//! `SlaveSynchronize`). Every 10 s (first after 3 s) a slave fetches the master's topic
//! table, consumer offsets, delay offsets and subscription groups, and replaces its own tables
//! with them, saved like any change. Consumers failing over to the slave then find the topics,
//! groups and progress they had on the master.
//!
//! The requests go to the master's VIP port (its address's port − 2), as Java's do, and to
//! its main port when nothing answers there (a broker started without a fast port). The
//! master's address is the one the name servers reported when this slave registered; while
//! none is known, rounds are skipped.
//!
//! Offsets committed to the slave while the master was away are not overwritten by the
//! master's older ones: they are kept and handed back to the master with
//! UPDATE_CONSUMER_OFFSET (see [`crate::consumer_offset::merge_master_offsets`]). So that a
//! returning master learns them before its consumers read its stale offsets, a round also runs
//! as soon as registration reports a master again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bolide_client::protocol::broker_header::UpdateConsumerOffsetRequestHeader;
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::subscription_group::SubscriptionGroupWrapper;
use bolide_client::protocol::topic_config::TopicConfigSerializeWrapper;
use bolide_client::protocol::{
    ExtFields, ProtocolError, RemotingCommand, RequestCode, ResponseCode,
};
use bolide_client::remoting::{ClientConfig, RemotingClient, RemotingError, Shutdown};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use crate::consumer_offset::{
    ConsumerOffsetManager, DelayOffsetTable, GroupQueue, HandBack, OffsetTable,
};
use crate::processor::BrokerProcessor;

/// Java's delay before the first round: registration has reported the master by then.
pub const FIRST_DELAY: Duration = Duration::from_secs(3);
/// Java's period between rounds.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// How often the master address learned on registration is looked at (a lock and a compare).
pub const MASTER_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Per request, as Java's `SlaveSynchronize` calls wait.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Offsets handed back per round; the rest stay remembered for the next round.
pub const MAX_HAND_BACKS_PER_ROUND: usize = 10_000;

/// Why a round failed. Each names the master address at fault.
#[derive(Debug, thiserror::Error)]
pub enum SlaveSyncError {
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    #[error("master {addr} refused {what}: code {code}, {remark}")]
    Refused {
        addr: String,
        what: &'static str,
        code: i32,
        remark: String,
    },
    #[error("master {addr} sent a {what} this broker cannot read: {source}")]
    Body {
        addr: String,
        what: &'static str,
        #[source]
        source: ProtocolError,
    },
    #[error("the task applying the master's tables failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The four tables of one master, as fetched.
#[derive(Debug)]
struct MasterTables {
    topics: TopicConfigSerializeWrapper,
    offsets: OffsetTable,
    delay_offsets: BTreeMap<i32, i64>,
    groups: SubscriptionGroupWrapper,
}

/// Copies the master's metadata into a slave; owned by the slave's `server::run`.
pub struct SlaveSync {
    processor: Arc<BrokerProcessor>,
    remoting: RemotingClient,
    /// Before the first round.
    pub first_delay: Duration,
    /// Between rounds.
    pub interval: Duration,
    /// Between looks at the master address registration reported.
    pub master_check_interval: Duration,
    /// Per request to the master.
    pub request_timeout: Duration,
    /// Asks for a round now (see [`SlaveSync::request_round`]).
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for SlaveSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaveSync")
            .field("first_delay", &self.first_delay)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl SlaveSync {
    /// Java's timing; the fields may be shortened before [`run`](Self::run).
    pub fn new(processor: Arc<BrokerProcessor>) -> Self {
        Self {
            processor,
            remoting: RemotingClient::new(ClientConfig {
                connect_timeout: REQUEST_TIMEOUT,
                ..ClientConfig::default()
            }),
            first_delay: FIRST_DELAY,
            interval: INTERVAL,
            master_check_interval: MASTER_CHECK_INTERVAL,
            request_timeout: REQUEST_TIMEOUT,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Syncs every `interval` after `first_delay`, and at once when registration reports a
    /// master after reporting none or another one, until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        let first = Instant::now() + self.first_delay;
        let mut rounds = interval_at(first, self.interval);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut checks = interval_at(
            first + self.master_check_interval,
            self.master_check_interval,
        );
        checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The master as of the previous tick of either kind: a check that finds a master
        // not seen then starts a round.
        let mut last_seen = None;
        loop {
            let due = tokio::select! {
                () = shutdown.wait() => return,
                _ = rounds.tick() => true,
                () = self.wake.notified() => true,
                _ = checks.tick() => {
                    let now_seen = self.master_addr();
                    now_seen.is_some() && now_seen != last_seen
                }
            };
            last_seen = self.master_addr();
            if due {
                self.round().await;
            }
        }
    }

    /// Runs a round as soon as possible: replication brought a message of a topic this
    /// slave does not know yet. Without it, a master lost within 10 s of creating a topic
    /// would leave the slave unable to serve that topic's replicated messages.
    pub fn request_round(&self) {
        self.wake.notify_one();
    }

    /// One round, its outcome logged: a failure waits for the next round, as in Java.
    async fn round(&self) {
        match self.sync_once().await {
            Ok(Some(addr)) => tracing::debug!(master = %addr, "metadata copied from the master"),
            Ok(None) => tracing::debug!("no master known yet: metadata sync skipped"),
            Err(error) => tracing::warn!(%error, "metadata sync with the master failed"),
        }
    }

    fn master_addr(&self) -> Option<String> {
        self.processor.registrar.master().master_addr
    }

    /// Fetches the master's four tables, replaces this broker's with them and hands back the
    /// offsets the master is behind on. Returns the address used, or `None` when no master
    /// is known.
    pub async fn sync_once(&self) -> Result<Option<String>, SlaveSyncError> {
        let Some(master) = self.master_addr() else {
            return Ok(None);
        };
        let (addr, tables) = self.fetch_preferring_vip(&master).await?;
        let processor = self.processor.clone();
        let hand_back = tokio::task::spawn_blocking(move || apply(&processor, tables)).await?;
        self.hand_back(&addr, hand_back).await;
        Ok(Some(addr))
    }

    /// The tables from the master's VIP port, or from `master` itself when the VIP port does
    /// not answer; with the address that answered.
    async fn fetch_preferring_vip(
        &self,
        master: &str,
    ) -> Result<(String, MasterTables), SlaveSyncError> {
        if let Some(vip) = vip_addr(master) {
            // Whatever goes wrong there (nothing listening, or something else listening
            // that refuses the requests), the main port is the master for certain.
            match self.fetch(&vip).await {
                Ok(tables) => return Ok((vip, tables)),
                Err(SlaveSyncError::Remoting(error)) if unreachable(&error) => {
                    tracing::debug!(%error, master, "the master's VIP port does not answer; using its main port");
                }
                Err(error) => {
                    tracing::warn!(%error, master, "the master's VIP port failed; using its main port");
                }
            }
        }
        let tables = self.fetch(master).await?;
        Ok((master.to_owned(), tables))
    }

    /// GET_ALL_TOPIC_CONFIG, GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET,
    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG, in Java's order. All four or none: a master that
    /// fails one is not half copied.
    async fn fetch(&self, addr: &str) -> Result<MasterTables, SlaveSyncError> {
        let topics = self
            .fetch_table(
                addr,
                RequestCode::GET_ALL_TOPIC_CONFIG,
                "topic table",
                TopicConfigSerializeWrapper::decode,
            )
            .await?;
        let offsets = self
            .fetch_table(
                addr,
                RequestCode::GET_ALL_CONSUMER_OFFSET,
                "consumer offset table",
                ConsumerOffsetManager::from_json,
            )
            .await?;
        let delay_offsets = self
            .fetch_table(
                addr,
                RequestCode::GET_ALL_DELAY_OFFSET,
                "delay offset table",
                DelayOffsetTable::from_json,
            )
            .await?;
        let groups = self
            .fetch_table(
                addr,
                RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
                "subscription group table",
                SubscriptionGroupWrapper::decode,
            )
            .await?;
        Ok(MasterTables {
            topics,
            offsets,
            delay_offsets,
            groups,
        })
    }

    async fn fetch_table<T>(
        &self,
        addr: &str,
        code: i32,
        what: &'static str,
        decode: impl FnOnce(&[u8]) -> Result<T, ProtocolError>,
    ) -> Result<T, SlaveSyncError> {
        let request = RemotingCommand::request(code, ExtFields::new());
        let response = self
            .remoting
            .invoke(addr, request, self.request_timeout)
            .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(SlaveSyncError::Refused {
                addr: addr.to_owned(),
                what,
                code: response.code,
                remark: response.remark_text().to_owned(),
            });
        }
        decode(&response.body).map_err(|source| SlaveSyncError::Body {
            addr: addr.to_owned(),
            what,
            source,
        })
    }

    /// UPDATE_CONSUMER_OFFSET to the master for each offset it is behind on, then forgets
    /// those it accepted. Stops at the first failure: the master is likely gone again, and
    /// the rest are retried next round (they stay remembered, and kept here meanwhile).
    async fn hand_back(&self, addr: &str, offsets: Vec<HandBack>) {
        if offsets.is_empty() {
            return;
        }
        let mut accepted = Vec::with_capacity(offsets.len().min(MAX_HAND_BACKS_PER_ROUND));
        for (queue, offset) in offsets.into_iter().take(MAX_HAND_BACKS_PER_ROUND) {
            if let Err(error) = self.send_offset(addr, &queue, offset).await {
                tracing::warn!(%error, group = %queue.group, topic = %queue.topic,
                    queue_id = queue.queue_id, offset,
                    "cannot hand a consumer offset back to the master; the next round retries");
                break;
            }
            accepted.push((queue, offset));
        }
        if !accepted.is_empty() {
            tracing::info!(
                master = addr,
                count = accepted.len(),
                "consumer offsets committed to this slave handed back to the master"
            );
            self.processor.offsets.handed_back(&accepted);
        }
    }

    async fn send_offset(
        &self,
        addr: &str,
        queue: &GroupQueue,
        offset: i64,
    ) -> Result<(), SlaveSyncError> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: queue.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
            broker_name: Some(self.processor.config.read().broker_name.clone()),
        };
        let request =
            RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, header.to_ext_fields());
        let response = self
            .remoting
            .invoke(addr, request, self.request_timeout)
            .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(SlaveSyncError::Refused {
                addr: addr.to_owned(),
                what: "a consumer offset",
                code: response.code,
                remark: response.remark_text().to_owned(),
            });
        }
        Ok(())
    }
}

/// Replaces the four tables and saves them (up to four fsyncs: run off the runtime). A failed
/// save is logged, not fatal: the tables in memory are what the slave serves, and the next
/// save writes them. Returns the offsets to hand back to the master.
fn apply(processor: &BrokerProcessor, tables: MasterTables) -> Vec<HandBack> {
    if let Err(error) = processor.topics.replace_all(tables.topics) {
        tracing::error!(%error, "cannot save the topic table copied from the master");
    }
    if let Err(error) = processor.groups.replace_all(tables.groups) {
        tracing::error!(%error, "cannot save the subscription groups copied from the master");
    }
    let hand_back = processor.offsets.apply_master(tables.offsets);
    if let Err(error) = processor.offsets.persist() {
        tracing::error!(%error, "cannot save the consumer offsets copied from the master");
    }
    processor.delay_offsets.replace_all(tables.delay_offsets);
    if let Err(error) = processor.delay_offsets.persist() {
        tracing::error!(%error, "cannot save the delay offsets copied from the master");
    }
    hand_back
}

/// `host:port` → `host:(port − 2)`, the VIP port; `None` when `addr` has no such port.
pub fn vip_addr(addr: &str) -> Option<String> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some(format!("{host}:{}", port.checked_sub(2)?))
}

/// Whether an error means nothing answers at the address (so the main port is worth a try),
/// rather than a master that answered badly. A connect that hangs until the request's
/// deadline counts too: a firewall dropping the VIP port looks like that.
fn unreachable(error: &RemotingError) -> bool {
    matches!(
        error,
        RemotingError::Connect { .. }
            | RemotingError::ConnectTimeout { .. }
            | RemotingError::Timeout { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vip_port_is_two_below() {
        assert_eq!(
            vip_addr("10.0.0.1:10911").as_deref(),
            Some("10.0.0.1:10909")
        );
        assert_eq!(vip_addr("[::1]:10911").as_deref(), Some("[::1]:10909"));
        for no_vip in ["10.0.0.1", "10.0.0.1:1", "10.0.0.1:x", "host:70000", ""] {
            assert_eq!(vip_addr(no_vip), None, "{no_vip:?}");
        }
    }

    #[test]
    fn only_silence_sends_the_slave_to_the_main_port() {
        let addr = || "10.0.0.1:10909".to_owned();
        let refused = RemotingError::Connect {
            addr: addr(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(unreachable(&refused));
        assert!(unreachable(&RemotingError::ConnectTimeout {
            addr: addr(),
            timeout_ms: 3000
        }));
        assert!(unreachable(&RemotingError::Timeout {
            addr: addr(),
            code: RequestCode::GET_ALL_TOPIC_CONFIG,
            timeout_ms: 3000
        }));
        // Something answered there and hung up: not a missing fast port.
        assert!(!unreachable(&RemotingError::ConnectionClosed {
            addr: addr()
        }));
    }
}
