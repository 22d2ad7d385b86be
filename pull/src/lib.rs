//! defender-bridge pull: reads the Microsoft Defender for Endpoint and Defender XDR (Graph
//! security) APIs incrementally and hands mapped records to a host (CLI, Fluent Bit plugin).
//!
//! The pieces: [`PullConfig`] (settings by key), `auth` (OAuth2 client credentials with a secret
//! or a certificate assertion), `http` (rustls client, retries, rate limits), `sources` (one
//! module per API), `checkpoint` (atomic cursor files), [`Engine`] (worker threads, bounded queue,
//! acknowledgements) and [`emulator`] (a loopback API server for tests and demos).
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

mod auth;
mod checkpoint;
mod config;
pub mod emulator;
mod engine;
mod http;
mod log;
mod retry;
mod secret;
mod sources;
#[doc(hidden)]
pub mod testing;
mod time;

pub use config::{Cloud, ConfigError, PullConfig, SourceKind, Target};
pub use engine::{Batch, Encoder, Engine, Stats};
pub use log::{Level, Logger, StderrLogger};
pub use secret::Secret;

use std::fmt;

/// Why the engine could not start (bad credentials file, unwritable state directory, …).
#[derive(Debug)]
pub struct PullError {
    pub message: String,
}

impl PullError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        PullError {
            message: message.into(),
        }
    }
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PullError {}

impl From<ConfigError> for PullError {
    fn from(e: ConfigError) -> Self {
        PullError::new(e.to_string())
    }
}
