//! One owned queue's fetch task: looks its start offset up, then long-polls PULL_MESSAGE and
//! hands each result to the queue table, while the table says the queue may be pulled (not
//! paused, buffer below the threshold). Runs until the queue is given up or the consumer
//! shuts down; a wake-up (seek, resume, room in the buffer) makes it look at the table again,
//! abandoning a pull in flight.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use flate2::read::ZlibDecoder;
use tokio::sync::Notify;

use super::Shared;
use super::remote::PullRequest;
use super::table::Next;
use crate::producer::MAX_MESSAGE_BYTES;
use crate::protocol::broker_header::PullMessageResponseHeader;
use crate::protocol::header::CommandHeader;
use crate::protocol::heartbeat::{MessageQueue, SubscriptionData};
use crate::protocol::message::{StoredMessage, decode_records, sysflag};
use crate::protocol::{RemotingCommand, ResponseCode};
use crate::remoting::Shutdown;

/// The pause after a failed pull or offset lookup (Java lite pull
/// `PULL_TIME_DELAY_MILLS_ON_EXCEPTION`).
const ERROR_DELAY: Duration = Duration::from_secs(3);
/// How long a waiting task sleeps before it looks at the table again even unwoken: a bound
/// on what a lost wake-up could cost (Java re-checks a paused queue every second).
const WAIT_RECHECK: Duration = Duration::from_secs(1);

/// What a pull response means for the queue.
#[derive(Debug, PartialEq)]
pub(super) struct PullOutcome {
    /// Found messages, in queue order, already re-filtered by tag and inflated.
    pub messages: Vec<StoredMessage>,
    /// Where the next pull starts.
    pub next_offset: i64,
}

