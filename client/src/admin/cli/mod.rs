//! `mqadmin` as a library: [`run`] parses a RocketMQ admin command line, makes the calls
//! through [`AdminClient`] and writes the report to `out`, so that tests drive it in
//! process and read what an operator would see. Progress of long operations goes to
//! stderr; the binary is a thin `main` around [`run`].

mod args;

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser};

pub use args::{Cli, Command};
use args::{Namesrv, Target, UpdateSubGroup, UpdateTopic};

use super::consumer::is_not_online;
use super::{AdminClient, DEFAULT_TIMEOUT, QueryKind, TopicSpec, report, retry_topic, time};
use crate::namesrv::parse_namesrv_addrs;
use crate::protocol::subscription_group::SubscriptionGroupConfig;

type Out<'a> = &'a mut (dyn Write + Send);

/// Runs one `mqadmin` command line (`args[0]` is the program name), writing the report to
/// `out` and progress to stderr. A `--help` or usage error is an `Err` carrying clap's text.
pub async fn run(args: Vec<String>, out: Out<'_>) -> anyhow::Result<()> {
    if let Some(name) = args.get(1) {
        check_subcommand(name)?;
    }
    let cli = Cli::try_parse_from(args)?;
    execute(cli.command, out).await
}

/// The error and its causes on one line, as the binary prints them. Lower layers already
/// put their cause in their message, so a cause whose text is already shown is left out
/// rather than repeated.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// RocketMQ's subcommand names this tool has, in the order `--help` lists them.
pub fn subcommand_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|command| command.get_name().to_owned())
        .collect()
}

/// Refuses a subcommand this tool does not have with the list of those it has: clap's own
/// message names only the closest match, and RocketMQ has many commands Bolide lacks.
fn check_subcommand(name: &str) -> anyhow::Result<()> {
    if name.starts_with('-') || name == "help" {
        return Ok(());
    }
    let names = subcommand_names();
    if names.iter().any(|known| known == name) {
        return Ok(());
    }
    bail!(
        "subcommand {name} is not available in Bolide's mqadmin (available: {})",
        names.join(", ")
    )
}

fn client(namesrv: &Namesrv) -> anyhow::Result<AdminClient> {
    let progress: super::Progress = Arc::new(|step: usize, total: usize, line: &str| {
        // One server needs no progress report; several may take a while each.
        if total > 1 {
            // Progress is a courtesy: a closed stderr must not fail the command.
            let _ignored = writeln!(std::io::stderr().lock(), "[{step}/{total}] {line}");
        }
    });
    Ok(
        AdminClient::new(parse_namesrv_addrs(&namesrv.namesrv), DEFAULT_TIMEOUT)?
            .with_progress(progress),
    )
}

