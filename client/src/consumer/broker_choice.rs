//! Which broker of a broker name (its master, id 0, and slaves, ids from 1: protocol.md §3.1)
//! a consumer talks to, as Java's 4.x client chooses (protocol.md §7 "Reading from slaves"):
//!
//! * Pulls go to the broker the queue's last pull response suggested (`suggestWhichBrokerId`,
//!   Java `PullAPIWrapper.recalculatePullFromWhichNode`), else to whatever the broker name
//!   still has (Java `findBrokerAddressInSubscribe` with `onlyThisBroker=false`), so that a
//!   consumer keeps reading replicated messages from a slave once its master has left the
//!   route. A pull to a slave never carries the group's offset: slaves do not store it.
//! * Offset lookups and commits go to the master, else a slave (Java 4.9
//!   `findBrokerAddressInAdmin`): [`admin_addr`].
//! * Sends, send-backs and queue locks go to the master only; a slave refuses writes.
//!
//! The choices are pure functions of a route entry and a suggestion, so they are tested
//! without sockets; [`pull`] is the one place that walks the candidates over the network.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::protocol::broker_header::{
    PullMessageRequestHeader, PullMessageResponseHeader, pull_sys_flag,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::MessageQueue;
use crate::protocol::route::{BrokerData, TopicRouteData};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::{RemotingClient, RemotingError};

/// A bound on the suggestion table (one entry per owned queue). Queues beyond it are still
/// pulled; their suggestions are not kept, so they ask the master first, as a new queue does.
const MAX_REMEMBERED_QUEUES: usize = 65_536;

/// One broker a pull may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullTarget {
    pub broker_id: u64,
    pub addr: String,
}

impl PullTarget {
    pub fn is_slave(&self) -> bool {
        self.broker_id != BrokerData::MASTER_ID
    }
}

/// The brokers of `broker` to pull from, best first, given the id the last pull response
/// suggested: that broker; when it is a slave that is gone, the next slave id (Java tries
/// `id + 1` before settling for any broker); the master; then every other broker by id. The
/// tail is what a pull falls back to when a connection fails, before the route catches up.
pub(crate) fn pull_targets(broker: &BrokerData, suggested_id: u64) -> Vec<PullTarget> {
    let mut preferred = vec![suggested_id];
    if suggested_id != BrokerData::MASTER_ID && broker.addr(suggested_id).is_none() {
        preferred.push(suggested_id.saturating_add(1));
    }
    preferred.push(BrokerData::MASTER_ID);
    let mut targets: Vec<PullTarget> = Vec::with_capacity(broker.broker_addrs.len());
    let ids = preferred
        .into_iter()
        .chain(broker.broker_addrs.keys().copied());
    for broker_id in ids {
        let Some(addr) = broker.addr(broker_id) else {
            continue;
        };
        // Two ids on one address (a misconfigured broker) are one place to try, not two.
        if targets
            .iter()
            .any(|t| t.broker_id == broker_id || t.addr == addr)
        {
            continue;
        }
        targets.push(PullTarget {
            broker_id,
            addr: addr.to_owned(),
        });
    }
    targets
}

/// The pull `sysFlag` for `target`: a slave gets no commit-offset bit (Java
/// `PullSysFlag.clearCommitOffsetFlag`), since the group's offset lives on the master and a
/// slave would only overwrite its copy of it.
pub(crate) fn sys_flag_for(sys_flag: i32, target: &PullTarget) -> i32 {
    if target.is_slave() {
        sys_flag & !pull_sys_flag::COMMIT_OFFSET
    } else {
        sys_flag
    }
}

/// Where offset requests go: the master, else the slave with the lowest id (Java 4.9
/// `findBrokerAddressInAdmin` takes the first id of its map, so the master when present).
pub(crate) fn admin_addr(broker: &BrokerData) -> Option<&str> {
    broker.select_addr()
}

/// `broker_name`'s entry, preferably from `topic`'s route (the one refreshed for the queue at
/// hand), else from any cached route.
pub(crate) fn find_broker<'a>(
    routes: &'a HashMap<String, TopicRouteData>,
    topic: &str,
    broker_name: &str,
) -> Option<&'a BrokerData> {
    let in_route = |route: &'a TopicRouteData| {
        route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)
    };
    routes
        .get(topic)
        .and_then(in_route)
        .or_else(|| routes.values().find_map(in_route))
}