pub(super) async fn fetch_loop(
    shared: Arc<Shared>,
    queue: MessageQueue,
    subscription: SubscriptionData,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    loop {
        let next = shared.table.lock().next(&queue);
        let delay = match next {
            Next::Gone => return,
            Next::Wait => WAIT_RECHECK,
            Next::Start { epoch } => {
                let lookup = tokio::select! {
                    () = shutdown.wait() => return,
                    lookup = shared.start_offset(&queue) => lookup,
                };
                match lookup {
                    Ok(offset) => {
                        shared.table.lock().start(&queue, epoch, offset);
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(?queue, "no start offset yet: {error}");
                        ERROR_DELAY
                    }
                }
            }
            Next::Pull { offset, epoch } => {
                let config = &shared.config;
                let request = PullRequest {
                    queue: &queue,
                    subscription: &subscription,
                    offset,
                    batch_size: i32::try_from(config.pull_batch_size).unwrap_or(i32::MAX),
                    suspend: config.broker_suspend,
                    timeout: config.pull_timeout,
                };
                let response = tokio::select! {
                    () = shutdown.wait() => return,
                    // Sought or resumed: the table has news; this pull's answer would be stale.
                    () = wake.notified() => continue,
                    response = shared.remote.pull(request) => response,
                };
                let outcome = response
                    .map_err(|error| error.to_string())
                    .and_then(|response| parse_pull_response(&response, offset, &subscription));
                match outcome {
                    Ok(outcome) => {
                        let found = !outcome.messages.is_empty();
                        let fresh = shared.table.lock().deliver(
                            &queue,
                            epoch,
                            outcome.messages,
                            outcome.next_offset,
                        );
                        if fresh && found {
                            shared.arrived.notify_waiters();
                        }
                        continue;
                    }
                    Err(reason) => {
                        tracing::warn!(?queue, offset, "pull failed: {reason}");
                        ERROR_DELAY
                    }
                }
            }
        };
        tokio::select! {
            () = shutdown.wait() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Reads a PULL_MESSAGE answer to a pull from `offset`. `Err` when the broker refused or
/// the answer is unusable: the caller pauses and tries the same offset again.
pub(super) fn parse_pull_response(
    response: &RemotingCommand,
    offset: i64,
    subscription: &SubscriptionData,
) -> Result<PullOutcome, String> {
    let header = PullMessageResponseHeader::from_ext_fields(&response.ext_fields);
    let next_offset = match &header {
        Ok(header) if header.next_begin_offset >= 0 => header.next_begin_offset,
        _ => offset,
    };
    match response.code {
        ResponseCode::SUCCESS => {
            if header.is_err() || next_offset <= offset {
                return Err("FOUND without a usable nextBeginOffset".to_owned());
            }
            let messages = decode_records(&response.body, false)
                .map_err(|error| format!("undecodable pull body: {error}"))?;
            // The broker filters by tag hash code, which collides: check the tag itself.
            let messages = messages
                .into_iter()
                .filter(|m| m.queue_offset >= offset && subscription.matches_tag(m.tags()))
                .map(inflate)
                .collect();
            Ok(PullOutcome {
                messages,
                next_offset,
            })
        }
        ResponseCode::PULL_NOT_FOUND | ResponseCode::PULL_RETRY_IMMEDIATELY => Ok(PullOutcome {
            messages: Vec::new(),
            next_offset,
        }),
        // Java's lite pull moves on to the offset the broker names and logs it.
        ResponseCode::PULL_OFFSET_MOVED => {
            tracing::warn!(offset, next_offset, "pull offset moved");
            Ok(PullOutcome {
                messages: Vec::new(),
                next_offset,
            })
        }
        code => Err(format!("code {code}, {}", response.remark_text())),
    }
}

/// The body as the producer gave it: zlib-compressed bodies are inflated, up to the largest
/// message a broker accepts; one that cannot be is delivered as stored, with a warning.
fn inflate(mut message: StoredMessage) -> StoredMessage {
    if message.sysflag & sysflag::COMPRESSED == 0 {
        return message;
    }
    let mut body = Vec::new();
    let limit = u64::try_from(MAX_MESSAGE_BYTES).unwrap_or(u64::MAX) + 1;
    match ZlibDecoder::new(&message.body[..])
        .take(limit)
        .read_to_end(&mut body)
    {
        Ok(length) if length <= MAX_MESSAGE_BYTES => {
            message.body = body.into();
            message.sysflag &= !sysflag::COMPRESSED;
        }
        Ok(_) => tracing::warn!("compressed body too large: delivered as stored"),
        Err(error) => tracing::warn!("compressed body unreadable, delivered as stored: {error}"),
    }
    message
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{Ipv4Addr, SocketAddr};

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    use super::*;
    use crate::protocol::message::{
        MessageToStore, Properties, encode_properties, encode_record, property,
    };
    use crate::protocol::{ExtFields, RequestCode};

    /// A stored record of queue offset `offset` tagged `tag`.
    fn record(offset: i64, tag: &str, body: &[u8], sysflag: i32) -> Vec<u8> {
        let mut properties = Properties::default();
        properties.insert(property::TAGS, tag);
        let properties = encode_properties(&properties);
        let host = SocketAddr::from((Ipv4Addr::LOCALHOST, 10911));
        let message = MessageToStore {
            topic: "T",
            queue_id: 0,
            flag: 0,
            body,
            properties: &properties,
            sysflag,
            born_timestamp_ms: 1,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        let mut out = vec![0; message.encoded_len()];
        encode_record(&message, offset, 100 + offset, 2, &mut out).unwrap();
        out
    }

    fn response(code: i32, next_begin_offset: Option<i64>, body: Vec<u8>) -> RemotingCommand {
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, ExtFields::new());
        let mut response = RemotingCommand::response_to(&request, code, None).with_body(body);
        if let Some(next) = next_begin_offset {
            let header = PullMessageResponseHeader {
                suggest_which_broker_id: 0,
                next_begin_offset: next,
                min_offset: 0,
                max_offset: next,
            };
            response = response.with_ext_fields(header.to_ext_fields());
        }
        response
    }

    #[test]
    fn found_messages_are_refiltered_by_tag_and_inflated() {
        let mut compressed = ZlibEncoder::new(Vec::new(), Compression::default());
        compressed.write_all(b"hello").unwrap();
        let compressed = compressed.finish().unwrap();
        let mut body = record(3, "TagA", b"a", 0);
        body.extend(record(4, "TagB", b"b", 0));
        body.extend(record(5, "TagA", &compressed, sysflag::COMPRESSED));
        let subscription = SubscriptionData::from_expression("T", "TagA");
        let outcome = parse_pull_response(
            &response(ResponseCode::SUCCESS, Some(6), body),
            3,
            &subscription,
        )
        .unwrap();
        assert_eq!(outcome.next_offset, 6);
        let offsets: Vec<i64> = outcome.messages.iter().map(|m| m.queue_offset).collect();
        assert_eq!(offsets, [3, 5]);
        assert_eq!(&outcome.messages[1].body[..], b"hello");
        assert_eq!(outcome.messages[1].sysflag & sysflag::COMPRESSED, 0);
    }

    #[test]
    fn empty_answers_move_on_and_refusals_fail() {
        let all = SubscriptionData::from_expression("T", "*");
        for code in [
            ResponseCode::PULL_NOT_FOUND,
            ResponseCode::PULL_RETRY_IMMEDIATELY,
            ResponseCode::PULL_OFFSET_MOVED,
        ] {
            let outcome = parse_pull_response(&response(code, Some(9), Vec::new()), 4, &all);
            assert_eq!(
                outcome,
                Ok(PullOutcome {
                    messages: Vec::new(),
                    next_offset: 9
                })
            );
        }
        let refused = response(ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST, None, Vec::new());
        assert!(parse_pull_response(&refused, 4, &all).is_err());
        // FOUND must move forward, or the same pull would repeat forever.
        let stuck = response(ResponseCode::SUCCESS, Some(4), record(4, "x", b"", 0));
        assert!(parse_pull_response(&stuck, 4, &all).is_err());
        let headless = response(ResponseCode::SUCCESS, None, record(4, "x", b"", 0));
        assert!(parse_pull_response(&headless, 4, &all).is_err());
    }
}
