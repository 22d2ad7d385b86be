//! Full inventory sweeps (machines): every `machines_interval`, the whole collection page by
//! page with `$top`/`$skip`. The cursor keeps the sweep's offset, so a restart resumes the sweep
//! where the acknowledged records end instead of starting over.

use std::time::Duration;

use super::first_url;
use super::worker::Worker;
use crate::http::Fault;
use crate::time;

pub fn poll(w: &mut Worker) -> Result<Duration, Fault> {
    let interval = w.s.config.machines_interval;
    let now = time::now();
    if w.s.cursor.sweep_started.is_none() {
        if let Some(last) = w.s.cursor.last_sweep {
            let due = last.saturating_add(time::dur(interval));
            if now < due {
                return Ok(Duration::from_nanos((due - now) as u64));
            }
        }
        w.s.cursor.sweep_started = Some(now);
        w.s.cursor.sweep_offset = 0;
    }
    let top = w.page_size();
    let base = w.base().to_string();
    let spec = w.s.spec;
    loop {
        let url = first_url(
            &spec,
            &base,
            "",
            w.s.cursor.sweep_offset as usize,
            top,
            false,
        );
        let (page, _) = w.get(&url)?;
        let records = page.records();
        let count = records.len();
        for text in records {
            let record = w.record(text)?.record;
            w.s.cursor.sweep_offset += 1;
            w.emit(record, text)?;
        }
        if count < top {
            let c = &mut w.s.cursor;
            c.last_sweep = c.sweep_started.take();
            c.sweep_offset = 0;
            w.flush(true)?;
            return Ok(interval);
        }
        w.flush(true)?;
        if w.s.http.stop.is_stopped() {
            return Err(Fault::Stopped);
        }
    }
}
