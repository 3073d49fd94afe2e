//! Request and response headers of the broker's commands (protocol.md §2.3): the producer,
//! consumer, offset, query and admin paths.
//!
//! Keys are Java's field names exactly, because Java decodes extFields by reflection over them
//! (protocol.md §1.9); a field is required here when Java marks it `@CFNotNull`. Since 4.9.5
//! Java clients add the target broker's name (`bname`, `n` in the V2 send header); it is read
//! so that a processor may check it, and never required.
//!
//! Send requests come in two spellings of one header: SEND_MESSAGE (10) uses the long names,
//! SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) one-letter keys `a`..`n`. Processors see
//! a single [`SendMessageRequestHeader`], built by [`decode_send_header`].

use super::code::RequestCode;
use super::command::ExtFields;
use super::error::ProtocolError;
use super::header::CommandHeader;

crate::command_header! {
    /// SEND_MESSAGE (10), and the processor's view of every send: the long Java names.
    pub struct SendMessageRequestHeader {
        producer_group: String = "producerGroup",
        topic: String = "topic",
        /// The template topic for auto-creation, normally `TBW102`.
        default_topic: String = "defaultTopic",
        default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Negative: the broker picks a writable queue.
        queue_id: i32 = "queueId",
        /// MessageSysFlag bits (protocol.md §5.2).
        sys_flag: i32 = "sysFlag",
        /// Milliseconds since the Unix epoch, stamped by the producer.
        born_timestamp: i64 = "bornTimestamp",
        /// The user's flag, stored untouched.
        flag: i32 = "flag",
        /// The properties string (protocol.md §5.3); for a batch, the batch-level properties.
        properties: Option<String> = "properties",
        reconsume_times: Option<i32> = "reconsumeTimes",
        unit_mode: Option<bool> = "unitMode",
        /// The body is a batch of records (protocol.md §2.3); Java decides "batch" by this
        /// flag, not by the request code.
        batch: Option<bool> = "batch",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// The broker the client meant (Java `bname`, 4.9.5+).
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): the same fields as
    /// [`SendMessageRequestHeader`] under one-letter keys, which keep the header small.
    pub struct SendMessageRequestHeaderV2 {
        producer_group: String = "a",
        topic: String = "b",
        default_topic: String = "c",
        default_topic_queue_nums: i32 = "d",
        queue_id: i32 = "e",
        sys_flag: i32 = "f",
        born_timestamp: i64 = "g",
        flag: i32 = "h",
        properties: Option<String> = "i",
        reconsume_times: Option<i32> = "j",
        unit_mode: Option<bool> = "k",
        /// Java calls it `consumeRetryTimes` in a comment; it is `maxReconsumeTimes`.
        max_reconsume_times: Option<i32> = "l",
        batch: Option<bool> = "m",
        broker_name: Option<String> = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        Self {
            producer_group: v2.producer_group,
            topic: v2.topic,
            default_topic: v2.default_topic,
            default_topic_queue_nums: v2.default_topic_queue_nums,
            queue_id: v2.queue_id,
            sys_flag: v2.sys_flag,
            born_timestamp: v2.born_timestamp,
            flag: v2.flag,
            properties: v2.properties,
            reconsume_times: v2.reconsume_times,
            unit_mode: v2.unit_mode,
            batch: v2.batch,
            max_reconsume_times: v2.max_reconsume_times,
            broker_name: v2.broker_name,
        }
    }
}

impl SendMessageRequestHeader {
    /// The V2 spelling, which Bolide's producer sends (as Java's does).
    pub fn to_v2(&self) -> SendMessageRequestHeaderV2 {
        SendMessageRequestHeaderV2 {
            producer_group: self.producer_group.clone(),
            topic: self.topic.clone(),
            default_topic: self.default_topic.clone(),
            default_topic_queue_nums: self.default_topic_queue_nums,
            queue_id: self.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            flag: self.flag,
            properties: self.properties.clone(),
            reconsume_times: self.reconsume_times,
            unit_mode: self.unit_mode,
            batch: self.batch,
            max_reconsume_times: self.max_reconsume_times,
            broker_name: self.broker_name.clone(),
        }
    }

    /// Whether the body is a batch of records; absent means no, as Java's default.
    pub fn is_batch(&self) -> bool {
        self.batch.unwrap_or(false)
    }
}

