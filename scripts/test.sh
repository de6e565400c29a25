#!/usr/bin/env bash
# The README's test command (`npm test`): builds, makes sure the Pulumi CLI
# exists, then runs every test tier with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/toolchain.sh >/dev/null
npx tsc -b
# Files run one at a time: the lab tests own kernel namespaces and the CLI
# tests spawn the engine; running them side by side on 2 cores only adds noise.
# The list comes from the sources, not dist/: tsc never deletes the output of
# a removed or moved test (test/bench.test.ts now lives in bench/test/).
mapfile -t files < <(find test -name '*.test.ts' | sort | sed 's#^#dist/#; s#\.ts$#.js#')
exec node --test --test-concurrency=1 "${files[@]}"
