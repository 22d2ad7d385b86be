//! IP enrichment from MaxMind databases for the shells (CLI, Fluent Bit plugin). The core does no
//! I/O; it calls a [`GeoLookup`], and this crate implements one over GeoLite2/GeoIP2 City and ASN
//! files with the `maxminddb` crate, producing the fields Elastic's `geoip` processor writes with
//! its default properties (`city_name`, `continent_name`, `country_iso_code`, `country_name`,
//! `location`, `region_iso_code`, `region_name`; `as.number`, `as.organization.name`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use defender_bridge::GeoLookup;
use maxminddb::{geoip2, Reader};
use serde_json::{json, Map, Value};

/// A City database and, optionally, an ASN database.
pub struct MaxMind {
    city: Reader<Vec<u8>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl MaxMind {
    /// Opens the databases; the error names the file that could not be read.
    pub fn open(city: &Path, asn: Option<&Path>) -> Result<Self, String> {
        let open = |p: &Path| {
            Reader::open_readfile(p).map_err(|e| format!("GeoIP database {}: {e}", p.display()))
        };
        Ok(MaxMind {
            city: open(city)?,
            asn: asn.map(open).transpose()?,
        })
    }

    /// The lookup as the core's options take it.
    pub fn into_lookup(self) -> Arc<dyn GeoLookup> {
        Arc::new(self)
    }
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