async fn execute(command: Command, out: Out<'_>) -> anyhow::Result<()> {
    match command {
        Command::UpdateTopic(args) => update_topic(args, out).await,
        Command::DeleteTopic {
            namesrv,
            topic,
            cluster,
        } => {
            client(&namesrv)?.delete_topic(&cluster, &topic).await?;
            writeln!(
                out,
                "delete topic [{topic}] from cluster [{cluster}] success."
            )?;
            writeln!(out, "delete topic [{topic}] from NameServer success.")?;
            Ok(())
        }
        Command::TopicList { namesrv } => {
            for topic in client(&namesrv)?.all_topics().await?.topic_list {
                writeln!(out, "{topic}")?;
            }
            Ok(())
        }
        Command::TopicRoute {
            namesrv,
            topic,
            list,
        } => {
            let route = client(&namesrv)?.route(&topic).await?;
            if list {
                write!(out, "{}", report::topic_route_list(&route))?;
            } else {
                let json: serde_json::Value = serde_json::from_slice(&route.encode())?;
                writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
            }
            Ok(())
        }
        Command::TopicStatus { namesrv, topic } => {
            let stats = client(&namesrv)?.topic_stats(&topic).await?;
            write!(out, "{}", report::topic_status(&stats))?;
            Ok(())
        }
        Command::ClusterList { namesrv, more } => {
            let rows = client(&namesrv)?.cluster_runtime(None).await?;
            write!(
                out,
                "{}",
                report::cluster_list(&rows, more, crate::producer::now_ms())
            )?;
            Ok(())
        }
        Command::BrokerStatus { namesrv, target } => broker_status(&namesrv, target, out).await,
        Command::ConsumerProgress {
            namesrv,
            group,
            topic,
            show_client_ip,
        } => {
            if show_client_ip == Some(true) {
                bail!(
                    "consumerProgress -s true is not available: the client IP per queue needs \
                     GET_CONSUMER_RUNNING_INFO, which Bolide's broker does not relay"
                );
            }
            let admin = client(&namesrv)?;
            match group {
                Some(group) => {
                    let stats = admin.consume_stats(&group, topic.as_deref()).await?;
                    write!(out, "{}", report::consumer_progress(&stats))?;
                }
                None => {
                    let groups = admin.group_summaries().await?;
                    write!(out, "{}", report::group_summaries(&groups))?;
                }
            }
            Ok(())
        }
        Command::ConsumerConnection {
            namesrv,
            group,
            broker_addr,
        } => {
            let admin = client(&namesrv)?;
            let connection = admin
                .consumer_connection(&group, broker_addr.as_deref())
                .await
                .map_err(|error| {
                    if is_not_online(&error) {
                        anyhow::anyhow!("the consumer group {group} is not online ({error})")
                    } else {
                        error.into()
                    }
                })?;
            write!(out, "{}", report::consumer_connection(&connection))?;
            Ok(())
        }
        Command::QueryMsgById { namesrv, msg_id } => {
            let admin = client(&namesrv)?;
            for id in msg_id.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                let message = admin.view_message(id).await?;
                write!(out, "{}", report::message_detail(&message))?;
                writeln!(out)?;
            }
            Ok(())
        }
        Command::QueryMsgByKey {
            namesrv,
            topic,
            key,
            begin,
            end,
            max_num,
        } => {
            let kind = QueryKind::Key { max_num };
            let found = client(&namesrv)?
                .query_message(&topic, &key, kind, begin, end)
                .await?;
            write!(out, "{}", report::query_by_key(&found))?;
            Ok(())
        }
        Command::QueryMsgByUniqueKey {
            namesrv,
            msg_id,
            topic,
            show_all,
        } => {
            let found = client(&namesrv)?
                .query_message(&topic, &msg_id, QueryKind::UniqueKey, 0, i64::MAX)
                .await?;
            if found.is_empty() {
                bail!("no message with unique key {msg_id} in topic {topic}");
            }
            let shown = if show_all { found.len() } else { 1 };
            for message in &found[..shown] {
                write!(out, "{}", report::message_detail(message))?;
                writeln!(out)?;
            }
            Ok(())
        }
        Command::UpdateSubGroup(args) => update_sub_group(args, out).await,
        Command::DeleteSubGroup {
            namesrv,
            target,
            group,
            remove_offset,
        } => delete_sub_group(&namesrv, target, &group, remove_offset, out).await,
        Command::WipeWritePerm {
            namesrv,
            broker_name,
        } => {
            let admin = client(&namesrv)?;
            for addr in admin.namesrv_addrs() {
                let count = admin.namesrv().wipe_write_perm(addr, &broker_name).await?;
                writeln!(
                    out,
                    "wipe write perm of broker[{broker_name}] in name server[{addr}] OK, {count}"
                )?;
            }
            Ok(())
        }
        Command::AddWritePerm {
            namesrv,
            broker_name,
        } => {
            let admin = client(&namesrv)?;
            for addr in admin.namesrv_addrs() {
                let count = admin.namesrv().add_write_perm(addr, &broker_name).await?;
                writeln!(
                    out,
                    "add write perm of broker[{broker_name}] in name server[{addr}] OK, {count}"
                )?;
            }
            Ok(())
        }
        Command::GetBrokerConfig { namesrv, target } => {
            get_broker_config(&namesrv, target, out).await
        }
        Command::UpdateBrokerConfig {
            namesrv,
            target,
            key,
            value,
        } => {
            let admin = client(&namesrv)?;
            for addr in master_addrs(&admin, &target).await? {
                admin.update_broker_config(&addr, &key, &value).await?;
                writeln!(out, "update broker config success, {addr}")?;
            }
            Ok(())
        }
        Command::ResetOffsetByTime {
            namesrv,
            group,
            topic,
            timestamp,
            force,
        } => {
            let millis = time::parse_reset_timestamp(&timestamp).map_err(anyhow::Error::msg)?;
            let admin = client(&namesrv)?;
            let offsets = admin
                .reset_offset_by_time(&topic, &group, millis, force)
                .await?;
            writeln!(
                out,
                "rollback consumer offset by specified group[{group}], topic[{topic}], \
                 force[{force}], timestamp(string)[{timestamp}], timestamp(long)[{millis}]"
            )?;
            write!(out, "{}", report::reset_offsets(&offsets))?;
            // The broker commits the offsets and tells online members to adopt them
            // (RESET_CONSUMER_CLIENT_OFFSET), which Java's and Bolide's consumers do.
            if let Ok(online) = admin.consumer_connection(&group, None).await {
                let members = online.connection_set.len();
                writeln!(
                    out,
                    "{members} online member(s) of {group} were told to adopt these offsets"
                )?;
            }
            Ok(())
        }
        Command::GetNamesrvConfig { namesrv } => {
            let admin = client(&namesrv)?;
            for addr in admin.namesrv_addrs() {
                let text = admin.namesrv().namesrv_config(addr).await?;
                writeln!(out, "============{addr}============")?;
                for (key, value) in text.lines().filter_map(|l| l.split_once('=')) {
                    writeln!(out, "{key:<50}=  {value}")?;
                }
            }
            Ok(())
        }
        Command::UpdateKvConfig {
            namesrv,
            namespace,
            key,
            value,
        } => {
            let admin = client(&namesrv)?;
            for addr in admin.namesrv_addrs() {
                admin
                    .namesrv()
                    .put_kv_config(addr, &namespace, &key, &value)
                    .await
                    .with_context(|| format!("name server {addr}"))?;
            }
            writeln!(out, "create or update kv config to namespace success.")?;
            Ok(())
        }
        Command::DeleteKvConfig {
            namesrv,
            namespace,
            key,
        } => {
            let admin = client(&namesrv)?;
            for addr in admin.namesrv_addrs() {
                admin
                    .namesrv()
                    .delete_kv_config(addr, &namespace, &key)
                    .await
                    .with_context(|| format!("name server {addr}"))?;
            }
            writeln!(out, "delete kv config from namespace success.")?;
            Ok(())
        }
    }
}

