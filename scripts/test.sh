#!/usr/bin/env bash
# The README's test command (`npm test`) and its tiers:
#   bash scripts/test.sh            every tier, in the order below
#   bash scripts/test.sh unit       npm run test:unit: pure, fake SSH host and
#                                   pulumi.runtime.setMocks tests; no root, no CLI
#   bash scripts/test.sh cli        npm run test:cli: the real Pulumi CLI, offline
#   bash scripts/test.sh lab        npm run test:lab: root, network namespaces
# A tier is a set of folders under test/ (see tier_dirs).
set -euo pipefail
cd "$(dirname "$0")/.."

tier_dirs() {
  case $1 in
    unit) echo test/unit test/fake ;;
    cli) echo test/cli ;;
    lab) echo test/lab ;;
    *) echo "test.sh: unknown tier \"$1\" (unit, cli or lab)" >&2; return 1 ;;
  esac
}

tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(unit cli lab)
needs_cli=""
for tier in "${tiers[@]}"; do
  tier_dirs "$tier" >/dev/null
  [ "$tier" = unit ] || needs_cli=1
done

# Only the CLI and lab tiers run the Pulumi CLI: the unit tier must work on a
# machine (or as a user) that has never built it.
[ -z "$needs_cli" ] || bash scripts/toolchain.sh >/dev/null
npx tsc -b
# Lint and format check first (Biome: the formatter and the linter in one
# read-only pass); `npx biome check --write .` fixes what it can.
npx biome ci --colors=off . || { echo "test.sh: biome found problems; run: npx biome check --write ." >&2; exit 1; }

failed=()
for tier in "${tiers[@]}"; do
  # The list comes from the sources, not from dist/: a test file that was
  # moved or deleted leaves its compiled copy behind, which must not run.
  read -ra dirs <<<"$(tier_dirs "$tier")"
  mapfile -t files < <(find "${dirs[@]}" -name '*.test.ts' | sort | sed 's#^#dist/#; s#\.ts$#.js#')
  for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "test.sh: $f was not built (remove dist/tsconfig.tsbuildinfo and rerun)" >&2; exit 1; }
  done
  echo "test.sh: $tier tier, ${#files[@]} files" >&2
  # Files run one at a time: the lab tests own kernel namespaces and the CLI
  # tests spawn the engine; running them side by side on 2 cores only adds noise.
  node --test --test-concurrency=1 "${files[@]}" || failed+=("$tier")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: FAILED tier(s): ${failed[*]}" >&2
  exit 1
fi
