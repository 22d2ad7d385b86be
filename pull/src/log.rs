//! Logging through the host: Fluent Bit's levels, a trait the host implements, a stderr logger
//! for the CLI, and a wrapper that filters by level and scrubs secrets from every line.

use std::sync::Arc;

use crate::secret::{scrub, Secret};

/// Log levels with Fluent Bit's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// Where the engine's log lines go. Called from worker threads.
pub trait Logger: Send + Sync {
    fn log(&self, level: Level, message: &str);
}

/// Writes `[level] message` lines to stderr.
pub struct StderrLogger;

impl Logger for StderrLogger {
    fn log(&self, level: Level, message: &str) {
        eprintln!("[{}] {message}", level.name());
    }
}

/// The engine's logger: drops lines above the configured level and removes secrets.
#[derive(Clone)]
pub(crate) struct Log {
    inner: Arc<dyn Logger>,
    max: Level,
    secrets: Arc<Vec<Secret>>,
}

impl Log {
    pub fn new(inner: Arc<dyn Logger>, max: Level, secrets: Vec<Secret>) -> Self {
        Log {
            inner,
            max,
            secrets: Arc::new(secrets),
        }
    }
    pub fn at(&self, level: Level, message: &str) {
        if level <= self.max {
            self.inner.log(level, &scrub(message, &self.secrets));
        }
    }
    pub fn error(&self, m: &str) {
        self.at(Level::Error, m)
    }
    pub fn warn(&self, m: &str) {
        self.at(Level::Warn, m)
    }
    pub fn info(&self, m: &str) {
        self.at(Level::Info, m)
    }
    pub fn debug(&self, m: &str) {
        self.at(Level::Debug, m)
    }
}
