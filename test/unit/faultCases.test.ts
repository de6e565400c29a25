// The fault suite's cases (test/lab/faults/cases.ts) are drawn from a seed:
// the same seed gives the same cases in the same order, spread as issue 15
// asks, every point within the scripts a clean run starts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RECOVERIES, drawCases, endsDeployed, startsDeployed } from "../lab/faults/cases";

const COUNTS = { "first-up": 14, "weight-up": 2, destroy: 13 };

test("the same seed draws the same cases; another seed other points", () => {
  assert.deepEqual(drawCases(15, COUNTS), drawCases(15, COUNTS));
  const points = (seed: number) => drawCases(seed, COUNTS).map((c) => `${c.fault} ${c.phase} ${c.script} ${c.step}`);
  assert.notDeepEqual(points(15), points(16));
});

test("10 kills of the provider over the three runs, Ctrl-C and the relay cut at 5 points each, a hung command", () => {
  const cases = drawCases(15, COUNTS);
  const count = (f: string) => cases.filter((c) => c.fault === f).length;
  assert.deepEqual(["kill-provider", "kill-cli", "sigint", "cut-relay", "hang"].map(count), [10, 3, 5, 5, 1]);
  for (const phase of ["first-up", "weight-up", "destroy"] as const)
    assert.ok(
      cases.some((c) => c.fault === "kill-provider" && c.phase === phase),
      phase,
    );
  for (const c of cases) {
    if (c.fault !== "hang") assert.ok(c.script >= 1 && c.script <= COUNTS[c.phase], `${c.id}: script ${c.script}`);
  }
  for (const r of RECOVERIES)
    assert.ok(
      cases.some((c) => c.recovery === r),
      r,
    );
  assert.deepEqual(
    cases.map((c) => c.id),
    cases.map((_, i) => `F${String(i + 1).padStart(2, "0")}`),
  );
});

test("the order mostly starts each case where the previous one ended", () => {
  const cases = drawCases(15, COUNTS);
  let deployed = false;
  let setups = 0;
  for (const c of cases) {
    if (startsDeployed(c) !== deployed) setups++;
    deployed = endsDeployed(c);
  }
  assert.ok(setups <= 3, `${setups} set-up runs`);
});
