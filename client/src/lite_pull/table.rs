//! The positions and buffers of the queues a lite pull consumer owns. Pure logic, no I/O:
//! the fetch tasks ask it what to pull next and hand it what they got; `poll` takes from it.
//!
//! Per queue it keeps three offsets' worth of state:
//!
//! * `next_pull`: where the next PULL_MESSAGE starts (unknown until the start offset is
//!   looked up); everything below it is either buffered or already polled.
//! * the buffer of fetched, not yet polled messages, bounded by the threshold: a queue whose
//!   buffer holds `threshold` messages is not pulled, and a pull brings at most a batch, so a
//!   buffer never exceeds `threshold - 1 + batch`.
//! * `consumed`: the next offset the application has not been given, i.e. the offset to
//!   commit. It is the first buffered message's offset, or `next_pull` when the buffer is
//!   empty, so messages the broker or the tag re-filter skipped count as consumed.
//!
//! A seek moves both offsets, empties the buffer and gives the queue a new epoch: a pull
//! that was in flight carries the old epoch and its result is dropped. Epochs come from one
//! counter for the whole table, so a queue given up and taken back in a rebalance does not
//! accept what its former fetch task was still pulling either.

use std::collections::{BTreeMap, VecDeque};

use crate::protocol::heartbeat::MessageQueue;
use crate::protocol::message::StoredMessage;

#[derive(Debug, Default)]
struct QueueState {
    epoch: u64,
    next_pull: Option<i64>,
    consumed: Option<i64>,
    buffer: VecDeque<StoredMessage>,
    paused: bool,
}

impl QueueState {
    fn settle_consumed(&mut self) {
        self.consumed = match self.buffer.front() {
            Some(first) => Some(first.queue_offset),
            None => self.next_pull,
        };
    }
}

/// What a queue's fetch task should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    /// The queue is no longer owned: the task ends.
    Gone,
    /// Paused, or the buffer is full: wait to be woken (or re-check after a while).
    Wait,
    /// Look the start offset up, then report it with this epoch.
    Start { epoch: u64 },
    /// Pull from `offset`, then report the result with this epoch.
    Pull { offset: i64, epoch: u64 },
}

/// What one `take` gave out.
#[derive(Debug)]
pub(super) struct Taken {
    pub queue: MessageQueue,
    pub messages: Vec<StoredMessage>,
    /// The queue's buffer was full before: its fetch task waits and must be woken.
    pub was_full: bool,
}

#[derive(Debug)]
pub(super) struct QueueTable {
    queues: BTreeMap<MessageQueue, QueueState>,
    /// The queue `take` served last: the next take starts after it, so that one busy queue
    /// cannot starve the others.
    cursor: Option<MessageQueue>,
    threshold: usize,
    /// The epoch the next inserted or sought queue gets.
    next_epoch: u64,
}

impl QueueTable {
    pub fn new(threshold: usize) -> Self {
        assert!(threshold > 0, "a buffer threshold of 0 would never pull");
        QueueTable {
            queues: BTreeMap::new(),
            cursor: None,
            threshold,
            next_epoch: 0,
        }
    }

    /// Starts tracking `queue`; false when it already was.
    pub fn insert(&mut self, queue: MessageQueue) -> bool {
        if self.queues.contains_key(&queue) {
            return false;
        }
        let epoch = self.new_epoch();
        self.queues.insert(
            queue,
            QueueState {
                epoch,
                ..QueueState::default()
            },
        );
        true
    }

    /// Stops tracking `queue`, discarding its buffer; returns its consumed offset.
    pub fn remove(&mut self, queue: &MessageQueue) -> Option<i64> {
        self.queues.remove(queue).and_then(|state| state.consumed)
    }

    pub fn contains(&self, queue: &MessageQueue) -> bool {
        self.queues.contains_key(queue)
    }

    /// Owned queues in order.
    pub fn queues(&self) -> Vec<MessageQueue> {
        self.queues.keys().cloned().collect()
    }

