//! The Bolide broker. A skeleton until the broker issue lands: the store, request processors
//! and registration come there. Nothing here pretends to serve requests.

/// What the binary says when started, so an operator is never misled into thinking a broker
/// is running.
pub const NOT_IMPLEMENTED: &str =
    "mqbroker: the Bolide broker is not implemented yet; only the name server runs in this version";
