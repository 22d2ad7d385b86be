//! The IP enrichment the conformance test uses. Elastic's pipeline tests run the `geoip`
//! processor against MaxMind's *test* databases (GeoLite2-City-Test.mmdb, GeoLite2-ASN-Test.mmdb:
//! 216.160.83.56 -> Milton, Washington, …), so this reads the same files through the shells'
//! reader (`defender-bridge-geoip`). `scripts/fetch-geoip-test-db.sh` puts them in
//! target/geoip-test-db (or `DEFENDER_BRIDGE_GEOIP_DIR`). Without them the lookup is `None` and
//! documents get no `*.geo`.

use std::path::PathBuf;
use std::sync::Arc;

use defender_bridge::GeoLookup;
use defender_bridge_geoip::MaxMind;

fn db_dir() -> PathBuf {
    std::env::var_os("DEFENDER_BRIDGE_GEOIP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/geoip-test-db"))
}

pub fn lookup() -> Option<Arc<dyn GeoLookup>> {
    let dir = db_dir();
    let asn = dir.join("GeoLite2-ASN-Test.mmdb");
    match MaxMind::open(
        &dir.join("GeoLite2-City-Test.mmdb"),
        asn.is_file().then_some(asn.as_path()),
    ) {
        Ok(m) => Some(m.into_lookup()),
        Err(e) => {
            eprintln!("note: {e}; run scripts/fetch-geoip-test-db.sh");
            None
        }
    }
}
