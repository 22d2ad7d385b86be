//! Cursors and their files. A cursor says how far a source has been delivered *and
//! acknowledged*; it is written to `<state_dir>/<source>.json` by write-to-temp, fsync, rename
//! (and a directory fsync), so a kill at any moment leaves the old or the new file, never a torn one.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::time::{self, Nanos};

/// Where a source stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    /// Incremental sources: the largest last-update time delivered.
    pub since: Option<Nanos>,
    /// (id, last-update time) of records delivered within the overlap window before `since`,
    /// oldest first: records seen again in the overlap are skipped.
    pub seen: VecDeque<(String, Nanos)>,
    /// Inventory (machines): when the sweep in progress started, and how many it delivered.
    pub sweep_started: Option<Nanos>,
    pub sweep_offset: u64,
    /// Inventory: when the last complete sweep started.
    pub last_sweep: Option<Nanos>,
}

impl Cursor {
    pub fn to_json(&self) -> Value {
        json!({
            "version": 1,
            "since": self.since.map(time::format),
            "seen": self.seen.iter().map(|(id, t)| json!([id, time::format(*t)])).collect::<Vec<_>>(),
            "sweep_started": self.sweep_started.map(time::format),
            "sweep_offset": self.sweep_offset,
            "last_sweep": self.last_sweep.map(time::format),
        })
    }

    pub fn from_json(v: &Value) -> Option<Cursor> {
        let t = |k: &str| v.get(k).and_then(Value::as_str).and_then(time::parse);
        let mut seen = VecDeque::new();
        for item in v
            .get("seen")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let id = item.get(0)?.as_str()?.to_string();
            let at = time::parse(item.get(1)?.as_str()?)?;
            seen.push_back((id, at));
        }
        Some(Cursor {
            since: t("since"),
            seen,
            sweep_started: t("sweep_started"),
            sweep_offset: v.get("sweep_offset").and_then(Value::as_u64).unwrap_or(0),
            last_sweep: t("last_sweep"),
        })
    }
}

/// The in-memory de-duplication set that goes with a cursor (a set for lookups, the cursor's
/// deque for order and pruning).
#[derive(Default)]
pub struct Seen {
    set: HashSet<(String, Nanos)>,
}

impl Seen {
    pub fn from_cursor(c: &Cursor) -> Seen {
        Seen {
            set: c.seen.iter().cloned().collect(),
        }
    }
    pub fn contains(&self, id: &str, at: Nanos) -> bool {
        self.set.contains(&(id.to_string(), at))
    }
    /// Records a delivery in both, then drops entries older than `since - overlap` and the
    /// oldest beyond `max` (bounded memory; a dropped key can only cause a duplicate, never a loss).
    pub fn insert(&mut self, c: &mut Cursor, id: &str, at: Nanos, overlap: Nanos, max: usize) {
        let horizon = c.since.unwrap_or(at).saturating_sub(overlap);
        // A key older than the next query's start can never come back: no need to keep it.
        if at >= horizon && self.set.insert((id.to_string(), at)) {
            c.seen.push_back((id.to_string(), at));
        }
        while c.seen.front().is_some_and(|(_, t)| *t < horizon) || c.seen.len() > max {
            if let Some(old) = c.seen.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// The checkpoint file of one source, or none (state kept in memory only).
#[derive(Clone)]
pub struct Store {
    path: Option<PathBuf>,
}

impl Store {
    pub fn new(dir: Option<&Path>, source: &str) -> Result<Store, String> {
        let path = match dir {
            None => None,
            Some(d) => {
                fs::create_dir_all(d)
                    .map_err(|e| format!("state_dir {}: {}", d.display(), e.kind()))?;
                Some(d.join(format!("{source}.json")))
            }
        };
        Ok(Store { path })
    }

    /// The saved cursor; a missing file is a first run. An unreadable one is an error, not a
    /// silent restart from the look-back.
    pub fn load(&self) -> Result<Option<Cursor>, String> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {}", path.display(), e.kind())),
        };
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Cursor::from_json(&v)
            .map(Some)
            .ok_or_else(|| format!("{}: not a checkpoint", path.display()))
    }

    pub fn save(&self, cursor: &Cursor) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // Cursors say what was read from a security API: private to the owner.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(cursor.to_json().to_string().as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            // The rename itself is durable only once the directory is synced.
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {}", path.display(), e.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_prune() {
        let mut c = Cursor {
            since: Some(1_000_000_000_000),
            ..Cursor::default()
        };
        let mut s = Seen::default();
        s.insert(&mut c, "a", 999_000_000_000, 10_000_000_000, 10);
        s.insert(&mut c, "old", 1, 10_000_000_000, 10);
        assert_eq!(c.seen.len(), 1);
        assert!(s.contains("a", 999_000_000_000));
        let back = Cursor::from_json(&c.to_json()).unwrap();
        assert_eq!(back.seen, c.seen);
        assert_eq!(back.since, c.since);
    }
}