/// The broker id a pull response suggests for the queue's next pull, for the answers Java
/// takes a suggestion from (found, nothing new, retry, offset moved). A negative id counts
/// as the master.
pub(crate) fn suggested_broker_id(response: &RemotingCommand) -> Option<u64> {
    let takes_suggestion = matches!(
        response.code,
        ResponseCode::SUCCESS
            | ResponseCode::PULL_NOT_FOUND
            | ResponseCode::PULL_RETRY_IMMEDIATELY
            | ResponseCode::PULL_OFFSET_MOVED
    );
    if !takes_suggestion {
        return None;
    }
    let header = PullMessageResponseHeader::from_ext_fields(&response.ext_fields).ok()?;
    Some(u64::try_from(header.suggest_which_broker_id).unwrap_or(BrokerData::MASTER_ID))
}

/// Per queue, the broker id its last pull response suggested (Java `pullFromWhichNodeTable`);
/// a queue never pulled, or forgotten, starts at the master.
#[derive(Debug, Default)]
pub(crate) struct PullFromTable {
    suggestions: Mutex<HashMap<MessageQueue, u64>>,
}

impl PullFromTable {
    pub fn suggested(&self, queue: &MessageQueue) -> u64 {
        self.suggestions
            .lock()
            .get(queue)
            .copied()
            .unwrap_or(BrokerData::MASTER_ID)
    }

    /// Records what `response` suggests for `queue`, if it suggests anything.
    pub fn update(&self, queue: &MessageQueue, response: &RemotingCommand) {
        let Some(broker_id) = suggested_broker_id(response) else {
            return;
        };
        let mut suggestions = self.suggestions.lock();
        if suggestions.len() >= MAX_REMEMBERED_QUEUES && !suggestions.contains_key(queue) {
            return;
        }
        suggestions.insert(queue.clone(), broker_id);
    }

    /// Drops `queue`'s suggestion (the queue was given up).
    pub fn forget(&self, queue: &MessageQueue) {
        self.suggestions.lock().remove(queue);
    }
}

/// Why a pull reached no broker.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PullError {
    #[error("no address known for broker {broker_name}")]
    NoAddress { broker_name: String },
    #[error(transparent)]
    Remoting(#[from] RemotingError),
}

