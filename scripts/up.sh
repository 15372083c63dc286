#!/usr/bin/env bash
# Brings fnrun up with the example functions of config.toml, serving on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "fnrun runs containers with runc and creates cgroups: run it as root (sudo npm run up)." >&2
  exit 1
fi
bash scripts/ensure-deps.sh
exec node bin/fnrun.mjs up "$@"
