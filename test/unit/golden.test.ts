// The whole home plan as one document (what `npm run render -- stacks/Pulumi.home.yaml`
// prints), compared with test/golden/home.plan.txt. A reviewer reads a change
// to what lands on the gateway as a diff of that file.
//   regenerate after an intended change: UPDATE_GOLDEN=1 npm test
//   (or: npx tsc -b && UPDATE_GOLDEN=1 node --test dist/test/unit/golden.test.js)
import { PRELUDE } from "../../lib/render";
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { renderPlanDocument } from "../../lib/document";
import { GOLDEN_DIR, stackPlan } from "../support/fixtures";

const GOLDEN = path.join(GOLDEN_DIR, "home.plan.txt");
const HOW =
  "UPDATE_GOLDEN=1 npm test (or: npx tsc -b && UPDATE_GOLDEN=1 node --test dist/test/unit/golden.test.js), then review git diff test/golden";

test("renderPlanDocument(home) is exactly test/golden/home.plan.txt", () => {
  const actual = renderPlanDocument("home", stackPlan("home"));
  if (process.env.UPDATE_GOLDEN === "1") {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(GOLDEN, actual);
    return;
  }
  assert.ok(fs.existsSync(GOLDEN), `${GOLDEN} is missing; create it with ${HOW}`);
  const expected = fs.readFileSync(GOLDEN, "utf8");
  if (actual !== expected) {
    const a = actual.split("\n");
    const e = expected.split("\n");
    const at = a.findIndex((line, i) => line !== e[i]);
    const line = at < 0 ? Math.min(a.length, e.length) : at;
    assert.fail(
      `the home plan differs from test/golden/home.plan.txt at line ${line + 1}:\n` +
        `  golden: ${JSON.stringify(e[line])}\n  now:    ${JSON.stringify(a[line])}\n` +
        `If the change is intended, regenerate with: ${HOW}`,
    );
  }
});

test("the golden file is what `npm run render` shows for the home stack: 13 resources, the prelude once", () => {
  const text = fs.existsSync(GOLDEN) ? fs.readFileSync(GOLDEN, "utf8") : renderPlanDocument("home", stackPlan("home"));
  assert.ok(text.startsWith('# multiwan plan for "home": 13 resources, in the order pulumi up creates them.\n'));
  assert.equal(text.split(PRELUDE).length, 2, "the prelude appears once");
  assert.equal((text.match(/^\. \/etc\/multiwan\/lib\.sh$/gm) ?? []).length, 13, "each resource's steps source the prelude");
  assert.equal((text.match(/^#### \d+\/13 multiwan:index:/gm) ?? []).length, 13);
});
