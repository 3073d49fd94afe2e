//! `UNIQ_KEY` generation: the producer-side message id (protocol.md §5.4), which consumers
//! show as the message id. Brokers and consumers treat it as an opaque string.
//!
//! Layout, 16 bytes written as 32 uppercase hex characters:
//!
//! ```text
//!  4  IPv4 address of this host (an IPv6 address contributes its last 4 bytes)
//!  2  low 16 bits of the process id
//!  4  random per generator, so that two processes that share an ip and (truncated) pid,
//!     or one restarted process, do not repeat each other (Java puts a class-loader hash here)
//!  4  milliseconds since the generator was created, wrapping after ~49 days
//!  2  counter, wrapping
//! ```
//!
//! An id repeats only if one generator issues 65,536 ids within one millisecond, or after
//! the 49-day wrap lands on the same millisecond and counter.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

/// Issues unique ids; one per producer.
#[derive(Debug)]
pub struct UniqIdGenerator {
    /// Bytes 0..10 of every id: ip, pid, random.
    prefix: [u8; 10],
    started: Instant,
    counter: AtomicU16,
}

impl UniqIdGenerator {
    pub fn new(ip: IpAddr, pid: u32) -> Self {
        let ip_bytes: [u8; 4] = match ip {
            IpAddr::V4(v4) => v4.octets(),
            IpAddr::V6(v6) => {
                let octets = v6.octets();
                [octets[12], octets[13], octets[14], octets[15]]
            }
        };
        let mut prefix = [0u8; 10];
        prefix[..4].copy_from_slice(&ip_bytes);
        prefix[4..6].copy_from_slice(&((pid & 0xFFFF) as u16).to_be_bytes());
        prefix[6..10].copy_from_slice(&rand::random::<u32>().to_be_bytes());
        UniqIdGenerator {
            prefix,
            started: Instant::now(),
            counter: AtomicU16::new(0),
        }
    }

    /// The next id, 32 uppercase hex characters.
    pub fn next_id(&self) -> String {
        let elapsed_ms = (self.started.elapsed().as_millis() & u128::from(u32::MAX)) as u32;
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..10].copy_from_slice(&self.prefix);
        bytes[10..14].copy_from_slice(&elapsed_ms.to_be_bytes());
        bytes[14..16].copy_from_slice(&counter.to_be_bytes());
        let mut text = String::with_capacity(32);
        for byte in bytes {
            text.push_str(&format!("{byte:02X}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn ids_are_32_uppercase_hex_with_ip_and_pid_first() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)), 0x1_2345);
        let id = generator.next_id();
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("0A0000052345"), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn ids_do_not_repeat() {
        let generator = UniqIdGenerator::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        let ids: HashSet<String> = (0..10_000).map(|_| generator.next_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
