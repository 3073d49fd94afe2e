//! A lite pull consumer's requests to name servers and brokers: routes, heartbeats, the
//! group's member list, offsets (query, min, max, commit), PULL_MESSAGE, UNREGISTER_CLIENT.
//! Each is one request and its typed answer; retry policy belongs to the callers.
//!
//! Pulls go to the master or a slave as the broker suggests, offset requests to the master
//! else a slave ([`crate::consumer::broker_choice`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::error::{LitePullError, Result};
use crate::consumer::broker_choice::{self, PullFromTable};
use crate::producer::route_source::{RouteSource, unregister_client};
use crate::protocol::body::ConsumerListBody;
use crate::protocol::broker_header::{
    GetConsumerListByGroupRequestHeader, GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader, GetMinOffsetResponseHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader,
    SearchOffsetResponseHeader, UnregisterClientRequestHeader, UpdateConsumerOffsetRequestHeader,
    pull_sys_flag,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{HeartbeatData, MessageQueue, SubscriptionData};
use crate::protocol::route::{BrokerData, TopicRouteData};
use crate::protocol::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::RemotingClient;

fn remote(text: String) -> LitePullError {
    LitePullError::Remote(text)
}

/// The connections, the name-server choice and the route cache of one consumer.
#[derive(Debug)]
pub(super) struct Remote {
    remoting: Arc<RemotingClient>,
    route_source: RouteSource,
    routes: RwLock<HashMap<String, TopicRouteData>>,
    group: String,
    client_id: String,
    /// Timeout of every request besides pulls.
    timeout: Duration,
    /// Brokers that accepted a heartbeat: sent UNREGISTER_CLIENT at shutdown.
    heartbeated: Mutex<HashSet<String>>,
    /// Which broker (master or slave) each queue's next pull goes to.
    pull_from: PullFromTable,
}

impl Remote {
    pub fn new(
        remoting: Arc<RemotingClient>,
        namesrv_addrs: Vec<String>,
        group: String,
        client_id: String,
        timeout: Duration,
    ) -> Self {
        Remote {
            route_source: RouteSource::new(remoting.clone(), namesrv_addrs, timeout),
            remoting,
            routes: RwLock::new(HashMap::new()),
            group,
            client_id,
            timeout,
            heartbeated: Mutex::new(HashSet::new()),
            pull_from: PullFromTable::default(),
        }
    }

    /// Looks `topic` up again and caches the route.
    pub async fn refresh_route(&self, topic: &str) -> Result<TopicRouteData> {
        match self.route_source.route(topic).await.map_err(remote)? {
            Some(route) => {
                self.routes.write().insert(topic.to_owned(), route.clone());
                Ok(route)
            }
            None => Err(remote(format!("topic {topic} has no route"))),
        }
    }

    /// The cached route of `topic`, looked up when there is none yet.
    pub async fn route(&self, topic: &str) -> Result<TopicRouteData> {
        let cached = self.routes.read().get(topic).cloned();
        match cached {
            Some(route) => Ok(route),
            None => self.refresh_route(topic).await,
        }
    }

    /// `queue`'s broker entry (master and slaves), from the cached routes.
    fn broker_data(&self, queue: &MessageQueue) -> Result<BrokerData> {
        let routes = self.routes.read();
        broker_choice::find_broker(&routes, &queue.topic, &queue.broker_name)
            .cloned()
            .ok_or_else(|| remote(format!("no route knows broker {}", queue.broker_name)))
    }

    /// Where `queue`'s offset requests go: its master, else a slave (protocol.md §7).
    pub fn admin_addr(&self, queue: &MessageQueue) -> Result<String> {
        let broker = self.broker_data(queue)?;
        broker_choice::admin_addr(&broker)
            .map(str::to_owned)
            .ok_or_else(|| remote(format!("no address known for broker {}", queue.broker_name)))
    }

    /// Forgets which broker `queue` was pulled from (the queue was given up).
    pub fn forget_pull_from(&self, queue: &MessageQueue) {
        self.pull_from.forget(queue);
    }

    /// Every broker (masters and slaves) of every cached route.
    fn broker_addrs(&self) -> BTreeSet<String> {
        self.routes
            .read()
            .values()
            .flat_map(|route| route.broker_datas.iter())
            .flat_map(|broker| broker.broker_addrs.values().cloned())
            .collect()
    }

    async fn call(&self, addr: &str, code: i32, fields: ExtFields) -> Result<RemotingCommand> {
        let request = RemotingCommand::request(code, fields);
        self.remoting
            .invoke(addr, request, self.timeout)
            .await
            .map_err(|error| remote(format!("request {code} to {addr}: {error}")))
    }

    /// HEART_BEAT to every broker (masters and slaves) of every cached route.
    pub async fn heartbeat_all(&self, data: &HeartbeatData) {
        for addr in self.broker_addrs() {
            let request = RemotingCommand::request(RequestCode::HEART_BEAT, ExtFields::new())
                .with_body(data.encode());
            match self.remoting.invoke(&addr, request, self.timeout).await {
                Ok(response) if response.code == ResponseCode::SUCCESS => {
                    self.heartbeated.lock().insert(addr);
                }
                Ok(response) => tracing::warn!(
                    "heartbeat to {addr} refused: code {}, {}",
                    response.code,
                    response.remark_text()
                ),
                Err(error) => tracing::warn!("heartbeat to {addr} failed: {error}"),
            }
        }
    }

    /// The group's member ids (GET_CONSUMER_LIST_BY_GROUP) from the first of `addrs` that
    /// answers.
    pub async fn consumer_ids(&self, addrs: &BTreeSet<String>) -> Result<Vec<String>> {
        let header = GetConsumerListByGroupRequestHeader {
            consumer_group: self.group.clone(),
        };
        let mut failures = Vec::new();
        for addr in addrs {
            let code = RequestCode::GET_CONSUMER_LIST_BY_GROUP;
            match self.call(addr, code, header.to_ext_fields()).await {
                Ok(response) if response.code == ResponseCode::SUCCESS => {
                    return ConsumerListBody::decode(&response.body)
                        .map(|body| body.consumer_id_list)
                        .map_err(|error| remote(format!("{addr}: {error}")));
                }
                Ok(response) => failures.push(format!(
                    "{addr}: code {}, {}",
                    response.code,
                    response.remark_text()
                )),
                Err(error) => failures.push(error.to_string()),
            }
        }
        Err(remote(format!("no consumer list: {}", failures.join("; "))))
    }

    /// The group's committed offset of `queue`; `None` when the broker has none.
    pub async fn query_offset(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        let addr = self.admin_addr(queue)?;
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = RequestCode::QUERY_CONSUMER_OFFSET;
        let response = self.call(&addr, code, header.to_ext_fields()).await?;
        match response.code {
            ResponseCode::SUCCESS => {
                QueryConsumerOffsetResponseHeader::from_ext_fields(&response.ext_fields)
                    .map(|h| Some(h.offset))
                    .map_err(|error| remote(format!("{addr}: {error}")))
            }
            ResponseCode::QUERY_NOT_FOUND => Ok(None),
            code => Err(refused(&addr, "QUERY_CONSUMER_OFFSET", code, &response)),
        }
    }

    /// GET_MIN_OFFSET: the first offset `queue` still stores.
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.admin_addr(queue)?;
        let header = GetMinOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = RequestCode::GET_MIN_OFFSET;
        let response = self.call(&addr, code, header.to_ext_fields()).await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(refused(&addr, "GET_MIN_OFFSET", response.code, &response));
        }
        GetMinOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| remote(format!("{addr}: {error}")))
    }

    /// GET_MAX_OFFSET: the offset `queue`'s next message will get.
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64> {
        let addr = self.admin_addr(queue)?;
        let header = GetMaxOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = RequestCode::GET_MAX_OFFSET;
        let response = self.call(&addr, code, header.to_ext_fields()).await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(refused(&addr, "GET_MAX_OFFSET", response.code, &response));
        }
        GetMaxOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| remote(format!("{addr}: {error}")))
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: the offset of `queue`'s first message stored at or after
    /// `timestamp_ms` (the max offset when there is none).
    pub async fn search_offset(&self, queue: &MessageQueue, timestamp_ms: i64) -> Result<i64> {
        let addr = self.admin_addr(queue)?;
        let header = SearchOffsetRequestHeader {
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            timestamp: timestamp_ms,
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = RequestCode::SEARCH_OFFSET_BY_TIMESTAMP;
        let response = self.call(&addr, code, header.to_ext_fields()).await?;
        if response.code != ResponseCode::SUCCESS {
            let name = "SEARCH_OFFSET_BY_TIMESTAMP";
            return Err(refused(&addr, name, response.code, &response));
        }
        SearchOffsetResponseHeader::from_ext_fields(&response.ext_fields)
            .map(|h| h.offset)
            .map_err(|error| remote(format!("{addr}: {error}")))
    }

    /// UPDATE_CONSUMER_OFFSET. `oneway` for the periodic commits (as Java sends them),
    /// answered when the caller wants to know the broker has it.
    pub async fn commit(&self, queue: &MessageQueue, offset: i64, oneway: bool) -> Result<()> {
        let addr = self.admin_addr(queue)?;
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: self.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
            broker_name: Some(queue.broker_name.clone()),
        };
        let code = RequestCode::UPDATE_CONSUMER_OFFSET;
        if oneway {
            let request = RemotingCommand::request(code, header.to_ext_fields());
            return self
                .remoting
                .invoke_oneway(&addr, request, self.timeout)
                .await
                .map_err(|error| remote(format!("commit to {addr}: {error}")));
        }
        let response = self.call(&addr, code, header.to_ext_fields()).await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(refused(
                &addr,
                "UPDATE_CONSUMER_OFFSET",
                response.code,
                &response,
            ));
        }
        Ok(())
    }

    /// One PULL_MESSAGE as Java's lite pull consumer sends it: the subscription travels in
    /// the header (so the broker needs no heartbeat subscription), no offset is committed
    /// through it, and the broker may hold it for `suspend` when nothing is there. It goes
    /// to the broker the queue's last pull response suggested, as the push consumer's do.
    pub async fn pull(&self, request: PullRequest<'_>) -> Result<RemotingCommand> {
        let queue = request.queue;
        let broker = self.broker_data(queue)?;
        let header = PullMessageRequestHeader {
            consumer_group: self.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            queue_offset: request.offset,
            max_msg_nums: request.batch_size,
            sys_flag: pull_sys_flag::SUSPEND
                | pull_sys_flag::SUBSCRIPTION
                | pull_sys_flag::LITE_PULL,
            commit_offset: 0,
            suspend_timeout_millis: i64::try_from(request.suspend.as_millis()).unwrap_or(i64::MAX),
            subscription: Some(request.subscription.sub_string.clone()),
            // Java sends 0 for TAG subscriptions: the broker does not compare versions of a
            // subscription it reads from the header.
            sub_version: 0,
            expression_type: Some(request.subscription.expression_type.clone()),
            broker_name: Some(queue.broker_name.clone()),
        };
        let suggested_id = self.pull_from.suggested(queue);
        let pulled = broker_choice::pull(
            &self.remoting,
            &broker,
            suggested_id,
            &header,
            request.timeout,
        )
        .await;
        let (response, _) = pulled
            .map_err(|error| remote(format!("pull from broker {}: {error}", broker.broker_name)))?;
        self.pull_from.update(queue, &response);
        Ok(response)
    }

    /// UNREGISTER_CLIENT to every broker that took a heartbeat, then closes the connections
    /// to every known broker.
    pub async fn unregister(&self) {
        let addrs: Vec<String> = self.heartbeated.lock().drain().collect();
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: None,
            consumer_group: Some(self.group.clone()),
        };
        unregister_client(&self.remoting, addrs, &header, self.timeout).await;
        // An assigning consumer took no heartbeat but holds connections all the same.
        for addr in self.broker_addrs() {
            self.remoting.close(&addr);
        }
    }
}

