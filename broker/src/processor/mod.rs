//! One handler per broker request code, dispatched by an exhaustive match on the code
//! (protocol.md §2.3). Handlers take a parsed header and return a response; the store and the
//! metadata managers do the work. Every code without a handler answers
//! REQUEST_CODE_NOT_SUPPORTED.

mod admin;
mod client;
mod offset;
mod pull;
mod query;
mod retry;
mod send;
#[cfg(test)]
mod slave_tests;

pub(crate) use retry::InternalMessage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::{ProtocolError, RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::{ConnectionHandle, RequestProcessor};
use parking_lot::RwLock;

use crate::client_manager::ClientManager;
use crate::config::BrokerConfig;
use crate::consumer_offset::{ConsumerOffsetManager, DelayOffsetTable};
use crate::ha::HaMaster;
use crate::long_polling::PullHold;
use crate::namesrv_register::NamesrvRegistrar;
use crate::store::MessageStore;
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::TopicConfigManager;
use crate::tps::TpsSampler;

/// Counters for GET_BROKER_RUNTIME_INFO.
#[derive(Debug, Default)]
pub struct Stats {
    pub put_messages: AtomicU64,
    pub put_failures: AtomicU64,
    pub got_messages: AtomicU64,
}

/// Everything a request handler may touch.
pub struct BrokerProcessor {
    pub config: RwLock<BrokerConfig>,
    pub store: Arc<MessageStore>,
    pub topics: Arc<TopicConfigManager>,
    pub groups: Arc<SubscriptionGroupManager>,
    pub offsets: Arc<ConsumerOffsetManager>,
    pub delay_offsets: Arc<DelayOffsetTable>,
    pub clients: ClientManager,
    pub pull_hold: PullHold,
    pub registrar: Arc<NamesrvRegistrar>,
    pub stats: Stats,
    pub tps: TpsSampler,
    /// A master's replication (set once at start); a SYNC_MASTER's sends wait on it.
    pub ha_master: OnceLock<Arc<HaMaster>>,
    started: Instant,
    pub boot_timestamp_ms: i64,
    /// Physical memory, the base of `accessMessageInMemoryMaxRatio` when a pull's lag is
    /// judged: read once at start (tests set a small value to make pulls lag).
    pub physical_memory_bytes: u64,
}

impl std::fmt::Debug for BrokerProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerProcessor").finish_non_exhaustive()
    }
}

type Response = RemotingCommand;

pub(crate) fn error(request: &RemotingCommand, code: i32, remark: impl Into<String>) -> Response {
    RemotingCommand::response_to(request, code, Some(remark.into()))
}

pub(crate) fn success(request: &RemotingCommand) -> Response {
    RemotingCommand::response_to(request, ResponseCode::SUCCESS, None)
}

/// A header that failed to parse answers SYSTEM_ERROR naming the field, as Java's
/// `@CFNotNull` check does.
pub(crate) fn bad_header(request: &RemotingCommand, error: ProtocolError) -> Response {
    error_response(request, ResponseCode::SYSTEM_ERROR, error)
}

fn error_response(request: &RemotingCommand, code: i32, error: impl std::fmt::Display) -> Response {
    RemotingCommand::response_to(request, code, Some(error.to_string()))
}

/// Parses a request header or returns the error response.
pub(crate) fn header<H: CommandHeader>(request: &RemotingCommand) -> Result<H, Box<Response>> {
    H::from_ext_fields(&request.ext_fields).map_err(|e| Box::new(bad_header(request, e)))
}

/// The attempts a message may use before it goes to the DLQ: the request's
/// `maxReconsumeTimes` when the client is new enough to send it (Java's V3_4_9 = 121), else
/// the group's `retryMaxTimes` (16 by default).
pub(crate) fn max_reconsume_times(
    request: &RemotingCommand,
    header_value: Option<i32>,
    group_value: Option<i32>,
) -> i32 {
    const VERSION_WITH_MAX_RECONSUME_TIMES: i32 = 121;
    match header_value {
        Some(max) if request.version >= VERSION_WITH_MAX_RECONSUME_TIMES => max,
        _ => group_value.unwrap_or(
            bolide_client::protocol::subscription_group::SubscriptionGroupConfig::DEFAULT_RETRY_MAX_TIMES,
        ),
    }
}

/// Milliseconds on a clock that never jumps: liveness and lock expiry compare differences.
pub(crate) fn monotonic_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

