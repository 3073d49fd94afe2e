//! Client heartbeats, subscriptions and queue-lock bodies (protocol.md §4, §2.3 LOCK_BATCH_MQ).
//!
//! Decoding accepts what every stock client sends, as Java's fastjson does (protocol.md §4.1,
//! interop-notes.md): enums as names (any case), ordinals or numeric strings; numbers as
//! strings and strings as numbers (Go's `codeSet`, C++'s `subVersion`); booleans as `0`/`1`;
//! `null` or a missing key as Java's default (`expressionType` → `TAG`); unknown keys
//! (`heartbeatFingerprint`, `withoutSub`, `onlyThisBroker`…) ignored. An enum name nobody
//! knows (Go's `"UNKNOWN"` consumeFromWhere) becomes the variant a Java push consumer would
//! send, because fastjson reads it as null rather than failing the heartbeat. Encoding writes
//! Java's shape: compact, keys in fastjson's alphabetical order, enums by name.
//!
//! ```text
//! HeartbeatData    {"clientID":"ip@pid","consumerDataSet":[ConsumerData..],
//!                   "producerDataSet":[{"groupName":"pg"}..]}
//! ConsumerData     {"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
//!                   "consumeType":"CONSUME_PASSIVELY","groupName":"cg",
//!                   "messageModel":"CLUSTERING","subscriptionDataSet":[..],"unitMode":false}
//! SubscriptionData {"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG",
//!                   "subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],
//!                   "topic":"T"}
//! MessageQueue     {"brokerName":"broker-a","queueId":0,"topic":"T"}
//! LockBatch…Body   {"clientId":"ip@pid","consumerGroup":"cg","mqSet":[MessageQueue..]}
//! ```
//!
//! Every collection is bounded while it is parsed, so a hostile body fails on its first
//! entry past the limit instead of after building millions of them.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::error::ProtocolError;
use super::lenient_json::{encode_body, parse_lenient};
use super::message::tag_hash_code;

/// The most producer groups, and separately consumer groups, one heartbeat may carry; a
/// client process rarely has more than a handful.
pub const MAX_GROUPS_PER_HEARTBEAT: usize = 1024;
/// The most subscriptions one heartbeat may carry, over all its consumer groups.
pub const MAX_SUBSCRIPTIONS_PER_HEARTBEAT: usize = 10_000;
/// The most tags (and, separately, tag codes) one subscription may list.
pub const MAX_TAGS_PER_SUBSCRIPTION: usize = 10_000;
/// The most tags and tag codes one heartbeat may list, over all its subscriptions.
pub const MAX_TAGS_PER_HEARTBEAT: usize = 100_000;
/// The most queues one lock or unlock body may name. An orderly consumer locks every queue
/// it owns on a broker at once, so this is generous.
pub const MAX_QUEUES_PER_LOCK: usize = 65_536;

/// The subscription expression that matches every message.
pub const SUB_ALL: &str = "*";
/// Tag filtering (`a || b`), the default expression type.
pub const EXPRESSION_TYPE_TAG: &str = "TAG";
/// SQL-92 filtering over properties.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// Gives a body type its `encode`/`decode` pair, so that the two cannot drift apart.
macro_rules! json_codec {
    ($type:ty, $what:literal) => {
        impl $type {
            /// Compact JSON in the shape Java peers write.
            pub fn encode(&self) -> Vec<u8> {
                $crate::protocol::lenient_json::encode_body(self, $what)
            }

            /// Parses any client's JSON (see the module docs), or fastjson's own output.
            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::protocol::ProtocolError> {
                $crate::protocol::lenient_json::parse_lenient(bytes, $what)
            }
        }
    };
}
pub(super) use json_codec;

