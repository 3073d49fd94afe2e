//! The text `mqadmin` prints for each answer: RocketMQ's headings and labels, laid out by
//! [`Table`]. Pure functions of typed results (and of "now" where an age is shown), so that
//! the layout is tested without servers.

use std::collections::BTreeMap;

use super::broker::BrokerRuntime;
use super::consumer::{GroupSummary, ResetOffsets, total_diff};
use super::message::decode_body;
use super::table::{Table, key_values};
use super::time::{format_millis, format_seconds, version_desc};
use crate::protocol::body::{ConsumeStats, ConsumerConnection, TopicStatsTable};
use crate::protocol::heartbeat::ConsumeType;
use crate::protocol::message::{StoredMessage, property};
use crate::protocol::route::{KvTable, TopicRouteData};

/// Longest body shown in a query-by-key table cell, in characters.
const BODY_CELL_CHARS: usize = 60;
/// Java's `QueryMsgByIdSubCommand` prints each label as `%-20s`.
const MESSAGE_LABEL_WIDTH: usize = 20;

/// `topicRoute -l`: one line per broker and the totals.
pub fn topic_route_list(route: &TopicRouteData) -> String {
    let mut table = Table::new([
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddrs",
        "#ReadQueue",
        "#WriteQueue",
        "#Perm",
    ])
    .right_aligned(&[3, 4, 5]);
    let mut brokers: Vec<_> = route.broker_datas.iter().collect();
    brokers.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let (mut read_total, mut write_total) = (0, 0);
    for broker in brokers {
        let Some(queue) = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == broker.broker_name)
        else {
            continue;
        };
        read_total += queue.read_queue_nums;
        write_total += queue.write_queue_nums;
        let addrs: Vec<String> = broker
            .broker_addrs
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect();
        table.row([
            broker.cluster.clone(),
            broker.broker_name.clone(),
            format!("{{{}}}", addrs.join(", ")),
            queue.read_queue_nums.to_string(),
            queue.write_queue_nums.to_string(),
            queue.perm.to_string(),
        ]);
    }
    let brokers = table.len();
    table.row([
        "Total:".to_owned(),
        brokers.to_string(),
        String::new(),
        read_total.to_string(),
        write_total.to_string(),
    ]);
    table.render()
}

/// `topicStatus`.
pub fn topic_status(stats: &TopicStatsTable) -> String {
    let mut table = Table::new([
        "#Broker Name",
        "#QID",
        "#Min Offset",
        "#Max Offset",
        "#Last Updated",
    ])
    .right_aligned(&[1, 2, 3]);
    for (queue, offset) in &stats.offset_table {
        let updated = if offset.last_update_timestamp > 0 {
            format_millis(offset.last_update_timestamp)
        } else {
            String::new()
        };
        table.row([
            queue.broker_name.clone(),
            queue.queue_id.to_string(),
            offset.min_offset.to_string(),
            offset.max_offset.to_string(),
            updated,
        ]);
    }
    table.render()
}

fn stat<'a>(table: &'a KvTable, key: &str) -> &'a str {
    table.table.get(key).map_or("", String::as_str)
}

/// The first of the three space-separated rates of a `*Tps` value.
fn first_rate(value: &str) -> f64 {
    value
        .split_whitespace()
        .next()
        .and_then(|first| first.parse().ok())
        .unwrap_or(0.0)
}

fn count(table: &KvTable, key: &str) -> i64 {
    stat(table, key).trim().parse().unwrap_or(0)
}

