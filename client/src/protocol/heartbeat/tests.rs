//! Tests of `heartbeat`: the bodies each stock client really sends, the filter semantics, and
//! the limits.

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TAG_A: i32 = 2_598_919;
const TAG_B: i32 = 2_598_920;

/// protocol.md §4.1's example, as a Java 4.9 client sends it.
const JAVA_HEARTBEAT: &str = r#"{"clientID":"10.0.0.5@12345",
 "producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"},{"groupName":"pg"}],
 "consumerDataSet":[{
     "groupName":"cg",
     "consumeType":"CONSUME_PASSIVELY",
     "messageModel":"CLUSTERING",
     "consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
     "unitMode":false,
     "subscriptionDataSet":[{
         "classFilterMode":false,"topic":"T","subString":"TagA || TagB",
         "tagsSet":["TagA","TagB"],"codeSet":[2598919,2598920],
         "subVersion":1700000000000,"expressionType":"TAG"},
       {"classFilterMode":false,"topic":"%RETRY%cg","subString":"*","tagsSet":[],"codeSet":[],
        "subVersion":1700000000001,"expressionType":"TAG"}]}]}"#;

fn subscription(topic: &str, expression: &str, sub_version: i64) -> SubscriptionData {
    SubscriptionData {
        sub_version,
        ..SubscriptionData::from_expression(topic, expression)
    }
}

#[test]
fn java_heartbeat_decodes() -> TestResult {
    let heartbeat = HeartbeatData::decode(JAVA_HEARTBEAT.as_bytes())?;
    assert_eq!(heartbeat.client_id, "10.0.0.5@12345");
    assert_eq!(
        heartbeat
            .producer_data_set
            .iter()
            .map(|p| p.group_name.as_str())
            .collect::<Vec<_>>(),
        ["CLIENT_INNER_PRODUCER", "pg"]
    );
    let expected = ConsumerData {
        consume_from_where: ConsumeFromWhere::LastOffset,
        consume_type: ConsumeType::Passively,
        group_name: "cg".into(),
        message_model: MessageModel::Clustering,
        subscription_data_set: vec![
            subscription("T", "TagA || TagB", 1_700_000_000_000),
            subscription("%RETRY%cg", "*", 1_700_000_000_001),
        ],
        unit_mode: false,
    };
    assert_eq!(heartbeat.consumer_data_set, [expected]);
    let topic = &heartbeat.consumer_data_set[0].subscription_data_set[0];
    assert_eq!(topic.code_set, BTreeSet::from([TAG_A, TAG_B]));
    Ok(())
}

#[test]
fn heartbeat_encodes_in_java_shape() -> TestResult {
    let heartbeat = HeartbeatData {
        client_id: "10.0.0.5@12345".into(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: ConsumeFromWhere::FirstOffset,
            consume_type: ConsumeType::Passively,
            group_name: "cg".into(),
            message_model: MessageModel::Broadcasting,
            subscription_data_set: vec![subscription("T", "TagA||TagB", 7)],
            unit_mode: false,
        }],
        producer_data_set: vec![ProducerData {
            group_name: "pg".into(),
        }],
    };
    let golden = concat!(
        r#"{"clientID":"10.0.0.5@12345","consumerDataSet":[{"#,
        r#""consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","#,
        r#""groupName":"cg","messageModel":"BROADCASTING","subscriptionDataSet":[{"#,
        r#""classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","#,
        r#""subString":"TagA||TagB","subVersion":7,"tagsSet":["TagA","TagB"],"topic":"T"}],"#,
        r#""unitMode":false}],"producerDataSet":[{"groupName":"pg"}]}"#
    );
    assert_eq!(String::from_utf8(heartbeat.encode())?, golden);
    assert_eq!(HeartbeatData::decode(golden.as_bytes())?, heartbeat);
    Ok(())
}