/// Declares a Java enum: its variants in ordinal order with their Java names, a fallback for
/// names and ordinals nobody knows, and lenient (de)serialization.
macro_rules! java_enum {
    ($(#[$meta:meta])* pub enum $name:ident (fallback $fallback:ident) {
        $($(#[$variant_meta:meta])* $variant:ident = $java:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Every variant in Java's ordinal order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Java name, as fastjson writes it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $java),+
                }
            }

            /// Java's `ordinal()`, which C++ clients send instead of the name.
            pub fn ordinal(self) -> usize {
                Self::ALL.iter().position(|known| *known == self).unwrap_or(0)
            }

            /// The variant with this Java name, in any letter case.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|known| known.name().eq_ignore_ascii_case(name))
            }

            pub fn from_ordinal(ordinal: u64) -> Option<Self> {
                usize::try_from(ordinal).ok().and_then(|at| Self::ALL.get(at).copied())
            }

            /// A name, an ordinal, or a numeric string; anything else is the fallback.
            fn from_wire_text(text: &str) -> Self {
                let text = text.trim();
                Self::from_name(text)
                    .or_else(|| text.parse().ok().and_then(Self::from_ordinal))
                    .unwrap_or_default()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$fallback
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = lenient::string(deserializer)?;
                Ok(Self::from_wire_text(&text))
            }
        }
    };
}

java_enum! {
    /// Whether the application pulls (`PULL`) or the client pushes to a listener (`PUSH`).
    pub enum ConsumeType (fallback Passively) {
        /// Java `CONSUME_ACTIVELY`: a pull consumer.
        Actively = "CONSUME_ACTIVELY",
        /// Java `CONSUME_PASSIVELY`: a push consumer.
        Passively = "CONSUME_PASSIVELY",
    }
}

java_enum! {
    /// Whether each message goes to one member of the group or to all of them.
    pub enum MessageModel (fallback Clustering) {
        Broadcasting = "BROADCASTING",
        Clustering = "CLUSTERING",
    }
}

java_enum! {
    /// Where a group with no stored offset starts. Unknown names (Go may send `UNKNOWN`) read
    /// as `CONSUME_FROM_LAST_OFFSET`, Java's default; the broker only reports this value.
    pub enum ConsumeFromWhere (fallback LastOffset) {
        LastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// Deprecated in Java.
        LastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// Deprecated in Java.
        MinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// Deprecated in Java.
        MaxOffset = "CONSUME_FROM_MAX_OFFSET",
        FirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        Timestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

/// HEART_BEAT body: which producer and consumer groups a client process runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    /// `ip@pid` (or `ip@instanceName`); Java spells the key `clientID`.
    #[serde(rename = "clientID", deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "groups")]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(deserialize_with = "groups")]
    pub producer_data_set: Vec<ProducerData>,
}

impl HeartbeatData {
    pub fn encode(&self) -> Vec<u8> {
        encode_body(self, "HeartbeatData")
    }

    /// Parses any stock client's heartbeat; fails only on broken JSON, a value of the wrong
    /// kind (an object where a number belongs), or a body over the limits above.
    ///
    /// The body is read twice: first only counted, which allocates nothing per entry, so that
    /// a body of a million `{}` subscriptions is refused before a million are built; then
    /// parsed. Heartbeats are small and arrive every 30 s, so the second pass costs little.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let _: Tally = parse_lenient(bytes, "HeartbeatData")?;
        parse_lenient(bytes, "HeartbeatData")
    }
}

/// A producer group the client runs; the broker needs it to ask a producer about a
/// transaction's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    #[serde(deserialize_with = "lenient::string")]
    pub group_name: String,
}

/// A consumer group the client runs, with what it subscribes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    pub consume_from_where: ConsumeFromWhere,
    pub consume_type: ConsumeType,
    #[serde(deserialize_with = "lenient::string")]
    pub group_name: String,
    pub message_model: MessageModel,
    #[serde(deserialize_with = "subscriptions")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(deserialize_with = "lenient::boolean")]
    pub unit_mode: bool,
}

