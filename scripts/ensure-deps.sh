#!/usr/bin/env bash
# Installs what fnrun needs on a Debian machine and is missing: runc (for the tests also
# skopeo, umoci, docker-registry, buildah and openssl; for the benchmark wrk) from the
# distribution's packages, and the npm dependencies.
# Usage: scripts/ensure-deps.sh [--test | --bench]
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package, when they differ
want=(runc)
case "${1:-}" in
  --test) want+=(skopeo umoci docker-registry buildah openssl) ;; # openssl: the registry token test's certificate
  --bench) want+=(wrk) ;;
esac
missing=()
for tool in "${want[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
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
