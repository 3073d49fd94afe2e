//! RocketMQ's quickstart examples (`org.apache.rocketmq.example.quickstart.Producer` and
//! `.Consumer`) on Bolide's client: what `bin/tools.sh` runs through the `mqtools` binary.
//! They keep the Java examples' group, topic, tag and bodies, and print what they print, so
//! RocketMQ's quickstart instructions work unchanged. Kept in the library so that tests can
//! run them in-process and read their output from a buffer.
//!
//! * The producer sends `Hello RocketMQ <i>` (tag `TagA`) to `TopicTest` 1000 times,
//!   printing each `SendResult [...]`. As in Java, a failed send is reported and followed by a
//!   one-second pause, and the run goes on; unlike Java, it then exits non-zero.
//! * The consumer (group `please_rename_unique_group_name_4`, `TopicTest` with `*`, from the
//!   first offset) prints `Consumer Started.` and then each message as Java's listener does,
//!   `<thread> Receive New Messages: [MessageExt [...]] `, until interrupted.
//! * The name servers come from `NAMESRV_ADDR`; unset, [`DEFAULT_NAMESRV_ADDR`] with a note
//!   (Java's client would instead look for an address server that rarely exists).

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::mpsc;

use crate::consumer::{ConsumeFromWhere, ConsumeStatus, PushConsumer, StoredMessage};
use crate::namesrv::{NamesrvClient, parse_namesrv_addrs};
use crate::producer::{Message, Producer};
use crate::remoting::{ClientConfig, RemotingClient};

pub const PRODUCER_GROUP: &str = "please_rename_unique_group_name";
pub const CONSUMER_GROUP: &str = "please_rename_unique_group_name_4";
pub const TOPIC: &str = "TopicTest";
pub const TAG: &str = "TagA";
/// How many messages Java's quickstart producer sends.
pub const MESSAGE_COUNT: usize = 1000;
/// Where the tools look when `NAMESRV_ADDR` is unset.
pub const DEFAULT_NAMESRV_ADDR: &str = "127.0.0.1:9876";
/// After a failed send, the producer waits this long, as Java's `Thread.sleep(1000)`.
const SEND_FAILURE_PAUSE: Duration = Duration::from_secs(1);
/// Deliveries waiting to be printed: a full queue holds the listener back.
const PRINT_QUEUE_DEPTH: usize = 1024;
/// The consumer looks a store address's broker name up at most this often.
const ROUTE_LOOKUP_INTERVAL: Duration = Duration::from_secs(5);
const ROUTE_TIMEOUT: Duration = Duration::from_secs(3);

/// The examples `mqtools` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    Producer,
    Consumer,
}

impl Example {
    /// The Java class names `bin/tools.sh` takes (the short names work too).
    pub const CLASS_NAMES: [&str; 2] = [
        "org.apache.rocketmq.example.quickstart.Producer",
        "org.apache.rocketmq.example.quickstart.Consumer",
    ];

    /// The example named by its Java class name or its short name (`Producer`, `Consumer`).
    pub fn from_name(name: &str) -> anyhow::Result<Example> {
        let short = name
            .strip_prefix("org.apache.rocketmq.example.quickstart.")
            .unwrap_or(name);
        match short {
            "Producer" => Ok(Example::Producer),
            "Consumer" => Ok(Example::Consumer),
            _ => bail!(
                "unknown class {name:?}; this tool runs {} (or Producer, Consumer)",
                Self::CLASS_NAMES.join(", ")
            ),
        }
    }
}

/// The name-server list to use given `NAMESRV_ADDR`'s value, and a note to show when it fell
/// back to [`DEFAULT_NAMESRV_ADDR`].
pub fn namesrv_addr(from_env: Option<&str>) -> (String, Option<String>) {
    match from_env.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) => (value.to_owned(), None),
        None => (
            DEFAULT_NAMESRV_ADDR.to_owned(),
            Some(format!(
                "NAMESRV_ADDR is not set; using {DEFAULT_NAMESRV_ADDR} \
                 (export NAMESRV_ADDR=host:port;host:port to choose)"
            )),
        ),
    }
}