/// `clusterList`: per broker its version, rates, page-cache wait, message age and disk use;
/// with `more`, the message totals of yesterday and today instead. Brokers that did not
/// answer are listed after the table with the reason.
pub fn cluster_list(rows: &[BrokerRuntime], more: bool, now_ms: i64) -> String {
    let mut table = if more {
        Table::new([
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday",
        ])
        .right_aligned(&[2, 3, 4, 5])
    } else {
        Table::new([
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE",
        ])
        .right_aligned(&[5, 6, 7, 8, 9])
    };
    let mut failures = String::new();
    for row in rows {
        let broker = &row.broker;
        let empty = KvTable::default();
        let stats = match &row.stats {
            Ok(stats) => stats,
            Err(error) => {
                failures.push_str(&format!("{broker}: {error}\n"));
                &empty
            }
        };
        if more {
            let delta = |later: &str, earlier: &str| count(stats, later) - count(stats, earlier);
            table.row([
                broker.cluster.clone(),
                broker.broker_name.clone(),
                delta("msgPutTotalTodayMorning", "msgPutTotalYesterdayMorning").to_string(),
                delta("msgGetTotalTodayMorning", "msgGetTotalYesterdayMorning").to_string(),
                delta("msgPutTotalTodayNow", "msgPutTotalTodayMorning").to_string(),
                delta("msgGetTotalTodayNow", "msgGetTotalTodayMorning").to_string(),
            ]);
            continue;
        }
        let earliest = count(stats, "earliestMessageTimeStamp");
        let hours = if earliest > 0 {
            (now_ms - earliest) as f64 / 3_600_000.0
        } else {
            0.0
        };
        let space: f64 = stat(stats, "commitLogDiskRatio").parse().unwrap_or(0.0);
        let load = |tps: &str, pool: &str| {
            format!(
                "{:.2}({},{}ms)",
                first_rate(stat(stats, tps)),
                stat(stats, &format!("{pool}ThreadPoolQueueSize")),
                stat(stats, &format!("{pool}ThreadPoolQueueHeadWaitTimeMills"))
            )
        };
        table.row([
            broker.cluster.clone(),
            broker.broker_name.clone(),
            broker.broker_id.to_string(),
            broker.addr.clone(),
            stat(stats, "brokerVersionDesc").to_owned(),
            load("putTps", "send"),
            load("getTransferedTps", "pull"),
            stat(stats, "pageCacheLockTimeMills").to_owned(),
            format!("{hours:.2}"),
            format!("{space:.4}"),
        ]);
    }
    table.render() + &failures
}

/// `brokerStatus`: every runtime key and value, prefixed by the address when several
/// brokers are shown.
pub fn broker_status(addr: Option<&str>, stats: &KvTable) -> String {
    let width = stats.table.keys().map(|k| k.len()).max().unwrap_or(0);
    stats
        .table
        .iter()
        .map(|(key, value)| match addr {
            Some(addr) => format!("{addr}  {key:<width$}: {value}\n"),
            None => format!("{key:<width$}: {value}\n"),
        })
        .collect()
}

/// `getBrokerConfig`: `key  =  value` lines under a banner naming the broker.
pub fn broker_config(banner: &str, entries: &BTreeMap<String, String>) -> String {
    let width = entries.keys().map(|k| k.len()).max().unwrap_or(0);
    let mut text = format!("============{banner}============\n");
    for (key, value) in entries {
        text.push_str(format!("{key:<width$}  =  {value}").trim_end());
        text.push('\n');
    }
    text.push('\n');
    text
}

/// `consumerProgress -g`: per queue the broker and consumer offsets and the difference,
/// then the group's TPS and total difference.
pub fn consumer_progress(stats: &ConsumeStats) -> String {
    let mut table = Table::new([
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#LastTime",
    ])
    .right_aligned(&[2, 3, 4, 5]);
    for (queue, offsets) in &stats.offset_table {
        let last = if offsets.last_timestamp == 0 {
            "N/A".to_owned()
        } else {
            format_seconds(offsets.last_timestamp)
        };
        table.row([
            queue.topic.clone(),
            queue.broker_name.clone(),
            queue.queue_id.to_string(),
            offsets.broker_offset.to_string(),
            offsets.consumer_offset.to_string(),
            (offsets.broker_offset - offsets.consumer_offset).to_string(),
            last,
        ]);
    }
    format!(
        "{}\nConsume TPS: {:.2}\nDiff Total: {}\n",
        table.render(),
        stats.consume_tps,
        total_diff(stats)
    )
}