/// One topic a consumer group subscribes to, and how it filters.
///
/// Clients compute `code_set` themselves, and not all alike (Go hashes UTF-8 bytes, one Rust
/// client hashes untrimmed tags), so the broker calls [`recompute_codes`] before filtering.
///
/// [`recompute_codes`]: SubscriptionData::recompute_codes
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Filter-server mode (long gone from brokers): everything passes the broker's filter.
    #[serde(deserialize_with = "lenient::boolean")]
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag: what the consume queue stores per message.
    #[serde(deserialize_with = "codes")]
    pub code_set: BTreeSet<i32>,
    /// `TAG` or `SQL92`; empty also means TAG, as in Java.
    #[serde(deserialize_with = "expression_type")]
    pub expression_type: String,
    /// The expression as the user wrote it, `*` for everything.
    #[serde(deserialize_with = "lenient::string")]
    pub sub_string: String,
    /// A version the client bumps when the subscription changes (milliseconds from Java, but
    /// nanoseconds from Go): only compared, never read as a time.
    #[serde(deserialize_with = "lenient::long")]
    pub sub_version: i64,
    #[serde(deserialize_with = "tags")]
    pub tags_set: BTreeSet<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        Self {
            class_filter_mode: false,
            code_set: BTreeSet::new(),
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
            sub_string: String::new(),
            sub_version: 0,
            tags_set: BTreeSet::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// Parses a TAG expression as Java's `FilterAPI` does: split on `||`, trim, drop empty
    /// tags; a blank expression or `*` subscribes to everything.
    ///
    /// Java only treats an exactly empty string or `*` as "everything"; a blank or padded
    /// `*` is accepted here too, because it cannot mean anything else. `sub_version` is 0:
    /// the codec has no clock, and Java's default (now, in ms) is the caller's to stamp.
    pub fn from_expression(topic: &str, expression: &str) -> Self {
        let mut data = Self {
            topic: topic.to_owned(),
            ..Self::default()
        };
        let trimmed = java_trim(expression);
        if trimmed.is_empty() || trimmed == SUB_ALL {
            data.sub_string = SUB_ALL.to_owned();
            return data;
        }
        data.sub_string = expression.to_owned();
        data.tags_set = split_tags(expression);
        data.recompute_codes();
        data
    }

    /// Whether the expression is a tag list (`TAG`, empty) rather than SQL.
    pub fn is_tag_type(&self) -> bool {
        self.expression_type.is_empty() || self.expression_type == EXPRESSION_TYPE_TAG
    }

    /// Whether the subscription takes every message (`*`).
    pub fn is_sub_all(&self) -> bool {
        self.sub_string == SUB_ALL
    }

    /// Rebuilds `code_set` from `tags_set` with Java's UTF-16 `String.hashCode`, so that
    /// filtering never depends on how a client hashed. A TAG subscription whose client left
    /// `tagsSet` out gets its tags from `subString` first (some C++ clients omit the sets).
    pub fn recompute_codes(&mut self) {
        if self.is_tag_type() && self.tags_set.is_empty() && !self.is_sub_all() {
            self.tags_set = split_tags(&self.sub_string);
        }
        self.code_set = self.tags_set.iter().map(|tag| tag_code(tag)).collect();
    }

    /// The broker's filter on a consume-queue unit's tag code, as Java's
    /// `ExpressionMessageFilter.isMatchedByConsumeQueue`: class-filter mode, SQL expressions
    /// (evaluated elsewhere, if at all), units without a code and `*` pass; otherwise the
    /// code, cut to 32 bits as Java's `intValue()` does, must be in `code_set`.
    ///
    /// Java passes a message without tags as code 0, which a tag subscription then rejects;
    /// `None` is for units whose code is not a tag code at all.
    pub fn matches_tag_code(&self, code: Option<i64>) -> bool {
        if self.class_filter_mode || !self.is_tag_type() || self.is_sub_all() {
            return true;
        }
        match code {
            // Truncation is the point: Java compares `(int) tagsCode`.
            Some(code) => self.code_set.contains(&(code as i32)),
            None => true,
        }
    }

    /// The exact check after the code filter (codes collide), as Java's client does it in
    /// `PullAPIWrapper`: with tags listed, only a message carrying one of them passes.
    pub fn matches_tag(&self, tag: Option<&str>) -> bool {
        if self.class_filter_mode || self.is_sub_all() || self.tags_set.is_empty() {
            return true;
        }
        tag.is_some_and(|tag| self.tags_set.contains(tag))
    }
}

