//! One worker thread per source: load the cursor, poll, hand records to the engine's bounded
//! queue (blocking when it is full: back-pressure), sleep, repeat until stopped.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use defender_bridge::tree::{self, Node};
use defender_bridge::{Mapper, Options, Output};

use super::{incremental, inventory, Paging, Spec};
use crate::checkpoint::{Cursor, Seen};
use crate::config::{PullConfig, Target};
use crate::engine::{Chunk, Encoder, Stats};
use crate::http::{Fault, Http, Page};
use crate::log::Log;
use crate::retry::RateLimiter;
use crate::time::{self, Nanos};

/// Everything a worker needs, built by the engine.
pub struct WorkerSetup {
    pub index: usize,
    pub spec: Spec,
    pub config: Arc<PullConfig>,
    pub http: Arc<Http>,
    pub limiter: Arc<RateLimiter>,
    pub cursor: Cursor,
    /// Encodes records as soon as they are mapped (see `Engine::start_encoded`).
    pub encoder: Option<Arc<dyn Encoder>>,
    pub tx: SyncSender<Chunk>,
    pub stats: Arc<Stats>,
    pub log: Log,
}

/// A worker's fetch thread: URLs in, pages out, one at a time. Dropping it waits for the thread,
/// so that no request outlives the worker (and the engine, and a plugin library that may be
/// unloaded).
struct Fetcher {
    tx: Option<Sender<String>>,
    rx: Receiver<Result<Page, Fault>>,
    thread: Option<JoinHandle<()>>,
}