    /// Every queue whose consumed offset is known, with it.
    pub fn consumed_offsets(&self) -> Vec<(MessageQueue, i64)> {
        self.queues
            .iter()
            .filter_map(|(queue, state)| state.consumed.map(|offset| (queue.clone(), offset)))
            .collect()
    }

    pub fn next(&self, queue: &MessageQueue) -> Next {
        let Some(state) = self.queues.get(queue) else {
            return Next::Gone;
        };
        if state.paused || state.buffer.len() >= self.threshold {
            return Next::Wait;
        }
        match state.next_pull {
            None => Next::Start { epoch: state.epoch },
            Some(offset) => Next::Pull {
                offset,
                epoch: state.epoch,
            },
        }
    }

    /// The looked-up start offset; ignored when a seek came first.
    pub fn start(&mut self, queue: &MessageQueue, epoch: u64, offset: i64) {
        if let Some(state) = self.current(queue, epoch)
            && state.next_pull.is_none()
        {
            state.next_pull = Some(offset);
            state.consumed = Some(offset);
        }
    }

    /// A pull's result: `messages` (possibly none) and the offset to pull from next. False
    /// when the result is stale (the queue was sought or given up meanwhile) and dropped.
    pub fn deliver(
        &mut self,
        queue: &MessageQueue,
        epoch: u64,
        messages: Vec<StoredMessage>,
        next_offset: i64,
    ) -> bool {
        let Some(state) = self.current(queue, epoch) else {
            return false;
        };
        debug_assert!(
            messages
                .windows(2)
                .all(|pair| pair[0].queue_offset < pair[1].queue_offset),
            "a pull's messages come in queue order"
        );
        state.buffer.extend(messages);
        state.next_pull = Some(next_offset);
        state.settle_consumed();
        true
    }

    /// Moves `queue` to `offset`: the buffer is discarded and pulls in flight are ignored.
    pub fn seek(&mut self, queue: &MessageQueue, offset: i64) -> bool {
        let epoch = self.new_epoch();
        let Some(state) = self.queues.get_mut(queue) else {
            return false;
        };
        state.epoch = epoch;
        state.buffer.clear();
        state.next_pull = Some(offset);
        state.consumed = Some(offset);
        true
    }

    /// Pausing stops pulls and hides the buffered messages from `take`.
    pub fn set_paused(&mut self, queue: &MessageQueue, paused: bool) -> bool {
        match self.queues.get_mut(queue) {
            Some(state) => {
                state.paused = paused;
                true
            }
            None => false,
        }
    }

