//! The Bolide broker: RocketMQ 4.x request processing over Bolide's store.
//!
//! A library with a thin `main`: `server::run` serves bound listeners until shutdown, so tests
//! start real brokers in-process on port 0.

pub mod cli;
pub mod client_manager;
pub mod config;
pub mod consumer_offset;
pub mod ha;
pub mod long_polling;
pub mod namesrv_register;
pub mod persist;
pub mod processor;
pub mod schedule;
pub mod server;
pub mod slave_sync;
pub mod store;
pub mod subscription_group;
pub mod topic_config;
pub mod tps;