impl Fetcher {
    fn start(s: &WorkerSetup) -> Option<Fetcher> {
        let (http, limiter) = (s.http.clone(), s.limiter.clone());
        let scope = if s.spec.kind.is_graph() {
            s.config.graph_scope.clone()
        } else {
            s.config.mde_scope.clone()
        };
        let (tx, urls) = channel::<String>();
        let (pages, rx) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("defender-{}-fetch", s.spec.kind.name()))
            .spawn(move || {
                for url in urls {
                    if pages.send(http.get_page(&url, &scope, &limiter)).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Fetcher {
            tx: Some(tx),
            rx,
            thread: Some(thread),
        })
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed record (its strings borrow the page's text) and the fields the incremental sources
/// key it by.
pub struct Scanned<'a> {
    pub id: Option<String>,
    pub time: Option<Nanos>,
    pub record: Node<'a>,
}

/// The shared state of a poll: where it stands, and the chunk being filled.
pub struct Worker {
    pub s: WorkerSetup,
    pub seen: Seen,
    records: Vec<Output>,
    /// With an encoder: the chunk's records encoded, and the end of each.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    mapper: Option<Mapper>,
    fetcher: Option<Fetcher>,
    /// The URL the fetch thread is getting.
    in_flight: Option<String>,
    /// The cursor last sent, so that a page of nothing new does not cost a checkpoint write.
    sent: Option<Cursor>,
}

impl Worker {
    pub fn base(&self) -> &str {
        if self.s.spec.kind.is_graph() {
            &self.s.config.graph_host
        } else {
            &self.s.config.api_host
        }
    }

    pub fn scope(&self) -> &str {
        if self.s.spec.kind.is_graph() {
            &self.s.config.graph_scope
        } else {
            &self.s.config.mde_scope
        }
    }

    pub fn page_size(&self) -> usize {
        self.s.config.page_size.min(self.s.spec.max_page)
    }

    /// Fetches one page; the records are its `value` array's items, still as text (see
    /// [`Worker::record`]), and the page's `@odata.nextLink`.
    pub fn get(&self, url: &str) -> Result<(Page, Option<String>), Fault> {
        let page = self.s.http.get_page(url, self.scope(), &self.s.limiter);
        self.check(page)
    }

    /// Starts fetching `url` on the worker's fetch thread, to overlap the request with mapping
    /// the page in hand; [`Worker::get_next`] takes it. Does nothing if no thread could start.
    pub fn prefetch(&mut self, url: String) {
        self.discard_prefetch();
        if self.fetcher.is_none() {
            self.fetcher = Fetcher::start(&self.s);
        }
        if let Some(f) = &self.fetcher {
            if f.tx.as_ref().is_some_and(|tx| tx.send(url.clone()).is_ok()) {
                self.in_flight = Some(url);
            }
        }
    }

    /// Waits for a prefetched page nobody will use (a poll that ended early).
    pub fn discard_prefetch(&mut self) {
        if self.in_flight.take().is_some() {
            if let Some(f) = &self.fetcher {
                let _ = f.rx.recv();
            }
        }
    }

    /// The page of `url`: the prefetched one when it is that URL's, else fetched now.
    pub fn get_next(&mut self, url: &str) -> Result<(Page, Option<String>), Fault> {
        if self.in_flight.as_deref() == Some(url) {
            self.in_flight = None;
            let page = match &self.fetcher {
                Some(f) => f.rx.recv().unwrap_or(Err(Fault::Stopped)),
                None => Err(Fault::Stopped),
            };
            return self.check(page);
        }
        if self.in_flight.is_some() {
            // A guess that turned out wrong: wait for it, then fetch the right page.
            self.discard_prefetch();
            self.s.log.debug(&format!(
                "{}: the prefetched page was not the next one",
                self.s.spec.kind.name()
            ));
        }
        self.get(url)
    }

    fn check(&self, page: Result<Page, Fault>) -> Result<(Page, Option<String>), Fault> {
        let page = page?;
        if !page.is_object() {
            return Err(Fault::Transient("the page is not a JSON object".into()));
        }
        let next = page.next_link().map(str::to_string);
        if !page.has_array() {
            return Err(Fault::Transient("the page has no value array".into()));
        }
        self.s.stats.sources[self.s.index]
            .fetched
            .fetch_add(page.records().len() as u64, Ordering::Relaxed);
        Ok((page, next))
    }

    /// Maps one record (parsed from `text`) into the chunk being filled; sends the chunk when it
    /// is full.
    pub fn emit<'a>(&mut self, record: Node<'a>, text: &'a str) -> Result<(), Fault> {
        match (&self.s.encoder, &self.mapper) {
            // Encoded at once, documents from their trees (no JSON text is written for them):
            // the trees are freed here, hot, by the thread that built them.
            (Some(encoder), Some(mapper)) => {
                let mut sink = EncodeSink {
                    encoder: encoder.as_ref(),
                    bytes: &mut self.bytes,
                    ends: &mut self.ends,
                };
                mapper.map_node_with_text(record, text, &mut sink);
            }
            (Some(encoder), None) => {
                map_record(None, record, text, &mut self.records);
                for output in self.records.drain(..) {
                    encoder.output(&output, &mut self.bytes);
                    self.ends.push(self.bytes.len());
                }
            }
            (None, mapper) => map_record(mapper.as_ref(), record, text, &mut self.records),
        }
        self.s.stats.sources[self.s.index]
            .delivered
            .fetch_add(1, Ordering::Relaxed);
        if self.records.len() + self.ends.len() >= self.s.config.batch_max_records {
            self.flush(true)?;
        }
        Ok(())
    }

    /// Parses one record of a page, with its `id` and time field (when they are strings).
    pub fn record<'a>(&mut self, text: &'a str) -> Result<Scanned<'a>, Fault> {
        let value = parse_record(text)?;
        let field = |k: &str| value.get(k).and_then(Node::as_str);
        Ok(Scanned {
            id: field("id").map(str::to_string),
            time: field(self.s.spec.time_field).and_then(time::parse),
            record: value,
        })
    }

    /// Sends what has been mapped, with the cursor as it stands after it. `with_cursor = false`
    /// sends records without moving the checkpoint (mid-page, before the cursor is consistent).
    pub fn flush(&mut self, with_cursor: bool) -> Result<(), Fault> {
        let empty = self.records.is_empty() && self.ends.is_empty();
        if empty && (!with_cursor || self.sent.as_ref() == Some(&self.s.cursor)) {
            return Ok(());
        }
        if with_cursor {
            self.sent = Some(self.s.cursor.clone());
        }
        let size = self.bytes.len();
        let chunk = Chunk {
            source: self.s.index,
            records: std::mem::take(&mut self.records),
            // The next chunk's buffer is sized like this one's.
            bytes: std::mem::replace(&mut self.bytes, Vec::with_capacity(size)),
            ends: std::mem::take(&mut self.ends),
            cursor: with_cursor.then(|| self.s.cursor.clone()),
        };
        // Blocks while the queue is full; fails only when the engine dropped the receiver.
        self.s.tx.send(chunk).map_err(|_| Fault::Stopped)
    }

