//! Where a topic's messages may go: the writable queues of its master brokers (Java
//! `TopicPublishInfo`), the round-robin choice among them, and the brokers to avoid for a
//! while after a failed send. Pure logic: time is passed in, so tests never sleep.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::message::MessageQueue;
use crate::protocol::route::{TopicRouteData, perm};

/// The template topic whose route stands in for a topic that does not exist yet.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
/// Queues asked for a topic created through [`AUTO_CREATE_TOPIC_KEY`] (Java
/// `defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;
/// How long a broker is passed over after a failed send.
pub const BROKER_AVOIDANCE: Duration = Duration::from_secs(30);

/// A topic's publish queues, each with its master's address.
#[derive(Debug)]
pub struct PublishInfo {
    pub queues: Vec<PublishQueue>,
    /// Built from TBW102's route because the topic has none yet: the broker creates it on
    /// the first send.
    pub from_template: bool,
    next: AtomicUsize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishQueue {
    pub queue: MessageQueue,
    pub broker_addr: String,
}

impl PublishInfo {
    /// `topic`'s queues in `route`: for every broker whose queue data allows writing and
    /// whose master is registered, queue ids `0..writeQueueNums` (Java's
    /// `topicRouteData2TopicPublishInfo`, without ordered-topic configs).
    pub fn from_route(topic: &str, route: TopicRouteData) -> PublishInfo {
        let mut queue_datas = route.queue_datas.clone();
        queue_datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        let mut queues = Vec::new();
        for queue_data in &queue_datas {
            if !perm::is_writable(queue_data.perm) {
                continue;
            }
            let master = route
                .broker_datas
                .iter()
                .find(|broker| broker.broker_name == queue_data.broker_name)
                .and_then(|broker| broker.master_addr());
            let Some(master) = master else { continue };
            for queue_id in 0..queue_data.write_queue_nums.max(0) {
                queues.push(PublishQueue {
                    queue: MessageQueue {
                        topic: topic.to_owned(),
                        broker_name: queue_data.broker_name.clone(),
                        queue_id,
                    },
                    broker_addr: master.to_owned(),
                });
            }
        }
        PublishInfo {
            queues,
            from_template: false,
            next: AtomicUsize::new(rand::random::<u16>().into()),
        }
    }

    /// A stand-in route for `topic` built from TBW102's: every broker that allows
    /// auto-creation, with min([`DEFAULT_TOPIC_QUEUE_NUMS`], TBW102 read queues) queues.
    pub fn from_template(topic: &str, mut template: TopicRouteData) -> PublishInfo {
        for queue_data in &mut template.queue_datas {
            let queue_nums = DEFAULT_TOPIC_QUEUE_NUMS.min(queue_data.read_queue_nums);
            queue_data.read_queue_nums = queue_nums;
            queue_data.write_queue_nums = queue_nums;
        }
        let mut info = PublishInfo::from_route(topic, template);
        info.from_template = true;
        info
    }

    /// The master addresses this route sends to.
    pub fn master_addrs(&self) -> HashSet<String> {
        self.queues.iter().map(|q| q.broker_addr.clone()).collect()
    }

    /// The next queue round-robin, preferring brokers not in `tried` (already failed in
    /// this send) and not avoided at `now`; then any broker not in `tried`; then any queue.
    pub fn select(
        &self,
        tried: &HashSet<String>,
        avoid: &BrokerAvoidance,
        now: Instant,
    ) -> Option<&PublishQueue> {
        if self.queues.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let in_order =
            || (0..self.queues.len()).map(|i| &self.queues[(start + i) % self.queues.len()]);
        in_order()
            .find(|q| {
                !tried.contains(&q.queue.broker_name)
                    && !avoid.is_avoided(&q.queue.broker_name, now)
            })
            .or_else(|| in_order().find(|q| !tried.contains(&q.queue.broker_name)))
            .or_else(|| in_order().next())
    }
}

/// How long a broker is avoided after a send that took at least so long (Java
/// `MQFaultStrategy`'s `latencyMax` / `notAvailableDuration` tables); a faster send clears it.
const SLOW_SEND_AVOIDANCE: [(Duration, Duration); 5] = [
    (Duration::from_millis(15_000), Duration::from_secs(600)),
    (Duration::from_millis(3_000), Duration::from_secs(180)),
    (Duration::from_millis(2_000), Duration::from_secs(120)),
    (Duration::from_millis(1_000), Duration::from_secs(60)),
    (Duration::from_millis(550), Duration::from_secs(30)),
];

/// Brokers to keep away from for a while: one that failed a send (for
/// [`BROKER_AVOIDANCE`]) or answered slowly (per the latency table above).
#[derive(Debug, Default)]
pub struct BrokerAvoidance {
    until: HashMap<String, Instant>,
}

impl BrokerAvoidance {
    pub fn fail(&mut self, broker_name: &str, now: Instant) {
        self.until
            .insert(broker_name.to_owned(), now + BROKER_AVOIDANCE);
    }

