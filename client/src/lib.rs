//! Bolide's client crate: the RocketMQ 4.x wire protocol (`protocol`, a pure codec shared
//! with the servers), the tokio transport (`remoting`), and the client APIs built on them.

pub mod admin;
pub mod bench;
pub mod consumer;
pub mod lite_pull;
pub mod namesrv;
pub mod process;
pub mod producer;
pub mod properties;
pub mod protocol;
pub mod quickstart;
pub mod remoting;