/// `-b addr` alone, or the masters of `-c cluster`.
async fn master_addrs(admin: &AdminClient, target: &Target) -> anyhow::Result<Vec<String>> {
    match (&target.broker_addr, &target.cluster) {
        (Some(addr), _) => Ok(vec![addr.clone()]),
        (None, Some(cluster)) => Ok(admin
            .cluster_masters(cluster)
            .await?
            .into_iter()
            .map(|master| master.addr)
            .collect()),
        (None, None) => bail!("give -b brokerAddr or -c clusterName"),
    }
}

async fn update_topic(args: UpdateTopic, out: Out<'_>) -> anyhow::Result<()> {
    let admin = client(&args.namesrv)?;
    let spec = TopicSpec {
        topic: args.topic.trim().to_owned(),
        read_queue_nums: args.read_queue_nums,
        write_queue_nums: args.write_queue_nums,
        perm: args.perm,
        order: args.order,
        topic_sys_flag: i32::from(args.unit) | (i32::from(args.has_unit_sub) << 1),
    };
    let mut broker_names = Vec::new();
    for addr in master_addrs(&admin, &args.target).await? {
        admin.create_topic(&addr, &spec).await?;
        writeln!(out, "create topic to {addr} success.")?;
        if spec.order {
            broker_names.push(admin.broker_name_of(&addr).await?);
        }
    }
    if spec.order {
        let conf: Vec<String> = broker_names
            .iter()
            .map(|name| format!("{name}:{}", spec.write_queue_nums))
            .collect();
        let conf = conf.join(";");
        admin.set_order_conf(&spec.topic, &conf).await?;
        writeln!(out, "set orderConf. isOrder=true, orderConf=[{conf}]")?;
    }
    writeln!(out, "{spec}")?;
    Ok(())
}

async fn broker_status(namesrv: &Namesrv, target: Target, out: Out<'_>) -> anyhow::Result<()> {
    let admin = client(namesrv)?;
    match (target.broker_addr, target.cluster) {
        (Some(addr), _) => {
            let stats = admin.runtime_info(&addr).await?;
            write!(out, "{}", report::broker_status(None, &stats))?;
        }
        (None, Some(cluster)) => {
            for row in admin.cluster_runtime(Some(&cluster)).await? {
                match row.stats {
                    Ok(stats) => {
                        let addr = Some(row.broker.addr.as_str());
                        write!(out, "{}", report::broker_status(addr, &stats))?;
                    }
                    Err(error) => writeln!(out, "{}: {error}", row.broker)?,
                }
            }
        }
        (None, None) => bail!("give -b brokerAddr or -c clusterName"),
    }
    Ok(())
}

