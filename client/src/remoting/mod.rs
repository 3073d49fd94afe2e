//! The tokio transport of the remoting protocol: framed connections, a server that dispatches
//! requests to a processor, and a client that matches responses to requests by opaque.

mod client;
mod connection;
mod error;
mod server;
mod shutdown;

pub use client::{ClientConfig, InboundRequestHandler, RemotingClient};
pub use connection::ConnectionHandle;
pub use error::RemotingError;
pub use server::{RequestProcessor, ServerConfig, serve};
pub use shutdown::{Shutdown, ShutdownTrigger, shutdown_channel, ticker, wait_for_signal};
