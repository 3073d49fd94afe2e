//! `RemotingCommand`: one request or response of the remoting protocol, independent of how
//! its header is serialized on the wire (protocol.md §1.3–§1.6).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::code::{BOLIDE_VERSION, LanguageCode};

/// The "custom header" of a command: string keys to string values. Values are always
/// strings here; decoders stringify the numbers and booleans that C++ clients send.
/// A BTreeMap keeps encoding deterministic, which golden-byte tests rely on.
pub type ExtFields = BTreeMap<String, String>;

/// How a command's header is serialized: the high byte of the header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

impl SerializeType {
    pub fn byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// `flag` bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit 1: the sender expects no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// One request or response. `code` is a request code for requests and a response code for
/// responses; `flag` tells which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    pub serialize_type: SerializeType,
    pub body: Bytes,
}

impl RemotingCommand {
    /// A new request as Bolide sends it: JSON, language JAVA, version 4.9.7. The opaque is
    /// assigned by the transport when the request is sent.
    pub fn request(code: i32, ext_fields: ExtFields) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: BOLIDE_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields,
            serialize_type: SerializeType::Json,
            body: Bytes::new(),
        }
    }

    /// A response to `request`: same opaque, same serialize type (Java re-stamps responses
    /// with the request's type), response flag set.
    pub fn response_to(request: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: BOLIDE_VERSION,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext_fields: ExtFields::new(),
            serialize_type: request.serialize_type,
            body: Bytes::new(),
        }
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_ext_fields(mut self, ext_fields: ExtFields) -> Self {
        self.ext_fields = ext_fields;
        self
    }

    pub fn with_oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// The remark, or "" when absent: convenient for error messages.
    pub fn remark_text(&self) -> &str {
        self.remark.as_deref().unwrap_or("")
    }
}
