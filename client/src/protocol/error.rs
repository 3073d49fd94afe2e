//! Errors of the pure codec. Each names the field or length at fault so that a log line
//! about a bad frame is enough to find the peer's bug.

/// Why bytes could not be decoded (or a value could not be encoded).
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame length {length} exceeds the limit of {limit} bytes")]
    FrameTooLarge { length: usize, limit: usize },
    #[error("frame length {length} is too small to hold the header-length word")]
    FrameTooSmall { length: usize },
    #[error("header length {header_length} exceeds the frame's {available} bytes")]
    HeaderLengthExceedsFrame {
        header_length: usize,
        available: usize,
    },
    #[error("unknown serialize type {0} (0 = JSON, 1 = ROCKETMQ)")]
    UnknownSerializeType(u8),
    #[error("header of {length} bytes exceeds the 24-bit header length field")]
    HeaderTooLarge { length: usize },
    #[error("binary header truncated while reading {field}")]
    BinaryHeaderTruncated { field: &'static str },
    #[error("binary header {field} length {length} exceeds the {available} bytes left")]
    BinaryLengthOutOfRange {
        field: &'static str,
        length: i64,
        available: usize,
    },
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("invalid JSON header: {0}")]
    JsonHeader(String),
    #[error("invalid JSON body ({what}): {reason}")]
    JsonBody { what: &'static str, reason: String },
    #[error("invalid body ({what}): {reason}")]
    Body { what: &'static str, reason: String },
    #[error("missing required header field `{0}`")]
    MissingField(&'static str),
    #[error("header field `{field}` has invalid value {value:?}")]
    InvalidField { field: &'static str, value: String },
}
