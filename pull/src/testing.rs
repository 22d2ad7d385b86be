//! Test bookkeeping shared by this crate's integration tests (tests/restart.rs, tests/soak.rs)
//! and the CLI's real-process kill soak (cli/tests/kill_soak.rs): the identity of a delivered
//! record, the delivered set, the saved cursors, and the accounting of duplicates after kills.
//! Not part of the API.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

/// The identity of a delivered record: its kind, id and last-update time (machines: no time).
pub fn key(v: &Value) -> String {
    let id = v.get("id").map(|i| i.to_string()).unwrap_or_default();
    let t = [
        "lastUpdateTime",
        "lastUpdateDateTimeUtc",
        "eventTimestamp",
        "lastUpdateDateTime",
    ]
    .iter()
    .find_map(|f| v.get(*f).and_then(Value::as_str))
    .unwrap_or("");
    let kind = if v.get("cveId").is_some() {
        "vuln"
    } else if v.get("osPlatform").is_some() && v.get("healthStatus").is_some() {
        "machine"
    } else if v.get("requestor").is_some() {
        "action"
    } else if v.get("incidentWebUrl").is_some() && v.get("alertWebUrl").is_none() {
        "incident"
    } else if v.get("alertWebUrl").is_some() {
        "graph_alert"
    } else {
        "alert"
    };
    format!("{kind}|{id}|{t}")
}

/// What a consumer saw.
#[derive(Default, Debug)]
pub struct Delivered {
    pub total: u64,
    pub counts: HashMap<String, u64>,
    pub json: Vec<String>,
    pub keep_json: bool,
}

impl Delivered {
    pub fn unique(&self) -> u64 {
        self.counts.len() as u64
    }
    pub fn duplicates(&self) -> u64 {
        self.total - self.unique()
    }
    pub fn add(&mut self, records: &[defender_bridge::Output]) {
        for r in records {
            self.add_key(key(&r.to_value()));
            if self.keep_json {
                self.json.push(r.json().as_str().to_owned());
            }
        }
    }
    /// Counts one delivery of the record whose [`key`] is `k`.
    pub fn add_key(&mut self, k: String) {
        self.total += 1;
        *self.counts.entry(k).or_default() += 1;
    }
    /// Adds the deliveries counted in `other` (one run of several).
    pub fn merge(&mut self, other: &Delivered) {
        self.total += other.total;
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
    }
}

/// The saved cursors: per source, `since` and the (id, time) keys remembered in the overlap.
pub type Cursors = HashMap<String, (Option<i64>, HashSet<(String, i64)>)>;

