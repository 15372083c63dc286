#!/usr/bin/env bash
# Installs what fnrun needs on a Debian machine and is missing: runc (for the tests also
# skopeo, umoci, docker-registry, buildah, openssl, chromium and docker.io; for the benchmark wrk and curl) from
# the distribution's packages, and the npm dependencies.
# Usage: scripts/ensure-deps.sh [--test | --bench]
set -euo pipefail
cd "$(dirname "$0")/.."

# a command, or command:Debian package when they differ
want=(runc)
case "${1:-}" in
  # make, g++, python3: node-gyp compiles better-sqlite3 for the native package tests; openssl: the
  # registry token test's certificate; chromium: the web console test's browser (driven by
  # playwright-core, whose own download is not used); dockerd: the engine the Docker tests run
  # fnrun's images under (scripts/test.sh starts one of its own for the run)
  --test) want+=(skopeo umoci docker-registry buildah openssl chromium make g++ python3 dockerd:docker.io) ;;
  --bench) want+=(wrk curl) ;;
esac
missing=()
for entry in "${want[@]}"; do command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "fnrun needs: ${missing[*]}. Install them with your package manager (Debian: apt-get install ${missing[*]}) and run this again, as root." >&2
    exit 1
  fi
  echo "installing ${missing[*]} from the distribution's packages…" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# Test fixtures with real npm packages (better-sqlite3 compiles from source, ~2 min on 2 cores:
# its prebuilt download is unreachable here), from their committed lock files.
if [ "${1:-}" = "--test" ]; then
  # node-gyp builds against the headers of the node that runs here; without nodedir it would try to
  # download them from nodejs.org, which this machine cannot reach.
  node_prefix=$(dirname "$(dirname "$(command -v node)")")
  if [ -z "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)" ] && [ -f "$node_prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$node_prefix"
  fi
  for lock in test/fixtures/native/*/package-lock.json; do
    d=$(dirname "$lock")
    if [ ! -d "$d/node_modules" ] || [ "$lock" -nt "$d/node_modules/.package-lock.json" ]; then
      echo "installing the npm packages of $d…" >&2
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  done
fi