/// `consumerProgress` without `-g`: one line per group.
pub fn group_summaries(groups: &[GroupSummary]) -> String {
    let mut table = Table::new([
        "#Group",
        "#Count",
        "#Version",
        "#Type",
        "#Model",
        "#TPS",
        "#Diff Total",
    ])
    .right_aligned(&[1, 5, 6]);
    for group in groups {
        let online = group.count > 0;
        let kind = match group.consume_type {
            Some(ConsumeType::Actively) if online => "PULL",
            Some(ConsumeType::Passively) if online => "PUSH",
            _ => "",
        };
        let model = match (group.consume_type, group.message_model) {
            (Some(ConsumeType::Passively), Some(model)) if online => model.name(),
            _ => "",
        };
        table.row([
            group.group.clone(),
            group.count.to_string(),
            match group.min_version {
                Some(version) if online => version_desc(version),
                _ => "OFFLINE".to_owned(),
            },
            kind.to_owned(),
            model.to_owned(),
            (group.consume_tps as i64).to_string(),
            group.diff_total.to_string(),
        ]);
    }
    table.render()
}

/// `consumerConnection`: the members, their subscriptions, and how the group consumes.
pub fn consumer_connection(connection: &ConsumerConnection) -> String {
    let mut members = Table::new(["#ClientId", "#ClientAddr", "#Language", "#Version"]);
    for conn in &connection.connection_set {
        members.row([
            conn.client_id.clone(),
            conn.client_addr.clone(),
            conn.language.clone(),
            version_desc(conn.version),
        ]);
    }
    let mut subscriptions = Table::new(["#Topic", "#SubExpression"]);
    for data in connection.subscription_table.values() {
        subscriptions.row([data.topic.clone(), data.sub_string.clone()]);
    }
    format!(
        "{}\nBelow is subscription:\n{}\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        members.render(),
        subscriptions.render(),
        connection.consume_type,
        connection.message_model,
        connection.consume_from_where
    )
}

/// The body as text: UTF-8 (invalid bytes replaced), or why it cannot be shown.
pub fn body_text(message: &StoredMessage) -> String {
    match decode_body(message) {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(reason) => format!("<{reason}>"),
    }
}

/// `queryMsgById` and `queryMsgByUniqueKey`: headers, properties and body of one message.
/// Java writes the body to a file and prints its path; the body is printed here instead.
pub fn message_detail(message: &StoredMessage) -> String {
    let bracketed = |value: Option<&str>| format!("[{}]", value.unwrap_or("null"));
    let properties: Vec<String> = message
        .properties
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    key_values(
        MESSAGE_LABEL_WIDTH,
        [
            ("OffsetID:", message.offset_msg_id()),
            ("Topic:", message.topic.clone()),
            ("Tags:", bracketed(message.tags())),
            ("Keys:", bracketed(message.properties.get(property::KEYS))),
            ("Queue ID:", message.queue_id.to_string()),
            ("Queue Offset:", message.queue_offset.to_string()),
            ("CommitLog Offset:", message.physical_offset.to_string()),
            ("Reconsume Times:", message.reconsume_times.to_string()),
            ("Born Timestamp:", format_millis(message.born_timestamp_ms)),
            (
                "Store Timestamp:",
                format_millis(message.store_timestamp_ms),
            ),
            ("Born Host:", message.born_host.to_string()),
            ("Store Host:", message.store_host.to_string()),
            ("System Flag:", message.sysflag.to_string()),
            ("Properties:", format!("{{{}}}", properties.join(", "))),
            ("Message Body:", body_text(message)),
        ],
    )
}

/// `queryMsgByKey`: one line per message found, with the start of its body.
pub fn query_by_key(messages: &[StoredMessage]) -> String {
    let mut table = Table::new(["#Message ID", "#QID", "#Offset", "#Body"]).right_aligned(&[1, 2]);
    for message in messages {
        let body: String = body_text(message).chars().take(BODY_CELL_CHARS).collect();
        table.row([
            message.msg_id(),
            message.queue_id.to_string(),
            message.queue_offset.to_string(),
            body,
        ]);
    }
    table.render()
}

/// `resetOffsetByTime`: the new offset of each queue.
pub fn reset_offsets(offsets: &ResetOffsets) -> String {
    let mut table = Table::new(["#brokerName", "#queueId", "#offset"]).right_aligned(&[1, 2]);
    for (queue, offset) in offsets {
        table.row([
            queue.broker_name.clone(),
            queue.queue_id.to_string(),
            offset.to_string(),
        ]);
    }
    table.render()
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
