#!/usr/bin/env bash
# Fetches MaxMind's *test* databases (GeoLite2-City-Test.mmdb, GeoLite2-ASN-Test.mmdb), the ones
# Elastic's pipeline tests run with, for the conformance test's GeoIP lookup
# (tests/support/geo.rs). They ship inside the source distribution of the `maxminddb` package on
# PyPI (tests/data/test-data/); nothing else is downloaded. The files are test data, not real
# geolocation: never commit them and never use them in production.
#
# Usage: scripts/fetch-geoip-test-db.sh [DEST]   (default: target/geoip-test-db)
# The test looks in DEFENDER_BRIDGE_GEOIP_DIR, else target/geoip-test-db.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-${DEFENDER_BRIDGE_GEOIP_DIR:-target/geoip-test-db}}"
version="3.2.0" # pinned: the test databases change between releases
files=(GeoLite2-City-Test.mmdb GeoLite2-ASN-Test.mmdb)

have_all=1
for f in "${files[@]}"; do [[ -s "$dest/$f" ]] || have_all=0; done
if [[ $have_all == 1 ]]; then
  echo "GeoIP test databases already in $dest"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# --no-binary: the wheels hold no test data, the source distribution does.
python3 -m pip download --quiet --no-deps --no-binary :all: "maxminddb==$version" -d "$tmp"
sdist="$tmp/maxminddb-$version.tar.gz"
mkdir -p "$dest"
for f in "${files[@]}"; do
  tar -xzf "$sdist" -C "$tmp" "maxminddb-$version/tests/data/test-data/$f"
  cp "$tmp/maxminddb-$version/tests/data/test-data/$f" "$dest/$f"
done
echo "GeoIP test databases in $dest"
