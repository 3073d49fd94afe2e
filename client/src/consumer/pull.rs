//! One owned queue's pull loop: PULL_MESSAGE with long polling, the exact tag re-filter,
//! the listener, CONSUMER_SEND_MSG_BACK for messages it wants later, and the queue's
//! consumed offset. Runs until its queue is given up or the consumer shuts down.
//!
//! Pulls go to the master or a slave as the broker suggests ([`super::broker_choice`]);
//! send-backs are writes, so they always go to the master.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::{JoinHandle, JoinSet};

use super::broker_choice;
use super::instance::Instance;
use super::{ConsumeStatus, Listener, ListenerKind, PULL_BATCH_SIZE, orderly};
use crate::producer::MAX_MESSAGE_BYTES;
use crate::protocol::broker_header::{
    ConsumerSendMsgBackRequestHeader, PullMessageRequestHeader, PullMessageResponseHeader,
    pull_sys_flag,
};
use crate::protocol::compression;
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{MessageQueue, SubscriptionData};
use crate::protocol::message::{StoredMessage, decode_records, property};
use crate::protocol::{RemotingCommand, RequestCode, ResponseCode};
use crate::remoting::Shutdown;

/// The pause after a failed pull or offset lookup (Java
/// `PULL_TIME_DELAY_MILLS_WHEN_EXCEPTION`).
pub(super) const ERROR_DELAY: Duration = Duration::from_secs(3);
/// The pause before a message whose send-back failed is consumed again.
const CONSUME_AGAIN_DELAY: Duration = Duration::from_secs(1);
/// A pull waits this much longer than the broker may hold it.
const PULL_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// Sleeps `delay`; false when shutdown came first.
pub(super) async fn pause(shutdown: &mut Shutdown, delay: Duration) -> bool {
    tokio::select! {
        () = shutdown.wait() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

pub(super) async fn pull_loop(
    instance: Arc<Instance>,
    queue: MessageQueue,
    mut shutdown: Shutdown,
) {
    let listener = match &instance.listener {
        ListenerKind::Concurrently(listener) => listener.clone(),
        ListenerKind::Orderly(listener) => {
            let listener = listener.clone();
            return orderly::pull_loop(instance, queue, listener, shutdown).await;
        }
    };
    let Some(subscription) = instance.subscription(&queue.topic).cloned() else {
        tracing::warn!(?queue, "pull loop for a topic not subscribed");
        return;
    };
    let Some(mut offset) = start_offset(&instance, &queue, &mut shutdown).await else {
        return;
    };
    // The next batch is pulled while the listener consumes the current one, so at most two
    // pulls' worth of messages (2 × PULL_BATCH_SIZE) are held per queue.
    let mut ahead: Option<JoinHandle<Fetch>> = None;
    while !shutdown.is_triggered() {
        let fetched = match ahead.take() {
            Some(task) => task.await.unwrap_or(Fetch::Failed),
            None => {
                fetch(
                    &instance,
                    &queue,
                    &subscription,
                    offset,
                    offset,
                    &mut shutdown,
                )
                .await
            }
        };
        let next = match fetched {
            Fetch::Shutdown => return,
            Fetch::Failed => {
                if !pause(&mut shutdown, ERROR_DELAY).await {
                    return;
                }
                continue;
            }
            Fetch::Moved { next } => next,
            Fetch::Found { messages, next } => {
                ahead = Some(tokio::spawn({
                    let (instance, queue) = (instance.clone(), queue.clone());
                    let (subscription, mut shutdown) = (subscription.clone(), shutdown.clone());
                    // Commits only what is consumed so far: this batch's start.
                    async move {
                        fetch(
                            &instance,
                            &queue,
                            &subscription,
                            next,
                            offset,
                            &mut shutdown,
                        )
                        .await
                    }
                }));
                if !consume(&instance, &listener, &queue, messages, &mut shutdown).await {
                    return;
                }
                next
            }
        };
        offset = next;
        instance.offsets.lock().insert(queue.clone(), offset);
    }
}

/// The queue's start offset, asked again after each failure; recorded as its consumed
/// offset. `None` when shutdown came first.
pub(super) async fn start_offset(
    instance: &Instance,
    queue: &MessageQueue,
    shutdown: &mut Shutdown,
) -> Option<i64> {
    loop {
        let lookup = tokio::select! {
            () = shutdown.wait() => return None,
            lookup = instance.start_offset(queue) => lookup,
        };
        match lookup {
            Ok(offset) => {
                instance.offsets.lock().insert(queue.clone(), offset);
                return Some(offset);
            }
            Err(reason) => tracing::warn!(?queue, "no start offset yet: {reason}"),
        }
        if !pause(shutdown, ERROR_DELAY).await {
            return None;
        }
    }
}

/// What one PULL_MESSAGE brought.
pub(super) enum Fetch {
    /// Shutdown came first.
    Shutdown,
    /// The pull failed or was refused: pause and try again.
    Failed,
    /// Nothing to consume (none yet, or the offset moved): continue at `next`.
    Moved { next: i64 },
    /// Messages that passed the tag filter, ready for the listener (possibly none), and the
    /// offset after them.
    Found {
        messages: Vec<StoredMessage>,
        next: i64,
    },
}

/// One PULL_MESSAGE from `offset`, held by the broker until messages come.
pub(super) async fn fetch(
    instance: &Instance,
    queue: &MessageQueue,
    subscription: &SubscriptionData,
    offset: i64,
    consumed: i64,
    shutdown: &mut Shutdown,
) -> Fetch {
    let Some(broker) = instance.broker_data(queue) else {
        tracing::warn!(
            ?queue,
            "no route knows broker {} to pull from",
            queue.broker_name
        );
        return Fetch::Failed;
    };
    let config = &instance.config;
    let header = PullMessageRequestHeader {
        consumer_group: config.group.clone(),
        topic: queue.topic.clone(),
        queue_id: queue.queue_id,
        queue_offset: offset,
        max_msg_nums: PULL_BATCH_SIZE,
        sys_flag: pull_sys_flag::SUSPEND
            | if consumed > 0 && !instance.is_broadcasting() {
                pull_sys_flag::COMMIT_OFFSET
            } else {
                0
            },
        commit_offset: consumed,
        suspend_timeout_millis: i64::try_from(config.suspend_timeout.as_millis())
            .unwrap_or(i64::MAX),
        subscription: Some(subscription.sub_string.clone()),
        sub_version: subscription.sub_version,
        expression_type: Some(subscription.expression_type.clone()),
        broker_name: Some(queue.broker_name.clone()),
    };
    let timeout = config.suspend_timeout + PULL_TIMEOUT_MARGIN;
    let suggested_id = instance.pull_from.suggested(queue);
    let pulled = broker_choice::pull(&instance.remoting, &broker, suggested_id, &header, timeout);
    let response = tokio::select! {
        () = shutdown.wait() => return Fetch::Shutdown,
        response = pulled => response,
    };
    let response = match response {
        Ok((response, target)) => {
            tracing::trace!(?queue, broker_id = target.broker_id, "pulled");
            instance.pull_from.update(queue, &response);
            response
        }
        Err(error) => {
            tracing::warn!(?queue, "pull failed: {error}");
            return Fetch::Failed;
        }
    };
    let next = match PullMessageResponseHeader::from_ext_fields(&response.ext_fields) {
        Ok(header) if header.next_begin_offset >= 0 => header.next_begin_offset,
        Ok(_) | Err(_) if response.code == ResponseCode::SUCCESS => {
            tracing::warn!(?queue, "pull response without a usable nextBeginOffset");
            return Fetch::Failed;
        }
        _ => offset,
    };
    match response.code {
        ResponseCode::SUCCESS => match decode_records(&response.body, false) {
            Ok(messages) => Fetch::Found {
                messages: messages
                    .into_iter()
                    .filter(|m| subscription.matches_tag(m.tags()))
                    .map(prepare)
                    .collect(),
                next,
            },
            Err(error) => {
                tracing::warn!(?queue, "undecodable pull body: {error}");
                Fetch::Failed
            }
        },
        ResponseCode::PULL_NOT_FOUND | ResponseCode::PULL_RETRY_IMMEDIATELY => {
            Fetch::Moved { next }
        }
        ResponseCode::PULL_OFFSET_MOVED => {
            tracing::warn!(?queue, offset, next, "offset moved");
            instance.commit(queue, next).await;
            Fetch::Moved { next }
        }
        code => {
            tracing::warn!(?queue, code, "pull refused: {}", response.remark_text());
            if code == ResponseCode::SUBSCRIPTION_NOT_EXIST
                || code == ResponseCode::SUBSCRIPTION_NOT_LATEST
            {
                instance.heartbeat_after_refusal().await;
            }
            Fetch::Failed
        }
    }
}

/// What the listener sees: a retry message under its original topic, the body inflated.
fn prepare(mut message: StoredMessage) -> StoredMessage {
    if let Some(topic) = message.properties.get(property::RETRY_TOPIC) {
        message.topic = topic.to_owned();
    }
    match compression::inflate_body(message.sysflag, &message.body, MAX_MESSAGE_BYTES) {
        Ok((body, flags)) if flags != message.sysflag => {
            message.body = body.into();
            message.sysflag = flags;
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(msg_id = %message.msg_id(), "delivered as stored: {error}"),
    }
    message
}

/// Runs the listener on every message at once, one per call, and sends back those it wants
/// later. A message whose send-back fails is consumed again after a pause. False when
/// shutdown interrupted that.
async fn consume(
    instance: &Instance,
    listener: &Listener,
    queue: &MessageQueue,
    mut messages: Vec<StoredMessage>,
    shutdown: &mut Shutdown,
) -> bool {
    while !messages.is_empty() {
        let (shared, statuses) = run_listener(listener, messages).await;
        messages = Arc::try_unwrap(shared).unwrap_or_else(|shared| shared.as_ref().clone());
        let mut again = Vec::new();
        for (message, status) in messages.into_iter().zip(statuses) {
            if status == ConsumeStatus::Later && instance.is_broadcasting() {
                tracing::warn!(?queue, msg_id = %message.msg_id(), "broadcast message dropped: consumed later");
                continue;
            }
            if status == ConsumeStatus::Later
                && let Err(reason) = send_back(instance, queue, &message, 0).await
            {
                tracing::warn!(?queue, "send-back failed, consuming again: {reason}");
                again.push(message);
            }
        }
        messages = again;
        if !messages.is_empty() && !pause(shutdown, CONSUME_AGAIN_DELAY).await {
            return false;
        }
    }
    true
}

/// How long a batch's listener workers run before one more joins them.
const LISTENER_RAMP: Duration = Duration::from_millis(1);

/// Runs the listener once per message, on tokio's blocking pool, and returns each
/// message's status (a panic counts as `Later`). One worker starts; while messages are left
/// unclaimed, another joins every [`LISTENER_RAMP`], up to one per message. A fast listener
/// thus costs one thread wake-up per batch instead of one per message, and a slow one still
/// gets every message of the batch in parallel within a few milliseconds.
async fn run_listener(
    listener: &Listener,
    messages: Vec<StoredMessage>,
) -> (Arc<Vec<StoredMessage>>, Vec<ConsumeStatus>) {
    let count = messages.len();
    let messages = Arc::new(messages);
    let claimed = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(Mutex::new(vec![ConsumeStatus::Later; count]));
    let worker = || {
        let (listener, messages) = (listener.clone(), messages.clone());
        let (claimed, statuses) = (claimed.clone(), statuses.clone());
        move || {
            loop {
                let index = claimed.fetch_add(1, Ordering::Relaxed);
                let Some(message) = messages.get(index) else {
                    return;
                };
                let run = std::panic::AssertUnwindSafe(|| listener(std::slice::from_ref(message)));
                let status = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                    tracing::warn!(msg_id = %message.msg_id(), "listener panicked, consuming later");
                    ConsumeStatus::Later
                });
                statuses.lock()[index] = status;
            }
        }
    };
    let mut workers = JoinSet::new();
    workers.spawn_blocking(worker());
    let mut started = 1;
    loop {
        let more = started < count && claimed.load(Ordering::Relaxed) < count;
        tokio::select! {
            joined = workers.join_next() => match joined {
                // A worker ends only when every message is claimed; the last one to end
                // leaves every status written.
                Some(_) if !workers.is_empty() => {}
                _ => break,
            },
            () = tokio::time::sleep(LISTENER_RAMP), if more => {
                workers.spawn_blocking(worker());
                started += 1;
            }
        }
    }
    let statuses = statuses.lock().clone();
    (messages, statuses)
}

/// CONSUMER_SEND_MSG_BACK: the broker stores the message again in `%RETRY%<group>`, or
/// in `%DLQ%<group>` when its deliveries are used up or `delay_level` is negative. It goes
/// to the queue's master whichever broker the message was pulled from: a slave stores
/// nothing (Java `findBrokerAddressInPublish`).
pub(super) async fn send_back(
    instance: &Instance,
    queue: &MessageQueue,
    message: &StoredMessage,
    delay_level: i32,
) -> Result<(), String> {
    let addr = instance
        .master_addr(queue)
        .ok_or_else(|| format!("no master of broker {} to send back to", queue.broker_name))?;
    let header = ConsumerSendMsgBackRequestHeader {
        offset: message.physical_offset,
        group: instance.config.group.clone(),
        delay_level,
        origin_msg_id: Some(message.msg_id()),
        origin_topic: Some(message.topic.clone()),
        unit_mode: Some(false),
        max_reconsume_times: Some(instance.config.max_reconsume_times),
        broker_name: Some(queue.broker_name.clone()),
    };
    let request =
        RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, header.to_ext_fields());
    let response = instance
        .remoting
        .invoke(&addr, request, instance.config.admin_timeout)
        .await
        .map_err(|error| error.to_string())?;
    if response.code != ResponseCode::SUCCESS {
        return Err(format!(
            "refused by {addr}: code {}, {}",
            response.code,
            response.remark_text()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicUsize;

    use bytes::Bytes;

    use super::*;
    use crate::protocol::message::Properties;

    fn message(queue_offset: i64) -> StoredMessage {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        StoredMessage {
            total_size: 0,
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset,
            physical_offset: queue_offset * 100,
            sysflag: 0,
            born_timestamp_ms: 0,
            born_host: host,
            store_timestamp_ms: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from(queue_offset.to_string()),
            topic: "T".to_owned(),
            properties: Properties::default(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_listener_gets_the_batch_in_parallel() {
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, p) = (running.clone(), peak.clone());
        let listener: Listener = Arc::new(move |_| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            r.fetch_sub(1, Ordering::SeqCst);
            ConsumeStatus::Success
        });
        let messages: Vec<StoredMessage> = (0..16).map(message).collect();
        let (back, statuses) = run_listener(&listener, messages.clone()).await;
        assert_eq!(*back, messages);
        assert_eq!(statuses, vec![ConsumeStatus::Success; 16]);
        // Workers join every millisecond while messages wait, so a listener that takes
        // 100 ms sees many of its calls overlap (16 at most).
        assert!(peak.load(Ordering::SeqCst) >= 4, "peak {peak:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_message_gets_its_own_status_and_a_panic_means_later() {
        let listener: Listener =
            Arc::new(
                |messages: &[StoredMessage]| match messages[0].queue_offset {
                    3 => panic!("listener bug"),
                    offset if offset % 2 == 1 => ConsumeStatus::Later,
                    _ => ConsumeStatus::Success,
                },
            );
        let (_, statuses) = run_listener(&listener, (0..8).map(message).collect()).await;
        use ConsumeStatus::{Later, Success};
        assert_eq!(
            statuses,
            [
                Success, Later, Success, Later, Success, Later, Success, Later
            ]
        );
    }
}
