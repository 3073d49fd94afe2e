//! The RocketMQ 4.x remoting protocol as a pure codec: no sockets, no clocks, no tokio.
//!
//! Servers and clients share this module so that both sides of every byte are written once.
//! Decoding distinguishes "need more bytes" (`Ok(None)`) from "bad bytes" (`Err`), and every
//! length read from the wire is checked against its limit before anything is allocated.

pub mod batch;
mod binary_header;
pub mod body;
pub mod broker_header;
pub mod code;
pub mod command;
pub mod compression;
pub mod error;
pub mod frame;
pub mod header;
pub mod heartbeat;
mod json_header;
pub mod lenient_json;
pub mod message;
pub mod route;
pub mod subscription_group;
pub mod topic_config;

pub use code::{LanguageCode, RequestCode, ResponseCode};
pub use command::{ExtFields, RemotingCommand, SerializeType};
pub use error::ProtocolError;
pub use frame::{MAX_FRAME_BYTES, decode_frame, encode_frame};