#[test]
fn go_heartbeat_decodes() -> TestResult {
    // Go v2: codes as strings, subVersion in nanoseconds, consumeFromWhere it cannot name.
    let go = br#"{"clientID":"10.0.0.6@777","producerDataSet":[],"consumerDataSet":[{
        "groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"BROADCASTING",
        "consumeFromWhere":"UNKNOWN","unitMode":false,"subscriptionDataSet":[{
        "classFilterMode":false,"topic":"T","subString":"TagA||TagB",
        "tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],
        "subVersion":1700000000123456789,"expressionType":"TAG"}]}]}"#;
    let heartbeat = HeartbeatData::decode(go)?;
    let consumer = &heartbeat.consumer_data_set[0];
    assert_eq!(consumer.consume_from_where, ConsumeFromWhere::LastOffset);
    assert_eq!(consumer.message_model, MessageModel::Broadcasting);
    let subscription = &consumer.subscription_data_set[0];
    assert_eq!(subscription.sub_version, 1_700_000_000_123_456_789);
    assert_eq!(subscription.code_set, BTreeSet::from([TAG_A, TAG_B]));
    Ok(())
}

#[test]
fn cpp_heartbeat_decodes() -> TestResult {
    // C++: enums as ordinals (also as numeric strings), subVersion as a string, and none of
    // producerDataSet, unitMode, expressionType, classFilterMode, tagsSet or codeSet.
    let cpp = br#"{"clientID":"10.0.0.7@42","consumerDataSet":[{"groupName":"cg",
        "consumeType":1,"messageModel":"0","consumeFromWhere":4,
        "subscriptionDataSet":[{"topic":"T","subString":"TagA || TagB",
        "subVersion":"1700000000000"},{"topic":"U","subString":"*","subVersion":"5"}]}]}"#;
    let heartbeat = HeartbeatData::decode(cpp)?;
    assert!(heartbeat.producer_data_set.is_empty());
    let consumer = &heartbeat.consumer_data_set[0];
    assert_eq!(consumer.consume_type, ConsumeType::Passively);
    assert_eq!(consumer.message_model, MessageModel::Broadcasting);
    assert_eq!(consumer.consume_from_where, ConsumeFromWhere::FirstOffset);
    assert!(!consumer.unit_mode);
    let mut tagged = consumer.subscription_data_set[0].clone();
    assert_eq!(tagged.sub_version, 1_700_000_000_000);
    assert_eq!(tagged.expression_type, "TAG");
    assert!(!tagged.class_filter_mode);
    assert!(tagged.tags_set.is_empty() && tagged.code_set.is_empty());
    // Without the sets a Java broker would filter out everything; the tags come from
    // subString instead.
    tagged.recompute_codes();
    assert_eq!(tagged, subscription("T", "TagA || TagB", 1_700_000_000_000));
    assert!(tagged.matches_tag_code(Some(i64::from(TAG_B))));
    let mut all = consumer.subscription_data_set[1].clone();
    all.recompute_codes();
    assert!(all.tags_set.is_empty() && all.matches_tag_code(Some(12)));
    Ok(())
}

#[test]
fn rust_client_heartbeat_decodes_and_its_codes_are_replaced() -> TestResult {
    // rocketmq-client-rust: extra keys, trimmed tags but codes of the untrimmed strings.
    let untrimmed = [tag_code("TagA "), tag_code(" TagB")];
    assert!(!untrimmed.contains(&TAG_A) && !untrimmed.contains(&TAG_B));
    let rust = format!(
        r#"{{"clientID":"10.0.0.8@9","producerDataSet":[],"consumerDataSet":[{{
        "groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",
        "consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","unitMode":false,
        "subscriptionDataSet":[{{"classFilterMode":false,"topic":"T","subString":"TagA || TagB",
        "tagsSet":["TagA","TagB"],"codeSet":[{},{}],"subVersion":1,"expressionType":"TAG"}}]}}],
        "heartbeatFingerprint":-123,"withoutSub":false}}"#,
        untrimmed[0], untrimmed[1]
    );
    let heartbeat = HeartbeatData::decode(rust.as_bytes())?;
    let mut subscription = heartbeat.consumer_data_set[0].subscription_data_set[0].clone();
    assert!(!subscription.matches_tag_code(Some(i64::from(TAG_A))));
    subscription.recompute_codes();
    assert_eq!(subscription.code_set, BTreeSet::from([TAG_A, TAG_B]));
    assert!(subscription.matches_tag_code(Some(i64::from(TAG_A))));
    Ok(())
}