/// Reads a send header in the spelling its request code implies, as Java's
/// `SendMessageProcessor.parseRequestHeader` does: V2 keys for SEND_MESSAGE_V2 and
/// SEND_BATCH_MESSAGE, the long names for anything else.
pub fn decode_send_header(
    code: i32,
    fields: &ExtFields,
) -> Result<SendMessageRequestHeader, ProtocolError> {
    match code {
        RequestCode::SEND_MESSAGE_V2 | RequestCode::SEND_BATCH_MESSAGE => {
            SendMessageRequestHeaderV2::from_ext_fields(fields).map(SendMessageRequestHeader::from)
        }
        _ => SendMessageRequestHeader::from_ext_fields(fields),
    }
}

crate::command_header! {
    /// Response to every send. Java also puts `MSG_REGION` and `TRACE_ON` into the response's
    /// extFields (protocol.md §2.3); they are not fields of this class, so the processor adds
    /// them.
    pub struct SendMessageResponseHeader {
        /// The offsetMsgId (protocol.md §5.4); for a batch, all of them joined by commas.
        msg_id: String = "msgId",
        queue_id: i32 = "queueId",
        /// Consume-queue offset of the (first) message.
        queue_offset: i64 = "queueOffset",
        transaction_id: Option<String> = "transactionId",
    }
}

/// PULL_MESSAGE `sysFlag` bits (Java `PullSysFlag`).
pub mod pull_sys_flag {
    /// `commitOffset` carries the group's progress, to be stored.
    pub const COMMIT_OFFSET: i32 = 1;
    /// The broker may hold the request (long polling) when nothing is there yet.
    pub const SUSPEND: i32 = 1 << 1;
    /// The header's `subscription` is to be used instead of the heartbeat's.
    pub const SUBSCRIPTION: i32 = 1 << 2;
    pub const CLASS_FILTER: i32 = 1 << 3;
    pub const LITE_PULL: i32 = 1 << 4;

    /// Whether `sys_flag` has `bit` set.
    pub const fn has(sys_flag: i32, bit: i32) -> bool {
        sys_flag & bit == bit
    }
}

crate::command_header! {
    /// PULL_MESSAGE (11).
    pub struct PullMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Logical consume-queue index to read from.
        queue_offset: i64 = "queueOffset",
        max_msg_nums: i32 = "maxMsgNums",
        /// [`pull_sys_flag`] bits.
        sys_flag: i32 = "sysFlag",
        /// The group's consumed offset, meaningful when `COMMIT_OFFSET` is set.
        commit_offset: i64 = "commitOffset",
        /// How long the broker may hold the request, in milliseconds.
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// The tag expression, meaningful when `SUBSCRIPTION` is set.
        subscription: Option<String> = "subscription",
        sub_version: i64 = "subVersion",
        /// `TAG` (absent means TAG) or `SQL92`.
        expression_type: Option<String> = "expressionType",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// PULL_MESSAGE response; the remark carries the store status name.
    pub struct PullMessageResponseHeader {
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        next_begin_offset: i64 = "nextBeginOffset",
        min_offset: i64 = "minOffset",
        max_offset: i64 = "maxOffset",
    }
}

crate::command_header! {
    /// QUERY_CONSUMER_OFFSET (14).
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// QUERY_CONSUMER_OFFSET response.
    pub struct QueryConsumerOffsetResponseHeader {
        offset: i64 = "offset",
    }
}

crate::command_header! {
    /// UPDATE_CONSUMER_OFFSET (15), usually oneway.
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        commit_offset: i64 = "commitOffset",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38).
    pub struct GetConsumerListByGroupRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

crate::command_header! {
    /// UNREGISTER_CLIENT (35).
    pub struct UnregisterClientRequestHeader {
        /// Java spells the key `clientID`.
        client_id: String = "clientID",
        producer_group: Option<String> = "producerGroup",
        consumer_group: Option<String> = "consumerGroup",
    }
}

