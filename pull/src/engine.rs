//! The engine: one worker thread per source, a bounded queue of mapped chunks between the workers
//! and the host, and acknowledgement tracking. A chunk's cursor is written to its checkpoint only
//! when it and every earlier chunk of the same source were acknowledged, so the checkpoint never
//! covers records the host did not take.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use defender_bridge::tree::Node;
use defender_bridge::Output;

use crate::checkpoint::{Cursor, Store};
use crate::config::PullConfig;
use crate::http::Http;
use crate::log::{Log, Logger};
use crate::retry::{RateLimiter, Stop};
use crate::sources::{self, WorkerSetup};
use crate::PullError;

/// Turns mapped records into the bytes a host wants (see [`Engine::start_encoded`]).
pub trait Encoder: Send + Sync {
    /// Encodes an output: an error record, or a document of the raw target.
    fn output(&self, output: &Output, buf: &mut Vec<u8>);
    /// Encodes a mapped document from its tree, before any JSON text is written for it. The
    /// default writes the text and encodes that.
    fn document(&self, document: &Node<'_>, buf: &mut Vec<u8>) {
        self.output(&Output::document(document), buf)
    }
}

impl<F: Fn(&Output, &mut Vec<u8>) + Send + Sync> Encoder for F {
    fn output(&self, output: &Output, buf: &mut Vec<u8>) {
        self(output, buf)
    }
}

/// Mapped records of one source, and the cursor after them (if the checkpoint may move): as
/// values, or encoded (`bytes`, with the end offset of each record in `ends`).
pub(crate) struct Chunk {
    pub source: usize,
    pub records: Vec<Output>,
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
    pub cursor: Option<Cursor>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.records.len() + self.ends.len()
    }

    /// Moves the first `n` records (values or bytes) to `batch`.
    fn take_front(&mut self, n: usize, batch: &mut Batch) {
        let rest = self.records.split_off(n.min(self.records.len()));
        batch
            .records
            .append(&mut std::mem::replace(&mut self.records, rest));
        let n = n.min(self.ends.len());
        if n == 0 {
            return;
        }
        let cut = self.ends[n - 1];
        if n == self.ends.len() && batch.bytes.is_empty() {
            batch.bytes = std::mem::take(&mut self.bytes);
        } else {
            batch.bytes.extend_from_slice(&self.bytes[..cut]);
            self.bytes.drain(..cut);
        }
        self.ends.drain(..n);
        for e in &mut self.ends {
            *e -= cut;
        }
        batch.encoded += n;
    }
}

/// Counters of one source.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub name: &'static str,
    /// Polls (or inventory sweeps) completed without error.
    pub polls: AtomicU64,
    /// Records received from the API.
    pub fetched: AtomicU64,
    /// Records handed to the queue (before mapping: one API record may map to several outputs).
    pub delivered: AtomicU64,
    /// Records skipped as already delivered inside the overlap window.
    pub duplicates_skipped: AtomicU64,
    pub errors: AtomicU64,
    /// Checkpoint writes.
    pub checkpoints: AtomicU64,
}

/// Counters for logs, tests and the CLI summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub http_requests: AtomicU64,
    pub http_retries: AtomicU64,
    /// Retries that waited for a Retry-After (429, 503) or a renewed token.
    pub http_throttled: AtomicU64,
    pub token_requests: AtomicU64,
    /// Tokens renewed because an API answered 401 (expired or revoked early).
    pub token_renewals_401: AtomicU64,
    pub sources: Vec<SourceStats>,
}