impl BrokerProcessor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: BrokerConfig,
        store: Arc<MessageStore>,
        topics: Arc<TopicConfigManager>,
        groups: Arc<SubscriptionGroupManager>,
        offsets: Arc<ConsumerOffsetManager>,
        delay_offsets: Arc<DelayOffsetTable>,
        registrar: Arc<NamesrvRegistrar>,
    ) -> Self {
        BrokerProcessor {
            config: RwLock::new(config),
            store,
            topics,
            groups,
            offsets,
            delay_offsets,
            clients: ClientManager::new(),
            pull_hold: PullHold::new(),
            registrar,
            stats: Stats::default(),
            tps: TpsSampler::default(),
            ha_master: OnceLock::new(),
            started: Instant::now(),
            boot_timestamp_ms: crate::store::commit_log::now_ms(),
            physical_memory_bytes: pull::physical_memory_bytes(),
        }
    }

    pub(crate) fn now_monotonic_ms(&self) -> u64 {
        monotonic_ms(self.started)
    }

    pub(crate) fn is_slave(&self) -> bool {
        !self.config.read().is_master()
    }

    /// Drops clients silent for 120 s and tells their groups (the server calls this every 10 s).
    pub fn expire_idle_clients(&self) {
        for group in self.clients.expire_idle(self.now_monotonic_ms()) {
            self.notify_consumer_ids_changed(&group);
        }
    }

    /// Samples the message counters for the rates of GET_BROKER_RUNTIME_INFO.
    pub fn sample_tps(&self) {
        self.tps.record(
            self.now_monotonic_ms(),
            self.stats.put_messages.load(Ordering::Relaxed),
            self.stats.got_messages.load(Ordering::Relaxed),
        );
    }

    /// The store accepted messages for a queue up to `max_offset`: wake pulls parked on it.
    pub fn messages_arrived(&self, topic: &str, queue_id: i32, max_offset: u64) {
        self.pull_hold.notify(topic, queue_id, max_offset);
    }

    async fn dispatch(
        &self,
        connection: &ConnectionHandle,
        request: RemotingCommand,
    ) -> Option<Response> {
        let response = match request.code {
            RequestCode::SEND_MESSAGE
            | RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE => self.send_message(connection, &request).await,
            RequestCode::CONSUMER_SEND_MSG_BACK => {
                self.consumer_send_msg_back(connection, &request).await
            }
            RequestCode::PULL_MESSAGE => self.pull_message(&request).await,
            RequestCode::QUERY_CONSUMER_OFFSET => self.query_consumer_offset(&request),
            RequestCode::UPDATE_CONSUMER_OFFSET => self.update_consumer_offset(&request),
            RequestCode::GET_MAX_OFFSET => self.get_max_offset(&request),
            RequestCode::GET_MIN_OFFSET => self.get_min_offset(&request),
            RequestCode::GET_EARLIEST_MSG_STORETIME => self.get_earliest_msg_storetime(&request),
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP => self.search_offset_by_timestamp(&request),
            RequestCode::QUERY_MESSAGE => self.query_message(&request),
            RequestCode::VIEW_MESSAGE_BY_ID => self.view_message_by_id(&request),
            RequestCode::HEART_BEAT => self.heart_beat(connection, &request),
            RequestCode::UNREGISTER_CLIENT => self.unregister_client(connection, &request),
            RequestCode::GET_CONSUMER_LIST_BY_GROUP => self.get_consumer_list_by_group(&request),
            RequestCode::LOCK_BATCH_MQ => self.lock_batch_mq(&request),
            RequestCode::UNLOCK_BATCH_MQ => self.unlock_batch_mq(&request),
            RequestCode::CHECK_CLIENT_CONFIG => self.check_client_config(&request),
            code => match self.admin(connection, &request, code).await {
                Some(response) => response,
                None => error(
                    &request,
                    ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                    format!("request code {code} is not supported by this broker"),
                ),
            },
        };
        Some(response)
    }
}

impl RequestProcessor for BrokerProcessor {
    async fn process(
        &self,
        connection: &ConnectionHandle,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        self.dispatch(connection, request).await
    }

    fn connection_closed(&self, connection: &ConnectionHandle) {
        for group in self.clients.connection_closed(connection.id()) {
            self.notify_consumer_ids_changed(&group);
        }
    }
}

/// How many messages were put, for runtime info.
pub(crate) fn count(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}
