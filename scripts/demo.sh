#!/usr/bin/env bash
# README command 1 (the main job): install what is needed, bring up the lab,
# `pulumi up` the example site against it, show the result, destroy, lab down.
# `bash scripts/demo.sh --keep` leaves the lab and the gateway running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/cli/demo.js "$@"