pub fn ns(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// The checkpoint files `<source>.json` of a state directory (a `.json.tmp` left by a kill in
/// the middle of a save is not a checkpoint).
pub fn cursors(dir: &Path) -> Cursors {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        let since = v["since"].as_str().map(ns);
        let seen = v["seen"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap().to_string(),
                            ns(p[1].as_str().unwrap()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(name.to_string(), (since, seen));
    }
    out
}

pub fn source_of(kind: &str) -> &'static str {
    match kind {
        "alert" => "alerts",
        "action" => "machine_actions",
        "vuln" => "vulnerabilities",
        "graph_alert" => "graph_alerts",
        "machine" => "machines",
        _ => "incidents",
    }
}

/// Splits a test key `kind|"id"|time` into source, id and time.
pub fn parts(k: &str) -> (&'static str, String, Option<i64>) {
    let mut p = k.splitn(3, '|');
    let kind = p.next().unwrap();
    let id = p.next().unwrap().trim_matches('"').to_string();
    let t = p.next().filter(|t| !t.is_empty()).map(ns);
    (source_of(kind), id, t)
}

/// The duplicate accounting of a kill/restart test. After each run that ended abruptly (a
/// process killed, or an engine stopped in-process with its last batch not acknowledged), the
/// records it delivered are compared with the cursors it left on disk: an incremental record
/// is *covered* when it lies before `since − overlap` or its (id, time) is in `seen`; an
/// uncovered one must come again, and inside the window the next run re-reads.
#[derive(Debug, Default)]
pub struct KillLedger {
    pub overlap_ns: i64,
    /// Incremental records delivered in a killed run and not covered by the cursor left.
    pub uncovered: u64,
    /// Machines (the inventory, re-swept by design) delivered in killed runs.
    pub machines_in_killed_runs: u64,
    /// Of those, records of a source that had no checkpoint yet (the next run re-reads from
    /// `initial_lookback`).
    pub uncovered_without_cursor: u64,
    /// Per uncovered record: the start (`since − overlap`) of the window that re-reads it
    /// (`i64::MIN` when the source had no checkpoint yet).
    pub windows: HashMap<String, Vec<i64>>,
}

/// The verdict on a delivered set.
#[derive(Debug, Default, Clone, Copy)]
pub struct DuplicateReport {
    pub expected: u64,
    pub delivered: u64,
    pub unique: u64,
    pub missing: u64,
    /// Deliveries beyond the first, of incremental records and of machines.
    pub duplicates: u64,
    pub incremental: u64,
    pub machines: u64,
}

impl KillLedger {
    pub fn new(overlap_ns: i64) -> KillLedger {
        KillLedger {
            overlap_ns,
            ..KillLedger::default()
        }
    }

    /// A run ended abruptly having delivered `run`; `saved` are the cursors it left.
    pub fn record_kill(&mut self, run: &Delivered, saved: &Cursors) {
        for k in run.counts.keys() {
            let (source, id, t) = parts(k);
            if source == "machines" {
                self.machines_in_killed_runs += 1;
                continue;
            }
            let t = t.unwrap();
            let covered = saved.get(source).is_some_and(|(since, seen)| {
                since.is_some_and(|s| t < s - self.overlap_ns) || seen.contains(&(id.clone(), t))
            });
            if !covered {
                self.uncovered += 1;
                let lo = match saved.get(source).and_then(|c| c.0) {
                    Some(s) => s - self.overlap_ns,
                    None => {
                        self.uncovered_without_cursor += 1;
                        i64::MIN
                    }
                };
                self.windows.entry(k.clone()).or_default().push(lo);
            }
        }
    }

    /// Counts `seen` against `expected` records: deliveries, missing records, and duplicate
    /// deliveries (incremental and machines). Checks nothing; see [`KillLedger::check`].
    pub fn report(&self, seen: &Delivered, expected: u64) -> DuplicateReport {
        let (mut duplicates, mut incremental) = (0, 0);
        for (k, c) in seen.counts.iter().filter(|(_, c)| **c > 1) {
            duplicates += c - 1;
            if parts(k).0 != "machines" {
                incremental += c - 1;
            }
        }
        DuplicateReport {
            expected,
            delivered: seen.total,
            unique: seen.unique(),
            missing: expected.saturating_sub(seen.unique()),
            duplicates,
            incremental,
            machines: duplicates - incremental,
        }
    }

    /// Counts `seen` and checks it: every one of `expected` records delivered; exactly the
    /// uncovered incremental records came again, each inside the overlap window of every
    /// cursor it was uncovered by; no more machine duplicates than machines in killed runs.
    pub fn check(&self, seen: &Delivered, expected: u64) -> Result<DuplicateReport, String> {
        let report = self.report(seen, expected);
        if report.unique != expected {
            return Err(format!(
                "{} unique records delivered, the tenant has {expected}",
                report.unique
            ));
        }
        if report.incremental != self.uncovered {
            return Err(format!(
                "{} incremental duplicates, but {} records were not covered by the cursors saved at the kills",
                report.incremental, self.uncovered
            ));
        }
        if report.machines > self.machines_in_killed_runs {
            return Err(format!(
                "{} machine duplicates, only {} machines delivered in killed runs",
                report.machines, self.machines_in_killed_runs
            ));
        }
        for (k, _) in seen.counts.iter().filter(|(_, c)| **c > 1) {
            let (source, _, t) = parts(k);
            if source == "machines" {
                continue;
            }
            let w = self
                .windows
                .get(k)
                .ok_or_else(|| format!("duplicate {k} was covered by a cursor"))?;
            if !w.iter().all(|lo| t.unwrap() >= *lo) {
                return Err(format!("duplicate {k} outside the overlap window"));
            }
        }
        Ok(report)
    }
}
