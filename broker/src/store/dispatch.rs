//! The one dispatch path: a stored record becomes a ConsumeQueue unit and index entries,
//! whether it was just appended or is being re-read by recovery. ConsumeQueue puts are
//! idempotent, so recovery may re-dispatch records that already have entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bolide_client::protocol::message::KEY_SEPARATOR;

use super::commit_log::{DispatchRequest, Dispatcher};
use super::consume_queue::{ConsumeQueueTable, CqUnit};
use super::error::StoreResult;
use super::index::IndexService;

/// The topic delayed messages wait in (protocol.md §8.1).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

#[derive(Debug)]
pub struct StoreDispatcher {
    pub queues: Arc<ConsumeQueueTable>,
    pub index: Option<Arc<IndexService>>,
    /// `messageDelayLevel`: level n waits `delay_levels_ms[n - 1]`.
    delay_levels_ms: Vec<u64>,
    /// Records below this already have durable index entries (recovery skips them).
    index_from: AtomicU64,
    /// Records at or past this may have units that never reached the disk: recovery sets it
    /// to the checkpoint's durable point so their units are rewritten, not verified.
    replace_units_from: AtomicU64,
}

impl StoreDispatcher {
    pub fn new(
        queues: Arc<ConsumeQueueTable>,
        index: Option<Arc<IndexService>>,
        delay_levels_ms: Vec<u64>,
    ) -> Self {
        StoreDispatcher {
            queues,
            index,
            delay_levels_ms,
            index_from: AtomicU64::new(0),
            replace_units_from: AtomicU64::new(u64::MAX),
        }
    }

    /// See `replace_units_from`; `u64::MAX` (the default) verifies every unit below max.
    pub fn set_replace_units_from(&self, physical_offset: u64) {
        self.replace_units_from
            .store(physical_offset, Ordering::Relaxed);
    }

    pub fn set_index_from(&self, physical_offset: u64) {
        self.index_from.store(physical_offset, Ordering::Relaxed);
    }

    /// A unit's tag slot: the tag hash, except in the schedule topic, where it is the delivery
    /// time (store time + the level's delay; levels above the last clamp to it), so the
    /// delivery timer can tell from the ConsumeQueue alone whether a message is due.
    fn tags_code(&self, request: &DispatchRequest<'_>) -> i64 {
        if request.topic != SCHEDULE_TOPIC || request.delay_level <= 0 {
            return request.tags_code;
        }
        let Some(last) = self.delay_levels_ms.len().checked_sub(1) else {
            return request.store_timestamp_ms;
        };
        let index = (request.delay_level as usize - 1).min(last);
        request
            .store_timestamp_ms
            .saturating_add(self.delay_levels_ms[index] as i64)
    }
}

impl Dispatcher for StoreDispatcher {
    fn dispatch(&self, request: &DispatchRequest<'_>) -> StoreResult<()> {
        if request.is_consumable() {
            let queue = self.queues.get_or_create(request.topic, request.queue_id)?;
            let unit = CqUnit {
                commit_log_offset: request.physical_offset,
                size: request.size,
                tags_code: self.tags_code(request),
            };
            if request.physical_offset >= self.replace_units_from.load(Ordering::Relaxed) {
                queue.put_replacing(request.queue_offset, unit)?;
            } else {
                queue.put(request.queue_offset, unit)?;
            }
        }
        if let Some(index) = &self.index
            && request.is_indexable()
            && request.physical_offset >= self.index_from.load(Ordering::Relaxed)
            && (request.keys.is_some() || request.uniq_key.is_some())
        {
            let keys: Vec<&str> = request
                .keys
                .map(|keys| {
                    keys.split(KEY_SEPARATOR)
                        .filter(|k| !k.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            index.put(
                request.topic,
                &keys,
                request.uniq_key,
                request.physical_offset,
                request.store_timestamp_ms,
            )?;
        }
        Ok(())
    }
}
