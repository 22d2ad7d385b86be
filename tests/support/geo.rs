//! The IP enrichment the conformance test uses. Elastic's pipeline tests run the `geoip`
//! processor against MaxMind's *test* databases (GeoLite2-City-Test.mmdb, GeoLite2-ASN-Test.mmdb:
//! 216.160.83.56 -> Milton, Washington, …), so this reads the same files with the `maxminddb`
//! crate. `scripts/fetch-geoip-test-db.sh` puts them in target/geoip-test-db (or
//! `DEFENDER_BRIDGE_GEOIP_DIR`). Without them the lookup is `None` and documents get no `*.geo`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use defender_bridge::GeoLookup;
use maxminddb::{geoip2, Reader};
use serde_json::{json, Map, Value};

/// Elastic's `geoip` processor with its default properties, over a MaxMind database.
struct MaxMind {
    city: Reader<Vec<u8>>,
    asn: Option<Reader<Vec<u8>>>,
}

fn db_dir() -> PathBuf {
    std::env::var_os("DEFENDER_BRIDGE_GEOIP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/geoip-test-db"))
}

pub fn lookup() -> Option<Arc<dyn GeoLookup>> {
    let dir = db_dir();
    let city = match Reader::open_readfile(dir.join("GeoLite2-City-Test.mmdb")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "note: no GeoIP test database in {} ({e}); run scripts/fetch-geoip-test-db.sh",
                dir.display()
            );
            return None;
        }
    };
    let asn = Reader::open_readfile(dir.join("GeoLite2-ASN-Test.mmdb")).ok();
    Some(Arc::new(MaxMind { city, asn }))
}

impl GeoLookup for MaxMind {
    fn city(&self, ip: &str) -> Option<Map<String, Value>> {
        let ip: IpAddr = ip.parse().ok()?;
        let rec: geoip2::City = self.city.lookup(ip).ok()?.decode().ok()??;
        let mut geo = Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                geo.insert(k.to_string(), v.into());
            }
        };
        put("continent_name", rec.continent.names.english);
        put("country_iso_code", rec.country.iso_code);
        put("country_name", rec.country.names.english);
        if let Some(sub) = rec.subdivisions.first() {
            // Elastic joins country and subdivision codes (US-WA).
            if let (Some(c), Some(s)) = (rec.country.iso_code, sub.iso_code) {
                put("region_iso_code", Some(&format!("{c}-{s}")));
            }
            put("region_name", sub.names.english);
        }
        put("city_name", rec.city.names.english);
        if let (Some(lat), Some(lon)) = (rec.location.latitude, rec.location.longitude) {
            geo.insert("location".into(), json!({"lat": lat, "lon": lon}));
        }
        (!geo.is_empty()).then_some(geo)
    }

    fn asn(&self, ip: &str) -> Option<Map<String, Value>> {
        let ip: IpAddr = ip.parse().ok()?;
        let rec: geoip2::Asn = self.asn.as_ref()?.lookup(ip).ok()?.decode().ok()??;
        let mut out = Map::new();
        if let Some(n) = rec.autonomous_system_number {
            out.insert("number".into(), n.into());
        }
        if let Some(org) = rec.autonomous_system_organization {
            out.insert("organization".into(), json!({"name": org}));
        }
        (!out.is_empty()).then_some(out)
    }
}
