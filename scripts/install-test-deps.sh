#!/usr/bin/env bash
# Installs what the integration tests run for real: the loopback FHIR server's Node packages
# (and the SMART EHR simulator's, which has none), a headless Chromium with its driver, and the PostgreSQL server and nginx of the replica
# topology test. Idempotent; quick when everything is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The loopback FHIR server and the SMART EHR simulator in front of it, from their lock files.
for tool in fhirserver smartlauncher; do
  dir="$root/tests/$tool"
  if [ -f "$dir/package-lock.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      mkdir -p "$dir/node_modules"  # a tool without dependencies gets none: still mark it done
      touch "$dir/node_modules"
    fi
  fi
done

missing=()
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  missing+=(chromium chromium-driver)
fi
# Debian keeps the server's programs (initdb, pg_ctl, postgres) off the PATH.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  missing+=(nginx)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages' own services from starting: the tests start their own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "install-test-deps: ${missing[*]} missing; run as root or" \
         "'sudo apt-get install ${missing[*]}'" >&2
    exit 1
  fi
fi
