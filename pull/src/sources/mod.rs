//! The API sources: what each one asks for and how it pages. The polling logic is shared:
//! `incremental` (last-update cursor, overlap window, de-duplication) for alerts, machine actions,
//! vulnerabilities, Graph alerts and incidents; `inventory` (full `$top`/`$skip` sweeps every
//! `machines_interval`) for machines.

mod incremental;
mod inventory;
mod worker;

pub(crate) use worker::{run, WorkerSetup};

use crate::config::SourceKind;

/// How the pages of a query are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// MDE: `$filter=<field> ge T&$orderby=<field> asc&$top=N&$skip=K`, restarted from the last
    /// time seen (keyset), so records updated while paging cannot shift a page and be missed.
    Keyset,
    /// Graph and the vulnerability delta API: first query, then `@odata.nextLink` to the end.
    NextLink,
    /// The whole collection with `$top`/`$skip`, no time filter.
    Inventory,
}

/// One API source.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub kind: SourceKind,
    pub path: &'static str,
    /// The record's last-update field: the cursor and the de-duplication key's time.
    pub time_field: &'static str,
    pub paging: Paging,
    /// Largest page the API serves.
    pub max_page: usize,
}

pub fn spec(kind: SourceKind) -> Spec {
    let (path, time_field, paging, max_page) = match kind {
        SourceKind::Alerts => ("/api/alerts", "lastUpdateTime", Paging::Keyset, 10_000),
        SourceKind::Machines => ("/api/machines", "", Paging::Inventory, 10_000),
        SourceKind::MachineActions => (
            "/api/machineactions",
            "lastUpdateDateTimeUtc",
            Paging::Keyset,
            10_000,
        ),
        SourceKind::Vulnerabilities => (
            "/api/machines/SoftwareVulnerabilityChangesByMachine",
            "eventTimestamp",
            Paging::NextLink,
            200_000,
        ),
        SourceKind::GraphAlerts => (
            "/v1.0/security/alerts_v2",
            "lastUpdateDateTime",
            Paging::NextLink,
            2_000,
        ),
        SourceKind::Incidents => (
            "/v1.0/security/incidents",
            "lastUpdateDateTime",
            Paging::NextLink,
            50,
        ),
    };
    Spec {
        kind,
        path,
        time_field,
        paging,
        max_page,
    }
}

/// The first URL of an incremental query from `since` (RFC 3339).
pub fn first_url(
    spec: &Spec,
    base: &str,
    since: &str,
    skip: usize,
    top: usize,
    expand_alerts: bool,
) -> String {
    use crate::http::encode;
    let f = spec.time_field;
    match spec.kind {
        SourceKind::Vulnerabilities => {
            format!(
                "{base}{}?pageSize={top}&sinceTime={}",
                spec.path,
                encode(since)
            )
        }
        SourceKind::Machines => format!("{base}{}?$top={top}&$skip={skip}", spec.path),
        _ => {
            let mut url = format!(
                "{base}{}?$filter={}&$orderby={}&$top={top}",
                spec.path,
                encode(&format!("{f} ge {since}")),
                encode(&format!("{f} asc")),
            );
            if skip > 0 {
                url.push_str(&format!("&$skip={skip}"));
            }
            match spec.kind {
                SourceKind::Alerts => url.push_str("&$expand=evidence"),
                SourceKind::Incidents if expand_alerts => url.push_str("&$expand=alerts"),
                _ => {}
            }
            url
        }
    }
}