/// Java's quickstart `Producer`: `count` messages (Java: [`MESSAGE_COUNT`]), each
/// `SendResult` printed to `out`, failures reported and paused after. Fails at the end if any
/// send failed.
pub async fn run_producer(
    namesrv: &str,
    count: usize,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let producer = Producer::builder()
        .namesrv_addr(namesrv)
        .group(PRODUCER_GROUP)
        .build()?;
    producer.start().await?;
    let mut failed = 0;
    for index in 0..count {
        let message = Message::new(TOPIC, format!("Hello RocketMQ {index}")).with_tags(TAG);
        match producer.send(message).await {
            Ok(result) => writeln!(out, "{result}")?,
            Err(error) => {
                failed += 1;
                writeln!(out, "send {index} failed: {error}")?;
                tokio::time::sleep(SEND_FAILURE_PAUSE).await;
            }
        }
    }
    out.flush()?;
    producer.shutdown().await;
    if failed > 0 {
        bail!("{failed} of {count} sends failed");
    }
    Ok(())
}

/// Java's quickstart `Consumer`: prints `Consumer Started.` and then every message of
/// `TopicTest` to `out`, until `interrupt` completes.
pub async fn run_consumer(
    namesrv: &str,
    out: &mut (dyn Write + Send),
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (deliveries, mut printable) =
        mpsc::channel::<(String, Vec<StoredMessage>)>(PRINT_QUEUE_DEPTH);
    let consumer = PushConsumer::builder()
        .namesrv_addr(namesrv)
        .group(CONSUMER_GROUP)
        .subscribe(TOPIC, "*")
        .consume_from_where(ConsumeFromWhere::FirstOffset)
        .listener(move |messages| {
            // The listener runs on tokio's blocking pool, where a blocking send may wait. After
            // the printer stopped (shutdown), there is nothing left to print to.
            let _ = deliveries.blocking_send((thread_name(), messages.to_vec()));
            ConsumeStatus::Success
        })
        .build()?;
    consumer.start().await?;
    writeln!(out, "Consumer Started.")?;
    out.flush()?;
    let mut brokers = BrokerNames::new(namesrv);
    tokio::pin!(interrupt);
    let printed = loop {
        let (thread, messages) = tokio::select! {
            () = &mut interrupt => break Ok(()),
            delivery = printable.recv() => match delivery {
                Some(delivery) => delivery,
                None => break Ok(()),
            },
        };
        let mut line = format!("{thread} Receive New Messages: [");
        for (index, message) in messages.iter().enumerate() {
            if index > 0 {
                line.push_str(", ");
            }
            let broker_name = brokers.lookup(message.store_host).await;
            line.push_str(&message_ext(message, broker_name.as_deref()));
        }
        // Java's format string is "%s Receive New Messages: %s %n".
        line.push_str("] ");
        if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            break Err(error);
        }
    };
    // Closing the queue first lets listeners in flight return, so that shutdown can finish.
    drop(printable);
    consumer.shutdown().await;
    Ok(printed?)
}

/// A name for the calling thread in the shape of Java's consume threads
/// (`ConsumeMessageThread_<n>`), numbered in order of first use.
fn thread_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(0) };
    }
    let number = NUMBER.with(|number| {
        if number.get() == 0 {
            number.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        number.get()
    });
    format!("ConsumeMessageThread_{number}")
}