    /// Up to `max` buffered messages of one queue not paused, queues taken in turn.
    pub fn take(&mut self, max: usize) -> Option<Taken> {
        fn ready<'a>((queue, state): (&'a MessageQueue, &QueueState)) -> Option<&'a MessageQueue> {
            (!state.paused && !state.buffer.is_empty()).then_some(queue)
        }
        let cursor = self.cursor.as_ref();
        let queue = self
            .queues
            .iter()
            .filter_map(ready)
            .find(|queue| cursor.is_none_or(|cursor| *queue > cursor))
            .or_else(|| self.queues.iter().filter_map(ready).next())?
            .clone();
        let state = self.queues.get_mut(&queue)?;
        let was_full = state.buffer.len() >= self.threshold;
        let count = max.min(state.buffer.len());
        let messages: Vec<StoredMessage> = state.buffer.drain(..count).collect();
        state.settle_consumed();
        self.cursor = Some(queue.clone());
        Some(Taken {
            queue,
            messages,
            was_full,
        })
    }

    fn new_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    fn current(&mut self, queue: &MessageQueue, epoch: u64) -> Option<&mut QueueState> {
        self.queues
            .get_mut(queue)
            .filter(|state| state.epoch == epoch)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use super::*;

    fn queue(id: i32) -> MessageQueue {
        MessageQueue::new("T", "b", id)
    }

    fn message(queue_id: i32, queue_offset: i64) -> StoredMessage {
        let host = SocketAddr::from((Ipv4Addr::LOCALHOST, 10911));
        StoredMessage {
            total_size: 0,
            body_crc: 0,
            queue_id,
            flag: 0,
            queue_offset,
            physical_offset: 0,
            sysflag: 0,
            born_timestamp_ms: 0,
            born_host: host,
            store_timestamp_ms: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Default::default(),
            topic: "T".to_owned(),
            properties: Default::default(),
        }
    }

    fn messages(queue_id: i32, offsets: std::ops::Range<i64>) -> Vec<StoredMessage> {
        offsets.map(|offset| message(queue_id, offset)).collect()
    }

    fn offsets(taken: &Taken) -> Vec<i64> {
        taken.messages.iter().map(|m| m.queue_offset).collect()
    }

    /// The epoch of `queue`'s next pull, checking that it pulls from `offset`.
    fn pull_epoch(table: &QueueTable, queue: &MessageQueue, offset: i64) -> u64 {
        match table.next(queue) {
            Next::Pull { offset: at, epoch } if at == offset => epoch,
            other => panic!("expected a pull from {offset}, got {other:?}"),
        }
    }

    /// Inserts `queue` and starts it at `start`; returns its epoch.
    fn start(table: &mut QueueTable, queue: &MessageQueue, start: i64) -> u64 {
        assert!(table.insert(queue.clone()));
        assert!(!table.insert(queue.clone()), "inserted once");
        let Next::Start { epoch } = table.next(queue) else {
            panic!("a new queue looks its start offset up first");
        };
        table.start(queue, epoch, start);
        epoch
    }

    /// A table owning queue 0, started at `start`, and the queue's epoch.
    fn started(threshold: usize, start_offset: i64) -> (QueueTable, u64) {
        let mut table = QueueTable::new(threshold);
        let epoch = start(&mut table, &queue(0), start_offset);
        (table, epoch)
    }

    #[test]
    fn take_gives_batches_in_order_and_moves_the_consumed_offset() {
        let (mut table, epoch) = started(100, 5);
        assert_eq!(table.consumed_offsets(), [(queue(0), 5)]);
        assert_eq!(pull_epoch(&table, &queue(0), 5), epoch);
        assert!(table.deliver(&queue(0), epoch, messages(0, 5..12), 12));
        assert_eq!(pull_epoch(&table, &queue(0), 12), epoch);
        let first = table.take(4).unwrap();
        assert_eq!(offsets(&first), [5, 6, 7, 8]);
        assert_eq!(table.consumed_offsets(), [(queue(0), 9)]);
        assert_eq!(offsets(&table.take(4).unwrap()), [9, 10, 11]);
        assert_eq!(table.consumed_offsets(), [(queue(0), 12)]);
        assert!(table.take(4).is_none());
    }

    #[test]
    fn skipped_offsets_count_as_consumed() {
        let (mut table, epoch) = started(100, 0);
        // The broker filtered 2..4 out and answered up to 6; then nothing matched up to 9.
        let mut found = messages(0, 0..2);
        found.extend(messages(0, 4..6));
        assert!(table.deliver(&queue(0), epoch, found, 6));
        assert_eq!(offsets(&table.take(3).unwrap()), [0, 1, 4]);
        assert_eq!(table.consumed_offsets(), [(queue(0), 5)]);
        assert!(table.deliver(&queue(0), epoch, Vec::new(), 9));
        assert_eq!(
            table.consumed_offsets(),
            [(queue(0), 5)],
            "5 still buffered"
        );
        assert_eq!(offsets(&table.take(3).unwrap()), [5]);
        assert_eq!(table.consumed_offsets(), [(queue(0), 9)]);
    }

    #[test]
    fn a_seek_drops_the_buffer_and_stale_results() {
        let (mut table, old) = started(100, 0);
        assert!(table.deliver(&queue(0), old, messages(0, 0..5), 5));
        assert!(table.seek(&queue(0), 2));
        assert_eq!(table.consumed_offsets(), [(queue(0), 2)]);
        assert!(table.take(10).is_none(), "buffer dropped");
        // A pull that was in flight before the seek answers now: ignored.
        assert!(!table.deliver(&queue(0), old, messages(0, 5..8), 8));
        // So is a start offset looked up before it.
        table.start(&queue(0), old, 100);
        let new = pull_epoch(&table, &queue(0), 2);
        assert_ne!(new, old);
        assert!(table.deliver(&queue(0), new, messages(0, 2..4), 4));
        assert_eq!(offsets(&table.take(10).unwrap()), [2, 3]);
        assert!(!table.seek(&queue(9), 0), "not owned");
    }

    #[test]
    fn a_seek_before_the_start_offset_wins() {
        let mut table = QueueTable::new(100);
        assert!(table.insert(queue(0)));
        let Next::Start { epoch } = table.next(&queue(0)) else {
            panic!("starts with a lookup");
        };
        assert!(table.seek(&queue(0), 3));
        table.start(&queue(0), epoch, 10);
        assert_eq!(table.consumed_offsets(), [(queue(0), 3)]);
        pull_epoch(&table, &queue(0), 3);
    }

    #[test]
    fn a_full_buffer_stops_pulls_until_taken_from() {
        let (mut table, epoch) = started(4, 0);
        assert!(table.deliver(&queue(0), epoch, messages(0, 0..3), 3));
        pull_epoch(&table, &queue(0), 3);
        // Below the threshold, one more batch may take the buffer past it.
        assert!(table.deliver(&queue(0), epoch, messages(0, 3..6), 6));
        assert_eq!(table.next(&queue(0)), Next::Wait);
        let taken = table.take(1).unwrap();
        assert!(taken.was_full);
        assert_eq!(table.next(&queue(0)), Next::Wait, "5 left, still full");
        assert!(table.take(2).unwrap().was_full);
        pull_epoch(&table, &queue(0), 6);
        assert!(!table.take(2).unwrap().was_full);
        assert_eq!(table.consumed_offsets(), [(queue(0), 5)]);
    }

    #[test]
    fn queues_are_served_in_turn_and_paused_ones_skipped() {
        let (mut table, _) = started(100, 0);
        for id in 1..3 {
            start(&mut table, &queue(id), 0);
        }
        for id in 0..3 {
            let epoch = pull_epoch(&table, &queue(id), 0);
            assert!(table.deliver(&queue(id), epoch, messages(id, 0..4), 4));
        }
        let order: Vec<i32> = (0..4)
            .map(|_| table.take(2).unwrap().queue.queue_id)
            .collect();
        assert_eq!(order, [0, 1, 2, 0]);
        assert!(table.set_paused(&queue(1), true));
        assert_eq!(table.next(&queue(1)), Next::Wait);
        assert_eq!(table.take(2).unwrap().queue.queue_id, 2);
        assert!(
            table.take(2).is_none(),
            "only the paused queue has messages left"
        );
        assert_eq!(
            table.consumed_offsets()[1],
            (queue(1), 2),
            "a paused queue keeps its place"
        );
        assert!(table.set_paused(&queue(1), false));
        assert!(!table.set_paused(&queue(7), false), "not owned");
        let resumed = table.take(2).unwrap();
        assert_eq!(resumed.queue.queue_id, 1);
        assert_eq!(offsets(&resumed), [2, 3]);
    }

    #[test]
    fn a_queue_taken_back_ignores_its_former_task() {
        let (mut table, old) = started(100, 7);
        assert_eq!(table.remove(&queue(0)), Some(7));
        assert_eq!(table.next(&queue(0)), Next::Gone);
        assert!(!table.deliver(&queue(0), old, messages(0, 7..8), 8));
        assert!(table.queues().is_empty());
        // Given up and taken back in a rebalance: the old task's answers stay stale.
        assert!(table.insert(queue(0)));
        table.start(&queue(0), old, 7);
        assert!(!table.deliver(&queue(0), old, messages(0, 7..8), 8));
        assert!(table.consumed_offsets().is_empty(), "start unknown");
        assert!(matches!(table.next(&queue(0)), Next::Start { .. }));
    }
}
