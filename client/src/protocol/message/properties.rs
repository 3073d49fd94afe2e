//! The properties string of a stored message (protocol.md §5.3) and the tag hash code that
//! consume-queue units store (§4.3).
//!
//! ```text
//!  name \u0001 value \u0002 name \u0001 value        Java: no trailing \u0002; Go: one per pair
//! ```

use std::collections::HashMap;

use super::{NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR};

/// Well-known property names (Java `MessageConst`, protocol.md §5.3), spelled as on the wire.
pub mod property {
    /// Space-separated user keys, each indexed.
    pub const KEYS: &str = "KEYS";
    /// The tag, hashed into the consume-queue unit.
    pub const TAGS: &str = "TAGS";
    /// waitStoreMsgOK (absent = true); the broker strips it before storing.
    pub const WAIT: &str = "WAIT";
    /// Delay level 1..N.
    pub const DELAY: &str = "DELAY";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    pub const BUYER_ID: &str = "BUYER_ID";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
    pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
    pub const MQ2_FLAG: &str = "MQ2_FLAG";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_ON: &str = "TRACE_ON";
    /// The client-generated message id, indexed.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
    pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    pub const INSTANCE_ID: &str = "INSTANCE_ID";
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    pub const TTL: &str = "TTL";
    pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    pub const MSG_TYPE: &str = "MSG_TYPE";
    /// Added by the broker on every send.
    pub const CLUSTER: &str = "CLUSTER";
    pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
    pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
}

/// A message's properties: an ordered map backed by a `Vec`.
///
/// Why a `Vec` and not a `HashMap` or `BTreeMap`: a message has a handful of properties, so a
/// linear scan beats hashing, and keeping insertion order makes re-encoding byte-stable (a
/// record decoded and re-encoded keeps the sender's order; a sorted map would reorder it).
/// `insert` replaces an existing value in place, so a name keeps its first position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(entry_name, _)| entry_name == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, returning the previous value. Neither may contain the
    /// separators (`\u{1}`, `\u{2}`) nor be empty, or the property will not survive decoding.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let name = name.into();
        let value = value.into();
        match self
            .entries
            .iter_mut()
            .find(|(entry_name, _)| *entry_name == name)
        {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<String> {
        let position = self
            .entries
            .iter()
            .position(|(entry_name, _)| entry_name == name)?;
        Some(self.entries.remove(position).1)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut properties = Self::new();
        for (name, value) in iter {
            properties.insert(name, value);
        }
        properties
    }
}

/// Java's `messageProperties2String`: `name\u1value\u2name\u1value`, no trailing separator.
pub fn encode_properties(properties: &Properties) -> String {
    let capacity = properties
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum();
    let mut text = String::with_capacity(capacity);
    for (index, (name, value)) in properties.iter().enumerate() {
        if index > 0 {
            text.push(PROPERTY_SEPARATOR);
        }
        text.push_str(name);
        text.push(NAME_VALUE_SEPARATOR);
        text.push_str(value);
    }
    text
}

/// Java's `string2messageProperties`: entries without a non-empty name and value are skipped
/// (which also skips Java's "shorter than 3" entries and Go's trailing separator), and a
/// repeated name takes its last value.
pub fn decode_properties(text: &str) -> Properties {
    let mut properties = Properties::new();
    // An index keeps decoding linear even for a hostile string of thousands of repeats.
    let mut positions: HashMap<&str, usize> = HashMap::new();
    for (name, value) in property_entries(text) {
        match positions.get(name) {
            Some(&position) => {
                if let Some(entry) = properties.entries.get_mut(position) {
                    entry.1 = value.to_owned();
                }
            }
            None => {
                positions.insert(name, properties.entries.len());
                properties.entries.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    properties
}

/// The value of `name` in an encoded properties string, by the rules of [`decode_properties`],
/// without allocating: what a dispatcher needs from each record.
pub fn find_property<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    property_entries(text)
        .filter(|(entry_name, _)| *entry_name == name)
        .last()
        .map(|(_, value)| value)
}

/// Several values in one pass: `[find_property(text, names[0]), ...]` for what an append
/// needs from every record (tags, keys, unique key, delay level).
pub fn find_properties<'t, const N: usize>(
    text: &'t str,
    names: [&str; N],
) -> [Option<&'t str>; N] {
    let mut found = [None; N];
    for (entry_name, value) in property_entries(text) {
        if let Some(slot) = names.iter().position(|name| *name == entry_name) {
            found[slot] = Some(value);
        }
    }
    found
}

fn property_entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(PROPERTY_SEPARATOR)
        .filter_map(|entry| entry.split_once(NAME_VALUE_SEPARATOR))
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
}

/// The consume-queue tags code of a tag: Java's `String.hashCode()` over UTF-16 code units
/// (h = 31·h + c, wrapping at 32 bits), sign-extended (protocol.md §4.3). An empty tag gives 0,
/// as does a message without tags. Go hashes UTF-8 bytes instead, which differs for non-ASCII
/// tags; brokers must use this one.
pub fn tag_hash_code(tag: &str) -> i64 {
    let hash = tag.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    i64::from(hash)
}