crate::command_header! {
    /// CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log (physical) offset of the original message.
        offset: i64 = "offset",
        group: String = "group",
        /// 0: the broker picks `3 + reconsumeTimes`; negative: straight to the DLQ.
        delay_level: i32 = "delayLevel",
        origin_msg_id: Option<String> = "originMsgId",
        origin_topic: Option<String> = "originTopic",
        unit_mode: Option<bool> = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// END_TRANSACTION (37), oneway from the producer.
    pub struct EndTransactionRequestHeader {
        producer_group: String = "producerGroup",
        /// The half message's consume-queue offset, as the send returned it.
        tran_state_table_offset: i64 = "tranStateTableOffset",
        /// The half message's commit-log offset.
        commit_log_offset: i64 = "commitLogOffset",
        /// MessageSysFlag transaction type: 0 unknown, 8 commit, 12 rollback.
        commit_or_rollback: i32 = "commitOrRollback",
        from_transaction_check: Option<bool> = "fromTransactionCheck",
        /// The message's UNIQ_KEY.
        msg_id: String = "msgId",
        transaction_id: Option<String> = "transactionId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// CHECK_TRANSACTION_STATE (39), oneway from the broker to a producer.
    pub struct CheckTransactionStateRequestHeader {
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        msg_id: Option<String> = "msgId",
        transaction_id: Option<String> = "transactionId",
        offset_msg_id: Option<String> = "offsetMsgId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// GET_MAX_OFFSET (30).
    pub struct GetMaxOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// GET_MAX_OFFSET response: the next logical offset to be written.
    pub struct GetMaxOffsetResponseHeader {
        offset: i64 = "offset",
    }
}

crate::command_header! {
    /// GET_MIN_OFFSET (31).
    pub struct GetMinOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// GET_MIN_OFFSET response: the first logical offset still stored.
    pub struct GetMinOffsetResponseHeader {
        offset: i64 = "offset",
    }
}

crate::command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// GET_EARLIEST_MSG_STORETIME response.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of the message at the min offset in milliseconds, -1 if none.
        timestamp: i64 = "timestamp",
    }
}

crate::command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Milliseconds since the Unix epoch.
        timestamp: i64 = "timestamp",
        broker_name: Option<String> = "bname",
    }
}

crate::command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP response.
    pub struct SearchOffsetResponseHeader {
        offset: i64 = "offset",
    }
}

crate::command_header! {
    /// QUERY_MESSAGE (12): messages by key from the index.
    pub struct QueryMessageRequestHeader {
        topic: String = "topic",
        key: String = "key",
        max_num: i32 = "maxNum",
        /// Milliseconds since the Unix epoch.
        begin_timestamp: i64 = "beginTimestamp",
        end_timestamp: i64 = "endTimestamp",
        /// Not a field of Java's class: its client adds this extField directly, and true
        /// makes the broker use `defaultQueryMaxNum` instead of `maxNum`.
        unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY",
    }
}

crate::command_header! {
    /// QUERY_MESSAGE response.
    pub struct QueryMessageResponseHeader {
        index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

crate::command_header! {
    /// VIEW_MESSAGE_BY_ID (33).
    pub struct ViewMessageRequestHeader {
        /// Commit-log (physical) offset, decoded by the client from an offsetMsgId.
        offset: i64 = "offset",
    }
}

crate::command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40), oneway from the broker to each consumer of a group.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

crate::command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17).
    pub struct CreateTopicRequestHeader {
        topic: String = "topic",
        default_topic: String = "defaultTopic",
        read_queue_nums: i32 = "readQueueNums",
        write_queue_nums: i32 = "writeQueueNums",
        /// Permission bits (`route::perm`).
        perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: String = "topicFilterType",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        /// Java marks it `@CFNotNull` (its class default false is always sent).
        order: bool = "order",
    }
}

crate::command_header! {
    /// DELETE_TOPIC_IN_BROKER (215).
    pub struct DeleteTopicRequestHeader {
        topic: String = "topic",
    }
}

crate::command_header! {
    /// GET_TOPIC_STATS_INFO (202).
    pub struct GetTopicStatsInfoRequestHeader {
        topic: String = "topic",
    }
}

crate::command_header! {
    /// GET_CONSUME_STATS (208).
    pub struct GetConsumeStatsRequestHeader {
        consumer_group: String = "consumerGroup",
        /// Absent or blank: every topic the group has offsets for.
        topic: Option<String> = "topic",
    }
}

crate::command_header! {
    /// GET_CONSUMER_CONNECTION_LIST (203).
    pub struct GetConsumerConnectionListRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

crate::command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204).
    pub struct GetProducerConnectionListRequestHeader {
        producer_group: String = "producerGroup",
    }
}

crate::command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207).
    pub struct DeleteSubscriptionGroupRequestHeader {
        group_name: String = "groupName",
        /// Also drop the group's consumer offsets; absent means false.
        remove_offset: Option<bool> = "removeOffset",
    }
}

