#!/usr/bin/env bash
# `npm run bench:test`: the bench's own tests, outside `npm test` because the
# bench is its own project (bench/tsconfig.json) with its own chart libraries.
# charts.test.js is pure; smoke.test.js runs the bench in quick mode against a
# lab (root, about 40 s, needs the Pulumi CLI: `bash scripts/setup.sh`).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b bench
# From the sources, not dist/: tsc never deletes the output of a removed test.
mapfile -t files < <(find bench/test -name '*.test.ts' | sort | sed 's#^#dist/#; s#\.ts$#.js#')
exec node --test --test-concurrency=1 "${files[@]}"