/// The tags of a TAG expression: split on `||`, trimmed as Java's `String.trim` does, empty
/// ones dropped.
fn split_tags(expression: &str) -> BTreeSet<String> {
    expression
        .split("||")
        .map(java_trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Java's `String.trim`: strips every char up to U+0020, not Unicode whitespace, so that tags
/// hash exactly as Java clients hash them.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

/// A tag's consume-queue code as Java's `Set<Integer>` holds it.
fn tag_code(tag: &str) -> i32 {
    // `tag_hash_code` sign-extends a 32-bit hash, so this cast never loses bits.
    tag_hash_code(tag) as i32
}

/// One consume queue: a topic's queue on one broker. Ordered as Java's `compareTo` orders it
/// (topic, broker name, queue id); serialized with fastjson's alphabetical keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    #[serde(deserialize_with = "lenient::string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient::int")]
    pub queue_id: i32,
    #[serde(deserialize_with = "lenient::string")]
    pub topic: String,
}

json_codec!(MessageQueue, "MessageQueue");

impl MessageQueue {
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        Self {
            broker_name: broker_name.into(),
            queue_id,
            topic: topic.into(),
        }
    }
}

impl Ord for MessageQueue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.topic
            .cmp(&other.topic)
            .then_with(|| self.broker_name.cmp(&other.broker_name))
            .then_with(|| self.queue_id.cmp(&other.queue_id))
    }
}

impl PartialOrd for MessageQueue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// LOCK_BATCH_MQ (41) body, and UNLOCK_BATCH_MQ (42) as [`UnlockBatchRequestBody`]: an
/// orderly consumer asks for (or gives up) exclusive use of these queues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(deserialize_with = "lenient::string")]
    pub client_id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub consumer_group: String,
    #[serde(deserialize_with = "queues")]
    pub mq_set: BTreeSet<MessageQueue>,
    /// A 5.x field (lock only on the receiving broker); 4.9.7's class lacks it, so it is
    /// written only when set and read as false when absent.
    #[serde(
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub only_this_broker: bool,
}

json_codec!(LockBatchRequestBody, "LockBatchRequestBody");

/// UNLOCK_BATCH_MQ (42) body: the same fields as the lock request.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

/// LOCK_BATCH_MQ response body: the queues the client now holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", deserialize_with = "queues")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

json_codec!(LockBatchResponseBody, "LockBatchResponseBody");

/// What a heartbeat holds, counted over the whole body by [`HeartbeatData::decode`]'s first
/// pass; each count is checked against its heartbeat-wide limit as it grows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tally {
    #[serde(rename = "consumerDataSet", deserialize_with = "tally_consumers")]
    _counted: (),
}

/// Per-consumer and per-subscription counts of the first pass.
#[derive(Default, Deserialize)]
#[serde(default)]
struct ConsumerTally {
    #[serde(
        rename = "subscriptionDataSet",
        deserialize_with = "tally_subscriptions"
    )]
    counts: Counts,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SubscriptionTally {
    #[serde(rename = "tagsSet", deserialize_with = "count_elements")]
    tags: usize,
    #[serde(rename = "codeSet", deserialize_with = "count_elements")]
    codes: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    subscriptions: usize,
    tags: usize,
}