    fn refresh_mapper(&mut self) {
        let c = &self.s.config;
        self.mapper = match c.target {
            Target::Raw => None,
            t => Some(Mapper::new(Options {
                target: if t == Target::Sentinel {
                    defender_bridge::Target::Sentinel
                } else {
                    defender_bridge::Target::Ecs
                },
                preserve_original_event: c.preserve_original_event,
                preserve_duplicate_custom_fields: c.preserve_duplicate_custom_fields,
                now: Some(time::format(time::now())),
                ..Options::default()
            })),
        };
    }
}

/// Maps one record (`None`: the raw target, the record as it is) onto `out`. `text` is the
/// record's source in the page: it becomes `event.original` without serialising the record again,
/// and the record's strings borrow it, so mapping copies none of them.
fn map_record<'a>(mapper: Option<&Mapper>, record: Node<'a>, text: &'a str, out: &mut Vec<Output>) {
    match mapper {
        None => out.push(Output::document(&record)),
        Some(m) => m.map_node_with_text(record, text, &mut |o: Output| out.push(o)),
    }
}

/// Hands a worker's mapped records to its encoder, documents as trees.
struct EncodeSink<'w> {
    encoder: &'w dyn Encoder,
    bytes: &'w mut Vec<u8>,
    ends: &'w mut Vec<usize>,
}

impl defender_bridge::Sink for EncodeSink<'_> {
    fn emit(&mut self, output: Output) {
        self.encoder.output(&output, self.bytes);
        self.ends.push(self.bytes.len());
    }

    fn document(&mut self, document: &Node<'_>) -> bool {
        self.encoder.document(document, self.bytes);
        self.ends.push(self.bytes.len());
        true
    }
}

/// Parses one record of a page (into the core's borrowed tree: the mapping reads it as it is).
/// The page was checked to be JSON when it was fetched; what can still fail here (nesting
/// deeper than the parser allows, a lone surrogate escape) fails the page, as a parse of the
/// whole page would have.
pub fn parse_record(text: &str) -> Result<Node<'_>, Fault> {
    tree::parse(text).map_err(|e| Fault::Transient(format!("the page is not valid JSON: {e}")))
}

/// The worker thread's body.
pub fn run(setup: WorkerSetup) {
    let seen = Seen::from_cursor(&setup.cursor);
    let sent = Some(setup.cursor.clone());
    let mut w = Worker {
        s: setup,
        seen,
        records: Vec::new(),
        bytes: Vec::new(),
        ends: Vec::new(),
        mapper: None,
        fetcher: None,
        in_flight: None,
        sent,
    };
    let name = w.s.spec.kind.name();
    w.s.log.info(&format!("{name}: started"));
    loop {
        if w.s.http.stop.is_stopped() {
            break;
        }
        w.refresh_mapper();
        let result = match w.s.spec.paging {
            Paging::Inventory => inventory::poll(&mut w),
            _ => incremental::poll(&mut w),
        };
        let wait = match result {
            Ok(wait) => {
                w.s.stats.sources[w.s.index]
                    .polls
                    .fetch_add(1, Ordering::Relaxed);
                wait
            }
            Err(Fault::Stopped) => break,
            Err(Fault::Transient(m)) => {
                w.s.stats.sources[w.s.index]
                    .errors
                    .fetch_add(1, Ordering::Relaxed);
                w.s.log.warn(&format!(
                    "{name}: poll failed, retrying at the next poll: {m}"
                ));
                w.s.config.poll_interval
            }
            Err(Fault::Fatal(m)) => {
                w.s.stats.sources[w.s.index]
                    .errors
                    .fetch_add(1, Ordering::Relaxed);
                w.s.log.error(&format!("{name}: {m}"));
                w.s.config.poll_interval.max(Duration::from_millis(10))
            }
        };
        if w.s.http.stop.sleep(wait) {
            break;
        }
    }
    w.s.log.info(&format!("{name}: stopped"));
}
