// `npm run status`: health.json and the live multipath route -> rows and the table.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAge, formatStatusTable, statusRows } from "../../lib/status";
import { stackPlan } from "../support/fixtures";

const plan = stackPlan("home");
const health = JSON.stringify({
  updated: 1000,
  uplinks: [
    { name: "isp1", state: "down", since: 990, lossPercent: 100, rttMs: null, weight: 2 },
    { name: "isp2", state: "up", since: 700, lossPercent: 5, rttMs: 12.345, weight: 1 },
  ],
});

test("an outage: the dead uplink has no share of new connections, the other all of it", () => {
  const rows = statusRows(plan, health, [{ dst: "default", gateway: "192.168.2.254", dev: "eth2" }], 1000);
  assert.deepEqual(rows, [
    { uplink: "isp1", state: "down", lossPercent: 100, rttMs: null, share: 0, sinceSeconds: 10 },
    { uplink: "isp2", state: "up", lossPercent: 5, rttMs: 12.345, share: 1, sinceSeconds: 300 },
  ]);
  assert.equal(
    formatStatusTable(rows),
    [
      "uplink  state  loss      rtt  share  since change",
      "isp1    down   100%        -     0%  10 s",
      "isp2    up       5%  12.3 ms   100%  5 min 0 s",
      "",
    ].join("\n"),
  );
});

test("all up: shares follow the live weights; without a monitor the state is unknown", () => {
  const route = {
    dst: "default",
    nexthops: [
      { gateway: "192.168.1.254", dev: "eth1", weight: 2 },
      { gateway: "192.168.2.254", dev: "eth2", weight: 1 },
    ],
  };
  const rows = statusRows(plan, "", [route], 1000);
  assert.deepEqual(
    rows.map((r) => [r.uplink, r.state, Math.round(r.share * 100), r.sinceSeconds]),
    [
      ["isp1", "unknown", 67, null],
      ["isp2", "unknown", 33, null],
    ],
  );
  assert.deepEqual(
    statusRows(plan, "not json", [], 1000).map((r) => r.share),
    [0, 0],
  );
});

test("ages read as a person says them", () => {
  assert.deepEqual([0, 59, 61, 3600 + 120, 86400 * 2 + 3600].map(formatAge), ["0 s", "59 s", "1 min 1 s", "1 h 2 min", "2 d 1 h"]);
});