crate::command_header! {
    /// GET_BROKER_CONFIG response; the body is the configuration as properties text.
    pub struct GetBrokerConfigResponseHeader {
        /// The configuration's DataVersion as JSON text.
        version: String = "version",
    }
}

crate::command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222): move a group's offsets back to a point in time.
    pub struct ResetOffsetRequestHeader {
        topic: String = "topic",
        group: String = "group",
        /// Milliseconds since the Unix epoch.
        timestamp: i64 = "timestamp",
        /// Java's field is `isForce`: reset even to a later offset than the current one.
        is_force: bool = "isForce",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn send_header() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("TAGS\u{1}A\u{2}".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            batch: None,
            max_reconsume_times: None,
            broker_name: Some("broker-a".into()),
        }
    }

    #[test]
    fn v2_send_header_round_trips_to_long_names() -> TestResult {
        let header = send_header();
        let v2 = header.to_v2().to_ext_fields();
        assert_eq!(v2.get("a").map(String::as_str), Some("pg"));
        assert_eq!(v2.get("g").map(String::as_str), Some("1700000000000"));
        assert_eq!(v2.get("n").map(String::as_str), Some("broker-a"));
        assert!(!v2.contains_key("m"), "absent batch is not written");
        assert!(!v2.contains_key("producerGroup"));

        let decoded = decode_send_header(RequestCode::SEND_MESSAGE_V2, &v2)?;
        assert_eq!(decoded, header);
        let long = decoded.to_ext_fields();
        assert_eq!(long.get("producerGroup").map(String::as_str), Some("pg"));
        assert_eq!(long.get("bname").map(String::as_str), Some("broker-a"));
        assert_eq!(
            decode_send_header(RequestCode::SEND_MESSAGE, &long)?,
            header
        );
        Ok(())
    }

    #[test]
    fn send_header_spelling_follows_the_code() {
        let v2 = send_header().to_v2().to_ext_fields();
        // V2 keys under SEND_MESSAGE are not the long names: the first one is missing.
        assert!(matches!(
            decode_send_header(RequestCode::SEND_MESSAGE, &v2),
            Err(ProtocolError::MissingField("producerGroup"))
        ));
        let mut batch = v2.clone();
        batch.insert("m".into(), "true".into());
        let decoded = decode_send_header(RequestCode::SEND_BATCH_MESSAGE, &batch);
        assert!(decoded.is_ok_and(|header| header.is_batch()));
        assert!(!send_header().is_batch());
    }

    #[test]
    fn pull_header_parses_stringified_numbers_and_booleans() -> TestResult {
        // A C++ client's header: numbers and booleans as JSON values, which the JSON header
        // decoder turns into strings; and a field Java does not know, which is ignored.
        let json = br#"{"code":11,"extFields":{"consumerGroup":"cg","topic":"T","queueId":2,
            "queueOffset":15,"maxMsgNums":32.0,"sysFlag":3,"commitOffset":-1,
            "suspendTimeoutMillis":15000,"subVersion":1700000000000,"expressionType":"TAG",
            "extra":true},"flag":0,"language":"CPP","opaque":1,"version":0}"#;
        let command = super::super::json_header::decode(json)?;
        let header = PullMessageRequestHeader::from_ext_fields(&command.ext_fields)?;
        assert_eq!(header.queue_id, 2);
        assert_eq!(header.queue_offset, 15);
        assert_eq!(header.max_msg_nums, 32);
        assert_eq!(header.commit_offset, -1);
        assert_eq!(header.suspend_timeout_millis, 15_000);
        assert_eq!(header.sub_version, 1_700_000_000_000);
        assert_eq!(header.subscription, None);
        assert!(pull_sys_flag::has(header.sys_flag, pull_sys_flag::SUSPEND));
        assert!(pull_sys_flag::has(
            header.sys_flag,
            pull_sys_flag::COMMIT_OFFSET
        ));
        assert!(!pull_sys_flag::has(
            header.sys_flag,
            pull_sys_flag::SUBSCRIPTION
        ));

        // Booleans as JSON values, as "0"/"1", and padded numbers.
        let json = br#"{"code":36,"extFields":{"offset":" 77 ","group":"g","delayLevel":0,
            "unitMode":true,"maxReconsumeTimes":"16"}}"#;
        let command = super::super::json_header::decode(json)?;
        let back = ConsumerSendMsgBackRequestHeader::from_ext_fields(&command.ext_fields)?;
        assert_eq!(back.offset, 77);
        assert_eq!(back.unit_mode, Some(true));
        assert_eq!(back.max_reconsume_times, Some(16));
        for (text, expected) in [("1", true), ("0", false), ("false", false)] {
            let header = DeleteSubscriptionGroupRequestHeader::from_ext_fields(&fields(&[
                ("groupName", "g"),
                ("removeOffset", text),
            ]))?;
            assert_eq!(header.remove_offset, Some(expected), "{text}");
        }
        Ok(())
    }

    #[test]
    fn missing_or_invalid_required_fields_are_named() {
        let pull = fields(&[
            ("consumerGroup", "cg"),
            ("topic", "T"),
            ("queueId", "0"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "2"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "15000"),
        ]);
        assert!(matches!(
            PullMessageRequestHeader::from_ext_fields(&pull),
            Err(ProtocolError::MissingField("subVersion"))
        ));
        let mut invalid = pull.clone();
        invalid.insert("subVersion".into(), "soon".into());
        assert!(matches!(
            PullMessageRequestHeader::from_ext_fields(&invalid),
            Err(ProtocolError::InvalidField {
                field: "subVersion",
                ..
            })
        ));
        let v2 = fields(&[("a", "pg"), ("b", "T"), ("c", "TBW102"), ("d", "4")]);
        assert!(matches!(
            decode_send_header(RequestCode::SEND_MESSAGE_V2, &v2),
            Err(ProtocolError::MissingField("e"))
        ));
        assert!(matches!(
            ResetOffsetRequestHeader::from_ext_fields(&fields(&[
                ("topic", "T"),
                ("group", "g"),
                ("timestamp", "0"),
            ])),
            Err(ProtocolError::MissingField("isForce"))
        ));
    }

    #[test]
    fn response_headers_use_java_names() -> TestResult {
        let send = SendMessageResponseHeader {
            msg_id: "0A00000100002A9F0000000000000000".into(),
            queue_id: 1,
            queue_offset: 42,
            transaction_id: None,
        };
        let ext = send.to_ext_fields();
        assert_eq!(
            ext.keys().map(String::as_str).collect::<Vec<_>>(),
            ["msgId", "queueId", "queueOffset"]
        );
        assert_eq!(SendMessageResponseHeader::from_ext_fields(&ext)?, send);

        let pull = PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 10,
            min_offset: 0,
            max_offset: 10,
        };
        let ext = pull.to_ext_fields();
        assert_eq!(ext.get("nextBeginOffset").map(String::as_str), Some("10"));
        assert_eq!(
            ext.get("suggestWhichBrokerId").map(String::as_str),
            Some("0")
        );
        assert_eq!(PullMessageResponseHeader::from_ext_fields(&ext)?, pull);

        let query = QueryMessageResponseHeader {
            index_last_update_timestamp: 5,
            index_last_update_phyoffset: 6,
        };
        assert_eq!(
            query.to_ext_fields(),
            fields(&[
                ("indexLastUpdatePhyoffset", "6"),
                ("indexLastUpdateTimestamp", "5")
            ])
        );
        Ok(())
    }

    #[test]
    fn admin_headers_read_java_requests() -> TestResult {
        let create = CreateTopicRequestHeader::from_ext_fields(&fields(&[
            ("topic", "T"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "8"),
            ("writeQueueNums", "8"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ]))?;
        assert_eq!(create.read_queue_nums, 8);
        assert_eq!(create.topic_sys_flag, None);
        assert!(!create.order);

        let unregister = UnregisterClientRequestHeader::from_ext_fields(&fields(&[
            ("clientID", "10.0.0.5@1"),
            ("consumerGroup", "cg"),
        ]))?;
        assert_eq!(unregister.client_id, "10.0.0.5@1");
        assert_eq!(unregister.producer_group, None);

        let reset = ResetOffsetRequestHeader::from_ext_fields(&fields(&[
            ("topic", "T"),
            ("group", "g"),
            ("timestamp", "1700000000000"),
            ("isForce", "true"),
        ]))?;
        assert!(reset.is_force);

        let query = QueryMessageRequestHeader::from_ext_fields(&fields(&[
            ("topic", "T"),
            ("key", "k"),
            ("maxNum", "32"),
            ("beginTimestamp", "0"),
            ("endTimestamp", "9"),
            ("_UNIQUE_KEY_QUERY", "true"),
        ]))?;
        assert_eq!(query.unique_key_query, Some(true));
        Ok(())
    }
}
