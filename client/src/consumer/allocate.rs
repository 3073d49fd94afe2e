//! Which queues of a topic this consumer owns: Java's `AllocateMessageQueueAveragely`.
//! Every member of the group computes the same split from the same sorted inputs, so the
//! members agree without talking to each other. Pure logic.

use crate::protocol::heartbeat::MessageQueue;

/// `client_id`'s share of `queues` among `client_ids`: both are sorted first, then the
/// queues are cut into contiguous runs, the first `queues % clients` clients taking one
/// more. A client that is not in the list (not yet known to the broker) gets nothing.
pub fn allocate_averagely(
    mut queues: Vec<MessageQueue>,
    mut client_ids: Vec<String>,
    client_id: &str,
) -> Vec<MessageQueue> {
    queues.sort();
    client_ids.sort();
    client_ids.dedup();
    let Some(index) = client_ids.iter().position(|id| id == client_id) else {
        return Vec::new();
    };
    let (queue_count, client_count) = (queues.len(), client_ids.len());
    let remainder = queue_count % client_count;
    let size = if queue_count <= client_count {
        1
    } else if index < remainder {
        queue_count / client_count + 1
    } else {
        queue_count / client_count
    };
    let start = if index < remainder {
        index * size
    } else {
        index * size + remainder
    };
    let range = size.min(queue_count.saturating_sub(start));
    queues.into_iter().skip(start).take(range).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(count: i32) -> Vec<MessageQueue> {
        (0..count)
            .map(|id| MessageQueue::new("T", "b", id))
            .collect()
    }

    fn ids(of: &[MessageQueue]) -> Vec<i32> {
        of.iter().map(|q| q.queue_id).collect()
    }

    fn clients(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn splits_like_java() {
        // 8 queues over 3 clients: 3, 3, 2.
        assert_eq!(
            ids(&allocate_averagely(queues(8), clients(3), "c0")),
            [0, 1, 2]
        );
        assert_eq!(
            ids(&allocate_averagely(queues(8), clients(3), "c1")),
            [3, 4, 5]
        );
        assert_eq!(
            ids(&allocate_averagely(queues(8), clients(3), "c2")),
            [6, 7]
        );
        // More clients than queues: one each, the rest idle.
        assert_eq!(ids(&allocate_averagely(queues(2), clients(3), "c1")), [1]);
        assert!(allocate_averagely(queues(2), clients(3), "c2").is_empty());
    }

    #[test]
    fn input_order_does_not_matter_and_strangers_get_nothing() {
        let mut shuffled = queues(5);
        shuffled.reverse();
        let mut members = clients(2);
        members.reverse();
        assert_eq!(ids(&allocate_averagely(shuffled, members, "c0")), [0, 1, 2]);
        assert!(allocate_averagely(queues(4), clients(2), "other").is_empty());
    }

    #[test]
    fn every_queue_owned_exactly_once() {
        for queue_count in 0..12 {
            for client_count in 1..6 {
                let mut owned: Vec<i32> = clients(client_count)
                    .iter()
                    .flat_map(|c| {
                        ids(&allocate_averagely(
                            queues(queue_count),
                            clients(client_count),
                            c,
                        ))
                    })
                    .collect();
                owned.sort_unstable();
                assert_eq!(owned, (0..queue_count).collect::<Vec<_>>());
            }
        }
    }
}
