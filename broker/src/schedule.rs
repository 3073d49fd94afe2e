//! Delayed delivery (protocol.md §8.1): messages wait in SCHEDULE_TOPIC_XXXX, one queue per
//! delay level, each ConsumeQueue unit's tag slot holding the delivery time. A timer walks
//! every level's queue from its saved progress and re-stores each due message under its real
//! topic and queue. Progress per level is `delayOffset.json`, saved every
//! `flushDelayOffsetInterval` and at shutdown, so deliveries survive a restart (a message
//! delivered just before a crash may be delivered again: at least once, as in Java).

use std::sync::Arc;
use std::time::Duration;

use bolide_client::protocol::message::{Record, decode_record_bytes, property};
use bolide_client::remoting::Shutdown;

use crate::processor::BrokerProcessor;
use crate::processor::InternalMessage;
use crate::store::commit_log::now_ms;
use crate::topic_config::SCHEDULE_TOPIC;

/// How often each level's queue is looked at (Java: 100 ms).
const TICK: Duration = Duration::from_millis(100);
/// Units delivered per level per tick, so one busy level cannot starve the others.
const UNITS_PER_TICK: usize = 1024;

#[derive(Debug)]
pub struct ScheduleService {
    processor: Arc<BrokerProcessor>,
}

impl ScheduleService {
    pub fn new(processor: Arc<BrokerProcessor>) -> Self {
        ScheduleService { processor }
    }

    /// Delivers due messages every tick until shutdown; only a master delivers.
    pub async fn run(self, mut shutdown: Shutdown) {
        let save_every = Duration::from_millis(
            self.processor
                .config
                .read()
                .flush_delay_offset_interval_ms
                .max(100),
        );
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saves = tokio::time::interval(save_every);
        saves.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.wait() => return,
                _ = ticks.tick() => {
                    if !self.processor.is_slave() {
                        self.deliver_due().await;
                    }
                }
                _ = saves.tick() => {
                    // A save is up to four fsyncs: never on a runtime worker.
                    let table = self.processor.delay_offsets.clone();
                    match tokio::task::spawn_blocking(move || table.persist()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::error!(%error, "cannot save delay offsets"),
                        Err(error) => tracing::error!(%error, "the delay offset save failed"),
                    }
                }
            }
        }
    }

    async fn deliver_due(&self) {
        let levels = self.processor.store.config().delay_levels_ms.len() as i32;
        for level in 1..=levels {
            if let Err(error) = self.deliver_level(level).await {
                tracing::warn!(level, %error, "delayed delivery stalled; retrying next tick");
            }
        }
    }

    /// Delivers the due prefix of one level's queue and records the progress.
    async fn deliver_level(&self, level: i32) -> Result<(), String> {
        let store = &self.processor.store;
        let Some(queue) = store.queues().get(SCHEDULE_TOPIC, level - 1) else {
            return Ok(());
        };
        let saved = self.processor.delay_offsets.get(level).unwrap_or(0).max(0) as u64;
        let mut offset = saved.max(queue.min_offset());
        let units = queue
            .units(offset, UNITS_PER_TICK)
            .map_err(|e| e.to_string())?;
        let visible = store.readable_offset();
        let now = now_ms();
        for unit in units {
            if unit.is_filler() {
                offset += 1;
                continue;
            }
            if unit.tags_code > now || unit.commit_log_offset + u64::from(unit.size) > visible {
                break;
            }
            self.deliver_one(unit.commit_log_offset).await?;
            offset += 1;
            self.processor.delay_offsets.set(level, offset as i64);
        }
        if offset != saved {
            self.processor.delay_offsets.set(level, offset as i64);
        }
        Ok(())
    }

    /// Re-stores one waiting message under its real topic and queue. A message already
    /// removed by retention is skipped.
    async fn deliver_one(&self, physical_offset: u64) -> Result<(), String> {
        let record = match self.processor.store.message_at(physical_offset) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        let Ok(Some(Record::Message(message))) = decode_record_bytes(&record, false) else {
            tracing::error!(
                physical_offset,
                "a delayed message could not be decoded; skipped"
            );
            return Ok(());
        };
        let real_topic = message
            .properties
            .get(property::REAL_TOPIC)
            .map(str::to_owned);
        let real_queue = message
            .properties
            .get(property::REAL_QID)
            .and_then(|q| q.trim().parse::<i32>().ok());
        let (Some(topic), Some(queue_id)) = (real_topic, real_queue) else {
            tracing::error!(
                physical_offset,
                "a delayed message lacks REAL_TOPIC/REAL_QID; skipped"
            );
            return Ok(());
        };
        let mut properties = message.properties.clone();
        properties.remove(property::DELAY);
        let delivered = InternalMessage {
            topic,
            queue_id,
            flag: message.flag,
            body: message.body.clone(),
            properties,
            sysflag: message.sysflag,
            born_timestamp_ms: message.born_timestamp_ms,
            born_host: message.born_host,
            reconsume_times: message.reconsume_times,
        };
        self.processor
            .put_internal(&delivered)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
