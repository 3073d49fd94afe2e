//! Tests of `body`: golden fastjson-shaped text for every body, round trips, and the
//! inline-object keys of the offset tables.

use std::collections::BTreeSet;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn queue(queue_id: i32) -> MessageQueue {
    MessageQueue::new("T", "broker-a", queue_id)
}

#[test]
fn consumer_list_body() -> TestResult {
    let body = ConsumerListBody {
        consumer_id_list: vec!["10.0.0.5@1".into(), "10.0.0.6@2".into()],
    };
    let golden = br#"{"consumerIdList":["10.0.0.5@1","10.0.0.6@2"]}"#;
    assert_eq!(body.encode(), golden);
    assert_eq!(ConsumerListBody::decode(golden)?, body);
    assert!(
        ConsumerListBody::decode(br#"{"consumerIdList":null}"#)?
            .consumer_id_list
            .is_empty()
    );
    Ok(())
}

fn consumer_connection() -> ConsumerConnection {
    let mut subscription = SubscriptionData::from_expression("T", "TagA");
    subscription.sub_version = 1_700_000_000_000;
    ConsumerConnection {
        connection_set: vec![Connection {
            client_addr: "10.0.0.5:50000".into(),
            client_id: "10.0.0.5@1".into(),
            language: "JAVA".into(),
            version: 407,
        }],
        consume_from_where: ConsumeFromWhere::LastOffset,
        consume_type: ConsumeType::Passively,
        message_model: MessageModel::Clustering,
        subscription_table: BTreeMap::from([("T".to_owned(), subscription)]),
    }
}

#[test]
fn consumer_connection_body() -> TestResult {
    let connection = consumer_connection();
    let golden = concat!(
        r#"{"connectionSet":[{"clientAddr":"10.0.0.5:50000","clientId":"10.0.0.5@1","#,
        r#""language":"JAVA","version":407}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","#,
        r#""consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","#,
        r#""subscriptionTable":{"T":{"classFilterMode":false,"codeSet":[2598919],"#,
        r#""expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"#,
        r#""tagsSet":["TagA"],"topic":"T"}}}"#
    );
    assert_eq!(String::from_utf8(connection.encode())?, golden);
    assert_eq!(ConsumerConnection::decode(golden.as_bytes())?, connection);

    // Java omits null enums; they read as the defaults.
    let sparse = ConsumerConnection::decode(br#"{"connectionSet":[],"subscriptionTable":{}}"#)?;
    assert_eq!(sparse.consume_type, ConsumeType::Passively);
    assert_eq!(sparse.message_model, MessageModel::Clustering);
    Ok(())
}

#[test]
fn producer_connection_body() -> TestResult {
    let body = ProducerConnection {
        connection_set: consumer_connection().connection_set,
    };
    let golden = br#"{"connectionSet":[{"clientAddr":"10.0.0.5:50000","clientId":"10.0.0.5@1","language":"JAVA","version":407}]}"#;
    assert_eq!(body.encode(), golden);
    assert_eq!(ProducerConnection::decode(golden)?, body);
    Ok(())
}

fn consume_stats() -> ConsumeStats {
    ConsumeStats {
        consume_tps: 1.5,
        offset_table: BTreeMap::from([
            (
                queue(1),
                OffsetWrapper {
                    broker_offset: 20,
                    consumer_offset: 20,
                    last_timestamp: 0,
                },
            ),
            (
                queue(0),
                OffsetWrapper {
                    broker_offset: 10,
                    consumer_offset: 7,
                    last_timestamp: 1_700_000_000_000,
                },
            ),
        ]),
    }
}

const CONSUME_STATS: &str = concat!(
    r#"{"consumeTps":1.5,"offsetTable":{"#,
    r#"{"brokerName":"broker-a","queueId":0,"topic":"T"}:"#,
    r#"{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000000},"#,
    r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}:"#,
    r#"{"brokerOffset":20,"consumerOffset":20,"lastTimestamp":0}}}"#
);

#[test]
fn consume_stats_writes_object_keys_as_fastjson_does() -> TestResult {
    let stats = consume_stats();
    assert_eq!(String::from_utf8(stats.encode())?, CONSUME_STATS);
    assert_eq!(ConsumeStats::decode(CONSUME_STATS.as_bytes())?, stats);

    let empty = ConsumeStats::default();
    assert_eq!(empty.encode(), br#"{"consumeTps":0.0,"offsetTable":{}}"#);
    assert_eq!(ConsumeStats::decode(&empty.encode())?, empty);
    Ok(())
}

#[test]
fn consume_stats_reads_other_writers() -> TestResult {
    // What Java's fastjson writes: HashMap order, keys in any order inside the queue object,
    // whitespace; and a writer that quoted the key objects as strings.
    let java = concat!(
        r#"{"consumeTps":1.5, "offsetTable":{ {"topic":"T","queueId":1,"brokerName":"broker-a"}"#,
        r#" : {"lastTimestamp":0,"consumerOffset":20,"brokerOffset":20},"#,
        r#""{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"T\"}":"#,
        r#"{"brokerOffset":10,"consumerOffset":7,"lastTimestamp":1700000000000}}}"#
    );
    assert_eq!(ConsumeStats::decode(java.as_bytes())?, consume_stats());

    // A key that is not a queue is an error naming the key.
    let bad = br#"{"offsetTable":{"T":{"brokerOffset":1}}}"#;
    assert!(matches!(
        ConsumeStats::decode(bad),
        Err(ProtocolError::JsonBody {
            what: "MessageQueue key",
            ..
        })
    ));
    Ok(())
}

#[test]
fn topic_stats_table_writes_object_keys_as_fastjson_does() -> TestResult {
    let table = TopicStatsTable {
        offset_table: BTreeMap::from([(
            queue(0),
            TopicOffset {
                last_update_timestamp: 1_700_000_000_000,
                max_offset: 10,
                min_offset: 2,
            },
        )]),
    };
    let golden = concat!(
        r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:"#,
        r#"{"lastUpdateTimestamp":1700000000000,"maxOffset":10,"minOffset":2}}}"#
    );
    assert_eq!(String::from_utf8(table.encode())?, golden);
    assert_eq!(TopicStatsTable::decode(golden.as_bytes())?, table);
    assert_eq!(
        TopicStatsTable::default().encode(),
        br#"{"offsetTable":{}}"#
    );
    Ok(())
}

#[test]
fn offset_tables_are_bounded() {
    let entries: Vec<String> = (0..=MAX_OFFSET_TABLE_ENTRIES)
        .map(|id| format!(r#""{id}":{{}}"#))
        .collect();
    let text = format!(r#"{{"offsetTable":{{{}}}}}"#, entries.join(","));
    let result = TopicStatsTable::decode(text.as_bytes());
    let message = format!("{result:?}");
    assert!(message.contains("offsetTable holds more than"), "{message}");
}

#[test]
fn connection_sets_tolerate_duplicates_and_numbers() -> TestResult {
    let text = br#"{"connectionSet":[{"clientId":"a","version":"407","language":"GO"},{"clientId":"a","version":407}]}"#;
    let body = ProducerConnection::decode(text)?;
    let ids: BTreeSet<&str> = body
        .connection_set
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(ids, BTreeSet::from(["a"]));
    assert!(body.connection_set.iter().all(|c| c.version == 407));
    Ok(())
}

#[test]
fn reset_offset_bodies_round_trip_with_inline_queue_keys() -> TestResult {
    let body = ResetOffsetBody {
        offset_table: BTreeMap::from([
            (MessageQueue::new("T", "broker-a", 0), 7),
            (MessageQueue::new("T", "broker-a", 1), 0),
        ]),
    };
    let golden = concat!(
        r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:7,"#,
        r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}:0}}"#
    );
    assert_eq!(String::from_utf8(body.encode())?, golden);
    assert_eq!(ResetOffsetBody::decode(golden.as_bytes())?, body);
    // As Go and Java clients may send it: spaces, a quoted number.
    let loose =
        br#"{ "offsetTable" : { {"topic":"T","queueId":0,"brokerName":"broker-a"} : "7" } }"#;
    assert_eq!(ResetOffsetBody::decode(loose)?.offset_table.len(), 1);
    Ok(())
}
