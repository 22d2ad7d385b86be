//! One worker thread per source: load the cursor, poll, hand records to the engine's bounded
//! queue (blocking when it is full: back-pressure), sleep, repeat until stopped.

use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use defender_bridge::{Mapper, Options, Output};
use serde_json::Value;

use super::{incremental, inventory, Paging, Spec};
use crate::checkpoint::{Cursor, Seen};
use crate::config::{PullConfig, Target};
use crate::engine::{Chunk, Stats};
use crate::http::{Fault, Http};
use crate::log::Log;
use crate::retry::RateLimiter;
use crate::time;

/// Everything a worker needs, built by the engine.
pub struct WorkerSetup {
    pub index: usize,
    pub spec: Spec,
    pub config: Arc<PullConfig>,
    pub http: Arc<Http>,
    pub limiter: Arc<RateLimiter>,
    pub cursor: Cursor,
    pub tx: SyncSender<Chunk>,
    pub stats: Arc<Stats>,
    pub log: Log,
}

/// The shared state of a poll: where it stands, and the chunk being filled.
pub struct Worker {
    pub s: WorkerSetup,
    pub seen: Seen,
    records: Vec<Output>,
    mapper: Option<Mapper>,
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

    /// Fetches one page; the records are its `value` array.
    pub fn get(&self, url: &str) -> Result<(Vec<Value>, Option<String>), Fault> {
        let page = self.s.http.get_page(url, self.scope(), &self.s.limiter)?;
        let Value::Object(mut map) = page else {
            return Err(Fault::Transient("the page is not a JSON object".into()));
        };
        let next = map
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        let records = match map.remove("value") {
            Some(Value::Array(v)) => v,
            _ => return Err(Fault::Transient("the page has no value array".into())),
        };
        self.s.stats.sources[self.s.index]
            .fetched
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok((records, next))
    }

    /// Maps one record into the chunk being filled; sends the chunk when it is full.
    pub fn emit(&mut self, record: Value) -> Result<(), Fault> {
        match &self.mapper {
            None => self.records.push(Output::Document(record)),
            Some(m) => m.map_value(record, &mut |o: Output| self.records.push(o)),
        }
        self.s.stats.sources[self.s.index]
            .delivered
            .fetch_add(1, Ordering::Relaxed);
        if self.records.len() >= self.s.config.batch_max_records {
            self.flush(true)?;
        }
        Ok(())
    }

    /// Sends what has been mapped, with the cursor as it stands after it. `with_cursor = false`
    /// sends records without moving the checkpoint (mid-page, before the cursor is consistent).
    pub fn flush(&mut self, with_cursor: bool) -> Result<(), Fault> {
        if self.records.is_empty() && (!with_cursor || self.sent.as_ref() == Some(&self.s.cursor)) {
            return Ok(());
        }
        if with_cursor {
            self.sent = Some(self.s.cursor.clone());
        }
        let chunk = Chunk {
            source: self.s.index,
            records: std::mem::take(&mut self.records),
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

/// The worker thread's body.
pub fn run(setup: WorkerSetup) {
    let seen = Seen::from_cursor(&setup.cursor);
    let sent = Some(setup.cursor.clone());
    let mut w = Worker {
        s: setup,
        seen,
        records: Vec::new(),
        mapper: None,
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
