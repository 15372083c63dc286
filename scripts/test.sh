#!/usr/bin/env bash
# Runs every test suite: real runc containers, real cgroups, real image tools, and a real
# Docker engine for the tests that run fnrun's images under Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --test
# A minimal environment for the test processes: no inherited NODE_EXTRA_CA_CERTS and the like.
shopt -s globstar nullglob
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/**/*.test.ts)

# The Docker tests use the engine DOCKER_HOST (or docker's default socket) names. When none
# answers and dockerd is installed, one of our own serves this run: its own socket, state and
# data in a temporary directory, no iptables rules and no bridge (so it changes nothing of the
# host's network), stopped by its pid when the tests end. FNRUN_TEST_DOCKERD=0: never start one
# (the Docker tests then skip, saying why).
docker_host=${DOCKER_HOST:-}
dockerd_pid=""
dockerd_dir=""
# The processes our engine started (its containerd, shims): their command lines name its directory.
engine_children() { pgrep -f -- "$dockerd_dir/" || true; }
stop_dockerd() {
  local rc=$? # the tests' status, which the script exits with
  set +e # a step that fails here must not skip the others
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null || true
  fi
  if [ -n "$dockerd_dir" ]; then
    # A dockerd stopped early (a short run) can leave its containerd running, which would
    # write into the directory again after it is removed.
    for sig in TERM TERM TERM TERM TERM KILL; do
      children=$(engine_children)
      [ -z "$children" ] && break
      kill "-$sig" $children 2>/dev/null || true
      sleep 0.5
    done
    { grep -o " $dockerd_dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$dockerd_dir" 2>/dev/null || { sleep 1; rm -rf "$dockerd_dir" 2>/dev/null; } ||
      echo "test: could not remove the test Docker engine's directory $dockerd_dir" >&2
    [ ! -e "$dockerd_dir" ] || echo "test: the test Docker engine's directory $dockerd_dir is still there" >&2
  fi
  exit "$rc"
}
if [ "${FNRUN_TEST_DOCKERD:-1}" != 0 ] && command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 \
  && ! timeout 20 docker info >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  dockerd_dir=$(mktemp -d /tmp/fnrun-test-dockerd.XXXXXX)
  trap stop_dockerd EXIT
  dockerd --iptables=false --ip-masq=false --bridge=none \
    -H "unix://$dockerd_dir/docker.sock" --data-root "$dockerd_dir/data" --exec-root "$dockerd_dir/exec" \
    --pidfile "$dockerd_dir/docker.pid" >"$dockerd_dir/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 150); do
    if DOCKER_HOST="unix://$dockerd_dir/docker.sock" timeout 10 docker info >/dev/null 2>&1; then
      docker_host="unix://$dockerd_dir/docker.sock"
      break
    fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$docker_host" ]; then
    echo "test: the Docker engine started for the tests did not answer; the Docker tests will skip. Its log:" >&2
    tail -n 20 "$dockerd_dir/dockerd.log" >&2 || true
  fi
fi

env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="${HOME:-/root}" ${CI:+CI=$CI} ${docker_host:+DOCKER_HOST=$docker_host} \
  node --import tsx --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"
