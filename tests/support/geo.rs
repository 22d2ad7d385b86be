//! The IP enrichment the conformance test uses (Elastic's pipeline tests run with MaxMind's test
//! databases). `None` until a lookup is wired in.

use std::sync::Arc;

use defender_bridge::GeoLookup;

pub fn lookup() -> Option<Arc<dyn GeoLookup>> {
    None
}