/// Java's `MessageExt.toString()` for a consumed message. The properties are the stored ones
/// (Java adds the client-side MIN_OFFSET, MAX_OFFSET and CONSUME_START_TIME); the body is
/// printed as Java's `Arrays.toString(byte[])`, signed bytes.
pub fn message_ext(message: &StoredMessage, broker_name: Option<&str>) -> String {
    let mut properties = String::new();
    for (index, (name, value)) in message.properties.iter().enumerate() {
        let separator = if index == 0 { "" } else { ", " };
        let _ = write!(properties, "{separator}{name}={value}");
    }
    let body: Vec<String> = message
        .body
        .iter()
        .map(|&byte| i8::from_ne_bytes([byte]).to_string())
        .collect();
    format!(
        "MessageExt [brokerName={}, queueId={}, storeSize={}, queueOffset={}, sysFlag={}, \
         bornTimestamp={}, bornHost=/{}, storeTimestamp={}, storeHost=/{}, msgId={}, \
         commitLogOffset={}, bodyCRC={}, reconsumeTimes={}, preparedTransactionOffset={}, \
         toString()=Message{{topic='{}', flag={}, properties={{{properties}}}, body=[{}], \
         transactionId='null'}}]",
        broker_name.unwrap_or("null"),
        message.queue_id,
        message.total_size,
        message.queue_offset,
        message.sysflag,
        message.born_timestamp_ms,
        message.born_host,
        message.store_timestamp_ms,
        message.store_host,
        message.offset_msg_id(),
        message.physical_offset,
        // Java keeps the CRC in an int.
        i32::from_ne_bytes(message.body_crc.to_ne_bytes()),
        message.reconsume_times,
        message.prepared_transaction_offset,
        message.topic,
        message.flag,
        body.join(", ")
    )
}

/// Broker names by broker address, from `TopicTest`'s route: a stored message names only the
/// address that stored it, while Java's `MessageExt` shows the broker's name.
struct BrokerNames {
    namesrv_addrs: Vec<String>,
    client: NamesrvClient,
    names: HashMap<String, String>,
    looked_up_at: Option<Instant>,
}

impl BrokerNames {
    fn new(namesrv: &str) -> Self {
        BrokerNames {
            namesrv_addrs: parse_namesrv_addrs(namesrv),
            client: NamesrvClient::new(
                Arc::new(RemotingClient::new(ClientConfig::default())),
                ROUTE_TIMEOUT,
            ),
            names: HashMap::new(),
            looked_up_at: None,
        }
    }

    /// The name of the broker at `addr`; `None` (Java prints `null`) when no route names it.
    async fn lookup(&mut self, addr: SocketAddr) -> Option<String> {
        let addr = addr.to_string();
        if !self.names.contains_key(&addr)
            && self
                .looked_up_at
                .is_none_or(|at| at.elapsed() >= ROUTE_LOOKUP_INTERVAL)
        {
            self.looked_up_at = Some(Instant::now());
            self.refresh().await;
        }
        self.names.get(&addr).cloned()
    }

    async fn refresh(&mut self) {
        for namesrv in &self.namesrv_addrs {
            if let Ok(Some(route)) = self.client.route(namesrv, TOPIC).await {
                for broker in route.broker_datas {
                    for addr in broker.broker_addrs.into_values() {
                        self.names.insert(addr, broker.broker_name.clone());
                    }
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_long_and_short() {
        for (name, example) in [
            (Example::CLASS_NAMES[0], Example::Producer),
            (Example::CLASS_NAMES[1], Example::Consumer),
            ("Producer", Example::Producer),
            ("Consumer", Example::Consumer),
        ] {
            assert_eq!(Example::from_name(name).unwrap(), example);
        }
        let error = Example::from_name("org.apache.rocketmq.example.quickstart.Pusher")
            .unwrap_err()
            .to_string();
        assert!(error.contains("Pusher") && error.contains(Example::CLASS_NAMES[1]));
        assert!(Example::from_name("producer").is_err());
    }

    #[test]
    fn namesrv_falls_back_with_a_note() {
        assert_eq!(
            namesrv_addr(Some("10.0.0.1:9876")),
            ("10.0.0.1:9876".into(), None)
        );
        for unset in [None, Some(""), Some("  ")] {
            let (addr, note) = namesrv_addr(unset);
            assert_eq!(addr, DEFAULT_NAMESRV_ADDR);
            assert!(note.unwrap().contains("NAMESRV_ADDR is not set"));
        }
    }

    #[test]
    fn thread_names_are_stable_per_thread() {
        let here = thread_name();
        assert!(here.starts_with("ConsumeMessageThread_"));
        assert_eq!(thread_name(), here);
        let there = std::thread::spawn(thread_name).join().unwrap();
        assert_ne!(there, here);
    }
}