/// PULL_MESSAGE to `broker`'s best target for `suggested_id`, moving on to the next target
/// when a connection fails (the broker is down but still in the route); any other failure,
/// a timeout included, ends the pull. Returns the answer and the broker that gave it.
pub(crate) async fn pull(
    remoting: &RemotingClient,
    broker: &BrokerData,
    suggested_id: u64,
    header: &PullMessageRequestHeader,
    timeout: Duration,
) -> Result<(RemotingCommand, PullTarget), PullError> {
    let mut targets = pull_targets(broker, suggested_id).into_iter().peekable();
    let mut header = header.clone();
    let sys_flag = header.sys_flag;
    while let Some(target) = targets.next() {
        header.sys_flag = sys_flag_for(sys_flag, &target);
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields());
        match remoting.invoke(&target.addr, request, timeout).await {
            Ok(response) => return Ok((response, target)),
            Err(error) if is_connection_failure(&error) && targets.peek().is_some() => {
                tracing::warn!(
                    broker = %broker.broker_name, broker_id = target.broker_id,
                    "pull failed, trying the next broker: {error}"
                );
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(PullError::NoAddress {
        broker_name: broker.broker_name.clone(),
    })
}

/// Whether `error` says the broker cannot be reached (rather than that it is slow).
fn is_connection_failure(error: &RemotingError) -> bool {
    matches!(
        error,
        RemotingError::Connect { .. }
            | RemotingError::ConnectTimeout { .. }
            | RemotingError::ConnectionClosed { .. }
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::ExtFields;

    fn broker(addrs: &[(u64, &str)]) -> BrokerData {
        BrokerData {
            broker_addrs: addrs
                .iter()
                .map(|(id, addr)| (*id, (*addr).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            broker_name: "broker-a".to_owned(),
            cluster: "c".to_owned(),
            enable_acting_master: false,
        }
    }

    fn ids(targets: &[PullTarget]) -> Vec<u64> {
        targets.iter().map(|t| t.broker_id).collect()
    }

    #[test]
    fn a_pull_goes_where_the_last_response_suggested() {
        let both = broker(&[(0, "m"), (1, "s1"), (2, "s2")]);
        assert_eq!(ids(&pull_targets(&both, 0)), [0, 1, 2]);
        assert_eq!(ids(&pull_targets(&both, 1)), [1, 0, 2]);
        assert_eq!(ids(&pull_targets(&both, 2)), [2, 0, 1]);
        assert_eq!(
            pull_targets(&both, 1)[0],
            PullTarget {
                broker_id: 1,
                addr: "s1".to_owned()
            }
        );
    }

    #[test]
    fn a_suggestion_not_in_the_route_falls_back_to_the_next_slave_then_the_master() {
        // Java tries id + 1 for a missing slave before anything else.
        let with_two = broker(&[(0, "m"), (2, "s2")]);
        assert_eq!(ids(&pull_targets(&with_two, 1)), [2, 0]);
        let with_three = broker(&[(0, "m"), (3, "s3")]);
        assert_eq!(ids(&pull_targets(&with_three, 1)), [0, 3]);
        assert_eq!(ids(&pull_targets(&with_three, 7)), [0, 3]);
    }

    #[test]
    fn without_a_master_any_slave_serves() {
        let slaves = broker(&[(1, "s1"), (2, "s2")]);
        assert_eq!(ids(&pull_targets(&slaves, 0)), [1, 2]);
        assert_eq!(ids(&pull_targets(&slaves, 2)), [2, 1]);
        assert!(pull_targets(&broker(&[]), 0).is_empty());
    }

    #[test]
    fn one_address_under_two_ids_is_tried_once() {
        let doubled = broker(&[(0, "m"), (1, "m"), (2, "s2")]);
        assert_eq!(ids(&pull_targets(&doubled, 1)), [1, 2]);
    }

    #[test]
    fn only_a_slave_loses_the_commit_offset_bit() {
        let flags = pull_sys_flag::COMMIT_OFFSET | pull_sys_flag::SUSPEND;
        let master = PullTarget {
            broker_id: 0,
            addr: "m".to_owned(),
        };
        let slave = PullTarget {
            broker_id: 1,
            addr: "s".to_owned(),
        };
        assert_eq!(sys_flag_for(flags, &master), flags);
        assert_eq!(sys_flag_for(flags, &slave), pull_sys_flag::SUSPEND);
        assert!(!master.is_slave() && slave.is_slave());
    }

    #[test]
    fn offsets_go_to_the_master_else_a_slave() {
        assert_eq!(admin_addr(&broker(&[(1, "s1"), (0, "m")])), Some("m"));
        assert_eq!(admin_addr(&broker(&[(2, "s2"), (1, "s1")])), Some("s1"));
        assert_eq!(admin_addr(&broker(&[])), None);
    }

    #[test]
    fn the_queue_topic_route_wins_over_other_routes() {
        let route = |addrs: &[(u64, &str)]| TopicRouteData {
            broker_datas: vec![broker(addrs)],
            ..TopicRouteData::default()
        };
        let routes = HashMap::from([
            ("T".to_owned(), route(&[(1, "s1")])),
            ("U".to_owned(), route(&[(0, "m"), (1, "s1")])),
        ]);
        let found = |topic| find_broker(&routes, topic, "broker-a").map(|b| b.broker_addrs.len());
        assert_eq!(found("T"), Some(1));
        assert_eq!(found("U"), Some(2));
        // A topic without a route of its own borrows one that knows the broker.
        assert!(found("V").is_some());
        assert!(find_broker(&routes, "T", "broker-b").is_none());
    }

    fn pull_response(code: i32, suggest: i64) -> RemotingCommand {
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, ExtFields::new());
        let header = PullMessageResponseHeader {
            suggest_which_broker_id: suggest,
            next_begin_offset: 5,
            min_offset: 0,
            max_offset: 5,
        };
        RemotingCommand::response_to(&request, code, None).with_ext_fields(header.to_ext_fields())
    }

    #[test]
    fn the_table_keeps_each_queue_last_suggestion() {
        let table = PullFromTable::default();
        let queue = MessageQueue::new("T", "broker-a", 0);
        let other = MessageQueue::new("T", "broker-a", 1);
        assert_eq!(table.suggested(&queue), 0);
        table.update(&queue, &pull_response(ResponseCode::PULL_NOT_FOUND, 1));
        assert_eq!((table.suggested(&queue), table.suggested(&other)), (1, 0));
        // Refusals suggest nothing; the previous suggestion stands.
        table.update(&queue, &pull_response(ResponseCode::SYSTEM_ERROR, 0));
        assert_eq!(table.suggested(&queue), 1);
        table.update(&queue, &pull_response(ResponseCode::SUCCESS, 0));
        assert_eq!(table.suggested(&queue), 0);
        table.update(&queue, &pull_response(ResponseCode::PULL_OFFSET_MOVED, -1));
        assert_eq!(table.suggested(&queue), 0);
        table.update(
            &queue,
            &pull_response(ResponseCode::PULL_RETRY_IMMEDIATELY, 2),
        );
        table.forget(&queue);
        assert_eq!(table.suggested(&queue), 0);
    }

    /// A broker that answers every pull with nothing new, suggesting `suggest`, and records
    /// the sysFlag of each.
    struct FakeBroker {
        suggest: i64,
        sys_flags: Mutex<Vec<i32>>,
    }

    impl crate::remoting::RequestProcessor for FakeBroker {
        async fn process(
            &self,
            _connection: &crate::remoting::ConnectionHandle,
            request: RemotingCommand,
        ) -> Option<RemotingCommand> {
            let header = PullMessageRequestHeader::from_ext_fields(&request.ext_fields).ok()?;
            self.sys_flags.lock().push(header.sys_flag);
            let answer = PullMessageResponseHeader {
                suggest_which_broker_id: self.suggest,
                next_begin_offset: header.queue_offset,
                min_offset: 0,
                max_offset: header.queue_offset,
            };
            let response =
                RemotingCommand::response_to(&request, ResponseCode::PULL_NOT_FOUND, None);
            Some(response.with_ext_fields(answer.to_ext_fields()))
        }
    }

    /// An address nothing listens on: a port bound and released.
    async fn dead_addr() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_pull_whose_broker_is_down_goes_to_the_next_one_without_the_commit_bit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let slave_addr = listener.local_addr().unwrap().to_string();
        let slave = std::sync::Arc::new(FakeBroker {
            suggest: 0,
            sys_flags: Mutex::new(Vec::new()),
        });
        let (_stop, shutdown) = crate::remoting::shutdown_channel();
        let config = crate::remoting::ServerConfig::default();
        tokio::spawn(crate::remoting::serve(
            listener,
            slave.clone(),
            config,
            shutdown,
        ));
        let master_addr = dead_addr().await;
        let route = broker(&[(0, &master_addr), (1, &slave_addr)]);
        let header = PullMessageRequestHeader {
            sys_flag: pull_sys_flag::COMMIT_OFFSET | pull_sys_flag::SUSPEND,
            commit_offset: 7,
            ..PullMessageRequestHeader::default()
        };
        let remoting = RemotingClient::new(Default::default());
        let timeout = Duration::from_secs(5);
        // The master is suggested but refuses connections: the slave answers at once.
        let (response, target) = pull(&remoting, &route, 0, &header, timeout).await.unwrap();
        assert_eq!(target.addr, slave_addr);
        assert_eq!(suggested_broker_id(&response), Some(0));
        assert_eq!(*slave.sys_flags.lock(), [pull_sys_flag::SUSPEND]);
        // With no broker left to try, the error names the one that failed.
        let dead = broker(&[(0, &master_addr)]);
        let error = pull(&remoting, &dead, 0, &header, timeout)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(&master_addr), "{error}");
        let empty = pull(&remoting, &broker(&[]), 0, &header, timeout).await;
        assert!(matches!(empty, Err(PullError::NoAddress { .. })));
    }

    #[test]
    fn only_connection_failures_move_a_pull_on() {
        let addr = "127.0.0.1:1".to_owned();
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_connection_failure(&RemotingError::Connect {
            addr: addr.clone(),
            source: refused
        }));
        assert!(is_connection_failure(&RemotingError::ConnectionClosed {
            addr: addr.clone()
        }));
        assert!(!is_connection_failure(&RemotingError::Timeout {
            addr,
            code: RequestCode::PULL_MESSAGE,
            timeout_ms: 1
        }));
    }
}
