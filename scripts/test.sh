#!/usr/bin/env bash
# Runs every test suite: real runc containers, real cgroups, real image tools.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --test
# A minimal environment for the test processes: no inherited NODE_EXTRA_CA_CERTS and the like.
shopt -s globstar nullglob
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/**/*.test.ts)
exec env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="${HOME:-/root}" ${CI:+CI=$CI} \
  node --import tsx --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