impl Stats {
    pub fn source(&self, name: &str) -> Option<&SourceStats> {
        self.sources.iter().find(|s| s.name == name)
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Acknowledgements of one source: delivery sequence numbers in, checkpoint writes out.
struct AckTracker {
    next_seq: u64,
    next_commit: u64,
    done: BTreeMap<u64, Option<Cursor>>,
    store: Store,
}

impl AckTracker {
    fn ack(&mut self, seq: u64, cursor: Option<Cursor>, log: &Log, stats: &SourceStats) {
        self.done.insert(seq, cursor);
        let mut latest = None;
        while let Some(c) = self.done.remove(&self.next_commit) {
            self.next_commit += 1;
            if c.is_some() {
                latest = c;
            }
        }
        if let Some(c) = latest {
            match self.store.save(&c) {
                Ok(()) => {
                    stats.checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                Err(m) => log.error(&format!("{}: checkpoint not saved: {m}", stats.name)),
            }
        }
    }
}

struct Shared {
    trackers: Vec<Mutex<AckTracker>>,
    stats: Arc<Stats>,
    log: Log,
}

/// Records handed to the host; [`Batch::ack`] lets the checkpoints move past them.
pub struct Batch {
    pub records: Vec<Output>,
    /// With [`Engine::start_encoded`]: the records, encoded one after the other.
    pub bytes: Vec<u8>,
    /// How many records `bytes` holds.
    pub encoded: usize,
    acks: Vec<(usize, u64, Option<Cursor>)>,
    shared: Arc<Shared>,
}

impl Batch {
    /// The number of records, as values and encoded.
    pub fn len(&self) -> usize {
        self.records.len() + self.encoded
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The host took the records. A batch dropped without `ack` is delivered again after a restart.
    pub fn ack(self) {
        for (source, seq, cursor) in self.acks {
            let mut t = self.shared.trackers[source]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            t.ack(
                seq,
                cursor,
                &self.shared.log,
                &self.shared.stats.sources[source],
            );
        }
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("records", &self.records.len())
            .field("encoded", &self.encoded)
            .finish_non_exhaustive()
    }
}

pub struct Engine {
    rx: Mutex<Option<Receiver<Chunk>>>,
    /// The rest of a chunk larger than the last `take` wanted.
    pending: Mutex<Option<Chunk>>,
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    workers: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Loads the checkpoints and spawns one worker per source; returns at once.
    pub fn start(config: PullConfig, logger: Arc<dyn Logger>) -> Result<Engine, PullError> {
        Engine::start_with(config, logger, None)
    }

    /// Like [`Engine::start`], but each worker encodes its records with `encode` as soon as they
    /// are mapped, and batches hand them over in [`Batch::bytes`] (`records` stays empty): the
    /// queue then holds bytes instead of value trees (several times smaller), and the trees are
    /// freed by the thread that built them.
    pub fn start_encoded(
        config: PullConfig,
        logger: Arc<dyn Logger>,
        encode: Box<dyn Encoder>,
    ) -> Result<Engine, PullError> {
        Engine::start_with(config, logger, Some(Arc::from(encode)))
    }

    fn start_with(
        config: PullConfig,
        logger: Arc<dyn Logger>,
        encoder: Option<Arc<dyn Encoder>>,
    ) -> Result<Engine, PullError> {
        let log = Log::new(logger, config.log_level, config.secrets());
        let config = Arc::new(config);
        let stats = Arc::new(Stats {
            sources: config
                .sources
                .iter()
                .map(|k| SourceStats {
                    name: k.name(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        let stop = Arc::new(Stop::default());
        let http = Arc::new(
            Http::new(&config, stop.clone(), stats.clone(), log.clone()).map_err(PullError::new)?,
        );
        let mde = Arc::new(RateLimiter::new(vec![
            (Duration::from_secs(60), config.mde_calls_per_minute),
            (Duration::from_secs(3600), config.mde_calls_per_hour),
        ]));
        let graph = Arc::new(RateLimiter::new(vec![(
            Duration::from_secs(60),
            config.graph_calls_per_minute,
        )]));
        let (tx, rx) = sync_channel(config.queue_batches);

        let mut trackers = Vec::new();
        let mut setups = Vec::new();
        for (index, kind) in config.sources.iter().enumerate() {
            let store =
                Store::new(config.state_dir.as_deref(), kind.name()).map_err(PullError::new)?;
            let cursor = store.load().map_err(PullError::new)?.unwrap_or_default();
            trackers.push(Mutex::new(AckTracker {
                next_seq: 0,
                next_commit: 0,
                done: BTreeMap::new(),
                store,
            }));
            setups.push((index, *kind, cursor));
        }
        let shared = Arc::new(Shared {
            trackers,
            stats: stats.clone(),
            log: log.clone(),
        });
        let mut workers = Vec::new();
        for (index, kind, cursor) in setups {
            let setup = WorkerSetup {
                index,
                spec: sources::spec(kind),
                config: config.clone(),
                http: http.clone(),
                limiter: if kind.is_graph() {
                    graph.clone()
                } else {
                    mde.clone()
                },
                cursor,
                encoder: encoder.clone(),
                tx: tx.clone(),
                stats: stats.clone(),
                log: log.clone(),
            };
            let worker = std::thread::Builder::new()
                .name(format!("defender-{}", kind.name()))
                .spawn(move || sources::run(setup))
                .map_err(|e| PullError::new(format!("cannot start a worker thread: {e}")))?;
            workers.push(worker);
        }
        Ok(Engine {
            rx: Mutex::new(Some(rx)),
            pending: Mutex::new(None),
            shared,
            stop,
            workers,
        })
    }

    /// Up to `max` records ready for delivery, in order; `None` when nothing is ready. Never blocks
    /// on the network.
    pub fn take(&self, max: usize) -> Option<Batch> {
        let max = max.max(1);
        let rx_guard = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let rx = rx_guard.as_ref()?;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = Batch {
            records: Vec::new(),
            bytes: Vec::new(),
            encoded: 0,
            acks: Vec::new(),
            shared: self.shared.clone(),
        };
        while batch.len() < max {
            let mut chunk = match pending.take() {
                Some(c) => c,
                None => match rx.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                },
            };
            let room = max - batch.len();
            let seq = {
                let mut t = self.shared.trackers[chunk.source]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                t.next_seq += 1;
                t.next_seq - 1
            };
            if chunk.len() > room {
                // Split: the first part moves no checkpoint; the rest keeps the chunk's cursor.
                chunk.take_front(room, &mut batch);
                batch.acks.push((chunk.source, seq, None));
                *pending = Some(chunk);
                break;
            }
            let n = chunk.len();
            chunk.take_front(n, &mut batch);
            batch.acks.push((chunk.source, seq, chunk.cursor));
        }
        if batch.is_empty() {
            // Only cursor moves (e.g. an inventory sweep that ended on a full page): nothing to
            // deliver, so they count as acknowledged now.
            if !batch.acks.is_empty() {
                batch.ack();
            }
            return None;
        }
        Some(batch)
    }

    /// Counters, live.
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Stops the workers and waits for them. Records still queued are dropped un-acknowledged:
    /// they come again after a restart.
    pub fn stop(mut self) {
        self.stop.stop();
        // Dropping the receiver wakes workers blocked on a full queue.
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.stop();
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