#[test]
fn nulls_and_odd_scalars_take_java_defaults() -> TestResult {
    let odd = br#"{"clientID":null,"producerDataSet":null,"consumerDataSet":[{
        "groupName":"cg","consumeType":null,"messageModel":"clustering","unitMode":"1",
        "subscriptionDataSet":[{"topic":"T","subString":"*","expressionType":null,
        "classFilterMode":0,"tagsSet":null,"codeSet":null,"subVersion":1.7e12}]}]}"#;
    let heartbeat = HeartbeatData::decode(odd)?;
    assert_eq!(heartbeat.client_id, "");
    let consumer = &heartbeat.consumer_data_set[0];
    assert_eq!(consumer.consume_type, ConsumeType::Passively);
    assert_eq!(consumer.message_model, MessageModel::Clustering);
    assert!(consumer.unit_mode);
    let subscription = &consumer.subscription_data_set[0];
    assert_eq!(subscription.expression_type, "TAG");
    assert_eq!(subscription.sub_version, 1_700_000_000_000);
    Ok(())
}

#[test]
fn values_no_reading_can_fix_are_errors() {
    for body in [
        &br#"{"clientID":"c","consumerDataSet":{}}"#[..],
        br#"{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":["abc"]}]}]}"#,
        br#"{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":[3000000000]}]}]}"#,
        br#"{"consumerDataSet":[{"subscriptionDataSet":[{"subVersion":"soon"}]}]}"#,
        br#"{"consumerDataSet":[{"subscriptionDataSet":[{"subVersion":1.5}]}]}"#,
        br#"{"consumerDataSet":[{"subscriptionDataSet":[null]}]}"#,
        br#"{"clientID":"c""#,
        br#""heartbeat""#,
    ] {
        let result = HeartbeatData::decode(body);
        assert!(
            matches!(
                result,
                Err(ProtocolError::JsonBody {
                    what: "HeartbeatData",
                    ..
                })
            ),
            "{}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn enums_read_names_ordinals_and_fall_back() {
    for (index, value) in ConsumeFromWhere::ALL.iter().enumerate() {
        assert_eq!(value.ordinal(), index);
        assert_eq!(ConsumeFromWhere::from_wire_text(value.name()), *value);
        assert_eq!(ConsumeFromWhere::from_wire_text(&index.to_string()), *value);
    }
    assert_eq!(
        ConsumeFromWhere::from_wire_text("consume_from_timestamp"),
        ConsumeFromWhere::Timestamp
    );
    assert_eq!(
        ConsumeFromWhere::from_wire_text("6"),
        ConsumeFromWhere::LastOffset
    );
    assert_eq!(ConsumeType::from_ordinal(0), Some(ConsumeType::Actively));
    assert_eq!(ConsumeType::from_ordinal(2), None);
    assert_eq!(ConsumeType::Actively.to_string(), "CONSUME_ACTIVELY");
    assert_eq!(MessageModel::from_wire_text("x"), MessageModel::Clustering);
}

#[test]
fn expressions_parse_as_filter_api_does() {
    let parsed = SubscriptionData::from_expression("T", " TagA ||  || TagB||TagA ");
    assert_eq!(parsed.topic, "T");
    assert_eq!(parsed.sub_string, " TagA ||  || TagB||TagA ");
    assert_eq!(
        parsed.tags_set,
        BTreeSet::from(["TagA".to_owned(), "TagB".to_owned()])
    );
    assert_eq!(parsed.code_set, BTreeSet::from([TAG_A, TAG_B]));
    assert_eq!(parsed.sub_version, 0);
    assert_eq!(parsed.expression_type, "TAG");

    for everything in ["*", "", "  ", " * "] {
        let all = SubscriptionData::from_expression("T", everything);
        assert_eq!(all.sub_string, "*", "{everything:?}");
        assert!(all.tags_set.is_empty() && all.code_set.is_empty());
    }
    // Only separators: no tag at all, which (as in Java) matches nothing.
    let none = SubscriptionData::from_expression("T", "||");
    assert!(none.tags_set.is_empty());
    assert!(!none.matches_tag_code(Some(i64::from(TAG_A))));
    // Java trims control characters too, and hashes over UTF-16.
    let odd = SubscriptionData::from_expression("T", "\u{1}Tag\u{e9}\t|| 标签");
    assert_eq!(
        odd.tags_set,
        BTreeSet::from(["Tag\u{e9}".to_owned(), "标签".to_owned()])
    );
    assert!(odd.code_set.contains(&tag_code("标签")));
}

#[test]
fn broker_filter_follows_expression_message_filter() {
    let tags = SubscriptionData::from_expression("T", "TagA || TagB");
    assert!(tags.matches_tag_code(Some(i64::from(TAG_A))));
    assert!(!tags.matches_tag_code(Some(i64::from(TAG_A) + 7)));
    assert!(tags.matches_tag_code(None));
    // Java compares `(int) tagsCode`: only the low 32 bits count.
    assert!(tags.matches_tag_code(Some((1_i64 << 32) + i64::from(TAG_B))));
    // A message without tags is stored with code 0, which a tag subscription rejects.
    assert!(!tags.matches_tag_code(Some(0)));

    let all = SubscriptionData::from_expression("T", "*");
    assert!(all.matches_tag_code(Some(5)) && all.matches_tag_code(None));

    let sql = SubscriptionData {
        expression_type: EXPRESSION_TYPE_SQL92.into(),
        sub_string: "a > 1".into(),
        ..SubscriptionData::default()
    };
    assert!(sql.matches_tag_code(Some(5)));
    let class_filter = SubscriptionData {
        class_filter_mode: true,
        ..tags.clone()
    };
    assert!(class_filter.matches_tag_code(Some(5)));
    let empty_type = SubscriptionData {
        expression_type: String::new(),
        ..tags.clone()
    };
    assert!(!empty_type.matches_tag_code(Some(5)));
}

#[test]
fn exact_tag_check_follows_the_java_client() {
    let tags = SubscriptionData::from_expression("T", "TagA || TagB");
    assert!(tags.matches_tag(Some("TagA")));
    assert!(!tags.matches_tag(Some("TagC")));
    assert!(!tags.matches_tag(None));
    let all = SubscriptionData::from_expression("T", "*");
    assert!(all.matches_tag(Some("anything")) && all.matches_tag(None));
}

#[test]
fn recompute_leaves_sql_alone() {
    let mut sql = SubscriptionData {
        expression_type: EXPRESSION_TYPE_SQL92.into(),
        sub_string: "a || b".into(),
        ..SubscriptionData::default()
    };
    sql.recompute_codes();
    assert!(sql.tags_set.is_empty() && sql.code_set.is_empty());
}

#[test]
fn limits_are_enforced_while_parsing() {
    let groups = format!(
        r#"{{"producerDataSet":[{}]}}"#,
        vec![r#"{"groupName":"g"}"#; MAX_GROUPS_PER_HEARTBEAT + 1].join(",")
    );
    let text = format!("{:?}", HeartbeatData::decode(groups.as_bytes()));
    assert!(text.contains("more than 1024"), "{text}");

    // Under the per-consumer bound each, over the heartbeat-wide one together.
    let half = vec!["{}"; MAX_SUBSCRIPTIONS_PER_HEARTBEAT / 2 + 1].join(",");
    let subscriptions = format!(
        r#"{{"consumerDataSet":[{{"subscriptionDataSet":[{half}]}},{{"subscriptionDataSet":[{half}]}}]}}"#
    );
    let text = format!("{:?}", HeartbeatData::decode(subscriptions.as_bytes()));
    assert!(text.contains("more than 10000 subscriptions"), "{text}");

    let codes = vec!["1"; MAX_TAGS_PER_HEARTBEAT / 4 + 1].join(",");
    let many_codes = format!(
        r#"{{"consumerDataSet":[{{"subscriptionDataSet":[{{"codeSet":[{codes}]}},{{"codeSet":[{codes}]}},{{"codeSet":[{codes}]}},{{"codeSet":[{codes}]}}]}}]}}"#
    );
    let text = format!("{:?}", HeartbeatData::decode(many_codes.as_bytes()));
    assert!(text.contains("tags and tag codes"), "{text}");

    let just_under = vec!["{}"; MAX_SUBSCRIPTIONS_PER_HEARTBEAT / 2].join(",");
    let fine = format!(
        r#"{{"consumerDataSet":[{{"subscriptionDataSet":[{just_under}]}},{{"subscriptionDataSet":[{just_under}]}}]}}"#
    );
    assert!(HeartbeatData::decode(fine.as_bytes()).is_ok());
}

#[test]
fn message_queue_orders_like_java_and_writes_sorted_keys() -> TestResult {
    let queue = MessageQueue::new("T", "broker-a", 3);
    assert_eq!(
        queue.encode(),
        br#"{"brokerName":"broker-a","queueId":3,"topic":"T"}"#
    );
    assert_eq!(
        MessageQueue::decode(br#"{"topic":"T","queueId":"3","brokerName":"broker-a"}"#)?,
        queue
    );
    let mut queues = [
        MessageQueue::new("B", "a", 0),
        MessageQueue::new("A", "b", 0),
        MessageQueue::new("A", "a", 2),
        MessageQueue::new("A", "a", 10),
    ];
    queues.sort();
    assert_eq!(
        queues,
        [
            MessageQueue::new("A", "a", 2),
            MessageQueue::new("A", "a", 10),
            MessageQueue::new("A", "b", 0),
            MessageQueue::new("B", "a", 0),
        ]
    );
    Ok(())
}

#[test]
fn lock_bodies_decode_with_or_without_only_this_broker() -> TestResult {
    // 4.9.7's shape (protocol.md §2.3): no onlyThisBroker.
    let java = br#"{"clientId":"id","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,"topic":"t"},{"brokerName":"b","queueId":1,"topic":"t"}]}"#;
    let body = LockBatchRequestBody::decode(java)?;
    assert_eq!(body.client_id, "id");
    assert_eq!(body.consumer_group, "g");
    assert!(!body.only_this_broker);
    assert_eq!(
        body.mq_set,
        BTreeSet::from([
            MessageQueue::new("t", "b", 0),
            MessageQueue::new("t", "b", 1)
        ])
    );
    assert_eq!(body.encode(), java);

    // 5.x / rocketmq-rust: the flag set, keys in another order, a null group, extra keys.
    let rust = br#"{"consumerGroup":null,"clientId":"id","onlyThisBroker":true,"mqSet":[],"x":1}"#;
    let unlock = UnlockBatchRequestBody::decode(rust)?;
    assert!(unlock.only_this_broker);
    assert_eq!(unlock.consumer_group, "");
    assert_eq!(
        unlock.encode(),
        br#"{"clientId":"id","consumerGroup":"","mqSet":[],"onlyThisBroker":true}"#
    );

    // Only a client id: everything else defaults, as fastjson leaves it.
    assert!(
        LockBatchRequestBody::decode(br#"{"clientId":"id"}"#)?
            .mq_set
            .is_empty()
    );

    let response = LockBatchResponseBody {
        lock_ok_mq_set: BTreeSet::from([MessageQueue::new("t", "b", 1)]),
    };
    let bytes = response.encode();
    assert_eq!(
        bytes,
        br#"{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"t"}]}"#
    );
    assert_eq!(LockBatchResponseBody::decode(&bytes)?, response);
    Ok(())
}
