#!/usr/bin/env bash
# `npm run bench`: installs what the benchmark needs on top of the tests'
# (iperf3; Debian's ansible for the peer: ansible-core lacks the sysctl
# module), then runs it. BENCH_* variables are described in bench/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# setup.sh builds the root project; the bench is its own (bench/tsconfig.json).
npx tsc -b bench
if ! dpkg -s ansible >/dev/null 2>&1 && [ "${BENCH_ANSIBLE:-auto}" != 0 ]; then
  echo "bench: installing ansible (the peer the benchmark compares with)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible
fi
# Installed above, so a peer that cannot run is an error, not a quiet skip.
export BENCH_ANSIBLE="${BENCH_ANSIBLE:-1}"
exec node dist/bench/run.js "$@"