/// What one pull asks for.
#[derive(Debug)]
pub(super) struct PullRequest<'a> {
    pub queue: &'a MessageQueue,
    pub subscription: &'a SubscriptionData,
    pub offset: i64,
    pub batch_size: i32,
    pub suspend: Duration,
    pub timeout: Duration,
}

fn refused(addr: &str, what: &str, code: i32, response: &RemotingCommand) -> LitePullError {
    remote(format!(
        "{what} refused by {addr}: code {code}, {}",
        response.remark_text()
    ))
}

/// `topic`'s readable queues on brokers with an address (a master, or a slave only), sorted
/// (the push consumer's rule), and one address of each of those brokers.
pub(super) fn readable_queues(
    topic: &str,
    route: &TopicRouteData,
) -> (Vec<MessageQueue>, BTreeSet<String>) {
    let (mut queues, addrs) = crate::consumer::instance::readable_queues(topic, route);
    queues.sort();
    (queues, addrs)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::route::{BrokerData, QueueData, perm};

    fn broker(name: &str, addrs: &[(u64, &str)]) -> BrokerData {
        BrokerData {
            broker_addrs: addrs
                .iter()
                .map(|(id, addr)| (*id, (*addr).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            broker_name: name.to_owned(),
            cluster: "c".to_owned(),
            enable_acting_master: false,
        }
    }

    fn queues(name: &str, perm: i32, read_queue_nums: i32) -> QueueData {
        QueueData {
            broker_name: name.to_owned(),
            perm,
            read_queue_nums,
            topic_sys_flag: 0,
            write_queue_nums: read_queue_nums,
        }
    }

    #[test]
    fn readable_queues_skip_unreadable_and_addressless_brokers() {
        let route = TopicRouteData {
            broker_datas: vec![
                broker("b", &[(0, "10.0.0.2:10911"), (1, "10.0.1.2:10911")]),
                broker("a", &[(0, "10.0.0.1:10911")]),
                broker("c", &[(0, "10.0.0.3:10911")]),
                broker("d", &[]),
                // Its master has left the route; its slave still serves the messages.
                broker("e", &[(2, "10.0.2.5:10911"), (1, "10.0.1.5:10911")]),
            ],
            queue_datas: vec![
                queues("b", perm::READ | perm::WRITE, 2),
                queues("a", perm::READ, 1),
                queues("c", perm::WRITE, 4),
                queues("d", perm::READ, 4),
                queues("e", perm::READ, 1),
            ],
            ..TopicRouteData::default()
        };
        let (found, addrs) = readable_queues("T", &route);
        let names: Vec<(String, i32)> = found
            .iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect();
        assert_eq!(
            names,
            [
                ("a".into(), 0),
                ("b".into(), 0),
                ("b".into(), 1),
                ("e".into(), 0)
            ],
            "sorted, readable, with an address"
        );
        // Members are asked of each broker's master, else its first slave.
        assert_eq!(
            addrs.into_iter().collect::<Vec<_>>(),
            ["10.0.0.1:10911", "10.0.0.2:10911", "10.0.1.5:10911"]
        );
    }
}