    /// A successful send that took `latency`: a slow one keeps the broker away for the
    /// table's duration, a fast one clears it at once.
    pub fn succeed(&mut self, broker_name: &str, latency: Duration, now: Instant) {
        match SLOW_SEND_AVOIDANCE
            .iter()
            .find(|(slow, _)| latency >= *slow)
        {
            Some((_, avoid)) => {
                self.until.insert(broker_name.to_owned(), now + *avoid);
            }
            None => {
                self.until.remove(broker_name);
            }
        }
    }

    pub fn is_avoided(&self, broker_name: &str, now: Instant) -> bool {
        self.until
            .get(broker_name)
            .is_some_and(|until| now < *until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::route::{BrokerData, QueueData};

    fn route(brokers: &[(&str, i32, i32, bool)]) -> TopicRouteData {
        let mut route = TopicRouteData::default();
        for (name, perm, queues, has_master) in brokers {
            let mut broker = BrokerData::new("c", *name);
            let id = if *has_master { 0 } else { 1 };
            broker.broker_addrs.insert(id, format!("{name}:10911"));
            route.broker_datas.push(broker);
            route.queue_datas.push(QueueData {
                broker_name: (*name).to_owned(),
                perm: *perm,
                read_queue_nums: *queues,
                write_queue_nums: *queues,
                topic_sys_flag: 0,
            });
        }
        route
    }

    #[test]
    fn only_writable_queues_of_masters() {
        let info = PublishInfo::from_route(
            "T",
            route(&[
                ("a", perm::READ_WRITE, 2, true),
                ("b", perm::READ, 4, true),
                ("c", perm::READ_WRITE, 4, false),
            ]),
        );
        let names: Vec<_> = info
            .queues
            .iter()
            .map(|q| (q.queue.broker_name.as_str(), q.queue.queue_id))
            .collect();
        assert_eq!(names, [("a", 0), ("a", 1)]);
        assert_eq!(info.queues[0].broker_addr, "a:10911");
    }

    #[test]
    fn template_caps_queue_count() {
        let info =
            PublishInfo::from_template("New", route(&[("a", 7, 8, true), ("b", 7, 2, true)]));
        assert!(info.from_template);
        assert_eq!(info.queues.len(), 4 + 2);
        assert!(info.queues.iter().all(|q| q.queue.topic == "New"));
    }

    #[test]
    fn round_robin_then_skips_tried_and_avoided() {
        let info = PublishInfo::from_route(
            "T",
            route(&[
                ("a", perm::READ_WRITE, 2, true),
                ("b", perm::READ_WRITE, 2, true),
            ]),
        );
        let now = Instant::now();
        let mut avoid = BrokerAvoidance::default();
        let none = HashSet::new();
        let picks: HashSet<_> = (0..4)
            .map(|_| info.select(&none, &avoid, now).map(|q| q.queue.clone()))
            .collect();
        assert_eq!(picks.len(), 4, "four picks cover the four queues");

        let tried: HashSet<String> = ["a".to_owned()].into();
        for _ in 0..4 {
            assert_eq!(
                info.select(&tried, &avoid, now)
                    .map(|q| q.queue.broker_name.as_str()),
                Some("b")
            );
        }
        avoid.fail("b", now);
        for _ in 0..4 {
            assert_eq!(
                info.select(&none, &avoid, now)
                    .map(|q| q.queue.broker_name.as_str()),
                Some("a")
            );
        }
        assert!(!avoid.is_avoided("b", now + BROKER_AVOIDANCE));
        avoid.succeed("b", Duration::from_millis(5), now);
        assert!(
            !avoid.is_avoided("b", now),
            "a fast answer clears the broker"
        );
        // Everything tried: still a queue, rather than no send at all.
        let all: HashSet<String> = ["a".to_owned(), "b".to_owned()].into();
        assert!(info.select(&all, &avoid, now).is_some());
    }

    #[test]
    fn slow_answers_keep_a_broker_away_by_java_latency_table() {
        let now = Instant::now();
        let mut avoid = BrokerAvoidance::default();
        let secs = Duration::from_secs;
        for (latency_ms, avoided_for) in [
            (100, secs(0)),
            (549, secs(0)),
            (550, secs(30)),
            (1_500, secs(60)),
            (2_500, secs(120)),
            (4_000, secs(180)),
            (20_000, secs(600)),
        ] {
            avoid.succeed("b", Duration::from_millis(latency_ms), now);
            let label = format!("{latency_ms} ms");
            if avoided_for.is_zero() {
                assert!(!avoid.is_avoided("b", now), "{label}");
            } else {
                assert!(
                    avoid.is_avoided("b", now + avoided_for - secs(1)),
                    "{label}"
                );
                assert!(!avoid.is_avoided("b", now + avoided_for), "{label}");
            }
        }
    }
}
