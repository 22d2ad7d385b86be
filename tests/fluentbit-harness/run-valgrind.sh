#!/usr/bin/env bash
# Runs the Fluent Bit host-harness tests, including the valgrind run (no error, no definite leak),
# installing valgrind first when it is missing (Debian/Ubuntu, as root or with sudo).
# Usage: tests/fluentbit-harness/run-valgrind.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v valgrind >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq valgrind
fi
export DEFENDER_BRIDGE_REQUIRE_VALGRIND=1
exec cargo test -p defender-bridge-fluentbit-harness "$@"
