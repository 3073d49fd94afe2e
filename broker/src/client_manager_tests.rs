use std::collections::BTreeSet;

use bolide_client::protocol::heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, MessageQueue, SubscriptionData,
};
use bolide_client::remoting::ConnectionHandle;

use super::*;

fn channel(id: u64, client_id: &str, now_ms: u64) -> ClientChannel {
    let (handle, _receiver) = ConnectionHandle::detached(id, ([127, 0, 0, 1], 40000).into(), 8);
    ClientChannel {
        handle,
        client_id: client_id.to_owned(),
        language: "JAVA".into(),
        version: 407,
        last_update_ms: now_ms,
    }
}

fn consumer(group: &str, expressions: &[(&str, &str)], version: i64) -> ConsumerData {
    ConsumerData {
        group_name: group.to_owned(),
        consume_type: ConsumeType::Passively,
        message_model: MessageModel::Clustering,
        consume_from_where: ConsumeFromWhere::LastOffset,
        subscription_data_set: expressions
            .iter()
            .map(|(topic, expression)| {
                let mut s = SubscriptionData::from_expression(topic, expression);
                s.sub_version = version;
                s
            })
            .collect(),
        unit_mode: false,
    }
}

#[test]
fn membership_changes_are_reported_and_heartbeats_refresh() {
    let clients = ClientManager::new();
    assert!(clients.register_consumer(channel(1, "a@1", 0), &consumer("g", &[("T", "*")], 1)));
    // The same channel again: nothing changed.
    assert!(
        !clients.register_consumer(channel(1, "a@1", 50_000), &consumer("g", &[("T", "*")], 1))
    );
    assert!(clients.register_consumer(channel(2, "b@2", 60_000), &consumer("g", &[("T", "*")], 1)));
    assert_eq!(clients.consumer_ids("g"), vec!["a@1", "b@2"]);
    // A new topic in the subscription set is a change; dropping it is one too.
    assert!(clients.register_consumer(
        channel(1, "a@1", 60_000),
        &consumer("g", &[("T", "*"), ("U", "*")], 2)
    ));
    assert!(clients.register_consumer(channel(1, "a@1", 60_000), &consumer("g", &[("T", "*")], 3)));
    // a@1 last heard at 60 s, b@2 at 60 s: both alive at 180 s, both gone after.
    assert!(clients.expire_idle(180_000).is_empty());
    clients.register_consumer(channel(2, "b@2", 170_000), &consumer("g", &[("T", "*")], 3));
    assert_eq!(clients.expire_idle(180_001), vec!["g".to_owned()]);
    assert_eq!(clients.consumer_ids("g"), vec!["b@2"]);
    assert_eq!(clients.connection_closed(2), vec!["g".to_owned()]);
    assert!(clients.consumer_ids("g").is_empty());
}

#[test]
fn subscriptions_use_codes_recomputed_from_the_tags() {
    let clients = ClientManager::new();
    let mut data = consumer("g", &[("T", "TagA || TagB")], 1);
    // A client that hashed untrimmed strings (interop-notes): codes must not be trusted.
    data.subscription_data_set[0].code_set = [1, 2].into_iter().collect();
    clients.register_consumer(channel(1, "a@1", 0), &data);
    let stored = clients.subscription("g", "T").expect("subscription");
    let expected: BTreeSet<i32> = ["TagA", "TagB"]
        .iter()
        .map(|t| bolide_client::protocol::message::tag_hash_code(t) as i32)
        .collect();
    assert_eq!(stored.code_set, expected);
}

#[test]
fn queue_locks_are_exclusive_until_they_expire() {
    let clients = ClientManager::new();
    let queue = |id| MessageQueue {
        topic: "T".into(),
        broker_name: "b".into(),
        queue_id: id,
    };
    let both: BTreeSet<_> = [queue(0), queue(1)].into_iter().collect();
    assert_eq!(clients.lock_queues("g", "a", &both, 0), both);
    assert!(clients.lock_queues("g", "b", &both, 30_000).is_empty());
    // a renews queue 0 only; queue 1 expires 60 s after its last renewal.
    let first: BTreeSet<_> = [queue(0)].into_iter().collect();
    assert_eq!(clients.lock_queues("g", "a", &first, 50_000), first);
    let granted = clients.lock_queues("g", "b", &both, 60_001);
    assert_eq!(granted, [queue(1)].into_iter().collect());
    clients.unlock_queues("g", "a", &first);
    assert_eq!(clients.lock_queues("g", "b", &first, 60_002), first);
}
