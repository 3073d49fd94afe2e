//! One owned queue's pull loop: PULL_MESSAGE with long polling, the exact tag re-filter,
//! the listener, CONSUMER_SEND_MSG_BACK for messages it wants later, and the queue's
//! consumed offset. Runs until its queue is given up or the consumer shuts down.

use std::sync::Arc;
use std::time::Duration;

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
    while !shutdown.is_triggered() {
        let next = match fetch(&instance, &queue, &subscription, offset, &mut shutdown).await {
            Fetch::Shutdown => return,
            Fetch::Failed => {
                if !pause(&mut shutdown, ERROR_DELAY).await {
                    return;
                }
                continue;
            }
            Fetch::Moved { next } => next,
            Fetch::Found {
                messages,
                next,
                addr,
            } => {
                if !consume(&instance, &listener, &queue, &addr, messages, &mut shutdown).await {
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
    /// Messages that passed the tag filter, ready for the listener (possibly none), the
    /// offset after them and the broker they came from.
    Found {
        messages: Vec<StoredMessage>,
        next: i64,
        addr: String,
    },
}

/// One PULL_MESSAGE from `offset`, held by the broker until messages come.
pub(super) async fn fetch(
    instance: &Instance,
    queue: &MessageQueue,
    subscription: &SubscriptionData,
    offset: i64,
    shutdown: &mut Shutdown,
) -> Fetch {
    let Some(addr) = instance.master_addr(&queue.broker_name) else {
        tracing::warn!(?queue, "no master to pull from");
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
            | if offset > 0 && !instance.is_broadcasting() {
                pull_sys_flag::COMMIT_OFFSET
            } else {
                0
            },
        commit_offset: offset,
        suspend_timeout_millis: i64::try_from(config.suspend_timeout.as_millis())
            .unwrap_or(i64::MAX),
        subscription: Some(subscription.sub_string.clone()),
        sub_version: subscription.sub_version,
        expression_type: Some(subscription.expression_type.clone()),
        broker_name: Some(queue.broker_name.clone()),
    };
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields());
    let timeout = config.suspend_timeout + PULL_TIMEOUT_MARGIN;
    let response = tokio::select! {
        () = shutdown.wait() => return Fetch::Shutdown,
        response = instance.remoting.invoke(&addr, request, timeout) => response,
    };
    let response = match response {
        Ok(response) => response,
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
                addr,
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
    addr: &str,
    mut messages: Vec<StoredMessage>,
    shutdown: &mut Shutdown,
) -> bool {
    while !messages.is_empty() {
        let runs: Vec<_> = messages
            .iter()
            .map(|message| {
                let listener = listener.clone();
                let message = message.clone();
                tokio::task::spawn_blocking(move || listener(std::slice::from_ref(&message)))
            })
            .collect();
        let mut again = Vec::new();
        for (message, run) in messages.into_iter().zip(runs) {
            let status = run.await.unwrap_or_else(|error| {
                tracing::warn!("listener panicked, consuming later: {error}");
                ConsumeStatus::Later
            });
            if status == ConsumeStatus::Later && instance.is_broadcasting() {
                tracing::warn!(?queue, msg_id = %message.msg_id(), "broadcast message dropped: consumed later");
                continue;
            }
            if status == ConsumeStatus::Later
                && let Err(reason) = send_back(instance, queue, addr, &message, 0).await
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

/// CONSUMER_SEND_MSG_BACK: the broker stores the message again in `%RETRY%<group>`, or
/// in `%DLQ%<group>` when its deliveries are used up or `delay_level` is negative.
pub(super) async fn send_back(
    instance: &Instance,
    queue: &MessageQueue,
    addr: &str,
    message: &StoredMessage,
    delay_level: i32,
) -> Result<(), String> {
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
        .invoke(addr, request, instance.config.admin_timeout)
        .await
        .map_err(|error| error.to_string())?;
    if response.code != ResponseCode::SUCCESS {
        return Err(format!(
            "code {}, {}",
            response.code,
            response.remark_text()
        ));
    }
    Ok(())
}
