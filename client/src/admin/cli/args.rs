//! `mqadmin`'s command line: RocketMQ's subcommand names, and its flag letters and long
//! names, so that scripts written for RocketMQ run unchanged. Flags that RocketMQ takes as
//! `true|false` values (`-o true`) take values here too.

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "mqadmin",
    about = "Bolide admin tool (RocketMQ mqadmin syntax). Times are UTC."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Namesrv {
    /// Name server address list, `ip:port;ip:port`.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876"
    )]
    pub namesrv: String,
}

/// `-b brokerAddr` or `-c clusterName`, exactly one.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("target").required(true).args(["broker_addr", "cluster"])))]
pub struct Target {
    /// Broker address `ip:port`.
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Cluster name: every master of it (every broker for reads).
    #[arg(short = 'c', long = "clusterName")]
    pub cluster: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdateTopic {
    #[command(flatten)]
    pub namesrv: Namesrv,
    #[command(flatten)]
    pub target: Target,
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    pub read_queue_nums: i32,
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    pub write_queue_nums: i32,
    /// Permission: 2 W, 4 R, 6 RW.
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    pub perm: i32,
    #[arg(short = 'o', long = "order", default_value_t = false, action = ArgAction::Set)]
    pub order: bool,
    #[arg(short = 'u', long = "unit", default_value_t = false, action = ArgAction::Set)]
    pub unit: bool,
    #[arg(short = 's', long = "hasUnitSub", default_value_t = false, action = ArgAction::Set)]
    pub has_unit_sub: bool,
}

#[derive(Args, Debug)]
pub struct UpdateSubGroup {
    #[command(flatten)]
    pub namesrv: Namesrv,
    #[command(flatten)]
    pub target: Target,
    #[arg(short = 'g', long = "groupName")]
    pub group: String,
    #[arg(short = 's', long = "consumeEnable", action = ArgAction::Set)]
    pub consume_enable: Option<bool>,
    #[arg(short = 'm', long = "consumeFromMinEnable", action = ArgAction::Set)]
    pub consume_from_min_enable: Option<bool>,
    #[arg(short = 'd', long = "consumeBroadcastEnable", action = ArgAction::Set)]
    pub consume_broadcast_enable: Option<bool>,
    #[arg(short = 'q', long = "retryQueueNums")]
    pub retry_queue_nums: Option<i32>,
    #[arg(short = 'r', long = "retryMaxTimes")]
    pub retry_max_times: Option<i32>,
    /// The broker id consumers read from.
    #[arg(short = 'i', long = "brokerId")]
    pub broker_id: Option<i64>,
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    pub which_broker_when_consume_slowly: Option<i64>,
    #[arg(short = 'a', long = "notifyConsumerIdsChanged", action = ArgAction::Set)]
    pub notify_consumer_ids_changed: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Update or create a topic on a broker or on every master of a cluster.
    #[command(name = "updateTopic")]
    UpdateTopic(UpdateTopic),
    /// Delete a topic from a cluster's masters and from the name servers.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
    },
    /// List every topic the name server knows.
    #[command(name = "topicList")]
    TopicList {
        #[command(flatten)]
        namesrv: Namesrv,
    },
    /// Examine a topic's route (JSON, or a table with -l).
    #[command(name = "topicRoute")]
    TopicRoute {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Print a table instead of JSON.
        #[arg(short = 'l', long = "list")]
        list: bool,
    },
    /// Examine a topic's queues: min and max offsets, last update.
    #[command(name = "topicStatus")]
    TopicStatus {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// List the brokers of every cluster with their version and load.
    #[command(name = "clusterList")]
    ClusterList {
        #[command(flatten)]
        namesrv: Namesrv,
        /// Print message totals of yesterday and today.
        #[arg(short = 'm', long = "moreStats")]
        more: bool,
    },
    /// Print a broker's runtime statistics.
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[command(flatten)]
        namesrv: Namesrv,
        #[command(flatten)]
        target: Target,
    },
    /// A consumer group's progress per queue, or every group's summary without -g.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// Only this topic of the group.
        #[arg(short = 't', long = "topicName", requires = "group")]
        topic: Option<String>,
        /// Show the client IP per queue (needs GET_CONSUMER_RUNNING_INFO; not available).
        #[arg(short = 's', long = "showClientIP", action = ArgAction::Set)]
        show_client_ip: Option<bool>,
    },
    /// The members of a consumer group and their subscriptions.
    #[command(name = "consumerConnection")]
    ConsumerConnection {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        #[arg(short = 'b', long = "brokerAddr")]
        broker_addr: Option<String>,
    },
    /// Show messages by offset message id (several ids separated by commas).
    #[command(name = "queryMsgById")]
    QueryMsgById {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
    },
    /// Find messages by key within a time range.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
        /// Begin of the store-time range, ms since the epoch.
        #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
        begin: i64,
        /// End of the store-time range, ms since the epoch.
        #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
        end: i64,
        #[arg(short = 'm', long = "maxNum", default_value_t = 64)]
        max_num: i32,
    },
    /// Show a message by its unique key (the producer's message id).
    #[command(name = "queryMsgByUniqueKey")]
    QueryMsgByUniqueKey {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Print every message found (at most 32), not only the first stored.
        #[arg(short = 'a', long = "showAll")]
        show_all: bool,
    },
    /// Update or create a subscription group on a broker or a cluster's masters.
    #[command(name = "updateSubGroup")]
    UpdateSubGroup(UpdateSubGroup),
    /// Delete a subscription group from a broker or a cluster's masters.
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup {
        #[command(flatten)]
        namesrv: Namesrv,
        #[command(flatten)]
        target: Target,
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// Also remove the group's consumer offsets.
        #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = ArgAction::Set)]
        remove_offset: bool,
    },
    /// Remove a broker's write permission on every name server.
    #[command(name = "wipeWritePerm")]
    WipeWritePerm {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// Restore a broker's write permission on every name server.
    #[command(name = "addWritePerm")]
    AddWritePerm {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'b', long = "brokerName")]
        broker_name: String,
    },
    /// Print a broker's configuration, or every broker's of a cluster.
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[command(flatten)]
        target: Target,
    },
    /// Change one configuration key of a broker or of a cluster's masters.
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[command(flatten)]
        target: Target,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Move a group's offsets on a topic to a point in time.
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 'g', long = "group")]
        group: String,
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// now | milliseconds since the epoch | yyyy-MM-dd#HH:mm:ss:SSS (UTC).
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        /// Also move offsets forward, not only back.
        #[arg(short = 'f', long = "force", default_value_t = true, action = ArgAction::Set)]
        force: bool,
    },
    /// Print the configuration of every name server.
    #[command(name = "getNamesrvConfig")]
    GetNamesrvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
    },
    /// Create or update a KV config item on every name server.
    #[command(name = "updateKvConfig")]
    UpdateKvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Delete a KV config item from every name server.
    #[command(name = "deleteKvConfig")]
    DeleteKvConfig {
        #[command(flatten)]
        namesrv: Namesrv,
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        #[arg(short = 'k', long = "key")]
        key: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(line: &str) -> Result<Command, clap::Error> {
        let args = std::iter::once("mqadmin").chain(line.split_whitespace());
        Cli::try_parse_from(args).map(|cli| cli.command)
    }

    #[test]
    fn update_topic_takes_java_letters_and_defaults() {
        let Command::UpdateTopic(args) =
            parse("updateTopic -n 10.0.0.1:9876 -c DefaultCluster -t T -r 4 -w 2 -p 4 -o true")
                .unwrap()
        else {
            panic!("not updateTopic");
        };
        assert_eq!(args.namesrv.namesrv, "10.0.0.1:9876");
        assert_eq!(args.target.cluster.as_deref(), Some("DefaultCluster"));
        assert_eq!(args.target.broker_addr, None);
        assert_eq!((args.read_queue_nums, args.write_queue_nums), (4, 2));
        assert_eq!(args.perm, 4);
        assert!(args.order);
        let Command::UpdateTopic(defaults) = parse("updateTopic -b 127.0.0.1:10911 -t T").unwrap()
        else {
            panic!("not updateTopic");
        };
        assert_eq!(
            (defaults.read_queue_nums, defaults.write_queue_nums),
            (8, 8)
        );
        assert_eq!(defaults.perm, 6);
        assert!(!defaults.order);
    }

    #[test]
    fn broker_or_cluster_is_required_and_exclusive() {
        assert!(parse("updateTopic -t T").is_err());
        assert!(parse("updateTopic -t T -b a:1 -c C").is_err());
        assert!(parse("getBrokerConfig").is_err());
        assert!(parse("getBrokerConfig -c C").is_ok());
    }

    #[test]
    fn group_and_message_commands_take_java_letters() {
        let Command::UpdateSubGroup(group) =
            parse("updateSubGroup -c C -g G -s false -m true -d true -q 3 -r 5 -i 1 -w 0 -a false")
                .unwrap()
        else {
            panic!("not updateSubGroup");
        };
        assert_eq!(group.group, "G");
        assert_eq!(group.consume_enable, Some(false));
        assert_eq!(group.consume_from_min_enable, Some(true));
        assert_eq!(group.consume_broadcast_enable, Some(true));
        assert_eq!(group.retry_queue_nums, Some(3));
        assert_eq!(group.retry_max_times, Some(5));
        assert_eq!(group.broker_id, Some(1));
        assert_eq!(group.which_broker_when_consume_slowly, Some(0));
        assert_eq!(group.notify_consumer_ids_changed, Some(false));

        let Command::ResetOffsetByTime {
            group,
            topic,
            timestamp,
            force,
            ..
        } = parse("resetOffsetByTime -g G -t T -s 2023-11-14#22:13:20:123").unwrap()
        else {
            panic!("not resetOffsetByTime");
        };
        assert_eq!((group.as_str(), topic.as_str()), ("G", "T"));
        assert_eq!(timestamp, "2023-11-14#22:13:20:123");
        assert!(force, "Java's default is force=true");

        let Command::QueryMsgByKey {
            topic, key, begin, ..
        } = parse("queryMsgByKey -t T -k K -b 5").unwrap()
        else {
            panic!("not queryMsgByKey");
        };
        assert_eq!((topic.as_str(), key.as_str(), begin), ("T", "K", 5));
        assert!(matches!(
            parse("queryMsgByUniqueKey -t T -i ID -a").unwrap(),
            Command::QueryMsgByUniqueKey { show_all: true, .. }
        ));
        assert!(matches!(
            parse("deleteSubGroup -b a:1 -g G -r true").unwrap(),
            Command::DeleteSubGroup {
                remove_offset: true,
                ..
            }
        ));
        assert!(matches!(
            parse("consumerProgress -t T"),
            Err(error) if error.kind() == clap::error::ErrorKind::MissingRequiredArgument
        ));
    }

    #[test]
    fn every_required_subcommand_is_present() {
        let names: Vec<String> = crate::admin::cli::subcommand_names();
        for name in [
            "updateTopic",
            "deleteTopic",
            "topicList",
            "topicRoute",
            "topicStatus",
            "clusterList",
            "brokerStatus",
            "consumerProgress",
            "consumerConnection",
            "queryMsgById",
            "queryMsgByKey",
            "queryMsgByUniqueKey",
            "updateSubGroup",
            "deleteSubGroup",
            "wipeWritePerm",
            "addWritePerm",
            "getBrokerConfig",
            "updateBrokerConfig",
            "resetOffsetByTime",
            "updateKvConfig",
            "deleteKvConfig",
            "getNamesrvConfig",
        ] {
            assert!(names.iter().any(|known| known == name), "{name} missing");
        }
    }
}
