//! Incremental polling by last-update time. Each poll starts `overlap` before the cursor (or
//! `initial_lookback` before now on the first run) so that records indexed late are not missed;
//! records already delivered in that window are recognised by (id, last-update time) and skipped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::worker::Worker;
use super::{first_url, Paging};
use crate::http::Fault;
use crate::time::{self, Nanos};

/// Runs one poll to the end of the data; returns how long to wait before the next.
pub fn poll(w: &mut Worker) -> Result<Duration, Fault> {
    let cfg = w.s.config.clone();
    let overlap = time::dur(cfg.overlap);
    let start = match w.s.cursor.since {
        Some(since) => since.saturating_sub(overlap),
        None => time::now().saturating_sub(time::dur(cfg.initial_lookback)),
    };
    let top = w.page_size();
    let base = w.base().to_string();
    let spec = w.s.spec;
    // Keyset paging state: the query's lower bound, how many records at exactly that time were
    // already walked, and the latest time seen with its count.
    let (mut from, mut skip) = (start, 0usize);
    let (mut tail_t, mut tail_n): (Nanos, usize) = (start, 0);
    let mut url = first_url(
        &spec,
        &base,
        &time::format(start),
        0,
        top,
        cfg.incidents_expand_alerts,
    );
    loop {
        let (records, next) = w.get(&url)?;
        let count = records.len();
        for record in records {
            let at = record
                .get(spec.time_field)
                .and_then(Value::as_str)
                .and_then(time::parse);
            let id = record.get("id").and_then(Value::as_str).map(str::to_string);
            if let Some(at) = at {
                if at == tail_t {
                    tail_n += 1;
                } else if at > tail_t {
                    (tail_t, tail_n) = (at, 1);
                }
            }
            match (id, at) {
                (Some(id), Some(at)) => {
                    if w.seen.contains(&id, at) {
                        w.s.stats.sources[w.s.index]
                            .duplicates_skipped
                            .fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let c = &mut w.s.cursor;
                    c.since = Some(c.since.map_or(at, |s| s.max(at)));
                    w.seen
                        .insert(&mut w.s.cursor, &id, at, overlap, cfg.max_seen);
                    w.emit(record)?;
                }
                // No id or time: cannot be de-duplicated or advance the cursor, but is never dropped.
                _ => w.emit(record)?,
            }
        }
        // The page is done: its records and the cursor after them go out together.
        w.flush(true)?;
        let more = match spec.paging {
            Paging::NextLink => next,
            _ if count < top => None,
            _ => {
                if tail_t > from {
                    (from, skip) = (tail_t, tail_n);
                } else {
                    // A whole page at one time: step over it with $skip.
                    skip += count;
                }
                Some(first_url(
                    &spec,
                    &base,
                    &time::format(from),
                    skip,
                    top,
                    cfg.incidents_expand_alerts,
                ))
            }
        };
        match more {
            Some(u) => url = u,
            None => return Ok(cfg.poll_interval),
        }
        if w.s.http.stop.is_stopped() {
            return Err(Fault::Stopped);
        }
    }
}