async fn get_broker_config(namesrv: &Namesrv, target: Target, out: Out<'_>) -> anyhow::Result<()> {
    let admin = client(namesrv)?;
    let brokers: Vec<(String, String)> = match (target.broker_addr, target.cluster) {
        (Some(addr), _) => vec![(addr.clone(), addr)],
        (None, Some(cluster)) => admin
            .cluster_brokers(&cluster)
            .await?
            .into_iter()
            .map(|broker| {
                let banner = if broker.broker_id == 0 {
                    format!("Master: {}", broker.addr)
                } else {
                    format!("Slave {}: {}", broker.broker_id, broker.addr)
                };
                (banner, broker.addr)
            })
            .collect(),
        (None, None) => bail!("give -b brokerAddr or -c clusterName"),
    };
    for (banner, addr) in brokers {
        let config = admin.broker_config(&addr).await?;
        if config.entries.is_empty() {
            writeln!(out, "Broker[{addr}] has no config property!")?;
            continue;
        }
        write!(out, "{}", report::broker_config(&banner, &config.entries))?;
    }
    Ok(())
}

async fn update_sub_group(args: UpdateSubGroup, out: Out<'_>) -> anyhow::Result<()> {
    let admin = client(&args.namesrv)?;
    // Java's updateSubGroup starts from broadcast and from-min off, then applies the flags.
    let mut config = SubscriptionGroupConfig {
        consume_broadcast_enable: false,
        consume_from_min_enable: false,
        ..SubscriptionGroupConfig::new(args.group.trim())
    };
    let defaults = [
        (args.consume_enable, &mut config.consume_enable),
        (
            args.consume_from_min_enable,
            &mut config.consume_from_min_enable,
        ),
        (
            args.consume_broadcast_enable,
            &mut config.consume_broadcast_enable,
        ),
        (
            args.notify_consumer_ids_changed,
            &mut config.notify_consumer_ids_changed_enable,
        ),
    ];
    for (given, field) in defaults {
        if let Some(value) = given {
            *field = value;
        }
    }
    config.retry_queue_nums = args.retry_queue_nums.unwrap_or(config.retry_queue_nums);
    config.retry_max_times = args.retry_max_times.unwrap_or(config.retry_max_times);
    config.broker_id = args.broker_id.unwrap_or(config.broker_id);
    config.which_broker_when_consume_slowly = args
        .which_broker_when_consume_slowly
        .unwrap_or(config.which_broker_when_consume_slowly);
    for addr in master_addrs(&admin, &args.target).await? {
        admin.create_subscription_group(&addr, &config).await?;
        writeln!(out, "create subscription group to {addr} success.")?;
    }
    writeln!(out, "{}", String::from_utf8_lossy(&config.encode()))?;
    Ok(())
}

async fn delete_sub_group(
    namesrv: &Namesrv,
    target: Target,
    group: &str,
    remove_offset: bool,
    out: Out<'_>,
) -> anyhow::Result<()> {
    let admin = client(namesrv)?;
    for addr in master_addrs(&admin, &target).await? {
        admin
            .delete_subscription_group(&addr, group, remove_offset)
            .await?;
        match &target.cluster {
            Some(cluster) => writeln!(
                out,
                "delete subscription group [{group}] from broker [{addr}] in cluster \
                 [{cluster}] success."
            )?,
            None => writeln!(
                out,
                "delete subscription group [{group}] from broker [{addr}] success."
            )?,
        }
    }
    // With a cluster, Java also removes the group's retry and dead-letter topics; a group
    // that never failed a message has no DLQ topic, so a failure here is only reported.
    if let Some(cluster) = &target.cluster {
        for topic in [retry_topic(group), format!("%DLQ%{group}")] {
            match admin.delete_topic(cluster, &topic).await {
                Ok(_) => writeln!(
                    out,
                    "delete topic [{topic}] from cluster [{cluster}] success."
                )?,
                Err(error) => writeln!(out, "could not delete topic [{topic}]: {error}")?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_subcommands_are_named_with_the_available_ones() {
        let mut out = Vec::new();
        let args = ["mqadmin", "statsAll", "-n", "127.0.0.1:1"].map(String::from);
        let Err(error) = run(args.to_vec(), &mut out).await else {
            panic!("statsAll accepted");
        };
        let text = error.to_string();
        for part in [
            "statsAll",
            "not available",
            "updateTopic",
            "resetOffsetByTime",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn a_name_server_that_does_not_answer_is_named_in_the_error() {
        // Port 1 on loopback refuses connections at once.
        let mut out = Vec::new();
        let args = ["mqadmin", "clusterList", "-n", "127.0.0.1:1"].map(String::from);
        let Err(error) = run(args.to_vec(), &mut out).await else {
            panic!("clusterList against nothing succeeded");
        };
        let text = error_text(&error);
        assert!(text.contains("name server"), "{text}");
        assert_eq!(text.matches("127.0.0.1:1").count(), 1, "said once: {text}");
    }
}
