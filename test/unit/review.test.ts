// `npm run review`'s Markdown (cli/review/report.ts) for the two changes a
// reviewer meets most: a weight change (one update, its kernel line and the
// script diff) and a table-id change (replaces, naming the field). Compared
// with test/golden/review.*.md; regenerate after an intended change with
//   npx tsc -b && UPDATE_GOLDEN=1 node --test dist/test/unit/review.test.js
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { reviewMarkdown } from "../../cli/review/report";
import { unifiedDiff } from "../../cli/review/unifiedDiff";
import { editedSite, stackSite, validSite } from "../support/fixtures";
import { REVIEW_CASES, reviewGolden } from "../support/reviewCases";

function assertGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === "1") {
    fs.writeFileSync(file, actual);
    return;
  }
  assert.equal(
    actual,
    fs.readFileSync(file, "utf8"),
    `${file} differs; if intended: UPDATE_GOLDEN=1 node --test dist/test/unit/review.test.js`,
  );
}

for (const name of Object.keys(REVIEW_CASES) as (keyof typeof REVIEW_CASES)[]) {
  test(`the review of a ${name} change is test/golden/review.${name}.md`, () => {
    const head = validSite(editedSite("home", REVIEW_CASES[name]));
    const md = reviewMarkdown("home", { label: "HEAD", site: stackSite("home") }, { label: "working tree", site: head });
    assertGolden(reviewGolden(name), md);
  });
}

test("a weight change is one update of the multipath route, with its kernel line and script", () => {
  const md = fs.readFileSync(reviewGolden("weight"), "utf8");
  assert.match(md, /0 to create, 1 to update, 0 to replace, 0 to delete; 12 unchanged\./);
  assert.match(md, /`nexthops\[0\]\.weight`: `2` → `3`/);
  assert.match(md, /^-route default nexthop via 192\.168\.1\.254 dev eth1 weight 2/m);
  assert.match(md, /^\+route default nexthop via 192\.168\.1\.254 dev eth1 weight 3/m);
  assert.match(md, /^\+mw_down isp1 \|\| mw_hops="\$mw_hops nexthop via 192\.168\.1\.254 dev eth1 weight 3"$/m);
  assert.match(md, /^\+isp1 3$/m, "and the weight the health monitor reads");
  assert.doesNotMatch(md, /connection|preflight/);
});

test("a table-id change replaces the tables and rules and names the field that forces it", () => {
  const md = fs.readFileSync(reviewGolden("table"), "utf8");
  // The provider's update: its preflight checks the new tables for routes that are not ours (issue 15).
  assert.match(md, /0 to create, 4 to update, 4 to replace, 0 to delete/);
  assert.match(md, /`preflight\.owned\[0\]\.table`: `101` → `111`/);
  assert.match(md, /`table`: `101` → `111` \(forces a replace\)/);
});

test("no change says so", () => {
  const md = reviewMarkdown("home", { label: "HEAD", site: stackSite("home") }, { label: "working tree", site: stackSite("home") });
  assert.match(md, /No changes on the gateway\./);
});

test("unifiedDiff: hunks with three lines of context, deletions before insertions", () => {
  const a = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"].join("\n");
  const b = ["1", "2", "3", "4", "five", "6", "7", "8", "9", "10", "11"].join("\n");
  assert.equal(
    unifiedDiff(a, b, { from: "a", to: "b" }),
    ["--- a", "+++ b", "@@ -2,9 +2,10 @@", " 2", " 3", " 4", "-5", "+five", " 6", " 7", " 8", " 9", " 10", "+11", ""].join("\n"),
  );
  assert.equal(unifiedDiff(a, a, { from: "a", to: "b" }), "");
  assert.equal(unifiedDiff("", "x\n", { from: "a", to: "b" }), "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
});
