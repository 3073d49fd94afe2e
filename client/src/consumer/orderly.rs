//! Orderly consumption (Java `ConsumeMessageOrderlyService`): one owned queue's messages go
//! to the listener one at a time, in queue order, and a message the listener suspends is
//! offered again after a pause before anything behind it.
//!
//! In CLUSTERING the member must hold the broker's lock on the queue (LOCK_BATCH_MQ) while
//! it consumes, so that during a rebalance two members never consume one queue at once:
//! * the loop takes the lock *before* it reads the committed offset, so it starts after
//!   everything the previous owner committed (the previous owner commits, answered, before
//!   it unlocks);
//! * locks are renewed every 20 s by the background task and count as held for 30 s
//!   ([`super::instance::LOCK_LIFETIME`]); a queue whose lock lapsed or went to another
//!   member stops between two messages, commits, and takes the lock again before it
//!   continues from the committed offset.
//!
//! A message suspended `max_reconsume_times` times (unlimited by default, as Java) goes to
//! `%DLQ%<group>` (CONSUMER_SEND_MSG_BACK with a negative delay level) and the queue moves on.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::instance::Instance;
use super::pull::{self, ERROR_DELAY, Fetch, pause};
use super::{ConsumeOrderlyStatus, OrderlyListener};
use crate::protocol::heartbeat::MessageQueue;
use crate::protocol::message::StoredMessage;
use crate::remoting::Shutdown;

/// How a batch ended.
enum Outcome {
    /// Every message consumed.
    Done,
    /// Shutdown came between two messages.
    Interrupted,
    /// The queue's lock is no longer held: stop before the next message.
    LockLost,
}

pub(super) async fn pull_loop(
    instance: Arc<Instance>,
    queue: MessageQueue,
    listener: OrderlyListener,
    mut shutdown: Shutdown,
) {
    let Some(subscription) = instance.subscription(&queue.topic).cloned() else {
        tracing::warn!(?queue, "pull loop for a topic not subscribed");
        return;
    };
    'owned: loop {
        if instance.needs_locks() && !acquire_lock(&instance, &queue, &mut shutdown).await {
            return;
        }
        let Some(mut offset) = pull::start_offset(&instance, &queue, &mut shutdown).await else {
            return;
        };
        loop {
            if shutdown.is_triggered() {
                return;
            }
            if instance.needs_locks() && !instance.is_locked(&queue) {
                instance.commit(&queue, offset).await;
                continue 'owned;
            }
            offset = match pull::fetch(
                &instance,
                &queue,
                &subscription,
                offset,
                offset,
                &mut shutdown,
            )
            .await
            {
                Fetch::Shutdown => return,
                Fetch::Failed => {
                    if !pause(&mut shutdown, ERROR_DELAY).await {
                        return;
                    }
                    continue;
                }
                Fetch::Moved { next } => next,
                Fetch::Found { messages, next } => {
                    let outcome =
                        consume_in_order(&instance, &listener, &queue, messages, &mut shutdown)
                            .await;
                    match outcome {
                        Outcome::Done => next,
                        Outcome::Interrupted => return,
                        Outcome::LockLost => {
                            let progress = instance.offsets.lock().get(&queue).copied();
                            instance.commit(&queue, progress.unwrap_or(offset)).await;
                            continue 'owned;
                        }
                    }
                }
            };
            instance.offsets.lock().insert(queue.clone(), offset);
        }
    }
}

/// Takes `queue`'s broker lock, asking again every second while another member holds it.
/// False when shutdown came first.
async fn acquire_lock(instance: &Instance, queue: &MessageQueue, shutdown: &mut Shutdown) -> bool {
    loop {
        if instance
            .lock(&queue.broker_name, BTreeSet::from([queue.clone()]))
            .await
            > 0
        {
            return true;
        }
        tracing::debug!(?queue, "queue locked by another member; asking again");
        if !pause(shutdown, LOCK_RETRY_DELAY).await {
            return false;
        }
    }
}

/// How soon a refused lock is asked for again (a previous owner releases it at once when it
/// shuts down cleanly).
const LOCK_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Hands `messages` to the listener one at a time; the queue's consumed offset moves past
/// each as it succeeds (or goes to the DLQ).
async fn consume_in_order(
    instance: &Instance,
    listener: &OrderlyListener,
    queue: &MessageQueue,
    messages: Vec<StoredMessage>,
    shutdown: &mut Shutdown,
) -> Outcome {
    let config = &instance.config;
    for mut message in messages {
        loop {
            if shutdown.is_triggered() {
                return Outcome::Interrupted;
            }
            if instance.needs_locks() && !instance.is_locked(queue) {
                return Outcome::LockLost;
            }
            let run = {
                let listener = listener.clone();
                let message = message.clone();
                tokio::task::spawn_blocking(move || listener(std::slice::from_ref(&message)))
            };
            let status = run.await.unwrap_or_else(|error| {
                tracing::warn!("orderly listener panicked, suspending the queue: {error}");
                ConsumeOrderlyStatus::SuspendCurrentQueueAMoment
            });
            if status == ConsumeOrderlyStatus::Success {
                break;
            }
            if message.reconsume_times >= config.max_reconsume_times {
                match pull::send_back(instance, queue, &message, -1).await {
                    Ok(()) => {
                        tracing::warn!(?queue, msg_id = %message.msg_id(),
                            "orderly message suspended too often: sent to the DLQ");
                        break;
                    }
                    Err(reason) => tracing::warn!(?queue, "DLQ send-back failed: {reason}"),
                }
            } else {
                message.reconsume_times += 1;
            }
            if !pause(shutdown, config.suspend_current_queue_time).await {
                return Outcome::Interrupted;
            }
        }
        instance
            .offsets
            .lock()
            .insert(queue.clone(), message.queue_offset + 1);
    }
    Outcome::Done
}
