#!/usr/bin/env bash
# Installs what the integration tests run for real: the loopback FHIR server's Node packages
# and a headless Chromium with its driver. Idempotent; quick when everything is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ -f "$root/tests/fhirserver/package.json" ]; then
  if [ ! -d "$root/tests/fhirserver/node_modules" ] || \
     [ "$root/tests/fhirserver/package-lock.json" -nt "$root/tests/fhirserver/node_modules" ]; then
    (cd "$root/tests/fhirserver" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$root/tests/fhirserver/node_modules"
  fi
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "install-test-deps: chromium and chromium-driver are missing; run as root or" \
         "'sudo apt-get install chromium chromium-driver'" >&2
    exit 1
  fi
fi
