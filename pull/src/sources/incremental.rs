//! Incremental polling by last-update time. Each poll starts `overlap` before the cursor (or
//! `initial_lookback` before now on the first run) so that records indexed late are not missed;
//! records already delivered in that window are recognised by (id, last-update time) and skipped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::worker::{Scanned, Worker};
use super::{first_url, Paging};
use crate::http::{Fault, Page};
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
    let keyset_url = |from: Nanos, skip: usize| {
        first_url(
            &spec,
            &base,
            &time::format(from),
            skip,
            top,
            cfg.incidents_expand_alerts,
        )
    };
    let mut url = first_url(
        &spec,
        &base,
        &time::format(start),
        0,
        top,
        cfg.incidents_expand_alerts,
    );
    // A page prefetched by a poll that failed is not this poll's.
    w.discard_prefetch();
    loop {
        let (page, next) = w.get_next(&url)?;
        let records = page.records();
        let count = records.len();
        // The next page's URL, guessed from this page's last records (pages come in time order),
        // starts being fetched while this page is mapped; the URL computed below must match it.
        let guess = match spec.paging {
            Paging::NextLink => next.clone(),
            _ if count < top => None,
            _ => {
                let (t, n) = guess_tail(w, &page, tail_t, tail_n)?;
                let (from, skip) = keyset_step(t, n, from, skip, count);
                Some(keyset_url(from, skip))
            }
        };
        if let Some(u) = guess.filter(|_| !w.s.http.stop.is_stopped()) {
            w.prefetch(u);
        }
        for text in records {
            let Scanned {
                id,
                time: at,
                record,
            } = w.record(text)?;
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
                    w.emit(record, text)?;
                }
                // No id or time: cannot be de-duplicated or advance the cursor, but is never dropped.
                _ => w.emit(record, text)?,
            }
        }
        // The page is done: its records and the cursor after them go out together.
        w.flush(true)?;
        let more = match spec.paging {
            Paging::NextLink => next,
            _ if count < top => None,
            _ => {
                (from, skip) = keyset_step(tail_t, tail_n, from, skip, count);
                Some(keyset_url(from, skip))
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

/// The keyset query after a full page: from the latest time seen, past the records already walked
/// at that time; or, when the whole page was at the query's lower bound, `$skip` over it.
fn keyset_step(
    tail_t: Nanos,
    tail_n: usize,
    from: Nanos,
    skip: usize,
    count: usize,
) -> (Nanos, usize) {
    if tail_t > from {
        (tail_t, tail_n)
    } else {
        // A whole page at one time: step over it with $skip.
        (from, skip + count)
    }
}

/// The latest time and its count after `page`, from its last records only: exact when the page
/// is in time order (the query asks for that); a wrong guess only costs a request.
fn guess_tail(
    w: &mut Worker,
    page: &Page,
    mut tail_t: Nanos,
    mut tail_n: usize,
) -> Result<(Nanos, usize), Fault> {
    let mut last: Option<(Nanos, usize)> = None;
    for text in page.records().rev() {
        let Some(at) = w.record(text)?.time else {
            continue;
        };
        match last {
            None => last = Some((at, 1)),
            Some((t, n)) if t == at => last = Some((t, n + 1)),
            Some(_) => break,
        }
    }
    if let Some((t, n)) = last {
        if t == tail_t {
            tail_n += n;
        } else if t > tail_t {
            (tail_t, tail_n) = (t, n);
        }
    }
    Ok((tail_t, tail_n))
}