impl Counts {
    fn add<E: de::Error>(self, other: Counts) -> Result<Counts, E> {
        let total = Counts {
            subscriptions: self.subscriptions.saturating_add(other.subscriptions),
            tags: self.tags.saturating_add(other.tags),
        };
        if total.subscriptions > MAX_SUBSCRIPTIONS_PER_HEARTBEAT {
            return Err(E::custom(format!(
                "the heartbeat holds more than {MAX_SUBSCRIPTIONS_PER_HEARTBEAT} subscriptions"
            )));
        }
        if total.tags > MAX_TAGS_PER_HEARTBEAT {
            return Err(E::custom(format!(
                "the heartbeat holds more than {MAX_TAGS_PER_HEARTBEAT} tags and tag codes"
            )));
        }
        Ok(total)
    }
}

/// Sums the elements of an array (null as empty) as `T` tallies them, failing as soon as
/// the sum passes a limit.
struct SumVisitor<T>(std::marker::PhantomData<fn() -> T>);

trait Tallied {
    fn counts(&self) -> Counts;
}

impl Tallied for ConsumerTally {
    fn counts(&self) -> Counts {
        self.counts
    }
}

impl Tallied for SubscriptionTally {
    fn counts(&self) -> Counts {
        Counts {
            subscriptions: 1,
            tags: self.tags.saturating_add(self.codes),
        }
    }
}

impl<'de, T: Deserialize<'de> + Tallied> Visitor<'de> for SumVisitor<T> {
    type Value = Counts;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Counts, E> {
        Ok(Counts::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counts, A::Error> {
        let mut total = Counts::default();
        while let Some(element) = seq.next_element::<T>()? {
            total = total.add(element.counts())?;
        }
        Ok(total)
    }
}

fn tally_consumers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    deserializer
        .deserialize_any(SumVisitor::<ConsumerTally>(std::marker::PhantomData))
        .map(|_| ())
}

fn tally_subscriptions<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Counts, D::Error> {
    deserializer.deserialize_any(SumVisitor::<SubscriptionTally>(std::marker::PhantomData))
}

/// The length of an array (null as 0), reading its elements as nothing.
fn count_elements<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    struct CountVisitor;
    impl<'de> Visitor<'de> for CountVisitor {
        type Value = usize;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("an array")
        }
        fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
            Ok(0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut count = 0usize;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                count = count.saturating_add(1);
            }
            Ok(count)
        }
    }
    deserializer.deserialize_any(CountVisitor)
}

fn groups<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    lenient::bounded_seq(deserializer, MAX_GROUPS_PER_HEARTBEAT, "group set")
}

fn subscriptions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SubscriptionData>, D::Error> {
    lenient::bounded_seq(
        deserializer,
        MAX_SUBSCRIPTIONS_PER_HEARTBEAT,
        "subscriptionDataSet",
    )
}

fn tags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<String>, D::Error> {
    let tags: Vec<lenient::Text> =
        lenient::bounded_seq(deserializer, MAX_TAGS_PER_SUBSCRIPTION, "tagsSet")?;
    Ok(tags.into_iter().map(|lenient::Text(tag)| tag).collect())
}

fn codes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<i32>, D::Error> {
    let codes: Vec<lenient::Int> =
        lenient::bounded_seq(deserializer, MAX_TAGS_PER_SUBSCRIPTION, "codeSet")?;
    Ok(codes.into_iter().map(|lenient::Int(code)| code).collect())
}

fn queues<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<MessageQueue>, D::Error> {
    lenient::bounded_seq(deserializer, MAX_QUEUES_PER_LOCK, "message queue set")
}

/// `null` is Java's default, TAG.
fn expression_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text: Option<lenient::Text> = Option::deserialize(deserializer)?;
    Ok(text.map_or_else(
        || EXPRESSION_TYPE_TAG.to_owned(),
        |lenient::Text(text)| text,
    ))
}

pub(super) mod lenient;

#[cfg(test)]
mod tests;
