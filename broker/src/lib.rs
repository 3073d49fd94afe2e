//! The Bolide broker. The store (`store`) is being built; request processing and
//! registration come with the broker issue, and the binary refuses to start until then.

pub mod store;

/// What the binary says when started, so an operator is never misled into thinking a broker
/// is running.
pub const NOT_IMPLEMENTED: &str =
    "mqbroker: the Bolide broker is not implemented yet; only the name server runs in this version";
