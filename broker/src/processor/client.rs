//! Client management requests (protocol.md §2.3, §4.2): HEART_BEAT, UNREGISTER_CLIENT,
//! GET_CONSUMER_LIST_BY_GROUP, LOCK_BATCH_MQ, UNLOCK_BATCH_MQ, CHECK_CLIENT_CONFIG, and the
//! NOTIFY_CONSUMER_IDS_CHANGED the broker sends when a group's membership changes.

use bolide_client::protocol::body::ConsumerListBody;
use bolide_client::protocol::broker_header::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
use bolide_client::protocol::header::CommandHeader;
use bolide_client::protocol::heartbeat::{
    HeartbeatData, LockBatchRequestBody, LockBatchResponseBody, UnlockBatchRequestBody,
};
use bolide_client::protocol::{RemotingCommand, RequestCode, ResponseCode};
use bolide_client::remoting::ConnectionHandle;

use super::{BrokerProcessor, Response, error, header, success};
use crate::client_manager::ClientChannel;

impl BrokerProcessor {
    pub(super) fn heart_beat(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let heartbeat = match HeartbeatData::decode(&request.body) {
            Ok(heartbeat) => heartbeat,
            Err(e) => {
                return error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad heartbeat body: {e}"),
                );
            }
        };
        let now_ms = self.now_monotonic_ms();
        let channel = ClientChannel {
            handle: connection.clone(),
            client_id: heartbeat.client_id.clone(),
            language: request.language.name().to_owned(),
            version: request.version,
            last_update_ms: now_ms,
        };
        for consumer in &heartbeat.consumer_data_set {
            let Some(group) = self.groups.find_or_create(&consumer.group_name) else {
                tracing::warn!(group = %consumer.group_name, client = %heartbeat.client_id,
                    "heartbeat from a consumer of an unknown group (autoCreateSubscriptionGroup=false)");
                continue;
            };
            match self
                .topics
                .create_retry_topic(&consumer.group_name, group.retry_queue_nums)
            {
                Ok((_, true)) => self.registrar.topics_changed(),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(group = %consumer.group_name, error = %e, "cannot create the retry topic")
                }
            }
            let changed = self.clients.register_consumer(channel.clone(), consumer);
            if changed
                && group.notify_consumer_ids_changed_enable
                && self.config.read().notify_consumer_ids_changed_enable
            {
                self.notify_consumer_ids_changed(&consumer.group_name);
            }
        }
        for producer in &heartbeat.producer_data_set {
            self.clients
                .register_producer(&producer.group_name, channel.clone());
        }
        success(request)
    }

    pub(super) fn unregister_client(
        &self,
        connection: &ConnectionHandle,
        request: &RemotingCommand,
    ) -> Response {
        let h: UnregisterClientRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        if let Some(group) = h.producer_group.as_deref().filter(|g| !g.is_empty()) {
            self.clients.unregister_producer(group, connection.id());
        }
        if let Some(group) = h.consumer_group.as_deref().filter(|g| !g.is_empty())
            && self.clients.unregister_consumer(group, connection.id())
        {
            self.notify_consumer_ids_changed(group);
        }
        success(request)
    }

    pub(super) fn get_consumer_list_by_group(&self, request: &RemotingCommand) -> Response {
        let h: GetConsumerListByGroupRequestHeader = match header(request) {
            Ok(h) => h,
            Err(response) => return *response,
        };
        let ids = self.clients.consumer_ids(&h.consumer_group);
        if ids.is_empty() {
            return error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("no consumer for this group, {}", h.consumer_group),
            );
        }
        success(request).with_body(
            ConsumerListBody {
                consumer_id_list: ids,
            }
            .encode(),
        )
    }

    pub(super) fn lock_batch_mq(&self, request: &RemotingCommand) -> Response {
        let body = match LockBatchRequestBody::decode(&request.body) {
            Ok(body) => body,
            Err(e) => {
                return error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad lock body: {e}"),
                );
            }
        };
        let granted = self.clients.lock_queues(
            &body.consumer_group,
            &body.client_id,
            &body.mq_set,
            self.now_monotonic_ms(),
        );
        success(request).with_body(
            LockBatchResponseBody {
                lock_ok_mq_set: granted,
            }
            .encode(),
        )
    }

    pub(super) fn unlock_batch_mq(&self, request: &RemotingCommand) -> Response {
        let body = match UnlockBatchRequestBody::decode(&request.body) {
            Ok(body) => body,
            Err(e) => {
                return error(
                    request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("bad unlock body: {e}"),
                );
            }
        };
        self.clients
            .unlock_queues(&body.consumer_group, &body.client_id, &body.mq_set);
        success(request)
    }

    /// TAG expressions are fine; SQL92 needs `enablePropertyFilter`, which Bolide lacks.
    pub(super) fn check_client_config(&self, request: &RemotingCommand) -> Response {
        let body = String::from_utf8_lossy(&request.body);
        if body.contains("SQL92") {
            return error(
                request,
                ResponseCode::SYSTEM_ERROR,
                "The broker does not support consumer to filter message by SQL92",
            );
        }
        success(request)
    }

    /// Tells every member of `group` to rebalance (oneway; a full writer queue drops it, and
    /// the client's 20 s rebalance catches up).
    pub(crate) fn notify_consumer_ids_changed(&self, group: &str) {
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_owned(),
        };
        for channel in self.clients.consumer_channels(group) {
            let notice = RemotingCommand::request(
                RequestCode::NOTIFY_CONSUMER_IDS_CHANGED,
                header.to_ext_fields(),
            );
            if !channel.send_oneway(notice) {
                tracing::debug!(%group, peer = %channel.peer(), "consumer ids notice not sent");
            }
        }
    }
}
