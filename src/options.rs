//! Mapping options: the target, the record kind, Elastic's pipeline options, enrichment.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::Kind;

/// What the records become.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Target {
    /// The document Elastic's own integration stores for the same input.
    #[default]
    Ecs,
    /// A row of the Log Analytics / Sentinel table the record belongs to.
    Sentinel,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ecs" => Ok(Target::Ecs),
            "sentinel" => Ok(Target::Sentinel),
            _ => Err(format!("unknown target {s:?} (expected ecs or sentinel)")),
        }
    }
}

/// Whose ECS output to reproduce where both Elastic integrations map the same resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EcsIntegration {
    /// `microsoft_defender_endpoint` (fields under `microsoft_defender_endpoint.*`).
    #[default]
    Mde,
    /// `m365_defender` (fields under `m365_defender.*`).
    M365,
}

impl std::str::FromStr for EcsIntegration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mde" | "microsoft_defender_endpoint" => Ok(EcsIntegration::Mde),
            "m365" | "m365_defender" => Ok(EcsIntegration::M365),
            _ => Err(format!(
                "unknown ECS integration {s:?} (expected mde or m365)"
            )),
        }
    }
}

/// IP enrichment, as Elastic's `geoip` processor does it. The core does no I/O, so a shell that
/// has a MaxMind database passes a lookup in; without one, no `*.geo` / `*.as` fields are added.
pub trait GeoLookup: Send + Sync {
    /// The ECS `geo` object for an address (`city_name`, `country_iso_code`, `location`, …).
    fn city(&self, ip: &str) -> Option<Map<String, Value>>;
    /// The ECS `as` object for an address (`number`, `organization.name`).
    fn asn(&self, _ip: &str) -> Option<Map<String, Value>> {
        None
    }
}

/// Convenience alias used in signatures.
pub type GeoInfo = Map<String, Value>;

/// Everything that changes how records are mapped.
#[derive(Clone, Default)]
pub struct Options {
    pub target: Target,
    /// `None`: detect the kind of every record. `Some`: treat every record as this kind.
    pub kind: Option<Kind>,
    pub ecs_integration: EcsIntegration,
    /// Elastic's `preserve_original_event`: keep the source text in `event.original`.
    pub preserve_original_event: bool,
    /// Elastic's `preserve_duplicate_custom_fields`: keep vendor fields that were copied to ECS.
    pub preserve_duplicate_custom_fields: bool,
    /// Sentinel: drop properties that are not columns of the table instead of passing them on.
    pub strict_schema: bool,
    /// Optional IP enrichment (see [`GeoLookup`]).
    pub geo: Option<Arc<dyn GeoLookup>>,
    /// "Now" as RFC 3339, for fields that need the ingest time (the core never reads the clock).
    pub now: Option<String>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("target", &self.target)
            .field("kind", &self.kind)
            .field("ecs_integration", &self.ecs_integration)
            .field("preserve_original_event", &self.preserve_original_event)
            .field(
                "preserve_duplicate_custom_fields",
                &self.preserve_duplicate_custom_fields,
            )
            .field("strict_schema", &self.strict_schema)
            .field("geo", &self.geo.is_some())
            .field("now", &self.now)
            .finish()
    }
}
